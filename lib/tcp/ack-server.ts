// The event-driven ack server: one process, one event loop, one reply per message.
// With line framing (the default) every `\n`-terminated line gets exactly `ACK <line>\n`, in order,
// however TCP split or merged the bytes; with chunk framing it reproduces the prior art's
// `ACK from server` per read. Limits (line length, connections, idle time) answer with an error line and
// close only the offending connection, and a client that never reads its replies is paused, not buffered.
import net, { type Socket } from 'node:net';
import { listenOn, makeHandle } from '../net/listen.ts';
import { LineSplitter } from '../net/lines.ts';
import { ErrorTally, limitHint } from '../net/errors.ts';
import { FdLimitWatch } from '../net/fd-limit.ts';
import type { ErrorCounts, ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';

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
}

export interface AckServerStats {
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

export const PRIOR_ART_ACK = Buffer.from('ACK from server');
const ACK_PREFIX = Buffer.from('ACK ');
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

export function validateAckServerOptions(options: AckServerOptions): Required<Omit<AckServerOptions, 'log'>> & Pick<AckServerOptions, 'log'> {
  const merged = { ...DEFAULTS, ...options };
  if (merged.framing !== 'line' && merged.framing !== 'chunk') throw new RangeError(`framing must be line or chunk, not ${merged.framing}`);
  for (const key of ['maxLineLength', 'maxConnections', 'idleTimeoutMs', 'maxPendingReplyBytes', 'port'] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < 0) throw new RangeError(`${key} must be a whole number >= 0`);
  }
  if (merged.maxLineLength < 1) throw new RangeError('maxLineLength must be at least 1');
  return merged;
}

export async function startAckServer(options: AckServerOptions = {}): Promise<AckServer> {
  const config = validateAckServerOptions(options);
  const log = config.log;
  const errors = new ErrorTally();
  const counters = { accepted: 0, rejected: 0, messages: 0, acks: 0, paused: 0, peakPendingReplyBytes: 0, bytesIn: 0, bytesOut: 0 };
  const sockets = new Set<Socket>();
  const fdWatch = new FdLimitWatch();

  const fail = (peer: string, error: unknown): void => {
    const code = errors.add(error, peer);
    log?.(`[ERROR] ${peer} - ${code}`);
  };

  const reply = (socket: Socket, data: Buffer | string): void => {
    counters.bytesOut += data.length;
    socket.write(data);
    const pending = socket.writableLength;
    if (pending > counters.peakPendingReplyBytes) counters.peakPendingReplyBytes = pending;
    if (pending > config.maxPendingReplyBytes && !socket.isPaused()) {
      // The client is not reading: stop reading its requests until the replies drain.
      socket.pause();
      counters.paused++;
      socket.once('drain', () => socket.resume());
    }
  };

  const closeWith = (socket: Socket, message: string): void => {
    counters.bytesOut += message.length;
    socket.end(message);
    // Whatever else it sends is read and dropped, so its FIN still reaches us and the socket closes;
    // a peer that never closes its side is cut off after a short linger.
    socket.removeAllListeners('data');
    socket.on('data', () => {});
    socket.resume();
    socket.setTimeout(CLOSE_LINGER_MS, () => socket.destroy());
  };

  const handle = (socket: Socket): void => {
    const peer = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    socket.on('error', (error) => fail(peer, error));
    if (config.maxConnections > 0 && sockets.size >= config.maxConnections) {
      counters.rejected++;
      log?.(`[REJECT] ${peer} - too many connections (${sockets.size} open)`);
      closeWith(socket, ERR_TOO_MANY);
      return;
    }
    counters.accepted++;
    sockets.add(socket);
    log?.(`[CONNECT] ${peer} connected`);
    if (fdWatch.check(sockets.size)) {
      // From here the OS refuses accepts and libuv closes those connections without telling Node.
      errors.add({ code: 'EMFILE', message: `at the file-descriptor limit (${fdWatch.softLimit})` }, 'accept');
      (log ?? console.error)(`[ERROR] accept - EMFILE: at the file-descriptor limit (${fdWatch.softLimit} open files); new connections are closed until some end. ${limitHint('EMFILE')}`);
    }
    socket.setNoDelay(true);
    if (config.idleTimeoutMs > 0) {
      socket.setTimeout(config.idleTimeoutMs, () => {
        log?.(`[TIMEOUT] ${peer} idle for ${config.idleTimeoutMs}ms`);
        closeWith(socket, ERR_IDLE);
      });
    }
    socket.once('close', () => {
      sockets.delete(socket);
      log?.(`[DISCONNECT] ${peer} disconnected`);
    });
    // A client may end its writes and still read: answer what came, then close our side.
    socket.on('end', () => socket.end());

    if (config.framing === 'chunk') {
      socket.on('data', (chunk: Buffer) => {
        counters.bytesIn += chunk.length;
        counters.messages++;
        log?.(`[DATA] ${peer} sent: ${preview(chunk)}`);
        reply(socket, PRIOR_ART_ACK);
        counters.acks++;
      });
      return;
    }

    const splitter = new LineSplitter(config.maxLineLength);
    socket.on('data', (chunk: Buffer) => {
      counters.bytesIn += chunk.length;
      const events = splitter.push(chunk);
      if (events.length === 0) return;
      // Many lines in one read leave as one write.
      const batch = events.length > 1;
      if (batch) socket.cork();
      for (const event of events) {
        if ('overflow' in event) {
          errors.add({ code: 'ELINETOOLONG' }, peer);
          log?.(`[ERROR] ${peer} - line too long (over ${config.maxLineLength} bytes)`);
          closeWith(socket, ERR_TOO_LONG);
          break;
        }
        counters.messages++;
        if (log) log(`[DATA] ${peer} sent: ${preview(event.line)}`);
        reply(socket, ackFor(event.line));
        counters.acks++;
      }
      if (batch) socket.uncork();
    });
  };

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, handle);
  // Accept failures (EMFILE, ENFILE) reach here: count them and keep listening.
  server.on('error', (error) => fail('accept', error));
  server.on('drop', () => {
    counters.rejected++;
  });
  const address = await listenOn(server, config);
  const base = makeHandle(server, address, sockets, {
    // Graceful stop: finish the replies already written, then FIN every connection.
    onStop: () => {
      for (const socket of sockets) socket.end();
    },
  });
  return {
    ...base,
    stats: () => ({ open: sockets.size, ...counters, errors: { ...errors.counts } }),
  };
}

/** `ACK <line>\n` in one allocation. */
function ackFor(line: Buffer): Buffer {
  const ack = Buffer.allocUnsafe(line.length + 5);
  ACK_PREFIX.copy(ack, 0);
  line.copy(ack, 4);
  ack[ack.length - 1] = 0x0a;
  return ack;
}

/** A line as a log shows it: text with invalid bytes replaced, at most 200 characters. */
function preview(bytes: Buffer): string {
  const text = bytes.subarray(0, 200).toString('utf8').replace(/[\r\n]/g, ' ');
  return bytes.length > 200 ? `${text}...` : text;
}
