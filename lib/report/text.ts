// Result documents as people read them on a terminal: a summary of pairs, latency tables, errors with
// the OS limit each one hit, and a sparkline of sockets over time. Every measuring command prints these
// unless --json asks for the document itself.
import { formatSize } from '../net/units.ts';
import { CAPACITY_KIND, type CapacityProgress, type CapacityResult } from '../results/capacity.ts';
import { HTTP_CLIENT_KIND, type HttpClientResult, type SocketSample } from '../results/http-client.ts';
import { CHECK_KIND, type CheckResult, type SpecVerdict } from '../results/check.ts';
import type { AnyResult } from '../results/index.ts';
import type { LabResults } from '../results/lab.ts';
import { LOAD_KIND, type LoadResult } from '../results/load.ts';
import type { LatencySummary } from '../results/latency.ts';
import { formatMetricValue, parseThreshold, type ThresholdResult } from '../results/thresholds.ts';
import { renderPairs, renderTable, type Cell } from './table.ts';

/** One line per threshold the result was judged on: its expression, the value measured, the verdict. */
export function renderThresholds(result: { kind: string; thresholds?: ThresholdResult[] }): string[] {
  const thresholds = result.thresholds ?? [];
  const width = Math.max(0, ...thresholds.map((t) => t.expr.length));
  return thresholds.map((t) => {
    const value = formatMetricValue(parseThreshold(t.expr, result.kind).metric, t.value);
    return `threshold  ${t.expr.padEnd(width)}  ${value.padStart(12)}  ${t.ok ? 'passed' : 'FAILED'}`;
  });
}

/** The threshold lines under a summary, when there are any. */
const thresholdBlock = (result: { kind: string; thresholds?: ThresholdResult[] }): string[] => {
  const lines = renderThresholds(result);
  return lines.length > 0 ? ['', ...lines] : [];
};

/** A table of latency percentiles, one row per named summary. */
function latencyTable(title: string, named: Array<[string, LatencySummary]>): string {
  const rows = named.map(([name, l]) => [name, l.count, l.p50, l.p90, l.p99, l.p999, l.max]);
  return renderTable([`${title} (ms)`, 'count', 'p50', 'p90', 'p99', 'p99.9', 'max'], rows);
}

/** The error tally and its first messages, or nothing when there were no errors. */
function errorLines(result: { errors: Record<string, number>; errorSamples: string[] }): string[] {
  const errors = Object.entries(result.errors);
  if (errors.length === 0) return [];
  return ['', renderTable(['error', 'count'], errors), ...result.errorSamples.map((s) => `  e.g. ${s}`)];
}

export function renderLoadResult(result: LoadResult): string {
  const { clients, messages, latency } = result;
  const summary = renderPairs([
    ['target', result.target],
    ['clients', `${clients.connected}/${clients.attempted} connected, ${clients.failed} failed`],
    ['messages', `${messages.acked}/${messages.sent} acked, ${messages.mismatched} mismatched, ${messages.missing} missing, ${messages.extra} extra`],
    ['duration', `${result.durationMs} ms (${result.acksPerSecond} acks/s)`],
    ['verdict', `${result.ok ? 'ok' : 'FAILED'}${result.stopped ? ' (stopped early)' : ''}`],
  ]);
  return [summary, '', latencyTable('latency', [['connect', latency.connect], ['ack', latency.ack]]), ...errorLines(result), ...thresholdBlock(result)].join('\n');
}

/** One line of live stats. */
export function renderCapacityProgress(p: CapacityProgress): string {
  return (
    `total ${p.planned} | dialing ${p.dialing} | established ${p.open} open (${p.established} in all) | ` +
    `closed by server ${p.closedByServer} | errors ${p.errors} | not started ${p.notStarted}`
  );
}

