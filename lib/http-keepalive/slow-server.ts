// The slow HTTP server of the keep-alive lab: every request is answered after a delay (20 s in the prior
// art) with `Connection: keep-alive` and `Keep-Alive: timeout=120, max=100`, and the server really keeps
// idle connections that long: Node's own 5 s default would close them and hide the client leak this lab
// exists to show. It counts its sockets itself and reads the kernel's count of ESTABLISHED sockets on
// its port from /proc/net/tcp*, so the two can be compared; a client that leaves before its response is
// noticed, logged, and not written to.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listenOn, makeHandle } from '../net/listen.ts';
import type { ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';
import { serverSocketCount } from './socket-count.ts';

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

export interface SlowServerStats {
  /** Connections accepted since the start. */
  opened: number;
  closed: number;
  /** Connections open now (opened - closed). */
  open: number;
  peakOpen: number;
  requests: number;
  responded: number;
  /** Requests waiting for their delay now. */
  inFlight: number;
  /** Requests whose client went away before the response; nothing was written to them. */
  abortedByClient: number;
}

export interface SlowServerCensus {
  /** The server's own count of open connections. */
  open: number;
  /** ESTABLISHED sockets on the server's port owned by this process, from /proc/net/tcp*. */
  osEstablished: number;
  inFlight: number;
}

export interface SlowServer extends ServerHandle {
  stats(): SlowServerStats;
  census(): Promise<SlowServerCensus>;
}

export const SLOW_BODY = 'Delayed response from server.';

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  delayMs: 20_000,
  keepAliveTimeoutMs: 120_000,
  maxRequestsPerSocket: 100,
  body: SLOW_BODY,
  bodyBytes: 0,
  censusIntervalMs: 0,
};

type Config = typeof DEFAULTS & Pick<SlowServerOptions, 'log'>;

export function validateSlowServerOptions(options: SlowServerOptions): Config {
  const config: Config = { ...DEFAULTS };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) Object.assign(config, { [key]: value });
  for (const key of ['port', 'delayMs', 'keepAliveTimeoutMs', 'maxRequestsPerSocket', 'censusIntervalMs', 'bodyBytes'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 0) throw new RangeError(`${key} must be a whole number >= 0, not ${config[key]}`);
  }
  if (config.keepAliveTimeoutMs < 1000) {
    // The Keep-Alive header speaks whole seconds; below one second it would advertise timeout=0.
    throw new RangeError(`keepAliveTimeoutMs must be at least 1000 (the Keep-Alive header counts seconds), not ${config.keepAliveTimeoutMs}`);
  }
  return config;
}

/** ESTABLISHED sockets this process holds on `port` (the server's side of its connections). */
export async function osEstablishedOnPort(port: number): Promise<number> {
  return (await serverSocketCount(port)).established;
}

export async function startSlowServer(options: SlowServerOptions = {}): Promise<SlowServer> {
  const config = validateSlowServerOptions(options);
  const log = config.log;
  const counters = { opened: 0, closed: 0, peakOpen: 0, requests: 0, responded: 0, inFlight: 0, abortedByClient: 0 };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const body = Buffer.from(config.body.padEnd(config.bodyBytes, '.'));

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    counters.requests++;
    counters.inFlight++;
    const peer = formatHostPort(req.socket.remoteAddress ?? '?', req.socket.remotePort ?? 0);
    // The request body, if any, is read and dropped so the connection can carry the next request.
    req.resume();
    let settled = false;
    const settle = (): void => {
      settled = true;
      counters.inFlight--;
    };
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (settled) return;
      settle();
      counters.responded++;
      // Node writes `Connection: keep-alive` and `Keep-Alive: timeout=120, max=100` itself from the
      // server's settings, and `Connection: close` on a connection's last allowed request; setting them
      // by hand would promise a connection the server is about to close (and answer 503 on).
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    }, config.delayMs);
    timers.add(timer);
    // 'close' before the response finished: the client went away (or the server is stopping).
    res.once('close', () => {
      if (settled) return;
      settle();
      clearTimeout(timer);
      timers.delete(timer);
      counters.abortedByClient++;
      log?.(`[SERVER] ${peer}: client closed connection before response. Aborting write.`);
    });
  };

  const server = http.createServer({ keepAlive: true }, onRequest);
  // Explicit, because Node's 5 s default would close idle sockets long before the clients' leak shows.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = config.maxRequestsPerSocket;
  // Headers must arrive within this; responses themselves may take as long as the delay says.
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;
  server.on('connection', (socket: Socket) => {
    counters.opened++;
    sockets.add(socket);
    if (sockets.size > counters.peakOpen) counters.peakOpen = sockets.size;
    socket.once('close', () => {
      counters.closed++;
      sockets.delete(socket);
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const address = await listenOn(server, config);
  const stats = (): SlowServerStats => ({
    opened: counters.opened,
    closed: counters.closed,
    open: sockets.size,
    peakOpen: counters.peakOpen,
    requests: counters.requests,
    responded: counters.responded,
    inFlight: counters.inFlight,
    abortedByClient: counters.abortedByClient,
  });
  const census = async (): Promise<SlowServerCensus> => {
    // Own counts first, then the OS's: reading a large socket table takes a while.
    const own = { open: sockets.size, inFlight: counters.inFlight };
    const osEstablished = await osEstablishedOnPort(address.port);
    return { open: own.open, osEstablished, inFlight: own.inFlight };
  };

  let censusTimer: NodeJS.Timeout | undefined;
  if (config.censusIntervalMs > 0 && log) {
    let counting = false;
    censusTimer = setInterval(() => {
      if (counting) return; // the previous reading of a large table is still running
      counting = true;
      void census().finally(() => (counting = false)).then((c) =>
        log(`[SERVER] Active TCP Connections: ${c.open} (own count) | ESTABLISHED by the OS: ${c.osEstablished} | in flight: ${c.inFlight}`),
      );
    }, config.censusIntervalMs);
    censusTimer.unref();
  }

  const base = makeHandle(server, address, sockets, {
    onStop: () => {
      clearInterval(censusTimer);
      // Idle keep-alive connections are closed now; those waiting for a response get it, then close.
      server.closeIdleConnections();
    },
    onClosed: () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  });
  return { ...base, stats, census };
}
