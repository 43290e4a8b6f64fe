// `connlab slow-server`: the keep-alive lab's slow HTTP server, with the prior art's port 8080 and 20 s delay.
import type { Command } from 'commander';
import { SLOW_SERVER_DEFAULTS as D } from '../http-keepalive/options.ts';
import { duration, integer, port, size } from './options.ts';
import { logLine, runServer } from './run.ts';

export function register(program: Command): void {
  program
    .command('slow-server')
    .description('HTTP server that answers every request after --delay with `Keep-Alive: timeout=120, max=100`, and prints its open sockets (its own count and the OS\'s)')
    .option('--host <address>', 'address to bind', D.host)
    .option('--port <n>', 'port to listen on (0 picks a free one)', port, 8080)
    .option('--delay <duration>', 'how long every response waits; other requests are not blocked meanwhile', duration, D.delayMs)
    .option('--census-interval <duration>', 'print the open-socket census this often (0: never)', duration, 5000)
    .option('--keep-alive <duration>', 'close a keep-alive connection idle this long; advertised as Keep-Alive: timeout= (Node\'s 5 s default would hide the leak)', duration, D.keepAliveTimeoutMs)
    .option('--max-requests <n>', 'requests per connection, advertised as Keep-Alive: max=', integer(1), D.maxRequestsPerSocket)
    .option('--body-size <size>', 'pad the body to this size (e.g. 1MiB: larger than a client\'s buffer, so unread bodies pin sockets)', size, D.bodyBytes)
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long responses in flight may finish', duration, 5000)
    .addHelpText(
      'after',
      '\nEvery --census-interval it prints, on stderr:\n  [SERVER] Active TCP Connections: N (own count) | ESTABLISHED by the OS: M | in flight: K\n' +
        '\nExamples:\n  connlab slow-server                                  # the prior art: port 8080, 20 s delay, census every 5 s\n' +
        '  connlab slow-server --port 0 --delay 200ms --census-interval 1s',
    )
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { startSlowServer } = await import('../http-keepalive/slow-server.ts');
      const server = await startSlowServer({
        host: options.host,
        port: options.port,
        delayMs: options.delay,
        censusIntervalMs: options.censusInterval,
        keepAliveTimeoutMs: options.keepAlive,
        maxRequestsPerSocket: options.maxRequests,
        bodyBytes: options.bodySize,
        log: logLine,
      });
      logLine(`[SERVER] Listening on ${server.host}:${server.port}: responses after ${options.delay} ms, idle keep-alive ${options.keepAlive} ms`);
      await runServer(server, {
        name: 'SERVER',
        graceMs: options.grace,
        onStop: () => logLine(`[SERVER] ${JSON.stringify(server.stats())}`),
      });
    });
}
