// Mutation testing of the modules where connlab's decisions live (`npm run mutate`, never part of
// `npm test`): Stryker changes one operator, condition or constant at a time and runs the specs that
// cover it; a mutant the specs do not notice points at a behavior no spec pins down. The score of each
// module, and how each survivor was dealt with, is in the README ("Mutation score").
//
// One module at a time: `npm run mutate -- --mutate lib/net/lines.ts`. Mutants that only a spec
// running the command line as a child process could kill show as "no coverage" (the child runs
// unmutated code), so a module's score is a floor.
// Every spec file alone, as one runner (see vitest.config.ts): a mutant's specs must not share the
// machine with another file's.
process.env.CONNLAB_SPECS_SERIAL = '1';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.config.ts', related: true },
  plugins: ['@stryker-mutator/vitest-runner'],
  coverageAnalysis: 'perTest',
  mutate: [
    // Framing and limits.
    'lib/net/lines.ts',
    // The balancer's backend pool, its strategies and health, and the decision core.
    'lib/balancer/pool.ts',
    'lib/balancer/core.ts',
    // The worker-pool core and the durable journal.
    'lib/tcp/pool.ts',
    'lib/tcp/journal.ts',
    // The load client's ack comparison and failure classification.
    'lib/load/load-client.ts',
    // The capacity tester's classification and judging.
    'lib/capacity/capacity-run.ts',
    // The keep-alive clients.
    'lib/http-keepalive/clients.ts',
    // Merging of sharded results.
    'lib/results/load.ts',
    'lib/results/capacity.ts',
    'lib/results/combine.ts',
    // The capacity series, thinned to its most points.
    'lib/results/series.ts',
  ],
  // The specs are network specs on two cores: one runner, as `npm test` runs one file at a time.
  concurrency: 1,
  timeoutMS: 30_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
