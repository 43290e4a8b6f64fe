// The load result as people read it on a terminal.
import { renderPairs, renderTable } from '../report/table.ts';
import type { LoadResult } from './load-client.ts';

export function renderLoadResult(result: LoadResult): string {
  const { clients, messages, latency } = result;
  const summary = renderPairs([
    ['target', result.target],
    ['clients', `${clients.connected}/${clients.attempted} connected, ${clients.failed} failed`],
    ['messages', `${messages.acked}/${messages.sent} acked, ${messages.mismatched} mismatched, ${messages.missing} missing, ${messages.extra} extra`],
    ['duration', `${result.durationMs} ms (${result.acksPerSecond} acks/s)`],
    ['verdict', `${result.ok ? 'ok' : 'FAILED'}${result.stopped ? ' (stopped early)' : ''}`],
  ]);
  const rows = (['connect', 'ack'] as const).map((name) => {
    const l = latency[name];
    return [name, l.count, l.p50, l.p90, l.p99, l.p999, l.max];
  });
  const parts = [summary, '', renderTable(['latency (ms)', 'count', 'p50', 'p90', 'p99', 'p99.9', 'max'], rows)];
  const errors = Object.entries(result.errors);
  if (errors.length > 0) {
    parts.push('', renderTable(['error', 'count'], errors), ...result.errorSamples.map((s) => `  e.g. ${s}`));
  }
  return parts.join('\n');
}
