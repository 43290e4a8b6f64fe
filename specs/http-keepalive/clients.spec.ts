// The faulty client makes a new undici dispatcher for every request and never closes it, so every
// request leaves one more socket open to the server (the server's count and the kernel's agree); the
// same pile-up happens with one shared dispatcher whose large response bodies are never read. The fixed
// client shares one dispatcher, reuses its sockets, never holds more than its caps, and a closed client
// leaves no socket behind. Every request of both succeeds: the leak is silent, which is why it ships.
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { createKeepAliveClient, type KeepAliveClientOptions } from '../../lib/http-keepalive/clients.ts';
import { clientSocketCount } from '../../lib/http-keepalive/socket-count.ts';
import { runHttpClient } from '../../lib/http-keepalive/run.ts';
import { startSlowTarget } from '../_harness/slow.ts';
import { closedPort } from '../../fixtures/servers.ts';
import { createOriginPair, createStatusServer } from '../../fixtures/http-servers.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { waitForValue, waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';

const gauges = libOnlyReason('http', 'reads the server\'s own socket gauges and sets its delay and body size');
const K = 6;

/** This process's ESTABLISHED sockets to the server, read from /proc. */
const osSockets = async (port: number): Promise<number> => (await clientSocketCount(port)).established;
/** Waits for the OS's count to read `n` (a large table read while it changes can be off for a moment). */
const expectOsSockets = (port: number, n: number): Promise<number> => waitForValue(() => osSockets(port), n, { what: 'ESTABLISHED sockets of this process to the server' });

describe('faulty client: sockets pile up', () => {
  it.skipIf(!!gauges)("HTTP-KA-010 after each of 6 requests holds one more open socket, by the server's count and by the OS's", async () => {
    await using server = await startSlowTarget({ delayMs: scaled(20) });
    await using client = createKeepAliveClient({ mode: 'faulty' });
    for (let k = 1; k <= K; k++) {
      const outcome = await client.get(server.url);
      expect(outcome).toMatchObject({ ok: true, status: 200, bodyBytes: 29 });
      await expectOsSockets(server.port, k);
      await waitForValue(() => server.census!(), { open: k, osEstablished: k, inFlight: 0 }, { what: `server census after request ${k}` });
    }
    expect(client.stats()).toMatchObject({ requests: K, completed: K, failed: 0, connectionsOpened: K, connectionsOpen: K, dispatchersCreated: K });
    expect(server.stats!()).toMatchObject({ opened: K, closed: 0, requests: K, responded: K });
  });

  it.skipIf(!!gauges)('HTTP-KA-011 with one shared dispatcher but response bodies never read, also holds one socket per request', async () => {
    // A body larger than undici's 64 KiB buffer cannot be parked in memory: its socket stays busy until it is read.
    await using server = await startSlowTarget({ delayMs: scaled(20), bodyBytes: 1 << 20 });
    await using client = createKeepAliveClient({ mode: 'faulty', leak: 'unconsumed-body' });
    for (let k = 1; k <= K; k++) {
      expect(await client.get(server.url)).toMatchObject({ ok: true, status: 200 });
      await waitForValue(() => server.census!(), { open: k, osEstablished: k, inFlight: 0 }, { what: `server census after request ${k}` });
    }
    await expectOsSockets(server.port, K);
    expect(client.stats()).toMatchObject({ completed: K, connectionsOpened: K, dispatchersCreated: 1 });
  });
});

