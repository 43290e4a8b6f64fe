// Whether dist/ was built from lib/ as it is now: the number of source files and the newest change
// among them, compared with what scripts/build.mjs recorded. A few dozen stat calls, so the command
// line can ask it every time it starts.
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** The count of .ts files under lib/ and the newest modification time among them (ms). */
export async function libState(root) {
  const entries = await readdir(path.join(root, 'lib'), { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
  const times = await Promise.all(files.map(async (file) => (await stat(file)).mtimeMs));
  return { files: files.length, newest: Math.max(0, ...times) };
}

/** True when dist/ holds a build of lib/ as it is now. */
export async function distIsFresh(root) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(path.join(root, 'dist', 'build.json'), 'utf8')).builtFrom;
  } catch {
    return false;
  }
  const now = await libState(root);
  return now.files === recorded.files && now.newest <= recorded.newest;
}
