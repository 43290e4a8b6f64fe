// The capacity tester in one process: opens N connections one `delay` apart (or in ramp steps), keeps
// them, and counts what happened to each: established, failed (by code, never fatal), closed by the
// server. Then, by mode: waits until the server has closed them all (the prior art), holds them for a
// time (redialing what the server closes with `reopen`), or ramps until the target stops keeping up and
// reports the concurrency it sustained. Observable through progress(), stoppable through stop().
// Connections are lib/net's (bare libuv handles where Node has them) with no read buffer of their own:
// what a server sends is read and dropped, so only the end of each connection is noticed.
import { setMaxListeners } from 'node:events';
import { DEFAULT_TRANSPORT, dial, resolveOne, type Conn, type ConnEvents } from '../net/conn.ts';
import { shareOf } from '../net/shard.ts';
import { deadlineSweepMs, formatHostPort } from '../net/units.ts';
import { CAPACITY_KIND, type CapacityProgress, type CapacityResult, type SeriesPoint, type TimeWaitCount } from '../results/capacity.ts';
import { LatencyRecorder } from '../results/latency.ts';
import { ThinnedSeries } from '../results/series.ts';
import { ErrorTally } from '../results/tally.ts';
import { countTimeWait, limitsHit, readOsLimits, timeWaitBaseline, timeWaitWarnings } from './limits.ts';
import { validateCapacityOptions, type CapacityConfig, type CapacityOptions } from './options.ts';
import { coded } from '../net/errors.ts';

/** Spare source ports a dial tries after its own was refused, before it asks for the kernel's choice. */
const MAX_SPARE_PORT_TRIES = 8;

/** Resident memory, or 0 when reading it needs a file descriptor that the run has used up (EMFILE). */
function residentBytes(): number {
  try {
    return process.memoryUsage.rss();
  } catch {
    return 0;
  }
}

export interface RunInternals {
  /** Count TIME_WAIT on this machine before and after (off in worker processes: the parent does it). */
  census?: boolean;
  /** Label for the result's `processes` field (workers report 1 each). */
  processes?: number;
}

export class CapacityRun {
  readonly config: CapacityConfig;
  private readonly errors = new ErrorTally();
  private readonly latency = new LatencyRecorder();
  private readonly counts = { attempted: 0, established: 0, failed: 0, abandoned: 0, closedByServer: 0, open: 0, maxConcurrent: 0, portsSkipped: 0 };
  private readonly share: { start: number; size: number };
  /** The open connection of each slot (index within this share); a connection's state is its slot. */
  private readonly slots: Array<Conn | undefined>;
  /** When each slot's dial in flight began (performance.now()). */
  private readonly dialStartedAt: Float64Array;
  /** The source port each slot's dial in flight asked for (0: the kernel's choice). */
  private readonly dialPort: Uint16Array;
  /** How many source ports each slot's dial has been refused so far. */
  private readonly portTries: Uint8Array;
  /** Per source address: how many of this shard's spare ports were handed out. */
  private readonly spareCursor = new Map<string, number>();
  private readonly dialing = new Set<Conn>();
  private readonly reopenQueue: number[] = [];
  private readonly events: ConnEvents;
  private readonly series = new ThinnedSeries<SeriesPoint>();
  private target?: { address: string; family: 4 | 6 };
  private readonly ports = readOsLimits().ephemeralPorts;
  private nextSlot = 0;
  private t0 = 0;
  private startedAt = 0;
  private phase: 'idle' | 'opening' | 'settling' | 'holding' | 'waiting' | 'judging' | 'done' = 'idle';
  private stopDialing = false;
  private stoppedBy?: 'max-duration' | 'signal';
  private rampReason?: string;
  private ceiling = 0;
  private holdCompleted = false;
  private heldAtJudge = 0;
  private openingMs = 0;
  private establishedWhileOpening = 0;
  private baselineRss = 0;
  private rssAtJudge = 0;
  // Stryker disable next-line ArrayDeclaration: clearTimeout of a value that is not a timer does nothing
  private timers: NodeJS.Timeout[] = [];
  private pumpTimer?: NodeJS.Timeout;
  private finish!: () => void;
  private readonly finished = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(
    options: CapacityOptions = {},
    private readonly internals: RunInternals = {},
  ) {
    this.config = validateCapacityOptions(options);
    this.share = shareOf(this.config.connections, this.config.shard);
    // Stryker disable next-line ArrayDeclaration: the size is a hint; an array grows to any index
    this.slots = new Array(this.share.size);
    this.dialStartedAt = new Float64Array(this.share.size);
    this.dialPort = new Uint16Array(this.share.size);
    this.portTries = new Uint8Array(this.share.size);
    this.events = {
      connect: (conn, code) => this.onConnect(conn, code),
      data: () => {},
      // The server ended it (FIN) or it failed (ECONNRESET): either way the server closed it.
      end: (conn) => this.onPeerClose(conn, undefined),
      error: (conn, code) => this.onPeerClose(conn, code),
      close: () => {},
    };
    if (options.signal) {
      setMaxListeners(0, options.signal);
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal aborts once; `once` only lets go of the run sooner
      options.signal.addEventListener('abort', () => this.stop('signal'), { once: true });
    }
  }

