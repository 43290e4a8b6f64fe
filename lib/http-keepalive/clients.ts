// The two HTTP clients of the keep-alive lab, both on undici.
//
// faulty: the prior art's bug. With the default leak (`dispatcher-per-request`) every request gets a new
//   undici Agent that is never closed; each Agent trusts the server's `Keep-Alive: timeout=120` and keeps
//   its socket open for ~118 s, so one socket piles up per request. With `unconsumed-body` it shares one
//   Agent but never reads response bodies: undici keeps a socket busy until its body is consumed, so every
//   request needs a fresh connection and the old ones are never released. (A body small enough to sit
//   whole in undici's buffer, 64 KiB by default, frees its socket anyway: this leak needs large bodies.)
// fixed: one shared Agent with a per-origin connection cap, a total cap on requests in flight, an idle
//   timeout below the server's Keep-Alive hint, every body consumed, idle connections closed after an
//   error, and one retry of an idempotent request whose reused socket was reset (the stale keep-alive
//   race: the server closed the connection just as the request left).
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { errorCode } from '../net/errors.ts';
import { CLIENT_MODES, LEAKS, type ClientMode, type Leak } from './modes.ts';

export { CLIENT_MODES, LEAKS, type ClientMode, type Leak };

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

export interface RequestOutcome {
  ok: boolean;
  status?: number;
  bodyBytes: number;
  latencyMs: number;
  /** The first attempt hit a reset on a reused socket and was retried. */
  retried: boolean;
  /** Error code when the request failed (ECONNRESET, UND_ERR_SOCKET, UND_ERR_HEADERS_TIMEOUT, ...). */
  error?: string;
  /** Error message when the request failed. */
  message?: string;
}

export interface KeepAliveClientStats {
  requests: number;
  completed: number;
  failed: number;
  /** Requests retried after a reset on a reused socket. */
  retries: number;
  /** TCP connections this client opened (its own count, from its connector). */
  connectionsOpened: number;
  /** TCP connections of this client open now (its own count). */
  connectionsOpen: number;
  /** undici dispatchers created; the faulty client makes one per request. */
  dispatchersCreated: number;
  /** Times the fixed client closed its idle connections after an error. */
  idleFlushes: number;
}

