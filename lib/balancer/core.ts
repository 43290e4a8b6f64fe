// What the balancer decides, whatever carries the bytes: which clients are served, which backend each
// connection goes to and what happens when that backend fails, and every counter the stats report.
// The data path (data-path.ts) only moves bytes and calls in here at each turn of a connection's life.
import type { BalancerConfig } from './options.ts';
import type { Backend, BackendPool } from './pool.ts';

/** The balancer's own counts, as stats() reports them. */
export interface Counters {
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
}

/** Most bytes read from a client while its backend connects; past it the client is paused. */
// Stryker disable next-line ArithmeticOperator: a smaller limit pauses the client sooner and changes no outcome a client or backend sees.
export const EARLY_LIMIT = 64 * 1024;

/** How long a client we cannot serve may take to answer our FIN with its own before it is cut (ms). */
export const REFUSED_LINGER_MS = 1000;

/**
 * The decisions. `C` is the data path's client connection; `peerOf` names it for logs (it costs a
 * system call, so only a log line asks for it).
 */
export class BalancerCore<C> {
  readonly counters: Counters = { accepted: 0, rejected: 0, noBackend: 0, idleTimeouts: 0, bytesFromClients: 0, bytesToClients: 0, peakBufferedBytes: 0 };
  stopping = false;
  readonly log: ((line: string) => void) | undefined;

  constructor(
    readonly config: BalancerConfig,
    readonly pool: BackendPool,
    private readonly peerOf: (client: C) => string,
  ) {
    this.log = config.log;
  }

  peer(client: C): string {
    return this.peerOf(client);
  }

  /**
   * A new client, with `open` clients already served: 'serve' it, 'drop' it (we are stopping), or
   * 'refuse' it (the connection limit), which the transport does with a FIN.
   */
  admit(client: C, open: number): 'serve' | 'drop' | 'refuse' {
    if (this.stopping) return 'drop';
    const max = this.config.maxConnections;
    if (max > 0 && open >= max) {
      this.counters.rejected++;
      this.log?.(`[REJECT] ${this.peer(client)}: ${open} connections open, the most allowed is ${max}`);
      return 'refuse';
    }
    this.counters.accepted++;
    return 'serve';
  }

  /**
   * The backend to dial for `client`, skipping those in `tried`; undefined (counted and logged) when
   * none is left, and then the transport closes the client cleanly.
   */
  choose(client: C, tried: ReadonlySet<Backend> | undefined): Backend | undefined {
    const backend = this.pool.pick(tried);
    if (backend) return backend;
    this.counters.noBackend++;
    // The pool gives a backend to a connection that tried none, so `tried` holds at least one here.
    // Stryker disable next-line OptionalChaining: see above; `tried` is never undefined on this line.
    this.log?.(`[NO BACKEND] ${this.peer(client)}: ${tried?.size ?? 0} of ${this.pool.backends.length} backends tried, none could be reached; closing the client`);
    return undefined;
  }

  /** Dialing `backend` failed with `code` (ETIMEDOUT for the connect timeout); the next one is tried. */
  connectFailed(client: C, backend: Backend, code: string): void {
    this.pool.connectFailed(backend, code);
    this.log?.(`[FAILOVER] ${this.peer(client)}: backend ${backend.name} ${code}, trying the next one`);
  }

  /** The backend accepted: the connection counts as active on it until released(). */
  connected(client: C, backend: Backend): void {
    backend.active++;
    this.pool.connected(backend);
    if (this.config.logConnections) this.log?.(`[FORWARDING] Client ${this.peer(client)} connected to ${backend.name}`);
  }

  /** The connection through `backend` is over (both FINs seen, or cut). Call once. */
  released(backend: Backend): void {
    backend.active--;
  }

  /** `n` bytes from the client were handed to its backend. */
  toBackend(backend: Backend, n: number): void {
    this.counters.bytesFromClients += n;
    backend.bytesToBackend += n;
  }

  /** `n` bytes from the backend were handed to the client. */
  toClient(backend: Backend, n: number): void {
    this.counters.bytesToClients += n;
    backend.bytesFromBackend += n;
  }

  /** A write left `queued` bytes waiting in the balancer for one socket. */
  queued(queued: number): void {
    this.counters.peakBufferedBytes = Math.max(this.counters.peakBufferedBytes, queued);
  }

  idleTimedOut(client: C): void {
    this.counters.idleTimeouts++;
    this.log?.(`[TIMEOUT] ${this.peer(client)}: idle for ${this.config.idleTimeoutMs}ms, closing`);
  }

  acceptFailed(code: string): void {
    this.log?.(`[ERROR] accept: ${code}`);
  }
}
