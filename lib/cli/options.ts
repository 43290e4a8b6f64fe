// Option parsers shared by every command: each turns text into a value or throws commander's
// InvalidArgumentError, which commander prints as one line naming the flag, and main() exits 2.
import { InvalidArgumentError } from 'commander';
import { OptionError } from '../net/options.ts';
import { parseDuration, parseHostPort, parsePort, parseSize } from '../net/units.ts';
import { parseShard, type Shard } from '../net/shard.ts';
import { DEFAULT_TRANSPORT, TRANSPORTS } from '../net/conn.ts';

/** A parser for commander: an OptionError (or any error) becomes the one line commander prints, exit 2. */
export function wrap<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

export const duration = wrap((text) => parseDuration(text));
/** Durations where a bare number means milliseconds, as the prior art's `-delay 10` did. */
export const durationMs = wrap((text) => parseDuration(text, 'ms'));
export const size = wrap(parseSize);
export const port = wrap(parsePort);
export const hostPort = wrap((text) => parseHostPort(text));
export const shard = wrap(parseShard);

export const integer = (min = 0, max = Number.MAX_SAFE_INTEGER): ((text: string) => number) =>
  wrap((text) => {
    const n = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || n < min || n > max) {
      throw new OptionError('value', `"${text}" must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}`);
    }
    return n;
  });

export const probability = wrap((text) => {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new OptionError('value', `"${text}" must be a probability from 0 to 1`);
  return n;
});

export function oneOf<T extends string>(...choices: T[]): (text: string) => T {
  return wrap((text) => {
    if (!choices.includes(text as T)) throw new OptionError('value', `"${text}" must be one of ${choices.join(', ')}`);
    return text as T;
  });
}

/** `--transport`: what carries a command's connections. Same words and default in every command that has it. */
export const TRANSPORT_FLAG = {
  flags: '--transport <kind>',
  help: 'what carries the connections: libuv (bare libuv TCP handles: one read and one write system call per message, little else; the default where Node has them) or net (net.Socket, the fallback)',
  parse: oneOf(...TRANSPORTS),
  default: DEFAULT_TRANSPORT,
};

/** Collects a repeatable option into an array. */
export function collect<T>(parse: (text: string) => T): (text: string, previous: T[] | undefined) => T[] {
  return (text, previous) => [...(previous ?? []), parse(text)];
}

/** The shard to run: --shard, or --shards with the index from JOB_COMPLETION_INDEX. */
export function shardOf(options: { shard?: Shard; shards?: number }): Shard | undefined {
  if (options.shards === undefined) return options.shard;
  if (options.shard) throw new OptionError('--shards', '--shard and --shards: give one of them');
  const text = process.env.JOB_COMPLETION_INDEX;
  const index = Number(text);
  if (text === undefined || !Number.isInteger(index) || index < 0 || index >= options.shards) {
    throw new OptionError('--shards', `--shards ${options.shards} takes the shard index from JOB_COMPLETION_INDEX (0..${options.shards - 1}), which is ${text ?? 'not set'}`);
  }
  return { index, count: options.shards };
}
