// Charts as inline SVG, drawn from plain numbers: a line chart (series over time or over percentile)
// and a bar chart. Every chart has a title, labeled axes with units and a legend, and carries
// data-chart / data-points attributes so a test can tell that it rendered with data.
// Nothing is loaded from the network: the page that embeds these opens from disk.

export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** Draw as a step line (for counts that change in jumps). */
  step?: boolean;
}

export interface Axis {
  label: string;
  /** Tick values and labels; computed from the data when absent. */
  ticks?: Array<[number, string]>;
  min?: number;
  max?: number;
}

export interface LineChartOptions {
  id: string;
  title: string;
  x: Axis;
  y: Axis;
  series: Series[];
  /** Horizontal reference lines, e.g. a connection ceiling or a cap. */
  guides?: Array<{ y: number; label: string }>;
}

export interface BarChartOptions {
  id: string;
  title: string;
  xLabel?: string;
  yLabel: string;
  groups: Array<{ label: string; values: number[] }>;
  /** One name per value in a group; one color each. */
  seriesNames: string[];
}

const WIDTH = 640;
const HEIGHT = 320;
const MARGIN = { top: 36, right: 20, bottom: 52, left: 64 };
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Round tick steps: 1, 2, 5 × 10^k, about `count` of them over [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export function formatTick(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 10_000) return `${+(value / 1000).toFixed(1)}k`;
  if (Number.isInteger(value)) return String(value);
  return String(+value.toPrecision(3));
}

function frame(id: string, title: string, points: number, body: string): string {
  return (
    `<svg class="chart" data-chart="${escapeXml(id)}" data-points="${points}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
    `width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeXml(title)}" xmlns="http://www.w3.org/2000/svg" ` +
    `font-family="system-ui, sans-serif" font-size="12">` +
    `<title>${escapeXml(title)}</title>` +
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(title)}</text>` +
    body +
    '</svg>'
  );
}

function legend(names: string[]): string {
  let x = MARGIN.left;
  return names
    .map((name, i) => {
      const item =
        `<g class="legend-item"><rect x="${x}" y="${HEIGHT - 16}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>` +
        `<text x="${x + 16}" y="${HEIGHT - 6}">${escapeXml(name)}</text></g>`;
      x += 28 + name.length * 7;
      return item;
    })
    .join('');
}

function axes(xTicks: Array<[number, string]>, yTicks: Array<[number, string]>, sx: (v: number) => number, sy: (v: number) => number, xLabel: string, yLabel: string): string {
  const plotBottom = HEIGHT - MARGIN.bottom;
  const parts: string[] = [];
  for (const [value, label] of yTicks) {
    const y = sy(value).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(label)}</text>`);
  }
  for (const [value, label] of xTicks) {
    const x = sx(value).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${plotBottom}" y2="${plotBottom + 4}" stroke="#333"/>`);
    parts.push(`<text x="${x}" y="${plotBottom + 16}" text-anchor="middle">${escapeXml(label)}</text>`);
  }
  parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${plotBottom}" y2="${plotBottom}" stroke="#333"/>`);
  parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${plotBottom}" stroke="#333"/>`);
  parts.push(`<text class="axis-label" x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${plotBottom + 32}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(
    `<text class="axis-label" transform="translate(16 ${(MARGIN.top + plotBottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  return parts.join('');
}

export function lineChart(options: LineChartOptions): string {
  const all = options.series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = [...all.map(([, y]) => y), ...(options.guides ?? []).map((g) => g.y)];
  const xMin = options.x.min ?? Math.min(...xs, 0);
  const xMax = options.x.max ?? Math.max(...xs, xMin + 1);
  const yMin = options.y.min ?? 0;
  const yMax = options.y.max ?? Math.max(...ys, yMin + 1) * 1.1;
  const sx = (v: number): number => MARGIN.left + ((v - xMin) / (xMax - xMin || 1)) * (WIDTH - MARGIN.left - MARGIN.right);
  const sy = (v: number): number => HEIGHT - MARGIN.bottom - ((v - yMin) / (yMax - yMin || 1)) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const xTicks = options.x.ticks ?? niceTicks(xMin, xMax).map((v) => [v, formatTick(v)] as [number, string]);
  const yTicks = options.y.ticks ?? niceTicks(yMin, yMax).map((v) => [v, formatTick(v)] as [number, string]);
  const lines = options.series.map((series, i) => {
    const color = PALETTE[i % PALETTE.length];
    const path = series.points
      .map(([x, y], k) => {
        const px = sx(x).toFixed(1);
        const py = sy(y).toFixed(1);
        if (k === 0) return `M${px},${py}`;
        return series.step ? `H${px}V${py}` : `L${px},${py}`;
      })
      .join('');
    const dots = series.points.length <= 60 ? series.points.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${color}"/>`).join('') : '';
    return `<g class="series" data-series="${escapeXml(series.name)}" data-points="${series.points.length}"><path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>${dots}</g>`;
  });
  const guides = (options.guides ?? []).map(
    (g) =>
      `<g class="guide"><line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${sy(g.y).toFixed(1)}" y2="${sy(g.y).toFixed(1)}" stroke="#555" stroke-dasharray="5 4"/>` +
      `<text x="${WIDTH - MARGIN.right - 4}" y="${(sy(g.y) - 5).toFixed(1)}" text-anchor="end" fill="#555">${escapeXml(g.label)}</text></g>`,
  );
  const body = axes(xTicks, yTicks, sx, sy, options.x.label, options.y.label) + guides.join('') + lines.join('') + legend(options.series.map((s) => s.name));
  return frame(options.id, options.title, all.length, body);
}

export function barChart(options: BarChartOptions): string {
  const values = options.groups.flatMap((g) => g.values);
  const yMax = Math.max(...values, 1) * 1.15;
  const sy = (v: number): number => HEIGHT - MARGIN.bottom - (v / yMax) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const groupWidth = plotWidth / Math.max(1, options.groups.length);
  const barWidth = (groupWidth * 0.7) / Math.max(1, options.seriesNames.length);
  const bars: string[] = [];
  const xTicks: Array<[number, string]> = [];
  options.groups.forEach((group, gi) => {
    const x0 = MARGIN.left + gi * groupWidth + groupWidth * 0.15;
    xTicks.push([gi, group.label]);
    group.values.forEach((value, si) => {
      const x = x0 + si * barWidth;
      const y = sy(value);
      bars.push(
        `<rect class="bar" data-value="${value}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(HEIGHT - MARGIN.bottom - y).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${group.label} ${options.seriesNames[si] ?? ''}: ${value}`)}</title></rect>` +
          (value > 0 ? `<text x="${(x + barWidth / 2 - 1).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="11">${escapeXml(formatTick(value))}</text>` : ''),
      );
    });
  });
  const sx = (index: number): number => MARGIN.left + index * groupWidth + groupWidth / 2;
  const yTicks = niceTicks(0, yMax).map((v) => [v, formatTick(v)] as [number, string]);
  const body = axes(xTicks, yTicks, sx, sy, options.xLabel ?? '', options.yLabel) + bars.join('') + legend(options.seriesNames);
  return frame(options.id, options.title, values.length, body);
}
