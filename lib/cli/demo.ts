// `connlab demo` (what `npm start` runs): the lab on loopback, on free ports, with nothing to configure.
// Each scenario shows one phenomenon; the summary goes to stdout, progress to stderr, and the results
// to report/results.json and report/index.html.
import type { Command } from 'commander';
import path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { startAckServer } from '../tcp/ack-server.ts';
import { runLoad } from '../load/load-client.ts';
import { renderLoadResult } from '../load/report.ts';
import type { LabResults, OverloadSection } from '../report/html.ts';
import { writeReport } from './report.ts';
import { EXIT_FAILED, EXIT_OK, logLine } from './run.ts';
import { integer } from './options.ts';

interface Scenario {
  name: string;
  run(results: LabResults): Promise<{ summary: string; ok: boolean }>;
}

function overloadScenario(clients: number): Scenario {
  return {
    name: 'overload topology',
    async run(results) {
      await using server = await startAckServer({ port: 0 });
      const load = await runLoad({ host: server.host, port: server.port, clients, staggerMs: 20 });
      const stats = server.stats();
      const section: OverloadSection = {
        description: `${clients} clients started 20 ms apart, each sending one line to the ack server and checking its ack.`,
        load,
        backends: [{ name: 'ack server', address: `${server.host}:${server.port}`, connections: stats.accepted, acks: stats.acks }],
      };
      results.overload = section;
      return { summary: `== overload: ${section.description}\n${renderLoadResult(load)}`, ok: load.ok };
    },
  };
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the lab on loopback with free ports, print what happened and write the report (this is `npm start`)')
    .option('--clients <n>', 'clients in the overload scenario', integer(1), 50)
    .option('--out-dir <dir>', 'where results.json and index.html go', 'report')
    .option('--quick', 'smaller, faster scenarios (for tests and a first look)')
    .action(async (options) => {
      const started = Date.now();
      const results: LabResults = { tool: 'connlab', generatedAt: new Date().toISOString() };
      const clients = options.quick ? Math.min(options.clients, 20) : options.clients;
      const scenarios = [overloadScenario(clients)];
      let ok = true;
      for (const [i, scenario] of scenarios.entries()) {
        logLine(`[demo ${i + 1}/${scenarios.length}] ${scenario.name}...`);
        const outcome = await scenario.run(results);
        ok &&= outcome.ok;
        process.stdout.write(`\n${outcome.summary}\n`);
      }
      results.durationMs = Date.now() - started;
      const dir = path.resolve(options.outDir);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
      await writeReport(results, path.join(dir, 'index.html'));
      process.stdout.write(`\nresults: ${path.join(dir, 'results.json')}\nreport:  ${path.join(dir, 'index.html')}\n`);
      process.exitCode = ok ? EXIT_OK : EXIT_FAILED;
    });
}