describe('fixed client: bounded and reused', () => {
  it.skipIf(!!gauges)('HTTP-KA-012 sends 6 requests one after another over one socket', async () => {
    await using server = await startSlowTarget({ delayMs: scaled(20) });
    await using client = createKeepAliveClient({ mode: 'fixed' });
    for (let k = 1; k <= K; k++) {
      expect(await client.get(server.url)).toMatchObject({ ok: true, status: 200, bodyBytes: 29, retried: false });
      await expectOsSockets(server.port, 1);
    }
    expect(server.stats!()).toMatchObject({ opened: 1, requests: K, responded: K });
    expect(client.stats()).toMatchObject({ completed: K, failed: 0, connectionsOpened: 1 });
  });

  it.skipIf(!!gauges)('HTTP-KA-013 never opens more than its per-origin cap (2), however many requests wait', () => capCase({}, 2));
  it.skipIf(!!gauges)('HTTP-KA-014 never opens more connections than its total cap (3, with 10 allowed per origin)', () =>
    capCase({ perOriginConnections: 10, maxConnections: 3 }, 3));

  async function capCase(options: Partial<KeepAliveClientOptions>, cap: number): Promise<void> {
    await using server = await startSlowTarget({ delayMs: scaled(50) });
    await using client = createKeepAliveClient({ mode: 'fixed', ...options });
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => client.get(server.url)));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(12);
    expect(server.stats!()).toMatchObject({ opened: cap, peakOpen: cap, requests: 12, responded: 12 });
    expect(client.stats()).toMatchObject({ completed: 12, connectionsOpened: cap });
    await expectOsSockets(server.port, cap);
  }
});

describe('fixed client: one total cap over all origins', () => {
  it('HTTP-KA-015 never has more requests in flight over two origins than its total cap (3, with 10 allowed per origin)', async () => {
    await using origins = await createOriginPair(scaled(50));
    await using client = createKeepAliveClient({ mode: 'fixed', perOriginConnections: 10, maxConnections: 3 });
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => client.get(origins.urls[i % 2])));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(12);
    expect(origins.peakInFlight()).toBe(3);
  });
});

