// Where connlab's own files are: the package root (the folder with its package.json), whether the code
// runs from the TypeScript sources in lib/ (through tsx) or from the build in dist/, and how to start
// one of its modules in a child process either way.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** True in the build (scripts/build.mjs replaces this test with `true`), false when run from lib/. */
export const BUILT = process.env.CONNLAB_BUILT === 'true';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`connlab: no package.json above ${from}`);
  }
}

/** The folder holding connlab's package.json, lib/, specs/ and (when built) dist/. */
export const PACKAGE_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/**
 * How a child process runs the module `lib/<module>.ts` (e.g. `capacity/worker`): the built file with
 * no loader, or the source with tsx.
 */
export function moduleEntry(module: string): { file: string; execArgv: string[] } {
  if (BUILT) return { file: path.join(PACKAGE_ROOT, 'dist', `${module}.js`), execArgv: [] };
  return { file: path.join(PACKAGE_ROOT, 'lib', `${module}.ts`), execArgv: ['--import', import.meta.resolve('tsx')] };
}
