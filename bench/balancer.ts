// Benchmark: wrk through connlab's balancer over two nginx backends, beside HAProxy (mode tcp, balance
// roundrobin, one thread) and nginx's stream proxy (one worker) over the same backends, in one run.
// Two workloads: keep-alive requests, and `Connection: close` (a new connection through the balancer
// for every request). Figures are requests per second and ratios to HAProxy measured in the same round;
// the targets are 0.9 (keep-alive) and 0.6 (new connection per request). A minimal Node pipe proxy
// (pipe() both ways, round-robin, nothing else) runs beside them as the floor a Node balancer starts from,
// and connlab runs twice: on bare libuv handles (its default) and on its net.Socket fallback. Rounds alternate the proxies
// so drift on a shared machine hits them alike; each ratio is taken within a round, and the median over
// rounds is reported beside every round's.
//
//   npm run bench:balancer [-- --duration 5s --rounds 3 --connections 50 --json]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../lib/net/units.ts';
import { renderTable } from '../lib/report/table.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5s' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  },
});
const durationS = Math.max(1, Math.round(parseDuration(args.duration) / 1000));
const rounds = Number(args.rounds);
const connections = Number(args.connections);
const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} did not listen on ${port}`);
}

const children: ChildProcess[] = [];
function start(name: string, command: string, argv: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.on('exit', (code, signal) => {
    if (code && !signal) log(`${name} exited with ${code}: ${stderr.trim()}`);
  });
  children.push(child);
  return child;
}

function nginxConfig(dir: string, body: string, modules = ''): string {
  const file = path.join(dir, `nginx-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(
    file,
    `${modules}
daemon off;
master_process on;
worker_processes 1;
pid ${file}.pid;
error_log stderr error;
events { worker_connections 4096; }
${body}
`,
  );
  return file;
}

interface WrkResult {
  requestsPerSecond: number;
  errors: number;
}

