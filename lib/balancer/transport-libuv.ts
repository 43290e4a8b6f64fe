// The balancer's bytes carried by Node's bare libuv TCP handles (lib/net/libuv.ts): no stream machine,
// no event emitters, no closures per connection. Every handle and request points back at its Side and
// the callbacks are shared functions, so a connection costs a few small objects, which is what decides
// the speed when every request comes on a new connection.
//
// Each read is written on at once to the other side. A write the kernel takes whole finishes
// synchronously and its request is reused for the next one; a write libuv has to queue stops reading
// from the source until it completes (backpressure, so at most one read waits per direction). A FIN
// read on one side becomes a shutdown of the other once its queued writes are out; a handle closes
// when it has both read and sent its FIN. An error on one side resets the other.
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import { LIBUV, UV_EOF, codeOf, type ConnectReq, type ShutdownReq, type SockAddr, type TcpHandle, type WriteReq } from '../net/libuv.ts';
import { formatHostPort } from '../net/units.ts';
import { BalancerCore, EARLY_LIMIT, REFUSED_LINGER_MS, type Listener } from './core.ts';
import type { BalancerConfig } from './options.ts';
import type { Backend, BackendPool } from './pool.ts';

interface Handle extends TcpHandle {
  side?: Side;
}
interface ServerHandle extends TcpHandle {
  transport?: Transport;
}
interface Write extends WriteReq {
  side?: Side;
}
interface Shutdown extends ShutdownReq {
  side?: Side;
}
interface Dial extends ConnectReq {
  link?: Link;
}

/** One end of a connection through the balancer: the client's socket or the backend's. */
class Side {
  /** The other end, where what this side sends goes. Set once the backend is connected. */
  peer: Side | undefined = undefined;
  /** Its FIN was read. */
  eof = false;
  /** We asked for a FIN to be sent to it (a shutdown, or a close after its own FIN). */
  finSent = false;
  /** The FIN went out. */
  finDone = false;
  closed = false;
  /** A write to it is queued in libuv: the peer is not read until it completes. */
  busy = false;
  /** Reading from it is stopped: its peer has writes queued, or it sent too much while dialing. */
  paused = false;
  /** Where reads from it land (see onRead). */
  buffer: Buffer;

  constructor(
    readonly link: Link,
    readonly handle: Handle,
    readonly isClient: boolean,
  ) {
    handle.side = this;
    this.buffer = spareBuffers.pop() ?? Buffer.allocUnsafeSlow(FIRST_READ_SIZE);
  }
}

/** Reads start in a small buffer and move to a large one once a read fills it (bulk transfers). */
const FIRST_READ_SIZE = 4096;
const BULK_READ_SIZE = 64 * 1024;
/**
 * Small read buffers of closed sides, handed to new ones: a new buffer per connection is external
 * memory for V8 to account for, and at thousands of connections a second it brought full collections.
 */
const spareBuffers: Buffer[] = [];
const MOST_SPARE_BUFFERS = 1024;
/**
 * A write request that libuv never held: a write the kernel takes whole finishes inside the call and
 * leaves its request untouched, so one serves every such write of every connection.
 */
let spareWrite: Write | undefined;

/** A client connection and what it is forwarded to. */
export class Link {
  readonly client: Side;
  upstream: Side | undefined = undefined;
  backend: Backend | undefined = undefined;
  /** Backends that failed for this client; allocated on the first failure only. */
  tried: Set<Backend> | undefined = undefined;
  dial: Dial | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  /** What the client sent while its backend was connecting. */
  early: Buffer[] | undefined = undefined;
  earlyBytes = 0;
  /** Counted in the open connections (served, not turned away at once). */
  counted = false;
  spliced = false;
  refused = false;
  released = false;
  lastActive = 0;

  constructor(
    readonly transport: Transport,
    handle: Handle,
  ) {
    this.client = new Side(this, handle, true);
  }
}

const SOCKADDR: SockAddr = {};
/** The client's address, for log lines. */
export function peerOfLink(link: Link): SockAddr {
  SOCKADDR.address = undefined;
  SOCKADDR.port = undefined;
  link.client.handle.getpeername(SOCKADDR);
  return { address: SOCKADDR.address, port: SOCKADDR.port };
}

/** One listening balancer: its handle, its open connections and the decisions it defers to. */
class Transport {
  readonly links = new Set<Link>();
  openClients = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private onEmpty: (() => void) | undefined;

