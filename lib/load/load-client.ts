// The load client: N concurrent TCP clients with staggered starts, each sending messages and checking
// every reply against what it sent. Closed loop by default (send, wait for the ack, send the next);
// with `rate` it is open loop: sends follow a fixed schedule and latency is measured from the intended
// send time, so a stalled server shows up in the percentiles instead of hiding behind fewer sends.
// Failures of any kind are counted by code and never end the run early.
import { setMaxListeners } from 'node:events';
import { DEFAULT_TRANSPORT, dial, resolveHost, type Conn, type ConnEvents } from '../net/conn.ts';
import { LineSplitter } from '../net/lines.ts';
import { shareOf } from '../net/shard.ts';
import { deadlineSweepMs, formatHostPort } from '../net/units.ts';
import { LatencyRecorder } from '../results/latency.ts';
import { LOAD_KIND, type LoadResult } from '../results/load.ts';
import { ErrorTally } from '../results/tally.ts';
import { PRIOR_ART_ACK, PRIOR_ART_ACK_TEXT } from '../tcp/ack-protocol.ts';
import { validateLoadOptions, type LoadConfig, type LoadOptions } from './options.ts';
import { coded } from '../net/errors.ts';

export type { LoadOptions, LoadResult };

export interface LoadProgress {
  started: number;
  connected: number;
  failed: number;
  sent: number;
  acked: number;
  errors: number;
}

interface Pending {
  /** The ack expected: a string of byte-valued characters for ASCII messages, else bytes. */
  expected: string | Buffer;
  /** When the send was meant to happen (open loop) or happened (closed loop). */
  since: number;
}

/** How much of a wrong reply a mismatch sample shows. */
const SAMPLE_BYTES = 120;

/**
 * With no reply timeout (0), how long the end of a run still waits: an open-loop run for its last
 * acks, and each client for the server's side to close after its own FIN.
 */
export const END_WAIT_WITHOUT_TIMEOUT_MS = 5000;

