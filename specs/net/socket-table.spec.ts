// The kernel's socket table, read from /proc/net/tcp: the independent view the specs and the census
// lines compare a program's own counts with. The timed read also says when each line was written, so a
// timer it shows (what is left of a TIME_WAIT socket's 60 s) is known at a known time.
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readSocketTable, readSocketTableTimed, type SocketEntry } from '../../lib/net/socket-table.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';

const withoutTimes = ({ localAddress, localPort, remoteAddress, remotePort, state }: SocketEntry): string => `${localAddress}:${localPort}>${remoteAddress}:${remotePort} ${state}`;

describe('net: the kernel socket table', () => {
  it('NET-TABLE-001 the timed read lists the sockets the plain one does, each line written within the call, and a TIME_WAIT socket with what is left of its 60 s', async () => {
    const server = createServer((socket) => socket.on('end', () => socket.end()));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = await connectClient(port);
    try {
      await waitUntil(async () => (await readSocketTable({ port })).filter((e) => e.state === 'ESTABLISHED').length, (n) => n === 2, { what: 'both ends of the connection established' });
      const before = performance.now();
      const timed = readSocketTableTimed({ port });
      const after = performance.now();
      expect(timed.map(withoutTimes).sort()).toEqual((await readSocketTable({ port })).map(withoutTimes).sort());
      expect(timed.map((e) => e.state).sort()).toEqual(['ESTABLISHED', 'ESTABLISHED', 'LISTEN']);
      for (const entry of timed) {
        expect(entry.readFrom).toBeGreaterThanOrEqual(before);
        expect(entry.readTo).toBeGreaterThanOrEqual(entry.readFrom);
        expect(entry.readTo).toBeLessThanOrEqual(after);
      }
      // We close first: our end waits out its 60 s.
      const closed = performance.now();
      client.socket.end();
      const [ours] = await waitUntil(() => readSocketTableTimed({ port }).filter((e) => e.state === 'TIME_WAIT'), (list) => list.length === 1, { what: 'our end in TIME_WAIT' });
      expect(ours).toMatchObject({ localPort: client.socket.localPort, remotePort: port, inode: 0 });
      expect(ours.timerMs).toBeLessThanOrEqual(60_000);
      // Shown in 10 ms ticks, counted from jiffies that may trail the clock by one.
      expect(ours.timerMs).toBeGreaterThanOrEqual(60_000 - (ours.readTo - closed) - 10);
    } finally {
      client.socket.resetAndDestroy();
      server.close();
    }
  });
});
