// Latency recording with HDR histograms. Values go in as milliseconds and are kept in microseconds,
// so sub-millisecond loopback latencies keep their resolution; summaries come out in milliseconds with
// the encoded histogram alongside, which is what makes sharded results mergeable exactly.
import * as hdr from 'hdr-histogram-js';
import { num, object, str, type Check } from './shape.ts';

/** The documented latency summary: percentiles and max in ms, plus the encoded HDR histogram. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** HdrHistogram compressed base64 of microsecond values. */
  histogram: string;
}

/** The shape every LatencySummary in a result document has. */
export const LATENCY_SHAPE: Check = object({ count: num, mean: num, p50: num, p90: num, p99: num, p999: num, max: num, histogram: str });

const MICROS_PER_MS = 1000;

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

export class LatencyRecorder {
  private readonly histogram = newHistogram();

  /** Records one latency in milliseconds (fractions kept to the microsecond). */
  record(ms: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(ms * MICROS_PER_MS)));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** Adds a summary's encoded histogram (another shard's, say) into this one. */
  addEncoded(encoded: string): void {
    if (!encoded) return;
    this.histogram.add(hdr.decodeFromCompressedBase64(encoded));
  }

  summary(): LatencySummary {
    const h = this.histogram;
    const max = h.totalCount ? round(h.maxValue / MICROS_PER_MS) : 0;
    // A percentile reads its bucket's upper edge, which can pass the true maximum by the resolution.
    const at = (percentile: number): number => (h.totalCount ? Math.min(max, round(h.getValueAtPercentile(percentile) / MICROS_PER_MS)) : 0);
    return {
      count: h.totalCount,
      mean: h.totalCount ? round(h.mean / MICROS_PER_MS) : 0,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max,
      histogram: h.totalCount ? hdr.encodeIntoCompressedBase64(h) : '',
    };
  }

  /** Merges summaries exactly by adding their histograms. */
  static merge(summaries: Array<Pick<LatencySummary, 'histogram'>>): LatencySummary {
    const recorder = new LatencyRecorder();
    for (const s of summaries) recorder.addEncoded(s.histogram);
    return recorder.summary();
  }
}

/**
 * The latency-by-percentile curve of an encoded histogram, as HdrHistogram plots it: x is the
 * number of nines (0 = p0, 1 = p90, 2 = p99, 3 = p99.9, ...), y the latency in ms.
 */
export function percentileCurve(encoded: string, maxNines = 4): Array<[number, number]> {
  if (!encoded) return [];
  const h = hdr.decodeFromCompressedBase64(encoded);
  const points: Array<[number, number]> = [];
  const steps = maxNines * 8;
  for (let k = 0; k <= steps; k++) {
    const nines = (k / steps) * maxNines;
    const percentile = 100 * (1 - 10 ** -nines);
    points.push([nines, round(Math.min(h.maxValue, h.getValueAtPercentile(percentile)) / MICROS_PER_MS)]);
  }
  return points;
}

/** Ticks for percentileCurve's x axis. */
export const NINES_TICKS: Array<[number, string]> = [
  [0, 'p0'], [Math.log10(2), 'p50'], [1, 'p90'], [2, 'p99'], [3, 'p99.9'], [4, 'p99.99'],
];

/**
 * Counts per latency bucket (log-spaced between the fastest and slowest sample), read back from an
 * encoded histogram: [bucket upper edge in ms, count].
 */
export function latencyBuckets(encoded: string, buckets = 16): Array<[number, number]> {
  if (!encoded) return [];
  const h = hdr.decodeFromCompressedBase64(encoded);
  const total = h.totalCount;
  const low = Math.max(1, h.minNonZeroValue);
  const high = Math.max(low + 1, h.maxValue);
  // How many samples are <= value: the percentile whose value first passes it, found by bisection.
  const countAtOrBelow = (value: number): number => {
    if (value >= high) return total;
    let lo = 0;
    let hi = 100;
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (h.getValueAtPercentile(mid) <= value) lo = mid;
      else hi = mid;
    }
    return Math.round((lo / 100) * total);
  };
  const edges = Array.from({ length: buckets + 1 }, (_, i) => low * (high / low) ** (i / buckets));
  const result: Array<[number, number]> = [];
  let previous = countAtOrBelow(edges[0] * 0.999);
  for (let i = 1; i <= buckets; i++) {
    const cumulative = countAtOrBelow(edges[i]);
    result.push([round(edges[i] / MICROS_PER_MS), Math.max(0, cumulative - previous)]);
    previous = cumulative;
  }
  return result;
}
