// `connlab ack-server`: the event-driven ack server on its own, with the prior art's default port 5000.
import type { Command } from 'commander';
import { ACK_SERVER_DEFAULTS as D } from '../tcp/options.ts';
import { FRAMINGS } from '../tcp/ack-protocol.ts';
import { TRANSPORT_FLAG, duration, integer, oneOf, port, size } from './options.ts';
import { logLine, runServer, startTicker } from './run.ts';

export function register(program: Command): void {
  program
    .command('ack-server')
    .description('event-driven TCP server: one `ACK <line>` reply per line (or `ACK from server` per read with --framing chunk)')
    .option('--host <address>', 'address to bind', D.host)
    .option('--port <n>', 'port to listen on (0 picks a free one)', port, 5000)
    .option('--framing <mode>', 'line: one `ACK <line>\\n` per line; chunk: `ACK from server` per read (the prior art)', oneOf(...FRAMINGS), D.framing)
    .option('--max-line <size>', 'longest line accepted; a longer one gets `ERR line too long` and its connection closes', size, D.maxLineLength)
    .option('--max-connections <n>', 'most connections at once; the next gets `ERR too many connections` (0: no limit)', integer(0), D.maxConnections)
    .option('--idle-timeout <duration>', 'close a connection silent this long (0: never)', duration, D.idleTimeoutMs)
    .option(TRANSPORT_FLAG.flags, TRANSPORT_FLAG.help, TRANSPORT_FLAG.parse, TRANSPORT_FLAG.default)
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long open connections may finish', duration, 5000)
    .option('--stats-interval <duration>', 'with --verbose, how often the gauges are printed', duration, 5000)
    .option('--verbose', 'log every connect, message and disconnect ([CONNECT] [DATA] [DISCONNECT]) and print the gauges every --stats-interval')
    .addHelpText('after', '\nExample:\n  connlab ack-server --port 5000 &\n  printf "hello\\nworld\\n" | nc -q1 127.0.0.1 5000   # ACK hello, ACK world')
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { startAckServer } = await import('../tcp/ack-server.ts');
      const server = await startAckServer({
        host: options.host,
        port: options.port,
        framing: options.framing,
        maxLineLength: options.maxLine,
        maxConnections: options.maxConnections,
        idleTimeoutMs: options.idleTimeout,
        log: options.verbose ? logLine : undefined,
        transport: options.transport,
      });
      logLine(`[SERVER] Listening on ${server.host}:${server.port} (framing ${options.framing}, ${options.transport} transport)`);
      const gauges = (): string => {
        const s = server.stats();
        const errors = Object.entries(s.errors).map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
        return `[STATS] open ${s.open} | accepted ${s.accepted} rejected ${s.rejected} | messages ${s.messages} acks ${s.acks} | paused ${s.paused} | errors ${errors}`;
      };
      const ticker = options.verbose ? startTicker(gauges, { intervalMs: options.statsInterval, lines: true }) : undefined;
      await runServer(server, {
        name: 'SERVER',
        graceMs: options.grace,
        onStop: () => {
          ticker?.stop();
          logLine(`[SERVER] ${JSON.stringify(server.stats())}`);
        },
      });
    });
}
