// The balancer's bytes carried by net.Socket: the fallback where Node's libuv handles are missing or
// turned off (CONNLAB_LEAN_SOCKETS=0). Backpressure is the streams' own (write() returning false pauses
// the reading side until 'drain'); half-close uses allowHalfOpen, so one side's 'end' becomes end() on
// the other and the other direction carries on.
import net, { type Socket } from 'node:net';
import { listenOn } from '../net/listen.ts';
import { errorCode } from '../net/errors.ts';
import { BalancerCore, EARLY_LIMIT, REFUSED_LINGER_MS, type Listener } from './core.ts';
import type { BalancerConfig } from './options.ts';
import type { Backend, BackendPool } from './pool.ts';

/** Reads start small (a slice of Node's shared pool, no allocation of their own) and grow for bulk. */
const FIRST_READ_SIZE = 4095;
const BULK_READ_SIZE = 64 * 1024;

/**
 * Reads from a backend into one buffer reused for every read, so the busy direction (responses)
 * allocates nothing per chunk. The buffer is replaced only when a write to the client kept hold of it,
 * and grows from a small slice to 64 KiB once a read fills it, so short-lived connections stay cheap.
 */
class UpstreamReader {
  private buffer = Buffer.allocUnsafe(FIRST_READ_SIZE);
  private retained = false;
  onRead: (chunk: Buffer) => void = () => {};
  readonly onread = {
    buffer: (): Buffer => this.buffer,
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      const full = bytes === this.buffer.length;
      this.onRead((buffer as Buffer).subarray(0, bytes));
      if (this.retained || (full && this.buffer.length < BULK_READ_SIZE)) {
        this.buffer = Buffer.allocUnsafe(full ? BULK_READ_SIZE : this.buffer.length);
        this.retained = false;
      }
      return true; // pausing, when the client is slow, is done with pause()
    },
  };

  /** The last chunk is still queued for the client: the next read needs another buffer. */
  renew(): void {
    this.retained = true;
  }
}

/**
 * What a client sends while its backend is still connecting. Reading it at once (rather than pausing
 * the client until then) saves an event-loop turn per connection; keeping it here rather than in the
 * backend socket lets a failed connect hand the same bytes to the next backend.
 */
class EarlyBytes {
  chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  private readonly onData: (chunk: Buffer) => void;
  private readonly onEnd: () => void;

  constructor(client: Socket) {
    this.onData = (chunk) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      if (this.bytes >= EARLY_LIMIT) client.pause();
    };
    this.onEnd = () => {
      this.ended = true;
    };
    client.on('data', this.onData);
    client.once('end', this.onEnd);
  }

  detach(client: Socket): void {
    client.removeListener('data', this.onData);
    client.removeListener('end', this.onEnd);
  }
}

