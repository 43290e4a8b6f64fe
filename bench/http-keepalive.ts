// Benchmark of the keep-alive lab: the faulty and the fixed client at one request rate against the slow
// server, one after the other in this run, on the same seeded schedule (same requests at the same
// moments). Prints requests/s, peak sockets and sockets per completed request for each, and the fixed
// client's figures as ratios of the faulty client's, measured here, in this run.
//   npm run bench:http-keepalive -- [--delay 50ms] [--interval 100ms] [--extra-probability 0.5] [--duration 10s] [--json]
import { parseArgs } from 'node:util';
import { startSlowServer } from '../lib/http-keepalive/slow-server.ts';
import { runHttpClient, type HttpClientResult } from '../lib/http-keepalive/run.ts';
import type { ClientMode } from '../lib/http-keepalive/clients.ts';
import { parseDuration } from '../lib/net/units.ts';
import { renderTable } from '../lib/report/table.ts';

const { values } = parseArgs({
  options: {
    delay: { type: 'string', default: '50ms' },
    interval: { type: 'string', default: '100ms' },
    'extra-probability': { type: 'string', default: '0.5' },
    duration: { type: 'string', default: '10s' },
    seed: { type: 'string', default: '42' },
    json: { type: 'boolean', default: false },
  },
});
const delayMs = parseDuration(values.delay);
const intervalMs = parseDuration(values.interval);
const durationMs = parseDuration(values.duration);
const extraProbability = Number(values['extra-probability']);

/** mulberry32: a small seeded generator, so both clients get the same schedule of extras. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function measure(mode: ClientMode): Promise<HttpClientResult & { serverPeakOpen: number; serverOpened: number }> {
  await using server = await startSlowServer({ delayMs });
  const result = await runHttpClient({
    mode,
    url: `http://${server.host}:${server.port}/`,
    intervalMs,
    extraProbability,
    durationMs,
    sampleIntervalMs: Math.max(50, Math.round(intervalMs / 2)),
    random: seeded(Number(values.seed)),
    serverOpen: () => server.stats().open,
  });
  const stats = server.stats();
  return { ...result, serverPeakOpen: stats.peakOpen, serverOpened: stats.opened };
}

process.stderr.write(`slow server delay ${delayMs} ms; one request every ${intervalMs} ms plus extras with p=${extraProbability}; ${durationMs} ms per client\n`);
const faulty = await measure('faulty');
process.stderr.write(`faulty done: ${faulty.requests.completed} requests, peak ${faulty.sockets.peak} sockets\n`);
const fixed = await measure('fixed');
process.stderr.write(`fixed done: ${fixed.requests.completed} requests, peak ${fixed.sockets.peak} sockets\n`);

const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : `${(a / b).toFixed(3)}x`);
const row = (name: string, r: typeof faulty): Array<string | number> => [
  name,
  `${r.requests.completed}/${r.requests.started}`,
  r.requests.failed,
  r.requestsPerSecond,
  r.sockets.peak,
  r.serverPeakOpen,
  r.sockets.opened,
  r.sockets.perCompletedRequest,
  r.latency.p50,
  r.latency.p99,
];
const summary = {
  params: { delayMs, intervalMs, extraProbability, durationMs, seed: Number(values.seed) },
  faulty: { requestsPerSecond: faulty.requestsPerSecond, completed: faulty.requests.completed, failed: faulty.requests.failed, peakSockets: faulty.sockets.peak, serverPeakOpen: faulty.serverPeakOpen, socketsPerCompletedRequest: faulty.sockets.perCompletedRequest, p99: faulty.latency.p99 },
  fixed: { requestsPerSecond: fixed.requestsPerSecond, completed: fixed.requests.completed, failed: fixed.requests.failed, peakSockets: fixed.sockets.peak, serverPeakOpen: fixed.serverPeakOpen, socketsPerCompletedRequest: fixed.sockets.perCompletedRequest, p99: fixed.latency.p99 },
  fixedVsFaulty: {
    requestsPerSecond: ratio(fixed.requestsPerSecond, faulty.requestsPerSecond),
    peakSockets: ratio(fixed.sockets.peak, faulty.sockets.peak),
    socketsPerCompletedRequest: ratio(fixed.sockets.perCompletedRequest, faulty.sockets.perCompletedRequest),
  },
};
if (values.json) {
  process.stdout.write(`${JSON.stringify({ ...summary, series: { faulty: faulty.series, fixed: fixed.series } }, null, 2)}\n`);
} else {
  process.stdout.write(
    `${renderTable(['client', 'completed', 'failed', 'req/s', 'peak sockets (OS)', 'peak (server)', 'opened', 'sockets/request', 'p50 ms', 'p99 ms'], [row('faulty', faulty), row('fixed', fixed)])}\n\n` +
      `fixed vs faulty (reference, same run): requests/s ${summary.fixedVsFaulty.requestsPerSecond}, peak sockets ${summary.fixedVsFaulty.peakSockets}, sockets per completed request ${summary.fixedVsFaulty.socketsPerCompletedRequest}\n`,
  );
}
process.exitCode = faulty.requests.failed === 0 && fixed.requests.failed === 0 && fixed.requests.completed >= faulty.requests.completed ? 0 : 1;
