// The balancer's options, their defaults and their validation, in one place. A backend is given as an
// object or as the command line's text `HOST:PORT[,weight=N][,name=NAME]`; both end up as a
// BackendConfig with a weight and a name (by default its `host:port`).
import { DEFAULT_TRANSPORT, checkTransport, useLibuv, type Transport } from '../net/conn.ts';
import { OptionError, checkOneOf, checkPort, checkWhole, withDefaults } from '../net/options.ts';
import { formatHostPort, parseHostPort } from '../net/units.ts';

export type Strategy = 'round-robin' | 'least-connections';
/** What carries the bytes: Node's bare libuv TCP handles, or net.Socket. */
export type TransportKind = Transport;
export const STRATEGIES: readonly Strategy[] = ['round-robin', 'least-connections'];

export interface BackendSpec {
  host?: string;
  port: number;
  /** Share of connections relative to the other backends' weights (1 by default). */
  weight?: number;
  /** How logs and stats call it; `host:port` by default. */
  name?: string;
}

export interface BackendConfig {
  host: string;
  port: number;
  weight: number;
  name: string;
}

export interface HealthCheckOptions {
  /** Time between TCP connect checks of each backend (ms). 0 turns active checks off. */
  intervalMs?: number;
  /** A check that has not connected after this long failed (ms). */
  timeoutMs?: number;
  /** Consecutive failed checks that mark a backend down. */
  fall?: number;
  /** Consecutive good checks that bring a down backend back. */
  rise?: number;
}

export interface BalancerOptions {
  /** Address to listen on; loopback by default. */
  host?: string;
  /** 0 (the default here) picks a free port; the CLI defaults to the prior art's 4000. */
  port?: number;
  backends: Array<BackendSpec | string>;
  strategy?: Strategy;
  /** A backend that has not accepted after this long is skipped for that connection (ms). */
  connectTimeoutMs?: number;
  /** Close a connection through which no byte moved either way for this long (ms). 0: never. */
  idleTimeoutMs?: number;
  /** Default grace for close(): how long open connections may finish after accepting stops (ms). */
  drainTimeoutMs?: number;
  /** Most client connections open at once; the next one is closed at once. 0: no limit. */
  maxConnections?: number;
  /** Consecutive failed connects that eject a backend (passive health). 0: never eject. */
  ejectAfterFailures?: number;
  /** Without active checks, an ejected backend gets a trial connection after this long (ms). */
  ejectTimeMs?: number;
  /** Active health checks (TCP connect); off unless intervalMs > 0. */
  healthCheck?: HealthCheckOptions;
  /** Serve stats as JSON (`/stats`) and Prometheus text (`/metrics`) on this HTTP port (0: a free one). */
  statsPort?: number;
  /** Address of the stats port; loopback by default. */
  statsHost?: string;
  /** Receives event lines: backends going down and up, refusals, clients with no backend left. */
  log?: (line: string) => void;
  /** Also log every connection (`[FORWARDING] ...`), as the prior art did. */
  logConnections?: boolean;
  /**
   * `libuv` (the default where Node has the binding and CONNLAB_LEAN_SOCKETS is not 0) moves bytes with
   * bare libuv handles; `net` with net.Socket. Both behave the same; libuv is faster.
   */
  transport?: TransportKind;
}

export interface BalancerConfig {
  host: string;
  port: number;
  backends: BackendConfig[];
  strategy: Strategy;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  maxConnections: number;
  ejectAfterFailures: number;
  ejectTimeMs: number;
  healthCheck: Required<HealthCheckOptions>;
  statsPort: number | undefined;
  statsHost: string;
  log: ((line: string) => void) | undefined;
  logConnections: boolean;
  transport: TransportKind;
}

export const BALANCER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  strategy: 'round-robin' as Strategy,
  connectTimeoutMs: 2000,
  idleTimeoutMs: 0,
  drainTimeoutMs: 0,
  maxConnections: 0,
  ejectAfterFailures: 3,
  ejectTimeMs: 10_000,
  statsHost: '127.0.0.1',
  logConnections: false,
};
export const HEALTH_DEFAULTS: Required<HealthCheckOptions> = { intervalMs: 0, timeoutMs: 1000, fall: 3, rise: 2 };

/** Parses `HOST:PORT[,weight=N][,name=NAME]`, e.g. `localhost:5000,weight=2,name=a`. */
export function parseBackend(text: string): BackendConfig {
  const [address, ...settings] = String(text).split(',');
  if (!address.trim()) throw new OptionError('backend', `"${text}" is not a backend (use HOST:PORT, e.g. localhost:5000)`);
  const { host, port } = parseHostPort(address.trim(), 'localhost');
  const backend: BackendSpec = { host, port };
  for (const setting of settings) {
    const match = /^\s*(weight|name)=(.+?)\s*$/.exec(setting);
    if (!match) throw new OptionError('backend', `"${text}": unknown backend setting "${setting}" (use weight=N or name=NAME)`);
    if (match[1] === 'weight') backend.weight = Number(match[2]);
    else backend.name = match[2];
  }
  return normalizeBackend(backend);
}

function normalizeBackend(spec: BackendSpec | string): BackendConfig {
  if (typeof spec === 'string') return parseBackend(spec);
  const host = spec.host ?? '127.0.0.1';
  const port = checkPort('backend port', spec.port, 'connect');
  const weight = checkWhole('backend weight', spec.weight ?? 1, 1, 1000);
  return { host, port, weight, name: spec.name ?? formatHostPort(host, port) };
}

function checkBackends(list: unknown): BackendConfig[] {
  if (!Array.isArray(list) || list.length === 0) throw new OptionError('backends', 'backends: give at least one HOST:PORT');
  const backends = list.map(normalizeBackend);
  const names = new Set<string>();
  for (const backend of backends) {
    if (names.has(backend.name)) throw new OptionError('backends', `backends: "${backend.name}" is listed twice`);
    names.add(backend.name);
  }
  return backends;
}

/** Lays the options over the defaults and checks every one; throws an OptionError naming the first bad one. */
export function validateBalancerOptions(options: BalancerOptions): BalancerConfig {
  const { backends, healthCheck, ...rest } = options;
  const merged = withDefaults(BALANCER_DEFAULTS, rest);
  const health = withDefaults(HEALTH_DEFAULTS, healthCheck ?? {});
  checkTransport(merged.transport);
  const transport = merged.transport ?? DEFAULT_TRANSPORT;
  useLibuv(transport);
  const config: BalancerConfig = { ...merged, backends: checkBackends(backends), healthCheck: health, transport, statsPort: merged.statsPort, log: merged.log };
  checkPort('port', config.port, 'listen');
  if (config.statsPort !== undefined) checkPort('statsPort', config.statsPort, 'listen');
  checkOneOf('strategy', config.strategy, STRATEGIES);
  checkWhole('connectTimeoutMs', config.connectTimeoutMs, 1);
  for (const key of ['idleTimeoutMs', 'drainTimeoutMs', 'maxConnections', 'ejectAfterFailures', 'ejectTimeMs'] as const) checkWhole(key, config[key]);
  checkWhole('healthCheck.intervalMs', health.intervalMs);
  checkWhole('healthCheck.timeoutMs', health.timeoutMs, health.intervalMs > 0 ? 1 : 0);
  checkWhole('healthCheck.fall', health.fall, 1);
  checkWhole('healthCheck.rise', health.rise, 1);
  return config;
}
