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
import { listenOn, makeHandle } from '../net/listen.ts';
import { ErrorTally } from '../net/errors.ts';
import type { ErrorCounts, ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';

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
}

export interface PoolOptions {
  host?: string;
  /** 0 (the default here) picks a free port. */
  port?: number;
  /** Connections handled at once. */
  workers?: number;
  /** Accepted connections that may wait for a worker; past that they are refused at once. 0: none wait. */
  queue?: number;
  /** From accept: the whole request must have arrived by then (ms). */
  readDeadlineMs?: number;
  /** From accept: the whole reply must be in the kernel by then (ms). */
  writeDeadlineMs?: number;
  /** After its reply, how long a connection may linger for the client to close before it is cut (ms). */
  lingerMs?: number;
  backlog?: number;
  /** Receives `[ACCEPT]`, `[REJECT]`, `[TIMEOUT]`, `[DONE]`, `[ERROR]` lines. */
  log?: (line: string) => void;
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

export const POOL_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  workers: 10,
  queue: 10,
  readDeadlineMs: 10_000,
  writeDeadlineMs: 10_000,
  lingerMs: 2000,
  backlog: 511,
};

type Config = typeof POOL_DEFAULTS & Pick<PoolOptions, 'log'>;

export function validatePoolOptions(options: PoolOptions): Config {
  const merged = { ...POOL_DEFAULTS, ...stripUndefined(options) };
  for (const key of ['port', 'queue', 'lingerMs', 'backlog'] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < 0) throw new RangeError(`${key} must be a whole number >= 0, not ${merged[key]}`);
  }
  for (const key of ['workers', 'readDeadlineMs', 'writeDeadlineMs'] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < 1) throw new RangeError(`${key} must be a whole number >= 1, not ${merged[key]}`);
  }
  return merged;
}

/** Why a handled connection ended early: the deadline that passed, or the socket that died. */
export class ConnectionAborted extends Error {
  constructor(readonly code: 'EREADTIMEOUT' | 'EWRITETIMEOUT' | 'ECLOSED' | 'EENDED', message: string) {
    super(message);
    this.name = 'ConnectionAborted';
  }
}

interface Tracked {
  socket: Socket;
  peer: string;
  acceptedAt: number;
  controller: AbortController;
  readDone: boolean;
  flushed: boolean;
  timers: NodeJS.Timeout[];
}

