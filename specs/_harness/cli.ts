// Running the `connlab` command line from specs, as a user would: measuring commands to completion,
// servers until their `listening on HOST:PORT` line, stopped by a signal.
import { execa, type ResultPromise } from 'execa';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseHostPort } from '../../lib/net/units.ts';
import { scaled } from './time.ts';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/connlab.js');

/** Quotes one argument for bash. */
function quote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `connlab ...args` to completion (bounded by a deadline) and returns its output and status. */
export async function runCli(args: string[], options: { timeout?: number; shell?: string } = {}): Promise<CliResult> {
  const timeout = options.timeout ?? scaled(30_000);
  const child = options.shell
    ? execa('bash', ['-c', `${options.shell}; exec node ${quote(BIN)} ${args.map(quote).join(' ')}`], { reject: false, timeout })
    : execa('node', [BIN, ...args], { reject: false, timeout });
  const result = await child;
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export interface CliServer {
  host: string;
  port: number;
  child: ResultPromise;
  /** Lines the server wrote to stderr so far. */
  stderrLines: string[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `connlab <server command>` and resolves once it printed `listening on HOST:PORT`. */
export async function startCliServer(args: string[], options: { timeout?: number; shell?: string; entry?: string[] } = {}): Promise<CliServer> {
  // `entry`: what node runs in connlab's place (a fixture shaped like its command, with its loader).
  const entry = options.entry ?? [BIN];
  // With `shell` (e.g. `ulimit -n 48`), bash applies it and then becomes the server process (exec).
  const child = options.shell
    ? execa('bash', ['-c', `${options.shell}; exec node ${entry.map(quote).join(' ')} ${args.map(quote).join(' ')}`], { reject: false, buffer: false, stdin: 'ignore', forceKillAfterDelay: false })
    : execa('node', [...entry, ...args], { reject: false, buffer: false, stdin: 'ignore', forceKillAfterDelay: false });
  const stderrLines: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderrLines.push(line));
  const stdout = createInterface({ input: child.stdout! });
  const timeout = options.timeout ?? scaled(15_000);
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" line within ${timeout}ms; stderr: ${stderrLines.join('\n')}`)), timeout);
    stdout.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderrLines.join('\n')}`));
    });
  });
  const match = /^listening on (.+)$/.exec(first);
  if (!match) throw new Error(`first stdout line was ${JSON.stringify(first)}, expected "listening on HOST:PORT"`);
  const { host, port } = parseHostPort(match[1]);
  let exited: Promise<number> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<number> => {
    exited ??= new Promise<number>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? -1);
      child.once('exit', (code) => resolve(code ?? -1));
      child.kill(signal);
    });
    return exited;
  };
  return {
    host,
    port,
    child,
    stderrLines,
    stop,
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await child.catch(() => {});
    },
  };
}

export interface RunningCli {
  child: ResultPromise;
  /** Lines the command wrote to stderr so far. */
  stderrLines: string[];
  /** Resolves with the first stderr line that matches, within a deadline. */
  stderrLine(pattern: RegExp, timeout?: number): Promise<RegExpExecArray>;
  /** Resolves once the command exits, with its status and output. */
  done(): Promise<CliResult>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `connlab ...args` and lets the spec watch its stderr while it runs (to act mid-run). */
export function spawnCli(args: string[], options: { timeout?: number } = {}): RunningCli {
  const child = execa('node', [BIN, ...args], { reject: false, stdin: 'ignore', timeout: options.timeout ?? scaled(30_000) });
  const stderrLines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (match: RegExpExecArray) => void }> = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrLines.push(line);
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(line);
      if (!match) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(match);
    }
  });
  const stderrLine = (pattern: RegExp, timeout = scaled(15_000)): Promise<RegExpExecArray> => {
    for (const line of stderrLines) {
      const match = pattern.exec(line);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stderr line matching ${pattern} within ${timeout}ms; stderr: ${stderrLines.join('\n')}`)), timeout);
      waiters.push({ pattern, resolve: (match) => (clearTimeout(timer), resolve(match)) });
    });
  };
  const done = async (): Promise<CliResult> => {
    const result = await child;
    return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: stderrLines.join('\n') };
  };
  return {
    child,
    stderrLines,
    stderrLine,
    done,
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await child.catch(() => {});
    },
  };
}
