// The layers of lib/, checked: which folder may import which (so no folder cycle can form), lib/ never
// importing specs, fixtures or benchmarks, and Node's internal TCP binding touched in lib/net/libuv.ts
// only. `npm run lint` runs it; `node --import tsx scripts/check-layers.ts [ROOT]` prints each problem
// with its file and line, and exits 1 when there is one.
//
//   net                 the floor: imports nothing else in lib/
//   results             the documents every part writes: net
//   report              documents to text and HTML: results, net (never a part)
//   tcp balancer capacity http-keepalive       the parts: net, results
//   load                a part: net, results, and the ack protocol it speaks (tcp/ack-protocol.ts)
//   check demo          use the parts: parts, results, net, report
//   cli, index.ts       the roof: anything in lib/
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PARTS = ['tcp', 'balancer', 'load', 'capacity', 'http-keepalive'];
const FLOOR = ['net', 'results'];

/** What each folder of lib/ may import besides itself: folders, or single files as `folder/file.ts`. */
export const ALLOWED: Record<string, string[]> = {
  net: [],
  results: ['net'],
  report: ['results', 'net'],
  tcp: FLOOR,
  balancer: FLOOR,
  capacity: FLOOR,
  'http-keepalive': FLOOR,
  load: [...FLOOR, 'tcp/ack-protocol.ts'],
  check: [...PARTS, ...FLOOR, 'report'],
  demo: [...PARTS, ...FLOOR, 'report'],
  cli: ['*'],
  '.': ['*'],
};

/** The one file that may reach Node's internal TCP API. */
export const BINDING_FILE = 'lib/net/libuv.ts';
const BINDING_USE = /process\.binding|internalBinding|['"]tcp_wrap['"]|['"]stream_wrap['"]/;
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm;

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return sourceFiles(full);
      return /\.(ts|js|mjs)$/.test(entry.name) ? [full] : [];
    }),
  );
  return nested.flat();
}

/** The folder of lib/ a path inside it belongs to (`.` for files at lib/'s top). */
function folderOf(relativeToLib: string): string {
  const parts = relativeToLib.split('/');
  return parts.length > 1 ? parts[0] : '.';
}

function allowed(from: string, target: string): boolean {
  const rules = ALLOWED[from];
  if (!rules) return false;
  const folder = folderOf(target);
  return folder === from || rules.includes('*') || rules.includes(folder) || rules.includes(target);
}

/** Cycles in the graph of folders, each as `a -> b -> a`. */
function cycles(edges: Map<string, Set<string>>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

/** Every layering problem in the tree at `root` (which holds lib/); empty when the house stands. */
export async function checkLayers(root: string): Promise<string[]> {
  const lib = path.join(root, 'lib');
  const problems: string[] = [];
  const edges = new Map<string, Set<string>>();
  for (const file of (await sourceFiles(lib)).sort()) {
    const text = await readFile(file, 'utf8');
    const fromRel = path.relative(lib, file).split(path.sep).join('/');
    const from = folderOf(fromRel);
    const shown = `lib/${fromRel}`;
    const lineOf = (index: number): number => text.slice(0, index).split('\n').length;
    const binding = BINDING_USE.exec(text);
    if (binding && shown !== BINDING_FILE) problems.push(`${shown}:${lineOf(binding.index)}: reaches Node's internal TCP API (${binding[0]}); only ${BINDING_FILE} may`);
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[2];
      if (!specifier.startsWith('.')) continue;
      const target = path.relative(lib, path.resolve(path.dirname(file), specifier)).split(path.sep).join('/');
      const where = `${shown}:${lineOf(match.index)}`;
      if (target.startsWith('..')) {
        problems.push(`${where}: imports ${specifier}, outside lib/ (lib/ never imports specs, fixtures or benchmarks)`);
        continue;
      }
      const to = folderOf(target);
      if (to !== from) (edges.get(from) ?? edges.set(from, new Set()).get(from)!).add(to);
      if (!allowed(from, target)) {
        const rules = ALLOWED[from];
        const may = !rules ? 'it is not a known layer (add it to ALLOWED in scripts/check-layers.ts)' : rules.length ? `lib/${from === '.' ? '' : `${from}/`} may import ${rules.join(', ')}` : `lib/${from}/ is the floor and imports nothing else in lib/`;
        problems.push(`${where}: lib/${from === '.' ? '' : `${from}/`} imports lib/${target}; ${may}`);
      }
    }
  }
  for (const cycle of cycles(edges)) problems.push(`folder cycle: ${cycle}`);
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = await checkLayers(root);
  for (const problem of problems) process.stderr.write(`${problem}\n`);
  process.stdout.write(problems.length === 0 ? 'layers: lib/ holds its layers, no folder cycle\n' : `layers: ${problems.length} problem(s)\n`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
