// Adding up the results of a run split over processes or machines (`--shard I/N`, `--workers`):
// counts add, error tallies add, HDR histograms add (so merged percentiles are exact, not averaged),
// and the shards' concurrency series add up on one wall-clock time line. Load results merge the same way.
import type { ErrorCounts } from '../net/types.ts';
import { LatencyRecorder } from '../report/latency.ts';
import type { LoadResult } from '../load/load-client.ts';
import type { LimitHit } from './limits.ts';
import type { CapacityResult, SeriesPoint } from './result.ts';

const MAX_SERIES_POINTS = 2000;

function addCounts<T extends object>(items: T[]): T {
  const total = {} as Record<string, number>;
  for (const item of items) for (const [key, value] of Object.entries(item) as Array<[string, number]>) total[key] = (total[key] ?? 0) + value;
  return total as T;
}

function mergeErrors(items: ErrorCounts[]): ErrorCounts {
  return addCounts(items);
}

const unique = (values: string[]): string => [...new Set(values)].join(', ');

/**
 * Sums step functions of concurrency: each shard's series, placed at its wall-clock start, holds its
 * last value until its next point. The merged series is relative to the earliest start.
 */
export function mergeSeries(parts: Array<{ startedAt: number; series: SeriesPoint[] }>): SeriesPoint[] {
  const live = parts.filter((p) => p.series.length > 0);
  if (live.length === 0) return [];
  const origin = Math.min(...live.map((p) => p.startedAt));
  const times = [...new Set(live.flatMap((p) => p.series.map((point) => p.startedAt - origin + point.t)))].sort((a, b) => a - b);
  const cursors = live.map(() => -1);
  let merged: SeriesPoint[] = times.map((t) => {
    let open = 0;
    live.forEach((part, k) => {
      while (cursors[k] + 1 < part.series.length && part.startedAt - origin + part.series[cursors[k] + 1].t <= t) cursors[k]++;
      if (cursors[k] >= 0) open += part.series[cursors[k]].open;
    });
    return { t, open };
  });
  while (merged.length > MAX_SERIES_POINTS) merged = merged.filter((_, i) => i % 2 === 0 || i === merged.length - 1);
  return merged;
}

function mergeLimitHits(items: LimitHit[][]): LimitHit[] {
  const byCode = new Map<string, LimitHit>();
  for (const hit of items.flat()) {
    const seen = byCode.get(hit.code);
    byCode.set(hit.code, seen ? { ...seen, count: seen.count + hit.count } : { ...hit });
  }
  return [...byCode.values()];
}

/**
 * One result for a run done in shards. Totals are exact; `maxConcurrent` is the sum of the shards'
 * maxima (exact when the shards held at the same time, as a capacity run does) and `ramp.ceiling`
 * the sum of the shards' ceilings.
 */
export function mergeCapacityResults(results: CapacityResult[]): CapacityResult {
  if (results.length === 0) throw new RangeError('nothing to merge');
  const connections = addCounts(results.map((r) => r.connections));
  const errors = mergeErrors(results.map((r) => r.errors));
  const ramps = results.filter((r) => r.ramp);
  const openingMs = Math.max(...results.map((r) => r.opening.ms));
  const openedEstablished = results.reduce((n, r) => n + r.opening.established, 0);
  const grownBytes = results.reduce((n, r) => n + r.memory.grownBytes, 0);
  const stoppedBy = results.find((r) => r.stoppedBy)?.stoppedBy;
  const startedAt = Math.min(...results.map((r) => r.startedAt));
  const first = results[0];
  return {
    target: unique(results.map((r) => r.target)),
    connections,
    errors,
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    connectLatency: LatencyRecorder.merge(results.map((r) => r.connectLatency)),
    ...(ramps.length > 0
      ? { ramp: { ceiling: ramps.reduce((n, r) => n + r.ramp!.ceiling, 0), reason: unique(ramps.map((r) => r.ramp!.reason)) } }
      : {}),
    series: mergeSeries(results),
    timeWait: results.reduce((n, r) => n + r.timeWait, 0),
    timeWaitSides: addCounts(results.map((r) => r.timeWaitSides)),
    limits: { openFiles: first.limits.openFiles, ephemeralPorts: first.limits.ephemeralPorts, hit: mergeLimitHits(results.map((r) => r.limits.hit)) },
    memory: {
      rssBytes: results.reduce((n, r) => n + r.memory.rssBytes, 0),
      grownBytes,
      perConnectionBytes: connections.held > 0 ? Math.round(grownBytes / connections.held) : 0,
    },
    opening: { ms: openingMs, established: openedEstablished, perSecond: openingMs > 0 ? Math.round((openedEstablished * 1000) / openingMs) : 0 },
    startedAt,
    durationMs: Math.max(...results.map((r) => r.startedAt + r.durationMs)) - startedAt,
    processes: results.reduce((n, r) => n + r.processes, 0),
    sockets: first.sockets,
    sourceAddresses: Math.max(...results.map((r) => r.sourceAddresses)),
    shards: results.reduce((n, r) => n + (r.shards ?? 1), 0),
    ...(stoppedBy ? { stoppedBy } : {}),
    ok: results.every((r) => r.ok),
  };
}

/** One load result for a load run done in shards: counts add, histograms add. */
export function mergeLoadResults(results: LoadResult[]): LoadResult & { shards: number } {
  if (results.length === 0) throw new RangeError('nothing to merge');
  const messages = addCounts(results.map((r) => r.messages));
  const durationMs = Math.max(...results.map((r) => r.durationMs));
  return {
    target: unique(results.map((r) => r.target)),
    transport: unique(results.map((r) => r.transport).filter((t) => t !== undefined)),
    clients: addCounts(results.map((r) => r.clients)),
    messages,
    errors: mergeErrors(results.map((r) => r.errors)),
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    latency: {
      connect: LatencyRecorder.merge(results.map((r) => r.latency.connect)),
      ack: LatencyRecorder.merge(results.map((r) => r.latency.ack)),
    },
    durationMs,
    acksPerSecond: durationMs > 0 ? Math.round((messages.acked * 1000) / durationMs) : 0,
    shards: results.reduce((n, r) => n + ((r as { shards?: number }).shards ?? 1), 0),
    stopped: results.some((r) => r.stopped),
    ok: results.every((r) => r.ok),
  };
}

export type MergeKind = 'capacity' | 'load';

/** Which kind of result a parsed JSON document is, or undefined. */
export function resultKind(value: unknown): MergeKind | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (v.connections && typeof v.connections === 'object' && v.connectLatency) return 'capacity';
  if (v.clients && typeof v.clients === 'object' && v.messages && v.latency) return 'load';
  return undefined;
}
