// The kernel's own view of TCP sockets, read from /proc/net/tcp and /proc/net/tcp6 (Linux).
// Servers and clients count their sockets themselves; this is the independent check the specs and the
// census lines compare against, with no netstat or ss needed.
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';

export const TCP_STATES = {
  '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING',
} as const;
export type TcpState = (typeof TCP_STATES)[keyof typeof TCP_STATES];

export interface SocketEntry {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  state: TcpState;
  /** Bytes sent and not yet acknowledged by the peer (Send-Q). */
  txQueue: number;
  /** Bytes received that the owner has not read yet (Recv-Q): a process that stopped reading leaves them here. */
  rxQueue: number;
  /** 0 for sockets no process owns any more (TIME_WAIT). */
  inode: number;
  /** What is left of the socket's running timer, in ms (for TIME_WAIT: until it is gone); 0 with none. */
  timerMs: number;
}

/** The kernel prints timers in clock ticks (USER_HZ), 100 a second on Linux. */
const TICKS_PER_SECOND = 100;

function parseIPv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

function parseIPv6(hex: string): string {
  const bytes: number[] = [];
  for (let word = 0; word < 4; word++) {
    const n = Number.parseInt(hex.slice(word * 8, word * 8 + 8), 16);
    bytes.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  const isMappedV4 = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (isMappedV4) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return compressIPv6(groups);
}

/** Writes the longest run of zero groups as `::`, as people write IPv6 addresses. */
function compressIPv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

function parseLine(line: string, v6: boolean): SocketEntry | undefined {
  // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
  const fields = line.trim().split(/\s+/);
  if (fields.length < 10 || !fields[0].endsWith(':')) return undefined;
  const [localHex, localPortHex] = fields[1].split(':');
  const [remoteHex, remotePortHex] = fields[2].split(':');
  const parse = v6 ? parseIPv6 : parseIPv4;
  return {
    localAddress: parse(localHex),
    localPort: Number.parseInt(localPortHex, 16),
    remoteAddress: parse(remoteHex),
    remotePort: Number.parseInt(remotePortHex, 16),
    state: TCP_STATES[fields[3] as keyof typeof TCP_STATES] ?? 'CLOSE',
    txQueue: Number.parseInt(fields[4].split(':')[0], 16),
    rxQueue: Number.parseInt(fields[4].split(':')[1] ?? '0', 16),
    inode: Number(fields[9]),
    timerMs: fields[5].startsWith('00:') ? 0 : (Number.parseInt(fields[5].split(':')[1] ?? '0', 16) * 1000) / TICKS_PER_SECOND,
  };
}

/**
 * Parses a table's lines; with `port`, only lines that mention it (a busy host's table runs to
 * megabytes, and most of it is other ports).
 */
function parseTable(text: string, v6: boolean, port?: number): SocketEntry[] {
  const entries: SocketEntry[] = [];
  if (port === undefined) {
    for (const line of text.split('\n')) {
      const entry = parseLine(line, v6);
      if (entry) entries.push(entry);
    }
    return entries;
  }
  const needle = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  let from = 0;
  for (let hit = text.indexOf(needle); hit !== -1; hit = text.indexOf(needle, from)) {
    const start = text.lastIndexOf('\n', hit) + 1;
    const end = text.indexOf('\n', hit);
    from = end === -1 ? text.length : end;
    const entry = parseLine(text.slice(start, from), v6);
    if (entry) entries.push(entry);
  }
  return entries;
}

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'latin1');
  } catch {
    return '';
  }
}

