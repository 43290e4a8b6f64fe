// The keep-alive lab's options: the slow server's (the prior art's 20 s delay and Keep-Alive timeout=120,
// max=100), the fixed client's caps (the prior art's MaxIdleConns 5, MaxIdleConnsPerHost 2,
// IdleConnTimeout 30 s), the prior art's schedule (a request every 20 s, an extra one with probability
// 0.5), and their checks, on their own so the command line can read the defaults without loading
// node:http or undici.
import { OptionError, checkNumber, checkOneOf, checkPort, checkWhole, withDefaults } from '../net/options.ts';
import { CLIENT_MODES, LEAKS, type ClientMode, type Leak } from '../results/http-client.ts';

export interface KeepAliveClientOptions {
  mode: ClientMode;
  /** faulty only: which leak. */
  leak?: Leak;
  /** fixed only: most connections to one origin (the prior art's MaxIdleConnsPerHost 2). */
  perOriginConnections?: number;
  /**
   * fixed only: the total cap (the prior art's MaxIdleConns 5): most requests in flight over all origins,
   * and most connections to any one origin. undici has no cross-origin socket cap, so idle connections to
   * other origins can add to it until their idle timeout closes them.
   */
  maxConnections?: number;
  /** fixed only: close a connection idle this long (ms); undici also keeps it below the server's hint. */
  idleTimeoutMs?: number;
  /** fixed only: retry once an idempotent request whose reused socket was reset. */
  retryStaleSocket?: boolean;
  /** Give up on a response (headers or body) after this long (ms). */
  requestTimeoutMs?: number;
}

export const FIXED_DEFAULTS = {
  perOriginConnections: 2,
  maxConnections: 5,
  idleTimeoutMs: 30_000,
  retryStaleSocket: true,
};
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export type ClientConfig = Required<Omit<KeepAliveClientOptions, 'leak'>> & { leak?: Leak };

export function validateClientOptions(options: KeepAliveClientOptions): ClientConfig {
  const { mode, leak, perOriginConnections, maxConnections, idleTimeoutMs, retryStaleSocket, requestTimeoutMs } = options;
  checkOneOf('mode', mode, CLIENT_MODES);
  if (leak !== undefined) checkOneOf('leak', leak, LEAKS);
  if (leak !== undefined && mode !== 'faulty') throw new OptionError('leak', 'leak applies to the faulty client only');
  const config: ClientConfig = withDefaults(
    { ...FIXED_DEFAULTS, requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS },
    { mode, leak, perOriginConnections, maxConnections, idleTimeoutMs, retryStaleSocket, requestTimeoutMs },
  );
  if (config.mode === 'faulty') config.leak ??= 'dispatcher-per-request';
  for (const key of ['perOriginConnections', 'maxConnections', 'idleTimeoutMs', 'requestTimeoutMs'] as const) checkWhole(key, config[key], 1);
  return config;
}

export interface HttpClientRunOptions extends KeepAliveClientOptions {
  url?: string;
  /** One scheduled request every this many ms. */
  intervalMs?: number;
  /** Chance of one extra request at a random moment inside each interval. */
  extraProbability?: number;
  /** Stop after this many requests (extras included). 0: no limit. */
  requests?: number;
  /** Start no request after this long (ms); those in flight finish. 0: no limit. */
  durationMs?: number;
  /** Sample the socket count this often (ms) besides after every request. Default: min(1 s, interval). */
  sampleIntervalMs?: number;
  /** Source of randomness for the extras (tests pass a fixed sequence). */
  random?: () => number;
  /** The server's own count of open connections, when the server runs in this process (bench, demo). */
  serverOpen?: () => number;
  /** Receives one `[CLIENT] ...` line per finished request. */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export const RUN_DEFAULTS = {
  url: 'http://localhost:8080',
  intervalMs: 20_000,
  extraProbability: 0.5,
  requests: 0,
  durationMs: 0,
};

export type RunConfig = typeof RUN_DEFAULTS & HttpClientRunOptions & { sampleIntervalMs: number };

export function targetPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

export function validateRunOptions(options: HttpClientRunOptions): RunConfig {
  validateClientOptions(options);
  const config = withDefaults(RUN_DEFAULTS, options);
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new OptionError('url', `url "${config.url}" is not a URL (e.g. http://localhost:8080/)`);
  }
  if (url.protocol !== 'http:') throw new OptionError('url', `url must be http://, not ${url.protocol}`);
  checkWhole('intervalMs', config.intervalMs, 1);
  checkWhole('requests', config.requests);
  checkWhole('durationMs', config.durationMs);
  checkNumber('extraProbability', config.extraProbability, 0, 1);
  const sampleIntervalMs = checkWhole('sampleIntervalMs', config.sampleIntervalMs ?? Math.min(1000, config.intervalMs), 1);
  return { ...config, sampleIntervalMs };
}

export interface SlowServerOptions {
  host?: string;
  /** 0 (the default here) picks a free port; the CLI defaults to the prior art's 8080. */
  port?: number;
  /** How long each response waits (ms). */
  delayMs?: number;
  /** How long an idle keep-alive connection stays open (ms), also advertised in `Keep-Alive: timeout=`. */
  keepAliveTimeoutMs?: number;
  /** Requests served on one connection before it is closed, advertised as `Keep-Alive: max=`. */
  maxRequestsPerSocket?: number;
  /** Response body. */
  body?: string;
  /** Pad the body with `.` to this many bytes (a body larger than a client's buffer shows unread-body leaks). */
  bodyBytes?: number;
  /** Log the census (own count and the OS's) this often (ms); 0: never. */
  censusIntervalMs?: number;
  /** Receives `[SERVER] ...` lines: the census, and clients that left before their response. */
  log?: (line: string) => void;
}

export const SLOW_BODY = 'Delayed response from server.';

export const SLOW_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  delayMs: 20_000,
  keepAliveTimeoutMs: 120_000,
  maxRequestsPerSocket: 100,
  body: SLOW_BODY,
  bodyBytes: 0,
  censusIntervalMs: 0,
};

export type SlowServerConfig = typeof SLOW_SERVER_DEFAULTS & Pick<SlowServerOptions, 'log'>;

export function validateSlowServerOptions(options: SlowServerOptions): SlowServerConfig {
  const config = withDefaults(SLOW_SERVER_DEFAULTS, options);
  checkPort('port', config.port, 'listen');
  for (const key of ['delayMs', 'maxRequestsPerSocket', 'censusIntervalMs', 'bodyBytes'] as const) checkWhole(key, config[key]);
  // The Keep-Alive header speaks whole seconds; below one second it would advertise timeout=0.
  if (config.keepAliveTimeoutMs < 1000) throw new OptionError('keepAliveTimeoutMs', `keepAliveTimeoutMs must be at least 1000 (the Keep-Alive header counts seconds), not ${config.keepAliveTimeoutMs}`);
  checkWhole('keepAliveTimeoutMs', config.keepAliveTimeoutMs, 1000);
  return config;
}
