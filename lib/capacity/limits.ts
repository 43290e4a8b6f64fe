// The operating-system limits a capacity run meets, read from the kernel, and what to say when one
// says no: open files per process, the ephemeral port range per source address, TIME_WAIT leftovers.
import { readFileSync } from 'node:fs';
import { limitHint } from '../net/errors.ts';
import type { ErrorCounts } from '../net/types.ts';
import { readSocketTable } from '../net/socket-table.ts';

export interface OsLimits {
  /** RLIMIT_NOFILE of this process (`ulimit -n`); null where /proc is missing. */
  openFiles: { soft: number; hard: number } | null;
  /** net.ipv4.ip_local_port_range: the local ports one source address can use towards one server port. */
  ephemeralPorts: { low: number; high: number } | null;
}

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

export interface LimitHit {
  code: string;
  count: number;
  /** Which limit it is and how to raise it. */
  hint: string;
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

export interface TimeWaitCount {
  /** Our side's sockets to the target port in TIME_WAIT (we closed first). */
  client: number;
  /** The server's side on this machine in TIME_WAIT (the server closed first). */
  server: number;
}

/** TIME_WAIT sockets on this machine whose remote (client side) or local (server side) port is `port`. */
export async function countTimeWait(port: number): Promise<TimeWaitCount> {
  const counts = { client: 0, server: 0 };
  for (const entry of await readSocketTable({ port })) {
    if (entry.state !== 'TIME_WAIT') continue;
    if (entry.remotePort === port) counts.client++;
    else if (entry.localPort === port) counts.server++;
  }
  return counts;
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