  constructor(
    readonly core: BalancerCore<Link>,
    readonly server: ServerHandle,
  ) {
    const idleMs = core.config.idleTimeoutMs;
    // One sweep for every connection, rather than a timer each: a connection through which nothing
    // moved for the idle timeout is closed within an eighth of it after.
    if (idleMs > 0) this.idleTimer = setInterval(() => this.sweep(idleMs), Math.max(5, Math.floor(idleMs / 8)));
  }

  private sweep(idleMs: number): void {
    const now = Date.now();
    for (const link of this.links) {
      if (link.refused || now - link.lastActive < idleMs) continue;
      this.core.idleTimedOut(link);
      cut(link, undefined);
    }
  }

  removed(link: Link): void {
    this.links.delete(link);
    if (this.links.size === 0) this.onEmpty?.();
  }

  /** Stops accepting; resolves once every connection is gone too (idle timeouts apply meanwhile). */
  stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(resolve));
    const empty = new Promise<void>((resolve) => {
      if (this.links.size === 0) resolve();
      else this.onEmpty = resolve;
    });
    return Promise.all([closed, empty]).then(() => clearInterval(this.idleTimer));
  }

  cutAll(): void {
    for (const link of this.links) cut(link, undefined);
  }
}

const uv = (): NonNullable<typeof LIBUV> => LIBUV!;

function onConnection(this: ServerHandle, status: number, handle?: TcpHandle): void {
  const transport = this.transport!;
  if (status < 0 || !handle) {
    transport.core.acceptFailed(codeOf(status));
    return;
  }
  const link = new Link(transport, handle);
  const verdict = transport.core.admit(link, transport.openClients);
  if (verdict === 'drop') {
    closeHandle(link.client, false);
    return;
  }
  handle.onread = onRead;
  handle.useUserBuffer(link.client.buffer);
  if (verdict === 'refuse') {
    handle.readStart();
    refuse(link);
    return;
  }
  link.counted = true;
  transport.openClients++;
  transport.links.add(link);
  link.lastActive = Date.now();
  handle.setNoDelay(true);
  handle.readStart();
  dial(link);
}

/** Dials the next backend for `link`, or closes the client when none is left. */
function dial(link: Link): void {
  const { core } = link.transport;
  const backend = core.choose(link, link.tried);
  if (!backend) {
    refuse(link);
    return;
  }
  const { TCP, TCPConnectWrap, constants } = uv().tcp;
  const handle: Handle = new TCP(constants.SOCKET);
  link.backend = backend;
  link.upstream = new Side(link, handle, false);
  const req: Dial = new TCPConnectWrap();
  req.oncomplete = onConnect;
  req.link = link;
  link.dial = req;
  const err = backend.family === 6 ? handle.connect6(req, backend.address, backend.port) : handle.connect(req, backend.address, backend.port);
  if (err < 0) {
    connectFailed(link, codeOf(err));
    return;
  }
  // Reading starts now, with the dial in flight, so libuv registers the socket with epoll once for
  // both (libuv completes the connect before it reads anything).
  handle.onread = onRead;
  handle.useUserBuffer(link.upstream.buffer);
  handle.readStart();
  link.timer = setTimeout(onConnectTimeout, core.config.connectTimeoutMs, link);
}

function onConnectTimeout(link: Link): void {
  if (link.dial) connectFailed(link, 'ETIMEDOUT');
}

function onConnect(status: number, _handle: TcpHandle, req: Dial): void {
  const link = req.link;
  if (!link || link.dial !== req) return; // timed out or cut before the backend answered
  link.dial = undefined;
  clearTimeout(link.timer);
  if (status < 0) connectFailed(link, codeOf(status));
  else splice(link);
}

/** Drops the dial in flight: its outcome, when it comes, finds nothing to report to. */
function abandonDial(link: Link): void {
  if (link.dial) link.dial.link = undefined;
  link.dial = undefined;
  clearTimeout(link.timer);
  const upstream = link.upstream;
  if (upstream && !upstream.closed) closeHandle(upstream, false);
  link.upstream = undefined;
}

function connectFailed(link: Link, code: string): void {
  const backend = link.backend!;
  abandonDial(link);
  link.backend = undefined;
  link.transport.core.connectFailed(link, backend, code);
  if (link.client.closed) return;
  (link.tried ??= new Set()).add(backend);
  dial(link);
}

