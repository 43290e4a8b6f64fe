// Builds dist/ from lib/: the command line and the capacity worker as plain JavaScript (esbuild, one
// chunk per lazily loaded command), so `connlab` starts without compiling TypeScript on the way. The
// sources stay the truth: bin/connlab.js uses dist/ only while it is newer than every file in lib/,
// and runs lib/ through tsx otherwise. `npm ci` (prepare) and `npm test` build it.
import { build } from 'esbuild';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { libState } from '../bin/freshness.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const before = await libState(root);
await rm(dist, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['lib/cli/main.ts', 'lib/capacity/worker.ts', 'lib/index.ts'],
  outbase: 'lib',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  define: { 'process.env.CONNLAB_BUILT': '"true"' },
  logLevel: 'warning',
});
await writeFile(path.join(dist, 'build.json'), `${JSON.stringify({ builtFrom: before }, null, 2)}\n`);
process.stderr.write(`built dist/ from ${before.files} files in lib/\n`);