  /** Resolves the target; run() calls it when nobody did (workers do it first, to start together). */
  async prepare(): Promise<void> {
    this.target ??= await resolveOne(this.config.host);
  }

  progress(): CapacityProgress {
    const c = this.counts;
    return {
      planned: this.share.size,
      notStarted: this.share.size - this.nextSlot,
      dialing: this.dialing.size,
      open: c.open,
      established: c.established,
      closedByServer: c.closedByServer,
      failed: c.failed,
      errors: this.errors.total,
      maxConcurrent: c.maxConcurrent,
    };
  }

  /**
   * Ends the run now (max duration, a signal): dials in flight are abandoned, the rest judged as they
   * are. A stop while the run waits for the reopens in flight at the end of its hold gives up on them.
   * Once done (judged, while it counts what its closes left), a stop changes nothing.
   */
  stop(reason: 'max-duration' | 'signal' = 'signal'): void {
    if (this.phase === 'done') return;
    this.stoppedBy = reason;
    if (this.phase === 'idle') {
      this.phase = 'done';
      this.finish();
    } else if (this.phase === 'judging') {
      // Equivalent mutant: this test as `false` (judge() again, with the stop set, abandons the dials
      // and finalizes too; it would also take `held` again, which only a closure since could change).
      this.abandonDials();
      this.finalize();
    } else {
      this.judge();
    }
  }

  /**
   * Stops a ramp from outside (another worker saw the target give way). A run with no ramp goes on, and
   * so does one not opening: before its start there is nothing to stop, after it the ramp has ended.
   */
  stopRamp(reason: string): void {
    this.triggerRamp(reason);
  }

  async run(): Promise<CapacityResult> {
    const { config } = this;
    await this.prepare();
    if (this.phase === 'done') return this.result();
    // Collect the garbage of loading first (workers run with --expose-gc), so growth is the connections'.
    (globalThis as { gc?: () => void }).gc?.();
    this.baselineRss = residentBytes();
    // The TIME_WAIT sockets already there, so that the count at the end is of this run's alone.
    const timeWaitBefore = this.internals.census === false ? undefined : await timeWaitBaseline(config.port);
    this.startedAt = Date.now();
    this.t0 = performance.now();
    this.phase = 'opening';
    this.sample();
    if (config.dialTimeoutMs > 0) this.timers.push(setInterval(() => this.sweepDialTimeouts(), deadlineSweepMs(config.dialTimeoutMs)));
    this.timers.push(setInterval(() => this.sample(), config.sampleIntervalMs));
    if (config.maxDurationMs > 0) this.timers.push(setTimeout(() => this.stop('max-duration'), config.maxDurationMs));
    this.pump();
    this.checkOpenedAll();
    await this.finished;
    return this.result(timeWaitBefore && (await countTimeWait(config.port, timeWaitBefore)));
  }

  /** The slot's source address, when the run was given some (never an empty list: see validateCapacityOptions). */
  private source(slot: number): string | undefined {
    const sources = this.config.sourceAddresses;
    return sources?.[(this.share.start + slot) % sources.length];
  }

  /**
   * The local port for a slot when dialing from given source addresses: connection i uses address
   * i mod S and the (i div S)-th port of the ephemeral range, so shards and workers never collide.
   */
  private sourcePort(slot: number): number {
    const sources = this.config.sourceAddresses;
    if (!sources || !this.ports) return 0;
    const { low, high } = this.ports;
    return low + (Math.floor((this.share.start + slot) / sources.length) % (high - low + 1));
  }

