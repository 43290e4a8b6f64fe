// Deterministic work splitting for runs spread over processes or machines: shard I of N gets an exact
// integer share, the shares add up to the whole, and no item is in two shards (like k6's segments).
import { OptionError } from './options.ts';

export interface Shard {
  index: number;
  count: number;
}

/** Parses `I/N` (0-based I), e.g. `0/4`. */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(String(text));
  if (!match) throw new OptionError('shard', `"${text}" is not a shard (write I/N, e.g. 0/4)`);
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1 || index >= count) throw new OptionError('shard', `"${text}": the shard index must be 0..${Math.max(0, count - 1)}`);
  return { index, count };
}

/** The slice [start, start + size) of `total` items that shard `index` of `count` owns. */
export function shareOf(total: number, shard: Shard = { index: 0, count: 1 }): { start: number; size: number } {
  const start = Math.floor((total * shard.index) / shard.count);
  const end = Math.floor((total * (shard.index + 1)) / shard.count);
  return { start, size: end - start };
}
