// `connlab report FILE.json`: draws the HTML report from any saved result: the demo's results.json,
// a single tool's --json output, or merged shard results, told apart by their `kind`.
import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Drawable, LabResults } from '../results/lab.ts';
import { readResultFiles } from './results.ts';

export async function writeReport(results: LabResults, outFile: string): Promise<void> {
  await mkdir(path.dirname(outFile), { recursive: true });
  const { renderReport } = await import('../report/html.ts');
  await writeFile(outFile, renderReport(results));
}

export function register(program: Command): void {
  program
    .command('report')
    .description('draw the HTML report (charts, figures) from a saved JSON result')
    .argument('<files...>', 'results.json from `connlab demo`, or the --json output of load, capacity, http-client or merge (a faulty and a fixed http-client run share one chart)')
    .option('--out <file>', 'where to write the page', 'report/index.html')
    .addHelpText(
      'after',
      '\nExamples:\n  connlab load --port 5000 --json > load.json && connlab report load.json --out load.html\n' +
        '  connlab report faulty.json fixed.json          # two http-client --json runs, one socket chart',
    )
    .action(async (files: string[], options) => {
      const { labFromResults } = await import('../results/lab.ts');
      const documents = await readResultFiles(files);
      await writeReport(labFromResults(documents as Drawable[]), options.out);
      process.stderr.write(`wrote ${options.out}\n`);
    });
}
