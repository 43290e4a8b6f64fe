// Judging an HTTP client by its command line (`connlab check http-client --command 'CMD {url}'`): a slow
// HTTP server on a free loopback port that records every connection (when it opened, each response on it,
// when it closed), the command run once with {url} (and $CONNLAB_URL) pointing at it, and the OS's count of
// connections to the server sampled throughout. Every spec of the family judges one aspect of the same run.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { execa } from 'execa';
import { serve } from '../../lib/net/listen.ts';
import { socketCensus } from '../../lib/net/socket-table.ts';
import { formatHostPort } from '../../lib/net/units.ts';
import { declaredParameters } from './targets.ts';
import { scaled } from './time.ts';

export interface ConnectionRecord {
  openedAt: number;
  /** When each request on it arrived. */
  requests: number[];
  /** When each response on it was written whole. */
  responses: number[];
  closedAt?: number;
}

export interface ClientRun {
  command: string;
  exitCode: number;
  stderr: string;
  /** Requests the server received and answered. */
  requests: number;
  responded: number;
  connections: ConnectionRecord[];
  /** The most connections the server saw open at once (its own count and the OS's, the larger). */
  peakOpen: number;
  /** Connections still open on the server a moment after the command exited. */
  openAfterExit: number;
  /** When the command exited (performance.now()). */
  exitedAt: number;
}

export const DEFAULT_COMMAND_DELAY_MS = 50;
export const DEFAULT_KEEP_ALIVE_MS = 120_000;

/** The slow server a client command is run against: a delay, keep-alive kept and advertised, connections recorded. */
async function startRecordingServer(delayMs: number, keepAliveMs: number): Promise<{ url: string; port: number; records: ConnectionRecord[]; counts: { requests: number; responded: number }; open(): number; close(): Promise<void> }> {
  const records: ConnectionRecord[] = [];
  const bySocket = new Map<Socket, ConnectionRecord>();
  const counts = { requests: 0, responded: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer({ keepAlive: true }, (req: IncomingMessage, res: ServerResponse) => {
    counts.requests++;
    bySocket.get(req.socket)?.requests.push(performance.now());
    req.resume();
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
      res.end('ok', () => {
        counts.responded++;
        bySocket.get(req.socket)?.responses.push(performance.now());
      });
    }, delayMs);
    timers.add(timer);
  });
  server.keepAliveTimeout = keepAliveMs;
  server.headersTimeout = keepAliveMs + 1000;
  server.on('connection', (socket: Socket) => {
    const record: ConnectionRecord = { openedAt: performance.now(), requests: [], responses: [] };
    records.push(record);
    bySocket.set(socket, record);
    socket.once('close', () => {
      record.closedAt = performance.now();
      bySocket.delete(socket);
    });
  });
  const handle = await serve(server, {}, { onClosed: () => timers.forEach(clearTimeout) });
  return {
    url: `http://${formatHostPort(handle.host, handle.port)}/`,
    port: handle.port,
    records,
    counts,
    open: () => bySocket.size,
    close: () => handle.close(),
  };
}

const observed = new Map<string, Promise<ClientRun>>();

/**
 * Runs a command once against the recording server and observes it: the declared command when a client
 * is judged (every spec awaits the same run: it is the target, and each spec judges its own aspect of it),
 * or `libCommand`, lib/'s own client run the way the spec needs, when judging lib/.
 */
export function observeClientCommand(libCommand: string): Promise<ClientRun> {
  const declared = declaredParameters('http-client');
  const template = declared.command === undefined ? libCommand : String(declared.command);
  let run = observed.get(template);
  if (!run) observed.set(template, (run = runClientCommand(template)));
  return run;
}

/**
 * Runs a client's command line with bash in a process group of its own, for at most two minutes: at the
 * end the whole group is killed, since a signal to bash alone would leave the programs it started
 * running and holding its output open.
 */
async function runShell(command: string, url: string): Promise<{ exitCode: number; stderr: string; pid?: number }> {
  const child = execa('bash', ['-c', command], { env: { CONNLAB_URL: url }, reject: false, stdin: 'ignore', detached: true });
  const timer = setTimeout(() => killGroup(child.pid), scaled(120_000));
  const run = await child;
  clearTimeout(timer);
  return { exitCode: run.exitCode ?? -1, stderr: String(run.stderr), pid: child.pid };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Nothing of it is left.
  }
}

