// The pool core both bounded servers share, shown through the hello server: at most --workers
// connections are handled at once (its own gauge says so, and the wall clock agrees from outside), at
// most --queue more wait, and the next is refused at once with 503 while the server stays responsive.
// Deadlines run from accept, queue time included: a silent or slow client is answered 408 and its
// worker freed; a client that never reads its reply is cut off at the deadline.
// Judge another hello server with `connlab check pool --target HOST:PORT --workers N --queue N --deadline D
// --work D`: each spec reads the limits it is about from what the target declares.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHelloTarget, httpExchange, parseHttpResponse } from '../_harness/pool.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { declared, declaredOr, libOnly, skipWith } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { createBulkReplyPoolServer, createUnboundedHelloServer } from '../../fixtures/pool-servers.ts';

/** The most connections a spec opens at once; a target whose declared limits need more is not judged by it. */
const MOST_CONNECTIONS = 500;
/** Spec timeouts stretch with a target's declared work and deadline. */
const slowest = 12 * Math.max(declaredOr('pool', '--work', scaled(500)), declaredOr('pool', '--deadline', scaled(400))) + scaled(20_000);

/** Sends `n` requests at once; resolves with their statuses and the wall time until the last reply. */
async function burst(port: number, n: number, host = '127.0.0.1'): Promise<{ statuses: number[]; elapsedMs: number }> {
  const started = performance.now();
  const replies = await Promise.all(Array.from({ length: n }, () => httpExchange(port, host, undefined, scaled(20_000))));
  return { statuses: replies.map((r) => r.status), elapsedMs: performance.now() - started };
}

/** Sends a request on a plain socket and counts the reply's bytes until the end of the stream. */
function countReplyBytes(port: number, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(request));
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
  });
}

const count = (values: number[], value: number): number => values.filter((v) => v === value).length;

describe('pool: the worker limit', () => {
  it('TCP-POOL-001 handles at most --workers connections at once under a burst, by its gauge and by the clock', { timeout: slowest }, async (ctx) => {
    const workers = declared(ctx, 'pool', '--workers', 5, 'requests the target handles at once');
    const queue = declared(ctx, 'pool', '--queue', 25, 'connections that may wait for a worker');
    const workMs = declared(ctx, 'pool', '--work', scaled(100), 'the time each request takes');
    const deadlineMs = declaredOr('pool', '--deadline', 10_000);
    // As many as the workers and the queue hold, at most six rounds of work's worth, and no more than
    // are served within the deadline (counted from accept, queue time included).
    const n = Math.min(workers + queue, 6 * workers, workers * Math.floor(deadlineMs / workMs));
    if (n > MOST_CONNECTIONS) skipWith(ctx, `--workers ${workers}: a burst of ${n} is more than a spec sends (${MOST_CONNECTIONS})`);
    if (n <= workers) skipWith(ctx, `--queue ${queue}, --work ${workMs}ms and --deadline ${deadlineMs}ms: no second round of work can be queued and served, so the clock cannot count rounds`);
    await using server = await startHelloTarget({ workers, queue, workMs });
    const { statuses, elapsedMs } = await burst(server.port, n, server.host);
    expect(count(statuses, 200)).toBe(n);
    if (server.stats) expect(server.stats()).toMatchObject({ peakActive: workers, completed: n, rejected: 0, active: 0, queued: 0 });
    // n requests through `workers` workers are ceil(n / workers) rounds of work: no faster, whatever a gauge says.
    expect(elapsedMs).toBeGreaterThanOrEqual(Math.ceil(n / workers) * workMs - 5);
  });

  it("TCP-POOL-002 the clock check catches a pool that limits nothing (the prior art's early-released semaphore)", async (ctx) => {
    libOnly(ctx, 'pool', 'it proves the clock check itself, against a fixture');
    const workMs = scaled(100);
    await using broken = await createUnboundedHelloServer({ workMs });
    const { statuses, elapsedMs } = await burst(broken.port, 30);
    expect(count(statuses, 200)).toBe(30);
    expect(elapsedMs).toBeLessThan(6 * workMs - 5);
  });
});

