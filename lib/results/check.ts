// The check result (`connlab check FAMILY --json FILE`): which target was judged by which spec family,
// with what it declared, and each spec's verdict: passed, failed (with what was expected against what was
// seen) or skipped (with the reason, e.g. the flag that would let it run).
import { CHECK_KIND } from './kinds.ts';
import { arrayOf, literal, num, object, oneOf, optional, problemsOf, str, type Check } from './shape.ts';

export { CHECK_KIND };

export type SpecStatus = 'passed' | 'failed' | 'skipped';

export interface SpecVerdict {
  id: string;
  /** The requirement the spec checks, as its title says it. */
  title: string;
  status: SpecStatus;
  /** Why it was skipped. */
  reason?: string;
  /** What failed: expected against seen. */
  message?: string;
  durationMs: number;
}

export interface CheckResult {
  kind: typeof CHECK_KIND;
  family: string;
  /** `host:port` of the judged server or balancer, or the command of a judged client. */
  target: string;
  /** What the target declared it promises (the flags given), in base units: ms, bytes, counts. */
  parameters: Record<string, number | string | number[]>;
  /** The connlab version that judged it. */
  connlab: string;
  node: string;
  startedAt: string;
  durationMs: number;
  specs: SpecVerdict[];
  summary: { passed: number; failed: number; skipped: number };
  /** Why nothing was judged (the target could not be reached), when that is so. */
  error?: string;
}

const PARAMETER: Check = (value, path, problems) => {
  if (typeof value === 'number' || typeof value === 'string') return;
  if (Array.isArray(value) && value.every((n) => typeof n === 'number')) return;
  problems.push(`${path}: expected a number, a string or a list of numbers`);
};

export const CHECK_SHAPE = object({
  kind: literal(CHECK_KIND),
  family: str,
  target: str,
  parameters: (value, path, problems) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return void problems.push(`${path}: expected an object`);
    for (const [key, v] of Object.entries(value)) PARAMETER(v, `${path}.${key}`, problems);
  },
  connlab: str,
  node: str,
  startedAt: str,
  durationMs: num,
  specs: arrayOf(object({ id: str, title: str, status: oneOf('passed', 'failed', 'skipped'), reason: optional(str), message: optional(str), durationMs: num })),
  summary: object({ passed: num, failed: num, skipped: num }),
  error: optional(str),
});

export function isCheckResult(value: unknown): value is CheckResult {
  return problemsOf(value, CHECK_SHAPE).length === 0;
}

/** The counts of a list of verdicts. */
export function summarize(specs: SpecVerdict[]): CheckResult['summary'] {
  const summary = { passed: 0, failed: 0, skipped: 0 };
  for (const spec of specs) summary[spec.status]++;
  return summary;
}