export interface KeepAliveClient {
  readonly mode: ClientMode;
  readonly leak?: Leak;
  /** GETs `url` and (unless the leak says otherwise) reads the whole body. Never throws: failures are outcomes. */
  get(url: string | URL, options?: { signal?: AbortSignal }): Promise<RequestOutcome>;
  stats(): KeepAliveClientStats;
  /**
   * Ends every dispatcher and socket. The faulty client never does this by itself (that is its bug);
   * the lab calls it at the end of a run so nothing outlives the run.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const FIXED_DEFAULTS = {
  perOriginConnections: 2,
  maxConnections: 5,
  idleTimeoutMs: 30_000,
  retryStaleSocket: true,
};
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

type Config = Required<Omit<KeepAliveClientOptions, 'leak'>> & { leak?: Leak };

export function validateClientOptions(options: KeepAliveClientOptions): Config {
  if (!CLIENT_MODES.includes(options.mode)) throw new RangeError(`mode must be faulty or fixed, not ${options.mode}`);
  if (options.leak !== undefined && !LEAKS.includes(options.leak)) throw new RangeError(`leak must be one of ${LEAKS.join(', ')}, not ${options.leak}`);
  if (options.leak !== undefined && options.mode !== 'faulty') throw new RangeError('leak applies to the faulty client only');
  const config: Config = {
    ...FIXED_DEFAULTS,
    requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Config;
  if (config.mode === 'faulty') config.leak ??= 'dispatcher-per-request';
  for (const key of ['perOriginConnections', 'maxConnections', 'idleTimeoutMs', 'requestTimeoutMs'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) throw new RangeError(`${key} must be a whole number >= 1, not ${config[key]}`);
  }
  return config;
}

// --- Which failures happened on a reused socket --------------------------------------------------
// undici publishes, for each request, the socket its headers went out on, its response headers and its
// error. A socket that already carried a response before is a reused keep-alive socket; an error on it
// before any response is the stale keep-alive race. The maps are weak: nothing here keeps sockets alive.
const socketOfRequest = new WeakMap<object, Socket>();
const responsesOnSocket = new WeakMap<Socket, number>();
const errorsOnReusedSocket = new WeakSet<object>();
let tracking = false;

function trackSocketReuse(): void {
  if (tracking) return;
  tracking = true;
  diagnosticsChannel.subscribe('undici:client:sendHeaders', (message) => {
    const { request, socket } = message as { request: object; socket: Socket };
    socketOfRequest.set(request, socket);
  });
  diagnosticsChannel.subscribe('undici:request:headers', (message) => {
    const socket = socketOfRequest.get((message as { request: object }).request);
    if (socket) responsesOnSocket.set(socket, (responsesOnSocket.get(socket) ?? 0) + 1);
  });
  diagnosticsChannel.subscribe('undici:request:error', (message) => {
    const { request, error } = message as { request: object; error: unknown };
    const socket = socketOfRequest.get(request);
    if (socket && (responsesOnSocket.get(socket) ?? 0) > 0 && error && typeof error === 'object') errorsOnReusedSocket.add(error);
  });
}

/** Whether `error` ended a request that was sent on a socket which had already carried a response. */
export function failedOnReusedSocket(error: unknown): boolean {
  return !!error && typeof error === 'object' && errorsOnReusedSocket.has(error);
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

// --- The client ----------------------------------------------------------------------------------

export function createKeepAliveClient(options: KeepAliveClientOptions): KeepAliveClient {
  const config = validateClientOptions(options);
  trackSocketReuse();
  const counters = { requests: 0, completed: 0, failed: 0, retries: 0, connectionsOpened: 0, dispatchersCreated: 0, idleFlushes: 0 };
  const openSockets = new Set<Socket>();
  const dispatchers = new Set<Agent>();
  /** Bodies the unconsumed-body leak never reads, held like a real bug holds its responses. */
  const unreadBodies: Dispatcher.ResponseData['body'][] = [];
  const baseConnector = buildConnector({});
  const connect: buildConnector.connector = (connectOptions, callback) => {
    baseConnector(connectOptions, (error, socket) => {
      if (socket) {
        counters.connectionsOpened++;
        openSockets.add(socket as Socket);
        socket.once('close', () => openSockets.delete(socket as Socket));
      }
      if (error) callback(error, null);
      else callback(null, socket!);
    });
  };
  const timeouts = { headersTimeout: config.requestTimeoutMs, bodyTimeout: config.requestTimeoutMs };

  const newAgent = (agentOptions: Agent.Options = {}): Agent => {
    const agent = new Agent({ ...agentOptions, ...timeouts, connect });
    counters.dispatchersCreated++;
    dispatchers.add(agent);
    return agent;
  };

  // fixed: one shared agent; replaced (and the old one closed gracefully) after an error.
  const fixedAgentOptions: Agent.Options = {
    // No origin may take more than the total cap either, so with one origin the total cap is exact.
    connections: Math.min(config.perOriginConnections, config.maxConnections),
    // With no hint, idle sockets close after idleTimeoutMs; with `Keep-Alive: timeout=N`, after
    // min(N s - 1 s, idleTimeoutMs): always below the server's own timeout.
    keepAliveTimeout: config.idleTimeoutMs,
    keepAliveMaxTimeout: config.idleTimeoutMs,
    keepAliveTimeoutThreshold: 1000,
    pipelining: 1,
  };
  let shared: Agent | undefined = config.mode === 'fixed' || config.leak === 'unconsumed-body' ? newAgent(config.mode === 'fixed' ? fixedAgentOptions : {}) : undefined;
  const retire = (agent: Agent): void => {
    // close() ends idle sockets now and busy ones once their responses are read; it stays in
    // `dispatchers` so that close() of the client can still cut a response that never ends.
    void agent.close().catch(() => {});
  };

  // The total cap: requests in flight over all origins, waiting in FIFO order for a slot.
  let inFlight = 0;
  const waiting: Array<() => void> = [];
  const acquire = async (): Promise<void> => {
    if (inFlight < config.maxConnections) {
      inFlight++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  };

  const attempt = async (url: URL, dispatcher: Dispatcher, consume: boolean, signal?: AbortSignal): Promise<{ status: number; bodyBytes: number }> => {
    const response = await dispatcher.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', signal });
    if (!consume) {
      unreadBodies.push(response.body);
      return { status: response.statusCode, bodyBytes: 0 };
    }
    const body = Buffer.from(await response.body.arrayBuffer());
    return { status: response.statusCode, bodyBytes: body.length };
  };

  /** A response that came back but is not a success counts as a failure coded by its status. */
  const answered = (status: number, bodyBytes: number, retried: boolean): Omit<RequestOutcome, 'latencyMs'> =>
    status >= 200 && status < 400 ? { ok: true, status, bodyBytes, retried } : { ok: false, status, bodyBytes, retried, error: `HTTP_${status}`, message: `status ${status}` };

  const get = async (target: string | URL, requestOptions: { signal?: AbortSignal } = {}): Promise<RequestOutcome> => {
    const url = new URL(target);
    counters.requests++;
    const started = performance.now();
    const done = (outcome: Omit<RequestOutcome, 'latencyMs'>): RequestOutcome => {
      if (outcome.ok) counters.completed++;
      else counters.failed++;
      return { ...outcome, latencyMs: performance.now() - started };
    };
    const failure = (error: unknown, retried: boolean): RequestOutcome =>
      done({ ok: false, bodyBytes: 0, retried, error: errorCode(error), message: error instanceof Error ? error.message : String(error) });

    if (config.mode === 'faulty') {
      // The bug: a dispatcher nobody closes (or a shared one whose bodies nobody reads).
      const dispatcher = config.leak === 'unconsumed-body' ? shared! : newAgent();
      try {
        const { status, bodyBytes } = await attempt(url, dispatcher, config.leak !== 'unconsumed-body', requestOptions.signal);
        return done(answered(status, bodyBytes, false));
      } catch (error) {
        return failure(error, false);
      }
    }

    await acquire();
    try {
      let retried = false;
      for (;;) {
        const agent = (shared ??= newAgent(fixedAgentOptions));
        try {
          const { status, bodyBytes } = await attempt(url, agent, true, requestOptions.signal);
          return done(answered(status, bodyBytes, retried));
        } catch (error) {
          // Like Go's CloseIdleConnections after a failure: a fresh agent for what follows, the old
          // one's idle sockets closed now and its busy ones once they finish.
          if (shared === agent) {
            shared = undefined;
            counters.idleFlushes++;
            retire(agent);
          }
          const stale = RESET_CODES.has(errorCode(error)) && failedOnReusedSocket(error);
          if (stale && config.retryStaleSocket && !retried && !requestOptions.signal?.aborted) {
            retried = true;
            counters.retries++;
            continue;
          }
          return failure(error, retried);
        }
      }
    } finally {
      release();
    }
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const body of unreadBodies.splice(0)) body.on('error', () => {}).destroy();
      const all = [...dispatchers];
      dispatchers.clear();
      shared = undefined;
      // destroy, not close: a leaked dispatcher may hold bodies nobody will read.
      await Promise.all(all.map((agent) => agent.destroy().catch(() => {})));
    })();
    return closing;
  };

  return {
    mode: config.mode,
    leak: config.leak,
    get,
    stats: () => ({ ...counters, connectionsOpen: openSockets.size }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
