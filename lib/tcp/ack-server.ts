// The event-driven ack server: one process, one event loop, one reply per message.
// With line framing (the default) every `\n`-terminated line gets exactly `ACK <line>\n`, in order,
// however TCP split or merged the bytes; with chunk framing it reproduces the prior art's
// `ACK from server` per read. Limits (line length, connections, idle time) answer with an error line and
// close only the offending connection, and a client that never reads its replies is paused, not buffered.
import { makeHandle } from '../net/listen.ts';
import { DEFAULT_TRANSPORT, checkTransport, listenConns, type Conn, type ConnEvents, type Transport } from '../net/conn.ts';
import { LineSplitter } from '../net/lines.ts';
import { ErrorTally, limitHint } from '../net/errors.ts';
import { FdLimitWatch } from '../net/fd-limit.ts';
import type { ErrorCounts, ServerHandle } from '../net/types.ts';

export type Framing = 'line' | 'chunk';

export interface AckServerOptions {
  host?: string;
  /** 0 (the default here) picks a free port; the CLI defaults to the prior art's 5000. */
  port?: number;
  framing?: Framing;
  /** Longest line accepted, in bytes; a longer one gets `ERR line too long` and its connection closes. */
  maxLineLength?: number;
  /** Most connections open at once; the next one gets `ERR too many connections` and is closed. 0: no limit. */
  maxConnections?: number;
  /** Close a connection that sent nothing for this long (ms). 0: never. */
  idleTimeoutMs?: number;
  /** Stop reading from a connection while this many reply bytes wait to be sent to it. */
  maxPendingReplyBytes?: number;
  /** Receives the prior art's `[CONNECT]`, `[DATA]`, `[DISCONNECT]`, `[ERROR]` lines. */
  log?: (line: string) => void;
  /** What carries the connections: bare libuv handles (the default where Node has them) or net sockets. */
  transport?: Transport;
}

export interface AckServerStats {
  /** What carries the connections: `libuv` handles or `net` sockets. */
  transport: Transport;
  /** Connections open now. */
  open: number;
  accepted: number;
  /** Connections turned away by maxConnections. */
  rejected: number;
  messages: number;
  acks: number;
  /** Times a connection was paused because its replies were not being read. */
  paused: number;
  /** The most reply bytes ever waiting in the server for one connection (bounded by maxPendingReplyBytes plus one read's replies). */
  peakPendingReplyBytes: number;
  bytesIn: number;
  bytesOut: number;
  errors: ErrorCounts;
}

export interface AckServer extends ServerHandle {
  stats(): AckServerStats;
}

export const PRIOR_ART_ACK_TEXT = 'ACK from server';
export const PRIOR_ART_ACK = Buffer.from(PRIOR_ART_ACK_TEXT);
const ERR_TOO_LONG = 'ERR line too long\n';
const ERR_TOO_MANY = 'ERR too many connections\n';
const ERR_IDLE = 'ERR idle timeout\n';
const CLOSE_LINGER_MS = 5000;

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  framing: 'line' as Framing,
  maxLineLength: 64 * 1024,
  maxConnections: 0,
  idleTimeoutMs: 0,
  maxPendingReplyBytes: 256 * 1024,
};

export function validateAckServerOptions(options: AckServerOptions): Required<Omit<AckServerOptions, 'log' | 'transport'>> & Pick<AckServerOptions, 'log' | 'transport'> {
  const merged = { ...DEFAULTS, ...options };
  if (merged.framing !== 'line' && merged.framing !== 'chunk') throw new RangeError(`framing must be line or chunk, not ${merged.framing}`);
  for (const key of ['maxLineLength', 'maxConnections', 'idleTimeoutMs', 'maxPendingReplyBytes', 'port'] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < 0) throw new RangeError(`${key} must be a whole number >= 0`);
  }
  if (merged.maxLineLength < 1) throw new RangeError('maxLineLength must be at least 1');
  checkTransport(merged.transport);
  return merged;
}

interface AckConnState {
  splitter?: LineSplitter;
  onLine?: (bytes: Buffer, start: number, end: number) => void;
  /** The replies to the read being handled. */
  batch: string;
  /** Replies are not being read: reading stopped until they drain. */
  paused: boolean;
  /** An error line was sent and the connection is closing: what else arrives is dropped. */
  closing: boolean;
  lastActivity: number;
}

