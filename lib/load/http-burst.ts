// A burst of one-shot HTTP/1.1 requests, all at once, each on its own connection (as the prior art's
// `load_test.sh` did with 100 parallel curls), plus optional silent clients that connect and send
// nothing. It counts the status codes that came back and times each request, which is how a bounded
// server's workers, queue, rejections and deadlines show from outside.
import net from 'node:net';
import type { HttpBurstResult } from '../results/lab.ts';
import { LatencyRecorder } from '../results/latency.ts';
import { ErrorTally } from '../results/tally.ts';
import { coded } from '../net/errors.ts';

export type { HttpBurstResult };

export interface HttpBurstOptions {
  host?: string;
  port: number;
  /** Requests sent at once, each on a new connection. */
  requests: number;
  /** Clients that connect first and never send a byte (they should meet the server's read deadline). */
  silentClients?: number;
  path?: string;
  /** Give up on a request after this long (ms). */
  timeoutMs?: number;
}

function exchange(host: string, port: number, request: string | undefined, timeoutMs: number): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host, port }, () => {
      if (request !== undefined) socket.write(request);
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(coded('ETIMEDOUT', `no response within ${timeoutMs}ms`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      socket.end();
      const head = Buffer.concat(chunks).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (match) resolve({ status: Number(match[1]), ms: performance.now() - started });
      else reject(coded('EBADRESPONSE', `not an HTTP response: ${JSON.stringify(head.slice(0, 40))}`));
    });
  });
}

export async function runHttpBurst(options: HttpBurstOptions): Promise<HttpBurstResult> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const request = `GET ${options.path ?? '/'} HTTP/1.1\r\nHost: ${host}:${options.port}\r\nConnection: close\r\n\r\n`;
  const errors = new ErrorTally();
  const latency = new LatencyRecorder();
  const statuses: Record<string, number> = {};
  const silentStatuses: Record<string, number> = {};
  let failed = 0;
  const started = performance.now();
  const count = (into: Record<string, number>, status: number): void => {
    into[status] = (into[status] ?? 0) + 1;
  };
  // Silent clients go first, so they hold their places while the burst arrives.
  const silent = Array.from({ length: options.silentClients ?? 0 }, () =>
    exchange(host, options.port, undefined, timeoutMs).then(
      ({ status }) => count(silentStatuses, status),
      (error) => {
        errors.add(error, 'silent client');
      },
    ),
  );
  const burst = Array.from({ length: options.requests }, (_, i) =>
    exchange(host, options.port, request, timeoutMs).then(
      ({ status, ms }) => {
        count(statuses, status);
        latency.record(ms);
      },
      (error) => {
        failed++;
        errors.add(error, `request ${i}`);
      },
    ),
  );
  await Promise.all([...silent, ...burst]);
  return {
    requests: options.requests,
    statuses,
    silentStatuses,
    failed,
    errors: { ...errors.counts },
    latency: latency.summary(),
    durationMs: Math.round(performance.now() - started),
  };
}
