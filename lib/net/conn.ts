// A small connection type for message-rate paths: accept or dial, read, write, half-close, close, with
// the owner's callbacks in one object. Two transports implement it: bare libuv handles (lib/net/libuv.ts),
// which cost one read and one write system call per message and little JavaScript around them, and
// net.Socket, the fallback where the binding is missing or CONNLAB_LEAN_SOCKETS=0.
// The ack server and the load client are written once against it.
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import { LIBUV, UV_EOF, codeOf, type ConnectReq, type ShutdownReq, type SockAddr, type TcpHandle, type WriteReq } from './libuv.ts';
import { listenOn } from './listen.ts';
import { formatHostPort } from './units.ts';

/** What the owner of connections hears. Every callback gets the connection it is about. */
export interface ConnEvents {
  /** Bytes arrived. They are valid only during the call (the libuv transport reuses one buffer). */
  data(conn: Conn, bytes: Buffer): void;
  /** The peer ended its writes (FIN). The connection stays open for ours until end() or destroy(). */
  end(conn: Conn): void;
  /** A read or write failed (ECONNRESET, EPIPE, ...); the connection is destroyed right after. */
  error(conn: Conn, code: string, error?: Error): void;
  /** The connection is gone (after both sides ended, destroy(), or an error). Once, only if it was open. */
  close(conn: Conn): void;
  /** Every write the kernel could not take at once has now been taken. */
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
  /** Writes bytes, or a string whose characters are bytes (latin1). False if the connection is gone. */
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
}

export type Transport = 'libuv' | 'net';
/** Which transport carries connections unless told otherwise: libuv handles where the binding is there. */
export const DEFAULT_TRANSPORT: Transport = LIBUV ? 'libuv' : 'net';

/** Throws a RangeError unless `transport` is undefined, `libuv` or `net`. */
export function checkTransport(transport: unknown): void {
  if (transport !== undefined && transport !== 'libuv' && transport !== 'net') throw new RangeError(`transport must be libuv or net, not ${String(transport)}`);
}

/** Whether `transport` (default: DEFAULT_TRANSPORT) means libuv handles; asking for them where they are missing is an error. */
function useLibuv(transport: Transport | undefined): boolean {
  if (transport === 'libuv' && !LIBUV) throw new Error('libuv handles are not available in this Node (or CONNLAB_LEAN_SOCKETS=0): use the net transport');
  return (transport ?? DEFAULT_TRANSPORT) === 'libuv';
}

export async function listenConns(options: ListenConnOptions): Promise<ConnListener> {
  return useLibuv(options.transport) ? listenLean(options) : listenNet(options);
}

export interface DialOptions {
  address: string;
  port: number;
  localAddress?: string;
  events: ConnEvents;
  state?: unknown;
  transport?: Transport;
}

/** Starts a dial to an IP address; the outcome arrives through events.connect, never synchronously. */
export function dial(options: DialOptions): Conn {
  return useLibuv(options.transport) ? LeanConn.dial(options) : NetConn.dial(options);
}

/** The addresses a host name stands for, in the order to try them (as net.connect would). */
export async function resolveHost(host: string): Promise<Array<{ address: string; family: number }>> {
  if (net.isIP(host)) return [{ address: host, family: net.isIP(host) }];
  return lookup(host, { all: true });
}

const listenError = (host: string, port: number, code: string, cause?: unknown): Error =>
  Object.assign(new Error(`cannot listen on ${formatHostPort(host, port)}: ${code}`, { cause }), { code });

// ---------------------------------------------------------------------------------------------------
// libuv transport

interface Handle extends TcpHandle {
  conn?: LeanConn;
}
interface Write extends WriteReq {
  handle: Handle;
}

const L = LIBUV!;
/** Every libuv connection reads into this buffer; data() consumers copy what they keep. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function onLeanRead(this: Handle): void {
  const conn = this.conn;
  if (!conn) return;
  const n = L.readResult();
  if (n > 0) conn.events.data(conn, READ_BUFFER.subarray(0, n));
  else if (n === UV_EOF) conn.onPeerEnd();
  else if (n < 0) conn.fail(codeOf(n));
}

function onLeanWritten(this: Write, status: number): void {
  this.buffer = undefined;
  const conn = this.handle.conn;
  if (!conn) return;
  conn.asyncWrites--;
  if (status < 0) conn.fail(codeOf(status));
  else if (conn.asyncWrites === 0) conn.events.drain?.(conn);
}

function onLeanShutdown(this: ShutdownReq & { handle: Handle }, status: number): void {
  const conn = this.handle.conn;
  if (!conn) return;
  conn.finSent = true;
  if (status < 0 && status !== -107 /* ENOTCONN: the peer already reset */) conn.fail(codeOf(status));
  else if (conn.peerEnded) conn.destroy();
}