function splice(link: Link): void {
  const { client } = link;
  const upstream = link.upstream!;
  const backend = link.backend!;
  link.transport.core.connected(link, backend);
  link.spliced = true;
  client.peer = upstream;
  upstream.peer = client;
  upstream.handle.setNoDelay(true);
  // What the client sent while the backend was connecting goes first, in one write.
  const early = link.early;
  if (early) {
    link.early = undefined;
    const data = early.length === 1 ? early[0] : Buffer.concat(early, link.earlyBytes);
    link.earlyBytes = 0;
    link.transport.core.toBackend(backend, data.length);
    if (!write(upstream, data)) return;
  }
  if (client.eof) {
    // The client half-closed before its backend answered: pass the FIN on now.
    sendFin(upstream);
  } else if (client.paused && !upstream.busy) {
    client.paused = false;
    client.handle.readStart();
  }
}

/**
 * Every read of a side lands in that side's own buffer (libuv's user buffer), which stays warm in the
 * cache and costs no allocation per read. It is replaced (by returning the new one, which libuv reads
 * into next) only when the bytes in it must outlive the call: a write that libuv queued still points
 * at them. A read that fills a small buffer brings a 64 KiB one, for bulk transfers.
 */
function onRead(this: Handle): Buffer | undefined {
  const side = this.side;
  if (!side || side.closed) return undefined;
  const link = side.link;
  const n = uv().readResult();
  if (n > 0) {
    if (link.refused) return undefined; // a client we turned away: what it still sends is dropped
    const buffer = side.buffer;
    link.lastActive = Date.now();
    const to = side.peer;
    if (to) {
      if (side.isClient) link.transport.core.toBackend(link.backend!, n);
      else link.transport.core.toClient(link.backend!, n);
      const retained = write(to, buffer.subarray(0, n)) && to.busy;
      if (retained || (n === buffer.length && n < BULK_READ_SIZE)) {
        side.buffer = Buffer.allocUnsafe(n === buffer.length ? BULK_READ_SIZE : buffer.length);
        return side.buffer;
      }
      return undefined;
    }
    // Still dialing: keep a copy for whichever backend answers.
    (link.early ??= []).push(Buffer.from(buffer.subarray(0, n)));
    link.earlyBytes += n;
    if (link.earlyBytes >= EARLY_LIMIT) {
      side.paused = true;
      this.readStop();
    }
    return undefined;
  }
  // 0: the socket had nothing more (EAGAIN). With a user buffer, Node passes that on too.
  if (n === 0) return undefined;
  if (n !== UV_EOF) {
    cut(link, side); // ECONNRESET and friends: the other side gets a reset too
    return undefined;
  }
  side.eof = true;
  if (link.refused) {
    close(side);
  } else if (side.peer) {
    // Half-close: the FIN goes on once everything before it was written; the other way stays open.
    sendFin(side.peer);
    // The connection counts as finished as soon as both FINs were seen, before the last one is
    // passed on, so a client that saw the end also sees the backend's count go down.
    if (side.peer.eof) release(link);
    closeIfDone(side);
  }
  // A client FIN while dialing is passed on by splice().
  return undefined;
}

/** Writes `data` to `to`; false when the connection was cut. */
function write(to: Side, data: Buffer): boolean {
  let req = spareWrite;
  if (!req) {
    req = spareWrite = new (uv().stream.WriteWrap)();
    req.oncomplete = onWritten;
  }
  req.handle = to.handle;
  req.side = to;
  const err = to.handle.writeBuffer(req, data);
  if (err < 0) {
    cut(to.link, to);
    return false;
  }
  if (!uv().lastWriteWasAsync()) return true;
  // libuv queued what the kernel did not take: hold the bytes, stop reading the source until done.
  req.buffer = data;
  spareWrite = undefined;
  to.busy = true;
  to.link.transport.core.queued(to.handle.writeQueueSize);
  const from = to.peer!;
  if (!from.paused && !from.eof) {
    from.paused = true;
    from.handle.readStop();
  }
  return true;
}

function onWritten(this: Write, status: number): void {
  const to = this.side;
  this.buffer = undefined;
  if (!to || to.closed) return;
  to.busy = false;
  if (status < 0) {
    cut(to.link, to);
    return;
  }
  const from = to.peer!;
  if (from.paused && !from.eof && !from.closed) {
    from.paused = false;
    from.handle.readStart();
  }
}

