// `--threshold EXPR` on the measuring commands (load, capacity, http-client) and on merge: parsed before
// the run starts (a bad expression is a usage error, exit 2, before any connection is made), judged on
// the result document, printed each with its measured value and passed or FAILED, carried in the JSON
// as `thresholds: [{ expr, value, ok }]`, and a failed one makes the run exit 1.
import type { Command } from 'commander';
import { renderThresholds } from '../report/text.ts';
import { judgeThresholds, metricsHelp, parseThreshold, type Threshold, type ThresholdResult } from '../results/thresholds.ts';
import { collect } from './options.ts';
import { EXIT_FAILED, EXIT_OK, logLine, printResult } from './run.ts';

/** Adds --threshold (repeatable) and the metrics of `kind` to a command's help. */
export function thresholdOption(command: Command, kind: string, example: string): Command {
  return command
    .option('--threshold <expr>', `pass only if EXPR holds for the result, e.g. '${example}' (repeatable; metrics below)`, collect(String))
    .addHelpText('after', `\nThresholds (--threshold METRIC OP VALUE, OP one of < <= > >= == !=; a failed one exits 1):\n${metricsHelp(kind)}`);
}

/** Parses the command's --threshold expressions against the metrics of `kind`; throws an OptionError. */
export function parseThresholds(expressions: string[] | undefined, kind: string): Threshold[] {
  return (expressions ?? []).map((expr) => parseThreshold(expr, kind));
}

/**
 * Judges `thresholds` on `result` and returns it with its `thresholds` field (none when none were
 * given), the lines to print, and whether all held.
 */
export function applyThresholds<T extends { kind: string }>(result: T, thresholds: Threshold[]): { result: T & { thresholds?: ThresholdResult[] }; lines: string[]; ok: boolean } {
  if (thresholds.length === 0) return { result, lines: [], ok: true };
  const judged = judgeThresholds(thresholds, result);
  const judgedResult = { ...result, thresholds: judged };
  return { result: judgedResult, lines: renderThresholds(judgedResult), ok: judged.every((t) => t.ok) };
}

/** Where the lines go: under the text summary, or on stderr beside a JSON document (none with --quiet). */
export function printThresholdLines(lines: string[], options: { json?: boolean; quiet?: boolean }): void {
  if (options.json && !options.quiet) for (const line of lines) logLine(line);
}

/**
 * Ends a measuring command: judges its thresholds, prints the result (JSON or text, the threshold lines
 * with it), and sets the exit status: 0 when the run completed and every threshold held, 1 otherwise.
 */
export function finishRun<T extends { kind: string; ok: boolean }>(result: T, thresholds: Threshold[], options: { json?: boolean; quiet?: boolean }, render: (result: T) => string): void {
  const judged = applyThresholds(result, thresholds);
  printResult(judged.result, options, () => render(judged.result));
  printThresholdLines(judged.lines, options);
  process.exitCode = result.ok && judged.ok ? EXIT_OK : EXIT_FAILED;
}
