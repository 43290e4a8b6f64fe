// Every result document connlab writes, told apart by its `kind` (never guessed from its shape): what
// `connlab merge` and `connlab report` accept, and the one place that checks a document read from a file.
import { OptionError } from '../net/options.ts';
import { CAPACITY_KIND, CAPACITY_SHAPE, mergeCapacityResults, type CapacityResult } from './capacity.ts';
import { CHECK_KIND, CHECK_SHAPE, type CheckResult } from './check.ts';
import { HTTP_CLIENT_KIND, HTTP_CLIENT_SHAPE, type HttpClientResult } from './http-client.ts';
import { LAB_KIND, LAB_SHAPE, type LabResults } from './lab.ts';
import { LOAD_KIND, LOAD_SHAPE, mergeLoadResults, type LoadResult } from './load.ts';
import { problemsOf, type Check } from './shape.ts';

export type AnyResult = LoadResult | CapacityResult | HttpClientResult | LabResults | CheckResult;

interface KindEntry {
  /** What people call it: the command that writes it. */
  name: string;
  shape: Check;
  /** How results of one sharded run add up, for the kinds that shard. */
  merge?: (results: never[]) => AnyResult;
}

export const RESULT_KINDS: Record<string, KindEntry> = {
  [LOAD_KIND]: { name: 'load', shape: LOAD_SHAPE, merge: mergeLoadResults as KindEntry['merge'] },
  [CAPACITY_KIND]: { name: 'capacity', shape: CAPACITY_SHAPE, merge: mergeCapacityResults as KindEntry['merge'] },
  [HTTP_CLIENT_KIND]: { name: 'http-client', shape: HTTP_CLIENT_SHAPE },
  [LAB_KIND]: { name: 'demo (results.json)', shape: LAB_SHAPE },
  [CHECK_KIND]: { name: 'check', shape: CHECK_SHAPE },
};

/** The problems of `value` as a result document: empty when it is one of connlab's kinds and fits its shape. */
export function resultProblems(value: unknown): string[] {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string') return ['it has no `kind`: it is not a connlab result document (save a run with --json)'];
  const entry = RESULT_KINDS[kind];
  if (!entry) {
    const known = Object.keys(RESULT_KINDS).find((k) => k.split('@')[0] === kind.split('@')[0]);
    return [known ? `kind ${kind} is not ${known}: it was written by another version of connlab` : `kind ${kind} is not one connlab writes`];
  }
  return problemsOf(value, entry.shape);
}

/** Checks a parsed document named `source`; throws an OptionError that lists its first problems. */
export function readResult(value: unknown, source: string): AnyResult {
  const problems = resultProblems(value);
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    throw new OptionError(source, `${source}: ${problems.slice(0, 3).join('; ')}${more}`);
  }
  return value as AnyResult;
}

/** One result for the results of one sharded run (all of one kind that shards: load or capacity). */
export function mergeResults(results: AnyResult[], sources: string[]): AnyResult {
  const kinds = new Set(results.map((r) => r.kind));
  if (kinds.size > 1) throw new OptionError(sources.join(' '), `results of different kinds cannot be merged: ${[...kinds].join(', ')}`);
  const entry = RESULT_KINDS[results[0].kind];
  if (!entry.merge) throw new OptionError(sources[0], `${sources[0]}: ${entry.name} results are not sharded, so there is nothing to merge (load and capacity results merge)`);
  return entry.merge(results as never[]);
}
