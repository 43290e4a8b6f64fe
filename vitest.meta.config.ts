// The meta specs (specs/**/*.meta.ts): each runs a spec family through `connlab check` against broken
// fixtures and asserts exactly which specs fail. They take minutes (every failing wait waits out its
// deadline), so they are not part of `npm test`; `npm run test:meta` runs them, and so does .ci/run.
import { defineConfig } from 'vitest/config';

const scale = Number(process.env.CONNLAB_TIME_SCALE ?? '1') || 1;

export default defineConfig({
  test: {
    include: ['specs/**/*.meta.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 180_000 * scale,
    hookTimeout: 20_000 * scale,
    reporters: ['verbose', './specs/_harness/summary-reporter.ts'],
    sequence: { concurrent: false },
  },
});
