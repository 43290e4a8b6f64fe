// Conn over Node's bare libuv TCP handles (libuv.ts): no stream machine and no event emitter; every
// handle and request points back at its connection and the callbacks are shared functions, so a
// connection costs a few small objects, which is what decides the speed when every request comes on a
// new connection and the memory when 100,000 are held.
//
// A write the kernel takes whole finishes inside the call and leaves its request untouched, so one
// request serves every such write of every connection; a write libuv has to queue keeps its request
// (and its bytes) until its completion. A FIN read after ours was sent, or ours sent after the peer's
// was read, closes the handle.
import net from 'node:net';
import type { Conn, ConnEvents, ConnListener, DialOptions, ListenConnOptions, ReadBuffer } from './conn.ts';
import { dialFailureCode, listenError } from './errors.ts';
import { BULK_READ_SIZE, FIRST_READ_SIZE } from './read-sizes.ts';
import { LIBUV, UV_EOF, codeOf, type ConnectReq, type ShutdownReq, type SockAddr, type TcpHandle, type WriteReq } from './libuv.ts';
import { formatHostPort } from './units.ts';

interface Handle extends TcpHandle {
  conn?: LeanConn;
}
interface Write extends WriteReq {
  handle: Handle;
}
interface Shutdown extends ShutdownReq {
  handle: Handle;
}

const uv = (): NonNullable<typeof LIBUV> => LIBUV!;

/** Connections reading into a shared buffer (and those that drop what they read) read into this one. */
const SHARED_BUFFER = Buffer.allocUnsafe(64 * 1024);
/**
 * Small own buffers of closed connections, handed to new ones: a new buffer per connection is external
 * memory for V8 to account for, and at thousands of connections a second it brought full collections.
 */
const spareBuffers: Buffer[] = [];
const MOST_SPARE_BUFFERS = 1024;
/** A write request libuv never held, free for the next write of any connection. */
let spareWrite: Write | undefined;

function onRead(this: Handle): Uint8Array | undefined {
  const conn = this.conn;
  if (!conn) return undefined;
  const n = uv().readResult();
  if (n > 0) return conn.onBytes(n);
  // 0: the socket had nothing more (EAGAIN after a read that filled the buffer), not an error.
  if (n === 0) return undefined;
  if (n === UV_EOF) conn.onPeerEnd();
  else conn.fail(codeOf(n));
  return undefined;
}

function onWritten(this: Write, status: number): void {
  this.buffer = undefined;
  const conn = this.handle.conn;
  if (!conn) return;
  conn.asyncWrites--;
  if (status < 0) conn.fail(codeOf(status));
  else if (conn.asyncWrites === 0) conn.events.drain?.(conn);
}

function onShutdown(this: Shutdown, status: number): void {
  const conn = this.handle.conn;
  if (!conn) return;
  if (status < 0 && status !== -107 /* ENOTCONN: the peer already reset */) conn.fail(codeOf(status));
  else if (conn.peerEnded) conn.destroy();
}

function onConnected(status: number, handle: Handle): void {
  const conn = handle.conn;
  if (!conn) return; // destroyed (a dial timeout) before the dial finished
  if (status < 0) {
    conn.abandon();
    conn.events.connect?.(conn, dialFailureCode(codeOf(status)));
    return;
  }
  conn.opened = true;
  // Nagle's delay matters to a connection that writes; one that only holds is spared the system call.
  if (conn.mode !== 'none') handle.setNoDelay(true);
  conn.events.connect?.(conn, undefined);
  if (conn.readsAfterConnect && !conn.closed) conn.startReading();
}

class LeanConn implements Conn {
  state: unknown = undefined;
  closed = false;
  peerEnded = false;
  /** Opened: accepted, or dialed and connected. Only an opened connection reports close(). */
  opened = false;
  asyncWrites = 0;
  /** A dial whose reading could not start with it: it starts once connected (see dialLibuv). */
  readsAfterConnect = false;
  private finRequested = false;
  private peerName: string | undefined = undefined;
  private buffer: Buffer;

  constructor(
    private readonly handle: Handle,
    readonly events: ConnEvents,
    readonly mode: ReadBuffer,
  ) {
    handle.conn = this;
    this.buffer = mode === 'own' ? (spareBuffers.pop() ?? Buffer.allocUnsafeSlow(FIRST_READ_SIZE)) : SHARED_BUFFER;
  }

  /** Starts reading: at accept, or as soon as a dial is under way (libuv reads only once it connects). */
  startReading(): void {
    const err = this.tryReading();
    if (err < 0) this.fail(codeOf(err));
  }

  /** Starts reading; the libuv status (negative: it could not). */
  tryReading(): number {
    const handle = this.handle;
    handle.useUserBuffer(this.buffer);
    handle.onread = onRead;
    return handle.readStart();
  }

