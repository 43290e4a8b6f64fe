// The balancer's bytes, on lib/net's connections (Node's bare libuv handles, or net.Socket as the
// fallback): each client connection is a Link to one backend connection, and one set of shared
// callbacks moves bytes between the two, so a connection costs a few small objects and no closures.
//
// Each read is written on at once to the other side. A write the kernel takes whole is done; a write
// that has to wait in this process stops reading from its source until the kernel has taken it
// (backpressure, so at most one read waits per direction). A FIN read on one side becomes a FIN to the
// other once what came before it is written, and the other direction carries on (half-close). An error
// on one side resets the other. What the client sends while its backend is being dialed is kept and
// sent first, to whichever backend answers; the decisions (which backend, what counts) are core.ts's.
import { dial, type Conn, type ConnEvents, type Transport } from '../net/conn.ts';
import { EARLY_LIMIT, REFUSED_LINGER_MS, type BalancerCore } from './core.ts';
import type { Backend } from './pool.ts';

/** A client connection and what it is forwarded to. */
export class Link {
  upstream: Conn | undefined = undefined;
  backend: Backend | undefined = undefined;
  /** Backends that failed for this client; allocated on the first failure only. */
  tried: Set<Backend> | undefined = undefined;
  /** The connect timeout while dialing; the linger of a client we turned away. */
  timer: NodeJS.Timeout | undefined = undefined;
  /** What the client sent while its backend was connecting. */
  early: Buffer[] | undefined = undefined;
  earlyBytes = 0;
  clientEof = false;
  upstreamEof = false;
  /** Reading from the client is stopped: its backend has writes waiting, or it sent too much while dialing. */
  clientPaused = false;
  /** Reading from the backend is stopped: the client has writes waiting. */
  upstreamPaused = false;
  /** Counted in the open connections (served, not turned away at once). */
  counted = false;
  spliced = false;
  refused = false;
  released = false;
  lastActive = 0;

  constructor(
    readonly path: DataPath,
    readonly client: Conn,
  ) {}
}

/** The connections of one listening balancer and the decisions they defer to. */
export class DataPath {
  readonly links = new Set<Link>();
  openClients = 0;
  private onEmpty: (() => void) | undefined = undefined;

  constructor(
    readonly core: BalancerCore<Link>,
    readonly transport: Transport,
  ) {}

  /** A new client connection: served, refused (the connection limit) or dropped (stopping). */
  accept(client: Conn): void {
    const link = new Link(this, client);
    client.state = link;
    const verdict = this.core.admit(link, this.openClients);
    if (verdict === 'drop') {
      client.state = undefined;
      client.destroy();
    } else if (verdict === 'refuse') {
      refuse(link);
    } else {
      link.counted = true;
      this.openClients++;
      this.links.add(link);
      link.lastActive = Date.now();
      dialNext(link);
    }
  }

  /** Closes every connection through which nothing moved for `idleMs`. */
  sweep(idleMs: number): void {
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

  /** Resolves once no connection is open. */
  empty(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.links.size === 0) resolve();
      else this.onEmpty = resolve;
    });
  }

  cutAll(): void {
    for (const link of this.links) cut(link, undefined);
  }
}

const linkOf = (conn: Conn): Link | undefined => conn.state as Link | undefined;

/** One set of callbacks for both sides of every connection; the Link is each connection's state. */
export const BALANCER_EVENTS: ConnEvents = {
  data: (conn, bytes) => {
    const link = linkOf(conn);
    return link ? onData(link, conn, bytes) : false;
  },
  end: (conn) => {
    const link = linkOf(conn);
    if (link) onEnd(link, conn);
  },
  error: (conn) => {
    const link = linkOf(conn);
    if (link) cut(link, conn); // ECONNRESET and friends: the other side gets a reset too
  },
  close: (conn) => {
    const link = linkOf(conn);
    if (link) afterClose(link);
  },
  drain: (conn) => {
    const link = linkOf(conn);
    if (link) resumeSource(link, conn);
  },
  connect: (conn, code) => {
    const link = linkOf(conn);
    if (link && conn === link.upstream) onConnect(link, code);
  },
};

/** Dials the next backend for `link`, or closes the client when none is left. */
function dialNext(link: Link): void {
  const { core, transport } = link.path;
  const backend = core.choose(link, link.tried);
  if (!backend) return refuse(link);
  link.backend = backend;
  link.upstream = dial({ address: backend.address, family: backend.family, port: backend.port, events: BALANCER_EVENTS, state: link, transport, readBuffer: 'own' });
  link.timer = setTimeout(onConnectTimeout, core.config.connectTimeoutMs, link);
}

function onConnectTimeout(link: Link): void {
  if (link.upstream && !link.spliced) connectFailed(link, 'ETIMEDOUT');
}

function onConnect(link: Link, code: string | undefined): void {
  clearTimeout(link.timer);
  link.timer = undefined;
  if (code !== undefined) connectFailed(link, code);
  else splice(link);
}

/** Drops the dial in flight: its outcome, when it comes, finds nothing to report to. */
function abandonDial(link: Link): void {
  clearTimeout(link.timer);
  link.timer = undefined;
  const upstream = link.upstream;
  link.upstream = undefined;
  if (upstream && !upstream.closed) {
    upstream.state = undefined;
    upstream.destroy();
  }
}

