// The ack server answers every `\n`-terminated line with exactly one `ACK <line>\n`, in order, however
// TCP split or merged the bytes, and treats bytes as bytes. Its limits (line length, connections, idle
// time) close only the offending connection, with an error line; a client that never reads its
// replies is paused rather than buffered; and its open-connection gauge returns to zero however the
// connections ended. Run against another server with CONNLAB_TARGET_ACK=host:port.
import { describe, expect, it } from 'vitest';
import { startAckTarget, type AckTarget } from '../_harness/ack.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { socketCensus } from '../../lib/net/socket-table.ts';

const needsLib = libOnlyReason('ack', 'it sets the server\'s limits and reads its gauges');

describe('ack server: one reply per line', () => {
  it('TCP-ACK-001 answers 1,000 lines pipelined in one write with 1,000 acks in order', async () => {
    await using server = await startAckTarget();
    await using client = await connectClient(server.port, server.host);
    const lines = Array.from({ length: 1000 }, (_, i) => `message ${i}`);
    await client.write(lines.map((line) => `${line}\n`).join(''));
    expect(await client.readLines(1000)).toEqual(lines.map((line) => `ACK ${line}`));
  });

  it('TCP-ACK-002 answers a line that arrives one byte per write with exactly one ack', async () => {
    await using server = await startAckTarget();
    await using client = await connectClient(server.port, server.host);
    client.socket.setNoDelay(true);
    for (const byte of Buffer.from('split into bytes\n')) await client.write(Buffer.from([byte]));
    await client.write('next\n');
    expect(await client.readLines(2)).toEqual(['ACK split into bytes', 'ACK next']);
  });

  it('TCP-ACK-003 drops the \\r of a CRLF line ending', async () => {
    await using server = await startAckTarget();
    await using client = await connectClient(server.port, server.host);
    await client.write('windows\r\nunix\n');
    expect(await client.readLines(2)).toEqual(['ACK windows', 'ACK unix']);
  });

  it('TCP-ACK-004 echoes invalid UTF-8 and binary bytes unchanged and keeps the connection', async () => {
    await using server = await startAckTarget();
    await using client = await connectClient(server.port, server.host);
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0x41]);
    await client.write(Buffer.concat([binary, Buffer.from('\n')]));
    expect(await client.readBytes(4 + binary.length + 1)).toEqual(Buffer.concat([Buffer.from('ACK '), binary, Buffer.from('\n')]));
    await client.write('still here\n');
    expect(await client.readLine()).toBe('ACK still here');
  });

  it('TCP-ACK-005 answers the lines sent before a half-close, then closes its side', async () => {
    await using server = await startAckTarget();
    await using client = await connectClient(server.port, server.host);
    client.end('last words\n');
    expect((await client.readToEnd()).toString()).toBe('ACK last words\n');
  });

  it.skipIf(needsLib)('TCP-ACK-006 with --framing chunk answers `ACK from server` to each read, as the prior art did', async () => {
    await using server = await startAckTarget({ framing: 'chunk' });
    await using client = await connectClient(server.port, server.host);
    await client.write('Hello from client #0');
    expect((await client.readBytes(15)).toString()).toBe('ACK from server');
  });
});

