// The capacity result (`connlab capacity --json`): DESIGN.md's capacity document (target, connections,
// errors, connectLatency, ramp, timeWait) plus what a reader needs to trust it: the time series of open
// connections, the OS limits met, memory, the opening rate. With its shape, and how the results of a
// run split over processes or machines add up.
import type { ErrorCounts } from '../net/types.ts';
import { OptionError } from '../net/options.ts';
import type { Shard } from '../net/shard.ts';
import { LATENCY_SHAPE, LatencyRecorder, type LatencySummary } from './latency.ts';
import { THRESHOLDS_SHAPE, arrayOf, bool, counts, literal, nullable, num, object, oneOf, optional, problemsOf, str } from './shape.ts';
import { addCounts, joinUnique } from './combine.ts';
import { CAPACITY_KIND } from './kinds.ts';
import type { ThresholdResult } from './thresholds.ts';

export { CAPACITY_KIND };

export interface OsLimits {
  /** RLIMIT_NOFILE of this process (`ulimit -n`); null where /proc is missing. */
  openFiles: { soft: number; hard: number } | null;
  /** net.ipv4.ip_local_port_range: the local ports one source address can use towards one server port. */
  ephemeralPorts: { low: number; high: number } | null;
}

export interface LimitHit {
  code: string;
  count: number;
  /** Which limit it is and how to raise it. */
  hint: string;
}

export interface TimeWaitCount {
  /** Our side's sockets to the target port in TIME_WAIT (we closed first). */
  client: number;
  /** The server's side on this machine in TIME_WAIT (the server closed first). */
  server: number;
}

export interface SeriesPoint {
  /** Milliseconds since the run started. */
  t: number;
  /** Connections open at that moment. */
  open: number;
}

export interface CapacityResult {
  kind: typeof CAPACITY_KIND;
  target: string;
  connections: {
    /** This run's share of --connections. */
    planned: number;
    /** Dials started, reopens included. */
    attempted: number;
    /** Handshakes that completed. */
    established: number;
    closedByServer: number;
    /** Dials that failed (each counted by code in errors). */
    failed: number;
    /** Open when the run judged its target: after the hold, at the ramp's ceiling, or at the end. */
    held: number;
    maxConcurrent: number;
    /** Connections never dialed (the run ended first). */
    notStarted: number;
    /** Dials still in flight when the run was stopped. */
    abandoned: number;
  };
  errors: ErrorCounts;
  errorSamples: string[];
  connectLatency: LatencySummary;
  ramp?: { ceiling: number; reason: string };
  series: SeriesPoint[];
  /** Sockets the run left in TIME_WAIT (both sides when the server runs on this machine). */
  timeWait: number;
  timeWaitSides: TimeWaitCount;
  limits: OsLimits & { hit: LimitHit[] };
  /** Resident memory when the run judged its target, and its growth per held connection since before the first dial. */
  memory: { rssBytes: number; grownBytes: number; perConnectionBytes: number };
  /** The opening phase: how long, how many got through, at what rate. */
  opening: { ms: number; established: number; perSecond: number };
  /** Wall-clock start (epoch ms), so shards' series can be lined up. */
  startedAt: number;
  durationMs: number;
  processes: number;
  sockets: 'libuv' | 'net';
  sourceAddresses: number;
  /** Source ports the kernel refused (held by another program, or by TIME_WAIT with this target), each dialed again from another. */
  sourcePortsSkipped: number;
  /** Things the run wants its user to know, e.g. that it left many sockets in TIME_WAIT. */
  warnings: string[];
  /** The thresholds the run was judged on (--threshold), each with its measured value. */
  thresholds?: ThresholdResult[];
  shard?: Shard;
  /** Merged results: how many results went in. */
  shards?: number;
  stoppedBy?: 'max-duration' | 'signal';
  /**
   * Worker processes whose result never arrived (killed, crashed, their report lost): how each ended
   * and what it had reported last. Their counts are in `connections`; the run is not ok.
   */
  lostWorkers?: Array<{ worker: number; shard: Shard; exitCode: number | null; signal: string | null; reason: string; lastProgress: CapacityProgress }>;
  /** Non-ramp: every connection established and none failed (and all held, with a hold). Ramp: a ceiling was found. */
  ok: boolean;
}

