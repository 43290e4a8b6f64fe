// `connlab specs`: the index of every spec by family, with its stable ID and the behavior it checks,
// read from the spec files themselves so the list cannot drift from what runs.
import type { Command } from 'commander';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SpecEntry {
  id: string;
  title: string;
  family: string;
  file: string;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
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
    for (const match of text.matchAll(SPEC_CALL)) specs.push({ id: match[2], title: match[3].replace(/\\(.)/g, '$1'), family, file: relative });
  }
  return specs;
}

export function register(program: Command): void {
  program
    .command('specs')
    .description('list every spec by family: its ID and the behavior it checks')
    .argument('[family]', 'only this family, e.g. tcp, load, balancer')
    .option('--json', 'print the index as JSON')
    .action(async (family: string | undefined, options) => {
      const specs = (await listSpecs()).filter((s) => !family || s.family === family);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(specs, null, 2)}\n`);
        return;
      }
      let current = '';
      for (const spec of specs) {
        if (spec.family !== current) {
          current = spec.family;
          process.stdout.write(`${current === specs[0].family ? '' : '\n'}${current}/\n`);
        }
        process.stdout.write(`  ${spec.id.padEnd(16)} ${spec.title}\n`);
      }
      process.stdout.write(`\n${specs.length} specs. Run one family: npx vitest run specs/${family ?? 'tcp'}; one spec: npx vitest run -t ${specs[0]?.id ?? 'ID'}\n`);
    });
}