  /**
   * A spare source port of this shard's on the slot's source address: ports past those the whole run
   * hands out (one per connection and address), dealt out to shards in turn, so no two processes
   * take the same one. 0 (the kernel's choice) when the range has none left.
   */
  private sparePort(slot: number): number {
    const sources = this.config.sourceAddresses!;
    const { low, high } = this.ports!;
    const address = this.source(slot)!;
    const shard = this.config.shard ?? { index: 0, count: 1 };
    const taken = this.spareCursor.get(address) ?? 0;
    this.spareCursor.set(address, taken + 1);
    const index = Math.ceil(this.config.connections / sources.length) + shard.index + taken * shard.count;
    return index <= high - low ? low + index : 0;
  }

  /**
   * The kernel refused the source port a dial asked for (a connection of another program holds it, or
   * the last run's TIME_WAIT holds its pair with this target): the slot is dialed again from a spare
   * port, then from the kernel's choice. Only when the kernel's own choice fails is it a failed
   * connection (a real shortage of ports). True when it was dialed again.
   */
  private redialFromAnotherPort(slot: number): boolean {
    if (this.dialPort[slot] === 0) return false;
    const tries = ++this.portTries[slot];
    this.counts.portsSkipped++;
    this.dialing.add(this.open(slot, tries <= MAX_SPARE_PORT_TRIES ? this.sparePort(slot) : 0));
    return true;
  }

  private dial(slot: number): void {
    this.dialStartedAt[slot] = performance.now();
    this.portTries[slot] = 0;
    this.counts.attempted++;
    this.dialing.add(this.open(slot, this.sourcePort(slot)));
    // After the dial is in flight: a stop from this event abandons it like any other.
    this.config.onEvent?.({ type: 'dialing', slot: this.share.start + slot });
  }

  /** Whether the run still dials: it does until it judges its target. */
  private dials(): boolean {
    return this.phase === 'opening' || this.phase === 'holding' || this.phase === 'waiting';
  }

  private open(slot: number, localPort: number): Conn {
    const { address, family } = this.target!;
    this.dialPort[slot] = localPort;
    return dial({ address, family, port: this.config.port, localAddress: this.source(slot), localPort, events: this.events, state: slot, readBuffer: 'none' });
  }

  /** Starts every dial whose time has come, within the in-flight cap; reopens go first. */
  private pump(): void {
    const { config } = this;
    const pace = config.delayMs * (config.shard?.count ?? 1);
    // The phase is read before each dial: a stop from an event handler judges the run mid-loop.
    while (this.dials() && this.dialing.size < config.maxDialing) {
      if (this.reopenQueue.length > 0) {
        this.dial(this.reopenQueue.pop()!);
        continue;
      }
      if (this.stopDialing || this.nextSlot >= this.share.size) break;
      // On performance.now()'s clock. A timer that wakes early (it counts from the loop's clock, read
      // when the loop's turn began) finds its dial not yet due and sleeps again.
      const dueAt = this.t0 + Math.floor(this.nextSlot / config.rampStep) * pace;
      const now = performance.now();
      // Equivalent mutant: `>=` (a dial due at this very instant, to the nanosecond, goes a timer turn later).
      if (dueAt > now) {
        this.pumpTimer ??= setTimeout(() => {
          this.pumpTimer = undefined;
          this.pump();
        }, dueAt - now);
        break;
      }
      this.dial(this.nextSlot++);
    }
  }

  private sweepDialTimeouts(): void {
    const timeout = this.config.dialTimeoutMs;
    const now = performance.now();
    // Equivalent mutants: `>` for `>=` (a dial exactly at its timeout, to the nanosecond, times out a
    // sweep later), and the empty case not returning early (an empty loop runs on the next turn).
    const expired = [...this.dialing].filter((conn) => now - this.dialStartedAt[conn.state as number] >= timeout);
    if (expired.length === 0) return;
    // Timers run before the loop polls for I/O: after a stall (a busy machine, a long GC) a dial may
    // have completed unseen. Judge after this turn's poll, so only a dial still pending has timed out.
    setImmediate(() => {
      for (const conn of expired) {
        if (!this.dialing.has(conn)) continue;
        conn.reset();
        this.onConnect(conn, 'ETIMEDOUT');
      }
    });
  }

