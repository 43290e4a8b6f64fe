// Running `connlab check` from specs, as a user's CI would: the command against a target, with its
// declared parameters, and its JSON document read back, so a spec can assert exactly which specs failed.
import { readFile } from 'node:fs/promises';
import type { CheckResult } from '../../lib/results/check.ts';
import { runCli } from './cli.ts';
import { tempDir } from './files.ts';
import { scaled } from './time.ts';

export interface CheckOutcome {
  exitCode: number;
  stdout: string;
  result: CheckResult;
  failed: string[];
  passed: string[];
  skipped: string[];
}

/**
 * `connlab check FAMILY --target HOST:PORT ARGS...` to completion. Failing waits wait out their deadlines,
 * so the specs' time scale is shortened (`timeScale`) where failures are expected.
 */
export async function runCheckCli(family: string, target: string | undefined, args: string[] = [], options: { timeScale?: number; timeout?: number } = {}): Promise<CheckOutcome> {
  await using dir = await tempDir('connlab-check-');
  const json = dir.file('check.json');
  const run = await runCli(['check', family, ...(target ? ['--target', target] : []), ...args, '--json', json, '--time-scale', String(options.timeScale ?? 1)], { timeout: options.timeout ?? scaled(120_000) });
  let result: CheckResult;
  try {
    result = JSON.parse(await readFile(json, 'utf8')) as CheckResult;
  } catch {
    throw new Error(`connlab check ${family} wrote no JSON (exit ${run.exitCode}): ${run.stderr || run.stdout}`);
  }
  const ids = (status: string): string[] => result.specs.filter((s) => s.status === status).map((s) => s.id).sort();
  return { exitCode: run.exitCode, stdout: run.stdout, result, failed: ids('failed'), passed: ids('passed'), skipped: ids('skipped') };
}
