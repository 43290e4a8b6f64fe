#!/usr/bin/env node
// Entry point of the `connlab` command: runs the build in dist/ when it is fresh (it starts faster), and
// otherwise lib/cli/main.ts itself through the TypeScript loader, so an edit in lib/ always takes effect.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from './freshness.js';

// A reader that goes away (`connlab specs | head`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let main;
if (process.env.CONNLAB_FROM_SOURCE !== '1' && (await distIsFresh(root))) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../lib/cli/main.ts'));
}
await main(process.argv.slice(2));
