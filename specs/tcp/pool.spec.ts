// The pool core both bounded servers share, shown through the hello server: at most --workers
// connections are handled at once (its own gauge says so, and the wall clock agrees from outside), at
// most --queue more wait, and the next is refused at once with 503 while the server stays responsive.
// Deadlines run from accept, queue time included: a silent or slow client is answered 408 and its
// worker freed; a client that never reads its reply is cut off at the deadline.
// Run against another hello server with CONNLAB_TARGET_POOL=host:port (the specs that set limits skip).
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHelloTarget, httpExchange, parseHttpResponse } from '../_harness/pool.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { createBulkReplyPoolServer, createUnboundedHelloServer } from '../../fixtures/pool-servers.ts';

const needsLib = libOnlyReason('pool', 'it sets the pool\'s limits and deadlines and reads its gauges');

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

describe.skipIf(needsLib)('pool: the worker limit', () => {
  it('TCP-POOL-001 handles at most --workers connections at once under a burst, by its gauge and by the clock', async () => {
    const workMs = scaled(100);
    await using server = await startHelloTarget({ workers: 5, queue: 25, workMs });
    const { statuses, elapsedMs } = await burst(server.port, 30);
    expect(count(statuses, 200)).toBe(30);
    const stats = server.stats!();
    expect(stats).toMatchObject({ peakActive: 5, completed: 30, rejected: 0, active: 0, queued: 0 });
    // 30 requests through 5 workers are 6 rounds of work: no faster, whatever the gauge says.
    expect(elapsedMs).toBeGreaterThanOrEqual(6 * workMs - 5);
  });

  it("TCP-POOL-002 the clock check catches a pool that limits nothing (the prior art's early-released semaphore)", async () => {
    const workMs = scaled(100);
    await using broken = await createUnboundedHelloServer({ workMs });
    const { statuses, elapsedMs } = await burst(broken.port, 30);
    expect(count(statuses, 200)).toBe(30);
    expect(elapsedMs).toBeLessThan(6 * workMs - 5);
  });
});

describe.skipIf(needsLib)('pool: the queue bound', () => {
  it('TCP-POOL-003 queues at most --queue connections and refuses the next at once with 503 and Retry-After, while every worker is busy', async () => {
    const workMs = scaled(500);
    await using server = await startHelloTarget({ workers: 2, queue: 3, workMs });
    const working = [httpExchange(server.port), httpExchange(server.port)];
    await waitUntil(() => server.stats!().active, (n) => n === 2, { what: 'active workers', expected: '2' });
    const queued = [httpExchange(server.port), httpExchange(server.port), httpExchange(server.port)];
    await waitUntil(() => server.stats!().queued, (n) => n === 3, { what: 'queued connections', expected: '3' });

    const refused = await httpExchange(server.port);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect(refused.headers['content-length']).toBe(String(Buffer.byteLength(refused.body)));
    // The refusal came while both workers were still in their work: nothing had completed yet.
    expect(server.stats!()).toMatchObject({ completed: 0, active: 2, queued: 3, rejected: 1 });

    const served = await Promise.all([...working, ...queued]);
    expect(served.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(server.stats!()).toMatchObject({ completed: 5, rejected: 1, peakActive: 2, peakQueued: 3 });
  });
});

describe.skipIf(needsLib)('pool: deadlines from accept', () => {
  it('TCP-POOL-010 answers a silent client 408 at the read deadline and frees its worker', async () => {
    const deadlineMs = scaled(300);
    await using server = await startHelloTarget({ workers: 1, queue: 0, deadlineMs, workMs: 0 });
    await using silent = await connectClient(server.port);
    const connectedAt = performance.now();
    await waitUntil(() => server.stats!().active, (n) => n === 1, { what: 'active workers', expected: '1' });
    expect((await httpExchange(server.port)).status).toBe(503); // the only worker is held by the silent client
    const timedOut = parseHttpResponse(await silent.readToEnd(scaled(5000)));
    expect(timedOut.status).toBe(408);
    expect(performance.now() - connectedAt).toBeGreaterThanOrEqual(deadlineMs - 5);
    await waitUntil(() => server.stats!().active, (n) => n === 0, { what: 'active workers after the timeout', expected: '0' });
    expect((await httpExchange(server.port)).status).toBe(200);
    expect(server.stats!()).toMatchObject({ readTimeouts: 1, timedOut: 1, completed: 1, rejected: 1 });
  });

  it('TCP-POOL-011 cuts off a client that sends too slowly at the deadline, counted from accept and not per read', async () => {
    const deadlineMs = scaled(300);
    await using server = await startHelloTarget({ workers: 1, queue: 0, deadlineMs, workMs: 0 });
    await using slow = await connectClient(server.port);
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
    const reply = parseHttpResponse(await slow.readToEnd(scaled(5000)));
    const elapsed = performance.now() - connectedAt;
    expect(reply.status).toBe(408);
    expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 5);
    expect(elapsed).toBeLessThan((request.length * deadlineMs) / 6);
    slow.destroy();
    await trickle;
    expect(server.stats!().readTimeouts).toBe(1);
  });

  it('TCP-POOL-012 counts time spent queued against the deadline', async () => {
    const deadlineMs = scaled(400);
    await using server = await startHelloTarget({ workers: 1, queue: 1, deadlineMs, workMs: 4 * deadlineMs });
    // The first client's work outlasts its deadline: it is cut off at the deadline with no reply.
    await using first = await connectClient(server.port);
    await first.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitUntil(() => server.stats!().active, (n) => n === 1, { what: 'active workers', expected: '1' });
    // The second waits in the queue with half a request; a deadline counted from pickup would give it
    // until well after the first was cut off, one counted from accept answers 408 at its deadline.
    await using queued = await connectClient(server.port);
    const queuedAt = performance.now();
    await queued.write('GET / HTTP/1.1\r\nHost: local');
    const reply = parseHttpResponse(await queued.readToEnd(scaled(5000)));
    const elapsed = performance.now() - queuedAt;
    expect(reply.status).toBe(408);
    expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 5);
    expect(elapsed).toBeLessThan(deadlineMs * 1.9);
    expect((await first.readToEnd()).length).toBe(0);
    await waitUntil(() => server.stats!(), (s) => s.active === 0 && s.timedOut === 2, { what: 'gauges', expected: 'active 0, timedOut 2' });
    expect(server.stats!()).toMatchObject({ readTimeouts: 1, writeTimeouts: 1, completed: 0 });
  });

  it('TCP-POOL-013 closes a client that never reads its reply at the write deadline and frees its worker', async () => {
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