  /** `n` bytes landed in the read buffer; returns the buffer the next read goes into, when it changes. */
  onBytes(n: number): Buffer | undefined {
    const mode = this.mode;
    if (mode === 'none') return undefined;
    const buffer = this.buffer;
    const kept = this.events.data(this, buffer.subarray(0, n));
    if (mode === 'shared' || this.closed) return undefined;
    const full = n === buffer.length;
    if (kept !== true && !(full && n < BULK_READ_SIZE)) return undefined;
    this.buffer = Buffer.allocUnsafe(full ? BULK_READ_SIZE : buffer.length);
    return this.buffer;
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
    if (this.closed || this.finRequested) return false;
    let req = spareWrite;
    if (req === undefined) {
      req = new (uv().stream.WriteWrap)() as Write;
      req.oncomplete = onWritten;
    }
    req.handle = this.handle;
    const err = typeof data === 'string' ? this.handle.writeLatin1String(req, data) : this.handle.writeBuffer(req, data);
    if (err < 0) {
      this.fail(codeOf(err));
      return false;
    }
    if (!uv().lastWriteWasAsync()) {
      spareWrite = req;
      return true;
    }
    // libuv holds part of it: this request (and the bytes) are in use until its oncomplete.
    if (typeof data !== 'string') req.buffer = data;
    spareWrite = undefined;
    this.asyncWrites++;
    return false;
  }

  end(data?: Buffer | string): void {
    if (data !== undefined && data.length > 0) this.write(data);
    if (this.closed || this.finRequested) return;
    this.finRequested = true;
    // The peer's FIN was read and nothing waits to be written: closing sends our FIN, one call fewer.
    if (this.peerEnded && this.asyncWrites === 0) return this.destroy();
    const req = new (uv().stream.ShutdownWrap)() as Shutdown;
    req.handle = this.handle;
    req.oncomplete = onShutdown;
    if (this.handle.shutdown(req) < 0) this.destroy();
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
    if (this.finRequested && this.asyncWrites === 0 && !this.closed) this.destroy();
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

  /** A dial that failed: the handle goes, and no close() is reported. */
  abandon(): void {
    this.opened = false;
    this.release(false);
  }

  private release(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const handle = this.handle;
    handle.conn = undefined;
    const done = this.opened ? () => this.events.close(this) : undefined;
    if (reset && handle.reset) handle.reset(done);
    else handle.close(done);
    // No read lands after close(), and a buffer a queued write pointed into was replaced when it was kept.
    if (this.mode === 'own' && this.buffer.length === FIRST_READ_SIZE && spareBuffers.length < MOST_SPARE_BUFFERS) spareBuffers.push(this.buffer);
  }
}

/** Binds `handle` to the source address and port asked for; the kernel picks the port when it is 0. */
function bindSource(handle: Handle, localAddress: string, localPort: number): number {
  return net.isIPv6(localAddress) ? handle.bind6(localAddress, localPort, 0) : handle.bind(localAddress, localPort);
}

export function dialLibuv(options: DialOptions): Conn {
  const { tcp } = uv();
  const handle: Handle = new tcp.TCP(tcp.constants.SOCKET);
  const conn = new LeanConn(handle, options.events, options.readBuffer ?? 'shared');
  conn.state = options.state;
  let err = options.localAddress ? bindSource(handle, options.localAddress, options.localPort ?? 0) : 0;
  if (err >= 0) {
    const req: ConnectReq = new tcp.TCPConnectWrap();
    req.oncomplete = onConnected;
    const v6 = (options.family ?? (net.isIPv6(options.address) ? 6 : 4)) === 6;
    err = v6 ? handle.connect6(req, options.address, options.port) : handle.connect(req, options.address, options.port);
  }
  if (err < 0) {
    conn.abandon();
    const code = dialFailureCode(codeOf(err));
    process.nextTick(() => options.events.connect?.(conn, code));
    return conn;
  }
  // Reading starts with the dial in flight, so libuv registers the socket with epoll once for both.
  // When libuv could not bind the source port (EADDRINUSE), it keeps that error for the connect to
  // report, and refuses to read until then (ENOTCONN): reading then starts once connected, and the
  // connect reports the bind's failure, which must not be lost to the read's.
  if (conn.tryReading() < 0) conn.readsAfterConnect = true;
  return conn;
}

export function listenLibuv(address: string, options: ListenConnOptions): ConnListener {
  const { tcp } = uv();
  const server: Handle = new tcp.TCP(tcp.constants.SERVER);
  let err = net.isIPv6(address) ? server.bind6(address, options.port, 0) : server.bind(address, options.port);
  if (err >= 0) err = server.listen(options.backlog ?? 511);
  if (err < 0) {
    server.close();
    throw listenError(options.host, options.port, codeOf(err));
  }
  const bound: SockAddr = {};
  server.getsockname(bound);
  const mode = options.readBuffer ?? 'shared';
  server.onconnection = (status, handle) => {
    if (status < 0 || !handle) return options.onAcceptError(codeOf(status));
    const conn = new LeanConn(handle as Handle, options.events, mode);
    conn.opened = true;
    (handle as Handle).setNoDelay(true);
    conn.startReading();
    if (!conn.closed) options.onConnection(conn);
  };
  let closing = false;
  return {
    host: bound.address ?? address,
    port: bound.port ?? options.port,
    close: (callback) => {
      if (closing) return void process.nextTick(callback);
      closing = true;
      server.close(callback);
    },
  };
}
