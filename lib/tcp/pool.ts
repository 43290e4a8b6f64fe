// The bounded-concurrency core both pool servers share: at most `workers` connections are handled at
// once, at most `queue` more wait for a worker, and the next one is refused at once with the
// handler's busy reply. A worker slot is held from the moment a connection starts being handled until
// its reply is in the kernel (or it failed), never released early. Deadlines run from accept, so time
// spent queued counts: a request not read by the read deadline gets the handler's timeout reply and is
// closed; a reply not flushed by the write deadline (a client that does not read) is cut off. Waits
// are timers and socket events, so the event loop keeps accepting, refusing and reporting while every
// worker is busy.
import net, { type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { listenOn } from '../net/listen.ts';
import { ServerBase } from '../net/server.ts';
import type { ErrorCounts, ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';
import { coded } from '../net/errors.ts';
import { ErrorTally } from '../results/tally.ts';
import { validatePoolOptions, type PoolConfig, type PoolOptions } from './options.ts';

export type { PoolOptions };

/** One connection as a handler sees it, from the moment a worker picks it up. */
export interface PoolConnection {
  readonly socket: Socket;
  /** `host:port` of the client. */
  readonly peer: string;
  readonly remoteAddress: string;
  readonly acceptedAt: number;
  /** Aborted when a deadline passes or the connection dies; every wait in a handler takes it. */
  readonly signal: AbortSignal;
  /**
   * Reads until `parse(bytes, ended)` returns a value. `parse` sees everything read so far and
   * whether the client has ended its writes; it returns undefined to ask for more. Rejects when the
   * read deadline passes or the client ends without `parse` returning a value.
   */
  readRequest<T>(parse: (bytes: Buffer, ended: boolean) => T | undefined): Promise<T>;
  /** Simulated work: a timer, so other connections are served meanwhile. */
  work(ms: number): Promise<void>;
  /** Writes the reply, half-closes, and resolves once the kernel has every byte. */
  reply(data: Buffer | string): Promise<void>;
}

export interface PoolHandler {
  /** Reads the request, works, replies. Resolving (or rejecting) frees the worker. */
  serve(connection: PoolConnection): Promise<void>;
  /** What a connection refused by a full queue receives before it is closed. */
  busyReply(): Buffer | string;
  /** What a connection whose request was not complete by its read deadline receives. */
  readTimeoutReply(): Buffer | string;
  /** The handler's own gauges, added to the pool's in stats(). */
  stats?(): object;
  /** Called once the server has closed, e.g. to close a journal. */
  close?(): Promise<void>;
}

export interface PoolStats {
  workers: number;
  queueLimit: number;
  /** Connections being handled now (never above workers). */
  active: number;
  /** Connections waiting for a worker now (never above queueLimit). */
  queued: number;
  /** Sockets open now: active, queued, refused or answered ones still closing. */
  open: number;
  peakActive: number;
  peakQueued: number;
  accepted: number;
  /** Connections served to the end: their reply is in the kernel. */
  completed: number;
  /** Connections refused because every worker was busy and the queue full. */
  rejected: number;
  /** Read plus write deadline expiries. */
  timedOut: number;
  readTimeouts: number;
  writeTimeouts: number;
  /** Handled connections that failed otherwise (client reset, ended early, handler error). */
  failed: number;
  errors: ErrorCounts;
}

export interface PoolServer extends ServerHandle {
  stats(): PoolStats;
}

/** Why a handled connection ended early: the deadline that passed, or the socket that died. */
export class ConnectionAborted extends Error {
  constructor(readonly code: 'EREADTIMEOUT' | 'EWRITETIMEOUT' | 'ECLOSED' | 'EENDED', message: string) {
    super(message);
    this.name = 'ConnectionAborted';
  }
}

/** An accepted connection: its deadlines, and what a handler sees of it once a worker picks it up. */
class Tracked implements PoolConnection {
  readonly controller = new AbortController();
  readonly acceptedAt = Date.now();
  readonly remoteAddress: string;
  /** The read phase is over: the request was read, or a deadline or the socket ended it. */
  readDone = false;
  flushed = false;
  // Stryker disable next-line ArrayDeclaration: clearTimeout of a value that is not a timer does nothing
  timers: NodeJS.Timeout[] = [];

  constructor(
    readonly socket: Socket,
    readonly peer: string,
  ) {
    // Stryker disable next-line StringLiteral: remoteAddress is undefined only for a socket already gone at accept
    this.remoteAddress = socket.remoteAddress ?? '?';
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  work(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.signal }).catch(() => {
      throw this.signal.reason;
    });
  }

  readRequest<T>(parse: (bytes: Buffer, ended: boolean) => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { socket, controller } = this;
      let bytes: Buffer = Buffer.alloc(0);
      const finish = (error: unknown, value?: T): void => {
        // Stryker disable StringLiteral: what these listeners would do once reading is over, the reply's linger (it replaces 'data') or the socket's close makes moot
        socket.removeListener('data', onData);
        socket.removeListener('end', onEnd);
        controller.signal.removeEventListener('abort', onAbort);
        // Stryker restore StringLiteral
        socket.pause();
        this.readDone = true;
        if (error) reject(error);
        else resolve(value as T);
      };
      const attempt = (ended: boolean): void => {
        let value: T | undefined;
        try {
          value = parse(bytes, ended);
        } catch (error) {
          return finish(error);
        }
        if (value !== undefined) finish(undefined, value);
        else if (ended) finish(new ConnectionAborted('EENDED', 'client ended before a complete request'));
      };
      const onData = (chunk: Buffer): void => {
        bytes = Buffer.concat([bytes, chunk]);
        attempt(false);
      };
      const onEnd = (): void => attempt(true);
      const onAbort = (): void => finish(controller.signal.reason);
      if (controller.signal.aborted) return onAbort();
      controller.signal.addEventListener('abort', onAbort);
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.resume();
    });
  }

  reply(data: Buffer | string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const { socket, signal } = this;
      if (signal.aborted) return reject(signal.reason);
      // A signal aborts once; after the flush its reject finds the promise settled.
      signal.addEventListener('abort', () => reject(signal.reason));
      socket.end(data, () => {
        this.flushed = true;
        resolve();
      });
    });
  }
}

