#!/usr/bin/env node
// Entry point of the `connlab` command: registers the TypeScript loader, then runs lib/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../lib/cli/main.ts');
await main(process.argv.slice(2));
