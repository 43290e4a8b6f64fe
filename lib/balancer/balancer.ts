// The L4 balancer: each client connection is forwarded to one backend chosen by the strategy, and
// bytes flow both ways with backpressure (a side that cannot write pauses the side that reads), so
// memory stays bounded however much data moves. Half-close is forwarded, not turned into a close: when
// one side ends its writes, the other still gets everything that follows until it ends too. A backend
// that refuses or does not accept within the connect timeout is skipped and the next one is tried;
// when none is left the client gets a clean close and a log line.
import net, { type Socket } from 'node:net';
import { listenOn, makeHandle } from '../net/listen.ts';
import { errorCode } from '../net/errors.ts';
import type { ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';
import { validateBalancerOptions, type BalancerOptions, type Strategy } from './options.ts';
import { BackendPool, type Backend, type BackendStats } from './pool.ts';
import { startStatsServer } from './stats-server.ts';

export interface BalancerStats {
  listening: string;
  strategy: Strategy;
  /** Client connections open now (connecting to a backend or forwarding). */
  open: number;
  accepted: number;
  /** Turned away by maxConnections. */
  rejected: number;
  /** Clients closed because no backend could be reached. */
  noBackend: number;
  /** Connections closed by the idle timeout. */
  idleTimeouts: number;
  bytesFromClients: number;
  bytesToClients: number;
  /** The most bytes ever queued in the balancer for one socket: bounded by backpressure. */
  peakBufferedBytes: number;
  backends: BackendStats[];
}

export interface Balancer extends ServerHandle {
  /** The stats HTTP server's port, when one was asked for. */
  readonly statsPort: number | undefined;
  stats(): BalancerStats;
}

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

/** Most bytes read from a client while its backend connects; past it the client is paused. */
const EARLY_LIMIT = 64 * 1024;

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

export async function startBalancer(options: BalancerOptions): Promise<Balancer> {
  const config = validateBalancerOptions(options);
  const log = config.log;
  const pool = new BackendPool(config);
  await pool.resolve();
  const clients = new Set<Socket>();
  const upstreams = new Set<Socket>();
  const counters = { accepted: 0, rejected: 0, noBackend: 0, idleTimeouts: 0, bytesFromClients: 0, bytesToClients: 0, peakBufferedBytes: 0 };
  let stopping = false;

  /** Moves bytes from `from` to `to`, pausing `from` while `to` has more queued than it wants. */
  const forward = (from: Socket, to: Socket, count: (n: number) => void): void => {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (!to.write(chunk)) {
        const queued = to.writableLength;
        if (queued > counters.peakBufferedBytes) counters.peakBufferedBytes = queued;
        from.pause();
      }
    });
    to.on('drain', () => from.resume());
    // Half-close: pass the FIN on once everything before it was written; the other way stays open.
    from.on('end', () => to.end());
  };

  const splice = (client: Socket, early: EarlyBytes, upstream: Socket, reader: UpstreamReader, backend: Backend): void => {
    backend.active++;
    pool.connected(backend);
    upstreams.add(upstream);
    early.detach(client);
    const countIn = (n: number): void => {
      counters.bytesFromClients += n;
      backend.bytesToBackend += n;
    };
    // What the client sent while the backend was connecting goes first, in one write.
    if (early.chunks.length > 0) {
      upstream.cork();
      for (const chunk of early.chunks) {
        countIn(chunk.length);
        upstream.write(chunk);
      }
      upstream.uncork();
      early.chunks = [];
    }
    forward(client, upstream, countIn);
    // Backend to client: the backend socket reads into `reader`'s reused buffer (see UpstreamReader).
    reader.onRead = (chunk) => {
      counters.bytesToClients += chunk.length;
      backend.bytesFromBackend += chunk.length;
      const flushed = client.write(chunk);
      // The kernel took the bytes at once unless something stayed queued: then the queue holds this
      // buffer, and the next read needs a new one.
      if (client.writableLength > 0) {
        reader.renew();
        if (!flushed) {
          if (client.writableLength > counters.peakBufferedBytes) counters.peakBufferedBytes = client.writableLength;
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
      backend.active--;
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
    const backend = pool.pick(tried);
    if (!backend) {
      counters.noBackend++;
      log?.(`[NO BACKEND] ${peer(client)}: ${tried.size === 0 ? 'no backend configured' : `all ${tried.size} backends failed`}; closing the client`);
      early.detach(client);
      closeClient(client);
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
      const code = errorCode(error);
      pool.connectFailed(backend, code);
      log?.(`[FAILOVER] ${peer(client)}: backend ${backend.name} ${code}, trying the next one`);
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
      if (config.logConnections) log?.(`[FORWARDING] Client ${peer(client)} connected to ${backend.name}`);
      splice(client, early, upstream, reader, backend);
    });
  };

  // The peer's address costs a system call (getpeername): only logs ask for it.
  const peer = (client: Socket): string => formatHostPort(client.remoteAddress ?? '?', client.remotePort ?? 0);

  /** Ends a client we cannot serve: a FIN, then whatever it still sends is dropped. */
  const closeClient = (client: Socket): void => {
    client.resume();
    client.on('data', () => {});
    client.on('end', () => client.destroy());
    client.end();
    client.setTimeout(1000, () => client.destroy());
  };

  const onClient = (client: Socket): void => {
    client.on('error', () => {});
    if (stopping) {
      client.destroy();
      return;
    }
    if (config.maxConnections > 0 && clients.size >= config.maxConnections) {
      counters.rejected++;
      log?.(`[REJECT] ${peer(client)}: ${clients.size} connections open, the most allowed is ${config.maxConnections}`);
      closeClient(client);
      return;
    }
    counters.accepted++;
    clients.add(client);
    client.once('close', () => clients.delete(client));
    if (config.idleTimeoutMs > 0) {
      // The client socket's timer is refreshed by reads from the client and writes to it, so it sees
      // traffic either way.
      client.setTimeout(config.idleTimeoutMs, () => {
        counters.idleTimeouts++;
        log?.(`[TIMEOUT] ${peer(client)}: idle for ${config.idleTimeoutMs}ms, closing`);
        client.destroy();
      });
    }
    connectNext(client, new EarlyBytes(client), new Set());
  };

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onClient);
  // listenOn rejects with `cannot listen on HOST:PORT: CODE`.
  const address = await listenOn(server, config);
  // Accept failures (EMFILE, ENFILE) reach here: log them and keep listening.
  server.on('error', (error) => log?.(`[ERROR] accept: ${errorCode(error)}`));
  const stats = (): BalancerStats => ({
    listening: formatHostPort(address.host, address.port),
    strategy: config.strategy,
    open: clients.size,
    ...counters,
    backends: pool.backends.map((b) => b.stats()),
  });

  let statsServer: ServerHandle | undefined;
  if (config.statsPort !== undefined) {
    try {
      statsServer = await startStatsServer(stats, { host: config.statsHost, port: config.statsPort });
    } catch (error) {
      server.close();
      throw error;
    }
  }
  pool.startHealthChecks();

  const base = makeHandle(server, address, clients, {
    onStop: () => {
      stopping = true;
    },
    onClosed: async () => {
      pool.stop();
      for (const upstream of upstreams) upstream.destroy();
      await statsServer?.close();
    },
  });
  const close = (graceMs = config.drainTimeoutMs): Promise<void> => base.close(graceMs);
  return {
    host: base.host,
    port: base.port,
    statsPort: statsServer?.port,
    stats,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}