function connectFailed(link: Link, code: string): void {
  const backend = link.backend!;
  abandonDial(link);
  link.backend = undefined;
  link.path.core.connectFailed(link, backend, code);
  if (link.client.closed) return;
  (link.tried ??= new Set()).add(backend);
  dialNext(link);
}

function splice(link: Link): void {
  const upstream = link.upstream!;
  const backend = link.backend!;
  link.path.core.connected(link, backend);
  link.spliced = true;
  // What the client sent while the backend was connecting goes first, in one write.
  let queued = false;
  const early = link.early;
  if (early) {
    link.early = undefined;
    const data = early.length === 1 ? early[0] : Buffer.concat(early, link.earlyBytes);
    link.earlyBytes = 0;
    link.path.core.toBackend(backend, data.length);
    queued = forward(link, link.client, upstream, data);
    if (upstream.closed) return;
  }
  // The client half-closed before its backend answered: pass the FIN on now.
  if (link.clientEof) upstream.end();
  else if (link.clientPaused && !queued) resume(link, link.client);
}

/** Bytes read from `from`: forwarded (or kept for the backend being dialed). True when they are kept. */
function onData(link: Link, from: Conn, bytes: Buffer): boolean {
  if (link.refused) return false; // a client we turned away: what it still sends is dropped
  link.lastActive = Date.now();
  const { core } = link.path;
  if (from !== link.client) {
    core.toClient(link.backend!, bytes.length);
    return forward(link, from, link.client, bytes);
  }
  if (link.spliced) {
    core.toBackend(link.backend!, bytes.length);
    return forward(link, from, link.upstream!, bytes);
  }
  // Still dialing: a copy for whichever backend answers (the read buffer is the connection's own).
  (link.early ??= []).push(Buffer.from(bytes));
  link.earlyBytes += bytes.length;
  if (link.earlyBytes >= EARLY_LIMIT) pause(link, from);
  return false;
}

/**
 * Writes `data` read from `from` to `to`. When it has to wait in this process, `from` is not read
 * until `to` drains, and the bytes are kept (true).
 */
function forward(link: Link, from: Conn, to: Conn, data: Buffer): boolean {
  if (to.write(data) || to.closed) return false;
  link.path.core.queued(to.pending);
  pause(link, from);
  return true;
}

function pause(link: Link, conn: Conn): void {
  if (conn === link.client) {
    if (link.clientPaused || link.clientEof) return;
    link.clientPaused = true;
  } else {
    if (link.upstreamPaused || link.upstreamEof) return;
    link.upstreamPaused = true;
  }
  conn.pause();
}

function resume(link: Link, conn: Conn): void {
  if (conn === link.client) {
    if (!link.clientPaused) return;
    link.clientPaused = false;
  } else {
    if (!link.upstreamPaused) return;
    link.upstreamPaused = false;
  }
  if (!conn.closed) conn.resume();
}

/** Everything waiting for `to` was written: read again from the side that feeds it. */
function resumeSource(link: Link, to: Conn): void {
  const from = to === link.client ? link.upstream : link.client;
  if (from) resume(link, from);
}

/** A FIN from `from`: passed on once everything before it was written; the other way stays open. */
function onEnd(link: Link, from: Conn): void {
  if (link.refused) return; // our FIN went first: the connection closes itself now
  if (from === link.client) {
    link.clientEof = true;
    if (!link.spliced) return; // passed on by splice()
    link.upstream!.end();
  } else {
    link.upstreamEof = true;
    link.client.end();
  }
  // The connection counts as finished as soon as both FINs were seen, before the last one is passed
  // on, so a client that saw the end also sees the backend's count go down.
  if (link.clientEof && link.upstreamEof) release(link);
}

/** Closes the connection at once, both sides: `failed` (an error on it) passes a reset to the other. */
function cut(link: Link, failed: Conn | undefined): void {
  release(link);
  if (!link.spliced) abandonDial(link);
  for (const conn of [link.client, link.upstream]) {
    if (!conn || conn.closed) continue;
    if (failed !== undefined && conn !== failed) conn.reset();
    else conn.destroy();
  }
  afterClose(link);
}

/** Once both sides are closed, the connection no longer counts as open. */
function afterClose(link: Link): void {
  if (!link.client.closed || (link.upstream && !link.upstream.closed)) return;
  release(link);
  clearTimeout(link.timer);
  if (!link.counted) return;
  link.counted = false;
  link.path.openClients--;
  link.path.removed(link);
}

/** The connection no longer counts as active on its backend. */
function release(link: Link): void {
  if (link.released || !link.spliced) return;
  link.released = true;
  link.path.core.released(link.backend!);
}

/** Ends a client we cannot serve: a FIN, then whatever it still sends is dropped until its own FIN. */
function refuse(link: Link): void {
  link.refused = true;
  link.early = undefined;
  resume(link, link.client);
  link.client.end();
  if (!link.client.closed) link.timer = setTimeout(cut, REFUSED_LINGER_MS, link, undefined);
}
