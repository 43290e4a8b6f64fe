// The event-driven ack server: one process, one event loop, one reply per message.
// With line framing (the default) every `\n`-terminated line gets exactly `ACK <line>\n`, in order,
// however TCP split or merged the bytes; with chunk framing it reproduces the prior art's
// `ACK from server` per read. Limits (line length, connections, idle time) answer with an error line and
// close only the offending connection, and a client that never reads its replies is paused, not buffered.
import { DEFAULT_TRANSPORT, listenConns, type Conn, type ConnEvents, type ConnListener, type Transport } from '../net/conn.ts';
import { limitHint } from '../net/errors.ts';
import { FdLimitWatch } from '../net/fd-limit.ts';
import { LineSplitter } from '../net/lines.ts';
import { ServerBase } from '../net/server.ts';
import type { ErrorCounts, ServerHandle } from '../net/types.ts';
import { ErrorTally } from '../results/tally.ts';
import { validateAckServerOptions, type AckServerConfig, type AckServerOptions } from './options.ts';
import { ERR_IDLE_TIMEOUT, ERR_LINE_TOO_LONG, ERR_TOO_MANY_CONNECTIONS, PRIOR_ART_ACK_TEXT, type Framing } from './ack-protocol.ts';

export type { AckServerOptions, Framing };

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

/** How long a connection closed with an error line may take to send its FIN before it is cut (ms). */
const CLOSE_LINGER_MS = 5000;

/** One connection's state. */
class AckConn {
  /** The replies to the read being handled. */
  batch = '';
  /** Replies are not being read: reading stopped until they drain. */
  paused = false;
  /** An error line was sent and the connection is closing: what else arrives is dropped. */
  closing = false;
  lastActivity = performance.now();
  splitter: LineSplitter | undefined = undefined;
  /** Called by the splitter for each line, bytes[start, end): the line's ack goes into the batch. */
  onLine: (bytes: Buffer, start: number, end: number) => void = () => {};
}

const stateOf = (conn: Conn): AckConn => conn.state as AckConn;

/** A line as a log shows it: text with invalid bytes replaced, at most 200 characters. */
function preview(bytes: Buffer): string {
  const text = bytes.subarray(0, 200).toString('utf8').replace(/[\r\n]/g, ' ');
  return bytes.length > 200 ? `${text}...` : text;
}

