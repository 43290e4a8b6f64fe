// Proves the package installs and judges on its own: `npm pack`, install the tarball into an empty
// folder (no clone beside it), and there run its `connlab check` for every family against lib/'s own
// implementation (exit 0) and against one broken fixture (exit 1), each writing JUnit and JSON that
// parse, and once against a port where nothing listens (exit 1 within seconds). `npm run test:packed`
// runs it, and so does .ci/run. The targets run from this clone; only the judge comes from the package.
// Every program it starts runs in a process group of its own, bounded in time and killed as a group, and
// the whole script is bounded too: a hang anywhere is a FAIL line with what was printed, never a stuck CI.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerHandle } from '../lib/net/types.ts';
import { createAckPerReadServer } from '../fixtures/broken-ack-servers.ts';
import { DECLARED_POOL, createLimitlessHelloServer, createSilentOnEmptyPrimeServer } from '../fixtures/pool-servers.ts';
import { startFixtureBalancer } from '../fixtures/broken-balancers.ts';
import { createAtMostKServer } from '../fixtures/capacity-servers.ts';
import { DECLARED_SLOW, createFlawedSlowServer } from '../fixtures/http-servers.ts';
import { closedPort, portBelowEphemeral } from '../fixtures/servers.ts';
import { readResult } from '../lib/results/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'connlab-packed-'));
const install = path.join(work, 'install');
const children: ChildProcess[] = [];
let failures = 0;
/** What one check may take, and what the whole script may (CI's budget is far above both). */
const CHECK_MS = 180_000;
const SCRIPT_MS = 15 * 60_000;
const START_MS = 30_000;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The installed `connlab` bin, run with this Node: not through npx, whose SIGTERM did not reach the
 * program it had started (seen here), which then held this script's stdout pipe, and so CI, open. */
const bin = (): string => path.join(install, 'node_modules/.bin/connlab');