class PoolServerImpl extends ServerBase implements PoolServer {
  private readonly errors = new ErrorTally();
  private readonly counters = { peakActive: 0, peakQueued: 0, accepted: 0, completed: 0, rejected: 0, readTimeouts: 0, writeTimeouts: 0, failed: 0 };
  private readonly sockets = new Set<Socket>();
  private readonly waiting: Tracked[] = [];
  private readonly log: ((line: string) => void) | undefined;
  private readonly server: net.Server;
  private active = 0;
  private stopping = false;

  constructor(
    private readonly handler: PoolHandler,
    private readonly config: PoolConfig,
  ) {
    super();
    this.log = config.log;
    // pauseOnConnect: a queued connection's bytes stay in the kernel until a worker reads them.
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.onConnection(socket));
    // An accept error comes only at the descriptor limit; without a listener it would crash the server.
    // Stryker disable next-line all: a spec reaches that limit only in a child process, which Stryker's coverage does not see
    this.server.on('error', (error) => this.log?.(`[ERROR] accept - ${this.errors.add(error, 'accept')}`));
  }

  readonly stats = (): PoolStats => ({
    workers: this.config.workers,
    queueLimit: this.config.queue,
    active: this.active,
    queued: this.waiting.length,
    open: this.sockets.size,
    ...this.counters,
    timedOut: this.counters.readTimeouts + this.counters.writeTimeouts,
    errors: { ...this.errors.counts },
    ...this.handler.stats?.(),
  });

  async listen(): Promise<void> {
    const address = await listenOn(this.server, this.config);
    this.host = address.host;
    this.port = address.port;
  }

  private onConnection(socket: Socket): void {
    const { config, counters } = this;
    // Stryker disable next-line StringLiteral: remoteAddress is undefined only for a socket already gone at accept
    const peer = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {}); // counted where it matters: by the worker holding the socket
    // Stryker disable next-line BooleanLiteral: Nagle's algorithm shows only as latency on a reply written in pieces
    socket.setNoDelay(true);
    if (this.stopping || (this.active >= config.workers && this.waiting.length >= config.queue)) {
      counters.rejected++;
      this.log?.(`[REJECT] ${peer} - ${this.active} busy, ${this.waiting.length} queued`);
      return this.closeWith(socket, this.handler.busyReply());
    }
    counters.accepted++;
    const conn = new Tracked(socket, peer);
    conn.timers.push(setTimeout(() => this.onReadDeadline(conn), config.readDeadlineMs), setTimeout(() => this.onWriteDeadline(conn), config.writeDeadlineMs));
    socket.once('close', () => this.onClose(conn));
    this.log?.(`[ACCEPT] ${peer}`);
    if (this.active < config.workers) {
      void this.runWorker(conn);
    } else {
      this.waiting.push(conn);
      counters.peakQueued = Math.max(counters.peakQueued, this.waiting.length);
    }
  }

  // A queued socket is paused, so the kernel's news of a client that gave up waits until a worker
  // reads it (EENDED or ECLOSED then); only our own destroy closes a queued socket, and every path
  // that does takes it out of the queue first.
  private onClose(conn: Tracked): void {
    conn.clearTimers();
    conn.controller.abort(new ConnectionAborted('ECLOSED', 'connection closed')); // no-op when a deadline aborted it first
  }

  /** Takes `conn` out of the queue, if it is there. */
  private unqueue(conn: Tracked): void {
    const at = this.waiting.indexOf(conn);
    if (at !== -1) this.waiting.splice(at, 1);
  }

  private linger(socket: Socket): void {
    // Read and drop whatever else the client sends until its FIN (a flowing stream with no 'data'
    // listener drops what it reads; the request's reader removed its own), so closing never turns
    // unread request bytes into a reset that could destroy the reply before the client reads it.
    // Once the client ends too and our reply is flushed, the stream destroys itself (autoDestroy).
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), this.config.lingerMs);
    timer.unref();
    // Stryker disable next-line all: clearing the timer only lets go of a closed socket sooner; destroy() of a closed socket does nothing
    socket.once('close', () => clearTimeout(timer));
  }

  private closeWith(socket: Socket, data: Buffer | string): void {
    // Stryker disable next-line ConditionalExpression: a guard: every caller checked the socket, or it was just accepted
    if (socket.destroyed) return;
    socket.end(data);
    this.linger(socket);
  }

  private onReadDeadline(conn: Tracked): void {
    if (conn.readDone || conn.socket.destroyed) return;
    this.counters.readTimeouts++;
    this.log?.(`[TIMEOUT] ${conn.peer} request not read within ${this.config.readDeadlineMs}ms of accept`);
    this.unqueue(conn);
    conn.controller.abort(new ConnectionAborted('EREADTIMEOUT', 'read deadline passed'));
    conn.clearTimers();
    this.closeWith(conn.socket, this.handler.readTimeoutReply());
  }

  private onWriteDeadline(conn: Tracked): void {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: a guard: the timers are cleared on every path that flushes or closes
    if (conn.flushed || conn.socket.destroyed) return;
    this.counters.writeTimeouts++;
    this.log?.(`[TIMEOUT] ${conn.peer} reply not delivered within ${this.config.writeDeadlineMs}ms of accept`);
    this.unqueue(conn);
    conn.controller.abort(new ConnectionAborted('EWRITETIMEOUT', 'write deadline passed'));
    conn.socket.destroy();
  }

  private async runWorker(conn: Tracked): Promise<void> {
    this.active++;
    this.counters.peakActive = Math.max(this.counters.peakActive, this.active);
    try {
      await this.handler.serve(conn);
      // Stryker disable next-line StringLiteral: the message is kept nowhere the pool reports; its stats and log give the code
      if (!conn.flushed) throw coded('ENOREPLY', 'handler finished without replying');
      this.counters.completed++;
      this.log?.(`[DONE] ${conn.peer} in ${Date.now() - conn.acceptedAt}ms`);
      conn.clearTimers();
      this.linger(conn.socket);
    } catch (error) {
      this.failed(conn, error);
    } finally {
      this.active--;
      this.pump();
    }
  }

  /** A handled connection that did not complete: counted (unless a deadline already counted it) and closed. */
  private failed(conn: Tracked, error: unknown): void {
    const aborted = conn.signal.aborted ? conn.signal.reason : error;
    const code = aborted instanceof ConnectionAborted ? aborted.code : undefined;
    if (code !== 'EREADTIMEOUT' && code !== 'EWRITETIMEOUT') {
      this.counters.failed++;
      const tallied = this.errors.add(code ? aborted : error, conn.peer);
      this.log?.(`[ERROR] ${conn.peer} - ${tallied}`);
    }
    conn.clearTimers();
    if (!conn.socket.destroyed && code !== 'EREADTIMEOUT') conn.socket.destroy();
  }

  private pump(): void {
    while (this.active < this.config.workers && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      // Stryker disable next-line ConditionalExpression: a guard: a closed connection leaves the queue at its close event
      if (next.socket.destroyed) continue;
      void this.runWorker(next);
    }
  }

  protected override stopAccepting(): Promise<void> {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  protected override onStop(): void {
    // Stryker disable next-line BooleanLiteral: a guard: the listener is closed by now, so no connection should arrive after it
    this.stopping = true;
    // Queued connections will not get a worker before the server goes: tell them so.
    for (const conn of this.waiting.splice(0)) {
      conn.clearTimers();
      this.counters.rejected++;
      this.closeWith(conn.socket, this.handler.busyReply());
    }
  }

  protected override openCount(): number {
    return this.sockets.size;
  }

  protected override cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  protected override async onClosed(): Promise<void> {
    await this.handler.close?.();
  }
}

/** The pool server with `handler`; its stats() carry the handler's own gauges too. */
export async function startPoolServer(handler: PoolHandler, options: PoolOptions = {}): Promise<PoolServer> {
  const server = new PoolServerImpl(handler, validatePoolOptions(options));
  await server.listen();
  return server;
}
