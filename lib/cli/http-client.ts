// `connlab http-client`: the keep-alive lab's faulty or fixed client on the prior art's schedule, printing
// its own open sockets to the server (read from the OS) after every request.
import type { Command } from 'commander';
import { DEFAULT_REQUEST_TIMEOUT_MS, FIXED_DEFAULTS, RUN_DEFAULTS } from '../http-keepalive/options.ts';
import { CLIENT_MODES, LEAKS } from '../results/http-client.ts';
import { OptionError } from '../net/options.ts';
import { duration, integer, oneOf, probability } from './options.ts';
import { HTTP_CLIENT_KIND } from '../results/kinds.ts';
import { abortOnSignals, logLine, startTicker } from './run.ts';
import { finishRun, parseThresholds, thresholdOption } from './thresholds.ts';

export function register(program: Command): void {
  const command = program
    .command('http-client')
    .description('HTTP client on undici: faulty (a new dispatcher per request, sockets pile up) or fixed (one shared, bounded pool)')
    .requiredOption('--mode <mode>', 'faulty: a new dispatcher per request, never closed; fixed: one shared dispatcher, capped and reused', oneOf(...CLIENT_MODES))
    .option('--url <url>', 'what to GET', RUN_DEFAULTS.url)
    .option('--interval <duration>', 'one scheduled request every', duration, RUN_DEFAULTS.intervalMs)
    .option('--extra-probability <p>', 'chance of an extra request at a random moment in each interval', probability, RUN_DEFAULTS.extraProbability)
    .option('--requests <n>', 'stop after this many requests, extras included (0: no limit)', integer(0), RUN_DEFAULTS.requests)
    .option('--duration <duration>', 'start no request after this long; those in flight finish (0: no limit)', duration, RUN_DEFAULTS.durationMs)
    .option('--leak <kind>', `faulty only: ${LEAKS.join(' (default) | ')} (never reads bodies; needs bodies over 64 KiB, see slow-server --body-size)`, oneOf(...LEAKS))
    .option('--connections <n>', 'fixed only: most connections to one origin', integer(1), FIXED_DEFAULTS.perOriginConnections)
    .option('--max-connections <n>', 'fixed only: most requests in flight over all origins', integer(1), FIXED_DEFAULTS.maxConnections)
    .option('--idle-timeout <duration>', 'fixed only: close a connection idle this long (kept below the server\'s Keep-Alive hint)', duration, FIXED_DEFAULTS.idleTimeoutMs)
    .option('--no-retry', 'fixed only: do not retry a request whose reused socket was reset')
    .option('--timeout <duration>', 'give up on a response after', duration, DEFAULT_REQUEST_TIMEOUT_MS)
    .option('--sample-interval <duration>', 'sample the socket count for the series this often (default: min(1s, interval))', duration)
    .option('--json', 'print one JSON document on stdout, with the socket series [{ t, sockets, open }]')
    .option('--quiet', 'no per-request lines on stderr')
    .addHelpText(
      'after',
      '\nAfter each request it prints (stderr): [CLIENT] request #N 200 in 20003ms | open sockets to the server (OS): K\n' +
        'Exit status: 0 when every request succeeded and every --threshold held, 1 otherwise, 2 on a usage error.\n' +
        '\nExamples:\n  connlab http-client --mode faulty                    # the prior art: every 20 s (+ extras) to localhost:8080\n' +
        '  connlab http-client --mode fixed --url http://127.0.0.1:8080 --interval 200ms --requests 50 --json\n' +
        "  connlab http-client --mode fixed --interval 200ms --requests 50 --threshold 'sockets.peak<=2' --threshold 'sockets.afterClose==0'",
    );
  thresholdOption(command, HTTP_CLIENT_KIND, 'sockets.peak<=5').action(async (options) => {
    const thresholds = parseThresholds(options.threshold, HTTP_CLIENT_KIND);
    // Loaded when the command runs, so `connlab <other command>` and --help start fast.
    const { renderHttpClientResult } = await import('../report/text.ts');
    const { HttpClientRun } = await import('../http-keepalive/run.ts');
    if (options.mode !== 'faulty' && options.leak) throw new OptionError('--leak', '--leak applies to --mode faulty only');
    const controller = abortOnSignals();
    const run = new HttpClientRun({
      mode: options.mode,
      leak: options.leak,
      url: options.url,
      intervalMs: options.interval,
      extraProbability: options.extraProbability,
      requests: options.requests,
      durationMs: options.duration,
      perOriginConnections: options.connections,
      maxConnections: options.maxConnections,
      idleTimeoutMs: options.idleTimeout,
      retryStaleSocket: options.retry,
      requestTimeoutMs: options.timeout,
      sampleIntervalMs: options.sampleInterval,
      log: options.quiet ? undefined : logLine,
      signal: controller.signal,
    });
    const ticker = startTicker(() => {
      const p = run.progress();
      return `requests ${p.completed}/${p.started} done, ${p.failed} failed | open sockets ${p.sockets}`;
    }, { quiet: options.quiet || !process.stderr.isTTY });
    const result = await run.run();
    ticker.stop();
    finishRun(result, thresholds, options, renderHttpClientResult);
  });
}
