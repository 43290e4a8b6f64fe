// How the results of one run split over shards add up: counters field by field, names joined once.

/** Adds count objects field by field: error tallies, or a result's counters across shards. */
export function addCounts<T extends object>(items: T[]): T {
  const total = {} as Record<string, number>;
  for (const item of items) for (const [key, value] of Object.entries(item) as Array<[string, number]>) total[key] = (total[key] ?? 0) + value;
  return total as T;
}

/** The distinct values, in order of first appearance, joined: `127.0.0.1:5000, 127.0.0.1:5001`. */
export function joinUnique(values: string[]): string {
  return [...new Set(values)].join(', ');
}
