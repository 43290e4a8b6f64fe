// How the results of one run split into shards add up, field by field, on documents whose every number
// is known: counts add, histograms add, times line up on the wall clock, names are joined once, and a
// merged run is ok only when every shard was. `connlab merge` prints exactly this; the specs in
// specs/capacity/merge.spec.ts show it on real runs.
import { describe, expect, it } from 'vitest';
import type { LatencySummary } from '../../lib/results/latency.ts';
import { CAPACITY_KIND, mergeCapacityResults, mergeSeries } from '../../lib/results/capacity.ts';
import { LOAD_KIND, mergeLoadResults } from '../../lib/results/load.ts';
import { addCounts, joinUnique } from '../../lib/results/combine.ts';
import { capacityDocument as capacityShard, latencyOf, loadDocument as loadShard } from '../_harness/documents.ts';

/**
 * Merged histograms hold the same samples as one histogram of all of them: the same count, and each
 * figure within the histogram's resolution (3 significant digits) of the one recorded directly.
 */
function expectSameSamples(merged: LatencySummary, direct: LatencySummary): void {
  expect(merged.count).toBe(direct.count);
  for (const key of ['mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const) {
    expect(Math.abs(merged[key] - direct[key]), `${key}: ${merged[key]} against ${direct[key]}`).toBeLessThanOrEqual(direct[key] / 1000 + 0.001);
  }
}

describe('merging shards of one run', () => {
  it('MERGE-001 adds count objects field by field, a field only some have included, and joins names once in order of first appearance', () => {
    expect(addCounts([{ a: 1, b: 2 }, { a: 3, c: 4 }, {}])).toEqual({ a: 4, b: 2, c: 4 });
    expect(addCounts([])).toEqual({});
    expect(joinUnique(['b:1', 'a:2', 'b:1', 'c:3', 'a:2'])).toBe('b:1, a:2, c:3');
    expect(joinUnique(['only'])).toBe('only');
  });

  it('MERGE-002 a merged load run adds counts and histograms, takes the longest duration for its rate, and is ok and unstopped only when every shard was', () => {
    const a = loadShard();
    const b = loadShard({
      target: '127.0.0.2:5000',
      transport: 'net',
      clients: { attempted: 5, connected: 5, failed: 0 },
      messages: { planned: 15, sent: 15, acked: 15, mismatched: 0, missing: 0, extra: 1 },
      errors: { ECONNRESET: 2, ECONNREFUSED: 3 },
      errorSamples: ['s1', 's2', 's3', 's4', 's5'],
      latency: { connect: latencyOf(7), ack: latencyOf(40, 50) },
      durationMs: 4000,
      shards: 3,
    });
    const merged = mergeLoadResults([a, b]);
    expect(merged).toMatchObject({
      kind: LOAD_KIND,
      target: '127.0.0.1:5000, 127.0.0.2:5000',
      transport: 'libuv, net',
      clients: { attempted: 15, connected: 14, failed: 1 },
      messages: { planned: 45, sent: 43, acked: 42, mismatched: 1, missing: 2, extra: 1 },
      errors: { ECONNREFUSED: 4, ECONNRESET: 2 },
      errorSamples: ['ECONNREFUSED 127.0.0.1:5000', 's1', 's2', 's3', 's4'],
      durationMs: 4000,
      acksPerSecond: Math.round((42 * 1000) / 4000),
      shards: 4, // an already merged result of three counts as three
      stopped: false,
      ok: true,
    });
    expectSameSamples(merged.latency.ack, latencyOf(3, 4, 5, 40, 50));
    expectSameSamples(merged.latency.connect, latencyOf(1, 2, 7));
    expect(mergeLoadResults([a, loadShard({ target: a.target, transport: a.transport })])).toMatchObject({ target: '127.0.0.1:5000', transport: 'libuv', shards: 2 });

    expect(mergeLoadResults([a, loadShard({ ok: false })]).ok).toBe(false);
    expect(mergeLoadResults([loadShard({ stopped: true }), a]).stopped).toBe(true);
    expect(mergeLoadResults([loadShard({ durationMs: 0, messages: { ...a.messages, acked: 5 } })]).acksPerSecond).toBe(0);
  });

  it('MERGE-003 a merged capacity run adds counts, memory and TIME_WAIT, spans its shards on the wall clock, and keeps one copy of what every shard shares', () => {
    const a = capacityShard({
      limits: { openFiles: { soft: 1024, hard: 20_000 }, ephemeralPorts: { low: 32_768, high: 60_999 }, hit: [{ code: 'EMFILE', count: 2, hint: 'raise ulimit -n' }] },
      warnings: ['left 1,000 in TIME_WAIT'],
    });
    const b = capacityShard({
      target: '127.0.0.1:5001',
      connections: { planned: 20, attempted: 20, established: 20, closedByServer: 0, failed: 0, held: 12, maxConcurrent: 20, notStarted: 3, abandoned: 1 },
      errors: { ETIMEDOUT: 1, EADDRNOTAVAIL: 4 },
      connectLatency: latencyOf(10, 20),
      timeWait: 5,
      timeWaitSides: { client: 5, server: 0 },
      limits: { openFiles: { soft: 4096, hard: 4096 }, ephemeralPorts: { low: 1, high: 2 }, hit: [{ code: 'EMFILE', count: 3, hint: 'other hint' }, { code: 'EADDRNOTAVAIL', count: 4, hint: 'ports' }] },
      memory: { rssBytes: 3000, grownBytes: 1200, perConnectionBytes: 100 },
      opening: { ms: 300, established: 20, perSecond: 66 },
      startedAt: 1_000_200,
      durationMs: 800,
      processes: 2,
      sockets: 'net',
      sourceAddresses: 4,
      sourcePortsSkipped: 6,
      warnings: ['left 1,000 in TIME_WAIT', 'other'],
    });
    const { connectLatency, ...merged } = mergeCapacityResults([a, b]);
    expectSameSamples(connectLatency, latencyOf(1, 2, 3, 10, 20));
    expect(merged).toEqual({
      kind: CAPACITY_KIND,
      target: '127.0.0.1:5000, 127.0.0.1:5001',
      connections: { planned: 30, attempted: 31, established: 29, closedByServer: 1, failed: 2, held: 20, maxConcurrent: 29, notStarted: 3, abandoned: 1 },
      errors: { ETIMEDOUT: 3, EADDRNOTAVAIL: 4 },
      errorSamples: ['ETIMEDOUT', 'ETIMEDOUT'],
      series: [],
      timeWait: 8,
      timeWaitSides: { client: 7, server: 1 },
      // The first shard's machine limits; hits of one code added, the first hint kept.
      limits: { openFiles: { soft: 1024, hard: 20_000 }, ephemeralPorts: { low: 32_768, high: 60_999 }, hit: [{ code: 'EMFILE', count: 5, hint: 'raise ulimit -n' }, { code: 'EADDRNOTAVAIL', count: 4, hint: 'ports' }] },
      memory: { rssBytes: 4000, grownBytes: 2000, perConnectionBytes: 100 },
      opening: { ms: 300, established: 29, perSecond: Math.round((29 * 1000) / 300) },
      startedAt: 1_000_000,
      durationMs: 1_000_200 + 800 - 1_000_000,
      processes: 3,
      sockets: 'libuv',
      sourceAddresses: 4,
      sourcePortsSkipped: 6,
      warnings: ['left 1,000 in TIME_WAIT', 'other'],
      shards: 2,
      ok: true,
    });
    // The first shard's limits are not changed by the merge.
    expect(a.limits.hit).toEqual([{ code: 'EMFILE', count: 2, hint: 'raise ulimit -n' }]);
  });

  it('MERGE-004 a merged capacity run adds ramp ceilings, keeps how a run stopped and which workers were lost, and is ok only when every shard was', () => {
    const lost = { worker: 1, shard: { index: 1, count: 2 }, exitCode: null, signal: 'SIGKILL', reason: 'killed', lastProgress: { planned: 5, notStarted: 0, dialing: 0, open: 5, established: 5, closedByServer: 0, failed: 0, errors: 0, maxConcurrent: 5 } };
    const merged = mergeCapacityResults([
      capacityShard({ ramp: { ceiling: 40, reason: 'ECONNREFUSED' } }),
      capacityShard(),
      capacityShard({ ramp: { ceiling: 2, reason: 'ECONNREFUSED' }, stoppedBy: 'signal', lostWorkers: [lost], ok: false }),
      capacityShard({ ramp: { ceiling: 3, reason: 'closed by the server' }, stoppedBy: 'max-duration' }),
    ]);
    expect(merged.ramp).toEqual({ ceiling: 45, reason: 'ECONNREFUSED, closed by the server' });
    expect(merged.stoppedBy).toBe('signal');
    expect(merged.lostWorkers).toEqual([lost]);
    expect(merged.ok).toBe(false);

    const plain = mergeCapacityResults([capacityShard(), capacityShard({ connections: { ...capacityShard().connections, held: 0 } })]);
    expect(Object.keys(plain)).not.toContain('ramp');
    expect(Object.keys(plain)).not.toContain('stoppedBy');
    expect(Object.keys(plain)).not.toContain('lostWorkers');
    expect(plain.ok).toBe(true);
    expect(plain.memory.perConnectionBytes).toBe(Math.round(1600 / 8));
    const none = mergeCapacityResults([capacityShard({ connections: { ...capacityShard().connections, held: 0 }, opening: { ms: 0, established: 0, perSecond: 0 } })]);
    expect(none.memory.perConnectionBytes).toBe(0);
    expect(none.opening.perSecond).toBe(0);
  });

  it('MERGE-005 adds the shards\' open connections over time as step functions on one wall clock, from the earliest start', () => {
    const merged = mergeSeries([
      { startedAt: 1000, series: [{ t: 0, open: 1 }, { t: 20, open: 3 }] },
      { startedAt: 1010, series: [{ t: 0, open: 10 }, { t: 20, open: 0 }] },
      { startedAt: 900, series: [] },
    ]);
    // Each shard holds its last value until its next point; nothing is open before a shard's first point.
    expect(merged).toEqual([
      { t: 0, open: 1 },
      { t: 10, open: 11 },
      { t: 20, open: 13 },
      { t: 30, open: 3 },
    ]);
    expect(mergeSeries([{ startedAt: 5, series: [] }])).toEqual([]);
    expect(mergeSeries([{ startedAt: 7, series: [{ t: 5, open: 2 }] }, { startedAt: 0, series: [{ t: 0, open: 1 }] }])).toEqual([
      { t: 0, open: 1 },
      { t: 12, open: 3 },
    ]);
  });

  it('MERGE-006 thins a merged series longer than 2,000 points by halves, keeping its first and last points', () => {
    const series = Array.from({ length: 4001 }, (_, t) => ({ t, open: t }));
    const merged = mergeSeries([{ startedAt: 0, series }]);
    expect(merged.length).toBeLessThanOrEqual(2000);
    expect(merged.length).toBeGreaterThan(1000);
    expect(merged[0]).toEqual({ t: 0, open: 0 });
    expect(merged.at(-1)).toEqual({ t: 4000, open: 4000 });
    for (const point of merged) expect(point.open).toBe(point.t);
    // A last point at an odd place is kept too when the halves are taken.
    const even = Array.from({ length: 4000 }, (_, t) => ({ t, open: t }));
    expect(mergeSeries([{ startedAt: 0, series: even }]).at(-1)).toEqual({ t: 3999, open: 3999 });
    expect(mergeSeries([{ startedAt: 0, series: [] }])).toEqual([]);
    const short = Array.from({ length: 2000 }, (_, t) => ({ t, open: 1 }));
    expect(mergeSeries([{ startedAt: 0, series: short }])).toHaveLength(2000);
  });

  it('MERGE-008 a merged capacity run keeps the first five error samples of all its shards, in shard order', () => {
    const shard = (name: string): ReturnType<typeof capacityShard> => capacityShard({ errorSamples: [1, 2, 3].map((n) => `${name} ${n}`) });
    expect(mergeCapacityResults([shard('a'), shard('b')]).errorSamples).toEqual(['a 1', 'a 2', 'a 3', 'b 1', 'b 2']);
  });

  it('MERGE-007 refuses to merge nothing, saying so', () => {
    for (const merge of [mergeLoadResults, mergeCapacityResults]) {
      expect(() => merge([])).toThrow(expect.objectContaining({ option: 'results', message: expect.stringMatching(/^nothing to merge/) }));
    }
  });
});