export async function startNetTransport(config: BalancerConfig, pool: BackendPool): Promise<{ core: BalancerCore<Socket>; listener: Listener }> {
  const core = new BalancerCore<Socket>(config, pool, (socket) => ({ address: socket.remoteAddress, port: socket.remotePort }));
  const clients = new Set<Socket>();
  const upstreams = new Set<Socket>();

  const splice = (client: Socket, early: EarlyBytes, upstream: Socket, reader: UpstreamReader, backend: Backend): void => {
    core.connected(client, backend);
    upstreams.add(upstream);
    early.detach(client);
    // What the client sent while the backend was connecting goes first, in one write.
    if (early.chunks.length > 0) {
      upstream.cork();
      for (const chunk of early.chunks) {
        core.toBackend(backend, chunk.length);
        upstream.write(chunk);
      }
      upstream.uncork();
      early.chunks = [];
    }
    // Client to backend: pause the client while the backend socket has more queued than it wants.
    client.on('data', (chunk: Buffer) => {
      core.toBackend(backend, chunk.length);
      if (!upstream.write(chunk)) {
        core.queued(upstream.writableLength);
        client.pause();
      }
    });
    upstream.on('drain', () => client.resume());
    // Half-close: pass the FIN on once everything before it was written; the other way stays open.
    client.on('end', () => upstream.end());
    // Backend to client: the backend socket reads into `reader`'s reused buffer (see UpstreamReader).
    reader.onRead = (chunk) => {
      core.toClient(backend, chunk.length);
      const flushed = client.write(chunk);
      // The kernel took the bytes at once unless something stayed queued: then the queue holds this
      // buffer, and the next read needs a new one.
      if (client.writableLength > 0) {
        reader.renew();
        if (!flushed) {
          core.queued(client.writableLength);
          upstream.pause();
        }
      }
    };
    client.on('drain', () => upstream.resume());
    upstream.on('end', () => client.end());
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      core.released(backend);
    };
    // A reset on one side is passed on as a reset; a clean close of one side lets the other finish.
    client.on('error', () => {
      finish();
      upstream.resetAndDestroy();
    });
    upstream.on('error', () => {
      finish();
      client.resetAndDestroy();
    });
    // The connection counts as finished as soon as both FINs were seen, before the last one is
    // passed on, so a client that saw the end also sees the backend's count go down.
    let ends = 0;
    const onEnd = (): void => {
      if (++ends === 2) finish();
    };
    if (early.ended) {
      // The client half-closed before its backend answered: pass the FIN on now.
      ends++;
      upstream.end();
    } else {
      client.prependOnceListener('end', onEnd);
    }
    upstream.prependOnceListener('end', onEnd);
    // A socket that closes before both FINs were seen was cut off (idle timeout, destroy): cut the
    // other one too. After both FINs, the other socket closes once its queued bytes are written.
    client.once('close', () => {
      if (ends < 2) upstream.destroy();
      finish();
    });
    upstream.once('close', () => {
      upstreams.delete(upstream);
      if (ends < 2) client.destroy();
      finish();
    });
    client.resume();
  };

  const connectNext = (client: Socket, early: EarlyBytes, tried: Set<Backend>): void => {
    const backend = core.choose(client, tried);
    if (!backend) {
      early.detach(client);
      refuse(client);
      return;
    }
    tried.add(backend);
    const reader = new UpstreamReader();
    const upstream = net.connect({ host: backend.address, port: backend.port, allowHalfOpen: true, noDelay: true, onread: reader.onread });
    let settled = false;
    const timer = setTimeout(() => fail(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), config.connectTimeoutMs);
    const clientGone = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      upstream.destroy();
    };
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      upstream.destroy();
      client.removeListener('close', clientGone);
      core.connectFailed(client, backend, errorCode(error));
      if (client.destroyed) return;
      connectNext(client, early, tried);
    };
    client.once('close', clientGone);
    upstream.once('error', fail);
    upstream.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      upstream.removeListener('error', fail);
      client.removeListener('close', clientGone);
      splice(client, early, upstream, reader, backend);
    });
  };

  /** Ends a client we cannot serve: a FIN, then whatever it still sends is dropped. */
  const refuse = (client: Socket): void => {
    client.resume();
    client.on('data', () => {});
    client.on('end', () => client.destroy());
    client.end();
    client.setTimeout(REFUSED_LINGER_MS, () => client.destroy());
  };

  const onClient = (client: Socket): void => {
    client.on('error', () => {});
    const verdict = core.admit(client, clients.size);
    if (verdict === 'drop') {
      client.destroy();
      return;
    }
    if (verdict === 'refuse') {
      refuse(client);
      return;
    }
    clients.add(client);
    client.once('close', () => clients.delete(client));
    if (config.idleTimeoutMs > 0) {
      // The client socket's timer is refreshed by reads from the client and writes to it, so it sees
      // traffic either way.
      client.setTimeout(config.idleTimeoutMs, () => {
        core.idleTimedOut(client);
        client.destroy();
      });
    }
    connectNext(client, new EarlyBytes(client), new Set());
  };

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onClient);
  // listenOn rejects with `cannot listen on HOST:PORT: CODE`.
  const address = await listenOn(server, config);
  // Accept failures (EMFILE, ENFILE) reach here: log them and keep listening.
  server.on('error', (error) => core.acceptFailed(errorCode(error)));
  const listener: Listener = {
    host: address.host,
    port: address.port,
    open: () => clients.size,
    stopAccepting: () => new Promise<void>((resolve) => server.close(() => resolve())),
    cutAll: () => {
      for (const client of clients) client.destroy();
      for (const upstream of upstreams) upstream.destroy();
    },
  };
  return { core, listener };
}
