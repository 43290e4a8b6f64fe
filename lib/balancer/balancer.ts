// The L4 balancer: each client connection is forwarded to one backend chosen by the strategy, and
// bytes flow both ways with backpressure (a side that cannot write pauses the side that reads), so
// memory stays bounded however much data moves. Half-close is forwarded, not turned into a close: when
// one side ends its writes, the other still gets everything that follows until it ends too. A backend
// that refuses or does not accept within the connect timeout is skipped and the next one is tried;
// when none is left the client gets a clean close and a log line.
//
// The decisions and counters live in core.ts; the bytes move through one of two transports: Node's bare
// libuv TCP handles (transport-libuv.ts, the fast path) or net.Socket (transport-net.ts, the fallback
// where the binding is missing or CONNLAB_LEAN_SOCKETS=0 turns it off).
import { setTimeout as delay } from 'node:timers/promises';
import type { ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';
import { validateBalancerOptions, type BalancerOptions, type Strategy, type TransportKind } from './options.ts';
import { BackendPool, type BackendStats } from './pool.ts';
import { startStatsServer } from './stats-server.ts';
import type { Counters } from './core.ts';
import { startNetTransport } from './transport-net.ts';
import { startLibuvTransport } from './transport-libuv.ts';

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

export async function startBalancer(options: BalancerOptions): Promise<Balancer> {
  const config = validateBalancerOptions(options);
  const pool = new BackendPool(config);
  await pool.resolve();
  const { core, listener } = config.transport === 'libuv' ? await startLibuvTransport(config, pool) : await startNetTransport(config, pool);
  const stats = (): BalancerStats => ({
    listening: formatHostPort(listener.host, listener.port),
    strategy: config.strategy,
    open: listener.open(),
    ...core.counters,
    backends: pool.backends.map((b) => b.stats()),
  });

  let statsServer: ServerHandle | undefined;
  if (config.statsPort !== undefined) {
    try {
      statsServer = await startStatsServer(stats, { host: config.statsHost, port: config.statsPort });
    } catch (error) {
      listener.cutAll();
      await listener.stopAccepting();
      throw error;
    }
  }
  pool.startHealthChecks();

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.drainTimeoutMs): Promise<void> => {
    closing ??= (async () => {
      const closed = listener.stopAccepting();
      core.stopping = true;
      const deadline = Date.now() + graceMs;
      while (listener.open() > 0 && Date.now() < deadline) await delay(Math.min(25, deadline - Date.now()));
      listener.cutAll();
      await closed;
      pool.stop();
      await statsServer?.close();
    })();
    return closing;
  };
  return {
    host: listener.host,
    port: listener.port,
    transport: config.transport,
    statsPort: statsServer?.port,
    stats,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

