// The report: one self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched) drawn
// from a results document. Each section shows one phenomenon with its figures and charts; every
// figure carries data-figure="<path in the JSON>" so a test can check the page against the JSON.
import { barChart, escapeXml, lineChart } from './svg.ts';
import { NINES_TICKS, latencyBuckets, percentileCurve, type LatencySummary } from '../results/latency.ts';
import type { BoundedSection, CapacitySection, KeepAliveSection, LabResults, OverloadSection } from '../results/lab.ts';
import { parseThreshold, type ThresholdResult } from '../results/thresholds.ts';

export interface Figure {
  label: string;
  path: string;
  value: number | string;
  unit?: string;
}

export function figureList(figures: Figure[]): string {
  return (
    '<dl class="figures">' +
    figures
      .map(
        (f) =>
          `<div><dt>${escapeXml(f.label)}</dt><dd><span data-figure="${escapeXml(f.path)}">${escapeXml(String(f.value))}</span>` +
          `${f.unit ? ` <small>${escapeXml(f.unit)}</small>` : ''}</dd></div>`,
      )
      .join('') +
    '</dl>'
  );
}

/** Percentile curve and histogram of one or more latency summaries. */
export function latencyCharts(id: string, title: string, named: Array<{ name: string; latency: LatencySummary }>): string {
  const withData = named.filter((n) => n.latency.histogram);
  if (withData.length === 0) return '';
  const curve = lineChart({
    id: `${id}-percentiles`,
    title: `${title}: latency by percentile`,
    x: { label: 'percentile (log scale of nines)', ticks: NINES_TICKS, min: 0, max: 4 },
    y: { label: 'latency (ms)' },
    series: withData.map((n) => ({ name: n.name, points: percentileCurve(n.latency.histogram) })),
  });
  const histograms = withData.map((n, i) => {
    const buckets = latencyBuckets(n.latency.histogram);
    return barChart({
      id: `${id}-histogram${withData.length > 1 ? `-${i}` : ''}`,
      title: `${title}: ${n.name} latency histogram`,
      xLabel: 'latency, bucket upper edge (ms)',
      yLabel: 'samples',
      seriesNames: [n.name],
      groups: buckets.map(([edge, count]) => ({ label: formatEdge(edge), values: [count] })),
    });
  });
  return `<div class="charts">${curve}${histograms.join('')}</div>`;
}

