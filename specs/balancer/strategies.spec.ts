// The balancer hands each new connection to the next backend in turn: with equal weights the order is
// exact (a b a b ..., wrapping over three), with weights 2:1 it is a b a, and least-connections sends
// a new connection to the backend with the fewest open. Every backend answers with its own name, so
// the client sees where it landed. Run against your balancer with CONNLAB_TARGET_BALANCER=host:port
// (configured round-robin over 127.0.0.1:5000 and :5001; see the README).
import { describe, expect, it } from 'vitest';
import { libOnly } from '../_harness/targets.ts';
import { askName, reachNames, startBackend, startBalancerTarget, tally } from '../_harness/balancer.ts';
import { connectClient, type WireClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';


/** What `count` connections must see when names repeat `cycle` exactly. */
const repeating = (cycle: string[], count: number): string[] => Array.from({ length: count }, (_, i) => cycle[i % cycle.length]);

describe('balancer: round-robin', () => {
  it('LB-RR-001 sends 100 connections over 2 backends in the exact order a b a b ..., 50 and 50', async () => {
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([a.port, b.port]);
    const names = await reachNames(balancer, 100);
    // A fresh balancer starts with a; an external one may be mid-rotation, so its order starts anywhere.
    const first = balancer.stats ? 'a' : names[0];
    expect(names).toEqual(repeating(first === 'a' ? ['a', 'b'] : ['b', 'a'], 100));
    expect(tally(names)).toEqual({ a: 50, b: 50 });
  });

  it('LB-RR-002 wraps around 3 backends: a b c a b c ..., 34 33 33 over 100 connections', async (ctx) => {
    libOnly(ctx, 'balancer', 'it configures three backends itself');
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using c = await startBackend(2, 'c');
    await using balancer = await startBalancerTarget([a.port, b.port, c.port]);
    const names = await reachNames(balancer, 100);
    expect(names).toEqual(repeating(['a', 'b', 'c'], 100));
    expect(tally(names)).toEqual({ a: 34, b: 33, c: 33 });
  });

  it('LB-RR-003 with weights 2 and 1 sends a b a a b a ..., 40 and 20 over 60 connections', async (ctx) => {
    libOnly(ctx, 'balancer', 'it configures the weights itself');
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([], {
      backends: [
        { host: '127.0.0.1', port: a.port, weight: 2 },
        { host: '127.0.0.1', port: b.port, weight: 1 },
      ],
    });
    const names = await reachNames(balancer, 60);
    expect(names).toEqual(repeating(['a', 'b', 'a'], 60));
    expect(tally(names)).toEqual({ a: 40, b: 20 });
  });
});

describe('balancer: least-connections', () => {
  it('LB-LC-001 sends new connections to the backend with fewer open ones, where round-robin would alternate', async (ctx) => {
    libOnly(ctx, 'balancer', "it picks least-connections and reads the balancer's gauges");
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([a.port, b.port], { strategy: 'least-connections' });
    const open: WireClient[] = [];
    try {
      // Four held connections: ties go in turn, so a b a b.
      for (let i = 0; i < 4; i++) {
        const client = await connectClient(balancer.port, balancer.host);
        open.push(client);
        expect(await askName(client)).toBe(i % 2 === 0 ? 'a' : 'b');
      }
      // Both of b's end: a holds 2, b none, so the next two both go to b, then the tie alternates again.
      for (const client of [open[1], open[3]]) {
        client.end();
        await client.readToEnd();
      }
      await waitUntil(() => b.open(), (n) => n === 0, { what: "b's open connections", expected: '0' });
      const next: string[] = [];
      for (let i = 0; i < 4; i++) {
        const client = await connectClient(balancer.port, balancer.host);
        open.push(client);
        next.push(await askName(client));
      }
      expect(next).toEqual(['b', 'b', 'a', 'b']);
      expect(balancer.stats!().backends.map((s) => [s.name.endsWith(String(a.port)) ? 'a' : 'b', s.active])).toEqual([
        ['a', 3],
        ['b', 3],
      ]);
    } finally {
      for (const client of open) client.destroy();
    }
  });
});
