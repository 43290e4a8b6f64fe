// The operating system's count of a process's sockets to or on a port: the TCP sockets this process owns
// (its /proc/self/fd links) matched against the kernel's table in /proc/net/tcp*. This is what the prior
// art read with netstat, without netstat.
//
// The table lists every socket of the machine's network namespace: tens of thousands on a busy host,
// megabytes of text. Only lines that mention the port are parsed, and the table is not read atomically
// (while it changes, a socket can be listed twice or missed), so sockets are counted once per inode and
// callers that need an exact figure poll until it settles.
import { socketCensus, socketInodes } from '../net/socket-table.ts';

export interface OwnSocketCount {
  /** ESTABLISHED sockets matched. */
  established: number;
  /** Every matched socket this process still owns, whatever its state (CLOSE_WAIT included). */
  total: number;
}

/** Counts this process's sockets whose local (`side` = 'local') or remote port is `port`. */
async function countOwn(side: 'local' | 'remote', port: number, pid: number | 'self'): Promise<OwnSocketCount> {
  const inodes = await socketInodes(pid);
  const census = await socketCensus(side === 'local' ? { localPort: port, inodes } : { remotePort: port, inodes });
  const total = Object.entries(census).reduce((sum, [state, n]) => (state === 'LISTEN' ? sum : sum + (n ?? 0)), 0);
  return { established: census.ESTABLISHED ?? 0, total };
}

/** A client's sockets to a server: those whose remote port is the server's. */
export function clientSocketCount(remotePort: number, pid: number | 'self' = 'self'): Promise<OwnSocketCount> {
  return countOwn('remote', remotePort, pid);
}

/** A server's side of its connections: sockets on its local port, the listening one left out. */
export function serverSocketCount(localPort: number, pid: number | 'self' = 'self'): Promise<OwnSocketCount> {
  return countOwn('local', localPort, pid);
}
