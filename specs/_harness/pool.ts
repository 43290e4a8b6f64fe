// Starts the pool servers under test: lib/'s own on a free loopback port, or the external target named
// by CONNLAB_TARGET_POOL (a hello server) or CONNLAB_TARGET_PRIME (a prime server). Also a raw HTTP
// exchange over the wire, so the specs see exactly the bytes a server sends.
import { startHelloServer, type HelloServerOptions, type HelloServerStats } from '../../lib/tcp/hello-server.ts';
import { startPrimeServer, type PrimeServerOptions, type PrimeServerStats } from '../../lib/tcp/prime-server.ts';
import { connectClient } from './wire.ts';
import { externalTarget } from './targets.ts';

export interface PoolTarget<S> {
  host: string;
  port: number;
  /** The server's own gauges; undefined for an external target. */
  stats?: () => S;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function startTarget<S>(family: string, start: () => Promise<{ host: string; port: number; stats(): S; close(): Promise<void> }>): Promise<PoolTarget<S>> {
  const external = externalTarget(family);
  if (external) {
    const noop = async (): Promise<void> => {};
    return { host: external.host, port: external.port, close: noop, [Symbol.asyncDispose]: noop };
  }
  const server = await start();
  return { host: server.host, port: server.port, stats: () => server.stats(), close: () => server.close(), [Symbol.asyncDispose]: () => server.close() };
}

export function startHelloTarget(options: HelloServerOptions = {}): Promise<PoolTarget<HelloServerStats>> {
  return startTarget('pool', () => startHelloServer({ port: 0, ...options }));
}

export function startPrimeTarget(options: PrimeServerOptions = {}): Promise<PoolTarget<PrimeServerStats>> {
  return startTarget('prime', () => startPrimeServer({ port: 0, ...options }));
}

export interface HttpExchange {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent. */
  raw: string;
}

/** Parses a complete `Connection: close` response; throws when it is not one. */
export function parseHttpResponse(raw: Buffer): HttpExchange {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...fields] = text.slice(0, end).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine);
  if (!status) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const field of fields) {
    const colon = field.indexOf(':');
    headers[field.slice(0, colon).toLowerCase()] = field.slice(colon + 1).trim();
  }
  return { status: Number(status[1]), headers, body: raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8'), raw: text };
}

/** Sends `request` (a GET / by default) and reads the response to the end of the stream. */
export async function httpExchange(port: number, host = '127.0.0.1', request = 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', timeout?: number): Promise<HttpExchange> {
  await using client = await connectClient(port, host);
  await client.write(request);
  return parseHttpResponse(await client.readToEnd(timeout));
}