function wrk(port: number, close: boolean): WrkResult {
  const argv = ['-t1', `-c${connections}`, `-d${durationS}s`, ...(close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/`];
  const out = execFileSync('wrk', argv, { encoding: 'utf8' });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requestsPerSecond: rps ? Number(rps[1]) : 0,
    errors: (errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0),
  };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  execFileSync('bash', [path.join(ROOT, 'bench/install-tools.sh')], { stdio: 'inherit' });
  const dir = mkdtempSync(path.join(tmpdir(), 'connlab-bench-'));
  try {
    const [backendA, backendB, haproxyPort, streamPort, connlabPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const temp = `client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`;
    const backends = nginxConfig(
      dir,
      `http { access_log off; ${temp} keepalive_requests 1000000;
        server { listen 127.0.0.1:${backendA}; location / { return 200 "hello from a\\n"; } }
        server { listen 127.0.0.1:${backendB}; location / { return 200 "hello from b\\n"; } } }`,
    );
    const nginxBackends = start('nginx backends', 'nginx', ['-c', backends, '-p', dir]);
    await waitForPort(backendA, nginxBackends, 'nginx backends');

    const haproxyCfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(
      haproxyCfg,
      `global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${haproxyPort}
  default_backend be
backend be
  balance roundrobin
  server a 127.0.0.1:${backendA}
  server b 127.0.0.1:${backendB}
`,
    );
    const targets: Array<{ name: string; port: number }> = [];
    const haproxy = start('haproxy', 'haproxy', ['-f', haproxyCfg, '-db']);
    await waitForPort(haproxyPort, haproxy, 'haproxy');
    targets.push({ name: 'haproxy', port: haproxyPort });

    if (existsSync(STREAM_MODULE)) {
      const stream = nginxConfig(
        dir,
        `stream { upstream be { server 127.0.0.1:${backendA}; server 127.0.0.1:${backendB}; }
          server { listen 127.0.0.1:${streamPort}; proxy_pass be; } }`,
        `load_module ${STREAM_MODULE};`,
      );
      const nginxStream = start('nginx stream', 'nginx', ['-c', stream, '-p', dir]);
      await waitForPort(streamPort, nginxStream, 'nginx stream');
      targets.push({ name: 'nginx stream', port: streamPort });
    } else {
      log(`nginx stream proxy skipped: ${STREAM_MODULE} is missing (bench/install-tools.sh installs libnginx-mod-stream)`);
    }

    // connlab on its default transport (bare libuv handles) and on its net.Socket fallback.
    const variants = [
      { name: 'connlab', port: connlabPort, env: process.env },
      { name: 'connlab net', port: await freePort(), env: { ...process.env, CONNLAB_LEAN_SOCKETS: '0' } },
    ];
    for (const variant of variants) {
      const argv = ['balancer', '--port', String(variant.port), '--backend', `127.0.0.1:${backendA}`, '--backend', `127.0.0.1:${backendB}`];
      const child = start(variant.name, process.execPath, [path.join(ROOT, 'bin/connlab.js'), ...argv], variant.env);
      await waitForPort(variant.port, child, variant.name);
      targets.push({ name: variant.name, port: variant.port });
    }

    // The floor a Node balancer is judged against: pipe() both ways, round-robin, nothing else.
    const minimalPort = await freePort();
    const minimalSource = `
      const net = require('node:net');
      const ports = [${backendA}, ${backendB}];
      let next = 0;
      net.createServer({ noDelay: true }, (client) => {
        const upstream = net.connect({ host: '127.0.0.1', port: ports[next++ % 2], noDelay: true });
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.pipe(upstream).pipe(client);
      }).listen(${minimalPort}, '127.0.0.1');`;
    const minimal = start('node pipe proxy', process.execPath, ['-e', minimalSource]);
    await waitForPort(minimalPort, minimal, 'node pipe proxy');
    targets.push({ name: 'node pipe', port: minimalPort });

    const workloads = [
      { name: 'keep-alive', close: false, target: 0.9 },
      { name: 'Connection: close', close: true, target: 0.6 },
    ];
    const samples = new Map<string, number[]>();
    // Each proxy's ratio to HAProxy within the same round: the machine's drift between rounds cancels.
    const paired = new Map<string, number[]>();
    const push = (map: Map<string, number[]>, key: string, value: number): void => void map.set(key, [...(map.get(key) ?? []), value]);
    let errors = 0;
    log(`wrk -t1 -c${connections} -d${durationS}s, ${rounds} rounds, proxies alternating; nginx backends on :${backendA} :${backendB}`);
    for (const workload of workloads) {
      for (const target of targets) wrk(target.port, workload.close); // warm-up, not counted
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? targets : [...targets].reverse();
        const rps = new Map<string, number>();
        for (const target of order) {
          const result = wrk(target.port, workload.close);
          errors += result.errors;
          rps.set(target.name, result.requestsPerSecond);
          push(samples, `${workload.name}|${target.name}`, result.requestsPerSecond);
          log(`  ${workload.name.padEnd(18)} ${target.name.padEnd(13)} ${Math.round(result.requestsPerSecond)} req/s${result.errors ? `, ${result.errors} errors` : ''}`);
        }
        const reference = rps.get('haproxy')!;
        for (const target of targets) push(paired, `${workload.name}|${target.name}`, rps.get(target.name)! / reference);
        log(`  round ${round + 1} ratios to haproxy: ${targets.map((t) => `${t.name} ${(rps.get(t.name)! / reference).toFixed(2)}`).join(', ')}`);
      }
    }

    const results = workloads.map((workload) => ({
      workload: workload.name,
      target: workload.target,
      proxies: targets.map((target) => {
        const key = `${workload.name}|${target.name}`;
        const ratios = paired.get(key)!;
        return {
          proxy: target.name,
          requestsPerSecond: Math.round(median(samples.get(key)!)),
          /** The median over rounds of the ratio to HAProxy in the same round. */
          ratioToHaproxy: Number(median(ratios).toFixed(2)),
          roundRatios: ratios.map((r) => Number(r.toFixed(2))),
        };
      }),
    }));
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ durationS, rounds, connections, errors, results }, null, 2)}\n`);
    } else {
      const rows = results.flatMap((r) =>
        r.proxies.map((p) => [
          r.workload,
          p.proxy,
          String(p.requestsPerSecond),
          p.ratioToHaproxy.toFixed(2),
          p.roundRatios.map((x) => x.toFixed(2)).join(' '),
          p.proxy === 'connlab' ? `${r.target} ${p.ratioToHaproxy >= r.target ? 'met' : 'missed'}` : '',
        ]),
      );
      process.stdout.write(`${renderTable(['workload', 'proxy', 'req/s (median)', 'ratio to haproxy (median of rounds)', 'each round', 'target'], rows)}\n`);
      if (errors) process.stdout.write(`wrk reported ${errors} socket errors or non-2xx responses in all\n`);
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
