// A client's own view of its sockets to a server, read from the operating system: the TCP sockets this
// process owns (its /proc/self/fd links) whose remote port is the server's. This is what the prior art's
// faulty client printed with netstat after each request, without netstat.
import { readSocketTable, socketInodes } from '../net/socket-table.ts';

export interface ClientSocketCount {
  /** ESTABLISHED sockets to the server's port. */
  established: number;
  /** Every socket to that port this process still owns, whatever its state (CLOSE_WAIT included). */
  total: number;
}

export async function clientSocketCount(remotePort: number, pid: number | 'self' = 'self'): Promise<ClientSocketCount> {
  const [inodes, table] = await Promise.all([socketInodes(pid), readSocketTable()]);
  let established = 0;
  let total = 0;
  for (const entry of table) {
    if (entry.remotePort !== remotePort || !inodes.has(entry.inode)) continue;
    total++;
    if (entry.state === 'ESTABLISHED') established++;
  }
  return { established, total };
}
