// `connlab capacity`: the prior art's `-host localhost -port 8888 -connections 100 -delay 10` by
// default (its Go-style single-dash flags still work), with classified failures, live stats, holds,
// reopening, a ramp, and runs split over processes, source addresses and machines.
import type { Command } from 'commander';
import { Option } from 'commander';
import { CAPACITY_DEFAULTS, parseSourceRange, type CapacityEvent, type CapacityOptions } from '../capacity/options.ts';
import { formatDuration } from '../net/units.ts';
import { duration, durationMs, integer, oneOf, port, shard, shardOf, wrap } from './options.ts';
import { CAPACITY_KIND } from '../results/kinds.ts';
import { abortOnSignals, logLine, startTicker } from './run.ts';
import { finishRun, parseThresholds, thresholdOption } from './thresholds.ts';

const GO_FLAGS = new Set(['host', 'port', 'connections', 'delay']);

/** `-host x` and `-delay=10` (the Go tool's flags) become `--host x` and `--delay=10`. */
export function normalizeGoFlags(args: string[]): string[] {
  return args.map((arg) => {
    const match = /^-([a-z]+)(=.*)?$/.exec(arg);
    return match && GO_FLAGS.has(match[1]) ? `-${arg}` : arg;
  });
}

const sourceIps = wrap(parseSourceRange);

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
    case 'ramp-settled':
      return `ramp settled: ${event.ceiling} still open`;
  }
}

const HELP_AFTER =
  '\nExit status: 0 when every connection was established (and all held, with --hold; with --ramp: a ceiling was found)\n' +
  'and every --threshold held, 1 when not (failures are counted and classified, never fatal), 2 on a usage error.\n' +
  '\nExamples:\n' +
  '  connlab capacity -host localhost -port 8888 -connections 100 -delay 10   # the Go tool, waits until the server closes them\n' +
  '  connlab capacity --port 5000 --connections 5000 --delay 0 --hold 30s --reopen --max-duration 1m\n' +
  '  connlab capacity --port 5000 --ramp --connections 50000 --delay 1ms --json > ramp.json\n' +
  "  connlab capacity --port 5000 --ramp --connections 50000 --delay 1ms --threshold 'ramp.ceiling>=20000'\n" +
  '  connlab capacity --port 5000 --connections 100000 --delay 0 --hold 10s --source-ips 127.0.0.1-127.0.0.8\n' +
  '  connlab capacity --port 5000 --connections 100000 --shard 0/4 --json > shard0.json   # then: connlab merge shard*.json';

function addOptions(command: Command): Command {
  const D = CAPACITY_DEFAULTS;
  const time = (flags: string, description: string, parse: (text: string) => number, value: number): Option =>
    new Option(flags, description).argParser(parse).default(value, formatDuration(value));
  return command
    .option('--host <address>', 'server address (-host works too)', D.host)
    .option('--port <n>', 'server port (-port works too)', port, D.port)
    .option('--connections <n>', 'connections in the whole run; with --ramp, the most to try (-connections works too)', integer(0), D.connections)
    .addOption(time('--delay <duration>', 'time between dials over the whole run, with --ramp between steps; a bare number is ms (-delay 10)', durationMs, D.delayMs))
    .addOption(time('--dial-timeout <duration>', 'count a dial as ETIMEDOUT after', duration, D.dialTimeoutMs))
    .addOption(time('--hold <duration>', 'keep the connections this long once dialed, then close them; 0ms: wait until the server closes them', duration, D.holdMs))
    .option('--reopen', 'redial what the server closes, keeping N open for the whole --hold (or --max-duration)')
    .option('--ramp', 'add connections until dials fail, time out or the server closes one; report the concurrency held')
    .option('--ramp-step <n>', 'with --ramp: connections added per step, one --delay apart', integer(1), D.rampStep)
    .addOption(time('--ramp-settle <duration>', 'with --ramp: wait this long after it stops before counting the ceiling', duration, D.rampSettleMs))
    .addOption(time('--max-duration <duration>', 'end the run after this long, whatever it is doing (for CI); 0ms: no limit', duration, D.maxDurationMs))
    .option('--source-ips <A-B>', 'dial from these local addresses in turn, e.g. 127.0.0.1-127.0.0.50 (each has its own ephemeral ports)', sourceIps)
    .option('--workers <n>', 'processes to split the run over (default: enough that each stays under `ulimit -n`)', integer(1, 1024))
    .option('--shard <I/N>', 'open shard I of N of the connections (merge the results with `connlab merge`)', shard)
    .option('--shards <n>', 'like --shard, with I from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)', integer(1))
    .option('--max-dialing <n>', 'dials in flight at once per process', integer(1), D.maxDialing)
    .option('--close <how>', 'how we close: fin (leaves TIME_WAIT on this side) or reset (RST, leaves none)', oneOf('fin', 'reset'), D.close)
    .option('--interval <duration>', 'live stats every (default 1s, 250ms on a terminal)', duration)
    .option('--verbose', "print each connection's lifecycle on stderr, like the Go tool")
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'no live stats on stderr')
    .addHelpText('after', HELP_AFTER);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander's parsed options
function testerOptions(options: Record<string, any>, signal: AbortSignal): CapacityOptions & { workers?: number } {
  return {
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
    shard: shardOf(options),
    workers: options.workers,
    signal,
    onEvent: options.verbose ? (event: CapacityEvent) => logLine(verboseLine(event)) : undefined,
  };
}

export function register(program: Command): void {
  const command = addOptions(program.command('capacity').description('open and hold N concurrent connections, count what the server does with them, find its ceiling'));
  thresholdOption(command, CAPACITY_KIND, 'held>=10000').action(async (options) => {
    const thresholds = parseThresholds(options.threshold, CAPACITY_KIND);
    // Loaded when the command runs, so `connlab <other command>` and --help start fast.
    const { renderCapacityProgress, renderCapacityResult } = await import('../report/text.ts');
    const { createTester, WorkerPoolRun } = await import('../capacity/workers.ts');
    const controller = abortOnSignals();
    const settings = testerOptions(options, controller.signal);
    const tester = createTester(settings);
    const ticker = startTicker(() => renderCapacityProgress(tester.progress()), { quiet: options.quiet, intervalMs: options.interval });
    const running = tester.run();
    // Worker processes exist once run() has begun: name them, so a lost one can be matched to its pid.
    if (tester instanceof WorkerPoolRun && !options.quiet) logLine(`[capacity] ${tester.pids.length} worker processes (pids ${tester.pids.join(', ')})`);
    const result = await running;
    ticker.stop();
    if (options.verbose) logLine('Terminating Program');
    finishRun(result, thresholds, options, renderCapacityResult);
  });
  // The Go tool's single-dash long flags, rewritten before commander reads them.
  const parseOptions = command.parseOptions.bind(command);
  command.parseOptions = (args: string[]) => parseOptions(normalizeGoFlags(args));
}
