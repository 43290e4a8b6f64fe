// Conn over net.Socket: the fallback where Node's libuv handles are missing or turned off. Half-close
// uses allowHalfOpen (the peer's FIN is an 'end', ours is end()); backpressure is the stream's own
// (write() returns false past the high-water mark, 'drain' follows).
import net from 'node:net';
import type { Conn, ConnEvents, ConnListener, DialOptions, ListenConnOptions } from './conn.ts';
import { dialFailureCode, errorCode, listenError } from './errors.ts';
import { listenOn } from './listen.ts';
import { BULK_READ_SIZE, FIRST_READ_SIZE } from './read-sizes.ts';
import { formatHostPort } from './units.ts';

class NetConn implements Conn {
  state: unknown = undefined;
  private opened = false;
  private peerName = '?';

  constructor(
    private readonly socket: net.Socket,
    readonly events: ConnEvents,
    private readonly dropReads: boolean,
    /** Reads arrive through `onread` (see ownReads), not as 'data' events. */
    private readonly readsOwnBuffer = false,
  ) {}

  /** The socket is connected (accepted, or dialed and connected): from now on its events are ours. */
  open(): void {
    this.opened = true;
    const { socket, events } = this;
    this.peerName = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    socket.setNoDelay(true);
    if (this.dropReads) socket.on('data', () => {});
    else if (!this.readsOwnBuffer) socket.on('data', (bytes: Buffer) => events.data(this, bytes));
    socket.on('end', () => events.end(this));
    socket.on('error', (error: NodeJS.ErrnoException) => events.error(this, errorCode(error), error));
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
    return this.socket.write(data, 'latin1');
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
    if (!this.opened) this.socket.removeAllListeners('connect');
    this.socket.resetAndDestroy();
  }
}

/**
 * `own` reads for a dialed socket (Node lets only those choose their buffer): every read lands in one
 * buffer of the connection's, replaced only when data() kept the bytes or a read filled it (growing to
 * 64 KiB), so a proxy's busy direction allocates nothing per chunk, where 'data' events would.
 */
function ownReads(events: ConnEvents, conn: () => Conn): net.OnReadOpts {
  let buffer = Buffer.allocUnsafe(FIRST_READ_SIZE);
  return {
    buffer: () => buffer,
    callback: (bytes: number, into: Uint8Array): boolean => {
      const full = bytes === buffer.length;
      const kept = events.data(conn(), (into as Buffer).subarray(0, bytes));
      if (kept === true || (full && buffer.length < BULK_READ_SIZE)) buffer = Buffer.allocUnsafe(full ? BULK_READ_SIZE : buffer.length);
      return true; // backpressure is pause(), as for every Conn
    },
  };
}

export function dialNet(options: DialOptions): Conn {
  const own = options.readBuffer === 'own';
  const made: { conn?: NetConn } = {}; // onread is given before the Conn can be made
  const socket = net.connect({
    host: options.address,
    port: options.port,
    localAddress: options.localAddress,
    localPort: options.localPort || undefined,
    allowHalfOpen: true,
    noDelay: true,
    ...(own ? { onread: ownReads(options.events, () => made.conn!) } : {}),
  });
  const conn = (made.conn = new NetConn(socket, options.events, options.readBuffer === 'none', own));
  conn.state = options.state;
  const onError = (error: NodeJS.ErrnoException): void => {
    options.events.connect?.(conn, dialFailureCode(errorCode(error)));
  };
  socket.once('error', onError);
  socket.once('connect', () => {
    socket.removeListener('error', onError);
    conn.open();
    options.events.connect?.(conn, undefined);
  });
  return conn;
}

export async function listenNet(address: string, options: ListenConnOptions): Promise<ConnListener> {
  const dropReads = options.readBuffer === 'none';
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn = new NetConn(socket, options.events, dropReads);
    conn.open();
    options.onConnection(conn);
  });
  const bound = await listenOn(server, { host: address, port: options.port, backlog: options.backlog }).catch((error: NodeJS.ErrnoException) => {
    throw listenError(options.host, options.port, error.code ?? 'EUNKNOWN', error);
  });
  // Accept failures (EMFILE, ENFILE) reach here once listening: report them and keep listening.
  server.on('error', (error: NodeJS.ErrnoException) => options.onAcceptError(errorCode(error), error));
  return { ...bound, close: (callback) => server.close(() => callback()) };
}
