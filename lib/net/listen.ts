// Listening with net.Server and a disposable handle: servers built on node:net or node:http listen through
// here, on loopback and a free port unless told otherwise, and get the handle of server.ts.
import type { Server, Socket } from 'node:net';
import { listenError } from './errors.ts';
import { ServerBase } from './server.ts';
import type { ServerHandle } from './types.ts';

export interface ListenOptions {
  /** Address to bind; loopback unless told otherwise. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  backlog?: number;
}

export interface HandleHooks {
  /** Called once when close() begins, after accepting stopped: ask open connections to finish. */
  onStop?: () => void;
  /** Called after every connection is gone. */
  onClosed?: () => void | Promise<void>;
}

/** Tracks a server's open sockets so they can be drained or destroyed on close. */
export function trackConnections(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/** Binds `server`, resolving once it listens; rejects with a message that names the address. */
export async function listenOn(server: Server, options: ListenOptions = {}): Promise<{ host: string; port: number }> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      reject(listenError(host, port, error.code ?? error.message, error));
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, backlog: options.backlog ?? 511 });
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server is not listening on TCP');
  return { host: address.address, port: address.port };
}

/** A net.Server (or anything that closes like one) with the sockets it tracks, as a ServerBase. */
class NetServerHandle extends ServerBase {
  constructor(
    private readonly server: { close(callback: () => void): unknown },
    address: { host: string; port: number },
    private readonly sockets: Set<{ destroy(): void }>,
    private readonly hooks: HandleHooks,
  ) {
    super();
    this.host = address.host;
    this.port = address.port;
  }

  protected override stopAccepting(): Promise<void> {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  protected override openCount(): number {
    return this.sockets.size;
  }

  protected override cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  protected override onStop(): void {
    this.hooks.onStop?.();
  }

  protected override async onClosed(): Promise<void> {
    await this.hooks.onClosed?.();
  }
}

/**
 * Wraps a listening server in the handle every factory returns. `sockets` is the set from
 * trackConnections (or the server's own bookkeeping).
 */
export function makeHandle(
  server: { close(callback: () => void): unknown },
  address: { host: string; port: number },
  sockets: Set<{ destroy(): void }>,
  hooks: HandleHooks = {},
): ServerHandle {
  return new NetServerHandle(server, address, sockets, hooks);
}

/** Listens and wraps in one step, for servers with no extra bookkeeping. */
export async function serve(server: Server, options: ListenOptions = {}, hooks: HandleHooks = {}): Promise<ServerHandle> {
  const sockets = trackConnections(server);
  const address = await listenOn(server, options);
  return makeHandle(server, address, sockets, hooks);
}