export async function startAckServer(options: AckServerOptions = {}): Promise<AckServer> {
  const config = validateAckServerOptions(options);
  const log = config.log;
  const errors = new ErrorTally();
  const counters = { accepted: 0, rejected: 0, messages: 0, acks: 0, paused: 0, peakPendingReplyBytes: 0, bytesIn: 0, bytesOut: 0 };
  const conns = new Set<Conn>();
  const fdWatch = new FdLimitWatch();
  const stateOf = (conn: Conn): AckConnState => conn.state as AckConnState;

  const fail = (peer: string, code: string, error?: Error): void => {
    errors.add(error ?? { code }, peer);
    log?.(`[ERROR] ${peer} - ${code}`);
  };

  const reply = (conn: Conn, data: string): void => {
    counters.bytesOut += data.length;
    conn.write(data);
    const pending = conn.pending;
    if (pending > counters.peakPendingReplyBytes) counters.peakPendingReplyBytes = pending;
    const state = stateOf(conn);
    if (pending > config.maxPendingReplyBytes && !state.paused) {
      // The client is not reading: stop reading its requests until the replies drain.
      state.paused = true;
      conn.pause();
      counters.paused++;
    }
  };

  const closeWith = (conn: Conn, message: string): void => {
    counters.bytesOut += message.length;
    const state = stateOf(conn);
    // Whatever else it sends is read and dropped, so its FIN still reaches us and the connection
    // closes; a peer that never closes its side is cut off after a short linger.
    state.closing = true;
    conn.end(message);
    if (state.paused) conn.resume();
    setTimeout(() => conn.destroy(), CLOSE_LINGER_MS).unref();
  };

  const onLines = (conn: Conn, state: AckConnState, chunk: Buffer): void => {
    // Every line this read finished is answered, and the answers leave in one write.
    state.batch = '';
    const overflow = state.splitter!.each(chunk, state.onLine!);
    if (state.batch !== '') reply(conn, state.batch);
    state.batch = '';
    if (overflow < 0) return;
    errors.add({ code: 'ELINETOOLONG' }, conn.peer);
    log?.(`[ERROR] ${conn.peer} - line too long (over ${config.maxLineLength} bytes)`);
    closeWith(conn, ERR_TOO_LONG);
  };

  /** Answers one line into the connection's batch (called by its splitter, bytes[start, end) is the line). */
  const lineHandler = (conn: Conn, state: AckConnState) => (bytes: Buffer, start: number, end: number): void => {
    counters.messages++;
    if (log) log(`[DATA] ${conn.peer} sent: ${preview(bytes.subarray(start, end))}`);
    state.batch += `ACK ${bytes.toString('latin1', start, end)}\n`;
    counters.acks++;
  };

  const events: ConnEvents = {
    data(conn, chunk) {
      const state = stateOf(conn);
      if (state.closing) return;
      counters.bytesIn += chunk.length;
      if (config.idleTimeoutMs > 0) state.lastActivity = performance.now();
      if (state.splitter) return onLines(conn, state, chunk);
      counters.messages++;
      log?.(`[DATA] ${conn.peer} sent: ${preview(chunk)}`);
      reply(conn, PRIOR_ART_ACK_TEXT);
      counters.acks++;
    },
    // A client may end its writes and still read: answer what came, then close our side.
    end: (conn) => conn.end(),
    error: (conn, code, error) => fail(conn.peer, code, error),
    close(conn) {
      conns.delete(conn);
      log?.(`[DISCONNECT] ${conn.peer} disconnected`);
    },
    drain(conn) {
      const state = stateOf(conn);
      if (!state.paused) return;
      state.paused = false;
      conn.resume();
    },
  };

  const onConnection = (conn: Conn): void => {
    // Asked now, while the kernel knows it: after a reset the peer's address is gone, and error
    // samples should still say who it was.
    void conn.peer;
    conn.state = { splitter: undefined, batch: '', paused: false, closing: false, lastActivity: performance.now() } satisfies AckConnState;
    if (config.maxConnections > 0 && conns.size >= config.maxConnections) {
      counters.rejected++;
      log?.(`[REJECT] ${conn.peer} - too many connections (${conns.size} open)`);
      closeWith(conn, ERR_TOO_MANY);
      return;
    }
    counters.accepted++;
    conns.add(conn);
    log?.(`[CONNECT] ${conn.peer} connected`);
    if (fdWatch.check(conns.size)) {
      // From here the OS refuses accepts and libuv closes those connections without telling Node.
      errors.add({ code: 'EMFILE', message: `at the file-descriptor limit (${fdWatch.softLimit})` }, 'accept');
      (log ?? console.error)(`[ERROR] accept - EMFILE: at the file-descriptor limit (${fdWatch.softLimit} open files); new connections are closed until some end. ${limitHint('EMFILE')}`);
    }
    if (config.framing === 'line') {
      const state = stateOf(conn);
      state.splitter = new LineSplitter(config.maxLineLength, { reusedInput: true });
      state.onLine = lineHandler(conn, state);
    }
  };

  const listener = await listenConns({
    host: config.host,
    port: config.port,
    events,
    onConnection,
    onAcceptError: (code, error) => fail('accept', code, error),
    transport: config.transport,
  });
  const transport = config.transport ?? DEFAULT_TRANSPORT;

  // One sweep closes idle connections: cheaper than a timer per connection, checked a few times per period.
  const idleSweep = config.idleTimeoutMs > 0
    ? setInterval(() => {
        const now = performance.now();
        for (const conn of conns) {
          const state = stateOf(conn);
          if (state.closing || now - state.lastActivity < config.idleTimeoutMs) continue;
          log?.(`[TIMEOUT] ${conn.peer} idle for ${config.idleTimeoutMs}ms`);
          closeWith(conn, ERR_IDLE);
        }
      }, Math.max(10, Math.min(1000, config.idleTimeoutMs / 4))).unref()
    : undefined;

  const base = makeHandle(listener, listener, conns, {
    // Graceful stop: finish the replies already written, then FIN every connection.
    onStop: () => {
      clearInterval(idleSweep);
      for (const conn of conns) conn.end();
    },
  });
  return {
    ...base,
    stats: () => ({ transport, open: conns.size, ...counters, errors: { ...errors.counts } }),
  };
}

/** A line as a log shows it: text with invalid bytes replaced, at most 200 characters. */
function preview(bytes: Buffer): string {
  const text = bytes.subarray(0, 200).toString('utf8').replace(/[\r\n]/g, ' ');
  return bytes.length > 200 ? `${text}...` : text;
}