async function runClientCommand(template: string): Promise<ClientRun> {
  const declared = declaredParameters('http-client');
  const delayMs = Number(declared.delay ?? DEFAULT_COMMAND_DELAY_MS);
  const keepAliveMs = Number(declared['keep-alive'] ?? DEFAULT_KEEP_ALIVE_MS);
  const server = await startRecordingServer(delayMs, keepAliveMs);
  const command = template.replaceAll('{url}', server.url);
  let peakOpen = 0;
  let sampling = true;
  // The OS's count beside the server's own: a connection the kernel holds is one, whatever the server saw.
  const sampler = (async () => {
    while (sampling) {
      const os = (await socketCensus({ localPort: server.port })).ESTABLISHED ?? 0;
      peakOpen = Math.max(peakOpen, os, server.open());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const run = await runShell(command, server.url);
  const exitedAt = performance.now();
  // A moment for the kernel to pass on the closes of an exiting process.
  const settleBy = performance.now() + scaled(1000);
  while (server.open() > 0 && performance.now() < settleBy) await new Promise((resolve) => setTimeout(resolve, 20));
  sampling = false;
  await sampler;
  const result: ClientRun = {
    command,
    exitCode: run.exitCode ?? -1,
    stderr: String(run.stderr).slice(-2000),
    requests: server.counts.requests,
    responded: server.counts.responded,
    connections: server.records.map((r) => ({ ...r, requests: [...r.requests], responses: [...r.responses] })),
    peakOpen,
    openAfterExit: server.open(),
    exitedAt,
  };
  // What the command left running goes now that it has been counted.
  killGroup(run.pid);
  await server.close();
  return result;
}

/**
 * How long each connection sat idle while the command ran: from each response to the next request on it,
 * or to its close (or the command's exit, which closes it).
 */
export function idlePeriods(run: ClientRun): number[] {
  const periods: number[] = [];
  for (const c of run.connections) {
    c.responses.forEach((answeredAt, i) => {
      const next = c.requests[i + 1] ?? Math.min(c.closedAt ?? run.exitedAt, run.exitedAt);
      periods.push(next - answeredAt);
    });
  }
  return periods;
}

/** A command's run against the stale keep-alive server: what it did when a reused connection was reset. */
export interface StaleRaceRun {
  command: string;
  exitCode: number;
  stderr: string;
  /** How long after each response the server forgot its connection. */
  staleAfterMs: number;
  /** Each connection the client opened: when, the requests it carried, and when it was reset. */
  connections: Array<{ openedAt: number; requests: number[]; resetAt?: number }>;
}

const staleRaces = new Map<string, Promise<StaleRaceRun>>();

/**
 * Runs a command once against a keep-alive server that forgets each connection `staleAfterMs` after
 * its response without a FIN (fixtures/http-servers.ts), so the client's next request on it is reset:
 * the stale keep-alive race, made to happen every time a connection is reused after a pause.
 */
export function observeStaleRace(libCommand: string, staleAfterMs: number): Promise<StaleRaceRun> {
  const declared = declaredParameters('http-client');
  const template = declared.command === undefined ? libCommand : String(declared.command);
  let run = staleRaces.get(template);
  if (!run) staleRaces.set(template, (run = runAgainstStaleServer(template, staleAfterMs)));
  return run;
}

async function runAgainstStaleServer(template: string, staleAfterMs: number): Promise<StaleRaceRun> {
  const { createStaleKeepAliveServer } = await import('../../fixtures/http-servers.ts');
  await using server = await createStaleKeepAliveServer({ idleMs: staleAfterMs, body: 'ok' });
  const url = `http://${formatHostPort(server.host, server.port)}/`;
  const command = template.replaceAll('{url}', url);
  const run = await runShell(command, url);
  killGroup(run.pid);
  return { command, exitCode: run.exitCode ?? -1, stderr: String(run.stderr).slice(-2000), staleAfterMs, connections: server.history() };
}
