// The ack server and the load client carry their connections on bare libuv handles where Node has
// them (one read and one write system call per message, little JavaScript around them) and on
// net.Socket otherwise. Both transports must behave the same on the wire: these specs run each
// behavior over each one (`--transport libuv|net`, or CONNLAB_LEAN_SOCKETS=0 for net everywhere).
import { describe, expect, it } from 'vitest';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { announceSkip } from '../_harness/skip.ts';
import { scaled } from '../_harness/time.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { runLoad } from '../../lib/load/load-client.ts';
import { LIBUV } from '../../lib/net/libuv.ts';
import type { Transport } from '../../lib/net/conn.ts';
import { socketCensus } from '../../lib/net/socket-table.ts';
import { runCli, startCliServer } from '../_harness/cli.ts';

const needsLib = libOnlyReason('ack', 'it starts lib/\'s ack server and load client on each transport');
const TRANSPORTS: Transport[] = LIBUV ? ['libuv', 'net'] : ['net'];
if (!LIBUV) announceSkip('transports: libuv handles are not available here (or CONNLAB_LEAN_SOCKETS=0), so only the net transport runs');

describe.skipIf(needsLib).each(TRANSPORTS)('ack server and load client over the %s transport', (transport) => {
  it('TCP-TRANSPORT-001 answers lines however TCP cut them: 1,000 in one write, one byte per write, CRLF, binary', async () => {
    await using server = await startAckServer({ transport });
    expect(server.stats().transport).toBe(transport);
    await using client = await connectClient(server.port, server.host);
    const lines = Array.from({ length: 1000 }, (_, i) => `message ${i}`);
    await client.write(lines.map((line) => `${line}\n`).join(''));
    expect(await client.readLines(1000)).toEqual(lines.map((line) => `ACK ${line}`));
    client.socket.setNoDelay(true);
    for (const byte of Buffer.from('split into bytes\r\n')) await client.write(Buffer.from([byte]));
    expect(await client.readLine()).toBe('ACK split into bytes');
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0x41]);
    await client.write(Buffer.concat([binary, Buffer.from('\n')]));
    expect(await client.readBytes(4 + binary.length + 1)).toEqual(Buffer.concat([Buffer.from('ACK '), binary, Buffer.from('\n')]));
  });

  it('TCP-TRANSPORT-002 answers what came before a half-close and then closes; its gauge and the kernel return to zero after closes and resets', async () => {
    await using server = await startAckServer({ transport });
    const closers = await Promise.all(Array.from({ length: 10 }, () => connectClient(server.port, server.host)));
    const resetters = await Promise.all(Array.from({ length: 10 }, () => connectClient(server.port, server.host)));
    await waitUntil(() => server.stats().open, (open) => open === 20, { what: 'open connections', expected: '20' });
    const replies = closers.map((client, i) => {
      client.end(`last words ${i}\n`);
      return client.readToEnd();
    });
    expect((await Promise.all(replies)).map(String)).toEqual(closers.map((_, i) => `ACK last words ${i}\n`));
    for (const client of resetters) client.socket.resetAndDestroy();
    await waitUntil(() => server.stats().open, (open) => open === 0, { what: 'open connections', expected: '0' });
    await waitUntil(async () => (await socketCensus({ localPort: server.port })).ESTABLISHED ?? 0, (n) => n === 0, { what: 'kernel ESTABLISHED sockets on the server port', expected: '0' });
  });

  it('TCP-TRANSPORT-003 stops reading from a client that does not read its replies, keeps them bounded, and loses nothing', async () => {
    const bound = 64 * 1024;
    await using server = await startAckServer({ transport, maxPendingReplyBytes: bound });
    await using client = await connectClient(server.port, server.host);
    client.socket.pause();
    const line = `${'z'.repeat(1000)}\n`;
    const lines = 8 * 1024; // 8 MiB of requests, more than the kernel's buffers hold
    client.socket.write(line.repeat(lines));
    await waitUntil(() => server.stats().paused, (paused) => paused >= 1, { what: 'times the server paused the reader', expected: '>= 1' });
    client.socket.resume();
    const replyBytes = lines * (line.length + 4);
    await waitUntil(() => client.received().length, (n) => n >= replyBytes, { what: 'reply bytes after the reader resumed', expected: String(replyBytes), timeout: scaled(15_000) });
    expect(client.received().length).toBe(replyBytes);
    expect(server.stats().peakPendingReplyBytes).toBeLessThanOrEqual(bound + 70 * 1024);
  });

  it('TCP-TRANSPORT-004 closes only the offending connection: a line too long, one connection too many, an idle one', async () => {
    {
      await using server = await startAckServer({ transport, maxLineLength: 16, maxConnections: 2 });
      await using bystander = await connectClient(server.port, server.host);
      await using offender = await connectClient(server.port, server.host);
      await waitUntil(() => server.stats().open, (open) => open === 2, { what: 'open connections', expected: '2' });
      await using extra = await connectClient(server.port, server.host);
      expect((await extra.readToEnd()).toString()).toBe('ERR too many connections\n');
      await offender.write(`${'x'.repeat(17)}\n`);
      expect((await offender.readToEnd()).toString()).toBe('ERR line too long\n');
      await bystander.write('still here\n');
      expect(await bystander.readLine()).toBe('ACK still here');
      expect(server.stats()).toMatchObject({ rejected: 1, errors: { ELINETOOLONG: 1 } });
    }
    const idleMs = scaled(200);
    await using server = await startAckServer({ transport, idleTimeoutMs: idleMs });
    await using idler = await connectClient(server.port, server.host);
    await idler.write('hello\n');
    expect(await idler.readLine()).toBe('ACK hello');
    const silentSince = Date.now();
    expect((await idler.readToEnd(scaled(5000))).toString()).toBe('ERR idle timeout\n');
    expect(Date.now() - silentSince).toBeGreaterThanOrEqual(idleMs - 20);
    await using next = await connectClient(server.port, server.host);
    await next.write('next\n');
    expect(await next.readLine()).toBe('ACK next');
  });

  it('TCP-TRANSPORT-005 the load client over this transport gets every ack from either server, resolves localhost, and counts a refusal', async () => {
    for (const serverTransport of TRANSPORTS) {
      await using server = await startAckServer({ transport: serverTransport });
      const result = await runLoad({ host: 'localhost', port: server.port, clients: 20, staggerMs: 0, messagesPerClient: 100, pipeline: 8, message: 'c{i} m{n} sí', transport });
      expect(result, `load over ${transport} to a server over ${serverTransport}`).toMatchObject({
        transport,
        ok: true,
        clients: { attempted: 20, connected: 20, failed: 0 },
        messages: { planned: 2000, sent: 2000, acked: 2000, mismatched: 0, missing: 0, extra: 0 },
      });
      expect(server.stats().messages).toBe(2000);
    }
    const closed = await startAckServer({ transport });
    const port = closed.port;
    await closed.close();
    const refused = await runLoad({ host: '127.0.0.1', port, clients: 3, staggerMs: 0, transport });
    expect(refused).toMatchObject({ ok: false, clients: { attempted: 3, connected: 0, failed: 3 }, errors: { ECONNREFUSED: 3 } });
  });
});