/** Entries that name the same socket twice (the kernel listed it again while the table changed) dropped. */
function withoutDuplicates<T extends SocketEntry>(entries: T[]): T[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const key = `${entry.localAddress}|${entry.localPort}|${entry.remoteAddress}|${entry.remotePort}|${entry.inode}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Every TCP socket of this network namespace, IPv4 and IPv6 (only those on `port`, local or remote,
 * when given). The kernel does not hand the table out atomically: while it changes, a socket can be
 * listed twice or missed. Duplicates are dropped here; callers that need an exact count poll until
 * it settles.
 */
export async function readSocketTable(options: { port?: number } = {}): Promise<SocketEntry[]> {
  const [v4, v6] = await Promise.all([readOptional('/proc/net/tcp'), readOptional('/proc/net/tcp6')]);
  return withoutDuplicates([...parseTable(v4, false, options.port), ...parseTable(v6, true, options.port)]);
}

/** A socket entry with when its line was written, on performance.now()'s clock: between readFrom and readTo. */
export interface TimedSocketEntry extends SocketEntry {
  readFrom: number;
  readTo: number;
}

/** How much of a table one read asks for: the kernel writes the lines a read asks for while it runs. */
const TIMED_READ_BYTES = 64 * 1024;

/** Reads one table into `into`; returns the longest a read that gave entries took, in ms. */
function readTimedTable(path: string, v6: boolean, port: number | undefined, into: TimedSocketEntry[]): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 0;
  }
  const buffer = Buffer.allocUnsafe(TIMED_READ_BYTES);
  let longest = 0;
  // The start of a line the last read cut off, and when that read began.
  let carry = '';
  let carryFrom = 0;
  try {
    for (;;) {
      const from = performance.now();
      const bytes = readSync(fd, buffer, 0, buffer.length, null);
      const to = performance.now();
      const text = carry + buffer.toString('latin1', 0, bytes);
      const end = bytes === 0 ? text.length : text.lastIndexOf('\n') + 1;
      const readFrom = carry ? carryFrom : from;
      const entries = parseTable(text.slice(0, end), v6, port);
      for (const entry of entries) into.push({ ...entry, readFrom, readTo: to });
      if (entries.length > 0) longest = Math.max(longest, to - readFrom);
      if (bytes === 0) return longest;
      carry = text.slice(end);
      carryFrom = end === 0 ? readFrom : from;
    }
  } finally {
    closeSync(fd);
  }
}

/** A read longer than this was held up (the thread descheduled, a page fault): its lines' times are loose. */
const HELD_UP_READ_MS = 5;
/** Reads of the whole table, at most, to get one whose reads of the lines asked for were none held up. */
const TIMED_READ_TRIES = 3;

/**
 * readSocketTable's entries, each marked with the interval in which the kernel wrote its line (so a
 * timer it shows was what was left at a known time, within the length of one read: a fraction of a
 * millisecond). A table whose reads of those lines were held up is read again (three tries, the
 * tightest kept). It reads synchronously, blocking this thread for about 1.6 ms per 1,000 sockets on
 * the machine (32 ms for 20,000 here): for a count at a run's start or end, not for polling. An
 * asynchronous read leaves the event loop and the thread pool between its reads, which stretched
 * that interval to 130 ms at 20,000 sockets.
 */
export function readSocketTableTimed(options: { port?: number } = {}): TimedSocketEntry[] {
  let best: { entries: TimedSocketEntry[]; longest: number } | undefined;
  for (let tries = 0; tries < TIMED_READ_TRIES && !(best && best.longest <= HELD_UP_READ_MS); tries++) {
    const entries: TimedSocketEntry[] = [];
    const longest = Math.max(readTimedTable('/proc/net/tcp', false, options.port, entries), readTimedTable('/proc/net/tcp6', true, options.port, entries));
    if (!best || longest < best.longest) best = { entries, longest };
  }
  return withoutDuplicates(best!.entries);
}

/** Socket inodes owned by a process (this one by default), from its /proc/PID/fd links. */
export async function socketInodes(pid: number | 'self' = 'self'): Promise<Set<number>> {
  const inodes = new Set<number>();
  const dir = `/proc/${pid}/fd`;
  let fds: string[] = [];
  try {
    fds = await readdir(dir);
  } catch {
    return inodes;
  }
  await Promise.all(
    fds.map(async (fd) => {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(await readlink(`${dir}/${fd}`));
        if (match) inodes.add(Number(match[1]));
      } catch {
        // the fd closed while we looked
      }
    }),
  );
  return inodes;
}

export interface CensusQuery {
  /** Sockets whose local port is this (the server's side of its connections). */
  localPort?: number;
  /** Sockets whose remote port is this (a client's side of its connections to a server). */
  remotePort?: number;
  /** Only sockets owned by these inodes (see socketInodes). */
  inodes?: Set<number>;
}

/** Counts sockets by state that match a query, e.g. the ESTABLISHED connections on a server's port. */
export async function socketCensus(query: CensusQuery): Promise<Partial<Record<TcpState, number>>> {
  const counts: Partial<Record<TcpState, number>> = {};
  for (const entry of await readSocketTable({ port: query.localPort ?? query.remotePort })) {
    if (query.localPort !== undefined && entry.localPort !== query.localPort) continue;
    if (query.remotePort !== undefined && entry.remotePort !== query.remotePort) continue;
    if (query.inodes && !query.inodes.has(entry.inode)) continue;
    if (entry.state === 'LISTEN' && query.remotePort === undefined && query.localPort !== undefined) continue;
    counts[entry.state] = (counts[entry.state] ?? 0) + 1;
  }
  return counts;
}
