// Past one process: a run too big for one process's file limit is split over worker processes, each
// opening an exact share (shard I/N of the run becomes shards I·W .. I·W+W-1 of N·W). Workers resolve
// the target and report ready; all start on one signal, stream their gauges, and the parent adds the
// results up with the same merge `connlab merge` uses. A ramp ends everywhere when one worker sees the
// target give way.
import { fork, type ChildProcess } from 'node:child_process';
import { CapacityRun } from './capacity-run.ts';
import { DEFAULT_TRANSPORT } from '../net/conn.ts';
import { moduleEntry } from '../net/package.ts';
import { shareOf, type Shard } from '../net/shard.ts';
import { formatHostPort } from '../net/units.ts';
import { CAPACITY_KIND, mergeCapacityResults, type CapacityProgress, type CapacityResult } from '../results/capacity.ts';
import { LatencyRecorder } from '../results/latency.ts';
import { connectionsPerProcess, countTimeWait, limitsHit, readOsLimits, timeWaitBaseline, timeWaitWarnings, type TimeWaitCount } from './limits.ts';
import { validateCapacityOptions, type CapacityConfig, type CapacityEvent, type CapacityOptions } from './options.ts';

export type ParentMessage =
  | { type: 'start'; options: CapacityOptions; verbose: boolean }
  | { type: 'go' }
  | { type: 'stop'; reason: 'max-duration' | 'signal' }
  | { type: 'stop-ramp'; reason: string };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; progress: CapacityProgress }
  | { type: 'event'; event: CapacityEvent }
  | { type: 'result'; result: CapacityResult }
  | { type: 'error'; message: string };

const WORKER = moduleEntry('capacity/worker');

/** How many processes a run needs: what was asked, or enough that each stays under its file limit. */
export function workersFor(options: CapacityOptions & { workers?: number }): number {
  if (options.workers !== undefined && options.workers > 0) return options.workers;
  const config = validateCapacityOptions(options);
  const { size } = shareOf(config.connections, config.shard);
  return Math.max(1, Math.ceil(size / connectionsPerProcess()));
}

export interface Tester {
  progress(): CapacityProgress;
  stop(reason?: 'max-duration' | 'signal'): void;
  run(): Promise<CapacityResult>;
}

/** A worker that did not deliver its result, and what is known of it. */
export type LostWorker = NonNullable<CapacityResult['lostWorkers']>[number];

const noProgress = (): CapacityProgress => ({ planned: 0, notStarted: 0, dialing: 0, open: 0, established: 0, closedByServer: 0, failed: 0, errors: 0, maxConcurrent: 0 });

/** How long workers may take to report once they were told to stop, before they are killed and counted lost. */
const STOP_GRACE_MS = 15_000;

/** One worker process: what it reported, and how it ended. */
class Worker {
  readonly child: ChildProcess;
  progress = noProgress();
  result: CapacityResult | undefined = undefined;
  error: string | undefined = undefined;
  /** Resolves once the process has exited and its IPC channel is closed, so every message it sent was read. */
  readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly ready: Promise<void>;
  private onReady!: () => void;

  constructor(
    readonly index: number,
    readonly shard: Shard,
    private readonly onMessage: (worker: Worker, message: WorkerMessage) => void,
  ) {
    // A 1 MB young generation: left to grow while a worker opens its connections, V8's new space took
    // about 0.3 KiB per held connection of resident memory that no connection needs (bench:capacity:
    // 1.18 KiB per connection without the flag, 0.89-0.91 with it, at the same open rate).
    this.child = fork(WORKER.file, [], { execArgv: [...WORKER.execArgv, '--expose-gc', '--max-semi-space-size=1'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve) => (this.onReady = resolve));
    this.child.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') this.onReady();
      else if (message.type === 'progress') this.progress = message.progress;
      else if (message.type === 'result') this.result = message.result;
      else if (message.type === 'error') this.error = message.message;
      this.onMessage(this, message);
    });
    // 'close' comes after 'exit' and after the IPC channel closed: by then every message is read.
    this.ended = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
    void this.ended.then(() => this.onReady());
  }

  send(message: ParentMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  /** What is known of a worker whose result never came. */
  lost(how: { code: number | null; signal: NodeJS.Signals | null }): LostWorker {
    const ended = how.signal ? `killed by ${how.signal}` : `exited with ${how.code}`;
    return {
      worker: this.index,
      shard: this.shard,
      exitCode: how.code,
      signal: how.signal,
      reason: this.error ? `${ended} after an error: ${this.error}` : `${ended} before reporting its result`,
      lastProgress: this.progress,
    };
  }
}

