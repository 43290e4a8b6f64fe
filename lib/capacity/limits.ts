// The operating-system limits a capacity run meets, read from the kernel, and what to say when one
// says no: open files per process, the ephemeral port range per source address, TIME_WAIT leftovers.
import { readFileSync } from 'node:fs';
import { limitHint } from '../net/errors.ts';
import type { ErrorCounts } from '../net/types.ts';
import { readSocketTable, readSocketTableTimed, type SocketEntry } from '../net/socket-table.ts';
import type { LimitHit, OsLimits, TimeWaitCount } from '../results/capacity.ts';

export type { LimitHit, OsLimits, TimeWaitCount };

/** File descriptors a process keeps for itself (stdio, the event loop, IPC, the loader) before dialing. */
export const RESERVED_FDS = 100;

export function readOsLimits(): OsLimits {
  let openFiles: OsLimits['openFiles'] = null;
  let ephemeralPorts: OsLimits['ephemeralPorts'] = null;
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (match) {
      const value = (text: string): number => (text === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(text));
      openFiles = { soft: value(match[1]), hard: value(match[2]) };
    }
  } catch {
    // not Linux
  }
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    ephemeralPorts = { low, high };
  } catch {
    // not Linux
  }
  return { openFiles, ephemeralPorts };
}

/** How many connections one process may hold under its file limit. */
export function connectionsPerProcess(limits: OsLimits = readOsLimits()): number {
  return limits.openFiles ? Math.max(1, limits.openFiles.soft - RESERVED_FDS) : Number.MAX_SAFE_INTEGER;
}

/** The OS limits a run's errors point at, with how to raise each. */
export function limitsHit(errors: ErrorCounts, limits: OsLimits = readOsLimits()): LimitHit[] {
  const hits: LimitHit[] = [];
  for (const [code, count] of Object.entries(errors)) {
    if (code === 'ECONNREFUSED') continue; // a server's answer, not a limit of this machine
    const hint = limitHint(code);
    if (!hint) continue;
    let detail = hint;
    if (code === 'EMFILE' && limits.openFiles) detail = `open files per process is ${limits.openFiles.soft} (hard ${limits.openFiles.hard}): ${hint}`;
    if (code === 'EADDRNOTAVAIL' && limits.ephemeralPorts) {
      const { low, high } = limits.ephemeralPorts;
      detail = `local ports ${low}-${high} give ${high - low + 1} connections per source address and server port: ${hint}`;
    }
    hits.push({ code, count, hint: detail });
  }
  return hits;
}

/**
 * The TIME_WAIT sockets on a port before a run: for each one's pair, the latest its 60 s can run out,
 * on performance.now()'s clock.
 */
export interface TimeWaitBaseline {
  expiresBy: Map<string, number>;
}

const pairOf = (entry: SocketEntry): string => `${entry.localAddress}:${entry.localPort}>${entry.remoteAddress}:${entry.remotePort}`;

/** /proc prints timers in 10 ms ticks, truncated: what is left is up to one tick more than it shows. */
const TIMER_TICK_MS = 10;
/**
 * The kernel counts what is left from its jiffies, which trail the clock by up to one (10 ms at
 * HZ=100, the coarsest; 4 ms here), so a timer can show up to that much more than is left; and a few ms
 * for the two clocks' own reading.
 */
const CLOCK_SLACK_MS = 15;

/** Reads the TIME_WAIT sockets on `port` before a run, for `countTimeWait` to leave out afterwards. */
export async function timeWaitBaseline(port: number): Promise<TimeWaitBaseline> {
  const expiresBy = new Map<string, number>();
  for (const entry of readSocketTableTimed({ port })) {
    if (entry.state === 'TIME_WAIT') expiresBy.set(pairOf(entry), entry.readTo + entry.timerMs + TIMER_TICK_MS);
  }
  return Promise.resolve({ expiresBy });
}

/**
 * TIME_WAIT sockets on this machine whose remote (client side) or local (server side) port is `port`,
 * that the run since `before` left: a socket on a pair that was not in TIME_WAIT then, or one on a pair
 * that was whose 60 s started over (the run used the pair again: the kernel lets a connection from a
 * port bound by hand take over a pair in TIME_WAIT at once). Neither a count taken before and after (a
 * run right after another takes over the pairs the first one left, so the number can stay the same
 * while every one of them is new) nor the timers alone (the first run's last sockets, closed a few ms
 * before the second run began, have as much left as the second run's first) can tell; the time each
 * timer runs out can, when a pair's two closes are more than about 40 ms apart (the slack above, and
 * the length of one read). Closer than that, the later close is taken for the earlier one.
 */
export async function countTimeWait(port: number, before: TimeWaitBaseline): Promise<TimeWaitCount> {
  // A socket we closed reaches TIME_WAIT only once the server answered our FIN: let those settle
  // (after resets nothing is mid-close, and this returns at its first look).
  await waitForClosesToSettle(port, 1000);
  const counts = { client: 0, server: 0 };
  for (const entry of readSocketTableTimed({ port })) {
    if (entry.state !== 'TIME_WAIT') continue;
    const expiredBy = before.expiresBy.get(pairOf(entry));
    // The earliest this socket's timer can run out: if not after the latest the one at the baseline could, it is that one.
    if (expiredBy !== undefined && entry.readFrom + entry.timerMs - CLOCK_SLACK_MS <= expiredBy) continue;
    if (entry.remotePort === port) counts.client++;
    else if (entry.localPort === port) counts.server++;
  }
  return counts;
}

/** Sockets left in TIME_WAIT on this machine from which a run warns that they starve the next one. */
export const TIME_WAIT_WARNING = 1000;

/** What a run says about the TIME_WAIT sockets it left on this machine, when they are many. */
export function timeWaitWarnings(sides: TimeWaitCount): string[] {
  if (sides.client < TIME_WAIT_WARNING) return [];
  return [
    `this run left ${sides.client} sockets in TIME_WAIT on this machine for 60 s: they hold local ports that the next run ` +
      '(and other programs) dialing the same target from the same addresses cannot use; --close reset leaves none',
  ];
}

const CLOSING_STATES = new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'LAST_ACK']);

/**
 * Waits (up to `timeoutMs`) until no socket to `port` is still mid-close, so a TIME_WAIT count taken
 * afterwards is final: a socket we closed reaches TIME_WAIT only once the server answered our FIN.
 */
export async function waitForClosesToSettle(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 5; Date.now() < deadline; pause = Math.min(100, pause * 2)) {
    const table = await readSocketTable({ port });
    if (!table.some((entry) => entry.remotePort === port && CLOSING_STATES.has(entry.state))) return;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
