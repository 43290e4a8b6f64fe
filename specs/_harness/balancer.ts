// Starts the balancer under test and the backends behind it. By default lib/'s balancer listens on a
// free port over backends on free ports. With CONNLAB_TARGET_BALANCER=host:port the balancer is
// yours: the specs then start their backends on fixed ports (127.0.0.1:5000 and :5001, or the list in
// CONNLAB_BALANCER_BACKEND_PORTS) and your balancer must already be configured over them, round-robin,
// with a connect timeout of at most 1 s and health checks every 200 ms (fall 2, rise 2).
import { startBalancer, type BalancerStats } from '../../lib/balancer/balancer.ts';
import type { BalancerOptions } from '../../lib/balancer/options.ts';
import { closedPort } from '../../fixtures/servers.ts';
import { startNamedBackend, type NamedBackend, type NamedBackendOptions } from '../../fixtures/backends.ts';
import { externalTarget } from './targets.ts';
import { connectClient } from './wire.ts';
import { waitUntil } from './wait.ts';
import { scaled } from './time.ts';
import { probe } from '../../lib/balancer/pool.ts';

export const external = externalTarget('balancer');

/** The fixed backend ports an external balancer is configured with. */
export const EXTERNAL_BACKEND_PORTS = (process.env.CONNLAB_BALANCER_BACKEND_PORTS ?? '5000,5001').split(',').map(Number);

export interface BalancerTarget {
  host: string;
  port: number;
  /** lib/'s own gauges; undefined for an external balancer. */
  stats?: () => BalancerStats;
  /** lib/'s stats HTTP port, when asked for. */
  statsPort?: number;
  /** What carries lib/'s bytes (`libuv` or `net`); undefined for an external balancer. */
  transport?: string;
  close(graceMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts backend number `index` (0 is `a`), on its fixed port when the balancer is external. */
export function startBackend(index: number, name: string, options: NamedBackendOptions = {}): Promise<NamedBackend> {
  return startNamedBackend(name, { ...options, port: options.port ?? (external ? EXTERNAL_BACKEND_PORTS[index] : 0) });
}

/** A port for backend number `index` where nothing listens. */
export async function deadBackendPort(index: number): Promise<number> {
  return external ? EXTERNAL_BACKEND_PORTS[index] : closedPort();
}

/**
 * lib/'s balancer over `ports` (in that order) with `options`, or the external one (which must have
 * been configured over the same ports; options are then ignored, so specs that depend on them are
 * lib-only).
 */
export async function startBalancerTarget(ports: number[], options: Partial<BalancerOptions> = {}): Promise<BalancerTarget> {
  if (external) {
    await untilExternalSeesBackends(external, ports);
    const noop = async (): Promise<void> => {};
    return { host: external.host, port: external.port, close: noop, [Symbol.asyncDispose]: noop };
  }
  const balancer = await startBalancer({ connectTimeoutMs: 1000, ...options, backends: options.backends ?? ports.map((port) => ({ host: '127.0.0.1', port })) });
  return {
    host: balancer.host,
    port: balancer.port,
    stats: balancer.stats,
    statsPort: balancer.statsPort,
    transport: balancer.transport,
    close: (graceMs) => balancer.close(graceMs),
    [Symbol.asyncDispose]: () => balancer.close(),
  };
}

/**
 * An external balancer learns from its health checks that the backends a spec just started are up;
 * until then it may refuse. Waits until a connection through it has reached every backend that
 * accepts connections (each answers with its own name).
 */
async function untilExternalSeesBackends(target: { host: string; port: number }, ports: number[]): Promise<void> {
  const live = (await Promise.all(ports.map((port) => probe('127.0.0.1', port, scaled(200))))).filter((code) => code === undefined).length;
  if (live === 0) return;
  const seen = new Set<string>();
  await waitUntil(
    async () => {
      try {
        await using client = await connectClient(target.port, target.host);
        seen.add(await client.readLine(scaled(500)));
      } catch {
        // not routed yet
      }
      return seen.size;
    },
    (count) => count >= live,
    { what: `backends reached through ${target.host}:${target.port}`, expected: `${live} distinct names`, timeout: scaled(10_000) },
  );
}

/** Opens a connection, reads the backend's name line, closes: which backend did it reach? */
export async function reachName(target: { host: string; port: number }): Promise<string> {
  await using client = await connectClient(target.port, target.host);
  const name = await client.readLine();
  client.end();
  await client.readToEnd();
  return name;
}

/** `count` connections one after another; the backend names in the order they answered. */
export async function reachNames(target: { host: string; port: number }, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(await reachName(target));
  return names;
}

/** How many times each name occurs. */
export function tally(names: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}