describe.skipIf(needsLib || !LIBUV)('the libuv fast paths on this Node', () => {
  it(`TCP-TRANSPORT-006 print no warning of Node's on ${process.version}: the ack server, the load client, the balancer and the capacity tester on libuv handles`, async () => {
    await using server = await startCliServer(['ack-server', '--port', '0', '--transport', 'libuv']);
    await using balancer = await startCliServer(['balancer', '--port', '0', '--backend', `${server.host}:${server.port}`, '--transport', 'libuv', '--health-interval', '0']);
    const load = await runCli(['load', '--host', balancer.host, '--port', String(balancer.port), '--clients', '5', '--stagger', '0', '--transport', 'libuv', '--quiet']);
    const capacity = await runCli(['capacity', '--host', server.host, '--port', String(server.port), '--connections', '5', '--delay', '0', '--hold', '10ms', '--close', 'reset', '--quiet']);
    expect(load.exitCode, load.stderr).toBe(0);
    expect(capacity.exitCode, capacity.stderr).toBe(0);
    expect(await server.stop()).toBe(0);
    expect(await balancer.stop()).toBe(0);
    const printed = { load: load.stderr, capacity: capacity.stderr, 'ack-server': server.stderrLines.join('\n'), balancer: balancer.stderrLines.join('\n') };
    for (const [command, stderr] of Object.entries(printed)) expect(stderr, command).not.toMatch(/warning|deprecat/i);
  });
});
