// A run of the keep-alive lab's client on the prior art's schedule: one request every `interval`, plus,
// with probability `extraProbability`, an extra one at a random moment inside that interval. After each
// request it reads from the operating system how many sockets this process holds to the server, and it
// samples that count on a timer too, so the result carries a series ready to plot: faulty climbs, fixed
// stays flat. Bounded by `requests`, `duration` or an AbortSignal; every dispatcher is closed at the end.
import { setTimeout as sleep } from 'node:timers/promises';
import { HTTP_CLIENT_KIND, type HttpClientResult, type SocketSample } from '../results/http-client.ts';
import { LatencyRecorder } from '../results/latency.ts';
import { ErrorTally } from '../results/tally.ts';
import { createKeepAliveClient, type KeepAliveClient, type RequestOutcome } from './clients.ts';
import { targetPort, validateRunOptions, type HttpClientRunOptions, type RunConfig } from './options.ts';
import { clientSocketCount } from './socket-count.ts';
import { coded } from '../net/errors.ts';

export type { HttpClientResult, HttpClientRunOptions, SocketSample };

export interface HttpClientProgress {
  started: number;
  completed: number;
  failed: number;
  sockets: number;
}

/**
 * The socket series of one run: the OS's count of this process's sockets to the server, read once at
 * a time (a large socket table is slow to read, and readings that overlap would pile up on a busy
 * machine); a sample asked for while one runs shares it.
 */
class SocketSeries {
  readonly points: SocketSample[] = [];
  last = 0;
  private reading: Promise<SocketSample> | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly port: number,
    private readonly clientOpen: () => number,
    private readonly serverOpen: (() => number) | undefined,
  ) {}

  elapsed(): number {
    return performance.now() - this.started;
  }

  sample(): Promise<SocketSample> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  /** Resolves when no reading is under way. */
  async idle(): Promise<void> {
    await this.reading;
  }

  private async read(): Promise<SocketSample> {
    const point: SocketSample = { t: Math.round(this.elapsed()), sockets: 0, open: this.clientOpen() };
    if (this.serverOpen) point.serverOpen = this.serverOpen();
    point.sockets = (await clientSocketCount(this.port)).established;
    this.last = point.sockets;
    this.points.push(point);
    return point;
  }
}

export class HttpClientRun {
  readonly config: RunConfig;
  private readonly counts = { started: 0, extra: 0, completed: 0, failed: 0, cancelled: 0, retried: 0 };
  private readonly errors = new ErrorTally();
  private readonly latency = new LatencyRecorder();
  private readonly url: URL;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly extraTimers = new Set<NodeJS.Timeout>();
  /** Stops the schedule: the request limit, the duration, or the caller's signal. */
  private readonly stop = new AbortController();
  private client: KeepAliveClient | undefined;
  private series: SocketSeries | undefined;

  constructor(options: HttpClientRunOptions) {
    this.config = validateRunOptions(options);
    this.url = new URL(this.config.url);
  }

  progress(): HttpClientProgress {
    return { started: this.counts.started, completed: this.counts.completed, failed: this.counts.failed, sockets: this.series?.last ?? 0 };
  }

  async run(): Promise<HttpClientResult> {
    const { config } = this;
    const client = (this.client = createKeepAliveClient(config));
    const series = (this.series = new SocketSeries(targetPort(this.url), () => client.stats().connectionsOpen, config.serverOpen));
    const onAbort = (): void => this.stop.abort();
    config.signal?.addEventListener('abort', onAbort, { once: true });
    if (config.signal?.aborted) this.stop.abort();
    const durationTimer = config.durationMs > 0 ? setTimeout(() => this.stop.abort(), config.durationMs) : undefined;
    await series.sample();
    const sampler = setInterval(() => void series.sample(), config.sampleIntervalMs);
    await this.schedule(config.random ?? Math.random);
    for (const timer of this.extraTimers) clearTimeout(timer);
    clearTimeout(durationTimer);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    clearInterval(sampler);
    config.signal?.removeEventListener('abort', onAbort);
    await series.idle();
    return this.finish(client, series);
  }