/** Starts ARGS in a process group of its own, so that killing the group reaches every program it started. */
function startGroup(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [bin(), ...args], { cwd: install, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Starts `connlab ARGS --port 0` from the installed package; resolves with its address once it listens. */
async function startInstalled(args: string[]): Promise<{ host: string; port: number }> {
  current = `starting connlab ${args[0]}`;
  const child = startGroup([...args, '--port', '0']);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connlab ${args.join(' ')} did not listen within ${START_MS / 1000} s: ${stderr.trim()}`)), START_MS);
    createInterface({ input: child.stdout! }).on('line', (text) => /listening on/i.test(text) && (clearTimeout(timer), resolve(text)));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`connlab ${args.join(' ')} exited with ${code}: ${stderr.trim()}`))));
  });
  const match = /([\d.]+):(\d+)/.exec(line)!;
  return { host: match[1], port: Number(match[2]) };
}

/** Runs the installed `connlab ARGS` to its end or for at most `limitMs`, then kills its whole group. */
async function runInstalled(args: string[], limitMs: number): Promise<{ status: number; stdout: string; stderr: string; timedOut: boolean }> {
  const child = startGroup(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), killGroup(child, 'SIGKILL')), limitMs);
  // 'close', not 'exit': the output is whole only once the pipes are closed.
  const status = await new Promise<number>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  clearTimeout(timer);
  // Whatever it started and left behind goes with it.
  killGroup(child, 'SIGKILL');
  return { status, stdout, stderr, timedOut };
}

/** The installed `connlab check FAMILY ARGS`; checks its exit status, JUnit and JSON. */
async function check(name: string, family: string, args: string[], expectedExit: number): Promise<void> {
  const junit = path.join(work, `${name}.xml`);
  const json = path.join(work, `${name}.json`);
  const started = Date.now();
  // Asynchronously: the broken targets run in this process and must keep answering meanwhile.
  current = name;
  const run = await runInstalled(['check', family, ...args, '--junit', junit, '--json', json], CHECK_MS);
  const { status } = run;
  const out = run.timedOut ? `${run.stdout}${run.stderr}` : run.stdout;
  const problems: string[] = [];
  if (run.timedOut) problems.push(`no end within ${CHECK_MS / 1000} s: killed with everything it had started`);
  else if (status !== expectedExit) problems.push(`exit ${status}, expected ${expectedExit}`);
  const summary = out.trim().split('\n').at(-1) ?? '';
  if (expectedExit === 0 || !/cannot reach/.test(out)) {
    if (!existsSync(json)) problems.push('no JSON written');
    else {
      try {
        readResult(JSON.parse(readFileSync(json, 'utf8')), json);
      } catch (error) {
        problems.push(`JSON: ${(error as Error).message}`);
      }
    }
    const xml = existsSync(junit) ? readFileSync(junit, 'utf8') : '';
    if (!/^<\?xml[^>]*\?>\s*<testsuites[\s\S]*<\/testsuites>\s*$/.test(xml) || (xml.match(/<testcase /g) ?? []).length === 0) problems.push('JUnit missing or malformed');
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (problems.length > 0) failures++;
  say(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${name.padEnd(28)} exit ${status} in ${seconds}s: ${summary}${problems.length ? `\n     ${problems.join('; ')}\n${out}` : ''}`);
}

/** SIGTERM to the group, and SIGKILL if it has not exited 10 s later (the servers drain for at most 5 s). */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

let current = 'installing the package';

const at = (target: { host: string; port: number }): string[] => ['--target', `${target.host}:${target.port}`];

async function main(): Promise<void> {
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').at(-1)!;
  execFileSync('npm', ['init', '-y'], { cwd: work, stdio: 'ignore' });
  execFileSync('mkdir', ['-p', install]);
  execFileSync('npm', ['init', '-y'], { cwd: install, stdio: 'ignore' });
  execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(work, tarball)], { cwd: install, stdio: 'ignore' });
  say(`installed ${tarball} into ${install}`);
  const handles: ServerHandle[] = [];
  const keep = <T extends ServerHandle>(handle: T): T => (handles.push(handle), handle);
  try {
    // Nothing listening: one line and exit 1, at once.
    await check('unreachable', 'ack', ['--target', `127.0.0.1:${await closedPort()}`], 1);

    await check('ack lib', 'ack', at(await startInstalled(['ack-server'])), 0);
    await check('ack broken', 'ack', [...at(keep(await createAckPerReadServer())), '--only', 'TCP-ACK-001'], 1);

    const pool = ['--workers', String(DECLARED_POOL.workers), '--queue', String(DECLARED_POOL.queue), '--deadline', `${DECLARED_POOL.deadlineMs}ms`, '--work', `${DECLARED_POOL.workMs}ms`];
    await check('pool lib', 'pool', [...at(await startInstalled(['hello-server', ...pool])), ...pool], 0);
    await check('pool broken', 'pool', [...at(keep(await createLimitlessHelloServer())), ...pool, '--only', 'TCP-POOL-001'], 1);

    await check('prime lib', 'prime', at(await startInstalled(['prime-server'])), 0);
    await check('prime broken', 'prime', [...at(keep(await createSilentOnEmptyPrimeServer())), '--only', 'TCP-PRIME-004'], 1);

    const capacity = ['--expect-held', '40', '--hold', '1s'];
    await check('capacity lib', 'capacity', [...at(await startInstalled(['ack-server'])), ...capacity], 0);
    await check('capacity broken', 'capacity', [...at(keep(await createAtMostKServer(25))), ...capacity], 1);

    const slow = ['--delay', `${DECLARED_SLOW.delayMs}ms`, '--keep-alive', `${DECLARED_SLOW.keepAliveMs}ms`, '--max-requests', String(DECLARED_SLOW.maxRequests)];
    await check('http-server lib', 'http-server', [...at(await startInstalled(['slow-server', ...slow])), ...slow], 0);
    await check('http-server broken', 'http-server', [...at(keep(await createFlawedSlowServer({ idleCloseMs: 0 }))), ...slow], 1);

    const client = (flags: string): string => `'${process.execPath}' '${bin()}' http-client --url {url} --extra-probability 0 --quiet ${flags}`;
    await check('http-client lib', 'http-client', ['--command', client('--mode fixed --interval 20ms --requests 12 --connections 2'), '--max-sockets', '2'], 0);
    await check('http-client broken', 'http-client', ['--command', client('--mode faulty --interval 20ms --requests 12'), '--max-sockets', '6'], 1);

    const first = await portBelowEphemeral();
    const backends = [first, await portBelowEphemeral([first])];
    const timing = ['--connect-timeout', '500ms', '--health-interval', '100ms', '--fall', '2', '--rise', '2', '--idle-timeout', '2s'];
    const lb = await startInstalled(['balancer', '--backend', `127.0.0.1:${backends[0]}`, '--backend', `127.0.0.1:${backends[1]}`, ...timing]);
    await check('balancer lib', 'balancer', [...at(lb), '--backend-ports', backends.join(','), ...timing], 0);
    const broken = keep(await startFixtureBalancer({ backends, flaw: 'close-on-first-fin', connectTimeoutMs: 500, health: { intervalMs: 100, timeoutMs: 300, fall: 2, rise: 2 } }));
    await check('balancer broken', 'balancer', [...at(broken), '--backend-ports', backends.join(','), '--only', 'LB-HALF-001,LB-RR-001'], 1);
  } catch (error) {
    failures++;
    say(`FAIL ${current}: ${(error as Error).message}`);
  } finally {
    await Promise.all(children.map(stopGroup));
    await Promise.all(handles.map((handle) => handle.close()));
    rmSync(work, { recursive: true, force: true });
  }
  say(failures === 0 ? 'the packed package judges every family' : `${failures} check(s) did not come out as expected`);
  process.exitCode = failures === 0 ? 0 : 1;
}

// The last guard: whatever hangs, the script ends, says where, and takes its children with it.
setTimeout(() => {
  say(`FAIL test:packed did not end within ${SCRIPT_MS / 60_000} min; it was at: ${current}`);
  for (const child of children) killGroup(child, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
}, SCRIPT_MS).unref();

await main();
