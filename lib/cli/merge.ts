// `connlab merge FILE...`: adds up the JSON results of a run done in shards (capacity or load), HDR
// histograms included, so the merged percentiles are those of the whole run.
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import type { CapacityResult } from '../capacity/result.ts';
import type { LoadResult } from '../load/load-client.ts';
import { EXIT_FAILED, EXIT_OK } from './run.ts';

function usage(message: string): Error {
  return Object.assign(new Error(message), { code: 'EUSAGE' });
}

export function register(program: Command): void {
  program
    .command('merge')
    .description('combine the JSON results of sharded runs (`connlab capacity --json`, `connlab load --json`)')
    .argument('<file...>', 'result files, one JSON document each (- reads stdin)')
    .option('--text', 'print the merged result as a table instead of JSON')
    .addHelpText(
      'after',
      '\nCounts and error tallies add; latency histograms add, so merged percentiles are exact.\n' +
        'Exit status: 0 when the merged run is ok, 1 when not, 2 when a file is missing or not a result.\n' +
        '\nExamples:\n  connlab capacity --port 5000 --connections 10000 --shard 0/2 --json > a.json\n' +
        '  connlab capacity --port 5000 --connections 10000 --shard 1/2 --json > b.json\n' +
        '  connlab merge a.json b.json',
    )
    .action(async (files: string[], options: { text?: boolean }) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { mergeCapacityResults, mergeLoadResults, resultKind } = await import('../capacity/merge.ts');
      const { renderCapacityResult } = await import('../capacity/report.ts');
      const { renderLoadResult } = await import('../load/report.ts');
      const documents: unknown[] = [];
      for (const file of files) {
        let text: string;
        try {
          text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
        } catch (error) {
          throw usage(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
        try {
          documents.push(JSON.parse(text));
        } catch {
          throw usage(`${file} is not JSON (save a run with --json)`);
        }
      }
      const kinds = documents.map(resultKind);
      const bad = kinds.findIndex((kind) => kind === undefined);
      if (bad >= 0) throw usage(`${files[bad]} is neither a capacity nor a load result`);
      if (new Set(kinds).size > 1) throw usage('capacity and load results cannot be merged together');
      if (kinds[0] === 'capacity') {
        const merged = mergeCapacityResults(documents as CapacityResult[]);
        process.stdout.write(options.text ? `${renderCapacityResult(merged)}\n` : `${JSON.stringify(merged, null, 2)}\n`);
        process.exitCode = merged.ok ? EXIT_OK : EXIT_FAILED;
      } else {
        const merged = mergeLoadResults(documents as LoadResult[]);
        process.stdout.write(options.text ? `${renderLoadResult(merged)}\n` : `${JSON.stringify(merged, null, 2)}\n`);
        process.exitCode = merged.ok ? EXIT_OK : EXIT_FAILED;
      }
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