describe('pool: the queue bound', () => {
  it('TCP-POOL-003 queues at most --queue connections and refuses the next at once with 503 and Retry-After, while every worker is busy', { timeout: slowest }, async (ctx) => {
    const workers = declared(ctx, 'pool', '--workers', 2, 'requests the target handles at once');
    const queue = declared(ctx, 'pool', '--queue', 3, 'connections that may wait for a worker');
    const workMs = declared(ctx, 'pool', '--work', scaled(500), 'the time each request takes');
    if (workers + queue + 1 > MOST_CONNECTIONS) skipWith(ctx, `--workers ${workers} and --queue ${queue}: more connections than a spec opens (${MOST_CONNECTIONS})`);
    if (workMs < scaled(300)) skipWith(ctx, `--work ${workMs}ms: the refusal is told apart from a late answer only with work of at least ${scaled(300)}ms`);
    const deadlineMs = declaredOr('pool', '--deadline', 10_000);
    if ((1 + Math.ceil(queue / workers)) * workMs > deadlineMs) skipWith(ctx, `--work ${workMs}ms, --workers ${workers} and --queue ${queue}: the queued requests would not all be served within --deadline ${deadlineMs}ms`);
    await using server = await startHelloTarget({ workers, queue, workMs });
    // One more than the workers and the queue hold, all at once: exactly one is refused, before any is answered.
    const started = performance.now();
    const timed = await Promise.all(
      Array.from({ length: workers + queue + 1 }, async () => {
        const reply = await httpExchange(server.port, server.host, undefined, 4 * workMs + scaled(10_000));
        return { reply, at: performance.now() - started };
      }),
    );
    const refused = timed.filter((t) => t.reply.status === 503);
    expect(timed.map((t) => t.reply.status).sort()).toEqual([...Array(workers + queue).fill(200), 503]);
    expect(refused[0].reply.headers['retry-after']).toMatch(/^\d+$/);
    expect(refused[0].reply.headers['content-length']).toBe(String(Buffer.byteLength(refused[0].reply.body)));
    // Refused at once, while every worker was still in its work: before the first request was answered.
    expect(refused[0].at).toBeLessThan(Math.min(...timed.filter((t) => t.reply.status === 200).map((t) => t.at)));
    if (server.stats) expect(server.stats()).toMatchObject({ completed: workers + queue, rejected: 1, peakActive: workers, peakQueued: queue });
  });
});