/** A run over `workers` child processes, driven like a CapacityRun. */
export class WorkerPoolRun implements Tester {
  private readonly pool: Worker[] = [];
  private stopped?: 'max-duration' | 'signal';
  private rampStopped = false;
  private stopTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: CapacityOptions,
    private readonly workers: number,
  ) {
    validateCapacityOptions(options);
    options.signal?.addEventListener('abort', () => this.stop('signal'), { once: true });
  }

  /** The worker processes' ids, once started. */
  get pids(): number[] {
    return this.pool.map((w) => w.child.pid ?? 0);
  }

  progress(): CapacityProgress {
    const total = noProgress();
    for (const { progress } of this.pool) for (const key of Object.keys(total) as Array<keyof CapacityProgress>) total[key] += progress[key];
    return total;
  }

  stop(reason: 'max-duration' | 'signal' = 'signal'): void {
    if (this.stopped) return;
    this.stopped = reason;
    this.broadcast({ type: 'stop', reason });
    // A worker that does not report after being told to stop is killed; its share counts as lost.
    this.stopTimer = setTimeout(() => this.pool.forEach((w) => w.child.kill('SIGKILL')), STOP_GRACE_MS);
    this.stopTimer.unref();
  }

  private broadcast(message: ParentMessage): void {
    for (const worker of this.pool) worker.send(message);
  }

  private onMessage(message: WorkerMessage): void {
    if (message.type !== 'event') return;
    this.options.onEvent?.(message.event);
    if (message.event.type === 'ramp-stopped' && !this.rampStopped) {
      this.rampStopped = true;
      this.broadcast({ type: 'stop-ramp', reason: message.event.reason });
    }
  }

  private start(): void {
    const { signal: _signal, onEvent, ...plain } = this.options;
    const parent = this.options.shard ?? { index: 0, count: 1 };
    const W = this.workers;
    for (let w = 0; w < W; w++) {
      const shard = { index: parent.index * W + w, count: parent.count * W };
      const worker = new Worker(w, shard, (_, message) => this.onMessage(message));
      this.pool.push(worker);
      worker.send({ type: 'start', options: { ...plain, shard }, verbose: Boolean(onEvent) });
    }
  }

  async run(): Promise<CapacityResult> {
    const config = validateCapacityOptions(this.options);
    this.start();
    try {
      await Promise.all(this.pool.map((w) => w.ready));
      const timeWaitBefore = await timeWaitBaseline(config.port);
      if (this.stopped) this.broadcast({ type: 'stop', reason: this.stopped });
      this.broadcast({ type: 'go' });
      const endings = await Promise.all(this.pool.map((w) => w.ended));
      const timeWait = await countTimeWait(config.port, timeWaitBefore);
      const lost = this.pool.flatMap((w, i) => (w.result ? [] : [w.lost(endings[i])]));
      return this.combine(this.pool.flatMap((w) => (w.result ? [w.result] : [])), lost, timeWait);
    } finally {
      clearTimeout(this.stopTimer);
      for (const { child } of this.pool) if (child.exitCode === null && child.signalCode === null) child.kill();
    }
  }

  private combine(parts: CapacityResult[], lost: LostWorker[], sides: TimeWaitCount): CapacityResult {
    const config = validateCapacityOptions(this.options);
    const merged = parts.length > 0 ? mergeCapacityResults(parts) : emptyResult(config);
    const { shards: _shards, ...rest } = merged;
    const connections = { ...merged.connections };
    // What a lost worker had reported still counts; none of its connections was held when the run judged.
    for (const { lastProgress: p } of lost) {
      connections.planned += p.planned;
      connections.established += p.established;
      connections.closedByServer += p.closedByServer;
      connections.failed += p.failed;
      connections.maxConcurrent += p.maxConcurrent;
      connections.notStarted += p.notStarted;
      connections.attempted += p.planned - p.notStarted;
    }
    return {
      ...rest,
      connections,
      timeWait: sides.client + sides.server,
      timeWaitSides: sides,
      warnings: timeWaitWarnings(sides),
      limits: { ...merged.limits, hit: limitsHit(merged.errors, merged.limits) },
      processes: this.workers,
      ...(config.shard ? { shard: config.shard } : {}),
      ...(lost.length > 0 ? { lostWorkers: lost, ok: false } : {}),
    };
  }
}

/** The result of a run none of whose workers reported: its counts come from the workers' last gauges. */
function emptyResult(config: CapacityConfig): CapacityResult {
  return {
    kind: CAPACITY_KIND,
    target: formatHostPort(config.host, config.port),
    connections: { planned: 0, attempted: 0, established: 0, closedByServer: 0, failed: 0, held: 0, maxConcurrent: 0, notStarted: 0, abandoned: 0 },
    errors: {},
    errorSamples: [],
    connectLatency: new LatencyRecorder().summary(),
    series: [],
    timeWait: 0,
    timeWaitSides: { client: 0, server: 0 },
    limits: { ...readOsLimits(), hit: [] },
    memory: { rssBytes: 0, grownBytes: 0, perConnectionBytes: 0 },
    opening: { ms: 0, established: 0, perSecond: 0 },
    startedAt: Date.now(),
    durationMs: 0,
    processes: 0,
    sockets: DEFAULT_TRANSPORT,
    sourceAddresses: config.sourceAddresses?.length ?? 0,
    sourcePortsSkipped: 0,
    warnings: [],
    ok: false,
  };
}

/** A tester for the options: one process, or worker processes when asked or when one would not do. */
export function createTester(options: CapacityOptions & { workers?: number }): Tester {
  const { workers: _w, ...rest } = options;
  const workers = workersFor(options);
  return workers > 1 ? new WorkerPoolRun(rest, workers) : new CapacityRun(rest);
}

/** Runs a capacity test to its end and returns the result. */
export function runCapacity(options: CapacityOptions & { workers?: number }): Promise<CapacityResult> {
  return createTester(options).run();
}
