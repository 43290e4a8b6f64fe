// The target switch: each spec family runs against the implementation in lib/ unless an external
// target is named, e.g. CONNLAB_TARGET_ACK=127.0.0.1:5000 (what `connlab check ack --target` sets).
// What the target promises comes with it, in CONNLAB_DECLARED_ACK (JSON, by flag: {"max-line": 65536}).
// A spec reads a declared value with declared(); for lib/ it uses the value it configures lib/ with, so
// the same spec judges both. A spec that cannot judge another implementation at all calls libOnly().
// Either skips the spec with a reason that `connlab check` reports (and says which flag would let it run).
import type { TestContext } from 'vitest';
import { parseHostPort } from '../../lib/net/units.ts';
import { announceSkip } from './skip.ts';

export interface ExternalTarget {
  host: string;
  port: number;
  variable: string;
}

/** The environment name of a family: CONNLAB_TARGET_<NAME> (`http-server` is HTTP, as it always was). */
const variableOf = (family: string): string => (family === 'http-server' ? 'HTTP' : family.toUpperCase().replace(/-/g, '_'));

/** The external target named for a family (ACK, BALANCER, POOL, PRIME, HTTP, CAPACITY), if any. */
export function externalTarget(family: string): ExternalTarget | undefined {
  const variable = `CONNLAB_TARGET_${variableOf(family)}`;
  const value = process.env[variable];
  if (!value) return undefined;
  if (value === 'command') return { host: '', port: 0, variable };
  return { ...parseHostPort(value), variable };
}

/** What the family's external target declared, by flag without its dashes; empty when judging lib/. */
export function declaredParameters(family: string): Record<string, number | string | number[]> {
  const text = process.env[`CONNLAB_DECLARED_${variableOf(family)}`];
  if (!text) return {};
  return JSON.parse(text) as Record<string, number | string | number[]>;
}

/** Skips the running spec with `reason` (printed once, and reported by `connlab check`). */
export function skipWith(ctx: TestContext, reason: string): never {
  announceSkip(reason);
  ctx.skip(reason);
  throw new Error('unreachable: ctx.skip() throws');
}

/** The running spec judges lib/'s own implementation only: skipped, with `why`, when a target is named. */
export function libOnly(ctx: TestContext, family: string, why: string): void {
  const target = externalTarget(family);
  if (target) skipWith(ctx, `lib only: ${why}`);
}

/**
 * A promise of the target's this spec depends on: the value the target declared with `flag`, or, when
 * judging lib/, `libValue` (which the spec configures lib/ with). An external target that did not
 * declare it skips the spec, naming the flag.
 */
export function declared<T extends number | string | number[]>(ctx: TestContext, family: string, flag: `--${string}`, libValue: T, meaning?: string): T {
  if (!externalTarget(family)) return libValue;
  const value = declaredParameters(family)[flag.slice(2)];
  if (value === undefined) skipWith(ctx, `needs ${flag} declared${meaning ? `: ${meaning}` : ''} (connlab check ${family} ... ${flag} VALUE)`);
  return value as T;
}

/** A declared value when there is one (an external target's, or undefined for lib/), never skipping. */
export function declaredOr<T extends number | string | number[] | undefined>(family: string, flag: `--${string}`, fallback: T): T {
  if (!externalTarget(family)) return fallback;
  return (declaredParameters(family)[flag.slice(2)] as T | undefined) ?? fallback;
}

/** Whether the family's target runs on this machine, where its socket table is ours to read. */
export function targetIsLocal(family: string): boolean {
  const target = externalTarget(family);
  return !target || /^(127\.|::1$|localhost$|\[::1\]$)/.test(target.host);
}

/** A spec that reads this machine's socket table about the target: skipped when the target is elsewhere. */
export function needsLocalTarget(ctx: TestContext, family: string): void {
  if (!targetIsLocal(family)) skipWith(ctx, "the target runs on another machine: this spec reads this machine's socket table, which only sees targets on loopback");
}

/** Why a lib-only spec is skipped when the family has an external target (for describe-level skips). */
export function libOnlyReason(family: string, why: string): string | undefined {
  const target = externalTarget(family);
  return announceSkip(target ? `lib only: ${why}` : undefined);
}
