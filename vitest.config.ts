// The spec suite runs in two groups. Most files run two at a time: their specs spend most of their time
// waiting on a deadline or a peer (a sequential run here keeps the two cores a third busy), and every
// port, census and TIME_WAIT count they read is their own. The files that move bulk data, start worker
// processes or a browser, or measure latency run after them, one at a time, alone on the machine: next
// to another file they would starve it, or be starved, and turn timing into noise. Within a file, specs
// run in order. Set CONNLAB_TIME_SCALE to stretch every deadline on a slow machine;
// CONNLAB_SPECS_SERIAL=1 runs every file alone (the mutation runs do).
import { defineConfig } from 'vitest/config';

const scale = Number(process.env.CONNLAB_TIME_SCALE ?? '1') || 1;

/** The files that run alone, after the others. */
export const aloneFiles = [
  'specs/balancer/data-path.spec.ts', // 256 MiB through the balancer, stalled readers
  'specs/capacity/capacity.spec.ts', // hundreds of connections opened and closed
  'specs/capacity/source-ports.spec.ts', // 1,000+ connections on their own source addresses
  'specs/capacity/workers.spec.ts', // worker processes, one killed mid-hold
  'specs/deploy/indexed-job.spec.ts', // a Job's pods played as processes
  'specs/load/load-client.spec.ts', // latency and open-loop schedules
  'specs/report/report-browser.spec.ts', // Chromium
  'specs/tcp/journal.spec.ts', // 1,000 concurrent fsync'd requests, SIGKILL mid-load
];

const allFiles = 'specs/**/*.spec.ts';
const serial = process.env.CONNLAB_SPECS_SERIAL === '1';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 20_000 * scale,
    hookTimeout: 20_000 * scale,
    teardownTimeout: 10_000 * scale,
    // Every spec's ID and sentence on the output: the run reads as the index of what was shown.
    reporters: ['verbose', './specs/_harness/summary-reporter.ts'],
    sequence: { concurrent: false },
    ...(serial
      ? { include: [allFiles], fileParallelism: false }
      : {
          projects: [
            { extends: true, test: { name: 'paired', include: [allFiles], exclude: aloneFiles, maxWorkers: 2, sequence: { groupOrder: 0 } } },
            { extends: true, test: { name: 'alone', include: aloneFiles, maxWorkers: 1, sequence: { groupOrder: 1 } } },
          ],
        }),
  },
});
