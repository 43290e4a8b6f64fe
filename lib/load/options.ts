// The load client's options: the prior art's defaults (50 clients 100 ms apart to localhost:4000, one
// `Hello from client #i` each) and their checks, on their own so the command line can read the
// defaults without loading the client.
import { checkTransport, type Transport } from '../net/conn.ts';
import { checkHost, checkNumber, checkOneOf, checkPort, checkThat, checkWhole, withDefaults } from '../net/options.ts';
import type { Shard } from '../net/shard.ts';
import { FRAMINGS, type Framing } from '../tcp/ack-protocol.ts';

export interface LoadOptions {
  host?: string;
  port?: number;
  /** Clients in the whole run (a shard runs its share of them). */
  clients?: number;
  /** Client i starts i × stagger after the run starts. */
  staggerMs?: number;
  messagesPerClient?: number;
  /** `{i}` is the client number (from 0), `{n}` the message number (from 0). */
  message?: string;
  /** line: send `message\n`, expect `ACK message\n`. chunk: send the bare message, expect `ACK from server`. */
  framing?: Framing;
  /** Messages a client keeps in flight before waiting for acks (closed loop). */
  pipeline?: number;
  /** Open loop: messages per second over all clients, on a fixed schedule. 0: closed loop. */
  rate?: number;
  connectTimeoutMs?: number;
  replyTimeoutMs?: number;
  /** Keep each connection open this long after its last ack. */
  holdMs?: number;
  /** Stop the run after this long (ms); what did not finish counts as missing. 0: no limit. */
  durationMs?: number;
  /** Local addresses to connect from, used in turn (to spread over 127.0.0.0/8). */
  sourceAddresses?: string[];
  shard?: Shard;
  signal?: AbortSignal;
  /** What carries the connections: bare libuv handles (the default where Node has them) or net sockets. */
  transport?: Transport;
}

export const LOAD_DEFAULTS = {
  host: 'localhost',
  port: 4000,
  clients: 50,
  staggerMs: 100,
  messagesPerClient: 1,
  message: 'Hello from client #{i}',
  framing: 'line' as Framing,
  pipeline: 1,
  rate: 0,
  connectTimeoutMs: 5000,
  replyTimeoutMs: 5000,
  holdMs: 0,
  durationMs: 0,
};

export type LoadConfig = typeof LOAD_DEFAULTS & Pick<LoadOptions, 'sourceAddresses' | 'shard' | 'signal' | 'transport'>;

/** Lays the options over the defaults and checks every one; throws an OptionError naming the first bad one. */
export function validateLoadOptions(options: LoadOptions): LoadConfig {
  const config = withDefaults(LOAD_DEFAULTS, options);
  checkHost('host', config.host);
  checkPort('port', config.port, 'connect');
  checkWhole('clients', config.clients);
  checkWhole('messagesPerClient', config.messagesPerClient);
  for (const key of ['staggerMs', 'connectTimeoutMs', 'replyTimeoutMs', 'holdMs', 'durationMs', 'rate'] as const) checkNumber(key, config[key]);
  checkWhole('pipeline', config.pipeline, 1);
  checkOneOf('framing', config.framing, FRAMINGS);
  checkTransport(config.transport);
  checkThat(config.framing !== 'line' || !/[\r\n]/.test(config.message), 'message', 'with line framing the message cannot contain a line break');
  return config;
}
