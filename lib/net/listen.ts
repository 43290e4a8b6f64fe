// Listening with a disposable handle: every server in lib/ listens through here, on loopback and a free
// port unless told otherwise, and hands back { host, port, close(), [Symbol.asyncDispose] }.
// close() stops accepting, gives open connections a grace period, then destroys what is left,
// so neither a spec nor a CLI run ever leaves a socket behind.
import type { Server, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { ServerHandle } from './types.ts';
import { formatHostPort } from './units.ts';

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
      reject(Object.assign(new Error(`cannot listen on ${formatHostPort(host, port)}: ${error.code ?? error.message}`, { cause: error }), { code: error.code }));
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
  let closing: Promise<void> | undefined;
  const close = (graceMs = 0): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      hooks.onStop?.();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) await delay(Math.min(25, deadline - Date.now()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await hooks.onClosed?.();
    })();
    return closing;
  };
  return {
    host: address.host,
    port: address.port,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

/** Listens and wraps in one step, for servers with no extra bookkeeping. */
export async function serve(server: Server, options: ListenOptions = {}, hooks: HandleHooks = {}): Promise<ServerHandle> {
  const sockets = trackConnections(server);
  const address = await listenOn(server, options);
  return makeHandle(server, address, sockets, hooks);
}
