// The index of every spec: its stable ID, the behavior it checks, its family and where it is, read from
// the spec files themselves so the list cannot drift from what runs. `connlab specs` prints it and
// `connlab check` names its specs from it.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../net/package.ts';

export interface SpecEntry {
  id: string;
  title: string;
  family: string;
  /** Relative to the package root. */
  file: string;
  /** 1-based line of the spec's it() call. */
  line: number;
  /** Why it judges lib/'s own implementation only (its body calls libOnly), if it does. */
  libOnly?: string;
  /** The flags a target must declare for it to run (its body calls declared(ctx, family, '--flag', ...)). */
  needs: string[];
}

const LIB_ONLY = /\blibOnly\(\s*ctx\s*,\s*['"][\w-]+['"]\s*,\s*(['"`])((?:\\.|(?!\1)[^\\])+)\1/;
const DECLARED = /\bdeclared\(\s*ctx\s*,\s*['"][\w-]+['"]\s*,\s*['"](--[\w-]+)['"]/g;

const ROOT = PACKAGE_ROOT;
// it('ID sentence', ...), it.skipIf(cond)("ID sentence", ...): the title may hold escaped quotes.
const SPEC_CALL = /\b(?:it|test)(?:\.(?:skipIf|runIf)\([^)]*\)|\.\w+)?\(\s*(['"`])([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d{3}) ((?:\\.|(?!\1)[^\\])+)\1/g;

async function specFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return entry.name.startsWith('_') ? [] : specFiles(full);
      return entry.name.endsWith('.spec.ts') ? [full] : [];
    }),
  );
  return nested.flat().sort();
}

export async function listSpecs(root = ROOT): Promise<SpecEntry[]> {
  const specsDir = path.join(root, 'specs');
  const specs: SpecEntry[] = [];
  for (const file of await specFiles(specsDir)) {
    const text = await readFile(file, 'utf8');
    const relative = path.relative(root, file);
    const family = path.relative(specsDir, file).split(path.sep)[0];
    const matches = [...text.matchAll(SPEC_CALL)];
    for (const [k, match] of matches.entries()) {
      const line = text.slice(0, match.index).split('\n').length;
      // The spec's body: up to the next spec of the file (describe blocks hold no harness calls of their own).
      const body = text.slice(match.index, matches[k + 1]?.index ?? text.length);
      const libOnly = LIB_ONLY.exec(body)?.[2];
      const needs = [...new Set([...body.matchAll(DECLARED)].map((m) => m[1]))];
      specs.push({ id: match[2], title: match[3].replace(/\\(.)/g, '$1'), family, file: relative, line, ...(libOnly ? { libOnly } : {}), needs });
    }
  }
  return specs;
}
