// The http-client result (`connlab http-client --json`): one run of a keep-alive lab client, with the
// operating system's count of its sockets to the server over the run, ready to plot. With its shape,
// and the clients' modes and leaks (named here so the command line can list them without loading undici).
import type { ErrorCounts } from '../net/types.ts';
import { LATENCY_SHAPE, type LatencySummary } from './latency.ts';
import { HTTP_CLIENT_KIND } from './kinds.ts';
import { THRESHOLDS_SHAPE, arrayOf, bool, counts, literal, num, object, oneOf, optional, problemsOf, str } from './shape.ts';
import type { ThresholdResult } from './thresholds.ts';

export { HTTP_CLIENT_KIND };

export type ClientMode = 'faulty' | 'fixed';
export type Leak = 'dispatcher-per-request' | 'unconsumed-body';
export const CLIENT_MODES: readonly ClientMode[] = ['faulty', 'fixed'];
export const LEAKS: readonly Leak[] = ['dispatcher-per-request', 'unconsumed-body'];

/** One point of the socket series: ms since the start, the OS's count of this process's sockets to the server. */
export interface SocketSample {
  t: number;
  /** ESTABLISHED sockets to the server's port owned by this process (from /proc). */
  sockets: number;
  /** The client's own count of its open connections. */
  open: number;
  /** The server's own count, when known. */
  serverOpen?: number;
}

export interface HttpClientResult {
  kind: typeof HTTP_CLIENT_KIND;
  mode: ClientMode;
  leak?: Leak;
  target: string;
  schedule: { intervalMs: number; extraProbability: number; requests: number; durationMs: number };
  /** cancelled: cut short by the caller's signal (Ctrl-C), not counted as failed. */
  requests: { started: number; extra: number; completed: number; failed: number; cancelled: number; retried: number };
  errors: ErrorCounts;
  errorSamples: string[];
  latency: LatencySummary;
  sockets: {
    /** Most ESTABLISHED sockets to the server seen at one moment. */
    peak: number;
    /** ESTABLISHED sockets when the last request finished, before the client was closed. */
    final: number;
    /** Connections the client opened in all (its own count). */
    opened: number;
    /** opened / completed requests: 1 for the faulty client, near 0 for the fixed one over a long run. */
    perCompletedRequest: number;
    /** Sockets this process still held to the server after the client was closed: 0 means no leak outlives it. */
    afterClose: number;
  };
  series: SocketSample[];
  durationMs: number;
  requestsPerSecond: number;
  /** The thresholds the run was judged on (--threshold), each with its measured value. */
  thresholds?: ThresholdResult[];
  /** True when at least one request ran and none failed (requests cancelled by a signal do not count). */
  ok: boolean;
}

export const HTTP_CLIENT_SHAPE = object({
  kind: literal(HTTP_CLIENT_KIND),
  mode: oneOf(...CLIENT_MODES),
  leak: optional(oneOf(...LEAKS)),
  target: str,
  schedule: object({ intervalMs: num, extraProbability: num, requests: num, durationMs: num }),
  requests: object({ started: num, extra: num, completed: num, failed: num, cancelled: num, retried: num }),
  errors: counts,
  errorSamples: arrayOf(str),
  latency: LATENCY_SHAPE,
  sockets: object({ peak: num, final: num, opened: num, perCompletedRequest: num, afterClose: num }),
  series: arrayOf(object({ t: num, sockets: num, open: num, serverOpen: optional(num) })),
  durationMs: num,
  requestsPerSecond: num,
  thresholds: optional(THRESHOLDS_SHAPE),
  ok: bool,
});

export function isHttpClientResult(value: unknown): value is HttpClientResult {
  return problemsOf(value, HTTP_CLIENT_SHAPE).length === 0;
}
