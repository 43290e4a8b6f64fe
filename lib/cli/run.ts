// How commands run: servers print `listening on HOST:PORT` first and stop cleanly on SIGINT/SIGTERM;
// measuring commands print live stats on stderr and one result (table or JSON) on stdout.
import type { ServerHandle } from '../net/types.ts';
import { formatHostPort } from '../net/units.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Logs to stderr with a tag, like the prior art's `[SERVER] ...` lines. */
export function logLine(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Keeps a server running until SIGINT or SIGTERM, then stops accepting, drains open connections for
 * up to `graceMs` and exits 0. A second signal exits at once.
 */
export async function runServer(handle: ServerHandle, options: { name: string; graceMs?: number; onStop?: () => void }): Promise<void> {
  process.stdout.write(`listening on ${formatHostPort(handle.host, handle.port)}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logLine(`[${options.name}] ${signal} again: exiting now`);
        process.exit(EXIT_FAILED);
      }
      stopping = true;
      logLine(`[${options.name}] ${signal}: no longer accepting, draining open connections`);
      options.onStop?.();
      void handle.close(options.graceMs ?? 5000).then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  logLine(`[${options.name}] stopped`);
  process.exit(EXIT_OK);
}

export interface Ticker {
  stop(): void;
}

/**
 * Live stats on stderr: rewritten in place on a TTY, one line per interval otherwise, none when quiet.
 */
export function startTicker(render: () => string, options: { intervalMs?: number; quiet?: boolean; lines?: boolean } = {}): Ticker {
  if (options.quiet) return { stop() {} };
  // `lines`: always a new line (servers, whose log lines would be overwritten by an in-place update).
  const tty = process.stderr.isTTY && !options.lines;
  const intervalMs = options.intervalMs ?? (tty ? 250 : 1000);
  const timer = setInterval(() => {
    if (tty) process.stderr.write(`\r\x1b[2K${render()}`);
    else process.stderr.write(`${render()}\n`);
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** Ends a measuring command from a signal: the run is aborted and what it has is printed. */
export function abortOnSignals(): AbortController {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(EXIT_FAILED);
    logLine(`${signal}: stopping the run, printing what it measured`);
    controller.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller;
}

/** Prints a result: one JSON document with --json, else the text form. */
export function printResult(result: unknown, options: { json?: boolean }, text: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${text()}\n`);
}