describe('pool: deadlines from accept', () => {
  it('TCP-POOL-010 answers a silent client 408 at the read deadline and frees its worker', { timeout: slowest }, async (ctx) => {
    const deadlineMs = declared(ctx, 'pool', '--deadline', scaled(300), 'the read and write deadline, from accept');
    const workers = declared(ctx, 'pool', '--workers', 1, 'requests the target handles at once');
    if (workers > MOST_CONNECTIONS) skipWith(ctx, `--workers ${workers}: more silent clients than a spec opens (${MOST_CONNECTIONS})`);
    await using server = await startHelloTarget({ workers, queue: 0, deadlineMs, workMs: 0 });
    // As many silent clients as there are workers: each holds one until its deadline.
    const silent = await Promise.all(Array.from({ length: workers }, () => connectClient(server.port, server.host)));
    try {
      const connectedAt = performance.now();
      const timedOut = await Promise.all(silent.map(async (client) => parseHttpResponse(await client.readToEnd(deadlineMs + scaled(5000)))));
      expect(timedOut.map((r) => r.status)).toEqual(Array(workers).fill(408));
      expect(performance.now() - connectedAt).toBeGreaterThanOrEqual(deadlineMs - 5);
      // Every worker is free again: a request is served.
      expect((await httpExchange(server.port, server.host)).status).toBe(200);
      if (server.stats) expect(server.stats()).toMatchObject({ readTimeouts: workers, timedOut: workers, completed: 1, active: 0 });
    } finally {
      for (const client of silent) client.socket.destroy();
    }
  });

  it('TCP-POOL-011 cuts off a client that sends too slowly at the deadline, counted from accept and not per read', { timeout: slowest }, async (ctx) => {
    const deadlineMs = declared(ctx, 'pool', '--deadline', scaled(300), 'the read and write deadline, from accept');
    await using server = await startHelloTarget({ workers: 1, queue: 0, deadlineMs, workMs: 0 });
    await using slow = await connectClient(server.port, server.host);
    const connectedAt = performance.now();
    const request = 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: slow loris\r\n\r\n';
    // One byte every deadline/6: each read comes well within the deadline, the whole request never does.
    const trickle = (async () => {
      for (const byte of Buffer.from(request)) {
        if (slow.socket.destroyed || slow.socket.readableEnded) return;
        await slow.write(Buffer.from([byte])).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, deadlineMs / 6));
      }
    })();
    const reply = parseHttpResponse(await slow.readToEnd(deadlineMs + scaled(5000)));
    const elapsed = performance.now() - connectedAt;
    expect(reply.status).toBe(408);
    expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 5);
    expect(elapsed).toBeLessThan((request.length * deadlineMs) / 6);
    slow.destroy();
    await trickle;
    if (server.stats) expect(server.stats().readTimeouts).toBe(1);
  });

  it('TCP-POOL-012 counts time spent queued against the deadline', { timeout: slowest }, async (ctx) => {
    const deadlineMs = declared(ctx, 'pool', '--deadline', scaled(400), 'the read and write deadline, from accept');
    const workers = declared(ctx, 'pool', '--workers', 1, 'requests the target handles at once');
    const queue = declared(ctx, 'pool', '--queue', 1, 'connections that may wait for a worker');
    if (queue < 1) skipWith(ctx, '--queue 0: nothing waits in a queue to be timed');
    if (workers > MOST_CONNECTIONS) skipWith(ctx, `--workers ${workers}: more connections than a spec opens (${MOST_CONNECTIONS})`);
    await using server = await startHelloTarget({ workers, queue, deadlineMs, workMs: 0 });
    // Every worker is held by a client that sends half a request: each keeps it until its deadline.
    const holders = await Promise.all(Array.from({ length: workers }, () => connectClient(server.port, server.host)));
    try {
      await Promise.all(holders.map((client) => client.write('GET / HTTP/1.1\r\nHost: local')));
      if (server.stats) await waitUntil(() => server.stats!().active, (n) => n === workers, { what: 'active workers', expected: String(workers) });
      // The next waits in the queue with half a request too. A deadline counted from pickup would give it
      // until a deadline after the holders were cut off; one counted from accept answers 408 at its own.
      await using queued = await connectClient(server.port, server.host);
      const queuedAt = performance.now();
      await queued.write('GET / HTTP/1.1\r\nHost: local');
      const reply = parseHttpResponse(await queued.readToEnd(2 * deadlineMs + scaled(5000)));
      const elapsed = performance.now() - queuedAt;
      expect(reply.status).toBe(408);
      expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 5);
      expect(elapsed).toBeLessThan(deadlineMs * 1.9);
      if (server.stats) expect(server.stats()).toMatchObject({ readTimeouts: workers + 1, completed: 0 });
    } finally {
      for (const client of holders) client.socket.destroy();
    }
  });

  it('TCP-POOL-013 closes a client that never reads its reply at the write deadline and frees its worker', async (ctx) => {
    libOnly(ctx, 'pool', "it needs a handler whose reply outgrows the kernel's buffers, which a hello server's does not");
    const deadlineMs = scaled(400);
    const replyBytes = 32 * 1024 * 1024; // far more than the kernel's socket buffers hold
    await using server = await createBulkReplyPoolServer(replyBytes, { workers: 1, queue: 0, readDeadlineMs: deadlineMs, writeDeadlineMs: deadlineMs });
    await using stuck = await connectClient(server.port);
    stuck.socket.pause(); // never read
    const connectedAt = performance.now();
    await stuck.write('give me everything\n');
    await waitUntil(() => server.stats().writeTimeouts, (n) => n === 1, { what: 'write timeouts', expected: '1', timeout: scaled(5000) });
    expect(performance.now() - connectedAt).toBeGreaterThanOrEqual(deadlineMs - 5);
    expect(server.stats()).toMatchObject({ active: 0, completed: 0, timedOut: 1 });
    stuck.socket.resume();
    // What the kernels had buffered still arrives, then the end: never the whole reply.
    expect((await stuck.readToEnd(scaled(5000))).length).toBeLessThan(replyBytes);
    // The worker is free again: a reader gets the whole reply.
    expect(await countReplyBytes(server.port, 'again\n')).toBe(replyBytes);
    expect(server.stats()).toMatchObject({ completed: 1, writeTimeouts: 1 });
  });
});
