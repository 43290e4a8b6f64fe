// The hello server: the pool core with an HTTP/1.1 handler, replacing the prior art's Go pool server
// on port 1729. A worker reads the whole request head (however many reads it takes), does the
// simulated work, and answers `200 OK` with `Content-Length`, `Connection: close` and the body
// `hello world`, which curl, wrk and browsers accept. A malformed or oversized head gets `400`, a full
// queue `503` with `Retry-After`, a head not complete by the deadline `408`.
import { HELLO_DEFAULTS, validateHelloServerOptions, type HelloServerOptions } from './options.ts';
import { startPoolServer, type PoolConnection, type PoolHandler, type PoolServer, type PoolStats } from './pool.ts';

export type { HelloServerOptions };

export interface HelloServerStats extends PoolStats {
  /** Requests answered 400. */
  badRequests: number;
  /** Requests answered 200. */
  ok: number;
}

export interface HelloServer extends PoolServer {
  stats(): HelloServerStats;
}

export const HELLO_BODY = 'hello world';

/** A parsed request head: what the handler needs from it. */
export interface RequestHead {
  method: string;
  target: string;
  version: string;
  headers: Array<[string, string]>;
}

/** Why a head was refused, as the 400 body says it. */
export class BadRequest extends Error {}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/;
// Field values: visible ASCII, obs-text, spaces and tabs; no other control bytes.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Finds and parses a request head in `bytes`. Returns undefined while the head is incomplete and
 * within `maxHeadBytes`; throws BadRequest when it is malformed, oversized, or cut off by the client's FIN.
 */
export function parseRequestHead(bytes: Buffer, ended: boolean, maxHeadBytes: number): RequestHead | undefined {
  // Tolerate empty lines before the request line (RFC 9112 §2.2).
  let start = 0;
  while (start + 1 < bytes.length && bytes[start] === 0x0d && bytes[start + 1] === 0x0a) start += 2;
  const end = bytes.indexOf('\r\n\r\n', start, 'latin1');
  if (end === -1) {
    if (bytes.length - start > maxHeadBytes) throw new BadRequest(`request head larger than ${maxHeadBytes} bytes`);
    if (ended) throw new BadRequest('connection ended inside the request head');
    return undefined;
  }
  if (end + 4 - start > maxHeadBytes) throw new BadRequest(`request head larger than ${maxHeadBytes} bytes`);
  const lines = bytes.subarray(start, end).toString('latin1').split('\r\n');
  const requestLine = REQUEST_LINE.exec(lines[0]);
  if (!requestLine || !TOKEN.test(requestLine[1])) throw new BadRequest('malformed request line');
  if (requestLine[3] !== '1') throw new BadRequest(`HTTP/${requestLine[3]}.${requestLine[4]} is not supported`);
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon < 1 || !TOKEN.test(name)) throw new BadRequest('malformed header field');
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value) || value.includes('\n') || value.includes('\r')) throw new BadRequest(`invalid bytes in header ${name}`);
    headers.push([name.toLowerCase(), value]);
  }
  const version = `${requestLine[3]}.${requestLine[4]}`;
  if (version === '1.1' && headers.filter(([name]) => name === 'host').length !== 1) throw new BadRequest('an HTTP/1.1 request needs exactly one Host header');
  return { method: requestLine[1], target: requestLine[2], version, headers };
}

/** A complete `Connection: close` response. */
export function httpResponse(status: number, reason: string, body: string, extraHeaders: string[] = [], includeBody = true): Buffer {
  const bodyBytes = Buffer.from(body);
  const head = [
    `HTTP/1.1 ${status} ${reason}`,
    `Date: ${new Date().toUTCString()}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${bodyBytes.length}`,
    'Connection: close',
    ...extraHeaders,
    '',
    '',
  ].join('\r\n');
  return includeBody ? Buffer.concat([Buffer.from(head, 'latin1'), bodyBytes]) : Buffer.from(head, 'latin1');
}

/** The HTTP handler: reads a head, works, answers 200 (or 400 for a bad head). */
class HelloHandler implements PoolHandler {
  private readonly counts = { badRequests: 0, ok: 0 };
  private readonly retryAfterSeconds: number;

  constructor(private readonly config: typeof HELLO_DEFAULTS) {
    this.retryAfterSeconds = Math.max(1, Math.ceil(config.workMs / 1000));
  }

  async serve(connection: PoolConnection): Promise<void> {
    let head: RequestHead;
    try {
      head = await connection.readRequest((bytes, ended) => parseRequestHead(bytes, ended, this.config.maxHeadBytes));
    } catch (error) {
      if (!(error instanceof BadRequest)) throw error;
      this.counts.badRequests++;
      await connection.reply(httpResponse(400, 'Bad Request', `bad request: ${error.message}\n`));
      return;
    }
    await connection.work(this.config.workMs);
    await connection.reply(httpResponse(200, 'OK', HELLO_BODY, [], head.method !== 'HEAD'));
    this.counts.ok++;
  }

  busyReply(): Buffer {
    return httpResponse(503, 'Service Unavailable', 'server busy: every worker is busy and the queue is full\n', [`Retry-After: ${this.retryAfterSeconds}`]);
  }

  readTimeoutReply(): Buffer {
    return httpResponse(408, 'Request Timeout', 'request not received before the deadline\n');
  }

  stats(): { badRequests: number; ok: number } {
    return { ...this.counts };
  }
}

export async function startHelloServer(options: HelloServerOptions = {}): Promise<HelloServer> {
  const config = validateHelloServerOptions(options);
  const { deadlineMs: _deadline, workMs: _work, maxHeadBytes: _maxHead, ...poolOptions } = options;
  const pool = { ...poolOptions, workers: config.workers, queue: config.queue, readDeadlineMs: config.deadlineMs, writeDeadlineMs: config.deadlineMs };
  return (await startPoolServer(new HelloHandler(config), pool)) as HelloServer;
}
