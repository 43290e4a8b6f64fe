// `connlab demo` (what `npm start` runs): the lab on loopback, on free ports, with nothing to configure.
// Each scenario shows one phenomenon; the summary goes to stdout, progress to stderr, and the results
// to report/results.json and report/index.html.
import type { Command } from 'commander';
import path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import type { DemoScale } from '../demo/scenarios.ts';
import { writeReport } from './report.ts';
import { EXIT_FAILED, EXIT_OK, logLine } from './run.ts';
import { integer } from './options.ts';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the lab on loopback with free ports, print what happened and write the report (this is `npm start`)')
    .option('--clients <n>', 'clients in the overload scenario', integer(1), 50)
    .option('--out-dir <dir>', 'where results.json and index.html go', 'report')
    .option('--quick', 'smaller, faster scenarios (for tests and a first look)')
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { boundedScenario, capacityScenario, keepAliveScenario, overloadScenario } = await import('../demo/scenarios.ts');
      const started = Date.now();
      const { newLab } = await import('../results/lab.ts');
      const results = newLab();
      const scale: DemoScale = { quick: Boolean(options.quick), clients: options.quick ? Math.min(options.clients, 20) : options.clients };
      const scenarios = [overloadScenario(scale), boundedScenario(scale), keepAliveScenario(scale), capacityScenario(scale)];
      let ok = true;
      for (const [i, scenario] of scenarios.entries()) {
        logLine(`[demo ${i + 1}/${scenarios.length}] ${scenario.name}...`);
        const outcome = await scenario.run(results);
        if (!outcome.ok) logLine(`[demo] ${scenario.name}: did not show the expected behavior`);
        ok &&= outcome.ok;
        process.stdout.write(`\n${outcome.summary}\n`);
      }
      results.durationMs = Date.now() - started;
      const dir = path.resolve(options.outDir);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
      await writeReport(results, path.join(dir, 'index.html'));
      process.stdout.write(`\nresults: ${path.join(dir, 'results.json')}\nreport:  ${path.join(dir, 'index.html')} (open it in a browser)\n`);
      process.exitCode = ok ? EXIT_OK : EXIT_FAILED;
    });
}
