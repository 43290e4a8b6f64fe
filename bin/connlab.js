#!/usr/bin/env node
// Entry point of the `connlab` command: registers the TypeScript loader, then runs lib/cli/main.ts.
import { register } from 'tsx/esm/api';

// A reader that goes away (`connlab specs | head`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

register();
const { main } = await import('../lib/cli/main.ts');
await main(process.argv.slice(2));
