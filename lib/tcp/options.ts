// The options of the TCP servers (the ack server, the pool core and its hello and prime servers): their
// defaults, the prior art's, and their checks, on their own so the command line can read the defaults
// without loading the servers.
import { checkTransport, type Transport } from '../net/conn.ts';
import { checkOneOf, checkPort, checkWhole, withDefaults } from '../net/options.ts';
import { FRAMINGS, type Framing } from './ack-protocol.ts';

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

export const ACK_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  framing: 'line' as Framing,
  maxLineLength: 64 * 1024,
  maxConnections: 0,
  idleTimeoutMs: 0,
  maxPendingReplyBytes: 256 * 1024,
};

export type AckServerConfig = typeof ACK_SERVER_DEFAULTS & Pick<AckServerOptions, 'log' | 'transport'>;

export function validateAckServerOptions(options: AckServerOptions): AckServerConfig {
  const config = withDefaults(ACK_SERVER_DEFAULTS, options);
  checkPort('port', config.port, 'listen');
  checkOneOf('framing', config.framing, FRAMINGS);
  checkWhole('maxLineLength', config.maxLineLength, 1);
  for (const key of ['maxConnections', 'idleTimeoutMs', 'maxPendingReplyBytes'] as const) checkWhole(key, config[key]);
  checkTransport(config.transport);
  return config;
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

export type PoolConfig = typeof POOL_DEFAULTS & Pick<PoolOptions, 'log'>;

export function validatePoolOptions(options: PoolOptions): PoolConfig {
  const config = withDefaults(POOL_DEFAULTS, options);
  checkPort('port', config.port, 'listen');
  for (const key of ['queue', 'lingerMs', 'backlog'] as const) checkWhole(key, config[key]);
  for (const key of ['workers', 'readDeadlineMs', 'writeDeadlineMs'] as const) checkWhole(key, config[key], 1);
  return config;
}

export interface HelloServerOptions extends Omit<PoolOptions, 'readDeadlineMs' | 'writeDeadlineMs'> {
  /** From accept, for reading the request and for delivering the reply (the prior art's 10 s). */
  deadlineMs?: number;
  /** Simulated work per request (ms), on a timer so the event loop stays free. */
  workMs?: number;
  /** Largest request head accepted, in bytes; a larger one gets 400. */
  maxHeadBytes?: number;
}

export const HELLO_DEFAULTS = { workers: 10, queue: 10, deadlineMs: 10_000, workMs: 1000, maxHeadBytes: 8 * 1024 };

export function validateHelloServerOptions(options: HelloServerOptions): typeof HELLO_DEFAULTS {
  const { workers, queue, deadlineMs, workMs, maxHeadBytes } = options;
  const config = withDefaults(HELLO_DEFAULTS, { workers, queue, deadlineMs, workMs, maxHeadBytes });
  checkWhole('workMs', config.workMs);
  checkWhole('maxHeadBytes', config.maxHeadBytes, 16);
  return config;
}

export type PrimeFraming = 'line' | 'eof';

export const PRIME_FRAMINGS: readonly PrimeFraming[] = ['line', 'eof'];

export interface PrimeServerOptions extends Omit<PoolOptions, 'readDeadlineMs' | 'writeDeadlineMs'> {
  /** From accept, for receiving the message and for delivering the reply (the prior art's 5 s). */
  timeoutMs?: number;
  /** JSON Lines journal file; none when undefined. */
  journalPath?: string;
  framing?: PrimeFraming;
  /** Longest message accepted, in bytes; a longer one gets `ERR message too long`. */
  maxMessageBytes?: number;
}

export const PRIME_DEFAULTS = { workers: 10, queue: 100, timeoutMs: 5000, framing: 'line' as PrimeFraming, maxMessageBytes: 64 * 1024 };

export function validatePrimeServerOptions(options: PrimeServerOptions): typeof PRIME_DEFAULTS {
  const { workers, queue, timeoutMs, framing, maxMessageBytes } = options;
  const config = withDefaults(PRIME_DEFAULTS, { workers, queue, timeoutMs, framing, maxMessageBytes });
  checkOneOf('framing', config.framing, PRIME_FRAMINGS);
  checkWhole('maxMessageBytes', config.maxMessageBytes, 1);
  return config;
}
