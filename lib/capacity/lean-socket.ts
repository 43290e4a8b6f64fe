// Holding many TCP connections cheaply. A capacity run only dials, notices when the server closes, and
// closes; a net.Socket carries a whole stream machine for that (about 5 KB each). Node's own libuv TCP
// handle (the `tcp_wrap` binding net.Socket is built on) does the same for a fraction of the memory and
// CPU, so the tester uses it when it is there and falls back to net.Socket when it is not.
import net from 'node:net';
import { LEAN_KIND, LIBUV, UV_EOF, codeOf, type ConnectReq, type TcpHandle } from '../net/libuv.ts';

/** What a connection reports back: the dial's outcome, then how it ended. `code` is an errno name. */
export interface LeanEvents {
  onConnect(conn: LeanConnection, code: string | undefined): void;
  /** The peer ended the connection: `code` is undefined for a FIN, else the error (ECONNRESET). */
  onPeerClose(conn: LeanConnection, code: string | undefined): void;
}

interface Connected extends TcpHandle {
  conn?: LeanConnection;
}
interface Dial extends ConnectReq {
  conn?: LeanConnection;
}

const BINDING = LIBUV;
export { LEAN_KIND };

// Shared callbacks: one function for every connection, the connection found through the handle.
function onComplete(status: number, handle: Connected, req: Dial): void {
  const conn = req.conn;
  if (!conn) return; // closed by us (a dial timeout) before the dial completed
  req.conn = undefined;
  conn.req = undefined;
  if (status < 0) {
    conn.release();
    conn.events.onConnect(conn, codeOf(status));
    return;
  }
  handle.onread = onRead;
  const err = handle.readStart();
  conn.events.onConnect(conn, undefined);
  if (err < 0) onPeerEnded(conn, codeOf(err));
}

function onRead(this: Connected): void {
  const n = BINDING!.readResult();
  if (n >= 0) return; // data from the server is read and dropped
  const conn = this.conn;
  if (!conn) return;
  onPeerEnded(conn, n === UV_EOF ? undefined : codeOf(n));
}

function onPeerEnded(conn: LeanConnection, code: string | undefined): void {
  conn.release();
  conn.events.onPeerClose(conn, code);
}

/**
 * One connection. `slot` and `startedAt` belong to the caller (which connection of the run this is,
 * when its dial began); everything else is the handle.
 */
export class LeanConnection {
  private handle?: Connected;
  private socket?: net.Socket;
  /** The source port this dial asked for (0: the kernel's choice). */
  localPort = 0;
  /** The dial in flight, so a close before it completes can silence its outcome. */
  req?: Dial;

  constructor(
    readonly events: LeanEvents,
    public slot: number,
    public startedAt: number,
  ) {}

  /**
   * Starts the dial; a synchronous failure (EMFILE, a bad source address) arrives through onConnect.
   * `localPort` picks the source port: binding port 0 makes the kernel search for a free one, which
   * grows slow with tens of thousands in use, so the run hands out distinct ports itself.
   */
  dial(address: string, port: number, family: 4 | 6, localAddress?: string, localPort = 0): void {
    this.localPort = localPort;
    if (!BINDING) return this.dialNet(address, port, localAddress);
    const handle: Connected = new BINDING.tcp.TCP(BINDING.tcp.constants.SOCKET);
    handle.conn = this;
    this.handle = handle;
    let err = 0;
    if (localAddress) {
      const bind = (p: number): number => (family === 6 ? handle.bind6(localAddress, p, 0) : handle.bind(localAddress, p));
      err = bind(localPort);
      // The port we picked is taken (by another program): let the kernel find one.
      if (err < 0 && localPort !== 0 && codeOf(err) === 'EADDRINUSE') err = bind(0);
      // bind() to port 0 says EADDRINUSE when the address has no free port left; connect() says EADDRNOTAVAIL.
      if (err < 0 && codeOf(err) === 'EADDRINUSE') return this.failNow('EADDRNOTAVAIL');
    }
    if (err >= 0) {
      const req: Dial = new BINDING.tcp.TCPConnectWrap();
      req.oncomplete = onComplete;
      req.conn = this;
      this.req = req;
      err = family === 6 ? handle.connect6(req, address, port) : handle.connect(req, address, port);
    }
    if (err < 0) this.failNow(codeOf(err));
  }

  private failNow(code: string): void {
    this.release();
    // Reported on the next tick, like every other outcome, so callers never re-enter themselves.
    process.nextTick(() => this.events.onConnect(this, code));
  }

  private dialNet(address: string, port: number, localAddress?: string): void {
    const socket = net.connect({ host: address, port, localAddress });
    this.socket = socket;
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      this.events.onConnect(this, undefined);
    });
    socket.on('data', () => {});
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'EUNKNOWN';
      this.release();
      if (connected) this.events.onPeerClose(this, code);
      else this.events.onConnect(this, code);
    });
    socket.on('end', () => {
      this.release();
      this.events.onPeerClose(this, undefined);
    });
  }

  /** Closes from our side: `reset` sends RST (no TIME_WAIT left behind), otherwise FIN. */
  close(reset = false): void {
    const { handle, socket, req } = this;
    if (req) req.conn = undefined;
    this.req = undefined;
    this.handle = undefined;
    this.socket = undefined;
    if (handle) {
      handle.conn = undefined;
      if (reset && handle.reset) handle.reset();
      else handle.close();
    } else if (socket) {
      socket.removeAllListeners();
      socket.on('error', () => {});
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  /** Frees the handle after the peer ended it or the dial failed. */
  release(): void {
    this.close(false);
  }
}
