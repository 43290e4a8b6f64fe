// A client never sees a dead backend while a live one exists: a backend that refuses, or does not
// accept within the connect timeout, is skipped for that connection and the next one is tried. Repeated
// failures eject a backend, active health checks take it out and bring it back, and when no backend
// is left the client gets a clean close instead of the prior art's hang. Against an external balancer
// (CONNLAB_TARGET_BALANCER) its connect timeout must be at most 1 s, with health checks every 200 ms.
import { describe, expect, it } from 'vitest';
import { libOnlyReason } from '../_harness/targets.ts';
import { EXTERNAL_BACKEND_PORTS, deadBackendPort, external, reachName, reachNames, startBackend, startBalancerTarget, tally } from '../_harness/balancer.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';
import { createBlackholeBackend } from '../../fixtures/backends.ts';

const needsLib = libOnlyReason('balancer', "it reads the balancer's own gauges or sets its options");
const health = { intervalMs: scaled(50), timeoutMs: scaled(200), fall: 2, rise: 2 };

describe('balancer: failover', () => {
  it('LB-FAIL-001 gives a backend that is down from the start nothing, and none of 100 connections fails', async () => {
    const deadPort = await deadBackendPort(0);
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([deadPort, b.port]);
    expect(tally(await reachNames(balancer, 100))).toEqual({ b: 100 });
  });

  it('LB-FAIL-002 skips a backend that does not accept within the connect timeout and serves the client from the next', async () => {
    const connectTimeoutMs = scaled(300);
    await using silent = await createBlackholeBackend({ port: external ? EXTERNAL_BACKEND_PORTS[0] : 0 });
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([silent.port, b.port], { connectTimeoutMs });
    const started = Date.now();
    expect(await reachName(balancer)).toBe('b');
    if (!external) expect(Date.now() - started).toBeGreaterThanOrEqual(connectTimeoutMs - 20);
    expect(balancer.stats?.().backends[0]).toMatchObject(external ? {} : { failures: 1, failureCodes: { ETIMEDOUT: 1 }, total: 0 });
  });

  it('LB-FAIL-006 hands what a client sent, FIN included, while a silent backend was being tried to the next backend intact', async () => {
    await using silent = await createBlackholeBackend({ port: external ? EXTERNAL_BACKEND_PORTS[0] : 0 });
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([silent.port, b.port], { connectTimeoutMs: scaled(300) });
    await using client = await connectClient(balancer.port, balancer.host);
    client.end('sent before any backend answered\n');
    expect((await client.readToEnd(scaled(5000))).toString()).toBe('b\nsent before any backend answered\n');
  });

  it('LB-FAIL-003 closes the client cleanly, without data or a reset, when no backend can be reached', async () => {
    const lines: string[] = [];
    await using balancer = await startBalancerTarget([await deadBackendPort(0), await deadBackendPort(1)], { log: (line) => lines.push(line) });
    await using client = await connectClient(balancer.port, balancer.host);
    expect((await client.readToEnd(scaled(5000))).length).toBe(0);
    client.end();
    expect(await client.closed()).toMatchObject({ hadError: false });
    if (balancer.stats) {
      expect(balancer.stats().noBackend).toBe(1);
      expect(lines.filter((line) => line.startsWith('[NO BACKEND]'))).toHaveLength(1);
    }
  });

  it.skipIf(needsLib)('LB-FAIL-004 ejects a backend after 3 failed connects in a row and stops trying it', async () => {
    const deadPort = await deadBackendPort(0);
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([deadPort, b.port], { ejectAfterFailures: 3, ejectTimeMs: 60_000 });
    expect(tally(await reachNames(balancer, 20))).toEqual({ b: 20 });
    expect(balancer.stats!().backends[0]).toMatchObject({ state: 'down', failures: 3, ejections: 1, total: 0 });
    expect(balancer.stats!().backends[1]).toMatchObject({ state: 'up', failures: 0, total: 20 });
  });

  it('LB-FAIL-005 ends the open connections of a backend killed mid-run, serves every new one, and takes the backend back once its health checks pass', async () => {
    await using a = await startBackend(0, 'a');
    let b = await startBackend(1, 'b');
    try {
      await using balancer = await startBalancerTarget([a.port, b.port], { healthCheck: health });
      const held = await Promise.all(Array.from({ length: 6 }, () => connectClient(balancer.port, balancer.host)));
      const landed = await Promise.all(held.map((client) => client.readLine()));
      expect(tally(landed)).toEqual({ a: 3, b: 3 });

      await b.close();
      // b's three clients see their stream end; a's three are untouched.
      await Promise.all(held.filter((_, i) => landed[i] === 'b').map((client) => client.readToEnd()));
      for (const client of held.filter((_, i) => landed[i] === 'a')) {
        await client.write('still here\n');
        expect(await client.readLine()).toBe('still here');
      }
      expect(tally(await reachNames(balancer, 20))).toEqual({ a: 20 });
      if (balancer.stats) {
        await waitUntil(() => balancer.stats!().backends[1].state, (state) => state === 'down', { what: "b's state", expected: 'down' });
      }

      b = await startBackend(1, 'b', { port: b.port });
      await waitUntil(() => reachName(balancer), (name) => name === 'b', { what: 'a connection reaching b again', expected: 'b', timeout: scaled(5000) });
      const after = await reachNames(balancer, 10);
      expect(tally(after)).toEqual({ a: 5, b: 5 });
      expect(after.every((name, i) => i === 0 || name !== after[i - 1])).toBe(true);
      for (const client of held) client.destroy();
    } finally {
      await b.close();
    }
  });
});

describe.skipIf(needsLib)('balancer: active health checks', () => {
  it('LB-HEALTH-001 marks a backend down after `fall` failed checks with no client traffic, and up after `rise` passed checks', async () => {
    const port = await deadBackendPort(1);
    await using a = await startBackend(0, 'a');
    await using balancer = await startBalancerTarget([a.port, port], { healthCheck: health });
    const down = await waitUntil(() => balancer.stats!().backends[1], (s) => s.state === 'down', { what: "b's state", expected: 'down' });
    expect(down).toMatchObject({ reason: expect.stringMatching(/^2 health checks failed/), failures: 0, total: 0 });
    expect(balancer.stats!().accepted).toBe(0);
    await using _b = await startBackend(1, 'b', { port });
    const up = await waitUntil(() => balancer.stats!().backends[1], (s) => s.state === 'up', { what: "b's state", expected: 'up' });
    expect(up.checks.passed).toBe(2);
    expect(await reachNames(balancer, 4)).toEqual(['a', 'b', 'a', 'b']);
  });
});