/** Sends `side` a FIN after what is queued for it. */
function sendFin(side: Side): void {
  if (side.finSent || side.closed) return;
  side.finSent = true;
  // Its own FIN was read and nothing waits to be written: closing sends the FIN, with one call fewer.
  if (side.eof && !side.busy && side.handle.writeQueueSize === 0) {
    side.finDone = true;
    close(side);
    return;
  }
  const req: Shutdown = new (uv().stream.ShutdownWrap)();
  req.handle = side.handle;
  req.side = side;
  req.oncomplete = onShutdown;
  const err = side.handle.shutdown(req);
  if (err < 0) cut(side.link, side);
}

function onShutdown(this: Shutdown, status: number): void {
  const side = this.side;
  if (!side || side.closed) return;
  if (status < 0) {
    cut(side.link, side);
    return;
  }
  side.finDone = true;
  if (side.link.refused) close(side);
  else closeIfDone(side);
}

/** A side that both read and sent its FIN is done with. */
function closeIfDone(side: Side): void {
  if (side.eof && side.finDone) close(side);
}

function close(side: Side): void {
  if (side.closed) return;
  closeHandle(side, false);
  afterClose(side.link);
}

/** Closes a side's handle (with RST when `reset`), and keeps its read buffer for another side. */
function closeHandle(side: Side, reset: boolean): void {
  side.closed = true;
  if (reset && side.handle.reset) side.handle.reset();
  else side.handle.close();
  // No read lands after close(), and a buffer a queued write still pointed into was replaced then.
  if (side.buffer.length === FIRST_READ_SIZE && spareBuffers.length < MOST_SPARE_BUFFERS) spareBuffers.push(side.buffer);
}

/** Closes the connection at once, both sides: `failed` (an error on it) passes a reset to the other. */
function cut(link: Link, failed: Side | undefined): void {
  release(link);
  if (link.dial) abandonDial(link);
  for (const side of [link.client, link.upstream]) {
    if (side && !side.closed) closeHandle(side, failed !== undefined && side !== failed);
  }
  afterClose(link);
}

function afterClose(link: Link): void {
  if (!link.client.closed || (link.upstream && !link.upstream.closed)) return;
  release(link);
  clearTimeout(link.timer);
  if (link.counted) {
    link.counted = false;
    link.transport.openClients--;
    link.transport.removed(link);
  }
}

/** The connection no longer counts as active on its backend. */
function release(link: Link): void {
  if (link.released || !link.spliced) return;
  link.released = true;
  link.transport.core.released(link.backend!);
}

/** Ends a client we cannot serve: a FIN, then whatever it still sends is dropped until its own FIN. */
function refuse(link: Link): void {
  link.refused = true;
  link.early = undefined;
  const client = link.client;
  if (client.paused) {
    client.paused = false;
    client.handle.readStart();
  }
  sendFin(client);
  if (!client.closed) link.timer = setTimeout(onRefusedLinger, REFUSED_LINGER_MS, link);
}

function onRefusedLinger(link: Link): void {
  cut(link, undefined);
}

export async function startLibuvTransport(config: BalancerConfig, pool: BackendPool): Promise<{ core: BalancerCore<Link>; listener: Listener }> {
  const core = new BalancerCore<Link>(config, pool, peerOfLink);
  const { TCP, constants } = uv().tcp;
  // Listen like net.Server does: a host name is looked up first.
  const ip = net.isIP(config.host) ? config.host : (await lookup(config.host)).address;
  const server: ServerHandle = new TCP(constants.SERVER);
  let err = net.isIPv6(ip) ? server.bind6(ip, config.port, 0) : server.bind(ip, config.port);
  if (err === 0) err = server.listen(511);
  if (err < 0) {
    server.close();
    const code = codeOf(err);
    throw Object.assign(new Error(`cannot listen on ${formatHostPort(config.host, config.port)}: ${code}`), { code });
  }
  const address: SockAddr = {};
  server.getsockname(address);
  const transport = new Transport(core, server);
  server.transport = transport;
  server.onconnection = onConnection;
  const listener: Listener = {
    host: address.address!,
    port: address.port!,
    open: () => transport.openClients,
    stopAccepting: () => transport.stop(),
    cutAll: () => transport.cutAll(),
  };
  return { core, listener };
}