describe('both clients: what an outcome says', () => {
  it('HTTP-KA-016 a 2xx or 3xx answer is a success; any other status is a failure coded HTTP_<status>', async () => {
    await using server = await createStatusServer();
    for (const mode of ['faulty', 'fixed'] as const) {
      await using client = createKeepAliveClient({ mode });
      const outcomes = [];
      for (const status of [200, 299, 302, 399, 400, 404, 500]) outcomes.push(await client.get(`http://${server.host}:${server.port}/${status}`));
      expect(outcomes.map(({ ok, status, error, message, bodyBytes }) => ({ ok, status, error, message, bodyBytes })), mode).toEqual([
        ...[200, 299, 302, 399].map((status) => ({ ok: true, status, error: undefined, message: undefined, bodyBytes: 7 })),
        ...[400, 404, 500].map((status) => ({ ok: false, status, error: `HTTP_${status}`, message: `status ${status}`, bodyBytes: 7 })),
      ]);
      expect(client.stats(), mode).toMatchObject({ requests: 7, completed: 4, failed: 3 });
    }
  });

  it('HTTP-KA-017 a refused connection is a failure coded ECONNREFUSED, and no connection is counted', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/`;
    for (const mode of ['faulty', 'fixed'] as const) {
      await using client = createKeepAliveClient({ mode });
      expect(await client.get(url), mode).toMatchObject({ ok: false, retried: false, bodyBytes: 0, error: 'ECONNREFUSED' });
      expect(client.stats(), mode).toMatchObject({ requests: 1, completed: 0, failed: 1, connectionsOpened: 0, connectionsOpen: 0 });
    }
  });

  it.skipIf(!!gauges)("HTTP-KA-018 a request's latency covers the server's delay and no more than the call took", async () => {
    const delayMs = scaled(60);
    await using server = await startSlowTarget({ delayMs });
    await using client = createKeepAliveClient({ mode: 'fixed' });
    const before = performance.now();
    const outcome = await client.get(server.url);
    const took = performance.now() - before;
    expect(outcome.ok).toBe(true);
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(delayMs - 1);
    expect(outcome.latencyMs).toBeLessThanOrEqual(took);
  });
});

describe('closing: nothing outlives a closed client', () => {
  it.skipIf(!!gauges)('HTTP-KA-030 a closed client, faulty or fixed, leaves no socket to the server', async () => {
    await using server = await startSlowTarget({ delayMs: scaled(20) });
    for (const options of [{ mode: 'faulty' }, { mode: 'faulty', leak: 'unconsumed-body' }, { mode: 'fixed' }] as KeepAliveClientOptions[]) {
      const client = createKeepAliveClient(options);
      const outcomes = await Promise.all(Array.from({ length: 4 }, () => client.get(server.url)));
      expect(outcomes.every((o) => o.ok)).toBe(true);
      await waitUntil(() => osSockets(server.port), (n) => n > 0, { what: 'sockets before close', expected: 'more than 0' });
      await client.close();
      expect(client.stats().connectionsOpen).toBe(0);
      await expectOsSockets(server.port, 0);
      await waitForValue(() => server.census!(), { open: 0, osEstablished: 0, inFlight: 0 }, { what: `server census after closing ${JSON.stringify(options)}` });
    }
    // `await using` closes it too.
    let disposed;
    {
      await using client = createKeepAliveClient({ mode: 'faulty' });
      disposed = client;
      expect(await client.get(server.url)).toMatchObject({ ok: true });
    }
    expect(disposed.stats().connectionsOpen).toBe(0);
    await expectOsSockets(server.port, 0);
    // A closed fixed client no longer listens to undici's request events.
    expect(['undici:client:sendHeaders', 'undici:request:headers', 'undici:request:error'].map((name) => diagnosticsChannel.channel(name).hasSubscribers)).toEqual([false, false, false]);
  });

  it("HTTP-KA-031 a run on the prior art's schedule returns a socket series that climbs for faulty and stays flat for fixed", async () => {
    await using server = await startSlowTarget({ delayMs: scaled(20) });
    const schedule = { url: server.url, intervalMs: scaled(40), extraProbability: 0, requests: K, sampleIntervalMs: scaled(50) };
    const faulty = await runHttpClient({ mode: 'faulty', ...schedule });
    const fixed = await runHttpClient({ mode: 'fixed', ...schedule });
    for (const result of [faulty, fixed]) {
      expect(result.requests).toEqual({ started: K, extra: 0, completed: K, failed: 0, cancelled: 0, retried: 0 });
      expect(result.ok).toBe(true);
      expect(result.sockets.afterClose).toBe(0);
      expect(result.series[0]).toMatchObject({ t: expect.any(Number), sockets: 0 });
      expect(result.series.map((p) => p.t)).toEqual([...result.series.map((p) => p.t)].sort((a, b) => a - b));
    }
    expect(faulty.sockets).toMatchObject({ peak: K, final: K, opened: K, perCompletedRequest: 1 });
    // Sequential on paper, but a slow first request may overlap the next: within the cap of 2 either way.
    expect(fixed.sockets.opened).toBeLessThanOrEqual(2);
    expect(fixed.sockets.peak).toBeLessThanOrEqual(fixed.sockets.opened);
    expect(fixed.sockets.perCompletedRequest).toBe(round(fixed.sockets.opened / K));
    // The faulty series never goes down while the run lasts.
    const counts = faulty.series.map((p) => p.sockets);
    expect(counts.every((n, i) => i === 0 || n >= counts[i - 1])).toBe(true);
  });

  it('HTTP-KA-032 adds an extra request at a random moment in each interval with the given probability', async () => {
    await using server = await startSlowTarget({ delayMs: scaled(10) });
    // random() < p decides an extra, the next random() places it inside the interval.
    const draws = [0.2, 0.5, 0.9, 0.2, 0.5];
    let i = 0;
    const result = await runHttpClient({ mode: 'fixed', url: server.url, intervalMs: scaled(200), extraProbability: 0.5, requests: 5, random: () => draws[i++ % draws.length] });
    // Tick 1 at 0 ms (+ an extra at 100), tick 2 at 200 (none), tick 3 at 400 (+ an extra at 500): five
    // requests, two of them extras, in that order whatever the timers' lateness.
    expect(result.requests).toMatchObject({ started: 5, extra: 2, completed: 5, failed: 0 });
  });
});

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
