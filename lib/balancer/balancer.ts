// The L4 balancer: each client connection is forwarded to one backend chosen by the strategy, and
// bytes flow both ways with backpressure (a side that cannot write pauses the side that reads), so
// memory stays bounded however much data moves. Half-close is forwarded, not turned into a close: when
// one side ends its writes, the other still gets everything that follows until it ends too. A backend
// that refuses or does not accept within the connect timeout is skipped and the next one is tried;
// when none is left the client gets a clean close and a log line.
//
// The decisions and counters live in core.ts, the backends and strategies in pool.ts, the bytes move in
// data-path.ts on lib/net's connections (bare libuv handles, or net.Socket where they are missing).
import { listenConns, type ConnListener } from '../net/conn.ts';
import { ServerBase } from '../net/server.ts';
import type { ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';
import { BalancerCore, type Counters } from './core.ts';
import { BALANCER_EVENTS, DataPath, type Link } from './data-path.ts';
import { validateBalancerOptions, type BalancerConfig, type BalancerOptions, type Strategy, type TransportKind } from './options.ts';
import { BackendPool, type BackendStats } from './pool.ts';
import { startStatsServer } from './stats-server.ts';

export interface BalancerStats extends Counters {
  listening: string;
  strategy: Strategy;
  /** Client connections open now (connecting to a backend or forwarding). */
  open: number;
  backends: BackendStats[];
}

export interface Balancer extends ServerHandle {
  /** What carries the bytes: Node's bare `libuv` handles, or `net` sockets (the fallback). */
  readonly transport: TransportKind;
  /** The stats HTTP server's port, when one was asked for. */
  readonly statsPort: number | undefined;
  stats(): BalancerStats;
}

class BalancerServer extends ServerBase implements Balancer {
  readonly transport: TransportKind;
  statsPort: number | undefined = undefined;
  private readonly core: BalancerCore<Link>;
  private readonly path: DataPath;
  private listener: ConnListener | undefined = undefined;
  private statsServer: ServerHandle | undefined = undefined;
  private idleTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly config: BalancerConfig,
    private readonly pool: BackendPool,
  ) {
    super();
    this.transport = config.transport;
    this.core = new BalancerCore<Link>(config, pool, (link) => link.client.peer);
    this.path = new DataPath(this.core, config.transport);
  }

  readonly stats = (): BalancerStats => ({
    listening: formatHostPort(this.host, this.port),
    strategy: this.config.strategy,
    open: this.path.openClients,
    ...this.core.counters,
    backends: this.pool.backends.map((b) => b.stats()),
  });

  async listen(): Promise<void> {
    const { config, path } = this;
    await this.pool.resolve();
    this.listener = await listenConns({
      host: config.host,
      port: config.port,
      events: BALANCER_EVENTS,
      onConnection: (conn) => path.accept(conn),
      onAcceptError: (code) => this.core.acceptFailed(code),
      transport: config.transport,
      readBuffer: 'own',
    });
    this.host = this.listener.host;
    this.port = this.listener.port;
    const idleMs = config.idleTimeoutMs;
    // One sweep for every connection, rather than a timer each: a connection through which nothing
    // moved for the idle timeout is closed within an eighth of it after.
    if (idleMs > 0) this.idleTimer = setInterval(() => path.sweep(idleMs), Math.max(5, Math.floor(idleMs / 8)));
    if (config.statsPort !== undefined) {
      try {
        this.statsServer = await startStatsServer(this.stats, { host: config.statsHost, port: config.statsPort });
        this.statsPort = this.statsServer.port;
      } catch (error) {
        await this.close();
        throw error;
      }
    }
    this.pool.startHealthChecks();
  }

  protected override defaultGraceMs(): number {
    return this.config.drainTimeoutMs;
  }

  protected override stopAccepting(): Promise<void> {
    const listener = this.listener;
    const closed = listener ? new Promise<void>((resolve) => listener.close(resolve)) : Promise.resolve();
    // Idle timeouts keep applying while open connections drain.
    return Promise.all([closed, this.path.empty()]).then(() => clearInterval(this.idleTimer));
  }

  protected override onStop(): void {
    this.core.stopping = true;
  }

  protected override openCount(): number {
    return this.path.openClients;
  }

  protected override cutAll(): void {
    this.path.cutAll();
  }

  protected override async onClosed(): Promise<void> {
    this.pool.stop();
    await this.statsServer?.close();
  }
}

export async function startBalancer(options: BalancerOptions): Promise<Balancer> {
  const config = validateBalancerOptions(options);
  const balancer = new BalancerServer(config, new BackendPool(config));
  await balancer.listen();
  return balancer;
}
