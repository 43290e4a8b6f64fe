// Thresholds: what a run must reach to pass, declared by its user, k6-style: `--threshold 'ack.p99<20ms'`.
// An expression names a metric of the run's result document, an operator and a value in the metric's
// unit; each metric is read from the document itself, so a merged result is judged on its merged
// histograms, never on any one shard's. A malformed expression, an unknown metric or a unit that does
// not fit is an OptionError (a usage error) that names the expression and the metrics it could mean.
import { OptionError } from '../net/options.ts';
import { formatDuration, formatSize, parseSize } from '../net/units.ts';
import type { CapacityResult } from './capacity.ts';
import type { HttpClientResult } from './http-client.ts';
import { CAPACITY_KIND, HTTP_CLIENT_KIND, LOAD_KIND } from './kinds.ts';
import type { LatencySummary } from './latency.ts';
import type { LoadResult } from './load.ts';

/** How a metric's values are written: durations take ms/s/m, sizes B/KiB/MiB, plain numbers nothing. */
export type MetricUnit = 'duration' | 'size' | 'number';

export interface Metric {
  name: string;
  unit: MetricUnit;
  help: string;
  /** The metric's value in a document (ms for durations, bytes for sizes); undefined when the run has none. */
  read(document: never): number | undefined;
}

/** A threshold as it is judged and reported: the expression, the measured value, and whether it held. */
export interface ThresholdResult {
  expr: string;
  /** The metric's value in its base unit (ms, bytes, a count); null when the run did not measure it. */
  value: number | null;
  ok: boolean;
}

export const OPERATORS = ['<=', '>=', '==', '!=', '<', '>'] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Threshold {
  expr: string;
  metric: Metric;
  operator: Operator;
  /** The bound in the metric's base unit. */
  bound: number;
}

const PERCENTILES: Array<keyof LatencySummary> = ['p50', 'p90', 'p99', 'p999', 'max', 'mean'];

/** `name.p50` ... `name.max` and `name.count` for one latency summary of a document. */
function latencyMetrics<D>(name: string, what: string, summary: (document: D) => LatencySummary, short = what): Metric[] {
  const metrics: Metric[] = PERCENTILES.map((p) => ({
    name: `${name}.${p}`,
    unit: 'duration',
    help: `${p === 'mean' ? 'mean' : p === 'max' ? 'slowest' : p} ${what}`,
    read: (document: D) => (summary(document).count > 0 ? (summary(document)[p] as number) : undefined),
  }));
  metrics.push({ name: `${name}.count`, unit: 'number', help: `samples in the ${short} histogram`, read: (document: D) => summary(document).count });
  return metrics;
}

const count = <D>(name: string, help: string, read: (document: D) => number | undefined): Metric => ({ name, unit: 'number', help, read: read as Metric['read'] });

/** Every error counted, and one `errors.CODE` per code (a code that never occurred is 0). */
const errorMetric = <D extends { errors: Record<string, number> }>(): Metric =>
  count<D>('errors', 'errors of every code counted', (d) => Object.values(d.errors).reduce((sum, n) => sum + n, 0));