export function renderCapacityResult(result: CapacityResult): string {
  const c = result.connections;
  const pairs: Array<[string, Cell]> = [
    ['target', result.target],
    ['connections', `${c.established}/${c.attempted} established, ${c.failed} failed, ${c.closedByServer} closed by the server, ${c.notStarted} not started`],
    ['held', `${c.held} of ${c.planned}`],
    ['max concurrent', c.maxConcurrent],
  ];
  if (result.ramp) pairs.push(['ramp ceiling', `${result.ramp.ceiling} (stopped: ${result.ramp.reason})`]);
  pairs.push(
    ['opening', `${result.opening.established} in ${result.opening.ms} ms (${result.opening.perSecond}/s)`],
    ['memory', `${formatSize(result.memory.rssBytes)} resident, ${formatSize(result.memory.perConnectionBytes)} per held connection`],
    ['processes', `${result.processes}${result.sourceAddresses ? `, ${result.sourceAddresses} source addresses (${result.sourcePortsSkipped} source ports refused by the kernel and replaced)` : ''}`],
    ['TIME_WAIT', `${result.timeWait} left (${result.timeWaitSides.client} on the client side, ${result.timeWaitSides.server} on the server side)`],
  );
  if (result.stoppedBy) pairs.push(['stopped by', result.stoppedBy]);
  for (const lost of result.lostWorkers ?? []) {
    const p = lost.lastProgress;
    pairs.push([`lost worker ${lost.worker}`, `shard ${lost.shard.index}/${lost.shard.count} ${lost.reason}; it had reported ${p.open} open, ${p.established} established, ${p.failed} failed of ${p.planned}`]);
  }
  pairs.push(['verdict', result.ok ? 'ok' : 'FAILED']);
  const parts = [renderPairs(pairs), '', latencyTable('connect', [['', result.connectLatency]]), ...errorLines(result)];
  for (const hit of result.limits.hit) parts.push('', `limit hit (${hit.code} ×${hit.count}): ${hit.hint}`);
  for (const warning of result.warnings) parts.push('', `warning: ${warning}`);
  return [...parts, ...thresholdBlock(result)].join('\n');
}

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
  return [renderPairs(pairs), ...thresholdBlock(result)].join('\n');
}

/** The tools' results in a lab document, one after another. */
function renderLab(lab: LabResults): string {
  const parts: string[] = [];
  if (lab.overload) parts.push(renderLoadResult(lab.overload.load));
  if (lab.keepalive?.faulty) parts.push(renderHttpClientResult(lab.keepalive.faulty));
  if (lab.keepalive?.fixed) parts.push(renderHttpClientResult(lab.keepalive.fixed));
  if (lab.capacity) parts.push(renderCapacityResult(lab.capacity.capacity));
  return parts.join('\n\n');
}

/** Any result document as text, by its kind. */
export function renderResult(result: AnyResult): string {
  if (result.kind === LOAD_KIND) return renderLoadResult(result);
  if (result.kind === CAPACITY_KIND) return renderCapacityResult(result);
  if (result.kind === HTTP_CLIENT_KIND) return renderHttpClientResult(result);
  if (result.kind === CHECK_KIND) return renderCheckResult(result);
  return renderLab(result);
}

/** One spec's verdict, h2spec-style: its ID and requirement, the verdict, and why (or what failed) below. */
export function renderVerdict(spec: SpecVerdict): string {
  const verdict = spec.status === 'passed' ? 'passed' : spec.status === 'failed' ? 'FAILED' : 'skipped';
  const lines = [`  ${spec.id.padEnd(16)} ${spec.title} ... ${verdict}`];
  if (spec.status === 'skipped' && spec.reason) lines.push(`      ${spec.reason}`);
  if (spec.status === 'failed' && spec.message) lines.push(...spec.message.split('\n').slice(0, 3).map((line) => `      ${line}`));
  return lines.join('\n');
}

/** The closing line of a check: `N passed, N failed, N skipped`. */
export function renderCheckSummary(summary: CheckResult['summary']): string {
  return `${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`;
}

export function renderCheckResult(result: CheckResult): string {
  const head = `connlab check ${result.family} against ${result.target}`;
  if (result.error) return `${head}\n${result.error}`;
  return [head, ...result.specs.map(renderVerdict), renderCheckSummary(result.summary)].join('\n');
}
