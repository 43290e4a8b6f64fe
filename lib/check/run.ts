// Running a spec family against someone else's implementation: the same spec files `npm test` runs,
// through vitest's Node API in this process, with the target named in CONNLAB_TARGET_<FAMILY> and what it
// declared in CONNLAB_DECLARED_<FAMILY>, so the specs start only what they need and judge the target from
// outside. Before any spec, one connect: a target that cannot be reached is one clear line, not a cascade
// of timeouts. Each spec's verdict is reported as it comes (`onVerdict`) and gathered into the check
// result document.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { probe } from '../net/probe.ts';
import { PACKAGE_ROOT } from '../net/package.ts';
import { formatHostPort } from '../net/units.ts';
import { CHECK_KIND, summarize, type CheckResult, type SpecVerdict } from '../results/check.ts';
import type { Family } from './families.ts';
import type { TestSpecification } from 'vitest/node';

export interface CheckOptions {
  family: Family;
  /** The server or balancer judged (families that judge a server). */
  target?: { host: string; port: number };
  /** What the target declared, by flag without its dashes (`max-line`), in base units. */
  parameters: Record<string, number | string | number[]>;
  /** Only these spec IDs. */
  only?: string[];
  /** Stretches every deadline of the specs (CONNLAB_TIME_SCALE). */
  timeScale?: number;
  /** Called with each spec's verdict as it comes. */
  onVerdict?: (verdict: SpecVerdict) => void;
}

/** How long the preflight connect may take before the target counts as unreachable. */
const PREFLIGHT_MS = 3000;

const version = (): string => (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The verdict of one finished test case, read from vitest's reporter API. */
function verdictOf(testCase: { name: string; result(): { state: string; note?: string; errors?: ReadonlyArray<{ message?: string }> }; diagnostic(): { duration: number } | undefined }): SpecVerdict {
  const [id, ...words] = testCase.name.split(' ');
  const result = testCase.result();
  const status = result.state === 'passed' ? 'passed' : result.state === 'failed' ? 'failed' : 'skipped';
  const verdict: SpecVerdict = { id, title: words.join(' '), status, durationMs: Math.round(testCase.diagnostic()?.duration ?? 0) };
  if (status === 'skipped') verdict.reason = result.note ?? 'skipped';
  if (status === 'failed') verdict.message = (result.errors?.[0]?.message ?? 'failed').split('\n').filter((line) => line.trim() !== '').slice(0, 4).join('\n');
  return verdict;
}

/** Sets the environment the specs read their target and declared parameters from; returns how to undo it. */
function exportTarget(options: CheckOptions): () => void {
  const { family } = options;
  const values: Record<string, string | undefined> = {
    [`CONNLAB_TARGET_${family.env}`]: options.target ? formatHostPort(options.target.host, options.target.port) : 'command',
    [`CONNLAB_DECLARED_${family.env}`]: JSON.stringify(options.parameters),
    CONNLAB_TIME_SCALE: options.timeScale !== undefined ? String(options.timeScale) : process.env.CONNLAB_TIME_SCALE,
  };
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  for (const [key, value] of Object.entries(values)) if (value !== undefined) process.env[key] = value;
  return () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

/** Runs the family's specs with vitest; resolves with the verdicts, in the order they finished. */
async function runSpecs(options: CheckOptions): Promise<SpecVerdict[]> {
  const { startVitest, BaseSequencer } = await import('vitest/node');
  // The family's files in the order it lists them, every run: a verdict must not depend on which file
  // vitest's cache of durations put first.
  const order = options.family.files.map((file) => path.join(PACKAGE_ROOT, file));
  class FamilyOrder extends BaseSequencer {
    override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      return Promise.resolve([...files].sort((x, y) => order.indexOf(x.moduleId) - order.indexOf(y.moduleId)));
    }
  }
  const verdicts: SpecVerdict[] = [];
  const reporter = {
    onTestCaseResult(testCase: Parameters<typeof verdictOf>[0]) {
      const verdict = verdictOf(testCase);
      // With --only, the specs left out are not verdicts at all.
      if (options.only?.length && !options.only.includes(verdict.id)) return;
      verdicts.push(verdict);
      options.onVerdict?.(verdict);
    },
  };
  const scale = options.timeScale ?? (Number(process.env.CONNLAB_TIME_SCALE) || 1);
  const only = options.only?.length ? `(^|\\s)(${options.only.map((id) => id.replace(/[^\w-]/g, '')).join('|')})\\s` : undefined;
  const vitest = await startVitest('test', options.family.files, {
    root: PACKAGE_ROOT,
    config: false,
    watch: false,
    reporters: [reporter],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 20_000 * scale,
    hookTimeout: 20_000 * scale,
    teardownTimeout: 10_000 * scale,
    sequence: { concurrent: false, sequencer: FamilyOrder },
    passWithNoTests: true,
    ...(only ? { testNamePattern: only } : {}),
  });
  await vitest.close();
  return verdicts;
}

/** Judges a target with a spec family; never throws for the target's sake: an unreachable one is an error in the result. */
export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const startedAt = new Date();
  const started = performance.now();
  const { family, target } = options;
  const base = {
    kind: CHECK_KIND,
    family: family.name,
    target: target ? formatHostPort(target.host, target.port) : String(options.parameters.command ?? ''),
    parameters: options.parameters,
    connlab: version(),
    node: process.version,
    startedAt: startedAt.toISOString(),
  } as const;
  if (target) {
    const code = await probe(target.host, target.port, PREFLIGHT_MS);
    if (code !== undefined) {
      const error = `cannot reach ${base.target}: ${code}${code === 'ETIMEDOUT' ? ` (no answer within ${PREFLIGHT_MS} ms)` : ''}; nothing was judged`;
      return { ...base, durationMs: Math.round(performance.now() - started), specs: [], summary: summarize([]), error };
    }
  }
  const restore = exportTarget(options);
  try {
    const specs = await runSpecs(options);
    return { ...base, durationMs: Math.round(performance.now() - started), specs, summary: summarize(specs) };
  } finally {
    restore();
  }
}
