// What the two pool-server commands share: the pool flags, and running a pool server with its gauges
// on stderr (`--verbose`: a line per connection event and the gauges every interval).
import type { Command } from 'commander';
import { POOL_DEFAULTS } from '../tcp/options.ts';
import type { PoolServer, PoolStats } from '../tcp/pool.ts';
import { duration, integer } from './options.ts';
import { logLine, runServer, startTicker } from './run.ts';

/** --workers and --queue, with the defaults the command's prior art used. */
export function poolOptions(command: Command, defaults: { workers: number; queue: number }): Command {
  return command
    .option('--host <address>', 'address to bind', POOL_DEFAULTS.host)
    .option('--workers <n>', 'connections handled at once; the rest wait in the queue', integer(1), defaults.workers)
    .option('--queue <n>', 'connections that may wait for a worker; past that they are refused at once', integer(0), defaults.queue)
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long connections in progress may finish', duration, 5000)
    .option('--stats-interval <duration>', 'with --verbose, how often the gauges are printed', duration, 1000)
    .option('--verbose', 'log every accept, refusal, timeout and reply, and print the gauges every --stats-interval');
}

/** The gauges on one line. */
export function formatGauges(stats: PoolStats): string {
  return (
    `active ${stats.active}/${stats.workers} queued ${stats.queued}/${stats.queueLimit} | completed ${stats.completed} ` +
    `rejected ${stats.rejected} timed out ${stats.timedOut} (read ${stats.readTimeouts}, write ${stats.writeTimeouts}) failed ${stats.failed}`
  );
}

/** Runs a started pool server until a signal, with gauges when verbose and a summary at the end. */
export async function runPoolServer(name: string, server: PoolServer, options: { verbose?: boolean; statsInterval: number; grace: number }): Promise<void> {
  const ticker = options.verbose ? startTicker(() => `[${name}] ${formatGauges(server.stats())}`, { intervalMs: options.statsInterval, lines: true }) : undefined;
  await runServer(server, {
    name,
    graceMs: options.grace,
    onStop: () => {
      ticker?.stop();
      logLine(`[${name}] ${JSON.stringify(server.stats())}`);
    },
  });
}
