// The series a run samples on a timer (the capacity tester's open connections over time) stays at a
// bounded size however long the run lasts: past the bound every other point goes and samples come half
// as often, so what is kept still spans the whole run, evenly.
import { describe, expect, it } from 'vitest';
import { MAX_SERIES_POINTS, ThinnedSeries } from '../../lib/results/series.ts';

/** A series of `max` points offered the samples 0, 1, 2, ... `count - 1` (each sample is its own time). */
function offered(count: number, max?: number): ThinnedSeries<number> {
  const series = new ThinnedSeries<number>(max);
  for (let t = 0; t < count; t++) series.offer(() => t);
  return series;
}

/** The gaps between consecutive points. */
const gaps = (points: readonly number[]): number[] => points.slice(1).map((t, i) => t - points[i]);

describe('results: a thinned series', () => {
  it('RESULT-008 keeps every sample until it holds its most points, 2,000 by default', () => {
    expect(MAX_SERIES_POINTS).toBe(2000);
    expect(offered(1999).points).toEqual(Array.from({ length: 1999 }, (_, t) => t));
    expect(offered(7, 8).points).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('RESULT-009 past its most points keeps every other one and takes every other sample from then on: evenly spread from the first sample on, never more than the most', () => {
    for (const count of [8, 9, 20, 100, 1000, 12_345]) {
      const { points } = offered(count, 8);
      expect(points.length, `${count} samples`).toBeLessThanOrEqual(8);
      expect(points[0]).toBe(0);
      // One gap throughout, a power of two, and the last point within one gap of the last sample.
      const [gap] = gaps(points);
      expect(gaps(points).every((g) => g === gap), `${count} samples: ${points.join(' ')}`).toBe(true);
      expect(Math.log2(gap) % 1).toBe(0);
      expect(count - 1 - points.at(-1)!).toBeLessThan(gap);
    }
    expect(offered(8, 8).points).toEqual([0, 2, 4, 6]);
    expect(offered(20, 8).points).toEqual([0, 4, 8, 12, 16]);
    expect(offered(5000).points).toHaveLength(1250);
  });

  it('RESULT-010 takes a point offered as always (a run\'s last) out of turn, and thins it with the rest', () => {
    const series = offered(9, 8); // [0, 2, 4, 6, 8]: every other sample from here
    series.offer(() => 9); // not its turn
    expect(series.points).toEqual([0, 2, 4, 6, 8]);
    series.offer(() => 9.5, true);
    expect(series.points).toEqual([0, 2, 4, 6, 8, 9.5]);
  });
});
