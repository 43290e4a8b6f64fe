// Benchmark: 100,000 concurrent connections held by one `connlab capacity` command against a local
// multi-process target, beside a minimal single-process Node opener measured in the same run.
// Reports the open rate and the client's resident memory per held connection, and the ratios
// (targets: at least 2x the reference's rate, at most 3 KB per connection). Cleans up after itself:
// both clients close with RST and the target resets what is left, so no TIME_WAIT stays behind.
//   npm run bench:capacity [-- CONNECTIONS [REFERENCE_CONNECTIONS]]
import { execa } from 'execa';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { socketCensus } from '../lib/net/socket-table.ts';
import { renderTable } from '../lib/report/table.ts';
import type { CapacityResult } from '../lib/results/capacity.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const connections = Number(process.argv[2] ?? 100_000);
const referenceConnections = Number(process.argv[3] ?? 15_000);
// 28,000 ephemeral ports per source address towards one server port: 8 addresses leave headroom.
const sources = `127.0.1.1-127.0.1.${Math.max(1, Math.ceil(connections / 14_000))}`;
const targetWorkers = Math.max(2, Math.ceil(connections / 14_000));

const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

let port = 0;
const target = execa('node', ['--import', 'tsx', path.join(here, 'capacity-target.ts'), String(targetWorkers)], { cwd: root, buffer: false, stdin: 'ignore', stderr: 'inherit' });
try {
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: target.stdout! }).once('line', resolve);
    target.once('exit', (code) => reject(new Error(`target exited with ${code}`)));
  });
  const [host, portText] = first.replace('listening on ', '').split(':');
  port = Number(portText);
  log(`target: ${targetWorkers} processes on ${host}:${port}`);

  log(`reference: minimal Node opener, ${referenceConnections} connections from one process`);
  const ref = JSON.parse((await execa('node', [path.join(here, 'minimal-opener.mjs'), host, String(port), String(referenceConnections)])).stdout) as {
    open: number; failed: number; ms: number; perSecond: number; perConnectionBytes: number;
  };
  log(`reference: ${ref.open} open in ${ref.ms} ms`);

  log(`connlab capacity: ${connections} connections from ${sources}`);
  const run = await execa(
    'node',
    [path.join(root, 'bin/connlab.js'), 'capacity', '--host', host, '--port', String(port), '--connections', String(connections), '--delay', '0',
      '--hold', '2s', '--source-ips', sources, '--close', 'reset', '--dial-timeout', '10s', '--json', '--quiet'],
    { reject: false, stderr: 'inherit', maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(run.stdout) as CapacityResult;
  const c = result.connections;

  const rows = [
    ['minimal Node opener (1 process)', ref.open, ref.ms, ref.perSecond, +(ref.perConnectionBytes / 1024).toFixed(2)],
    [`connlab capacity (${result.processes} processes, ${result.sockets} handles)`, c.held, result.opening.ms, result.opening.perSecond, +(result.memory.perConnectionBytes / 1024).toFixed(2)],
  ];
  process.stdout.write(`${renderTable(['client', 'held', 'open ms', 'opened/s', 'KiB/conn'], rows)}\n\n`);
  const rateRatio = result.opening.perSecond / ref.perSecond;
  const memory = result.memory.perConnectionBytes / 1024;
  process.stdout.write(
    `open rate: ${rateRatio.toFixed(2)}x the reference (target >= 2x) ${rateRatio >= 2 ? 'MET' : 'MISSED'}\n` +
      `memory: ${memory.toFixed(2)} KiB per held connection (target <= 3 KiB) ${memory <= 3 ? 'MET' : 'MISSED'}\n` +
      `held ${c.held} of ${connections}, failed ${c.failed}, errors ${JSON.stringify(result.errors)}, exit ${run.exitCode}\n` +
      `client resident memory in all: ${(result.memory.rssBytes / 1024 ** 2).toFixed(0)} MiB over ${result.processes} processes ` +
      `(${(result.memory.rssBytes / Math.max(1, c.held) / 1024).toFixed(2)} KiB per connection, fixed per-process cost included)\n` +
      `connect p50 ${result.connectLatency.p50} ms, p99 ${result.connectLatency.p99} ms, max ${result.connectLatency.max} ms\n`,
  );
} finally {
  target.kill('SIGTERM');
  await target.catch(() => {});
  if (port) {
    const asClient = await socketCensus({ remotePort: port });
    const asServer = await socketCensus({ localPort: port });
    process.stdout.write(`left behind on port ${port}: client side ${JSON.stringify(asClient)}, server side ${JSON.stringify(asServer)}\n`);
  }
}
