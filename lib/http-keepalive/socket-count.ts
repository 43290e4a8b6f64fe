// The operating system's count of a process's sockets to or on a port: the TCP sockets this process owns
// (its /proc/self/fd links) matched against the kernel's table in /proc/net/tcp*. This is what the prior
// art read with netstat, without netstat.
//
// The table lists every socket of the machine's network namespace: tens of thousands on a busy host,
// megabytes of text. Only lines that mention the port are parsed, and the table is not read atomically
// (while it changes, a socket can be listed twice or missed), so sockets are counted once per inode and
// callers that need an exact figure poll until it settles.
import { readFile } from 'node:fs/promises';
import { socketInodes, TCP_STATES } from '../net/socket-table.ts';

export interface OwnSocketCount {
  /** ESTABLISHED sockets matched. */
  established: number;
  /** Every matched socket this process still owns, whatever its state (CLOSE_WAIT included). */
  total: number;
}

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'latin1');
  } catch {
    return '';
  }
}

/** Counts this process's sockets whose local (`side` = 'local') or remote port is `port`. */
async function countOwn(side: 'local' | 'remote', port: number, pid: number | 'self'): Promise<OwnSocketCount> {
  const [inodes, v4, v6] = await Promise.all([socketInodes(pid), readOptional('/proc/net/tcp'), readOptional('/proc/net/tcp6')]);
  const needle = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const states = new Map<number, string>();
  for (const text of [v4, v6]) {
    let from = 0;
    for (let hit = text.indexOf(needle, from); hit !== -1; hit = text.indexOf(needle, from)) {
      const start = text.lastIndexOf('\n', hit) + 1;
      const end = text.indexOf('\n', hit);
      from = end === -1 ? text.length : end;
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = text.slice(start, from).trim().split(/\s+/);
      if (fields.length < 10) continue;
      const portHex = (side === 'local' ? fields[1] : fields[2]).split(':')[1];
      if (Number.parseInt(portHex, 16) !== port) continue;
      const inode = Number(fields[9]);
      if (!inodes.has(inode)) continue;
      states.set(inode, TCP_STATES[fields[3] as keyof typeof TCP_STATES] ?? 'CLOSE');
    }
  }
  let established = 0;
  let total = 0;
  for (const state of states.values()) {
    if (state === 'LISTEN') continue;
    total++;
    if (state === 'ESTABLISHED') established++;
  }
  return { established, total };
}

/** A client's sockets to a server: those whose remote port is the server's. */
export function clientSocketCount(remotePort: number, pid: number | 'self' = 'self'): Promise<OwnSocketCount> {
  return countOwn('remote', remotePort, pid);
}

/** A server's side of its connections: sockets on its local port, the listening one left out. */
export function serverSocketCount(localPort: number, pid: number | 'self' = 'self'): Promise<OwnSocketCount> {
  return countOwn('local', localPort, pid);
}
