// A run of the keep-alive lab's client on the prior art's schedule: one request every `interval`, plus,
// with probability `extraProbability`, an extra one at a random moment inside that interval. After each
// request it reads from the operating system how many sockets this process holds to the server, and it
// samples that count on a timer too, so the result carries a series ready to plot: faulty climbs, fixed
// stays flat. Bounded by `requests`, `duration` or an AbortSignal; every dispatcher is closed at the end.
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorTally } from '../net/errors.ts';
import type { ErrorCounts } from '../net/types.ts';
import { LatencyRecorder, type LatencySummary } from '../report/latency.ts';
import { createKeepAliveClient, validateClientOptions, type ClientMode, type KeepAliveClientOptions, type Leak, type RequestOutcome } from './clients.ts';
import { clientSocketCount } from './socket-count.ts';

export interface HttpClientRunOptions extends KeepAliveClientOptions {
  url?: string;
  /** One scheduled request every this many ms. */
  intervalMs?: number;
  /** Chance of one extra request at a random moment inside each interval. */
  extraProbability?: number;
  /** Stop after this many requests (extras included). 0: no limit. */
  requests?: number;
  /** Start no request after this long (ms); those in flight finish. 0: no limit. */
  durationMs?: number;
  /** Sample the socket count this often (ms) besides after every request. Default: min(1 s, interval). */
  sampleIntervalMs?: number;
  /** Source of randomness for the extras (tests pass a fixed sequence). */
  random?: () => number;
  /** The server's own count of open connections, when the server runs in this process (bench, demo). */
  serverOpen?: () => number;
  /** Receives one `[CLIENT] ...` line per finished request. */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

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
  /** True when at least one request ran and none failed (requests cancelled by a signal do not count). */
  ok: boolean;
}

export interface HttpClientProgress {
  started: number;
  completed: number;
  failed: number;
  sockets: number;
}

const DEFAULTS = {
  url: 'http://localhost:8080',
  intervalMs: 20_000,
  extraProbability: 0.5,
  requests: 0,
  durationMs: 0,
};

function targetPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

export function validateRunOptions(options: HttpClientRunOptions): typeof DEFAULTS & HttpClientRunOptions & { sampleIntervalMs: number } {
  validateClientOptions(options);
  const config = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & HttpClientRunOptions;
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new RangeError(`url "${config.url}" is not a URL (e.g. http://localhost:8080/)`);
  }
  if (url.protocol !== 'http:') throw new RangeError(`url must be http://, not ${url.protocol}`);
  for (const key of ['intervalMs', 'requests', 'durationMs'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 0) throw new RangeError(`${key} must be a whole number >= 0, not ${config[key]}`);
  }
  if (config.intervalMs < 1) throw new RangeError('intervalMs must be at least 1');
  if (!(config.extraProbability >= 0 && config.extraProbability <= 1)) throw new RangeError('extraProbability must be from 0 to 1');
  const sampleIntervalMs = config.sampleIntervalMs ?? Math.min(1000, config.intervalMs);
  if (!Number.isInteger(sampleIntervalMs) || sampleIntervalMs < 1) throw new RangeError('sampleIntervalMs must be a whole number >= 1');
  return { ...config, sampleIntervalMs };
}

export class HttpClientRun {
  readonly config: ReturnType<typeof validateRunOptions>;
  private readonly counts = { started: 0, extra: 0, completed: 0, failed: 0, cancelled: 0, retried: 0 };
  private lastSockets = 0;

  constructor(options: HttpClientRunOptions) {
    this.config = validateRunOptions(options);
  }

  progress(): HttpClientProgress {
    return { started: this.counts.started, completed: this.counts.completed, failed: this.counts.failed, sockets: this.lastSockets };
  }

