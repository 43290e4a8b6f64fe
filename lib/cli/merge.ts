// `connlab merge FILE...`: adds up the JSON results of a run done in shards (capacity or load), HDR
// histograms included, so the merged percentiles are those of the whole run, and judges the merged
// result on --threshold, so a sharded run is gated as one.
import type { Command } from 'commander';
import { OptionError } from '../net/options.ts';
import { CAPACITY_KIND, LOAD_KIND } from '../results/kinds.ts';
import { metricsHelp } from '../results/thresholds.ts';
import { collect } from './options.ts';
import { readResultFiles } from './results.ts';
import { finishRun, parseThresholds } from './thresholds.ts';

export function register(program: Command): void {
  program
    .command('merge')
    .description('combine the JSON results of sharded runs (`connlab capacity --json`, `connlab load --json`)')
    .argument('<file...>', 'result files, one JSON document each (- reads stdin)')
    .option('--text', 'print the merged result as a table instead of JSON')
    .option('--threshold <expr>', "pass only if EXPR holds for the merged result, e.g. 'ack.p99<20ms' (repeatable; the metrics of load or capacity)", collect(String))
    .addHelpText(
      'after',
      '\nCounts and error tallies add; latency histograms add, so merged percentiles are exact.\n' +
        'Every file must be a result document of one kind (its `kind`: connlab/load@1 or connlab/capacity@1).\n' +
        'Exit status: 0 when the merged run is ok and every --threshold held, 1 when not, 2 when a file is missing\n' +
        'or not a result, or a threshold is not one of its kind.\n' +
        '\nExamples:\n  connlab capacity --port 5000 --connections 10000 --shard 0/2 --json > a.json\n' +
        '  connlab capacity --port 5000 --connections 10000 --shard 1/2 --json > b.json\n' +
        "  connlab merge a.json b.json --threshold 'held>=10000' --threshold 'connect.p99<50ms'\n" +
        `\nThresholds of merged load results:\n${metricsHelp(LOAD_KIND)}\n\nThresholds of merged capacity results:\n${metricsHelp(CAPACITY_KIND)}`,
    )
    .action(async (files: string[], options: { text?: boolean; threshold?: string[] }) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { mergeResults } = await import('../results/index.ts');
      const { renderResult } = await import('../report/text.ts');
      const documents = await readResultFiles(files);
      const kind = documents[0]?.kind;
      if (options.threshold && kind !== LOAD_KIND && kind !== CAPACITY_KIND) throw new OptionError('--threshold', `--threshold judges merged load or capacity results, not ${kind}`);
      const thresholds = parseThresholds(options.threshold, kind);
      const merged = mergeResults(documents, files) as Parameters<typeof renderResult>[0] & { ok: boolean };
      finishRun(merged, thresholds, { json: !options.text }, renderResult);
    });
}