  private onConnect(conn: Conn, code: string | undefined): void {
    if (!this.dialing.delete(conn)) return;
    const index = conn.state as number;
    if (code === 'EADDRNOTAVAIL' && this.redialFromAnotherPort(index)) return;
    const slot = this.share.start + index;
    if (code) {
      this.counts.failed++;
      this.errors.add(coded(code, `connection ${slot}: ${code}`));
      this.config.onEvent?.({ type: 'failed', slot, code });
      this.triggerRamp(code);
    } else {
      const c = this.counts;
      c.established++;
      if (this.phase === 'opening') this.establishedWhileOpening++;
      this.latency.record(performance.now() - this.dialStartedAt[index]);
      this.slots[index] = conn;
      c.open++;
      c.maxConcurrent = Math.max(c.maxConcurrent, c.open);
      this.config.onEvent?.({ type: 'established', slot });
    }
    if (this.phase === 'judging') {
      if (!code) this.heldAtJudge++;
      if (this.dialing.size === 0) this.finalize();
      return;
    }
    this.pump();
    this.checkOpenedAll();
    if (this.phase === 'settling' && this.dialing.size === 0) this.settle();
  }

  private onPeerClose(conn: Conn, code: string | undefined): void {
    const index = conn.state as number;
    // Equivalent mutant: this test as `false`. lib/net reports nothing of a connection after its first
    // end or error, nor after destroy() or reset(), and each of those leaves its slot; the test keeps a
    // closure from being counted twice should that ever change.
    if (this.slots[index] !== conn) return;
    this.slots[index] = undefined;
    conn.destroy();
    this.counts.open--;
    this.counts.closedByServer++;
    if (code) this.errors.add(coded(code, `connection ${this.share.start + index} closed: ${code}`));
    this.config.onEvent?.({ type: 'closed-by-server', slot: this.share.start + index, code });
    // While judging, a reopen is queued but never dialed (the pump dials no more); once done, no slot
    // holds a connection, so no closure comes here.
    this.triggerRamp(code ? `closed by the server (${code})` : 'closed by the server');
    if (this.config.reopen) {
      this.reopenQueue.push(index);
      this.pump();
    } else if (this.phase === 'waiting' && this.counts.open === 0) {
      // Without reopens nothing dials once the opening ended (it ends with no dial in flight).
      this.judge();
    }
  }

  private checkOpenedAll(): void {
    if (this.phase !== 'opening' || this.nextSlot < this.share.size || this.dialing.size > 0) return;
    this.openingMs = performance.now() - this.t0;
    this.config.onEvent?.({ type: 'opened-all' });
    if (this.config.ramp) return this.triggerRamp(`reached the ${this.config.connections} connections asked for`);
    this.afterOpening();
  }

  private afterOpening(): void {
    const { config } = this;
    if (this.phase === 'judging' || this.phase === 'done') return; // stopped from the opened-all event
    if (config.holdMs > 0) {
      this.phase = 'holding';
      this.timers.push(
        setTimeout(() => {
          this.holdCompleted = true;
          this.judge();
        }, config.holdMs),
      );
      this.pump();
    } else if (config.ramp) {
      this.judge();
    } else {
      this.phase = 'waiting';
      this.pump();
      if (!config.reopen && this.counts.open === 0) this.judge();
    }
  }

  /** A ramp stops adding, once, while opening: the target refused, timed out, closed one, or N was reached. */
  private triggerRamp(reason: string): void {
    if (!this.config.ramp || this.phase !== 'opening') return;
    this.rampReason = reason;
    this.stopDialing = true;
    clearTimeout(this.pumpTimer);
    this.openingMs = performance.now() - this.t0;
    this.config.onEvent?.({ type: 'ramp-stopped', reason });
    this.phase = 'settling';
    if (this.dialing.size === 0) this.settle();
  }

  /** Both callers are settling with no dial in flight. */
  private settle(): void {
    this.phase = 'holding'; // no more settle calls; closures still counted
    this.timers.push(
      setTimeout(() => {
        this.ceiling = this.counts.open;
        this.sample();
        this.afterOpening();
        this.config.onEvent?.({ type: 'ramp-settled', ceiling: this.ceiling });
      }, this.config.rampSettleMs),
    );
  }