function onLeanConnected(status: number, handle: Handle): void {
  const conn = handle.conn;
  if (!conn) return; // destroyed (a dial timeout) before the dial finished
  if (status < 0) {
    conn.closed = true;
    handle.conn = undefined;
    handle.close();
    conn.events.connect?.(conn, codeOf(status));
    return;
  }
  conn.open();
  conn.events.connect?.(conn, undefined);
}

class LeanConn implements Conn {
  state: unknown;
  closed = false;
  peerEnded = false;
  finSent = false;
  asyncWrites = 0;
  private opened = false;
  private shutdownRequested = false;
  private spare: Write | null = null;
  private peerName?: string;

  constructor(
    private readonly handle: Handle,
    readonly events: ConnEvents,
  ) {
    handle.conn = this;
  }

  static dial(options: DialOptions): LeanConn {
    const handle: Handle = new L.tcp.TCP(L.tcp.constants.SOCKET);
    const conn = new LeanConn(handle, options.events);
    conn.state = options.state;
    const v6 = net.isIPv6(options.address);
    let err = 0;
    if (options.localAddress) err = net.isIPv6(options.localAddress) ? handle.bind6(options.localAddress, 0, 0) : handle.bind(options.localAddress, 0);
    if (err >= 0) {
      const req: ConnectReq = new L.tcp.TCPConnectWrap();
      req.oncomplete = onLeanConnected;
      err = v6 ? handle.connect6(req, options.address, options.port) : handle.connect(req, options.address, options.port);
    }
    if (err < 0) {
      // bind() to port 0 says EADDRINUSE when the address has no free port left; connect() says EADDRNOTAVAIL.
      const code = codeOf(err) === 'EADDRINUSE' ? 'EADDRNOTAVAIL' : codeOf(err);
      conn.closed = true;
      handle.conn = undefined;
      handle.close();
      process.nextTick(() => options.events.connect?.(conn, code));
    }
    return conn;
  }

  /** Starts reading; called once the connection exists (accepted or dialed). */
  open(): void {
    this.opened = true;
    const handle = this.handle;
    handle.setNoDelay(true);
    handle.useUserBuffer(READ_BUFFER);
    handle.onread = onLeanRead;
    const err = handle.readStart();
    if (err < 0) this.fail(codeOf(err));
  }

  get peer(): string {
    if (this.peerName === undefined) {
      const out: SockAddr = {};
      this.peerName = this.handle.getpeername(out) === 0 ? formatHostPort(out.address ?? '?', out.port ?? 0) : '?';
    }
    return this.peerName;
  }

  get pending(): number {
    // Only an async write leaves bytes in libuv's queue; asking the handle costs a call into C++.
    return this.closed || this.asyncWrites === 0 ? 0 : this.handle.writeQueueSize;
  }

  write(data: Buffer | string): boolean {
    if (this.closed || this.shutdownRequested) return false;
    let req = this.spare;
    if (req === null) {
      req = new L.stream.WriteWrap() as Write;
      req.handle = this.handle;
      req.oncomplete = onLeanWritten;
    }
    const err = typeof data === 'string' ? this.handle.writeLatin1String(req, data) : this.handle.writeBuffer(req, data);
    if (err < 0) {
      this.fail(codeOf(err));
      return false;
    }
    if (L.lastWriteWasAsync()) {
      // libuv still holds part of it: this request is in use until its oncomplete.
      if (typeof data !== 'string') req.buffer = data;
      this.asyncWrites++;
      this.spare = null;
    } else {
      this.spare = req;
    }
    return true;
  }

  end(data?: Buffer | string): void {
    if (data !== undefined && data.length > 0) this.write(data);
    if (this.closed || this.shutdownRequested) return;
    this.shutdownRequested = true;
    const req = new L.stream.ShutdownWrap() as ShutdownReq & { handle: Handle };
    req.handle = this.handle;
    req.oncomplete = onLeanShutdown;
    const err = this.handle.shutdown(req);
    if (err < 0) this.destroy();
  }

