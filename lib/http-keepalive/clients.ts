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
import { CLIENT_MODES, LEAKS, type ClientMode, type Leak } from '../results/http-client.ts';
import { validateClientOptions, type ClientConfig, type KeepAliveClientOptions } from './options.ts';

export { CLIENT_MODES, LEAKS, validateClientOptions, type ClientMode, type KeepAliveClientOptions, type Leak };

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

// --- Which failures happened on a reused socket --------------------------------------------------
// undici publishes, for each request, the socket its headers went out on, its response headers and its
// error. A socket that already carried a response before is a reused keep-alive socket; an error on it
// before any response is the stale keep-alive race. Each fixed client watches its own sockets only,
// from its creation to its close(); the maps are weak: nothing here keeps sockets alive.
class ReuseTracker {
  private readonly socketOfRequest = new WeakMap<object, Socket>();
  private readonly responsesOnSocket = new WeakMap<Socket, number>();
  private readonly errorsOnReusedSocket = new WeakSet<object>();
  private readonly handlers: Array<[string, (message: unknown) => void]> = [
    [
      'undici:client:sendHeaders',
      (message) => {
        const { request, socket } = message as { request: object; socket: Socket };
        // Stryker disable next-line ConditionalExpression: recording other clients' sockets too changes nothing: only this client's own errors are looked up
        if (this.owns(socket)) this.socketOfRequest.set(request, socket);
      },
    ],
    [
      'undici:request:headers',
      (message) => {
        const socket = this.socketOfRequest.get((message as { request: object }).request);
        if (socket) this.responsesOnSocket.set(socket, (this.responsesOnSocket.get(socket) ?? 0) + 1);
      },
    ],
    [
      'undici:request:error',
      (message) => {
        const { request, error } = message as { request: object; error: unknown };
        const socket = this.socketOfRequest.get(request);
        if (socket && (this.responsesOnSocket.get(socket) ?? 0) > 0) this.errorsOnReusedSocket.add(error as object); // undici's errors are Error objects
      },
    ],
  ];

  constructor(private readonly owns: (socket: Socket) => boolean) {
    for (const [channel, handler] of this.handlers) diagnosticsChannel.subscribe(channel, handler);
  }

  /** Whether `error` ended a request that was sent on a socket which had already carried a response. */
  failedOnReusedSocket(error: unknown): boolean {
    return this.errorsOnReusedSocket.has(error as object); // false for anything not added, objects or not
  }

  stop(): void {
    for (const [channel, handler] of this.handlers) diagnosticsChannel.unsubscribe(channel, handler);
  }
}

/** The codes a stale keep-alive socket fails with, by where the server's close meets the request. */
const RESET_CODES = new Set([
  'ECONNRESET', // a reset in answer to the request
  'UND_ERR_SOCKET', // the server's FIN before any response
  // Stryker disable next-line StringLiteral: the reset landing while the request is being written; no fixture can time that
  'EPIPE',
]);

// --- The client ----------------------------------------------------------------------------------

/** A response that came back but is not a success counts as a failure coded by its status. */
function answered(status: number, bodyBytes: number, retried: boolean): Omit<RequestOutcome, 'latencyMs'> {
  // undici hands over only final responses: a status below 200 never arrives here.
  return status < 400 ? { ok: true, status, bodyBytes, retried } : { ok: false, status, bodyBytes, retried, error: `HTTP_${status}`, message: `status ${status}` };
}

function failure(error: unknown, retried: boolean): Omit<RequestOutcome, 'latencyMs'> {
  return { ok: false, bodyBytes: 0, retried, error: errorCode(error), message: error instanceof Error ? error.message : String(error) };
}

/** The total cap: requests in flight over all origins, waiting in FIFO order for a slot. */
class Slots {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.inFlight < this.limit) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }
}

class KeepAliveClientImpl implements KeepAliveClient {
  readonly mode: ClientMode;
  readonly leak?: Leak;
  private readonly counters = { requests: 0, completed: 0, failed: 0, retries: 0, connectionsOpened: 0, dispatchersCreated: 0, idleFlushes: 0 };
  private readonly openSockets = new Set<Socket>();
  private readonly dispatchers = new Set<Agent>();
  /** Bodies the unconsumed-body leak never reads, held like a real bug holds its responses. */
  private readonly unreadBodies: Dispatcher.ResponseData['body'][] = [];
  private readonly connect: buildConnector.connector;
  private readonly fixedAgentOptions: Agent.Options;
  private readonly slots: Slots;
  /** fixed: one shared agent, replaced (the old one closed gracefully) after an error; unconsumed-body: one shared agent. */
  private shared: Agent | undefined;
  private closing: Promise<void> | undefined;
  /** fixed, with retries: which of its failures met a reused socket. */
  private reuse: ReuseTracker | undefined;

