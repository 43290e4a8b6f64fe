// Benchmark: the same `connlab capacity` command twice in a row, as a user runs it: 100,000 connections
// from the same eight source addresses (127.0.0.1-127.0.0.8) against a 7-process nginx that holds
// idle connections, closing with FIN so the first run leaves its sockets in TIME_WAIT for the second.
// Both runs must hold every connection and exit 0; the figures are held, opened/s, client memory per
// held connection and TIME_WAIT left, for each run. Never part of npm test:
//   npm run bench:capacity-twice [-- CONNECTIONS]
import { execa } from 'execa';
import { renderTable } from '../lib/report/table.ts';
import type { CapacityResult } from '../lib/results/capacity.ts';
import { BIN, installTools, nginxTempPaths, startNginx, type Running } from './lib/tools.ts';

const connections = Number(process.argv[2] ?? 100_000);
const WORKERS = 7;
const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

/**
 * nginx with 7 workers on a free port, keeping connections that never send a request for 10 minutes.
 * Each worker may hold as many as the machine's 20,000 open files allow, not just its seventh: the
 * kernel hashes connections over `reuseport` listeners unevenly, and a worker at its limit closes
 * what it accepts and lets its accept queue overflow (dials then time out).
 */
function startHoldingNginx(): Promise<Running> {
  const perWorker = Math.max(19_800, Math.ceil(connections / WORKERS) + 1000);
  return startNginx(
    (dir, port) => `
worker_processes ${WORKERS};
worker_rlimit_nofile ${Math.min(19_900, perWorker + 100)};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log crit;
events { worker_connections ${Math.min(19_800, perWorker)}; multi_accept on; }
http {
  access_log off;
  ${nginxTempPaths(dir)}
  client_header_timeout 600s;
  keepalive_timeout 600s;
  reset_timedout_connection on;
  server { listen 127.0.0.1:${port} backlog=65535 reuseport; location / { return 200 "ok\\n"; } }
}`,
  );
}

async function capacityRun(port: number): Promise<{ result: CapacityResult; exitCode: number }> {
  const args = ['capacity', '--host', '127.0.0.1', '--port', String(port), '--connections', String(connections), '--delay', '0', '--hold', '5s',
    '--source-ips', '127.0.0.1-127.0.0.8', '--close', 'fin', '--max-duration', '5m', '--json', '--quiet',
    // nginx on two shared cores cannot accept 100,000 at once: dropped SYNs are retried (1 s, 3 s, 7 s...) rather than given up after 5 s.
    '--dial-timeout', '30s'];
  const run = await execa('node', [BIN, ...args], { reject: false, stderr: 'inherit' });
  return { result: JSON.parse(String(run.stdout)) as CapacityResult, exitCode: run.exitCode ?? -1 };
}

await installTools();
const nginx = await startHoldingNginx();
const rows: Array<Array<string | number>> = [];
let ok = true;
try {
  for (const label of ['first run', 'second run, right after']) {
    log(`${label}: ${connections} connections from 127.0.0.1-127.0.0.8 to nginx on :${nginx.port}`);
    const { result, exitCode } = await capacityRun(nginx.port);
    const c = result.connections;
    rows.push([label, c.held, c.failed, result.opening.perSecond, +(result.memory.perConnectionBytes / 1024).toFixed(2), result.sourcePortsSkipped, result.timeWaitSides.client, exitCode]);
    if (exitCode !== 0 || c.held !== connections) ok = false;
    if (Object.keys(result.errors).length > 0) log(`${label}: errors ${JSON.stringify(result.errors)}, e.g. ${result.errorSamples.slice(0, 3).join('; ')}`);
    for (const warning of result.warnings) log(`${label}: warning: ${warning}`);
  }
} finally {
  await nginx.stop();
}
process.stdout.write(`${renderTable(['run', 'held', 'failed', 'opened/s', 'KiB/conn', 'ports replaced', 'TIME_WAIT left', 'exit'], rows)}\n`);
process.stdout.write(ok ? `both runs held all ${connections} connections and exited 0\n` : 'a run did not hold every connection: see above\n');
process.exitCode = ok ? 0 : 1;