/** Whether `bytes[start, end)` are exactly the byte-valued characters of `text` (no allocation on the hot path). */
function sameBytes(bytes: Buffer, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** One set of callbacks for every client of a run; the client is the connection's state. */
const CLIENT_EVENTS: ConnEvents = {
  data: (conn, bytes) => (conn.state as Client).onData(bytes),
  end: (conn) => conn.end(),
  error: (conn, code, error) => (conn.state as Client).fail(error ?? coded(code, code)),
  close: (conn) => (conn.state as Client).onClose(),
  connect: (conn, code) => (conn.state as Client).onConnect(code),
};

/** One client: a connection, its queue of expected acks, and its share of the counters. */
class Client {
  private conn?: Conn;
  private readonly pending: Pending[] = [];
  // Reads arrive in a buffer that is reused: the splitter copies partial lines it keeps.
  private readonly splitter = new LineSplitter(1024 * 1024, { reusedInput: true });
  private chunkBuffer = Buffer.alloc(0);
  private waiter?: () => void;
  private dialed?: (code: string | undefined) => void;
  private closed?: () => void;
  private toSend = 0;
  private sentCount = 0;
  private window = 1;
  /** The connection died after it was made (never set for one that was never made: it has no conn). */
  dead = false;

  constructor(
    readonly index: number,
    private readonly run: LoadRun,
  ) {}

  async connect(localAddress?: string): Promise<boolean> {
    const { config, counts } = this.run;
    counts.attempted++;
    const started = performance.now();
    // A name that stands for no address is one not found.
    let code: string | undefined = this.run.lookupError ?? 'ENOTFOUND';
    // Like net.connect, each address the host name stands for is tried in turn until one answers.
    for (const { address } of this.run.addresses) {
      code = await this.dialOnce(address, localAddress);
      if (code === undefined || code === 'ETIMEDOUT' || this.run.stopped) break;
    }
    // A dial the run's stop cut short is neither made nor failed. Equivalent mutants: `code !== undefined`
    // as `true` (a dial made at the very moment of the stop is never used), `false` as `true` (a client
    // with no connection sends nothing and has nothing to close).
    if (this.run.stopped && code !== undefined) return false;
    if (code !== undefined) {
      counts.failed++;
      const message = code === 'ETIMEDOUT' ? `connect timed out after ${config.connectTimeoutMs}ms` : `connect ${code} ${formatHostPort(config.host, config.port)}`;
      this.run.errors.add(coded(code, message), `client ${this.index} connect`);
      return false;
    }
    this.run.connectLatency.record(performance.now() - started);
    counts.connected++;
    return true;
  }

  private dialOnce(address: string, localAddress: string | undefined): Promise<string | undefined> {
    const { config } = this.run;
    return new Promise((resolve) => {
      const conn = dial({ address, port: config.port, localAddress, events: CLIENT_EVENTS, state: this, transport: config.transport });
      // A connect timeout of 0 waits as long as the dial takes (until the run stops). Equivalent mutant:
      // `dialed?.` as `dialed` (the timer is cleared whenever the dial ends, so it finds its dial).
      const timer = config.connectTimeoutMs > 0 ? setTimeout(() => this.dialed?.('ETIMEDOUT'), config.connectTimeoutMs) : undefined;
      this.dialed = (code) => {
        clearTimeout(timer);
        this.dialed = undefined;
        if (code === undefined) this.conn = conn;
        else conn.destroy();
        resolve(code);
      };
    });
  }

  /** The run stopped: a dial still in flight is given up on. */
  cancelDial(): void {
    // Equivalent mutant: 'ESTOPPED' as '' (connect() never counts a stopped dial's code).
    this.dialed?.('ESTOPPED');
  }

  onConnect(code: string | undefined): void {
    // Stryker disable next-line OptionalChaining: a dial given up on is destroyed and reports nothing more, so a connect event always finds its dial
    this.dialed?.(code);
  }

  /** Sends one message; `since` is the intended send time in open loop. */
  send(n: number, since = performance.now()): void {
    const data = this.prepare(n, since);
    if (data !== undefined) this.conn!.write(data);
  }

  /** Records message `n` as sent and returns its bytes (undefined when the connection is gone). */
  private prepare(n: number, since: number): string | Buffer | undefined {
    if (!this.conn || this.dead) return undefined;
    const run = this.run;
    const text = run.render(this.index, n);
    run.counts.sent++;
    if (run.config.framing === 'chunk') {
      this.pending.push({ expected: PRIOR_ART_ACK_TEXT, since });
      return run.asciiMessages ? text : Buffer.from(text);
    }
    this.pending.push({ expected: run.asciiMessages ? `ACK ${text}` : Buffer.from(`ACK ${text}`), since });
    return run.asciiMessages ? `${text}\n` : Buffer.from(`${text}\n`);
  }

  /**
   * Closed loop: sends `count` messages keeping up to `window` in flight, each next one as soon as an
   * ack makes room. Resolves when all were answered, the connection died, or the run stopped.
   */
  sendAll(count: number, window: number): Promise<void> {
    this.toSend = count;
    this.window = window;
    const done = new Promise<void>((resolve) => {
      this.waiter = resolve;
    });
    this.pump();
    return done;
  }

  get outstanding(): number {
    return this.pending.length;
  }

  /** Fails the connection if its oldest unanswered message is older than the reply timeout. */
  checkReplyTimeout(now: number, timeoutMs: number): void {
    const head = this.pending[0];
    // Equivalent mutant: `<` as `<=` (a reply due at the very millisecond of a sweep is as late either way).
    if (!head || this.dead || now - head.since < timeoutMs) return;
    this.fail(coded('REPLY_TIMEOUT', `no reply within ${timeoutMs}ms`));
    // A message is waiting, so it was sent on a connection.
    this.conn!.destroy();
  }

  /** Lets a waiting sendAll() return, e.g. when the run stops. */
  release(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  private pump(): void {
    // Nothing goes out on a dead connection, and onClose has released its sendAll().
    // Stryker disable next-line ConditionalExpression: a dead client's prepare() sends nothing, so going on changes nothing
    if (this.dead) return;
    // Everything the window lets out now leaves in one write (line framing; chunk framing keeps
    // one write per message, since the prior art's server answers per read). Batching changes how
    // many writes carry the bytes, never the bytes: with the window of 1 the specs use for chunk
    // framing, and for any framing of non-ASCII text (the same UTF-8 either way), it is speed only.
    // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: see above
    const batch = this.run.config.framing === 'line' && this.run.asciiMessages;
    let data = '';
    const now = performance.now();
    while (!this.run.stopped && this.sentCount < this.toSend && this.pending.length < this.window) {
      // Stryker disable next-line ConditionalExpression: see the batching note above
      if (!batch) {
        this.send(this.sentCount++, now);
        continue;
      }
      data += this.prepare(this.sentCount++, now) as string;
    }
    // Equivalent mutants: the condition as `true`, and its '' changed (an empty write puts nothing on the wire).
    if (data !== '') this.conn!.write(data);
    // Equivalent mutant: `sentCount >= toSend` as `true` (the loop above leaves nothing pending only when all was sent).
    if (this.run.stopped || (this.sentCount >= this.toSend && this.pending.length === 0)) this.release();
  }

  /** Holds the connection for `holdMs` after its last ack, then ends it; a stopped run ends at once (the run aborts every connection). */
  async finish(holdMs: number): Promise<void> {
    if (!this.conn || this.dead || this.run.stopped) return;
    const conn = this.conn;
    const closed = new Promise<void>((resolve) => {
      this.closed = resolve;
    });
    // A server that closes the connection ends its hold.
    await this.run.sleep(holdMs, closed);
    // Equivalent mutant: `conn.closed` as `false` (end() on a closed connection does nothing, and its close was seen).
    if (conn.closed || this.run.stopped) return;
    conn.end();
    const timer = setTimeout(() => conn.destroy(), this.run.config.replyTimeoutMs || END_WAIT_WITHOUT_TIMEOUT_MS);
    await closed;
    clearTimeout(timer);
  }

  abort(): void {
    this.conn?.destroy();
  }

  /** `chunk` is valid only during the call: used here, never kept (the splitter copies partial lines). */
  onData(chunk: Buffer): void {
    if (this.run.config.framing === 'chunk') {
      this.chunkBuffer = Buffer.concat([this.chunkBuffer, chunk]);
      while (this.chunkBuffer.length >= PRIOR_ART_ACK.length) {
        this.settle(this.chunkBuffer, 0, PRIOR_ART_ACK.length);
        this.chunkBuffer = this.chunkBuffer.subarray(PRIOR_ART_ACK.length);
      }
      this.pump();
      return;
    }
    // A reply longer than any ack could be counts as extra bytes; the splitter starts over after it.
    // Equivalent mutant: `>= 0` as `> 0` (an overflow is longer than the limit, never 0).
    if (this.splitter.each(chunk, this.settle) >= 0) this.run.counts.extra++;
    // Acks that arrived together make room together: the next messages go out in one write.
    this.pump();
  }

  /** Matches the reply `bytes[start, end)` with the oldest message waiting for its ack. */
  private readonly settle = (bytes: Buffer, start: number, end: number): void => {
    const head = this.pending.shift();
    if (!head) {
      this.run.counts.extra++;
      return;
    }
    const expected = head.expected;
    if (typeof expected === 'string' ? sameBytes(bytes, start, end, expected) : bytes.subarray(start, end).equals(expected)) {
      this.run.counts.acked++;
      this.run.ackLatency.record(performance.now() - head.since);
    } else {
      this.run.counts.mismatched++;
      if (this.run.mismatchSamples.length < 5) {
        const wanted = expected.toString(); // a byte string, or the bytes read as UTF-8
        // A sample shows the start of a long reply, not all of it (LOAD-034, LOAD-039).
        const got = end - start > SAMPLE_BYTES ? `${bytes.toString('utf8', start, start + SAMPLE_BYTES)}… (${end - start} bytes)` : bytes.toString('utf8', start, end);
        this.run.mismatchSamples.push(`client ${this.index}: expected ${JSON.stringify(wanted)}, got ${JSON.stringify(got)}`);
      }
    }
  };

  fail(error: unknown): void {
    // Equivalent mutant: the condition as `false` (every caller but the error event checks first, and a
    // connection reports one error).
    if (this.dead) return;
    this.dead = true;
    this.run.errors.add(error, `client ${this.index}`);
  }

  onClose(): void {
    if (this.pending.length > 0 && !this.dead) {
      this.fail(coded('ECLOSED', `server closed the connection with ${this.pending.length} acks outstanding`));
    }
    this.dead = true;
    this.release();
    this.closed?.();
  }
}

/** A load run in progress: observable through progress(), stoppable through stop() or the signal. */
export class LoadRun {
  readonly config: LoadConfig;
  readonly errors = new ErrorTally();
  readonly connectLatency = new LatencyRecorder();
  readonly ackLatency = new LatencyRecorder();
  readonly mismatchSamples: string[] = [];
  readonly counts = { attempted: 0, connected: 0, failed: 0, planned: 0, sent: 0, acked: 0, mismatched: 0, extra: 0 };
  private readonly stopController = new AbortController();
  private readonly clients: Client[] = [];
  private startedAt = 0;
  /** The message template split at its placeholders, so rendering is a join, not a search. */
  private readonly template: Array<string | '{i}' | '{n}'>;
  /** Messages are plain ASCII: they travel as byte strings, with no Buffer per message. */
  readonly asciiMessages: boolean;
  /** What the host name resolved to, once per run. */
  addresses: Array<{ address: string }> = [];
  lookupError?: string;

  constructor(options: LoadOptions = {}) {
    this.config = validateLoadOptions(options);
    // Every waiting client listens on the stop signal; thousands of them are expected.
    setMaxListeners(0, this.stopController.signal);
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: stop() twice is stop() once
    options.signal?.addEventListener('abort', () => this.stop(), { once: true });
    this.template = this.config.message.split(/(\{i\}|\{n\})/);
    // Equivalent mutants: the regex narrowed (`\P`, no `*`): the messages then travel as Buffers, the same bytes (speed only, see pump).
    this.asciiMessages = /^\p{ASCII}*$/u.test(this.config.message);
  }

  /** The text of message `n` of client `client`. */
  render(client: number, n: number): string {
    let text = '';
    for (const part of this.template) text += part === '{i}' ? client : part === '{n}' ? n : part;
    return text;
  }

  progress(): LoadProgress {
    const { attempted, connected, failed, sent, acked } = this.counts;
    return { started: attempted, connected, failed, sent, acked, errors: this.errors.total };
  }

  /** Ends the run early; the result counts what did not finish as missing. */
  stop(): void {
    this.stopController.abort();
    for (const client of this.clients) {
      client.release();
      client.cancelDial();
    }
  }

  get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Resolves after `ms`, or at once when the run is stopped or `until` settles. */
  /**
   * Sleeps until `at` (a performance.now() time), or a stop. A timer counts from the event loop's
   * clock, read when this turn of the loop began, so one set late in a long turn wakes early by that
   * much: then it sleeps the rest.
   */
  private async sleepUntil(at: number): Promise<void> {
    let left = at - performance.now();
    while (left > 0 && !this.stopped) {
      await this.sleep(left);
      left = at - performance.now();
    }
  }

  sleep(ms: number, until?: Promise<void>): Promise<void> {
    // Equivalent mutants: `ms <= 0` as `false` or `ms < 0` (a timer of 0 ms fires at once too), and the
    // stop check dropped (every caller checks for a stop after it wakes).
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.stopController.signal;
      function done(): void {
        clearTimeout(timer);
        // Stryker disable next-line StringLiteral: a listener left behind only calls done() again, which does nothing
        signal.removeEventListener('abort', done);
        resolve();
      }
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: done() twice is done() once
      signal.addEventListener('abort', done, { once: true });
      void until?.then(done);
    });
  }

  async run(): Promise<LoadResult> {
    const { config } = this;
    const { start, size } = shareOf(config.clients, config.shard);
    this.startedAt = performance.now();
    try {
      this.addresses = await resolveHost(config.host);
    } catch (error) {
      this.lookupError = (error as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
    }
    // Closed loop: the duration cuts the run short. Open loop: it is the sending window (see runOpenLoop).
    const deadline = config.durationMs > 0 && config.rate === 0 ? setTimeout(() => this.stop(), config.durationMs) : undefined;
    for (let i = 0; i < size; i++) this.clients.push(new Client(start + i, this));
    // One sweep for every client's reply deadline: cheaper than a timer per message.
    const timeoutMs = config.replyTimeoutMs;
    const sweep = timeoutMs > 0
      ? setInterval(() => {
          const now = performance.now();
          for (const client of this.clients) client.checkReplyTimeout(now, timeoutMs);
        }, deadlineSweepMs(timeoutMs))
      : undefined;
    try {
      if (config.rate > 0) await this.runOpenLoop();
      else await Promise.all(this.clients.map((client) => this.runClosedLoop(client)));
    } finally {
      clearTimeout(deadline);
      clearInterval(sweep);
      for (const client of this.clients) client.abort();
    }
    return this.result();
  }

  private localAddress(index: number): string | undefined {
    const sources = this.config.sourceAddresses;
    return sources?.[index % sources.length];
  }

  private async runClosedLoop(client: Client): Promise<void> {
    const { config } = this;
    // The stagger counts from the run's start, so the time the lookup took is not added to it.
    await this.sleepUntil(this.startedAt + client.index * config.staggerMs);
    this.counts.planned += config.messagesPerClient;
    if (this.stopped || !(await client.connect(this.localAddress(client.index)))) return;
    await client.sendAll(config.messagesPerClient, config.pipeline);
    await client.finish(config.holdMs);
  }

  private async runOpenLoop(): Promise<void> {
    const { config, clients } = this;
    if (clients.length === 0) return;
    // Connect everyone first, staggered; the schedule starts when the last client had its chance.
    const start = performance.now();
    await Promise.all(
      clients.map(async (client, k) => {
        await this.sleepUntil(start + k * config.staggerMs);
        if (!this.stopped) await client.connect(this.localAddress(client.index));
      }),
    );
    const intervalMs = 1000 / (config.rate / (config.shard?.count ?? 1));
    const total = config.durationMs > 0 ? Math.floor(config.durationMs / intervalMs) : clients.length * config.messagesPerClient;
    const t0 = performance.now();
    const sentPerClient = new Array<number>(clients.length).fill(0);
    let k = 0;
    while (k < total && !this.stopped) {
      const now = performance.now();
      // Send everything whose intended time has come, each timed from its intended time.
      // Equivalent mutants: `<=` as `<`, and `k < total` as `k <= total` (a message due this very
      // millisecond goes now or a wake-up later: the same schedule; the outer loop ends at `total`).
      while (k < total && t0 + k * intervalMs <= now) {
        const slot = k % clients.length;
        const client = clients[slot];
        this.counts.planned++;
        // Equivalent mutant: the condition as `true` (send() on a dead client sends nothing).
        if (!client.dead) client.send(sentPerClient[slot]++, t0 + k * intervalMs);
        k++;
      }
      // Until the next message is due: any shorter sleep gives the same schedule, with more wake-ups
      // (equivalent mutants: `t0 - k`, `k / intervalMs`, which give a sleep of 1 ms).
      // Stryker disable next-line MethodExpression: Math.min(1, …) is such a shorter sleep
      await this.sleep(Math.max(1, t0 + k * intervalMs - performance.now()));
    }
    // Let the last acks arrive, within the reply timeout.
    const settleBy = performance.now() + (config.replyTimeoutMs || END_WAIT_WITHOUT_TIMEOUT_MS);
    // Equivalent mutants: `< settleBy` as `<=`, or as `true` when the reply timeout is set (its sweep fails
    // a client that waits that long anyway). With a reply timeout of 0 it is what ends the wait (LOAD-040).
    while (!this.stopped && clients.some((c) => c.outstanding > 0 && !c.dead) && performance.now() < settleBy) await this.sleep(5);
    await Promise.all(clients.map((client) => client.finish(config.holdMs)));
  }

  private result(): LoadResult {
    const { config, counts } = this;
    const durationMs = performance.now() - this.startedAt;
    const missing = counts.sent - counts.acked - counts.mismatched;
    // Every failed connection and every lost one is in the error tally, so these say it all.
    const ok = this.errors.total === 0 && counts.mismatched === 0 && missing === 0 && counts.extra === 0 && counts.sent === counts.planned;
    return {
      kind: LOAD_KIND,
      target: formatHostPort(config.host, config.port),
      transport: config.transport ?? DEFAULT_TRANSPORT,
      clients: { attempted: counts.attempted, connected: counts.connected, failed: counts.failed },
      messages: { planned: counts.planned, sent: counts.sent, acked: counts.acked, mismatched: counts.mismatched, missing, extra: counts.extra },
      errors: { ...this.errors.counts },
      errorSamples: [...this.errors.samples, ...this.mismatchSamples],
      latency: { connect: this.connectLatency.summary(), ack: this.ackLatency.summary() },
      durationMs: Math.round(durationMs),
      // A run takes time: performance.now() moves on between its start and its result.
      acksPerSecond: Math.round((counts.acked * 1000) / durationMs),
      ...(config.shard ? { shard: config.shard } : {}),
      stopped: this.stopped,
      ok,
    };
  }
}

/** Runs a load to completion and returns its result. */
export function runLoad(options: LoadOptions = {}): Promise<LoadResult> {
  return new LoadRun(options).run();
}
