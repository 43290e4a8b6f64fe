// The capacity result: the documented JSON shape (DESIGN.md: target, connections, errors,
// connectLatency, ramp, timeWait) plus what a reader needs to trust it: the time series of open
// connections, the OS limits met, memory, the opening rate.
import type { ErrorCounts } from '../net/types.ts';
import type { Shard } from '../net/shard.ts';
import type { LatencySummary } from '../report/latency.ts';
import type { LimitHit, OsLimits, TimeWaitCount } from './limits.ts';

export interface SeriesPoint {
  /** Milliseconds since the run started. */
  t: number;
  /** Connections open at that moment. */
  open: number;
}

export interface CapacityResult {
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
  shard?: Shard;
  /** Merged results: how many results went in. */
  shards?: number;
  stoppedBy?: 'max-duration' | 'signal';
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
