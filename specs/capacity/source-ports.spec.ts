// With --source-ips the capacity tester hands out source ports itself (the kernel's search for a free
// one grows slow past tens of thousands). A user runs the same command twice: the first run's
// connections, closed by us first, sit in TIME_WAIT on this machine for 60 s and hold their ports'
// pairs with the target. A port the kernel refuses is replaced by another and is not a failed
// connection; many sockets left in TIME_WAIT are named in the summary, with --close reset as the way
// to leave none.
import { describe, expect, it } from 'vitest';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { runCapacity } from '../../lib/capacity/workers.ts';
import { readOsLimits } from '../../lib/capacity/limits.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { connectClient } from '../_harness/wire.ts';
import { dealtPorts, listenFrom } from '../_harness/source-ports.ts';

const needsLib = libOnlyReason('capacity', 'these specs judge the tester itself, against a local server');

// Source addresses of their own, so no other spec's TIME_WAIT touches these.
const REUSED_SOURCE = '127.0.0.77';
const WARNED_SOURCE = '127.0.0.78';
const LISTENED_SOURCE = '127.0.0.79';
const RECOUNTED_SOURCE = '127.0.0.80';
const DEALT_SOURCES = ['127.0.0.81', '127.0.0.82'];
const SHARDED_SOURCES = ['127.0.0.83', '127.0.0.84'];

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
    // The hold keeps each pair's two closes well over the count's resolution apart (under 50 ms: CAP-TW-004).
    const run = () => runCapacity({ host: server.host, port: server.port, connections: 300, delayMs: 0, holdMs: 100, sourceAddresses: [RECOUNTED_SOURCE], close: 'fin' });
    const first = await run();
    expect(first.timeWaitSides.client).toBeGreaterThanOrEqual(290);
    // Same ports, same target: the second run takes over every pair the first left (no port skipped),
    // and its closes put them in TIME_WAIT again, 60 s from now.
    const second = await run();
    expect(second.sourcePortsSkipped).toBe(0);
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
  it('CAP-PORT-005 deals source ports by connection (i uses address i mod S, port low + i div S) and replaces a refused one with the next spare of its own address, past those the run deals out, for up to 8 refusals', async () => {
    const { low } = readOsLimits().ephemeralPorts!;
    const [a, b] = DEALT_SOURCES;
    const at = (address: string, offset: number): string => `${address}:${low + offset}`;
    // Five connections over two addresses deal ports low..low+2 on a and low..low+1 on b; spares start
    // past the most any address is dealt, at low+3. On a, connection 2's own port and its first seven
    // spares are held; on b, connection 3's own port.
    const blocked = [at(a, 1), ...[3, 4, 5, 6, 7, 8, 9].map((k) => at(a, k)), at(b, 1)];
    const run = await dealtPorts({ connections: 5, sourceAddresses: DEALT_SOURCES }, blocked);
    // a's eighth spare, and b's first: each address has spares of its own.
    expect(run.sources).toEqual([at(a, 0), at(a, 10), at(a, 2), at(b, 0), at(b, 3)].sort());
    expect(run.skipped).toBe(9);
    expect(run.established).toBe(5);
  });

  it('CAP-PORT-006 a shard deals the ports of its own connections and takes every count-th spare from its index on, so shards never take the same port', async () => {
    const { low } = readOsLimits().ephemeralPorts!;
    const [a, b] = SHARDED_SOURCES;
    const at = (address: string, offset: number): string => `${address}:${low + offset}`;
    // Shard 1 of 2 of six connections over two addresses: connections 3 (b, low+1), 4 (a, low+2) and
    // 5 (b, low+2). The whole run deals low..low+2, so shard 1's spares on an address are low+4, low+6, ...
    const run = await dealtPorts({ connections: 6, sourceAddresses: SHARDED_SOURCES, shard: { index: 1, count: 2 } }, [at(a, 2), at(a, 4)]);
    expect(run.sources).toEqual([at(a, 6), at(b, 1), at(b, 2)].sort());
    expect(run.skipped).toBe(2);
  });
});
