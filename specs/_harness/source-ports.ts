// Source ports under the capacity tester's own dealing (--source-ips): listeners that hold chosen
// address:port pairs, so a dial from one is refused at its bind, and a run that records where each of its
// connections came from.
import net from 'node:net';
import { runCapacity } from '../../lib/capacity/workers.ts';
import type { CapacityOptions } from '../../lib/capacity/options.ts';
import { shareOf } from '../../lib/net/shard.ts';
import { createPeerRecordingServer } from '../../fixtures/capacity-servers.ts';
import { scaled } from './time.ts';
import { waitUntil } from './wait.ts';

/** A listener on `address` at the first free port from `from` on: it holds that port against any bind. */
export async function listenFrom(address: string, from: number): Promise<{ port: number; close(): Promise<void> }> {
  for (let port = from; port < from + 50; port++) {
    const server = net.createServer((socket) => socket.destroy());
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, address, () => resolve(true));
    });
    if (ok) return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }
  throw new Error(`no free port on ${address} from ${from}`);
}

/** Listeners on exactly these `address:port`s, so a dial from one is refused at its bind. */
export async function holdPorts(endpoints: string[]): Promise<{ close(): Promise<void> }> {
  const held: Array<{ close(): Promise<void> }> = [];
  try {
    for (const endpoint of endpoints) {
      const [address, port] = endpoint.split(':');
      const listener = await listenFrom(address, Number(port));
      held.push(listener);
      if (listener.port !== Number(port)) throw new Error(`${endpoint} is taken by another program: this spec needs it free`);
    }
  } catch (error) {
    await Promise.all(held.map((listener) => listener.close()));
    throw error;
  }
  return { close: async () => void (await Promise.all(held.map((listener) => listener.close()))) };
}

/**
 * A run against a server that records where each connection came from, with `blocked` source ports
 * held by listeners; the sources its connections came from, sorted, and the result.
 */
export async function dealtPorts(options: CapacityOptions, blocked: string[]): Promise<{ sources: string[]; skipped: number; established: number }> {
  await using server = await createPeerRecordingServer();
  const blockers = await holdPorts(blocked);
  try {
    const planned = shareOf(options.connections!, options.shard).size;
    const running = runCapacity({ host: server.host, port: server.port, delayMs: 0, holdMs: scaled(300), close: 'reset', dialTimeoutMs: scaled(2000), ...options });
    const allSeen = (): Promise<number> => waitUntil(() => server.endpoints().length, (n) => n === planned, { what: 'connections the server accepted', expected: String(planned) });
    // A run that throws ends the wait at once, with its own error.
    const waiting = allSeen();
    waiting.catch(() => {});
    await Promise.race([waiting, running]);
    await allSeen();
    const result = await running;
    return { sources: server.endpoints().sort(), skipped: result.sourcePortsSkipped, established: result.connections.established };
  } finally {
    await blockers.close();
  }
}
