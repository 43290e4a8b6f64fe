// Memory of the balancer under slow readers, measured from outside: `connlab balancer` runs in its own
// process, a backend pushes SIZE bytes (1 GiB by default) through it to a client that stalls and then
// reads slowly, and then a client pushes SIZE bytes to a backend that does the same. The balancer's
// resident memory (VmRSS from /proc) is sampled throughout; with backpressure its peak stays near its
// idle size however large SIZE is. The spec family checks the same at 256 MiB / 64 MiB with in-process
// gauges; this is the full-size, separate-process version.
//
//   npm run bench:balancer-memory [-- --size 1GiB --rate 256MiB]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { parseSize, formatSize, parseHostPort } from '../lib/net/units.ts';
import { startNamedBackend, pushRandom } from '../fixtures/backends.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { size: { type: 'string', default: '1GiB' }, rate: { type: 'string', default: '256MiB' } } });
const size = parseSize(args.size);
const rate = parseSize(args.rate);

const rssOf = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
};

/** Stalls for a second, then reads at `rate` bytes per second until the end; resolves with the bytes read. */
function readSlowly(socket: net.Socket): Promise<number> {
  socket.pause();
  let bytes = 0;
  let started = 0;
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const ahead = started + (bytes / rate) * 1000 - Date.now();
      if (ahead > 1) {
        socket.pause();
        setTimeout(() => socket.resume(), ahead);
      }
    });
    socket.once('end', () => resolve(bytes));
    setTimeout(() => {
      started = Date.now();
      socket.resume();
    }, 1000);
  });
}

async function main(): Promise<void> {
  await using pushing = await startNamedBackend('a', { mode: 'push', pushBytes: size, chunkBytes: 1024 * 1024, greet: 'on-connect' });
  await using paused = await startNamedBackend('b', { mode: 'paused', greet: 'on-connect' });
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/connlab.js'), 'balancer', '--port', '0', '--backend', `127.0.0.1:${pushing.port}`, '--backend', `127.0.0.1:${paused.port}`, '--health-interval', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const { host, port } = parseHostPort(line.replace(/^listening on /, ''));
    const idle = rssOf(child.pid!);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(child.pid!))), 50);

    // Backend a pushes SIZE to a slow client.
    let started = Date.now();
    const toClient = net.connect({ host, port, allowHalfOpen: true });
    await once(toClient, 'connect');
    toClient.end();
    const read = await readSlowly(toClient);
    const toClientMs = Date.now() - started;
    const peakToClient = peak;

    // A client pushes SIZE to backend b, which reads slowly.
    started = Date.now();
    const toBackend = net.connect({ host, port, allowHalfOpen: true });
    await once(toBackend, 'connect');
    toBackend.resume();
    while (!paused.sessions.some((s) => !s.closed)) await new Promise((resolve) => setTimeout(resolve, 10));
    const session = paused.sessions.find((s) => !s.closed)!;
    const reading = readSlowly(session.socket);
    await pushRandom(toBackend, size, { sent: 0 }, 1024 * 1024);
    toBackend.end();
    const received = await reading;
    const toBackendMs = Date.now() - started;
    clearInterval(sampler);
    toClient.destroy();
    toBackend.destroy();

    const mib = (n: number): string => formatSize(n);
    process.stdout.write(
      `balancer RSS idle ${mib(idle)}\n` +
        `backend -> slow client: ${mib(read)} in ${toClientMs} ms, balancer RSS peak ${mib(peakToClient)} (+${mib(peakToClient - idle)})\n` +
        `client -> slow backend: ${mib(received)} in ${toBackendMs} ms, balancer RSS peak ${mib(peak)} (+${mib(peak - idle)})\n`,
    );
    if (read !== size + 2 || received !== size) process.exitCode = 1;
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

await main();
