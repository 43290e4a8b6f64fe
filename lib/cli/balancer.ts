// `connlab balancer`: the L4 balancer on the prior art's port 4000 over localhost:5000 and :5001.
import type { Command } from 'commander';
import { BALANCER_DEFAULTS as D, HEALTH_DEFAULTS as H, STRATEGIES, parseBackend } from '../balancer/options.ts';
import { TRANSPORTS } from '../net/conn.ts';
import { formatHostPort, formatSize } from '../net/units.ts';
import { collect, duration, integer, oneOf, port, wrap } from './options.ts';
import { logLine, runServer, startTicker } from './run.ts';

const backend = wrap(parseBackend);

export function register(program: Command): void {
  program
    .command('balancer')
    .description('L4 TCP balancer: round-robin (or least-connections) over backends, half-close and backpressure both ways, failover, health checks')
    .option('--host <address>', 'address to listen on', D.host)
    .option('--port <n>', 'port to listen on (0 picks a free one)', port, 4000)
    .option('--backend <host:port>', 'a backend, repeatable; add ,weight=N for a larger share and ,name=NAME for logs (default: localhost:5000 and localhost:5001)', collect(backend))
    .option('--strategy <name>', 'round-robin: each backend in turn (weighted); least-connections: the one with the fewest open per weight', oneOf(...STRATEGIES), D.strategy)
    .option('--connect-timeout <duration>', 'skip a backend that has not accepted after this long and try the next', duration, D.connectTimeoutMs)
    .option('--idle-timeout <duration>', 'close a connection with no bytes either way for this long (0: never)', duration, D.idleTimeoutMs)
    .option('--max-connections <n>', 'most client connections at once; the next is closed at once and logged (0: no limit)', integer(0), D.maxConnections)
    .option('--eject-after <n>', 'consecutive failed connects that take a backend out of rotation (0: never)', integer(0), D.ejectAfterFailures)
    .option('--eject-time <duration>', 'without health checks, retry an ejected backend after this long', duration, D.ejectTimeMs)
    .option('--health-interval <duration>', 'TCP connect check of every backend this often (0: no active checks)', duration, 2000)
    .option('--health-timeout <duration>', 'a check that has not connected after this long failed', duration, H.timeoutMs)
    .option('--fall <n>', 'consecutive failed checks that mark a backend down', integer(1), H.fall)
    .option('--rise <n>', 'consecutive passed checks that bring it back', integer(1), H.rise)
    .option('--drain-timeout <duration>', 'on SIGINT/SIGTERM, how long open connections may finish before they are cut', duration, 5000)
    .option('--stats-port <n>', 'serve /stats (JSON) and /metrics (Prometheus) over HTTP on this port (0: a free one)', port)
    .option('--transport <kind>', "what moves the bytes: libuv (Node's bare TCP handles, the default where available) or net (net.Socket; also CONNLAB_LEAN_SOCKETS=0)", oneOf(...TRANSPORTS))
    .option('--verbose', 'log every connection ([FORWARDING] ...) and a stats line every second')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  connlab balancer                                    # :4000 over localhost:5000 and localhost:5001\n' +
        '  connlab balancer --port 0 --backend 127.0.0.1:5000 --backend 127.0.0.1:5001,weight=3 --stats-port 9100\n' +
        '  curl -s localhost:9100/metrics                      # Prometheus text; /stats for JSON\n' +
        '\nExit status: 0 after a clean stop (SIGINT/SIGTERM), 1 when it cannot listen, 2 on a usage error.',
    )
    .action(async (options) => {
      // Loaded when the command runs, so `connlab <other command>` and --help start fast.
      const { startBalancer } = await import('../balancer/balancer.ts');
      const backends = options.backend ?? [parseBackend('localhost:5000'), parseBackend('localhost:5001')];
      const balancer = await startBalancer({
        host: options.host,
        port: options.port,
        backends,
        strategy: options.strategy,
        connectTimeoutMs: options.connectTimeout,
        idleTimeoutMs: options.idleTimeout,
        maxConnections: options.maxConnections,
        ejectAfterFailures: options.ejectAfter,
        ejectTimeMs: options.ejectTime,
        healthCheck: { intervalMs: options.healthInterval, timeoutMs: options.healthTimeout, fall: options.fall, rise: options.rise },
        drainTimeoutMs: options.drainTimeout,
        statsPort: options.statsPort,
        log: logLine,
        logConnections: Boolean(options.verbose),
        transport: options.transport,
      });
      const names = backends.map((b: { name: string; weight: number }) => (b.weight === 1 ? b.name : `${b.name} (weight ${b.weight})`)).join(', ');
      logLine(`[LOAD BALANCER] Listening on ${formatHostPort(balancer.host, balancer.port)}, ${options.strategy} over ${names} (${balancer.transport} transport)`);
      if (balancer.statsPort !== undefined) logLine(`[LOAD BALANCER] stats on http://${formatHostPort('127.0.0.1', balancer.statsPort)}/stats and /metrics`);
      const ticker = startTicker(() => {
        const s = balancer.stats();
        const per = s.backends.map((b) => `${b.name} ${b.state} ${b.active}/${b.total}`).join(' | ');
        return `open ${s.open} accepted ${s.accepted} in ${formatSize(s.bytesFromClients)} out ${formatSize(s.bytesToClients)} | ${per}`;
      }, { quiet: !options.verbose, intervalMs: 1000, lines: true });
      await runServer(balancer, {
        name: 'LOAD BALANCER',
        graceMs: options.drainTimeout,
        onStop: () => {
          ticker.stop();
          logLine(`[LOAD BALANCER] ${JSON.stringify(balancer.stats())}`);
        },
      });
    });
}
