// The slow server answers every request after its delay with `Connection: keep-alive` and
// `Keep-Alive: timeout=120, max=100`, without one slow request holding up another, and keeps idle
// connections for the timeout it advertises (not Node's 5 s). It counts its own sockets, and that count
// agrees with the kernel's; a client that leaves before its response is noticed and not written to.
// Judge another server with `connlab check http-server --target HOST:PORT`, declaring its --delay,
// --keep-alive and --max-requests.
import { describe, expect, it } from 'vitest';
import { connectClient } from '../_harness/wire.ts';
import { startSlowTarget } from '../_harness/slow.ts';
import { declared, declaredOr, externalTarget, libOnly, skipWith } from '../_harness/targets.ts';
import { waitForValue, waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';
import { SLOW_BODY } from '../../lib/http-keepalive/options.ts';
import { createForgetfulSlowServer } from '../../fixtures/http-servers.ts';

const GET = 'GET / HTTP/1.1\r\nHost: lab\r\n\r\n';
const FAMILY = 'http-server';
/** Spec timeouts stretch with a target's declared delay and keep-alive. */
const slowest = 3 * (declaredOr(FAMILY, '--delay', scaled(300)) + declaredOr(FAMILY, '--keep-alive', 1000)) + scaled(20_000);

/** The Keep-Alive header a server that keeps idle connections `keepAliveMs` and serves `maxRequests` on each must send. */
const keepAliveHeader = (keepAliveMs: number, maxRequests: number | undefined): RegExp =>
  new RegExp(`^Keep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}${maxRequests === undefined ? '(, max=\\d+)?' : `, max=${maxRequests}`}$`, 'i');

/** Reads one response head and its Content-Length body off a wire client. */
async function readResponse(client: Awaited<ReturnType<typeof connectClient>>, timeout = scaled(5000)): Promise<{ head: string[]; body: string }> {
  const head: string[] = [];
  for (let line = await client.readLine(timeout); line !== '\r'; line = await client.readLine(timeout)) head.push(line.replace(/\r$/, ''));
  const length = Number(head.find((h) => /^content-length:/i.test(h))?.split(':')[1] ?? 0);
  return { head, body: (await client.readBytes(length, timeout)).toString() };
}

describe('slow server: answers', () => {
  it("HTTP-KA-001 answers after its delay with the prior art's keep-alive headers and body", { timeout: slowest }, async (ctx) => {
    const delayMs = declared(ctx, FAMILY, '--delay', scaled(200), 'how long the target waits before each response');
    await using server = await startSlowTarget({ delayMs });
    await using client = await connectClient(server.port, server.host);
    const sent = performance.now();
    await client.write(GET);
    const { head, body } = await readResponse(client, delayMs + scaled(5000));
    expect(performance.now() - sent).toBeGreaterThanOrEqual(delayMs - 5);
    expect(head[0]).toBe('HTTP/1.1 200 OK');
    expect(head.map((h) => h.toLowerCase())).toContain('connection: keep-alive');
    // The prior art's promise, or what the target declared it keeps.
    const keepAliveMs = declaredOr(FAMILY, '--keep-alive', 120_000);
    expect(head.some((h) => keepAliveHeader(keepAliveMs, externalTarget(FAMILY) ? declaredOr<number | undefined>(FAMILY, '--max-requests', undefined) : 100).test(h)), head.join(' | ')).toBe(true);
    if (!externalTarget(FAMILY)) expect(body).toBe(SLOW_BODY);
  });

  it('HTTP-KA-002 answers concurrent requests side by side: one slow request holds up no other', { timeout: slowest }, async (ctx) => {
    const delayMs = declared(ctx, FAMILY, '--delay', scaled(300), 'how long the target waits before each response');
    if (delayMs < scaled(100)) skipWith(ctx, `--delay ${delayMs}ms: requests side by side are told apart from requests in turn only with a delay of at least ${scaled(100)}ms`);
    await using server = await startSlowTarget({ delayMs });
    const clients = await Promise.all(Array.from({ length: 6 }, () => connectClient(server.port, server.host)));
    try {
      const sent = performance.now();
      await Promise.all(clients.map((c) => c.write(GET)));
      const responses = await Promise.all(clients.map((c) => readResponse(c, 6 * delayMs + scaled(5000))));
      expect(responses.map((r) => r.head[0])).toEqual(Array(6).fill('HTTP/1.1 200 OK'));
      // Serialized, six would take six delays; side by side they take about one.
      expect(performance.now() - sent).toBeLessThan(3 * delayMs);
    } finally {
      clients.forEach((c) => c.destroy());
    }
  });

  it('HTTP-KA-003 keeps an idle keep-alive connection for its own timeout, then closes it', { timeout: slowest }, async (ctx) => {
    const keepAliveTimeoutMs = declared(ctx, FAMILY, '--keep-alive', 1000, 'how long the target keeps an idle keep-alive connection');
    const delayMs = declaredOr(FAMILY, '--delay', 0);
    await using server = await startSlowTarget({ delayMs, keepAliveTimeoutMs });
    await using client = await connectClient(server.port, server.host);
    await client.write(GET);
    const { head } = await readResponse(client, delayMs + scaled(5000));
    const answered = performance.now();
    expect(head.some((h) => keepAliveHeader(keepAliveTimeoutMs, undefined).test(h)), head.join(' | ')).toBe(true);
    // The server's FIN: the stream ends (the wire client is half-open, so it does not close by itself).
    expect((await client.readToEnd(keepAliveTimeoutMs + scaled(3000))).length).toBe(0);
    expect(performance.now() - answered).toBeGreaterThanOrEqual(keepAliveTimeoutMs - 50);
    if (server.stats) await waitForValue(() => server.stats!().open, 0, { what: 'server open count' });
  });

  it('HTTP-KA-007 serves --max-requests requests on one connection, says Connection: close on the last, and closes it', { timeout: slowest }, async (ctx) => {
    const maxRequests = declared(ctx, FAMILY, '--max-requests', 3, 'how many requests the target serves on one connection');
    const delayMs = declaredOr(FAMILY, '--delay', 0);
    if (maxRequests * delayMs > scaled(10_000)) skipWith(ctx, `--max-requests ${maxRequests} at --delay ${delayMs}ms: longer than a spec waits`);
    await using server = await startSlowTarget({ delayMs, maxRequestsPerSocket: maxRequests });
    await using client = await connectClient(server.port, server.host);
    const connections: string[] = [];
    for (let i = 0; i < maxRequests; i++) {
      await client.write(GET);
      const { head } = await readResponse(client, delayMs + scaled(5000));
      expect(head[0], `response ${i + 1}`).toBe('HTTP/1.1 200 OK');
      connections.push(head.find((h) => /^connection:/i.test(h))?.split(':')[1].trim().toLowerCase() ?? 'keep-alive');
    }
    expect(connections).toEqual([...Array(maxRequests - 1).fill('keep-alive'), 'close']);
    // Closed because of that `close`, well before an idle timeout would have closed it.
    expect((await client.readToEnd(Math.min(scaled(3000), declaredOr(FAMILY, '--keep-alive', 120_000) / 2))).length).toBe(0);
  });
});

describe('slow server: its census', () => {
  it("HTTP-KA-004 counts its open sockets itself, and the count agrees with the OS's", async (ctx) => {
    libOnly(ctx, FAMILY, "it compares lib/'s own socket gauges with the OS's count");
    // A delay longer than the spec: the four requests are still waiting when their clients leave.
    await using server = await startSlowTarget({ delayMs: scaled(30_000) });
    const clients = await Promise.all(Array.from({ length: 7 }, () => connectClient(server.port, server.host)));
    try {
      await waitForValue(() => server.census!(), { open: 7, osEstablished: 7, inFlight: 0 }, { what: 'census with 7 connected' });
      for (const c of clients.slice(0, 3)) c.destroy();
      await waitForValue(() => server.census!(), { open: 4, osEstablished: 4, inFlight: 0 }, { what: 'census after 3 left' });
      await Promise.all(clients.slice(3).map((c) => c.write(GET)));
      await waitForValue(() => server.census!(), { open: 4, osEstablished: 4, inFlight: 4 }, { what: 'census with 4 in flight' });
    } finally {
      clients.forEach((c) => c.destroy());
    }
    await waitForValue(() => server.census!(), { open: 0, osEstablished: 0, inFlight: 0 }, { what: 'census after all left' });
    expect(server.stats!()).toMatchObject({ opened: 7, closed: 7, peakOpen: 7, requests: 4, abortedByClient: 4, responded: 0 });
  });

  it('HTTP-KA-005 notices a client that leaves mid-request, logs it, writes nothing, and its in-flight gauge returns to zero', async (ctx) => {
    libOnly(ctx, FAMILY, "it reads lib/'s own in-flight gauge and log");
    const lines: string[] = [];
    const delayMs = scaled(600);
    await using server = await startSlowTarget({ delayMs, log: (line) => lines.push(line) });
    await leaveMidRequest(server.port, server.host, server.stats!);
    expect(server.stats!()).toMatchObject({ requests: 1, abortedByClient: 1, responded: 0 });
    expect(lines.filter((l) => l.includes('client closed connection before response. Aborting write.'))).toHaveLength(1);
    // Time is the subject here: once the delay has passed, still nothing was answered.
    await waitForValue(() => server.stats!().open, 0, { what: 'server open count' });
    await new Promise((resolve) => setTimeout(resolve, delayMs + 50));
    expect(server.stats!()).toMatchObject({ responded: 0, inFlight: 0, abortedByClient: 1 });
  });

  it("HTTP-KA-006 catches the prior art's defect: a server that never uncounts an aborted request", async (ctx) => {
    libOnly(ctx, FAMILY, 'it proves the in-flight check itself, against a fixture');
    await using server = await createForgetfulSlowServer({ delayMs: scaled(300) });
    await expect(leaveMidRequest(server.port, server.host, server.stats, scaled(1000))).rejects.toThrow(/in-flight gauge after the client left/);
    expect(server.stats()).toMatchObject({ requests: 1, responded: 0, inFlight: 1 });
  });
});

/** A client sends a request, waits until the server counts it in flight, then leaves; the gauge must return to 0. */
async function leaveMidRequest(port: number, host: string, stats: () => { inFlight: number }, timeout?: number): Promise<void> {
  const client = await connectClient(port, host);
  await client.write(GET);
  await waitUntil(() => stats().inFlight, (n) => n === 1, { what: 'in-flight gauge', expected: '1' });
  client.destroy();
  await waitForValue(() => stats().inFlight, 0, { what: 'in-flight gauge after the client left', timeout });
}
