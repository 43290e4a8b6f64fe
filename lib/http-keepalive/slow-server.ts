// The slow HTTP server of the keep-alive lab: every request is answered after a delay (20 s in the prior
// art) with `Connection: keep-alive` and `Keep-Alive: timeout=120, max=100`, and the server really keeps
// idle connections that long: Node's own 5 s default would close them and hide the client leak this lab
// exists to show. It counts its sockets itself and reads the kernel's count of ESTABLISHED sockets on
// its port from /proc/net/tcp*, so the two can be compared; a client that leaves before its response is
// noticed, logged, and not written to.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listenOn } from '../net/listen.ts';
import { ServerBase } from '../net/server.ts';
import type { ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';
import { validateSlowServerOptions, type SlowServerConfig, type SlowServerOptions } from './options.ts';
import { serverSocketCount } from './socket-count.ts';

export type { SlowServerOptions };

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

/** ESTABLISHED sockets this process holds on `port` (the server's side of its connections). */
export async function osEstablishedOnPort(port: number): Promise<number> {
  return (await serverSocketCount(port)).established;
}

/** Requests answered on each connection, to close it after the last one it may carry. */
const answeredOn = new WeakMap<Socket, { count: number }>();
function requestsOn(socket: Socket): { count: number } {
  let entry = answeredOn.get(socket);
  if (!entry) answeredOn.set(socket, (entry = { count: 0 }));
  return entry;
}

class SlowServerImpl extends ServerBase implements SlowServer {
  private readonly counters = { opened: 0, closed: 0, peakOpen: 0, requests: 0, responded: 0, inFlight: 0, abortedByClient: 0 };
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly body: Buffer;
  private readonly server: http.Server;
  private censusTimer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly config: SlowServerConfig) {
    super();
    this.body = Buffer.from(config.body.padEnd(config.bodyBytes, '.'));
    const server = (this.server = http.createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res)));
    // Explicit, because Node's 5 s default would close idle sockets long before the clients' leak shows.
    server.keepAliveTimeout = config.keepAliveTimeoutMs;
    server.maxRequestsPerSocket = config.maxRequestsPerSocket;
    // Headers must arrive within this; responses themselves may take as long as the delay says.
    server.headersTimeout = 60_000;
    server.requestTimeout = 0;
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  readonly stats = (): SlowServerStats => ({ ...this.counters, open: this.sockets.size });

  readonly census = async (): Promise<SlowServerCensus> => {
    // Own counts first, then the OS's: reading a large socket table takes a while.
    const own = { open: this.sockets.size, inFlight: this.counters.inFlight };
    const osEstablished = await osEstablishedOnPort(this.port);
    return { open: own.open, osEstablished, inFlight: own.inFlight };
  };

  async listen(): Promise<void> {
    const address = await listenOn(this.server, this.config);
    this.host = address.host;
    this.port = address.port;
    const log = this.config.log;
    if (this.config.censusIntervalMs === 0 || !log) return;
    let counting = false;
    this.censusTimer = setInterval(() => {
      if (counting) return; // the previous reading of a large table is still running
      counting = true;
      void this.census()
        .finally(() => (counting = false))
        .then((c) => log(`[SERVER] Active TCP Connections: ${c.open} (own count) | ESTABLISHED by the OS: ${c.osEstablished} | in flight: ${c.inFlight}`));
    }, this.config.censusIntervalMs);
    this.censusTimer.unref();
  }

  private onConnection(socket: Socket): void {
    this.counters.opened++;
    this.sockets.add(socket);
    if (this.sockets.size > this.counters.peakOpen) this.counters.peakOpen = this.sockets.size;
    socket.once('close', () => {
      this.counters.closed++;
      this.sockets.delete(socket);
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const { counters } = this;
    counters.requests++;
    counters.inFlight++;
    const peer = formatHostPort(req.socket.remoteAddress ?? '?', req.socket.remotePort ?? 0);
    // The request body, if any, is read and dropped so the connection can carry the next request.
    req.resume();
    let settled = false;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (settled) return;
      settled = true;
      counters.inFlight--;
      counters.responded++;
      // Node writes `Connection: keep-alive` and `Keep-Alive: timeout=120, max=100` itself from the
      // server's settings, and `Connection: close` on a connection's last allowed request; setting them
      // by hand would promise a connection the server is about to close (and answer 503 on).
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': this.body.length });
      // A server that says `Connection: close` must close the connection after that response (RFC 9112
      // 9.6); Node's own limit only answers 503 to what comes next, so the FIN is sent here.
      const last = ++requestsOn(req.socket).count >= this.config.maxRequestsPerSocket && this.config.maxRequestsPerSocket > 0;
      res.end(this.body, () => {
        if (last || !res.shouldKeepAlive) req.socket.end();
      });
    }, this.config.delayMs);
    this.timers.add(timer);
    // 'close' before the response finished: the client went away (or the server is stopping).
    res.once('close', () => {
      if (settled) return;
      settled = true;
      counters.inFlight--;
      clearTimeout(timer);
      this.timers.delete(timer);
      counters.abortedByClient++;
      this.config.log?.(`[SERVER] ${peer}: client closed connection before response. Aborting write.`);
    });
  }

  protected override stopAccepting(): Promise<void> {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Idle keep-alive connections are closed now; those waiting for a response get it, then close. */
  protected override onStop(): void {
    clearInterval(this.censusTimer);
    this.server.closeIdleConnections();
  }

  protected override openCount(): number {
    return this.sockets.size;
  }

  protected override cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  protected override async onClosed(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

export async function startSlowServer(options: SlowServerOptions = {}): Promise<SlowServer> {
  const server = new SlowServerImpl(validateSlowServerOptions(options));
  await server.listen();
  return server;
}
