// Benchmark: lock-step round trips per second through the ack server with 100 connections driven by
// the load client, beside wrk driving nginx with 100 connections and a minimal Node pair, in one run.
// Also the same pair over net.Socket (--transport net), to show what the libuv transport buys, and the
// pipelined rate: acks per second with many lines in flight per connection.
// The figure is the ratio to nginx+wrk (target 0.8). Never part of npm test: `npm run bench:ack`.
import { execa } from 'execa';
import path from 'node:path';
import { ROOT, connlabJson, installTools, median, ratioLine, startConnlabServer, startNginxOk, wrk } from './lib/tools.ts';
import type { LoadResult } from '../lib/load/load-client.ts';

const CONNECTIONS = 100;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

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
const nginxRates: number[] = [];
const ackRates: number[] = [];
const netRates: number[] = [];
const minimalRates: number[] = [];
const pipelinedRates: number[] = [];
try {
  // Size the lock-step runs to last about as long as wrk's.
  const probe = await ackServerRate(1, 200);
  const messages = Math.max(200, Math.round((probe * SECONDS) / CONNECTIONS));
  for (let round = 0; round < ROUNDS; round++) {
    nginxRates.push(await wrk(`http://127.0.0.1:${nginx.port}/`, CONNECTIONS, SECONDS));
    ackRates.push(await ackServerRate(1, messages));
    netRates.push(await ackServerRate(1, messages, 'net'));
    minimalRates.push(await minimalPairRate(messages));
    pipelinedRates.push(await ackServerRate(32, messages * 4));
    process.stderr.write(`round ${round + 1}/${ROUNDS}: nginx+wrk ${nginxRates.at(-1)!.toFixed(0)}/s, connlab ${ackRates.at(-1)}/s, connlab on net.Socket ${netRates.at(-1)}/s, minimal pair ${minimalRates.at(-1)!.toFixed(0)}/s, pipelined ${pipelinedRates.at(-1)}/s\n`);
  }
} finally {
  await nginx.stop();
}

// Each round's ratio is taken against that round's reference, so machine-wide swings cancel out;
// the figure is the median of those ratios.
const pairedRatio = (rates: number[]): number => median(rates.map((rate, i) => rate / nginxRates[i]));
const reference = median(nginxRates);
const line = (name: string, rates: number[], target?: number): string =>
  `${ratioLine(name, median(rates), reference, undefined).replace(/ratio [\d.]+/, `ratio ${pairedRatio(rates).toFixed(2)}`)}${
    target === undefined ? '' : pairedRatio(rates) >= target ? `  (target ${target}: met)` : `  (target ${target}: NOT met)`
  }`;
console.log(`\nLock-step round trips per second, ${CONNECTIONS} connections: medians of ${ROUNDS} rounds, ratios paired per round (reference: wrk -t1 -c${CONNECTIONS} on nginx, one worker)`);
console.log(line('nginx + wrk (reference)', nginxRates));
console.log(line('connlab ack-server + connlab load', ackRates, 0.8));
console.log(line('the same over net.Socket (--transport net)', netRates));
console.log(line('minimal Node server + client pair', minimalRates));
console.log(line('connlab, pipelined 32 lines per connection', pipelinedRates));