function formatEdge(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

export function latencyTable(named: Array<{ name: string; latency: LatencySummary }>, pathPrefix?: string): string {
  const head = '<tr><th>latency (ms)</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>';
  const rows = named
    .map((n, i) => {
      const l = n.latency;
      const cell = (key: keyof LatencySummary): string => {
        const attribute = pathPrefix && i === 0 ? ` data-figure="${escapeXml(`${pathPrefix}.${key}`)}"` : '';
        return `<td${attribute}>${l[key]}</td>`;
      };
      return `<tr><th>${escapeXml(n.name)}</th>${cell('count')}${cell('p50')}${cell('p90')}${cell('p99')}${cell('p999')}${cell('max')}</tr>`;
    })
    .join('');
  return `<table class="latency">${head}${rows}</table>`;
}

/** The thresholds a result was judged on, each with its measured value and verdict; nothing when none. */
export function thresholdsTable(result: { kind: string; thresholds?: ThresholdResult[] }, path: string): string {
  const thresholds = result.thresholds ?? [];
  if (thresholds.length === 0) return '';
  const rows = thresholds
    .map((t, i) => {
      const { unit } = parseThreshold(t.expr, result.kind).metric;
      const value = t.value === null ? 'not measured' : `<span data-figure="${escapeXml(`${path}.thresholds.${i}.value`)}">${t.value}</span>${unit === 'duration' ? ' ms' : unit === 'size' ? ' B' : ''}`;
      return `<tr class="${t.ok ? 'passed' : 'failed'}"><th>${escapeXml(t.expr)}</th><td>${value}</td><td>${t.ok ? 'passed' : 'FAILED'}</td></tr>`;
    })
    .join('');
  return `<table class="thresholds"><tr><th>threshold</th><th>measured</th><th>verdict</th></tr>${rows}</table>`;
}

function overloadSection(section: OverloadSection): string {
  const { load } = section;
  const figures = figureList([
    { label: 'clients connected', path: 'overload.load.clients.connected', value: load.clients.connected, unit: `of ${load.clients.attempted}` },
    { label: 'messages acked', path: 'overload.load.messages.acked', value: load.messages.acked, unit: `of ${load.messages.sent}` },
    { label: 'mismatched', path: 'overload.load.messages.mismatched', value: load.messages.mismatched },
    { label: 'missing', path: 'overload.load.messages.missing', value: load.messages.missing },
    { label: 'ack p99', path: 'overload.load.latency.ack.p99', value: load.latency.ack.p99, unit: 'ms' },
  ]);
  const distribution =
    section.backends.length > 0
      ? barChart({
          id: 'overload-backends',
          title: 'Connections per backend',
          yLabel: 'connections',
          seriesNames: ['connections'],
          groups: section.backends.map((b) => ({ label: `${b.name} (${b.address})`, values: [b.connections] })),
        })
      : '';
  return (
    `<section id="overload"><h2>Overload topology</h2><p>${escapeXml(section.description)}</p>${figures}` +
    `<div class="charts">${distribution}</div>` +
    thresholdsTable(load, 'overload.load') +
    latencyTable([{ name: 'connect', latency: load.latency.connect }, { name: 'ack', latency: load.latency.ack }], 'overload.load.latency.connect') +
    latencyCharts('overload', 'Ack', [{ name: 'ack', latency: load.latency.ack }, { name: 'connect', latency: load.latency.connect }]) +
    '</section>'
  );
}

function boundedSection(section: BoundedSection): string {
  const { burst, server, config } = section;
  const statusCodes = [...new Set([...Object.keys(burst.statuses), ...Object.keys(burst.silentStatuses)])].sort();
  const figures = figureList([
    { label: '200 OK', path: 'bounded.burst.statuses.200', value: burst.statuses['200'] ?? 0, unit: `of ${burst.requests}` },
    { label: '503 (queue full)', path: 'bounded.burst.statuses.503', value: burst.statuses['503'] ?? 0 },
    { label: 'peak active', path: 'bounded.server.peakActive', value: server.peakActive, unit: `limit ${config.workers}` },
    { label: 'peak queued', path: 'bounded.server.peakQueued', value: server.peakQueued, unit: `limit ${config.queue}` },
    { label: 'rejected', path: 'bounded.server.rejected', value: server.rejected },
    { label: 'timed out', path: 'bounded.server.timedOut', value: server.timedOut },
  ]);
  const outcomes = barChart({
    id: 'bounded-outcomes',
    title: 'Responses to the burst, by status',
    xLabel: 'HTTP status',
    yLabel: 'responses',
    seriesNames: ['burst requests', 'silent clients'],
    groups: statusCodes.map((code) => ({ label: code, values: [burst.statuses[code] ?? 0, burst.silentStatuses[code] ?? 0] })),
  });
  return (
    `<section id="bounded"><h2>Bounded server under a burst</h2><p>${escapeXml(section.description)}</p>${figures}` +
    `<div class="charts">${outcomes}</div>` +
    latencyTable([{ name: 'request', latency: burst.latency }], 'bounded.burst.latency') +
    latencyCharts('bounded', 'Burst', [{ name: 'request', latency: burst.latency }]) +
    '</section>'
  );
}

function keepAliveSection(section: KeepAliveSection): string {
  // Either client may be missing when the report is drawn from one client's --json output.
  const clients = (['faulty', 'fixed'] as const).flatMap((mode) => (section[mode] ? [{ mode, result: section[mode] }] : []));
  const figures = figureList(
    clients.flatMap(({ mode, result }) => [
      { label: `${mode}: peak sockets`, path: `keepalive.${mode}.sockets.peak`, value: result.sockets.peak },
      { label: `${mode}: requests done`, path: `keepalive.${mode}.requests.completed`, value: result.requests.completed, unit: `of ${result.requests.started}` },
      { label: `${mode}: sockets per request`, path: `keepalive.${mode}.sockets.perCompletedRequest`, value: result.sockets.perCompletedRequest },
    ]),
  );
  const sockets = lineChart({
    id: 'keepalive-sockets',
    title: 'Open sockets to the server over time (the OS\'s count)',
    x: { label: 'time since start (s)' },
    y: { label: 'ESTABLISHED sockets' },
    series: clients.map(({ mode, result }) => ({ name: `${mode} client`, points: result.series.map((p) => [p.t / 1000, p.sockets] as [number, number]), step: true })),
  });
  const latencies = clients.map(({ mode, result }) => ({ name: mode, latency: result.latency }));
  return (
    `<section id="keepalive"><h2>HTTP keep-alive: ${clients.map((c) => c.mode).join(' against ')}</h2><p>${escapeXml(section.description)}</p>${figures}` +
    `<div class="charts">${sockets}</div>` +
    clients.map(({ mode, result }) => thresholdsTable(result, `keepalive.${mode}`)).join('') +
    latencyTable(latencies, `keepalive.${clients[0]?.mode}.latency`) +
    latencyCharts('keepalive', 'Requests', latencies) +
    '</section>'
  );
}

function capacitySection(section: CapacitySection): string {
  const { capacity } = section;
  const figures = figureList([
    ...(capacity.ramp ? [{ label: 'ceiling found', path: 'capacity.capacity.ramp.ceiling', value: capacity.ramp.ceiling, unit: section.knownCeiling ? `configured ${section.knownCeiling}` : undefined }] : []),
    { label: 'held', path: 'capacity.capacity.connections.held', value: capacity.connections.held, unit: `of ${capacity.connections.planned}` },
    { label: 'most open at once', path: 'capacity.capacity.connections.maxConcurrent', value: capacity.connections.maxConcurrent },
    { label: 'established', path: 'capacity.capacity.connections.established', value: capacity.connections.established },
    { label: 'closed by server', path: 'capacity.capacity.connections.closedByServer', value: capacity.connections.closedByServer },
    { label: 'connect p99', path: 'capacity.capacity.connectLatency.p99', value: capacity.connectLatency.p99, unit: 'ms' },
  ]);
  const ramp = lineChart({
    id: 'capacity-ramp',
    title: capacity.ramp ? 'Capacity ramp: connections open over time' : 'Connections open over time',
    x: { label: 'time since start (s)' },
    y: { label: 'open connections' },
    series: [{ name: 'open connections', points: capacity.series.map((p) => [p.t / 1000, p.open]), step: true }],
    guides: [
      ...(section.knownCeiling ? [{ y: section.knownCeiling, label: `configured ceiling ${section.knownCeiling}` }] : []),
      ...(capacity.ramp ? [{ y: capacity.ramp.ceiling, label: `found ${capacity.ramp.ceiling}` }] : []),
    ],
  });
  return (
    `<section id="capacity"><h2>Capacity${capacity.ramp ? ": finding a server's ceiling" : ''}</h2><p>${escapeXml(section.description)}</p>${figures}` +
    (capacity.ramp ? `<p>The ramp stopped because: ${escapeXml(capacity.ramp.reason)}.</p>` : '') +
    `<div class="charts">${ramp}</div>` +
    thresholdsTable(capacity, 'capacity.capacity') +
    latencyTable([{ name: 'connect', latency: capacity.connectLatency }], 'capacity.capacity.connectLatency') +
    latencyCharts('capacity', 'Connect', [{ name: 'connect', latency: capacity.connectLatency }]) +
    '</section>'
  );
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1340px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; margin-top: 2.5rem; }
.meta { color: #666; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1rem 0; }
.figures div { background: #f6f8fa; border-radius: 6px; padding: 0.5rem 0.9rem; min-width: 9rem; }
.figures dt { font-size: 0.8rem; color: #555; } .figures dd { margin: 0; font-size: 1.4rem; font-weight: 600; }
.figures small { font-size: 0.8rem; font-weight: 400; color: #666; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.chart { border: 1px solid #eee; border-radius: 6px; background: #fff; max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 1rem 0; } td, th { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child { text-align: left; }
.thresholds .passed td:last-child { color: #1a7f37; } .thresholds .failed td:last-child { color: #cf222e; font-weight: 600; }
`;

export function renderReport(results: LabResults): string {
  const sections = [
    results.overload && overloadSection(results.overload),
    results.bounded && boundedSection(results.bounded),
    results.keepalive && keepAliveSection(results.keepalive),
    results.capacity && capacitySection(results.capacity),
  ]
    .filter(Boolean)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>connlab report</title><style>${STYLE}</style></head>
<body><h1>connlab report</h1>
<p class="meta">Generated <time data-figure="generatedAt">${escapeXml(results.generatedAt)}</time>${results.durationMs ? `, in ${(results.durationMs / 1000).toFixed(1)} s` : ''}, on loopback.</p>
${sections || '<p>No sections in these results.</p>'}
</body></html>
`;
}

