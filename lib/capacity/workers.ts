// Past one process: a run too big for one process's file limit is split over worker processes, each
// opening an exact share (shard I/N of the run becomes shards I·W .. I·W+W-1 of N·W). Workers resolve
// the target and report ready; all start on one signal, stream their gauges, and the parent adds the
// results up with the same merge `connlab merge` uses. A ramp ends everywhere when one worker sees the
// target give way.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CapacityRun } from './capacity-run.ts';
import { connectionsPerProcess, countTimeWait, limitsHit, waitForClosesToSettle, type TimeWaitCount } from './limits.ts';
import { mergeCapacityResults } from './merge.ts';
import { validateCapacityOptions, type CapacityEvent, type CapacityOptions } from './options.ts';
import type { CapacityProgress, CapacityResult } from './result.ts';
import { shareOf } from '../net/shard.ts';

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

const WORKER_ENTRY = fileURLToPath(new URL('./worker.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');

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

/** A run over `workers` child processes, driven like a CapacityRun. */
export class WorkerPoolRun implements Tester {
  private readonly children: ChildProcess[] = [];
  private readonly gauges: CapacityProgress[] = [];
  private stopped?: 'max-duration' | 'signal';
  private rampStopped = false;
  private readonly options: CapacityOptions;

  constructor(
    options: CapacityOptions,
    private readonly workers: number,
  ) {
    this.options = options;
    validateCapacityOptions(options);
    options.signal?.addEventListener('abort', () => this.stop('signal'), { once: true });
  }

  progress(): CapacityProgress {
    const total: CapacityProgress = { planned: 0, notStarted: 0, dialing: 0, open: 0, established: 0, closedByServer: 0, failed: 0, errors: 0, maxConcurrent: 0 };
    for (const gauge of this.gauges) for (const key of Object.keys(total) as Array<keyof CapacityProgress>) total[key] += gauge[key];
    return total;
  }

  stop(reason: 'max-duration' | 'signal' = 'signal'): void {
    if (this.stopped) return;
    this.stopped = reason;
    this.broadcast({ type: 'stop', reason });
  }

  private broadcast(message: ParentMessage): void {
    for (const child of this.children) if (child.connected) child.send(message);
  }

  async run(): Promise<CapacityResult> {
    const { signal: _signal, onEvent, ...plain } = this.options;
    const config = validateCapacityOptions(this.options);
    const parent = config.shard ?? { index: 0, count: 1 };
    const W = this.workers;
    const ready: Array<Promise<void>> = [];
    const results: Array<Promise<CapacityResult>> = [];
    for (let w = 0; w < W; w++) {
      const child = fork(WORKER_ENTRY, [], { execArgv: ['--import', TSX_LOADER, '--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      this.children.push(child);
      this.gauges.push({ planned: 0, notStarted: 0, dialing: 0, open: 0, established: 0, closedByServer: 0, failed: 0, errors: 0, maxConcurrent: 0 });
      let onReady!: () => void;
      ready.push(new Promise((resolve) => (onReady = resolve)));
      results.push(
        new Promise<CapacityResult>((resolve, reject) => {
          child.on('message', (message: WorkerMessage) => {
            if (message.type === 'ready') onReady();
            else if (message.type === 'progress') this.gauges[w] = message.progress;
            else if (message.type === 'result') resolve(message.result);
            else if (message.type === 'error') reject(new Error(`worker ${w}: ${message.message}`));
            else if (message.type === 'event') {
              onEvent?.(message.event);
              if (message.event.type === 'ramp-stopped' && !this.rampStopped) {
                this.rampStopped = true;
                this.broadcast({ type: 'stop-ramp', reason: message.event.reason });
              }
            }
          });
          child.once('exit', (code) => {
            onReady();
            reject(new Error(`worker ${w} exited with ${code} before reporting`));
          });
        }),
      );
      const options: CapacityOptions = { ...plain, shard: { index: parent.index * W + w, count: parent.count * W } };
      child.send({ type: 'start', options, verbose: Boolean(onEvent) } satisfies ParentMessage);
    }
    try {
      await Promise.all(ready);
      const before = await countTimeWait(config.port);
      if (this.stopped) this.broadcast({ type: 'stop', reason: this.stopped });
      this.broadcast({ type: 'go' });
      const settled = await Promise.allSettled(results);
      const failures = settled.filter((s) => s.status === 'rejected');
      if (failures.length > 0) throw (failures[0] as PromiseRejectedResult).reason;
      const parts = settled.map((s) => (s as PromiseFulfilledResult<CapacityResult>).value);
      if (config.close === 'fin') await waitForClosesToSettle(config.port, 1000);
      const after = await countTimeWait(config.port);
      return this.combine(parts, before, after);
    } finally {
      for (const child of this.children) if (child.exitCode === null) child.kill();
    }
  }

  private combine(parts: CapacityResult[], before: TimeWaitCount, after: TimeWaitCount): CapacityResult {
    const merged = mergeCapacityResults(parts);
    const sides = { client: Math.max(0, after.client - before.client), server: Math.max(0, after.server - before.server) };
    const { shards: _shards, ...rest } = merged;
    const config = validateCapacityOptions(this.options);
    return {
      ...rest,
      target: parts[0].target,
      connections: { ...merged.connections },
      timeWait: sides.client + sides.server,
      timeWaitSides: sides,
      limits: { ...merged.limits, hit: limitsHit(merged.errors, merged.limits) },
      ...(config.shard ? { shard: config.shard } : {}),
    };
  }
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