  /**
   * The run judges its target: what is open now is `held`; reopens under way count if they succeed.
   * Called once: each caller is in a phase before judging (stop() checks its own).
   */
  private judge(): void {
    this.phase = 'judging';
    clearTimeout(this.pumpTimer);
    this.sample();
    this.heldAtJudge = this.counts.open;
    this.rssAtJudge = residentBytes();
    if (this.openingMs === 0) this.openingMs = performance.now() - this.t0;
    if (this.stoppedBy || !this.config.reopen) this.abandonDials();
    if (this.dialing.size === 0) this.finalize();
  }

  private abandonDials(): void {
    for (const conn of this.dialing) conn.reset();
    this.counts.abandoned += this.dialing.size;
    this.dialing.clear();
  }

  /** Called once, while judging: by judge() with no dial left, or as the last one ends, or by a stop. */
  private finalize(): void {
    this.phase = 'done';
    for (const timer of this.timers) clearTimeout(timer);
    const reset = this.config.close === 'reset';
    for (let i = 0; i < this.slots.length; i++) {
      const conn = this.slots[i];
      if (conn && reset) conn.reset();
      else conn?.destroy();
      this.slots[i] = undefined;
    }
    this.finish();
  }

  /** A point of the open-connection series; the judging's is always kept (the run's last). */
  private sample(): void {
    this.series.offer(() => ({ t: Math.round(performance.now() - this.t0), open: this.counts.open }), this.phase === 'judging');
  }

  /** The result document; `census`: the TIME_WAIT sockets the run left (none taken: a worker's part). */
  private result(census?: TimeWaitCount): CapacityResult {
    const sides = census ?? { client: 0, server: 0 };
    const { config, counts } = this;
    const size = this.share.size;
    const held = this.heldAtJudge;
    const notStarted = size - this.nextSlot;
    const limits = readOsLimits();
    const errors = { ...this.errors.counts };
    const grownRss = this.rssAtJudge && this.baselineRss ? Math.max(0, this.rssAtJudge - this.baselineRss) : 0;
    const ok = config.ramp
      ? this.ceiling > 0 && !this.stoppedBy
      : // Every slot started (notStarted), and each dial ends established, failed or abandoned: so all
        // were established. Held for the whole hold, when there was one.
        counts.failed === 0 && counts.abandoned === 0 && notStarted === 0 && (config.holdMs > 0 ? this.holdCompleted && held === size : true);
    return {
      kind: CAPACITY_KIND,
      target: formatHostPort(config.host, config.port),
      connections: {
        planned: size,
        attempted: counts.attempted,
        established: counts.established,
        closedByServer: counts.closedByServer,
        failed: counts.failed,
        held,
        maxConcurrent: counts.maxConcurrent,
        notStarted,
        abandoned: counts.abandoned,
      },
      errors,
      errorSamples: [...this.errors.samples],
      connectLatency: this.latency.summary(),
      ...(config.ramp ? { ramp: { ceiling: this.ceiling, reason: this.rampReason ?? 'stopped before the ramp ended' } } : {}),
      series: [...this.series.points],
      timeWait: sides.client + sides.server,
      timeWaitSides: sides,
      limits: { ...limits, hit: limitsHit(errors, limits) },
      memory: { rssBytes: this.rssAtJudge, grownBytes: grownRss, perConnectionBytes: held > 0 ? Math.round(grownRss / held) : 0 },
      opening: {
        ms: Math.round(this.openingMs),
        established: this.establishedWhileOpening,
        perSecond: this.openingMs > 0 ? Math.round((this.establishedWhileOpening * 1000) / this.openingMs) : 0,
      },
      startedAt: this.startedAt,
      durationMs: this.startedAt ? Date.now() - this.startedAt : 0,
      processes: this.internals.processes ?? 1,
      sockets: DEFAULT_TRANSPORT,
      sourceAddresses: config.sourceAddresses?.length ?? 0,
      sourcePortsSkipped: counts.portsSkipped,
      warnings: census ? timeWaitWarnings(sides) : [],
      ...(config.shard ? { shard: config.shard } : {}),
      ...(this.stoppedBy ? { stoppedBy: this.stoppedBy } : {}),
      ok,
    };
  }
}
