// The spec suite runs one file at a time: network specs that share two cores starve each other and
// turn timing into noise. Within a file, specs run in order. Set CONNLAB_TIME_SCALE to stretch every
// deadline on a slow machine.
import { defineConfig } from 'vitest/config';

const scale = Number(process.env.CONNLAB_TIME_SCALE ?? '1') || 1;

export default defineConfig({
  test: {
    include: ['specs/**/*.spec.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 20_000 * scale,
    hookTimeout: 20_000 * scale,
    teardownTimeout: 10_000 * scale,
    // Every spec's ID and sentence on the output: the run reads as the index of what was shown.
    reporters: ['verbose', './specs/_harness/summary-reporter.ts'],
    sequence: { concurrent: false },
  },
});
