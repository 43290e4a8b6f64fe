// The http-client result as people read it on a terminal: totals, sockets, and the series as a sparkline.
import { renderPairs } from '../report/table.ts';
import type { HttpClientResult, SocketSample } from './run.ts';

const BARS = '▁▂▃▄▅▆▇█';

/** The socket series in one line of bars, at most `width` wide, scaled to its own peak. */
export function sparkline(series: SocketSample[], width = 60): string {
  if (series.length === 0) return '';
  const step = Math.max(1, Math.ceil(series.length / width));
  const points: number[] = [];
  for (let i = 0; i < series.length; i += step) points.push(Math.max(...series.slice(i, i + step).map((p) => p.sockets)));
  const peak = Math.max(1, ...points);
  return points.map((n) => BARS[Math.min(BARS.length - 1, Math.floor((n / peak) * (BARS.length - 1)))]).join('');
}

export function renderHttpClientResult(result: HttpClientResult): string {
  const { requests, sockets, latency } = result;
  const pairs: Array<[string, string | number]> = [
    ['client', result.leak ? `${result.mode} (leak: ${result.leak})` : result.mode],
    ['target', result.target],
    ['requests', `${requests.completed}/${requests.started} completed (${requests.extra} extra), ${requests.failed} failed, ${requests.cancelled} cancelled, ${requests.retried} retried`],
    ['latency', `p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms`],
    ['sockets', `peak ${sockets.peak}, at the end ${sockets.final}, opened ${sockets.opened} (${sockets.perCompletedRequest} per completed request), after close ${sockets.afterClose}`],
    ['over time', `${sparkline(result.series)} (peak ${sockets.peak})`],
    ['duration', `${result.durationMs} ms (${result.requestsPerSecond} requests/s)`],
    ['verdict', result.ok ? 'ok' : 'FAILED'],
  ];
  const errors = Object.entries(result.errors).map(([code, n]) => `${code} ${n}`);
  if (errors.length > 0) pairs.splice(3, 0, ['errors', errors.join(', ')]);
  return renderPairs(pairs);
}