  pause(): void {
    if (!this.closed) this.handle.readStop();
  }

  resume(): void {
    if (!this.closed && !this.peerEnded) this.handle.readStart();
  }

  onPeerEnd(): void {
    this.peerEnded = true;
    this.events.end(this);
    if (this.finSent && !this.closed) this.destroy();
  }

  fail(code: string): void {
    if (this.closed) return;
    this.events.error(this, code);
    this.destroy();
  }

  destroy(): void {
    this.release(false);
  }

  reset(): void {
    this.release(true);
  }

  private release(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const handle = this.handle;
    handle.conn = undefined;
    const done = (): void => {
      if (this.opened) this.events.close(this);
    };
    if (reset && handle.reset) handle.reset(done);
    else handle.close(done);
  }
}

async function listenLean(options: ListenConnOptions): Promise<ConnListener> {
  const { host, port } = options;
  let address: string;
  try {
    address = (await resolveHost(host))[0].address;
  } catch (error) {
    throw listenError(host, port, (error as NodeJS.ErrnoException).code ?? 'ENOTFOUND', error);
  }
  const server: Handle = new L.tcp.TCP(L.tcp.constants.SERVER);
  let err = net.isIPv6(address) ? server.bind6(address, port, 0) : server.bind(address, port);
  if (err >= 0) err = server.listen(options.backlog ?? 511);
  if (err < 0) {
    server.close();
    throw listenError(host, port, codeOf(err));
  }
  const bound: SockAddr = {};
  server.getsockname(bound);
  server.onconnection = (status, handle) => {
    if (status < 0 || !handle) return options.onAcceptError(codeOf(status));
    const conn = new LeanConn(handle as Handle, options.events);
    conn.open();
    options.onConnection(conn);
  };
  let closing = false;
  return {
    host: bound.address ?? address,
    port: bound.port ?? port,
    close: (callback) => {
      if (closing) return void process.nextTick(callback);
      closing = true;
      server.close(callback);
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// net transport

class NetConn implements Conn {
  state: unknown;
  private opened = false;
  private peerName: string;

  constructor(
    private readonly socket: net.Socket,
    readonly events: ConnEvents,
    connected: boolean,
  ) {
    this.peerName = connected ? formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0) : '?';
    if (connected) this.open();
  }

  static dial(options: DialOptions): NetConn {
    const socket = net.connect({ host: options.address, port: options.port, localAddress: options.localAddress, allowHalfOpen: true, noDelay: true });
    const conn = new NetConn(socket, options.events, false);
    conn.state = options.state;
    const onError = (error: NodeJS.ErrnoException): void => {
      options.events.connect?.(conn, error.code === 'EADDRINUSE' ? 'EADDRNOTAVAIL' : (error.code ?? 'EUNKNOWN'));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.removeListener('error', onError);
      conn.peerName = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
      conn.open();
      options.events.connect?.(conn, undefined);
    });
    return conn;
  }

  private open(): void {
    this.opened = true;
    const { socket, events } = this;
    socket.setNoDelay(true);
    socket.on('data', (bytes: Buffer) => events.data(this, bytes));
    socket.on('end', () => events.end(this));
    socket.on('error', (error: NodeJS.ErrnoException) => events.error(this, error.code ?? 'EUNKNOWN', error));
    socket.on('drain', () => events.drain?.(this));
    socket.once('close', () => events.close(this));
  }

  get peer(): string {
    return this.peerName;
  }

  get pending(): number {
    return this.socket.writableLength;
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  write(data: Buffer | string): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    this.socket.write(data, 'latin1');
    return true;
  }

  end(data?: Buffer | string): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    if (data === undefined) this.socket.end();
    else this.socket.end(data, 'latin1');
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    if (!this.opened) this.socket.removeAllListeners('connect');
    this.socket.destroy();
  }

  reset(): void {
    this.socket.resetAndDestroy();
  }
}

async function listenNet(options: ListenConnOptions): Promise<ConnListener> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => options.onConnection(new NetConn(socket, options.events, true)));
  const address = await listenOn(server, options);
  // Accept failures (EMFILE, ENFILE) reach here once listening: report them and keep listening.
  server.on('error', (error: NodeJS.ErrnoException) => options.onAcceptError(error.code ?? 'EUNKNOWN', error));
  return { ...address, close: (callback) => server.close(() => callback()) };
}
