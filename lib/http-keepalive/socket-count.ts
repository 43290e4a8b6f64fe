// The operating system's count of a process's sockets to or on a port: the TCP sockets this process owns
// (its /proc/self/fd links) matched against the kernel's table in /proc/net/tcp*. This is what the prior
// art read with netstat, without netstat. A large table is not read atomically: while it changes, a
// socket can be listed twice or missed, so it is read twice and counted once per inode, and callers that
// need an exact figure still poll until it settles.
import { readSocketTable, socketInodes, type SocketEntry } from '../net/socket-table.ts';

export interface OwnSocketCount {
  /** ESTABLISHED sockets matched. */
  established: number;
  /** Every matched socket this process still owns, whatever its state (CLOSE_WAIT included). */
  total: number;
}

async function countOwn(match: (entry: SocketEntry) => boolean, pid: number | 'self'): Promise<OwnSocketCount> {
  const inodes = await socketInodes(pid);
  // Two readings, merged by inode (the later one's state wins): a socket missed by one is caught by the other.
  const mine = new Map<number, SocketEntry>();
  for (let reading = 0; reading < 2; reading++) {
    for (const entry of await readSocketTable()) if (inodes.has(entry.inode) && match(entry)) mine.set(entry.inode, entry);
  }
  let established = 0;
  for (const entry of mine.values()) if (entry.state === 'ESTABLISHED') established++;
  return { established, total: mine.size };
}

/** A client's sockets to a server: those whose remote port is the server's. */
export function clientSocketCount(remotePort: number, pid: number | 'self' = 'self'): Promise<OwnSocketCount> {
  return countOwn((entry) => entry.remotePort === remotePort, pid);
}

/** A server's side of its connections: sockets on its local port, the listening one left out. */
export function serverSocketCount(localPort: number, pid: number | 'self' = 'self'): Promise<OwnSocketCount> {
  return countOwn((entry) => entry.localPort === localPort && entry.state !== 'LISTEN', pid);
}
