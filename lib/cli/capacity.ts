// `connlab capacity`: the prior art's `-host localhost -port 8888 -connections 100 -delay 10` by
// default (its Go-style single-dash flags still work), with classified failures, live stats, holds,
// reopening, a ramp, and runs split over processes, source addresses and machines.
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { parseSourceRange, type CapacityEvent } from '../capacity/options.ts';
import { duration, durationMs, integer, oneOf, port, shard } from './options.ts';
import { EXIT_FAILED, EXIT_OK, abortOnSignals, logLine, printResult, startTicker } from './run.ts';

const GO_FLAGS = new Set(['host', 'port', 'connections', 'delay']);

/** `-host x` and `-delay=10` (the Go tool's flags) become `--host x` and `--delay=10`. */
export function normalizeGoFlags(args: string[]): string[] {
  return args.map((arg) => {
    const match = /^-([a-z]+)(=.*)?$/.exec(arg);
    return match && GO_FLAGS.has(match[1]) ? `-${arg}` : arg;
  });
}

const sourceIps = (text: string): string[] => {
  try {
    return parseSourceRange(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

/** A duration option whose help shows its default the way people write it (10ms, not 10). */
function timeOption(flags: string, description: string, parse: (text: string) => number, value: number, shown: string): Option {
  return new Option(flags, description).argParser(parse).default(value, shown);
}

function usage(message: string): Error {
  return Object.assign(new Error(message), { code: 'EUSAGE' });
}

/** Prior-art lifecycle lines for --verbose. */
function verboseLine(event: CapacityEvent): string {
  switch (event.type) {
    case 'dialing':
      return `runner ${event.slot} is initiating a connection`;
    case 'established':
      return `runner ${event.slot} established the connection`;
    case 'failed':
      return `runner ${event.slot} could not connect: ${event.code}`;
    case 'closed-by-server':
      return `runner ${event.slot} got its connection closed${event.code ? ` (${event.code})` : ''}`;
    case 'opened-all':
      return 'Waiting runners to finish';
    case 'ramp-stopped':
      return `ramp stopped: ${event.reason}`;
  }
}

export function register(program: Command): void {
  const command = program
    .command('capacity')
    .description('open and hold N concurrent connections, count what the server does with them, find its ceiling')
    .option('--host <address>', 'server address (-host works too)', 'localhost')
    .option('--port <n>', 'server port (-port works too)', port, 8888)
    .option('--connections <n>', 'connections in the whole run; with --ramp, the most to try (-connections works too)', integer(0), 100)
    .addOption(timeOption('--delay <duration>', 'time between dials over the whole run, with --ramp between steps; a bare number is ms (-delay 10)', durationMs, 10, '10ms'))
    .addOption(timeOption('--dial-timeout <duration>', 'count a dial as ETIMEDOUT after', duration, 5000, '5s'))
    .addOption(timeOption('--hold <duration>', 'keep the connections this long once dialed, then close them; 0s: wait until the server closes them', duration, 0, '0s'))
    .option('--reopen', 'redial what the server closes, keeping N open for the whole --hold (or --max-duration)')
    .option('--ramp', 'add connections until dials fail, time out or the server closes one; report the concurrency held')
    .option('--ramp-step <n>', 'with --ramp: connections added per step, one --delay apart', integer(1), 1)
    .addOption(timeOption('--ramp-settle <duration>', 'with --ramp: wait this long after it stops before counting the ceiling', duration, 500, '500ms'))
    .addOption(timeOption('--max-duration <duration>', 'end the run after this long, whatever it is doing (for CI); 0s: no limit', duration, 0, '0s'))
    .option('--source-ips <A-B>', 'dial from these local addresses in turn, e.g. 127.0.0.1-127.0.0.50 (each has its own ephemeral ports)', sourceIps)
    .option('--workers <n>', 'processes to split the run over (default: enough that each stays under `ulimit -n`)', integer(1, 1024))
    .option('--shard <I/N>', 'open shard I of N of the connections (merge the results with `connlab merge`)', shard)
    .option('--shards <n>', 'like --shard, with I from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)', integer(1))
    .option('--max-dialing <n>', 'dials in flight at once per process', integer(1), 512)
    .option('--close <how>', 'how we close: fin (leaves TIME_WAIT on this side) or reset (RST, leaves none)', oneOf('fin', 'reset'), 'fin')
    .option('--interval <duration>', 'live stats every (default 1s, 250ms on a terminal)', duration)
    .option('--verbose', "print each connection's lifecycle on stderr, like the Go tool")
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'no live stats on stderr')
    .addHelpText(
      'after',
      '\nExit status: 0 when every connection was established (and all held, with --hold; with --ramp: a ceiling was found),\n' +
        '1 when not (failures are counted and classified, never fatal), 2 on a usage error.\n' +
        '\nExamples:\n' +
        '  connlab capacity -host localhost -port 8888 -connections 100 -delay 10   # the Go tool, waits until the server closes them\n' +
        '  connlab capacity --port 5000 --connections 5000 --delay 0 --hold 30s --reopen --max-duration 1m\n' +
        '  connlab capacity --port 5000 --ramp --connections 50000 --delay 1ms --json > ramp.json\n' +
        '  connlab capacity --port 5000 --connections 100000 --delay 0 --hold 10s --source-ips 127.0.0.1-127.0.0.8\n' +
        '  connlab capacity --port 5000 --connections 100000 --shard 0/4 --json > shard0.json   # then: connlab merge shard*.json',
    )
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { renderCapacityProgress, renderCapacityResult } = await import('../capacity/report.ts');
      const { createTester, workersFor } = await import('../capacity/workers.ts');
      let shardOption = options.shard;
      if (options.shards !== undefined) {
        if (shardOption) throw usage('--shard and --shards: give one of them');
        const index = Number(process.env.JOB_COMPLETION_INDEX);
        if (process.env.JOB_COMPLETION_INDEX === undefined || !Number.isInteger(index) || index < 0 || index >= options.shards) {
          throw usage(`--shards ${options.shards} takes the shard index from JOB_COMPLETION_INDEX (0..${options.shards - 1}), which is ${process.env.JOB_COMPLETION_INDEX ?? 'not set'}`);
        }
        shardOption = { index, count: options.shards };
      }
      const controller = abortOnSignals();
      const testerOptions = {
        host: options.host,
        port: options.port,
        connections: options.connections,
        delayMs: options.delay,
        dialTimeoutMs: options.dialTimeout,
        holdMs: options.hold,
        reopen: Boolean(options.reopen),
        ramp: Boolean(options.ramp),
        rampStep: options.rampStep,
        rampSettleMs: options.rampSettle,
        maxDurationMs: options.maxDuration,
        sourceAddresses: options.sourceIps,
        maxDialing: options.maxDialing,
        close: options.close,
        shard: shardOption,
        workers: options.workers,
        signal: controller.signal,
        onEvent: options.verbose ? (event: CapacityEvent) => logLine(verboseLine(event)) : undefined,
      };
      let tester;
      try {
        tester = createTester(testerOptions);
      } catch (error) {
        throw usage((error as Error).message);
      }
      const workers = workersFor(testerOptions);
      if (workers > 1 && !options.quiet) logLine(`[capacity] ${workers} worker processes`);
      const ticker = startTicker(() => renderCapacityProgress(tester.progress()), { quiet: options.quiet, intervalMs: options.interval });
      const result = await tester.run();
      ticker.stop();
      if (options.verbose) logLine('Terminating Program');
      printResult(result, options, () => renderCapacityResult(result));
      process.exitCode = result.ok ? EXIT_OK : EXIT_FAILED;
    });
  // The Go tool's single-dash long flags, rewritten before commander reads them.
  const parseOptions = command.parseOptions.bind(command);
  command.parseOptions = (args: string[]) => parseOptions(normalizeGoFlags(args));
}
