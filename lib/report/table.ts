// Plain text tables for results on a terminal: aligned columns, numbers right-aligned.

export type Cell = string | number;

export function renderTable(headers: string[], rows: Cell[][]): string {
  const text = [headers, ...rows].map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = headers.map((_, col) => Math.max(...text.map((row) => (row[col] ?? '').length)));
  const numeric = headers.map((_, col) => rows.length > 0 && rows.every((row) => typeof row[col] === 'number'));
  const line = (row: string[]): string =>
    row.map((cell, col) => (numeric[col] ? cell.padStart(widths[col]) : cell.padEnd(widths[col]))).join('  ').trimEnd();
  return [line(text[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...text.slice(1).map(line)].join('\n');
}

export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** Key/value lines, for a short summary. */
export function renderPairs(pairs: Array<[string, Cell]>): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${typeof value === 'number' ? formatNumber(value) : value}`).join('\n');
}
