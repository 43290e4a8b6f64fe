// The benchmark's target: a TCP server that accepts and keeps connections, in several processes
// sharing one listening socket (cluster, SCHED_NONE: each worker accepts for itself), because one
// process may hold only `ulimit -n` of them. Connections are held as raw handles, never read. Prints `listening on HOST:PORT` once every worker listens;
// SIGTERM resets what is open (no TIME_WAIT left behind) and exits.
//   node --import tsx bench/capacity-target.ts [workers] [port]
import cluster from 'node:cluster';
import net from 'node:net';

const workers = Number(process.argv[2] ?? 10);
const port = Number(process.argv[3] ?? 0);
const PER_PROCESS = 18_000;

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let listening = 0;
  let address = '';
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork();
    worker.on('listening', (a) => {
      address = `${a.address ?? '127.0.0.1'}:${a.port}`;
      if (++listening === workers) process.stdout.write(`listening on ${address}\n`);
    });
  }
  const stop = (): void => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
} else {
  // Accepted connections stay raw libuv handles: a net.Socket each would make the target, not the
  // clients being compared, the bottleneck of the open rate.
  interface RawHandle {
    reset(): number;
    close(): void;
  }
  const held: RawHandle[] = [];
  const server = net.createServer();
  server.on('error', (error) => process.stderr.write(`[target] ${error.message}\n`));
  server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
    const handle = (server as unknown as { _handle: { onconnection: (status: number, client?: RawHandle) => void } })._handle;
    handle.onconnection = (status, client) => {
      if (status < 0 || !client) return;
      held.push(client);
      // Leave the rest to the other workers before this one runs out of descriptors (at EMFILE libuv
      // would accept and close connections to drain the queue).
      if (held.length >= PER_PROCESS) server.close();
    };
  });
  process.on('SIGTERM', () => {
    server.close();
    for (const client of held) client.reset();
    process.exit(0);
  });
}