/** The metrics of each kind of result, by name. */
export const METRICS: Record<string, Metric[]> = {
  [LOAD_KIND]: [
    ...latencyMetrics<LoadResult>('ack', 'ack latency (from the send, or from the intended send with --rate)', (d) => d.latency.ack, 'ack latency'),
    ...latencyMetrics<LoadResult>('connect', 'connect time', (d) => d.latency.connect),
    errorMetric<LoadResult>(),
    count<LoadResult>('acksPerSecond', 'acks per second over the run', (d) => d.acksPerSecond),
    count<LoadResult>('clients.connected', 'clients that connected', (d) => d.clients.connected),
    count<LoadResult>('clients.failed', 'clients that could not connect', (d) => d.clients.failed),
    count<LoadResult>('messages.acked', 'messages answered with their exact ack', (d) => d.messages.acked),
    count<LoadResult>('messages.mismatched', 'messages answered with a wrong ack', (d) => d.messages.mismatched),
    count<LoadResult>('messages.missing', 'messages never answered', (d) => d.messages.missing),
  ],
  [CAPACITY_KIND]: [
    count<CapacityResult>('held', 'connections open when the run judged its target', (d) => d.connections.held),
    count<CapacityResult>('established', 'handshakes that completed', (d) => d.connections.established),
    count<CapacityResult>('failed', 'dials that failed', (d) => d.connections.failed),
    count<CapacityResult>('closedByServer', 'connections the server closed', (d) => d.connections.closedByServer),
    count<CapacityResult>('maxConcurrent', 'most connections open at one moment', (d) => d.connections.maxConcurrent),
    count<CapacityResult>('ramp.ceiling', 'the concurrency the ramp found the target keeps (--ramp)', (d) => d.ramp?.ceiling),
    count<CapacityResult>('openedPerSecond', 'connections established per second while opening', (d) => d.opening.perSecond),
    count<CapacityResult>('timeWait', 'sockets the run left in TIME_WAIT on this machine', (d) => d.timeWait),
    { name: 'memory.perConnection', unit: 'size', help: 'resident memory grown per held connection', read: (d: CapacityResult) => d.memory.perConnectionBytes } as Metric,
    ...latencyMetrics<CapacityResult>('connect', 'connect time', (d) => d.connectLatency),
    errorMetric<CapacityResult>(),
  ],
  [HTTP_CLIENT_KIND]: [
    count<HttpClientResult>('sockets.peak', 'most ESTABLISHED sockets to the server at one moment (the OS\'s count)', (d) => d.sockets.peak),
    count<HttpClientResult>('sockets.final', 'sockets open when the last request finished', (d) => d.sockets.final),
    count<HttpClientResult>('sockets.opened', 'connections the client opened', (d) => d.sockets.opened),
    count<HttpClientResult>('sockets.perCompletedRequest', 'connections opened per completed request', (d) => d.sockets.perCompletedRequest),
    count<HttpClientResult>('sockets.afterClose', 'sockets still open after the client was closed', (d) => d.sockets.afterClose),
    count<HttpClientResult>('requests.completed', 'requests answered with a success', (d) => d.requests.completed),
    count<HttpClientResult>('requests.failed', 'requests that failed', (d) => d.requests.failed),
    count<HttpClientResult>('requestsPerSecond', 'completed requests per second', (d) => d.requestsPerSecond),
    ...latencyMetrics<HttpClientResult>('latency', 'request latency', (d) => d.latency),
    errorMetric<HttpClientResult>(),
  ],
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
/** The command whose results are of each kind, to name in messages. */
const COMMANDS: Record<string, string> = { [LOAD_KIND]: 'load', [CAPACITY_KIND]: 'capacity', [HTTP_CLIENT_KIND]: 'http-client' };

const EXPRESSION = /^\s*([A-Za-z][\w.]*)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/;

/** Metrics whose names are closest to `name` (edit distance), for the error message. */
function closest(name: string, metrics: Metric[]): string[] {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = current;
      }
    }
    return row[b.length];
  };
  return metrics
    .map((m) => ({ name: m.name, d: distance(name.toLowerCase(), m.name.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, 4)
    .map((m) => m.name);
}

/** The bound of `expr` in the metric's base unit, or an OptionError when the unit does not fit it. */
function boundOf(expr: string, metric: Metric, number: string, unit: string): number {
  if (metric.unit === 'duration') {
    const factor = DURATION_UNITS[unit || 'ms'];
    if (factor === undefined) throw new OptionError('--threshold', `threshold "${expr}": ${metric.name} is a duration: write ms, s or m (e.g. ${metric.name}<20ms), not ${unit}`);
    // Not rounded: latencies are kept to the microsecond, so `ack.p99<0.5ms` means half a millisecond.
    return Number(number) * factor;
  }
  if (metric.unit === 'size') {
    if (unit !== '' && !/^(B|KiB|MiB|GiB|kB|MB|GB)$/i.test(unit)) throw new OptionError('--threshold', `threshold "${expr}": ${metric.name} is a size: write B, KiB or MiB (e.g. ${metric.name}<=1KiB), not ${unit}`);
    return parseSize(`${number}${unit}`);
  }
  if (unit !== '') throw new OptionError('--threshold', `threshold "${expr}": ${metric.name} is a plain number, with no unit (e.g. ${metric.name}>=${number}), not ${number}${unit}`);
  return Number(number);
}

/** Parses one expression against the metrics of a kind; throws an OptionError saying what is wrong. */
export function parseThreshold(expr: string, kind: string): Threshold {
  const metrics = METRICS[kind] ?? [];
  const match = EXPRESSION.exec(expr);
  if (!match) throw new OptionError('--threshold', `threshold "${expr}" is not METRIC OPERATOR VALUE (e.g. ack.p99<20ms, errors==0, held>=10000); operators: ${OPERATORS.join(' ')}`);
  const [, name, operator, number, unit] = match;
  const metric = metrics.find((m) => m.name === name) ?? (name.startsWith('errors.') ? errorCodeMetric(name) : undefined);
  if (!metric) {
    const command = COMMANDS[kind] ?? kind;
    throw new OptionError('--threshold', `threshold "${expr}": no metric ${name} in a ${command} result; did you mean ${closest(name, metrics).join(', ')}? (all of them: connlab ${command} --help)`);
  }
  return { expr: expr.trim(), metric, operator: operator as Operator, bound: boundOf(expr, metric, number, unit) };
}

/** `errors.ECONNRESET`: how many errors of that one code were counted (0 when none). */
function errorCodeMetric(name: string): Metric {
  const code = name.slice('errors.'.length);
  return { name, unit: 'number', help: `errors counted as ${code}`, read: (d: { errors: Record<string, number> }) => d.errors[code] ?? 0 } as Metric;
}

function holds(value: number, operator: Operator, bound: number): boolean {
  switch (operator) {
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    case '>=':
      return value >= bound;
    case '==':
      return value === bound;
    case '!=':
      return value !== bound;
  }
}

/** Judges each threshold on `document`. A metric the run did not measure fails its threshold. */
export function judgeThresholds(thresholds: Threshold[], document: { kind: string }): ThresholdResult[] {
  return thresholds.map(({ expr, metric, operator, bound }) => {
    const value = metric.read(document as never);
    return { expr, value: value ?? null, ok: value !== undefined && holds(value, operator, bound) };
  });
}

/** A measured value as people read it, in the metric's own unit. */
export function formatMetricValue(metric: Metric, value: number | null): string {
  if (value === null) return 'not measured';
  if (metric.unit === 'duration') return value < 1000 ? `${value}ms` : formatDuration(value);
  if (metric.unit === 'size') return formatSize(value);
  return String(value);
}

/** The metrics of one kind as help text: one line each (a latency's percentiles on one line). */
export function metricsHelp(kind: string): string {
  const rows: Array<[string, string]> = [];
  for (const metric of METRICS[kind] ?? []) {
    const latency = /^(.+)\.(p50|p90|p99|p999|max|mean)$/.exec(metric.name);
    if (!latency) rows.push([metric.name, `${metric.unit === 'size' ? '(B, KiB, MiB) ' : ''}${metric.help}`]);
    else if (latency[2] === 'p50') rows.push([`${latency[1]}.p50 .p90 .p99 .p999 .max .mean`, `(ms, s) ${metric.help.replace(/^p50 /, '')}`]);
  }
  rows.push(['errors.CODE', 'errors of one code, e.g. errors.ECONNRESET']);
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, help]) => `  ${name.padEnd(width)}  ${help}`).join('\n');
}