  constructor(private readonly config: ClientConfig) {
    this.mode = config.mode;
    this.leak = config.leak;
    this.slots = new Slots(config.maxConnections);
    const baseConnector = buildConnector({});
    // The client's own count of its connections, beside the one the OS gives.
    this.connect = (connectOptions, callback) => {
      baseConnector(connectOptions, (error, socket) => {
        if (socket) {
          this.counters.connectionsOpened++;
          this.openSockets.add(socket as Socket);
          socket.once('close', () => this.openSockets.delete(socket as Socket));
        }
        if (error) callback(error, null);
        else callback(null, socket!);
      });
    };
    this.fixedAgentOptions = {
      // No origin may take more than the total cap either, so with one origin the total cap is exact.
      connections: Math.min(config.perOriginConnections, config.maxConnections),
      // With no hint, idle sockets close after idleTimeoutMs; with `Keep-Alive: timeout=N`, after
      // min(N s - 1 s, idleTimeoutMs): always below the server's own timeout.
      keepAliveTimeout: config.idleTimeoutMs,
      keepAliveMaxTimeout: config.idleTimeoutMs,
      keepAliveTimeoutThreshold: 1000,
      pipelining: 1,
    };
    // The fixed client makes its agent at its first request; the unconsumed-body leak shares one from the start.
    if (config.leak === 'unconsumed-body') this.shared = this.newAgent();
    // Stryker disable next-line ConditionalExpression: a tracker for a client that never retries changes only who listens to undici
    if (config.mode === 'fixed' && config.retryStaleSocket) this.reuse = new ReuseTracker((socket) => this.openSockets.has(socket));
  }

  readonly stats = (): KeepAliveClientStats => ({ ...this.counters, connectionsOpen: this.openSockets.size });

  private newAgent(agentOptions: Agent.Options = {}): Agent {
    const { requestTimeoutMs } = this.config;
    const agent = new Agent({ ...agentOptions, headersTimeout: requestTimeoutMs, bodyTimeout: requestTimeoutMs, connect: this.connect });
    this.counters.dispatchersCreated++;
    this.dispatchers.add(agent);
    return agent;
  }

  readonly get = async (target: string | URL, requestOptions: { signal?: AbortSignal } = {}): Promise<RequestOutcome> => {
    const url = new URL(target);
    this.counters.requests++;
    const started = performance.now();
    const outcome = this.config.mode === 'faulty' ? await this.getFaulty(url, requestOptions.signal) : await this.getFixed(url, requestOptions.signal);
    if (outcome.ok) this.counters.completed++;
    else this.counters.failed++;
    return { ...outcome, latencyMs: performance.now() - started };
  };

  private async attempt(url: URL, dispatcher: Dispatcher, consume: boolean, signal?: AbortSignal): Promise<{ status: number; bodyBytes: number }> {
    const response = await dispatcher.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', signal });
    if (!consume) {
      this.unreadBodies.push(response.body);
      return { status: response.statusCode, bodyBytes: 0 };
    }
    const body = Buffer.from(await response.body.arrayBuffer());
    return { status: response.statusCode, bodyBytes: body.length };
  }

  /** The bug: a dispatcher nobody closes (or a shared one whose bodies nobody reads). */
  private async getFaulty(url: URL, signal?: AbortSignal): Promise<Omit<RequestOutcome, 'latencyMs'>> {
    const leaksBodies = this.config.leak === 'unconsumed-body';
    const dispatcher = leaksBodies ? this.shared! : this.newAgent();
    try {
      const { status, bodyBytes } = await this.attempt(url, dispatcher, !leaksBodies, signal);
      return answered(status, bodyBytes, false);
    } catch (error) {
      return failure(error, false);
    }
  }

  private async getFixed(url: URL, signal?: AbortSignal): Promise<Omit<RequestOutcome, 'latencyMs'>> {
    await this.slots.acquire();
    try {
      let retried = false;
      for (;;) {
        const agent = (this.shared ??= this.newAgent(this.fixedAgentOptions));
        try {
          const { status, bodyBytes } = await this.attempt(url, agent, true, signal);
          return answered(status, bodyBytes, retried);
        } catch (error) {
          this.retire(agent);
          const stale = this.reuse !== undefined && RESET_CODES.has(errorCode(error)) && this.reuse.failedOnReusedSocket(error);
          if (!stale || retried || signal?.aborted) return failure(error, retried);
          retried = true;
          this.counters.retries++;
        }
      }
    } finally {
      this.slots.release();
    }
  }

  /**
   * Like Go's CloseIdleConnections after a failure: a fresh agent for what follows, the old one's idle
   * sockets closed now and its busy ones once their responses are read. It stays in `dispatchers`, so
   * that close() can still cut a response that never ends.
   */
  private retire(agent: Agent): void {
    if (this.shared !== agent) return;
    this.shared = undefined;
    this.counters.idleFlushes++;
    void agent.close().catch(() => {});
  }

  readonly close = (): Promise<void> => (this.closing ??= this.destroyAll());

  readonly [Symbol.asyncDispose] = (): Promise<void> => this.close();

  private async destroyAll(): Promise<void> {
    this.reuse?.stop();
    for (const body of this.unreadBodies.splice(0)) body.on('error', () => {}).destroy();
    const all = [...this.dispatchers];
    this.dispatchers.clear();
    this.shared = undefined;
    // destroy, not close: a leaked dispatcher may hold bodies nobody will read.
    await Promise.all(all.map((agent) => agent.destroy().catch(() => {})));
  }
}

export function createKeepAliveClient(options: KeepAliveClientOptions): KeepAliveClient {
  return new KeepAliveClientImpl(validateClientOptions(options));
}