  /** The prior art's schedule: one request every interval, and now and then an extra one inside it. */
  private async schedule(random: () => number): Promise<void> {
    const { config } = this;
    // The schedule starts after the first reading, which can be slow on a machine with many sockets.
    const scheduleStart = this.series!.elapsed();
    for (let k = 0; !this.stop.signal.aborted; k++) {
      this.launch(false);
      if (config.extraProbability > 0 && random() < config.extraProbability) {
        const timer = setTimeout(() => {
          this.extraTimers.delete(timer);
          this.launch(true);
        }, Math.floor(random() * config.intervalMs));
        this.extraTimers.add(timer);
      }
      const nextTick = scheduleStart + (k + 1) * config.intervalMs - this.series!.elapsed();
      if (nextTick > 0) await sleep(nextTick, undefined, { signal: this.stop.signal }).catch(() => {});
    }
  }

  private limitReached(): boolean {
    return this.config.requests > 0 && this.counts.started >= this.config.requests;
  }

  private launch(extra: boolean): void {
    if (this.stop.signal.aborted || this.limitReached()) return;
    const n = ++this.counts.started;
    if (extra) this.counts.extra++;
    const request = this.client!.get(this.url, { signal: this.config.signal }).then((outcome) => this.settle(n, extra, outcome));
    this.inFlight.add(request);
    void request.finally(() => this.inFlight.delete(request));
    if (this.limitReached()) this.stop.abort();
  }

  private async settle(n: number, extra: boolean, outcome: RequestOutcome): Promise<void> {
    const { counts, config } = this;
    const cancelled = Boolean(config.signal?.aborted);
    if (outcome.retried) counts.retried++;
    if (outcome.ok) {
      counts.completed++;
      this.latency.record(outcome.latencyMs);
    } else if (cancelled) {
      counts.cancelled++;
    } else {
      counts.failed++;
      this.errors.add(coded(outcome.error, outcome.message ?? outcome.error ?? 'failed'), `request ${n}`);
    }
    const point = await this.series!.sample();
    const verdict = outcome.ok ? outcome.status : cancelled ? 'cancelled' : `failed: ${outcome.error}`;
    config.log?.(
      `[CLIENT] request #${n}${extra ? ' (extra)' : ''} ${verdict} in ${Math.round(outcome.latencyMs)}ms` +
        `${outcome.retried ? ' after a retry' : ''} | open sockets to the server (OS): ${point.sockets}`,
    );
  }

  private async finish(client: KeepAliveClient, series: SocketSeries): Promise<HttpClientResult> {
    const { config, counts } = this;
    // The last figure is read twice and the larger kept: a reading of a busy table can miss a socket
    // but never invents one.
    const final = await series.sample();
    final.sockets = Math.max(final.sockets, (await series.sample()).sockets);
    const durationMs = Math.round(series.elapsed());
    const opened = client.stats().connectionsOpened;
    await client.close();
    const afterClose = (await clientSocketCount(targetPort(this.url))).established;
    const points = series.points.sort((a, b) => a.t - b.t);
    return {
      kind: HTTP_CLIENT_KIND,
      mode: client.mode,
      leak: client.leak,
      target: this.url.href,
      schedule: { intervalMs: config.intervalMs, extraProbability: config.extraProbability, requests: config.requests, durationMs: config.durationMs },
      requests: { ...counts },
      errors: { ...this.errors.counts },
      errorSamples: [...this.errors.samples],
      latency: this.latency.summary(),
      sockets: {
        peak: Math.max(...points.map((p) => p.sockets)),
        final: final.sockets,
        opened,
        perCompletedRequest: counts.completed > 0 ? round(opened / counts.completed) : 0,
        afterClose,
      },
      series: points,
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
