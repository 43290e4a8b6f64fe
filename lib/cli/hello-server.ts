// `connlab hello-server`: the bounded pool answering HTTP `hello world`, with the prior art's port 1729,
// 10 workers, a queue of 10, a 10 s deadline and 1 s of simulated work.
import type { Command } from 'commander';
import { HELLO_DEFAULTS as D } from '../tcp/options.ts';
import { duration, port, size } from './options.ts';
import { logLine } from './run.ts';
import { poolOptions, runPoolServer } from './pool-common.ts';

export function register(program: Command): void {
  const command = program
    .command('hello-server')
    .description('HTTP server with a bounded worker pool: `200 OK` and `hello world` after --work; 503 with Retry-After when the queue is full')
    .option('--port <n>', 'port to listen on (0 picks a free one)', port, 1729);
  poolOptions(command, D)
    .option('--deadline <duration>', 'from accept (queue time counts): the request must arrive, and the reply be delivered, by then; a late request gets 408', duration, D.deadlineMs)
    .option('--work <duration>', 'simulated work per request; a timer, so the server stays responsive', duration, D.workMs)
    .option('--max-head <size>', 'largest request head accepted; a larger one gets 400', size, D.maxHeadBytes)
    .addHelpText(
      'after',
      '\nExamples:\n  connlab hello-server &\n  curl -i http://127.0.0.1:1729/                         # 200 OK, hello world, after 1 s\n' +
        '  connlab hello-server --queue 90 --verbose &            # room for the prior art\'s burst:\n' +
        '  seq 100 | xargs -P100 -I{} curl -s -o /dev/null http://127.0.0.1:1729/   # 100 x 200 in about 10 s\n' +
        '  (with the default --queue 10, that burst gets 20 x 200 and 80 x 503 at once)',
    )
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { startHelloServer } = await import('../tcp/hello-server.ts');
      const server = await startHelloServer({
        host: options.host,
        port: options.port,
        workers: options.workers,
        queue: options.queue,
        deadlineMs: options.deadline,
        workMs: options.work,
        maxHeadBytes: options.maxHead,
        log: options.verbose ? logLine : undefined,
      });
      logLine(`[SERVER] hello on http://${server.host}:${server.port}/ with ${options.workers} workers, queue ${options.queue}, deadline ${options.deadline}ms, work ${options.work}ms`);
      await runPoolServer('SERVER', server, options);
    });
}
