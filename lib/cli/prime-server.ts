// `connlab prime-server`: the bounded pool answering `<count> <sí|no>`, with the prior art's port 5050,
// 10 workers and 5 s timeout, a queue of 100, and a durable journal with --journal.
import type { Command } from 'commander';
import { PRIME_DEFAULTS as D, PRIME_FRAMINGS } from '../tcp/options.ts';
import { duration, oneOf, port, size } from './options.ts';
import { logLine } from './run.ts';
import { poolOptions, runPoolServer } from './pool-common.ts';

export function register(program: Command): void {
  const command = program
    .command('prime-server')
    .description('TCP server with a bounded worker pool: counts the last character of each message, replies `<count> <sí|no>` and half-closes')
    .option('--port <n>', 'port to listen on (0 picks a free one)', port, 5050);
  poolOptions(command, D)
    .option('--timeout <duration>', 'from accept (queue time counts): the message must arrive, and the reply be delivered, by then', duration, D.timeoutMs)
    .option('--journal <file>', 'append one JSON Lines record per request, durable (written with O_DSYNC) before the reply is sent; concurrent records share a write (group commit)')
    .option('--framing <mode>', 'line: a message ends at its first newline or the client\'s FIN; eof: only at the FIN (newlines kept)', oneOf(...PRIME_FRAMINGS), D.framing)
    .option('--max-message <size>', 'longest message accepted; a longer one gets `ERR message longer than ...`', size, D.maxMessageBytes)
    .addHelpText(
      'after',
      '\nExamples:\n  connlab prime-server --journal requests.jsonl &\n  printf "abc1a\\n" | nc -q1 127.0.0.1 5050      # 2 sí\n' +
        '  tail -1 requests.jsonl                        # {"seq":1,"time":...,"message":"abc1a","count":2,"result":"sí",...}',
    )
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { startPrimeServer } = await import('../tcp/prime-server.ts');
      const server = await startPrimeServer({
        host: options.host,
        port: options.port,
        workers: options.workers,
        queue: options.queue,
        timeoutMs: options.timeout,
        journalPath: options.journal,
        framing: options.framing,
        maxMessageBytes: options.maxMessage,
        log: options.verbose ? logLine : undefined,
      });
      const repaired = server.journal?.stats().repairedBytes ?? 0;
      if (repaired > 0) logLine(`[JOURNAL] dropped a torn last line of ${repaired} bytes left by a crash (no client was answered for it)`);
      logLine(
        `[SERVER] prime on ${server.host}:${server.port} with ${options.workers} workers, queue ${options.queue}, timeout ${options.timeout}ms, ` +
          (options.journal ? `journal ${options.journal}` : 'no journal'),
      );
      await runPoolServer('SERVER', server, options);
    });
}
