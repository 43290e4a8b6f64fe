// `connlab demo` (what `npm start` runs): the lab on loopback, on free ports, with nothing to configure.
// For now: the overload topology of the ack server and the load client, with the result table.
import type { Command } from 'commander';
import { startAckServer } from '../tcp/ack-server.ts';
import { runLoad } from '../load/load-client.ts';
import { renderLoadResult } from '../load/report.ts';
import { EXIT_FAILED, EXIT_OK, logLine } from './run.ts';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the lab on loopback with free ports and print what happened (this is `npm start`)')
    .option('--clients <n>', 'clients in the load scenario', (v) => Number(v), 50)
    .action(async (options) => {
      await using server = await startAckServer({ port: 0 });
      logLine(`[demo] ack server listening on ${server.host}:${server.port}; ${options.clients} clients, 20 ms apart, one line each`);
      const result = await runLoad({ host: server.host, port: server.port, clients: options.clients, staggerMs: 20 });
      const stats = server.stats();
      process.stdout.write(`\n== ack server under ${options.clients} staggered clients ==\n${renderLoadResult(result)}\n`);
      process.stdout.write(`server's own count: ${stats.accepted} accepted, ${stats.messages} messages, ${stats.acks} acks, ${stats.open} open now\n`);
      process.exitCode = result.ok ? EXIT_OK : EXIT_FAILED;
    });
}
