// Shared pieces of the benchmarks: installing and starting the reference programs (nginx, wrk) on
// loopback with their own temporary configs, running connlab commands as processes, and printing ratios.
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';
import { createInterface } from 'node:readline';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/connlab.js');

/** Runs bench/install-tools.sh, which installs nginx, HAProxy and wrk if they are missing. */
export async function installTools(): Promise<void> {
  await execa('bash', [path.join(ROOT, 'bench/install-tools.sh')], { stdio: 'inherit' });
}

export interface Running {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts nginx on a free loopback port with the config `conf(dir, port)` writes (its pid, logs and temp
 * paths in `dir`), and resolves once it accepts connections.
 */
export async function startNginx(conf: (dir: string, port: number) => string): Promise<Running> {
  const dir = await mkdtemp(path.join(tmpdir(), 'connlab-nginx-'));
  const port = await getPort({ host: '127.0.0.1' });
  await writeFile(path.join(dir, 'nginx.conf'), conf(dir, port));
  const child = execa('/usr/sbin/nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { reject: false });
  await waitForPort(port);
  return {
    port,
    stop: async () => {
      child.kill('SIGQUIT');
      await child;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The temp paths nginx wants in its http block, all inside `dir`. */
export const nginxTempPaths = (dir: string): string =>
  `client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`;

/** Starts nginx with one worker on a free loopback port, answering `ok` to every request. */
export function startNginxOk(): Promise<Running> {
  return startNginx(
    (dir, port) => `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${nginxTempPaths(dir)}
  keepalive_requests 1000000;
  server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }
}`,
  );
}

/** Starts `connlab <server command> --port 0 ...` and resolves with its port once it listens. */
export async function startConnlabServer(args: string[]): Promise<Running & { child: ResultPromise }> {
  const child = execa('node', [BIN, ...args, '--port', '0'], { reject: false, buffer: false, stdin: 'ignore', stderr: 'ignore' });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`connlab ${args[0]} exited with ${code}`)));
  });
  const port = Number(/:(\d+)$/.exec(line)?.[1]);
  return {
    port,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await child;
    },
  };
}

/** Runs wrk for `seconds` with `connections` on one thread; returns requests per second. */
export async function wrk(url: string, connections: number, seconds: number, extraArgs: string[] = []): Promise<number> {
  const { stdout } = await execa('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, ...extraArgs, url]);
  const match = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!match) throw new Error(`wrk printed no rate:\n${stdout}`);
  return Number(match[1]);
}

/** Runs a connlab measuring command with --json and returns the parsed result. */
export async function connlabJson<T>(args: string[]): Promise<T> {
  const { stdout } = await execa('node', [BIN, ...args, '--json', '--quiet'], { reject: false });
  return JSON.parse(stdout) as T;
}

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const net = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Median of repeated measurements, to damp the noise of a shared two-core machine. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function ratioLine(name: string, value: number, reference: number, target?: number): string {
  const ratio = value / reference;
  const verdict = target === undefined ? '' : ratio >= target ? `  (target ${target}: met)` : `  (target ${target}: NOT met)`;
  return `${name.padEnd(44)} ${value.toFixed(0).padStart(9)}  ratio ${ratio.toFixed(2)}${verdict}`;
}
