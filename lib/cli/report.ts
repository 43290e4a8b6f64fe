// `connlab report FILE.json`: draws the HTML report from any saved result: the demo's results.json,
// a single tool's --json output, or merged shard results.
import type { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LabResults } from '../report/html.ts';

/**
 * Builds the lab document the report draws from saved results: the demo's results.json as it is, or
 * the --json output of load, capacity, http-client and merge, each put in its section (a faulty and a
 * fixed http-client result share the keep-alive section).
 */
export function toLabResults(documents: Array<Record<string, unknown>>): LabResults {
  if (documents.length === 1 && documents[0].tool === 'connlab') return documents[0] as LabResults;
  const results: LabResults = { tool: 'connlab', generatedAt: new Date().toISOString() };
  for (const document of documents) {
    if (document.messages && document.clients) {
      results.overload = { description: `Load run against ${String(document.target)}.`, load: document as never, backends: [] };
    } else if (document.connections && document.connectLatency) {
      results.capacity = { description: `Capacity run against ${String(document.target)}.`, capacity: document as never };
    } else if ((document.mode === 'faulty' || document.mode === 'fixed') && Array.isArray(document.series)) {
      const keepalive = (results.keepalive ??= { description: '' });
      keepalive[document.mode] = document as never;
      keepalive.description = `HTTP client runs against ${String(document.target)}.`;
    } else {
      throw Object.assign(new Error("not a connlab result: expected the demo's results.json or the --json output of load, capacity, http-client or merge"), { code: 'EUSAGE' });
    }
  }
  return results;
}

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
      const documents: Array<Record<string, unknown>> = [];
      for (const file of files) {
        try {
          documents.push(JSON.parse(await readFile(file, 'utf8')));
        } catch (error) {
          throw Object.assign(new Error(`cannot read ${file}: ${(error as Error).message}`), { code: 'EUSAGE' });
        }
      }
      await writeReport(toLabResults(documents), options.out);
      process.stderr.write(`wrote ${options.out}\n`);
    });
}
