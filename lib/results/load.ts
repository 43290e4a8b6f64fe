// The load result (`connlab load --json`): DESIGN.md's load document, its shape, and how shards of one
// run add up (counts add, HDR histograms add, so merged percentiles are those of the whole run).
import { OptionError } from '../net/options.ts';
import type { Shard } from '../net/shard.ts';
import type { ErrorCounts } from '../net/types.ts';
import { LATENCY_SHAPE, LatencyRecorder, type LatencySummary } from './latency.ts';
import { THRESHOLDS_SHAPE, arrayOf, bool, counts, literal, num, object, optional, problemsOf, str } from './shape.ts';
import { addCounts, joinUnique } from './combine.ts';
import { LOAD_KIND } from './kinds.ts';
import type { ThresholdResult } from './thresholds.ts';

export { LOAD_KIND };

export interface LoadResult {
  kind: typeof LOAD_KIND;
  target: string;
  /** What carried the connections: `libuv` handles or `net` sockets (merged shards: each one used, comma-separated). */
  transport: string;
  clients: { attempted: number; connected: number; failed: number };
  messages: { planned: number; sent: number; acked: number; mismatched: number; missing: number; extra: number };
  errors: ErrorCounts;
  errorSamples: string[];
  latency: { connect: LatencySummary; ack: LatencySummary };
  durationMs: number;
  acksPerSecond: number;
  shard?: Shard;
  /** Merged results: how many results went in. */
  shards?: number;
  /** The thresholds the run was judged on (--threshold), each with its measured value. */
  thresholds?: ThresholdResult[];
  /** True when the run was ended early, by stop(), its signal or --duration. */
  stopped: boolean;
  /** True when every client connected and every message got its exact ack. */
  ok: boolean;
}

export const LOAD_SHAPE = object({
  kind: literal(LOAD_KIND),
  target: str,
  transport: str,
  clients: object({ attempted: num, connected: num, failed: num }),
  messages: object({ planned: num, sent: num, acked: num, mismatched: num, missing: num, extra: num }),
  errors: counts,
  errorSamples: arrayOf(str),
  latency: object({ connect: LATENCY_SHAPE, ack: LATENCY_SHAPE }),
  durationMs: num,
  acksPerSecond: num,
  shard: optional(object({ index: num, count: num })),
  shards: optional(num),
  thresholds: optional(THRESHOLDS_SHAPE),
  stopped: bool,
  ok: bool,
});

export function isLoadResult(value: unknown): value is LoadResult {
  return problemsOf(value, LOAD_SHAPE).length === 0;
}

/** One load result for a run done in shards: counts add, histograms add. */
export function mergeLoadResults(results: LoadResult[]): LoadResult {
  if (results.length === 0) throw new OptionError('results', 'nothing to merge: give at least one result');
  const messages = addCounts(results.map((r) => r.messages));
  const durationMs = Math.max(...results.map((r) => r.durationMs));
  return {
    kind: LOAD_KIND,
    target: joinUnique(results.map((r) => r.target)),
    transport: joinUnique(results.map((r) => r.transport)),
    clients: addCounts(results.map((r) => r.clients)),
    messages,
    errors: addCounts(results.map((r) => r.errors)),
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    latency: {
      connect: LatencyRecorder.merge(results.map((r) => r.latency.connect)),
      ack: LatencyRecorder.merge(results.map((r) => r.latency.ack)),
    },
    durationMs,
    acksPerSecond: durationMs > 0 ? Math.round((messages.acked * 1000) / durationMs) : 0,
    shards: results.reduce((n, r) => n + (r.shards ?? 1), 0),
    stopped: results.some((r) => r.stopped),
    ok: results.every((r) => r.ok),
  };
}
