// A client for the prime protocol, as JMeter's TCP Sampler uses it: connect, send the message, read
// until the server ends the stream. askPrime() makes one request; runPrimeLoad() makes many with a
// bounded number in flight and counts every outcome, for specs and the benchmark.
import net from 'node:net';
import { ErrorTally } from '../results/tally.ts';
import type { ErrorCounts } from '../net/types.ts';
import { coded } from '../net/errors.ts';

export interface PrimeRequestOptions {
  host?: string;
  port: number;
  /** Bytes sent as they are (add `\n` for line framing). */
  message: Buffer | string;
  /** Half-close after sending, so the server sees the FIN (needed for framing `eof`). */
  end?: boolean;
  timeoutMs?: number;
}

export class ReplyTimeout extends Error {
  readonly code = 'REPLY_TIMEOUT';
}

/** Sends one message and resolves with every byte the server sent until it ended the stream. */
export function askPrime(options: PrimeRequestOptions): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ host: options.host ?? '127.0.0.1', port: options.port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ReplyTimeout(`no complete reply within ${options.timeoutMs}ms`));
    }, options.timeoutMs ?? 10_000);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      if (options.end ?? true) socket.end(options.message);
      else socket.write(options.message);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

export interface PrimeLoadOptions {
  host?: string;
  port: number;
  requests: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** The bytes request i sends. */
  message: (i: number) => Buffer | string;
  end?: boolean;
  timeoutMs?: number;
  /** Called as each reply arrives, e.g. to stop a server mid-load. */
  onReply?: (i: number, reply: Buffer) => void;
}

export interface PrimeLoadResult {
  /** Reply bytes by request number (always a whole line); undefined where the request failed. */
  replies: Array<Buffer | undefined>;
  answered: number;
  failed: number;
  errors: ErrorCounts;
  durationMs: number;
  requestsPerSecond: number;
}

export async function runPrimeLoad(options: PrimeLoadOptions): Promise<PrimeLoadResult> {
  const replies: Array<Buffer | undefined> = new Array(options.requests).fill(undefined);
  const errors = new ErrorTally();
  let next = 0;
  let answered = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < options.requests) {
      const i = next++;
      try {
        const reply = await askPrime({ host: options.host, port: options.port, message: options.message(i), end: options.end, timeoutMs: options.timeoutMs });
        // A server that dies closes its sockets with a plain FIN: only a whole line is a reply.
        if (reply.at(-1) !== 0x0a) throw coded('EINCOMPLETE', `incomplete reply ${JSON.stringify(reply.toString())}`);
        replies[i] = reply;
        answered++;
        options.onReply?.(i, reply);
      } catch (error) {
        errors.add(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.requests) }, lane));
  const durationMs = performance.now() - started;
  return {
    replies,
    answered,
    failed: options.requests - answered,
    errors: { ...errors.counts },
    durationMs,
    requestsPerSecond: answered / (durationMs / 1000),
  };
}