class AckServerImpl extends ServerBase implements AckServer {
  private readonly errors = new ErrorTally();
  private readonly counters = { accepted: 0, rejected: 0, messages: 0, acks: 0, paused: 0, peakPendingReplyBytes: 0, bytesIn: 0, bytesOut: 0 };
  private readonly conns = new Set<Conn>();
  private readonly fdWatch = new FdLimitWatch();
  private readonly log: ((line: string) => void) | undefined;
  private listener: ConnListener | undefined = undefined;
  private idleSweep: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly config: AckServerConfig) {
    super();
    this.log = config.log;
  }

  readonly stats = (): AckServerStats => ({
    transport: this.config.transport ?? DEFAULT_TRANSPORT,
    open: this.conns.size,
    ...this.counters,
    errors: { ...this.errors.counts },
  });

  async listen(): Promise<void> {
    const { config } = this;
    const events: ConnEvents = {
      data: (conn, chunk) => this.onData(conn, chunk),
      // A client may end its writes and still read: answer what came, then close our side.
      end: (conn) => conn.end(),
      error: (conn, code, error) => this.fail(conn.peer, code, error),
      close: (conn) => {
        this.conns.delete(conn);
        this.log?.(`[DISCONNECT] ${conn.peer} disconnected`);
      },
      drain: (conn) => this.onDrain(conn),
    };
    this.listener = await listenConns({
      host: config.host,
      port: config.port,
      events,
      onConnection: (conn) => this.onConnection(conn),
      onAcceptError: (code, error) => this.fail('accept', code, error),
      transport: config.transport,
    });
    this.host = this.listener.host;
    this.port = this.listener.port;
    // One sweep closes idle connections: cheaper than a timer per connection, checked a few times per period.
    if (config.idleTimeoutMs > 0) this.idleSweep = setInterval(() => this.sweepIdle(), Math.max(10, Math.min(1000, config.idleTimeoutMs / 4))).unref();
  }

  private fail(peer: string, code: string, error?: Error): void {
    this.errors.add(error ?? { code }, peer);
    this.log?.(`[ERROR] ${peer} - ${code}`);
  }

  private onConnection(conn: Conn): void {
    const { config, counters, log } = this;
    // Asked now, while the kernel knows it: after a reset the peer's address is gone, and error
    // samples should still say who it was.
    void conn.peer;
    const state = new AckConn();
    conn.state = state;
    if (config.maxConnections > 0 && this.conns.size >= config.maxConnections) {
      counters.rejected++;
      log?.(`[REJECT] ${conn.peer} - too many connections (${this.conns.size} open)`);
      return this.closeWith(conn, ERR_TOO_MANY_CONNECTIONS);
    }
    counters.accepted++;
    this.conns.add(conn);
    log?.(`[CONNECT] ${conn.peer} connected`);
    if (this.fdWatch.check(this.conns.size)) {
      // From here the OS refuses accepts and libuv closes those connections without telling Node.
      const limit = this.fdWatch.softLimit;
      this.errors.add({ code: 'EMFILE', message: `at the file-descriptor limit (${limit})` }, 'accept');
      (log ?? console.error)(`[ERROR] accept - EMFILE: at the file-descriptor limit (${limit} open files); new connections are closed until some end. ${limitHint('EMFILE')}`);
    }
    if (config.framing === 'line') {
      state.splitter = new LineSplitter(config.maxLineLength, { reusedInput: true });
      state.onLine = (bytes, start, end) => this.answerLine(conn, state, bytes, start, end);
    }
  }

  private onData(conn: Conn, chunk: Buffer): void {
    const state = stateOf(conn);
    if (state.closing) return;
    this.counters.bytesIn += chunk.length;
    if (this.config.idleTimeoutMs > 0) state.lastActivity = performance.now();
    if (state.splitter) return this.onLines(conn, state, chunk);
    this.counters.messages++;
    this.log?.(`[DATA] ${conn.peer} sent: ${preview(chunk)}`);
    this.reply(conn, PRIOR_ART_ACK_TEXT);
    this.counters.acks++;
  }

  private onLines(conn: Conn, state: AckConn, chunk: Buffer): void {
    // Every line this read finished is answered, and the answers leave in one write.
    state.batch = '';
    const overflow = state.splitter!.each(chunk, state.onLine);
    if (state.batch !== '') this.reply(conn, state.batch);
    state.batch = '';
    if (overflow < 0) return;
    this.errors.add({ code: 'ELINETOOLONG' }, conn.peer);
    this.log?.(`[ERROR] ${conn.peer} - line too long (over ${this.config.maxLineLength} bytes)`);
    this.closeWith(conn, ERR_LINE_TOO_LONG);
  }

  /** Answers the line bytes[start, end) into the connection's batch. */
  private answerLine(conn: Conn, state: AckConn, bytes: Buffer, start: number, end: number): void {
    this.counters.messages++;
    if (this.log) this.log(`[DATA] ${conn.peer} sent: ${preview(bytes.subarray(start, end))}`);
    state.batch += `ACK ${bytes.toString('latin1', start, end)}\n`;
    this.counters.acks++;
  }

  private reply(conn: Conn, data: string): void {
    const { counters } = this;
    counters.bytesOut += data.length;
    conn.write(data);
    const pending = conn.pending;
    if (pending > counters.peakPendingReplyBytes) counters.peakPendingReplyBytes = pending;
    const state = stateOf(conn);
    if (pending > this.config.maxPendingReplyBytes && !state.paused) {
      // The client is not reading: stop reading its requests until the replies drain.
      state.paused = true;
      conn.pause();
      counters.paused++;
    }
  }

  private onDrain(conn: Conn): void {
    const state = stateOf(conn);
    if (!state.paused) return;
    state.paused = false;
    conn.resume();
  }

  private closeWith(conn: Conn, message: string): void {
    this.counters.bytesOut += message.length;
    const state = stateOf(conn);
    // Whatever else it sends is read and dropped, so its FIN still reaches us and the connection
    // closes; a peer that never closes its side is cut off after a short linger.
    state.closing = true;
    conn.end(message);
    if (state.paused) conn.resume();
    setTimeout(() => conn.destroy(), CLOSE_LINGER_MS).unref();
  }

  private sweepIdle(): void {
    const now = performance.now();
    const idleMs = this.config.idleTimeoutMs;
    for (const conn of this.conns) {
      const state = stateOf(conn);
      if (state.closing || now - state.lastActivity < idleMs) continue;
      this.log?.(`[TIMEOUT] ${conn.peer} idle for ${idleMs}ms`);
      this.closeWith(conn, ERR_IDLE_TIMEOUT);
    }
  }

  protected override stopAccepting(): Promise<void> {
    const listener = this.listener;
    return listener ? new Promise<void>((resolve) => listener.close(resolve)) : Promise.resolve();
  }

  /** Graceful stop: finish the replies already written, then FIN every connection. */
  protected override onStop(): void {
    clearInterval(this.idleSweep);
    for (const conn of this.conns) conn.end();
  }

  protected override openCount(): number {
    return this.conns.size;
  }

  protected override cutAll(): void {
    for (const conn of this.conns) conn.destroy();
  }
}

export async function startAckServer(options: AckServerOptions = {}): Promise<AckServer> {
  const server = new AckServerImpl(validateAckServerOptions(options));
  await server.listen();
  return server;
}
