// Starts the balancer under test and the backends behind it. By default lib/'s balancer listens on a
// free port over backends on free ports. Judging another balancer (`connlab check balancer --target`),
// the specs start their backends on the ports it was configured over (--backend-ports, default
// 127.0.0.1:5000 and :5001, in its order), and read its connect timeout, health checks, idle timeout and
// connection limit from what it declared. Between specs its backends come and go, so each spec first
// waits until a connection through it has reached every backend that accepts.
import { startBalancer, type BalancerStats } from '../../lib/balancer/balancer.ts';
import type { BalancerOptions } from '../../lib/balancer/options.ts';
import { closedPort } from '../../fixtures/servers.ts';
import { WHO, startNamedBackend, type BackendSession, type NamedBackend, type NamedBackendOptions } from '../../fixtures/backends.ts';
import { declaredOr, externalTarget } from './targets.ts';
import { connectClient, type WireClient } from './wire.ts';
import { waitUntil } from './wait.ts';
import { scaled } from './time.ts';
import { probe } from '../../lib/net/probe.ts';

export const external = externalTarget('balancer');

/** The backend ports an external balancer is configured over, in its order. */
export const EXTERNAL_BACKEND_PORTS = declaredOr<number[]>('balancer', '--backend-ports', [5000, 5001]);

/** An external balancer's connect timeout, as declared (2 s, lib/'s, when it is not). */
const externalConnectTimeoutMs = declaredOr<number>('balancer', '--connect-timeout', 2000);

/** An external balancer's health checks, as declared (0: it has none); the readiness wait allows for them. */
const externalHealth = {
  intervalMs: declaredOr<number>('balancer', '--health-interval', 0),
  rise: declaredOr<number>('balancer', '--rise', 2),
};

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

/** Every backend the specs started, by port: the readiness wait looks for a client at each. */
const sessionsByPort = new Map<number, BackendSession[]>();
/** When the backend on each port started listening. */
const startedAt = new Map<number, number>();

/** Starts backend number `index` (0 is `a`), on its declared port when the balancer is external. */
export async function startBackend(index: number, name: string, options: NamedBackendOptions = {}): Promise<NamedBackend> {
  const port = options.port ?? (external ? EXTERNAL_BACKEND_PORTS[index] : 0);
  const backend = port === 0 ? await startNamedBackend(name, options) : await onFixedPort(port, () => startNamedBackend(name, { ...options, port }));
  sessionsByPort.set(backend.port, backend.sessions);
  startedAt.set(backend.port, Date.now());
  return backend;
}

/** A port the spec owns: the last backend on it may still be closing, but anything else there is in the way. */
async function onFixedPort<T>(port: number, start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + scaled(2000);
  for (;;) {
    try {
      return await start();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      if (Date.now() > deadline) {
        throw new Error(`backend port 127.0.0.1:${port} is taken by another program: the check starts its own backends on --backend-ports; free it, or configure the balancer over other ports and declare them`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A backend of `name` and `options` that is the only one: on every declared port of an external balancer (sharing one record), on one free port for lib/'s. */
export async function startOnlyBackend(name: string, options: NamedBackendOptions = {}): Promise<NamedBackend & { ports: number[] }> {
  if (!external) {
    const backend = await startBackend(0, name, options);
    return Object.assign(backend, { ports: [backend.port] });
  }
  const sessions: BackendSession[] = [];
  const backends: NamedBackend[] = [];
  try {
    for (const [index] of EXTERNAL_BACKEND_PORTS.entries()) backends.push(await startBackend(index, name, { ...options, sessions }));
  } catch (error) {
    await Promise.all(backends.map((backend) => backend.close()));
    throw error;
  }
  const close = async (): Promise<void> => {
    await Promise.all(backends.map((backend) => backend.close()));
  };
  return { ...backends[0], ports: backends.map((backend) => backend.port), close, [Symbol.asyncDispose]: close };
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
 * until then it may refuse, or try a backend it still thinks is down (some try every backend when all
 * are down, so reaching one proves little). Waits until its declared checks had the time to pass
 * `rise` times on every backend started, and then until connections through it reach each one that
 * accepts: a check that ran late (a busy machine) is waited for rather than taken for a defect.
 */
async function untilExternalSeesBackends(target: { host: string; port: number }, ports: number[]): Promise<void> {
  const live = (await Promise.all(ports.map(async (port) => ((await probe('127.0.0.1', port, scaled(200))) === undefined ? port : undefined)))).filter((port) => port !== undefined);
  if (live.length === 0) return;
  // Time is the subject first: nothing outside the balancer sees its checks pass, so give them the time they take.
  const settled = Math.max(...live.map((port) => startedAt.get(port) ?? 0)) + (externalHealth.rise + 1) * externalHealth.intervalMs;
  const left = settled - Date.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  const since = new Map(live.map((port) => [port, sessionsByPort.get(port)?.length ?? 0]));
  const reached = (): number[] => live.filter((port) => (sessionsByPort.get(port) ?? []).slice(since.get(port)).some((s) => s.asked && s.port === port));
  let last = 'nothing yet';
  await waitUntil(
    async () => {
      try {
        await using client = await connectClient(target.port, target.host);
        // Long enough for the balancer to give up on a backend that does not answer and try the next.
        last = `answered ${await askName(client, 2 * externalConnectTimeoutMs + scaled(500))}`;
      } catch (error) {
        last = (error as Error).message.split('\n')[0]; // not routed yet
      }
      return { reached: reached(), lastProbe: last };
    },
    (seen) => seen.reached.length === live.length,
    {
      what: `backends reached through ${target.host}:${target.port}`,
      expected: `a client at each of ${live.join(', ')}`,
      timeout: scaled(10_000) + 3 * (externalHealth.rise + 1) * externalHealth.intervalMs,
    },
  );
}

/** Asks the backend a connection reached for its name (the client speaks first: no greeting is needed). */
export async function askName(client: WireClient, timeout?: number): Promise<string> {
  await client.write(WHO);
  return client.readLine(timeout);
}

/** Opens a connection, asks the backend's name, closes: which backend did it reach? */
export async function reachName(target: { host: string; port: number }, timeout?: number): Promise<string> {
  await using client = await connectClient(target.port, target.host);
  const name = await askName(client, timeout);
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