  async run(): Promise<HttpClientResult> {
    const { config, counts } = this;
    const url = new URL(config.url);
    const port = targetPort(url);
    const random = config.random ?? Math.random;
    const errors = new ErrorTally();
    const latency = new LatencyRecorder();
    const series: SocketSample[] = [];
    const client = createKeepAliveClient(config);
    const started = performance.now();
    const elapsed = (): number => performance.now() - started;

    // One reading of /proc at a time: a large socket table is slow to read, and readings that overlap
    // would pile up on a busy machine. A sample asked for while one runs shares it.
    let reading: Promise<SocketSample> | undefined;
    const sample = (): Promise<SocketSample> => {
      reading ??= (async () => {
        const t = Math.round(elapsed());
        const point: SocketSample = { t, sockets: 0, open: client.stats().connectionsOpen };
        if (config.serverOpen) point.serverOpen = config.serverOpen();
        point.sockets = (await clientSocketCount(port)).established;
        this.lastSockets = point.sockets;
        series.push(point);
        return point;
      })().finally(() => {
        reading = undefined;
      });
      return reading;
    };

    // Stops the schedule: the request limit, the duration, or the caller's signal.
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    config.signal?.addEventListener('abort', onAbort, { once: true });
    if (config.signal?.aborted) stop.abort();
    const durationTimer = config.durationMs > 0 ? setTimeout(() => stop.abort(), config.durationMs) : undefined;
    const limitReached = (): boolean => config.requests > 0 && counts.started >= config.requests;

    const inFlight = new Set<Promise<void>>();
    const extraTimers = new Set<NodeJS.Timeout>();
    const launch = (extra: boolean): void => {
      if (stop.signal.aborted || limitReached()) return;
      const n = ++counts.started;
      if (extra) counts.extra++;
      const request = client.get(url, { signal: config.signal }).then(async (outcome: RequestOutcome) => {
        if (outcome.retried) counts.retried++;
        if (outcome.ok) {
          counts.completed++;
          latency.record(outcome.latencyMs);
        } else if (config.signal?.aborted) {
          counts.cancelled++;
        } else {
          counts.failed++;
          errors.add(Object.assign(new Error(outcome.message ?? outcome.error), { code: outcome.error }), `request ${n}`);
        }
        const point = await sample();
        const verdict = outcome.ok ? outcome.status : config.signal?.aborted ? 'cancelled' : `failed: ${outcome.error}`;
        config.log?.(
          `[CLIENT] request #${n}${extra ? ' (extra)' : ''} ${verdict} in ${Math.round(outcome.latencyMs)}ms` +
            `${outcome.retried ? ' after a retry' : ''} | open sockets to the server (OS): ${point.sockets}`,
        );
      });
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      if (limitReached()) stop.abort();
    };

    await sample();
    // The schedule starts after the first reading, which can be slow on a machine with many sockets.
    const scheduleStart = elapsed();
    const sampler = setInterval(() => void sample(), config.sampleIntervalMs);
    for (let k = 0; !stop.signal.aborted; k++) {
      launch(false);
      if (config.extraProbability > 0 && random() < config.extraProbability) {
        const timer = setTimeout(() => {
          extraTimers.delete(timer);
          launch(true);
        }, Math.floor(random() * config.intervalMs));
        extraTimers.add(timer);
      }
      const nextTick = scheduleStart + (k + 1) * config.intervalMs - elapsed();
      if (nextTick > 0) await sleep(nextTick, undefined, { signal: stop.signal }).catch(() => {});
    }
    for (const timer of extraTimers) clearTimeout(timer);
    clearTimeout(durationTimer);
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    clearInterval(sampler);
    config.signal?.removeEventListener('abort', onAbort);
    await reading;

    // The last figure is read twice and the larger kept: a reading of a busy table can miss a socket
    // but never invents one.
    const final = await sample();
    final.sockets = Math.max(final.sockets, (await sample()).sockets);
    const durationMs = Math.round(elapsed());
    const opened = client.stats().connectionsOpened;
    await client.close();
    const afterClose = (await clientSocketCount(port)).established;
    series.sort((a, b) => a.t - b.t);

    return {
      mode: client.mode,
      leak: client.leak,
      target: url.href,
      schedule: { intervalMs: config.intervalMs, extraProbability: config.extraProbability, requests: config.requests, durationMs: config.durationMs },
      requests: { ...counts },
      errors: { ...errors.counts },
      errorSamples: [...errors.samples],
      latency: latency.summary(),
      sockets: {
        peak: Math.max(...series.map((p) => p.sockets)),
        final: final.sockets,
        opened,
        perCompletedRequest: counts.completed > 0 ? round(opened / counts.completed) : 0,
        afterClose,
      },
      series,
      durationMs,
      requestsPerSecond: durationMs > 0 ? round((counts.completed * 1000) / durationMs) : 0,
      ok: counts.completed > 0 && counts.failed === 0,
    };
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export function runHttpClient(options: HttpClientRunOptions): Promise<HttpClientResult> {
  return new HttpClientRun(options).run();
}
