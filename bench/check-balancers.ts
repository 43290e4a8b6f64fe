// `connlab check balancer` against the balancers people run: HAProxy (mode tcp), nginx's stream proxy
// as configured by default and with proxy_half_close on, and connlab's own `connlab balancer`, each over
// the same two backend ports with the same timings, declared alike. Prints one table of verdicts, spec by
// spec, so the differences between them read at a glance. Not part of npm test: it needs HAProxy and
// nginx (bench/install-tools.sh installs them) and takes about a minute per balancer.
//   npm run bench:check-balancers [-- --only haproxy,nginx]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, ROOT, waitForPort } from './lib/tools.ts';
import { renderTable } from '../lib/report/table.ts';
import { portBelowEphemeral } from '../fixtures/servers.ts';
import type { CheckResult } from '../lib/results/check.ts';

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
/** What every balancer is configured with, and what the check is told. */
const TIMING = { connectTimeout: '1s', healthInterval: '200ms', fall: 2, rise: 2, idleTimeout: '5s' };
const DECLARED = ['--connect-timeout', TIMING.connectTimeout, '--health-interval', TIMING.healthInterval, '--fall', String(TIMING.fall), '--rise', String(TIMING.rise), '--idle-timeout', TIMING.idleTimeout];

interface Candidate {
  name: string;
  /** What it cannot do, said next to its verdicts (nginx has no active health checks). */
  note?: string;
  /** Declared parameters it does not have. */
  undeclare?: string[];
  start(dir: string, port: number, backends: number[]): ChildProcess;
}

const nginxStream = (halfClose: boolean): Candidate['start'] => (dir, port, [a, b]) => {
  const file = path.join(dir, `nginx-${halfClose ? 'half' : 'default'}.conf`);
  writeFileSync(
    file,
    `load_module ${STREAM_MODULE};
daemon off;
worker_processes 1;
pid ${file}.pid;
error_log ${process.env.CONNLAB_NGINX_LOG ?? 'stderr'} ${process.env.CONNLAB_NGINX_LOG ? 'info' : 'error'};
events { worker_connections 4096; }
stream {
  upstream lb { server 127.0.0.1:${a} max_fails=1 fail_timeout=1s; server 127.0.0.1:${b} max_fails=1 fail_timeout=1s; }
  server {
    listen 127.0.0.1:${port};
    proxy_pass lb;
    proxy_connect_timeout ${TIMING.connectTimeout};
    proxy_timeout ${TIMING.idleTimeout};
    proxy_next_upstream on;
    ${halfClose ? 'proxy_half_close on;' : ''}
  }
}
`,
  );
  return spawn('/usr/sbin/nginx', ['-c', file, '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
};

const CANDIDATES: Candidate[] = [
  {
    name: 'connlab',
    start: (_dir, port, [a, b]) =>
      spawn(
        process.execPath,
        [BIN, 'balancer', '--port', String(port), '--backend', `127.0.0.1:${a}`, '--backend', `127.0.0.1:${b}`, '--connect-timeout', TIMING.connectTimeout, '--health-interval', TIMING.healthInterval, '--fall', String(TIMING.fall), '--rise', String(TIMING.rise), '--idle-timeout', TIMING.idleTimeout],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      ),
  },
  {
    name: 'haproxy',
    start: (dir, port, [a, b]) => {
      const file = path.join(dir, 'haproxy.cfg');
      writeFileSync(
        file,
        `global
  maxconn 4096
defaults
  mode tcp
  timeout connect ${TIMING.connectTimeout}
  timeout client ${TIMING.idleTimeout}
  timeout server ${TIMING.idleTimeout}
  retries 1
  option redispatch 1
listen lb
  bind 127.0.0.1:${port}
  balance roundrobin
  server a 127.0.0.1:${a} check inter ${TIMING.healthInterval} fall ${TIMING.fall} rise ${TIMING.rise}
  server b 127.0.0.1:${b} check inter ${TIMING.healthInterval} fall ${TIMING.fall} rise ${TIMING.rise}
`,
      );
      return spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
  { name: 'nginx', note: 'open-source nginx has no active health checks', undeclare: ['--health-interval', '--fall', '--rise'], start: nginxStream(false) },
  { name: 'nginx half-close', note: 'proxy_half_close on', undeclare: ['--health-interval', '--fall', '--rise'], start: nginxStream(true) },
];

function declaredFor(candidate: Candidate): string[] {
  const out: string[] = [];
  for (let i = 0; i < DECLARED.length; i += 2) if (!candidate.undeclare?.includes(DECLARED[i])) out.push(DECLARED[i], DECLARED[i + 1]);
  return out;
}

async function judge(candidate: Candidate, dir: string): Promise<CheckResult | string> {
  const first = await portBelowEphemeral();
  const backends = [first, await portBelowEphemeral([first])];
  const port = await portBelowEphemeral(backends);
  const child = candidate.start(dir, port, backends);
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  try {
    await waitForPort(port);
    const json = path.join(dir, `${candidate.name.replace(/\W+/g, '-')}.json`);
    const argv = [BIN, 'check', 'balancer', '--target', `127.0.0.1:${port}`, '--backend-ports', backends.join(','), ...declaredFor(candidate), '--json', json];
    process.stderr.write(`\n== ${candidate.name}: connlab check ${argv.slice(2).join(' ')}\n`);
    try {
      execFileSync(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    } catch {
      // exit 1: a spec failed; the verdicts are in the JSON
    }
    return existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')) as CheckResult) : `no result (${stderr.trim() || 'see above'})`;
  } catch (error) {
    return `did not start: ${(error as Error).message} ${stderr.trim()}`;
  } finally {
    child.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  execFileSync('bash', [path.join(ROOT, 'bench/install-tools.sh')], { stdio: 'inherit' });
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt > 0 ? process.argv[onlyAt + 1].split(',') : undefined;
  const candidates = CANDIDATES.filter((c) => !only || only.includes(c.name)).filter((c) => !c.name.startsWith('nginx') || existsSync(STREAM_MODULE));
  const dir = mkdtempSync(path.join(tmpdir(), 'connlab-check-balancers-'));
  const results = new Map<string, CheckResult | string>();
  try {
    for (const candidate of candidates) results.set(candidate.name, await judge(candidate, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ids = [...new Set([...results.values()].flatMap((r) => (typeof r === 'string' ? [] : r.specs.map((s) => s.id))))];
  const cell = (result: CheckResult | string | undefined, id: string): string => {
    if (typeof result !== 'object') return '-';
    const spec = result.specs.find((s) => s.id === id);
    return spec?.status === 'failed' ? 'FAILED' : spec?.status === 'skipped' ? (spec.reason?.startsWith('lib only') ? 'lib only' : 'skipped') : (spec?.status ?? '-');
  };
  const rows = ids.filter((id) => candidates.some((c) => !['lib only', '-'].includes(cell(results.get(c.name), id)))).map((id) => [id, ...candidates.map((c) => cell(results.get(c.name), id))]);
  const totals = candidates.map((c) => {
    const r = results.get(c.name);
    return typeof r === 'string' ? r : `${r!.summary.passed} passed, ${r!.summary.failed} failed`;
  });
  process.stdout.write(`\n${renderTable(['spec', ...candidates.map((c) => c.name)], [...rows, ['total', ...totals]])}\n`);
  for (const c of candidates) if (c.note) process.stdout.write(`${c.name}: ${c.note}\n`);
  process.stdout.write(`declared for every balancer: --backend-ports A,B ${DECLARED.join(' ')} (less what it does not have)\n`);
}

await main();
