// The ack server answers every `\n`-terminated line with exactly one `ACK <line>\n`, in order, however
// TCP split or merged the bytes, and treats bytes as bytes. Its limits (line length, connections, idle
// time) close only the offending connection, with an error line; a client that never reads its
// replies is paused rather than buffered; and its open-connection gauge returns to zero however the
// connections ended. Judge another server with `connlab check ack --target HOST:PORT`, declaring its
// limits (--max-line, --max-connections, --idle-timeout) so the specs about them can run.
import { describe, expect, it } from 'vitest';
import { startAckTarget, type AckTarget } from '../_harness/ack.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { declared, declaredOr, libOnly, needsLocalTarget, skipWith, targetIsLocal } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { readSocketTable, socketCensus } from '../../lib/net/socket-table.ts';

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
    // A few milliseconds apart, so the bytes reach the server in reads of their own: written back to
    // back they can wait in its receive buffer together, and one read would hide a server that
    // answers reads instead of lines (META-ACK-002 saw that once).
    for (const byte of Buffer.from('split into bytes\n')) {
      await client.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
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

  it('TCP-ACK-006 with --framing chunk answers `ACK from server` to each read, as the prior art did', async (ctx) => {
    libOnly(ctx, 'ack', "it switches lib/'s server to --framing chunk");
    await using server = await startAckTarget({ framing: 'chunk' });
    await using client = await connectClient(server.port, server.host);
    await client.write('Hello from client #0');
    expect((await client.readBytes(15)).toString()).toBe('ACK from server');
  });
});

/** Connections the server holds open: its own gauge, or for an external target the kernel's count. */
async function serverOpen(server: AckTarget): Promise<number> {
  if (server.stats) return server.stats().open;
  return (await socketCensus({ localPort: server.port })).ESTABLISHED ?? 0;
}

/** The most connections a spec opens to reach a declared limit; past it the spec says so and skips. */
const MOST_CONNECTIONS = 2000;
const idleTimeoutMs = declaredOr('ack', '--idle-timeout', scaled(200));

describe('ack server: limits close only the offending connection', () => {
  it('TCP-ACK-010 answers a line over the limit with `ERR line too long` and closes that connection only', async (ctx) => {
    const maxLine = declared(ctx, 'ack', '--max-line', 16, 'the longest line the target accepts');
    await using server = await startAckTarget({ maxLineLength: maxLine });
    await using bystander = await connectClient(server.port, server.host);
    await using offender = await connectClient(server.port, server.host);
    await offender.write(`${'x'.repeat(maxLine + 1)}\n`);
    expect((await offender.readToEnd()).toString()).toBe('ERR line too long\n');
    await bystander.write(`${'y'.repeat(maxLine)}\n`);
    expect(await bystander.readLine()).toBe(`ACK ${'y'.repeat(maxLine)}`);
    if (server.stats) expect(server.stats().errors).toEqual({ ELINETOOLONG: 1 });
  });

  it('TCP-ACK-014 takes a line of exactly --max-line bytes, whether it ends in LF or CRLF and wherever it falls in a read', async (ctx) => {
    const maxLine = declared(ctx, 'ack', '--max-line', 16, 'the longest line the target accepts');
    await using server = await startAckTarget({ maxLineLength: maxLine });
    await using client = await connectClient(server.port, server.host);
    const exact = 'z'.repeat(maxLine);
    // One write, so the lines at the limit arrive behind others in the same read; the `\r` of a CRLF is not the line's.
    await client.write(`a\n${exact}\r\nb\n${exact}\n`);
    expect(await client.readLines(4)).toEqual(['ACK a', `ACK ${exact}`, 'ACK b', `ACK ${exact}`]);
  });

  it('TCP-ACK-015 answers an unterminated line with `ERR line too long` once it passes --max-line, without waiting for its newline', async (ctx) => {
    const maxLine = declared(ctx, 'ack', '--max-line', 16, 'the longest line the target accepts');
    await using server = await startAckTarget({ maxLineLength: maxLine });
    await using offender = await connectClient(server.port, server.host);
    // A server that waits for the `\n` holds all of it: a client that never sends one grows it without bound.
    await offender.write('x'.repeat(maxLine * 4));
    expect((await offender.readToEnd(scaled(5000))).toString()).toBe('ERR line too long\n');
  });

  it('TCP-ACK-011 refuses the connection past --max-connections with an error line and serves the others', async (ctx) => {
    const max = declared(ctx, 'ack', '--max-connections', 2, 'the most connections the target keeps at once');
    if (max > MOST_CONNECTIONS) skipWith(ctx, `--max-connections ${max}: more connections than a spec opens (${MOST_CONNECTIONS})`);
    await using server = await startAckTarget({ maxConnections: max });
    const served = await Promise.all(Array.from({ length: max }, () => connectClient(server.port, server.host)));
    try {
      // Each is served before the next one comes: the limit counts open connections, not attempts.
      await Promise.all(served.map(async (client, i) => {
        await client.write(`c${i}\n`);
        expect(await client.readLine()).toBe(`ACK c${i}`);
      }));
      await using extra = await connectClient(server.port, server.host);
      expect((await extra.readToEnd()).toString()).toBe('ERR too many connections\n');
      await served[0].write('still served\n');
      expect(await served[0].readLine()).toBe('ACK still served');
      if (server.stats) expect(server.stats().rejected).toBe(1);
    } finally {
      for (const client of served) client.socket.destroy();
    }
  });

  it('TCP-ACK-012 closes a connection that stays silent past the idle timeout', { timeout: idleTimeoutMs + scaled(20_000) }, async (ctx) => {
    const idleMs = declared(ctx, 'ack', '--idle-timeout', idleTimeoutMs, 'how long the target keeps a silent connection');
    await using server = await startAckTarget({ idleTimeoutMs: idleMs });
    await using client = await connectClient(server.port, server.host);
    await client.write('hello\n');
    expect(await client.readLine()).toBe('ACK hello');
    const silentSince = Date.now();
    expect((await client.readToEnd(idleMs + scaled(5000))).toString()).toBe('ERR idle timeout\n');
    expect(Date.now() - silentSince).toBeGreaterThanOrEqual(idleMs - 20);
  });

  it('TCP-ACK-013 stops reading from a client that never reads its replies, so its buffered replies stay bounded, and loses nothing', async () => {
    const bound = 64 * 1024;
    await using server = await startAckTarget({ maxPendingReplyBytes: bound });
    await using client = await connectClient(server.port, server.host);
    client.socket.pause(); // read nothing: replies fill the kernel's buffers, then the server's
    // Lines within the target's own limit, so what is judged is how it reads, not how it refuses.
    const line = `${'z'.repeat(Math.min(1000, declaredOr('ack', '--max-line', 1000)))}\n`;
    // Far more than the kernel's buffers hold: 16 MiB where the socket table shows the server's side, more elsewhere.
    const lines = Math.floor(((targetIsLocal('ack') ? 16 : 96) * 1024 * 1024) / line.length);
    client.socket.write(line.repeat(lines));
    const unsent = await settled(() => client.socket.writableLength);
    expect(unsent, 'request bytes the client could not hand to the kernel once the flow came to rest: the server stopped taking them').toBeGreaterThan(0);
    if (targetIsLocal('ack')) {
      // The server's side of the connection holds bytes it has not read: it stopped reading, it did not just slow down.
      await waitUntil(() => unreadByServer(server.port, client.socket.localPort!), (unread) => unread > 0, { what: "bytes waiting unread in the server's socket", expected: '> 0', timeout: scaled(3000) });
    }
    if (server.stats) expect(server.stats().paused).toBeGreaterThanOrEqual(1);
    client.socket.resume();
    const replyBytes = lines * (line.length + 4);
    await waitUntil(() => client.received().length, (n) => n >= replyBytes, { what: 'reply bytes after the reader resumed', expected: String(replyBytes), timeout: scaled(30_000) });
    expect(client.received().length).toBe(replyBytes);
    // One read (at most 64 KiB of requests) can add its replies after the bound is crossed.
    if (server.stats) expect(server.stats().peakPendingReplyBytes).toBeLessThanOrEqual(bound + 70 * 1024);
  });
});

