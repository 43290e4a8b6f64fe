// The one connection type every part moves bytes with: accept or dial, read, write, half-close, close,
// with the owner's callbacks in one object shared by all its connections (no closure per connection).
// Two transports implement it: Node's bare libuv TCP handles (conn-libuv.ts), which cost one read and
// one write system call per message and little JavaScript around them, and net.Socket (conn-net.ts),
// the fallback where the binding is missing, or where CONNLAB_LEAN_SOCKETS=0 or `transport: 'net'`
// asks for it. The ack server, the load client, the balancer and the capacity tester are written once
// against it.
//
// Where reads land is the owner's choice (`readBuffer`):
//   shared  one buffer for every connection: bytes are valid only during data() (servers, the load client)
//   own     a buffer per connection, 4 KiB growing to 64 KiB for bulk, replaced when data() keeps the
//           bytes (a proxy whose write of them was queued)
//   none    bytes are read and dropped unseen, so only the end of the stream is noticed (idle holding)
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import { dialLibuv, listenLibuv } from './conn-libuv.ts';
import { dialNet, listenNet } from './conn-net.ts';
import { coded, listenError } from './errors.ts';
import { LIBUV } from './libuv.ts';
import { OptionError, checkOneOf } from './options.ts';

export type Transport = 'libuv' | 'net';
export const TRANSPORTS: readonly Transport[] = ['libuv', 'net'];
/** Which transport carries connections unless told otherwise: libuv handles where the binding is there. */
export const DEFAULT_TRANSPORT: Transport = LIBUV ? 'libuv' : 'net';

export type ReadBuffer = 'shared' | 'own' | 'none';

/** What the owner of connections hears. Every callback gets the connection it is about. */
export interface ConnEvents {
  /**
   * Bytes arrived. With a shared buffer they are valid only during the call. With `own` buffers,
   * returning true says the bytes are kept past it (a queued write holds them): the next read goes
   * into a new buffer.
   */
  data(conn: Conn, bytes: Buffer): boolean | void;
  /** The peer ended its writes (FIN). The connection stays open for ours until end() or destroy(). */
  end(conn: Conn): void;
  /** A read or write failed (ECONNRESET, EPIPE, ...); the connection is destroyed right after. */
  error(conn: Conn, code: string, error?: Error): void;
  /** The connection is gone (after both sides ended, destroy(), or an error). Once, only if it was open. */
  close(conn: Conn): void;
  /** Every write that had to wait in this process has now been taken by the kernel. */
  drain?(conn: Conn): void;
  /** A dial finished: `code` is undefined on success, else the errno name (no close() follows a failure). */
  connect?(conn: Conn, code: string | undefined): void;
}

export interface Conn {
  /** The owner's per-connection state. */
  state: unknown;
  readonly events: ConnEvents;
  /** `host:port` of the peer, or `?` when the kernel no longer knows it. */
  readonly peer: string;
  /** Bytes written that the kernel has not taken yet. */
  readonly pending: number;
  readonly closed: boolean;
  /**
   * Writes bytes, or a string whose characters are bytes (latin1). True when the kernel took them;
   * false when they wait in this process (drain() follows) or the connection is gone (closed is true).
   */
  write(data: Buffer | string): boolean;
  /** Sends `data` if given, then FIN once everything is written. */
  end(data?: Buffer | string): void;
  pause(): void;
  resume(): void;
  destroy(): void;
  /** Closes with RST instead of FIN. */
  reset(): void;
}

/** A listening socket that hands each accepted connection to `onConnection`. */
export interface ConnListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; `callback` runs once the listening socket is closed. */
  close(callback: () => void): void;
}

export interface ListenConnOptions {
  host: string;
  port: number;
  backlog?: number;
  events: ConnEvents;
  onConnection(conn: Conn): void;
  /** accept() failed (EMFILE, ENFILE): the listener keeps going. */
  onAcceptError(code: string, error?: Error): void;
  transport?: Transport;
  readBuffer?: ReadBuffer;
}

export interface DialOptions {
  /** An IP address (see resolveHost for names). */
  address: string;
  /** 4 or 6; worked out from `address` when not given. */
  family?: 4 | 6;
  port: number;
  localAddress?: string;
  /** The source port to bind (with localAddress); 0 or absent lets the kernel choose. */
  localPort?: number;
  events: ConnEvents;
  state?: unknown;
  transport?: Transport;
  readBuffer?: ReadBuffer;
}

/** Throws an OptionError unless `transport` is undefined, `libuv` or `net`. */
export function checkTransport(transport: unknown): void {
  if (transport !== undefined) checkOneOf('transport', transport, TRANSPORTS);
}

/** Whether `transport` (default: DEFAULT_TRANSPORT) means libuv handles; asking for them where they are missing is an error. */
export function useLibuv(transport: Transport | undefined): boolean {
  if (transport === 'libuv' && !LIBUV) throw new OptionError('transport', 'transport libuv: Node\'s libuv TCP handles are not available in this Node (or CONNLAB_LEAN_SOCKETS=0 turned them off): use the net transport');
  return (transport ?? DEFAULT_TRANSPORT) === 'libuv';
}

/** Listens with the chosen transport; a host name is looked up first, as net.Server does. */
export async function listenConns(options: ListenConnOptions): Promise<ConnListener> {
  const libuv = useLibuv(options.transport);
  let address: string;
  try {
    address = (await resolveOne(options.host)).address;
  } catch (error) {
    throw listenError(options.host, options.port, (error as NodeJS.ErrnoException).code ?? 'ENOTFOUND', error);
  }
  return libuv ? listenLibuv(address, options) : listenNet(address, options);
}

/** Starts a dial to an IP address; the outcome arrives through events.connect, never synchronously. */
export function dial(options: DialOptions): Conn {
  return useLibuv(options.transport) ? dialLibuv(options) : dialNet(options);
}

/**
 * The one address to use for `host`: its IPv4 one when it has one (a server on `localhost` often
 * listens on 127.0.0.1 only), else its first. For the parts that resolve once and then dial or listen
 * on one address.
 */
export async function resolveOne(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const found = await resolveHost(host);
  const pick = found.find((a) => a.family === 4) ?? found[0];
  if (!pick) throw coded('ENOTFOUND', `cannot resolve ${host}`);
  return pick;
}

/** The addresses a host name stands for, in the order to try them (as net.connect would). */
export async function resolveHost(host: string): Promise<Array<{ address: string; family: 4 | 6 }>> {
  const literal = net.isIP(host);
  if (literal) return [{ address: host, family: literal === 6 ? 6 : 4 }];
  return (await lookup(host, { all: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
}
