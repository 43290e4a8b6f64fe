// `connlab http-client`: the keep-alive lab's faulty or fixed client on the prior art's schedule, printing
// its own open sockets to the server (read from the OS) after every request.
import type { Command } from 'commander';
import { CLIENT_MODES, LEAKS } from '../http-keepalive/modes.ts';
import type { HttpClientRun } from '../http-keepalive/run.ts';
import { duration, integer, oneOf, probability } from './options.ts';
import { EXIT_FAILED, EXIT_OK, abortOnSignals, logLine, printResult, startTicker } from './run.ts';

export function register(program: Command): void {
  program
    .command('http-client')
    .description('HTTP client on undici: faulty (a new dispatcher per request, sockets pile up) or fixed (one shared, bounded pool)')
    .requiredOption('--mode <mode>', 'faulty: a new dispatcher per request, never closed; fixed: one shared dispatcher, capped and reused', oneOf(...CLIENT_MODES))
    .option('--url <url>', 'what to GET', 'http://localhost:8080')
    .option('--interval <duration>', 'one scheduled request every', duration, 20_000)
    .option('--extra-probability <p>', 'chance of an extra request at a random moment in each interval', probability, 0.5)
    .option('--requests <n>', 'stop after this many requests, extras included (0: no limit)', integer(0), 0)
    .option('--duration <duration>', 'start no request after this long; those in flight finish (0: no limit)', duration, 0)
    .option('--leak <kind>', `faulty only: ${LEAKS.join(' (default) | ')} (never reads bodies; needs bodies over 64 KiB, see slow-server --body-size)`, oneOf(...LEAKS))
    .option('--connections <n>', 'fixed only: most connections to one origin', integer(1), 2)
    .option('--max-connections <n>', 'fixed only: most requests in flight over all origins', integer(1), 5)
    .option('--idle-timeout <duration>', 'fixed only: close a connection idle this long (kept below the server\'s Keep-Alive hint)', duration, 30_000)
    .option('--no-retry', 'fixed only: do not retry a request whose reused socket was reset')
    .option('--timeout <duration>', 'give up on a response after', duration, 30_000)
    .option('--sample-interval <duration>', 'sample the socket count for the series this often (default: min(1s, interval))', duration)
    .option('--json', 'print one JSON document on stdout, with the socket series [{ t, sockets, open }]')
    .option('--quiet', 'no per-request lines on stderr')
    .addHelpText(
      'after',
      '\nAfter each request it prints (stderr): [CLIENT] request #N 200 in 20003ms | open sockets to the server (OS): K\n' +
        'Exit status: 0 when every request succeeded, 1 otherwise, 2 on a usage error.\n' +
        '\nExamples:\n  connlab http-client --mode faulty                    # the prior art: every 20 s (+ extras) to localhost:8080\n' +
        '  connlab http-client --mode fixed --url http://127.0.0.1:8080 --interval 200ms --requests 50 --json',
    )
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { renderHttpClientResult } = await import('../http-keepalive/report.ts');
      const { HttpClientRun } = await import('../http-keepalive/run.ts');
      if (options.mode !== 'faulty' && options.leak) throw Object.assign(new Error('--leak applies to --mode faulty only'), { code: 'EUSAGE' });
      const controller = abortOnSignals();
      let run: HttpClientRun;
      try {
        run = new HttpClientRun({
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
      } catch (error) {
        throw Object.assign(new Error((error as Error).message), { code: 'EUSAGE' });
      }
      const ticker = startTicker(() => {
        const p = run.progress();
        return `requests ${p.completed}/${p.started} done, ${p.failed} failed | open sockets ${p.sockets}`;
      }, { quiet: options.quiet || !process.stderr.isTTY });
      const result = await run.run();
      ticker.stop();
      printResult(result, options, () => renderHttpClientResult(result));
      process.exitCode = result.ok ? EXIT_OK : EXIT_FAILED;
    });
}
