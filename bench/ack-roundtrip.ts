// Benchmark: lock-step round trips per second through the ack server with 100 connections driven by
// the load client, beside wrk driving nginx with 100 connections and a minimal Node pair, in one run.
// Also the same pair over net.Socket (--transport net), to show what the libuv transport buys, and the
// pipelined rate: acks per second with many lines in flight per connection.
// The figure is the ratio to nginx+wrk (target 0.9), taken within each round and summed up by its
// median over many short rounds: on this VM two runs of the same pair a few seconds apart differ by up
// to 25%, so a handful of rounds cannot tell 0.87 from 0.93. The rounds alternate which of the two
// runs first, so a drift of the machine falls on both. Never part of npm test: `npm run bench:ack`
// (BENCH_ROUNDS, BENCH_SECONDS, BENCH_OTHER_ROUNDS for the other lines).
import { execa } from 'execa';
import path from 'node:path';
import { ROOT, connlabJson, installTools, median, startConnlabServer, startNginxOk, wrk } from './lib/tools.ts';
import type { LoadResult } from '../lib/load/load-client.ts';

const CONNECTIONS = 100;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 16);
const OTHER_ROUNDS = Number(process.env.BENCH_OTHER_ROUNDS ?? 3);
const TARGET = 0.9;

async function ackServerRate(pipeline: number, messages: number, transport = 'libuv'): Promise<number> {
  const server = await startConnlabServer(['ack-server', '--transport', transport]);
  try {
    const result = await connlabJson<LoadResult>([
      'load', '--host', '127.0.0.1', '--port', String(server.port), '--clients', String(CONNECTIONS), '--stagger', '0',
      '--messages', String(messages), '--pipeline', String(pipeline), '--message', 'round trip {n}', '--transport', transport,
    ]);
    if (!result.ok) throw new Error(`the load run failed: ${JSON.stringify(result.errors)} ${JSON.stringify(result.messages)}`);
    return result.acksPerSecond;
  } finally {
    await server.stop();
  }
}

async function minimalPairRate(messages: number): Promise<number> {
  const script = path.join(ROOT, 'bench/minimal-pair.ts');
  const server = execa('node', ['--import', 'tsx', script, 'server'], { buffer: false, reject: false });
  const port = await new Promise<number>((resolve) => server.stdout!.once('data', (d: Buffer) => resolve(Number(/:(\d+)/.exec(d.toString())![1]))));
  try {
    const { stdout } = await execa('node', ['--import', 'tsx', script, 'client', String(port), String(CONNECTIONS), String(messages)]);
    return JSON.parse(stdout).roundTripsPerSecond;
  } finally {
    server.kill('SIGTERM');
    await server;
  }
}

await installTools();
const nginx = await startNginxOk();
const reference = (): Promise<number> => wrk(`http://127.0.0.1:${nginx.port}/`, CONNECTIONS, SECONDS);
/** Each subject's rates, and each rate's ratio to the reference measured in the same round. */
const lines = new Map<string, { rates: number[]; ratios: number[] }>();
function record(name: string, rate: number, referenceRate: number): void {
  const line = lines.get(name) ?? { rates: [], ratios: [] };
  line.rates.push(rate);
  line.ratios.push(rate / referenceRate);
  lines.set(name, line);
}
const PAIR = 'connlab ack-server + connlab load';
const NGINX = 'nginx + wrk (reference)';
try {
  // Size the lock-step runs to last about as long as wrk's.
  const probe = await ackServerRate(1, 200);
  const messages = Math.max(200, Math.round((probe * SECONDS) / CONNECTIONS));
  for (let round = 0; round < ROUNDS; round++) {
    let pair: number;
    let ref: number;
    if (round % 2 === 0) {
      ref = await reference();
      pair = await ackServerRate(1, messages);
    } else {
      pair = await ackServerRate(1, messages);
      ref = await reference();
    }
    record(NGINX, ref, ref);
    record(PAIR, pair, ref);
    process.stderr.write(`round ${round + 1}/${ROUNDS}: nginx+wrk ${ref.toFixed(0)}/s, connlab ${pair}/s, ratio ${(pair / ref).toFixed(2)}\n`);
  }
  for (let round = 0; round < OTHER_ROUNDS; round++) {
    const ref = await reference();
    record('the same over net.Socket (--transport net)', await ackServerRate(1, messages, 'net'), ref);
    record('minimal Node server + client pair', await minimalPairRate(messages), ref);
    record('connlab, pipelined 32 lines per connection', await ackServerRate(32, messages * 4), ref);
    process.stderr.write(`other round ${round + 1}/${OTHER_ROUNDS} done\n`);
  }
} finally {
  await nginx.stop();
}

/** The value below which a share `q` of the sorted values lie (nearest rank). */
const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
};
console.log(
  `\nLock-step round trips per second, ${CONNECTIONS} connections, ${SECONDS} s runs (reference: wrk -t1 -c${CONNECTIONS} on nginx, one worker).` +
    `\nRates are medians; each ratio is taken against the reference of its own round, then summed up by its median and quartiles.`,
);
for (const [name, { rates, ratios }] of lines) {
  const ratio = median(ratios);
  const verdict = name !== PAIR ? '' : ratio >= TARGET ? `  (target ${TARGET}: met)` : `  (target ${TARGET}: NOT met)`;
  const spread = name === NGINX ? '' : `  ratio ${ratio.toFixed(2)} (quartiles ${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)}, ${ratios.length} rounds)`;
  console.log(`${name.padEnd(44)} ${median(rates).toFixed(0).padStart(9)}/s${spread}${verdict}`);
}
