// Reading saved result documents for the commands that take them (merge, report): each file is read,
// parsed and checked against its kind's shape, and a file that is none of them is a usage error that
// says which file and what is wrong with it.
import { readFile } from 'node:fs/promises';
import { OptionError } from '../net/options.ts';
import type { AnyResult } from '../results/index.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The result documents in `files` (`-` is stdin), each checked. */
export async function readResultFiles(files: string[]): Promise<AnyResult[]> {
  const { readResult } = await import('../results/index.ts');
  const documents: AnyResult[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (error) {
      throw new OptionError(file, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new OptionError(file, `${file} is not JSON (save a run with --json)`);
    }
    documents.push(readResult(value, file));
  }
  return documents;
}