/**
 * A figure once it stopped changing for half a second (the flow between client and server came to rest),
 * or when it reached 0 (everything went through). The quiet period is about the flow, not the target's
 * timing, so it is not scaled.
 */
async function settled(read: () => number | Promise<number>): Promise<number> {
  let last = await read();
  let stableSince = Date.now();
  const deadline = Date.now() + scaled(20_000);
  while (Date.now() < deadline && last !== 0) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await read();
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 500) {
      return now;
    }
  }
  return last;
}

/** Bytes waiting unread in the server's side of the connection from `clientPort` (its Recv-Q). */
async function unreadByServer(serverPort: number, clientPort: number): Promise<number> {
  const entry = (await readSocketTable({ port: serverPort })).find((e) => e.localPort === serverPort && e.remotePort === clientPort);
  return entry?.rxQueue ?? 0;
}

/** How many connections the cleanup specs open: 20, or fewer when the target declared a lower limit. */
const cleanupConnections = (): number => {
  const max = declaredOr('ack', '--max-connections', 0);
  return max > 0 ? Math.min(20, max) : 20;
};

describe('ack server: cleanup', () => {
  it('TCP-ACK-020 returns its open-connection gauge to zero after graceful closes', async (ctx) => {
    needsLocalTarget(ctx, 'ack');
    await using server = await startAckTarget();
    const n = cleanupConnections();
    const clients = await Promise.all(Array.from({ length: n }, () => connectClient(server.port, server.host)));
    await waitUntil(() => serverOpen(server), (open) => open === n, { what: 'open connections', expected: String(n) });
    for (const client of clients) client.end();
    await Promise.all(clients.map((client) => client.closed()));
    await waitUntil(() => serverOpen(server), (open) => open === 0, { what: 'open connections', expected: '0' });
  });

  it('TCP-ACK-021 returns its gauge to zero after resets, and the kernel agrees', async (ctx) => {
    needsLocalTarget(ctx, 'ack');
    await using server = await startAckTarget();
    const clients = await Promise.all(Array.from({ length: cleanupConnections() }, () => connectClient(server.port, server.host)));
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
