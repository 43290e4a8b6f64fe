// With --source-ips the capacity tester hands out source ports itself (the kernel's search for a free
// one grows slow past tens of thousands). A user runs the same command twice: the first run's
// connections, closed by us first, sit in TIME_WAIT on this machine for 60 s and hold their ports'
// pairs with the target. A port the kernel refuses is replaced by another and is not a failed
// connection; many sockets left in TIME_WAIT are named in the summary, with --close reset as the way
// to leave none.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { runCapacity } from '../../lib/capacity/workers.ts';
import { readOsLimits } from '../../lib/capacity/limits.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { connectClient } from '../_harness/wire.ts';

const needsLib = libOnlyReason('capacity', 'these specs judge the tester itself, against a local server');

// Source addresses of their own, so no other spec's TIME_WAIT touches these.
const REUSED_SOURCE = '127.0.0.77';
const WARNED_SOURCE = '127.0.0.78';
const LISTENED_SOURCE = '127.0.0.79';
const RECOUNTED_SOURCE = '127.0.0.80';

/** A listener on `address` at the first free port from `from` on: it holds that port against any bind. */
async function listenFrom(address: string, from: number): Promise<{ port: number; close(): Promise<void> }> {
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

describe.skipIf(needsLib)('capacity: source ports', () => {
  it('CAP-PORT-001 a run right after another on the same source address and target holds all of its connections, replacing each source port the kernel refuses', async () => {
    await using server = await startAckServer();
    const run = () => runCapacity({ host: server.host, port: server.port, connections: 300, delayMs: 0, holdMs: 10, sourceAddresses: [REUSED_SOURCE], close: 'fin' });
    const first = await run();
    expect(first.connections).toMatchObject({ established: 300, held: 300, failed: 0 });
    // We closed first: our side of every connection is in TIME_WAIT now, on the ports the second run is handed.
    expect(first.timeWaitSides.client).toBeGreaterThan(250);
    // And another program holds 20 of those ports with connections to the same target: those the kernel must refuse.
    const { low } = readOsLimits().ephemeralPorts!;
    const squatters = await Promise.all(Array.from({ length: 20 }, (_, i) => connectClient(server.port, server.host, { localAddress: REUSED_SOURCE, localPort: low + 10 + i * 7 })));
    try {
      const second = await run();
      expect(second.errors).toEqual({});
      expect(second.connections).toMatchObject({ attempted: 300, established: 300, held: 300, failed: 0 });
      expect(second.sourcePortsSkipped).toBeGreaterThanOrEqual(20);
      expect(second.ok).toBe(true);
    } finally {
      for (const squatter of squatters) squatter.socket.resetAndDestroy();
    }
  });

  it('CAP-PORT-003 replaces at once a source port another program listens on (the bind fails), rather than waiting out the dial timeout', async () => {
    await using server = await startAckServer();
    const { low } = readOsLimits().ephemeralPorts!;
    // Connection i uses port low + i here (one source address): a listener holds one of the first ten.
    const blocker = await listenFrom(LISTENED_SOURCE, low + 3);
    try {
      expect(blocker.port).toBeLessThan(low + 10);
      const result = await runCapacity({ host: server.host, port: server.port, connections: 10, delayMs: 0, holdMs: 10, sourceAddresses: [LISTENED_SOURCE], close: 'reset', dialTimeoutMs: scaled(2000) });
      expect(result.errors).toEqual({});
      expect(result.connections).toMatchObject({ attempted: 10, established: 10, held: 10, failed: 0 });
      expect(result.sourcePortsSkipped).toBeGreaterThanOrEqual(1);
    } finally {
      await blocker.close();
    }
  });

  it('CAP-PORT-004 counts the TIME_WAIT sockets a run right after another leaves, also on the pairs the first left (the kernel reuses them)', async () => {
    await using server = await startAckServer();
    const run = () => runCapacity({ host: server.host, port: server.port, connections: 300, delayMs: 0, holdMs: 10, sourceAddresses: [RECOUNTED_SOURCE], close: 'fin' });
    const first = await run();
    expect(first.timeWaitSides.client).toBeGreaterThanOrEqual(290);
    // Same ports, same target: the second run's closes put the same pairs in TIME_WAIT again, 60 s from now.
    const second = await run();
    expect(second.connections).toMatchObject({ established: 300, failed: 0 });
    expect(second.timeWaitSides.client).toBeGreaterThanOrEqual(290);
  });

  it('CAP-PORT-002 warns when a run leaves 1,000 sockets or more in TIME_WAIT here, naming --close reset, and leaves none with it', async () => {
    await using server = await startAckServer();
    const run = (close: 'fin' | 'reset') => runCapacity({ host: server.host, port: server.port, connections: 1000, delayMs: 0, holdMs: 10, sourceAddresses: [WARNED_SOURCE], close });
    const fin = await run('fin');
    expect(fin.timeWaitSides.client).toBeGreaterThanOrEqual(1000);
    expect(fin.warnings).toEqual([expect.stringMatching(/left \d+ sockets in TIME_WAIT.*--close reset leaves none/)]);
    const reset = await run('reset');
    expect(reset.connections).toMatchObject({ held: 1000, failed: 0 });
    expect(reset.timeWaitSides.client).toBe(0);
    expect(reset.warnings).toEqual([]);
  });
});