export async function startPoolServer(handler: PoolHandler, options: PoolOptions = {}): Promise<PoolServer> {
  const config = validatePoolOptions(options);
  const log = config.log;
  const errors = new ErrorTally();
  const counters = { peakActive: 0, peakQueued: 0, accepted: 0, completed: 0, rejected: 0, readTimeouts: 0, writeTimeouts: 0, failed: 0 };
  const sockets = new Set<Socket>();
  const waiting: Tracked[] = [];
  let active = 0;
  let stopping = false;

  const linger = (socket: Socket): void => {
    // Read and drop whatever else the client sends until its FIN, so closing never turns unread
    // request bytes into a reset that could destroy the reply before the client reads it.
    socket.removeAllListeners('data');
    socket.on('data', () => {});
    // Once the client ends too and our reply is flushed, the stream destroys itself (autoDestroy).
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), config.lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };

  const closeWith = (socket: Socket, data: Buffer | string): void => {
    if (socket.destroyed) return;
    socket.end(data);
    linger(socket);
  };

  const clearTimers = (conn: Tracked): void => {
    for (const timer of conn.timers) clearTimeout(timer);
    conn.timers = [];
  };

  const onReadDeadline = (conn: Tracked): void => {
    if (conn.readDone || conn.socket.destroyed) return;
    counters.readTimeouts++;
    log?.(`[TIMEOUT] ${conn.peer} request not read within ${config.readDeadlineMs}ms of accept`);
    const queuedAt = waiting.indexOf(conn);
    if (queuedAt !== -1) waiting.splice(queuedAt, 1);
    conn.controller.abort(new ConnectionAborted('EREADTIMEOUT', 'read deadline passed'));
    clearTimers(conn);
    closeWith(conn.socket, handler.readTimeoutReply());
  };

  const onWriteDeadline = (conn: Tracked): void => {
    if (conn.flushed || conn.socket.destroyed) return;
    counters.writeTimeouts++;
    log?.(`[TIMEOUT] ${conn.peer} reply not delivered within ${config.writeDeadlineMs}ms of accept`);
    conn.controller.abort(new ConnectionAborted('EWRITETIMEOUT', 'write deadline passed'));
    conn.socket.destroy();
  };

  const connectionFor = (conn: Tracked): PoolConnection => ({
    socket: conn.socket,
    peer: conn.peer,
    remoteAddress: conn.socket.remoteAddress ?? '?',
    acceptedAt: conn.acceptedAt,
    signal: conn.controller.signal,
    readRequest: (parse) => readRequest(conn, parse),
    work: (ms) => sleep(ms, undefined, { signal: conn.controller.signal }).catch(() => {
      throw conn.controller.signal.reason;
    }),
    reply: (data) => reply(conn, data),
  });

  const readRequest = <T>(conn: Tracked, parse: (bytes: Buffer, ended: boolean) => T | undefined): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const { socket, controller } = conn;
      let bytes: Buffer = Buffer.alloc(0);
      const finish = (error: unknown, value?: T): void => {
        socket.removeListener('data', onData);
        socket.removeListener('end', onEnd);
        controller.signal.removeEventListener('abort', onAbort);
        socket.pause();
        // The read phase is over unless a deadline or the socket ended it: a bad request is still read.
        if (!controller.signal.aborted) conn.readDone = true;
        if (error) reject(error);
        else resolve(value as T);
      };
      const attempt = (ended: boolean): void => {
        let value: T | undefined;
        try {
          value = parse(bytes, ended);
        } catch (error) {
          finish(error);
          return;
        }
        if (value !== undefined) finish(undefined, value);
        else if (ended) finish(new ConnectionAborted('EENDED', 'client ended before a complete request'));
      };
      const onData = (chunk: Buffer): void => {
        bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk]);
        attempt(false);
      };
      const onEnd = (): void => attempt(true);
      const onAbort = (): void => finish(controller.signal.reason);
      if (controller.signal.aborted) return onAbort();
      controller.signal.addEventListener('abort', onAbort, { once: true });
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.resume();
    });

  const reply = (conn: Tracked, data: Buffer | string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const { socket, controller } = conn;
      if (controller.signal.aborted) return reject(controller.signal.reason);
      const onAbort = (): void => reject(controller.signal.reason);
      controller.signal.addEventListener('abort', onAbort, { once: true });
      socket.end(data, () => {
        controller.signal.removeEventListener('abort', onAbort);
        conn.flushed = true;
        resolve();
      });
    });

  const runWorker = async (conn: Tracked): Promise<void> => {
    active++;
    counters.peakActive = Math.max(counters.peakActive, active);
    try {
      await handler.serve(connectionFor(conn));
      if (!conn.flushed) throw new Error('handler finished without replying');
      counters.completed++;
      log?.(`[DONE] ${conn.peer} in ${Date.now() - conn.acceptedAt}ms`);
      clearTimers(conn);
      linger(conn.socket);
    } catch (error) {
      const aborted = conn.controller.signal.aborted ? conn.controller.signal.reason : error;
      const code = aborted instanceof ConnectionAborted ? aborted.code : undefined;
      if (code !== 'EREADTIMEOUT' && code !== 'EWRITETIMEOUT') {
        counters.failed++;
        const tallied = errors.add(code ? aborted : error, conn.peer);
        log?.(`[ERROR] ${conn.peer} - ${tallied}`);
      }
      clearTimers(conn);
      if (!conn.socket.destroyed && code !== 'EREADTIMEOUT') conn.socket.destroy();
    } finally {
      active--;
      pump();
    }
  };

  const pump = (): void => {
    while (active < config.workers && waiting.length > 0) {
      const next = waiting.shift()!;
      if (next.socket.destroyed) continue;
      void runWorker(next);
    }
  };

  const onConnection = (socket: Socket): void => {
    const peer = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // counted where it matters: by the worker holding the socket
    socket.setNoDelay(true);
    if (stopping || (active >= config.workers && waiting.length >= config.queue)) {
      counters.rejected++;
      log?.(`[REJECT] ${peer} - ${active} busy, ${waiting.length} queued`);
      closeWith(socket, handler.busyReply());
      return;
    }
    counters.accepted++;
    const conn: Tracked = { socket, peer, acceptedAt: Date.now(), controller: new AbortController(), readDone: false, flushed: false, timers: [] };
    conn.timers.push(setTimeout(() => onReadDeadline(conn), config.readDeadlineMs), setTimeout(() => onWriteDeadline(conn), config.writeDeadlineMs));
    socket.once('close', () => {
      clearTimers(conn);
      const queuedAt = waiting.indexOf(conn);
      if (queuedAt !== -1) {
        // Gave up while waiting: nobody will serve it, and it no longer holds a place in the queue.
        waiting.splice(queuedAt, 1);
        counters.failed++;
        errors.add({ code: 'ECLOSEDQUEUED' }, peer);
      }
      if (!conn.controller.signal.aborted) conn.controller.abort(new ConnectionAborted('ECLOSED', 'connection closed'));
    });
    log?.(`[ACCEPT] ${peer}`);
    if (active < config.workers) {
      void runWorker(conn);
    } else {
      waiting.push(conn);
      counters.peakQueued = Math.max(counters.peakQueued, waiting.length);
    }
  };

  // pauseOnConnect: a queued connection's bytes stay in the kernel until a worker reads them.
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, onConnection);
  server.on('error', (error) => {
    const code = errors.add(error, 'accept');
    log?.(`[ERROR] accept - ${code}`);
  });
  const address = await listenOn(server, config);
  const base = makeHandle(server, address, sockets, {
    onStop: () => {
      stopping = true;
      // Queued connections will not get a worker before the server goes: tell them so.
      for (const conn of waiting.splice(0)) {
        clearTimers(conn);
        counters.rejected++;
        closeWith(conn.socket, handler.busyReply());
      }
    },
  });
  return {
    ...base,
    stats: () => ({
      workers: config.workers,
      queueLimit: config.queue,
      active,
      queued: waiting.length,
      open: sockets.size,
      ...counters,
      timedOut: counters.readTimeouts + counters.writeTimeouts,
      errors: { ...errors.counts },
    }),
  };
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
