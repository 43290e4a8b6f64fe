// `connlab load`: the prior art's 50 staggered clients by default, with every ack checked.
import type { Command } from 'commander';
import { LOAD_DEFAULTS as D } from '../load/options.ts';
import { TRANSPORT_FLAG, collect, duration, integer, oneOf, port, shard, shardOf } from './options.ts';
import { LOAD_KIND } from '../results/kinds.ts';
import { abortOnSignals, startTicker } from './run.ts';
import { finishRun, parseThresholds, thresholdOption } from './thresholds.ts';

export function register(program: Command): void {
  const command = program
    .command('load')
    .description('N concurrent clients, staggered starts, each message checked against its ack; latency percentiles')
    .option('--host <address>', 'server address', D.host)
    .option('--port <n>', 'server port', port, D.port)
    .option('--clients <n>', 'clients in the whole run', integer(0), D.clients)
    .option('--stagger <duration>', 'time between client starts', duration, D.staggerMs)
    .option('--messages <n>', 'messages per client', integer(1), D.messagesPerClient)
    .option('--message <template>', 'message text; {i} is the client number, {n} the message number', D.message)
    .option('--framing <mode>', 'line: send `text\\n`, expect `ACK text`; chunk: expect `ACK from server` per message', oneOf('line', 'chunk'), D.framing)
    .option('--pipeline <n>', 'messages in flight per client before waiting for acks', integer(1), D.pipeline)
    .option('--rate <n>', 'open loop: messages per second over all clients, latency from the intended send time', integer(0), D.rate)
    .option('--connect-timeout <duration>', 'give up on a connect after', duration, D.connectTimeoutMs)
    .option('--reply-timeout <duration>', 'give up on an ack after (0: never; the end of a run then waits 5s at most)', duration, D.replyTimeoutMs)
    .option('--hold <duration>', 'keep each connection open after its last ack', duration, D.holdMs)
    .option('--duration <duration>', 'end the run after this long (with --rate: how long to send)', duration, D.durationMs)
    .option('--source-ip <address>', 'local address to connect from (repeat to use several in turn)', collect(String))
    .option('--shard <I/N>', 'run shard I of N of the clients (merge results with `connlab merge`)', shard)
    .option('--shards <n>', 'like --shard, with I from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)', integer(1))
    .option(TRANSPORT_FLAG.flags, TRANSPORT_FLAG.help, TRANSPORT_FLAG.parse, TRANSPORT_FLAG.default)
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'no live stats on stderr')
    .addHelpText(
      'after',
      '\nExit status: 0 when every client connected, every message got its exact ack and every --threshold held,\n' +
        '1 otherwise, 2 on a usage error.\n' +
        '\nExamples:\n  connlab load                                  # the prior art: 50 clients 100ms apart to localhost:4000\n' +
        '  connlab load --port 5000 --clients 100 --messages 1000 --stagger 0 --json\n' +
        '  connlab load --port 5000 --clients 10 --rate 5000 --duration 10s   # open loop\n' +
        "  connlab load --port 5000 --clients 100 --messages 100 --threshold 'ack.p99<20ms' --threshold errors==0",
    );
  thresholdOption(command, LOAD_KIND, 'ack.p99<20ms').action(async (options) => {
    const thresholds = parseThresholds(options.threshold, LOAD_KIND);
    // Loaded when the command runs, so `connlab <other command>` and --help start fast.
    const { LoadRun } = await import('../load/load-client.ts');
    const { renderLoadResult } = await import('../report/text.ts');
    const controller = abortOnSignals();
    const run = new LoadRun({
      host: options.host,
      port: options.port,
      clients: options.clients,
      staggerMs: options.stagger,
      messagesPerClient: options.messages,
      message: options.message,
      framing: options.framing,
      pipeline: options.pipeline,
      rate: options.rate,
      connectTimeoutMs: options.connectTimeout,
      replyTimeoutMs: options.replyTimeout,
      holdMs: options.hold,
      durationMs: options.duration,
      sourceAddresses: options.sourceIp,
      shard: shardOf(options),
      signal: controller.signal,
      transport: options.transport,
    });
    const ticker = startTicker(() => {
      const p = run.progress();
      return `clients ${p.connected}/${p.started} connected, ${p.failed} failed | messages ${p.acked}/${p.sent} acked | errors ${p.errors}`;
    }, { quiet: options.quiet });
    const result = await run.run();
    ticker.stop();
    finishRun(result, thresholds, options, renderLoadResult);
  });
}