describe.skipIf(needsLib)('ack server: limits close only the offending connection', () => {
  it('TCP-ACK-010 answers a line over the limit with `ERR line too long` and closes that connection only', async () => {
    await using server = await startAckTarget({ maxLineLength: 16 });
    await using bystander = await connectClient(server.port, server.host);
    await using offender = await connectClient(server.port, server.host);
    await offender.write(`${'x'.repeat(17)}\n`);
    expect((await offender.readToEnd()).toString()).toBe('ERR line too long\n');
    await bystander.write(`${'y'.repeat(16)}\n`);
    expect(await bystander.readLine()).toBe(`ACK ${'y'.repeat(16)}`);
    expect(server.stats?.().errors).toEqual({ ELINETOOLONG: 1 });
  });

  it('TCP-ACK-011 refuses the connection past --max-connections with an error line and serves the others', async () => {
    await using server = await startAckTarget({ maxConnections: 2 });
    await using first = await connectClient(server.port, server.host);
    await using second = await connectClient(server.port, server.host);
    await waitUntil(() => server.stats!().open, (open) => open === 2, { what: 'open connections', expected: '2' });
    await using third = await connectClient(server.port, server.host);
    expect((await third.readToEnd()).toString()).toBe('ERR too many connections\n');
    await first.write('a\n');
    await second.write('b\n');
    expect([await first.readLine(), await second.readLine()]).toEqual(['ACK a', 'ACK b']);
    expect(server.stats!().rejected).toBe(1);
  });

  it('TCP-ACK-012 closes a connection that stays silent past the idle timeout', async () => {
    const idleMs = scaled(200);
    await using server = await startAckTarget({ idleTimeoutMs: idleMs });
    await using client = await connectClient(server.port, server.host);
    await client.write('hello\n');
    expect(await client.readLine()).toBe('ACK hello');
    const silentSince = Date.now();
    expect((await client.readToEnd(scaled(5000))).toString()).toBe('ERR idle timeout\n');
    expect(Date.now() - silentSince).toBeGreaterThanOrEqual(idleMs - 20);
  });

  it('TCP-ACK-013 stops reading from a client that never reads its replies, so its buffered replies stay bounded, and loses nothing', async () => {
    const bound = 64 * 1024;
    await using server = await startAckTarget({ maxPendingReplyBytes: bound });
    await using client = await connectClient(server.port, server.host);
    client.socket.pause(); // read nothing: replies fill the kernel's buffers, then the server's
    const line = `${'z'.repeat(1000)}\n`;
    const lines = 16 * 1024; // 16 MiB of requests, far more than the kernel's buffers hold
    client.socket.write(line.repeat(lines));
    await waitUntil(() => server.stats!().paused, (paused) => paused >= 1, { what: 'times the server paused the reader', expected: '>= 1' });
    expect(server.stats!().bytesIn).toBeLessThan(lines * line.length);
    client.socket.resume();
    const replyBytes = lines * (line.length + 4);
    await waitUntil(() => client.received().length, (n) => n >= replyBytes, { what: 'reply bytes after the reader resumed', expected: String(replyBytes), timeout: scaled(15_000) });
    expect(client.received().length).toBe(replyBytes);
    // One read (at most 64 KiB of requests) can add its replies after the bound is crossed.
    expect(server.stats!().peakPendingReplyBytes).toBeLessThanOrEqual(bound + 70 * 1024);
  });
});

/** Connections the server holds open: its own gauge, or for an external target the kernel's count. */
async function serverOpen(server: AckTarget): Promise<number> {
  if (server.stats) return server.stats().open;
  return (await socketCensus({ localPort: server.port })).ESTABLISHED ?? 0;
}

describe('ack server: cleanup', () => {
  it('TCP-ACK-020 returns its open-connection gauge to zero after graceful closes', async () => {
    await using server = await startAckTarget();
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectClient(server.port, server.host)));
    await waitUntil(() => serverOpen(server), (open) => open === 20, { what: 'open connections', expected: '20' });
    for (const client of clients) client.end();
    await Promise.all(clients.map((client) => client.closed()));
    await waitUntil(() => serverOpen(server), (open) => open === 0, { what: 'open connections', expected: '0' });
  });

  it('TCP-ACK-021 returns its gauge to zero after resets, and the kernel agrees', async () => {
    await using server = await startAckTarget();
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectClient(server.port, server.host)));
    await Promise.all(clients.map(async (client) => {
      await client.write('before reset\n');
      await client.readLine();
    }));
    for (const client of clients) client.socket.resetAndDestroy();
    await waitUntil(() => serverOpen(server), (open) => open === 0, { what: 'open connections', expected: '0' });
    // The kernel agrees (its table can trail the server's close events by a moment).
    await waitUntil(async () => (await socketCensus({ localPort: server.port })).ESTABLISHED ?? 0, (n) => n === 0, { what: 'kernel ESTABLISHED sockets on the server port', expected: '0' });
    await using after = await connectClient(server.port, server.host);
    await after.write('after resets\n');
    expect(await after.readLine()).toBe('ACK after resets');
  });
});