/** Live gauges of a run in progress. */
export interface CapacityProgress {
  planned: number;
  notStarted: number;
  dialing: number;
  open: number;
  established: number;
  closedByServer: number;
  failed: number;
  errors: number;
  maxConcurrent: number;
}

const PROGRESS_SHAPE = object({ planned: num, notStarted: num, dialing: num, open: num, established: num, closedByServer: num, failed: num, errors: num, maxConcurrent: num });

const LIMITS_SHAPE = object({
  openFiles: nullable(object({ soft: num, hard: num })),
  ephemeralPorts: nullable(object({ low: num, high: num })),
  hit: arrayOf(object({ code: str, count: num, hint: str })),
});

export const CAPACITY_SHAPE = object({
  kind: literal(CAPACITY_KIND),
  target: str,
  connections: object({ planned: num, attempted: num, established: num, closedByServer: num, failed: num, held: num, maxConcurrent: num, notStarted: num, abandoned: num }),
  errors: counts,
  errorSamples: arrayOf(str),
  connectLatency: LATENCY_SHAPE,
  ramp: optional(object({ ceiling: num, reason: str })),
  series: arrayOf(object({ t: num, open: num })),
  timeWait: num,
  timeWaitSides: object({ client: num, server: num }),
  limits: LIMITS_SHAPE,
  memory: object({ rssBytes: num, grownBytes: num, perConnectionBytes: num }),
  opening: object({ ms: num, established: num, perSecond: num }),
  startedAt: num,
  durationMs: num,
  processes: num,
  sockets: oneOf('libuv', 'net'),
  sourceAddresses: num,
  sourcePortsSkipped: num,
  warnings: arrayOf(str),
  thresholds: optional(THRESHOLDS_SHAPE),
  shard: optional(object({ index: num, count: num })),
  shards: optional(num),
  stoppedBy: optional(oneOf('max-duration', 'signal')),
  lostWorkers: optional(arrayOf(object({ worker: num, shard: object({ index: num, count: num }), exitCode: nullable(num), signal: nullable(str), reason: str, lastProgress: PROGRESS_SHAPE }))),
  ok: bool,
});

export function isCapacityResult(value: unknown): value is CapacityResult {
  return problemsOf(value, CAPACITY_SHAPE).length === 0;
}

const MAX_SERIES_POINTS = 2000;

/**
 * Sums step functions of concurrency: each shard's series, placed at its wall-clock start, holds its
 * last value until its next point. The merged series is relative to the earliest start.
 */
export function mergeSeries(parts: Array<{ startedAt: number; series: SeriesPoint[] }>): SeriesPoint[] {
  const live = parts.filter((p) => p.series.length > 0);
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
  if (results.length === 0) throw new OptionError('results', 'nothing to merge: give at least one result');
  const connections = addCounts(results.map((r) => r.connections));
  const errors = addCounts(results.map((r) => r.errors));
  const ramps = results.filter((r) => r.ramp);
  const openingMs = Math.max(...results.map((r) => r.opening.ms));
  const openedEstablished = results.reduce((n, r) => n + r.opening.established, 0);
  const grownBytes = results.reduce((n, r) => n + r.memory.grownBytes, 0);
  const stoppedBy = results.find((r) => r.stoppedBy)?.stoppedBy;
  const startedAt = Math.min(...results.map((r) => r.startedAt));
  const first = results[0];
  return {
    kind: CAPACITY_KIND,
    target: joinUnique(results.map((r) => r.target)),
    connections,
    errors,
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    connectLatency: LatencyRecorder.merge(results.map((r) => r.connectLatency)),
    ...(ramps.length > 0
      ? { ramp: { ceiling: ramps.reduce((n, r) => n + r.ramp!.ceiling, 0), reason: joinUnique(ramps.map((r) => r.ramp!.reason)) } }
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
    sourcePortsSkipped: results.reduce((n, r) => n + r.sourcePortsSkipped, 0),
    warnings: [...new Set(results.flatMap((r) => r.warnings))],
    shards: results.reduce((n, r) => n + (r.shards ?? 1), 0),
    ...(stoppedBy ? { stoppedBy } : {}),
    ...(results.some((r) => r.lostWorkers) ? { lostWorkers: results.flatMap((r) => r.lostWorkers ?? []) } : {}),
    ok: results.every((r) => r.ok),
  };
}
