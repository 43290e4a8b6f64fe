// `connlab report FILE.json`: draws the HTML report from any saved result: the demo's results.json,
// a single tool's --json output, or merged shard results.
import type { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderReport, type LabResults } from '../report/html.ts';

/** Wraps a single tool's result in the lab document the report draws. */
export function toLabResults(document: Record<string, unknown>): LabResults {
  if (document.tool === 'connlab') return document as LabResults;
  const generatedAt = new Date().toISOString();
  if (document.messages && document.clients) {
    return { tool: 'connlab', generatedAt, overload: { description: `Load run against ${String(document.target)}.`, load: document as never, backends: [] } };
  }
  throw new Error('not a connlab result: expected the demo\'s results.json or the --json output of a connlab command');
}

export async function writeReport(results: LabResults, outFile: string): Promise<void> {
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, renderReport(results));
}

export function register(program: Command): void {
  program
    .command('report')
    .description('draw the HTML report (charts, figures) from a saved JSON result')
    .argument('<file>', 'results.json from `connlab demo`, or the --json output of load, capacity, http-client or merge')
    .option('--out <file>', 'where to write the page', 'report/index.html')
    .addHelpText('after', '\nExample:\n  connlab load --port 5000 --json > load.json && connlab report load.json --out load.html')
    .action(async (file: string, options) => {
      let document: Record<string, unknown>;
      try {
        document = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        throw Object.assign(new Error(`cannot read ${file}: ${(error as Error).message}`), { code: 'EUSAGE' });
      }
      await writeReport(toLabResults(document), options.out);
      process.stderr.write(`wrote ${options.out}\n`);
    });
}
