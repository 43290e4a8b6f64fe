// What the capacity tester does when the kernel refuses the source port a dial asks for
// (EADDRNOTAVAIL): from --source-ips it deals each connection a port itself, and a refused one is
// replaced by a spare of the same address, up to 8 times, then by the kernel's own choice. Refusals
// that many in a row need a machine short of ports; here the dial is wrapped so that the ports the
// spec names are refused (the kernel's choice included, when it says so) and the rest dial for real.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Conn, DialOptions } from '../../lib/net/conn.ts';
import { CapacityRun } from '../../lib/capacity/capacity-run.ts';
import { readOsLimits } from '../../lib/capacity/limits.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { libOnlyReason } from '../_harness/targets.ts';

/** The source ports dials asked for, in order, and which are refused (0: the kernel's choice). */
const policy = vi.hoisted(() => ({ asked: [] as number[], refuse: (_port: number): boolean => false }));
vi.mock('../../lib/net/conn.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../lib/net/conn.ts')>();
  const refused = (options: DialOptions): Conn => {
    const conn: Conn = {
      state: options.state, events: options.events, peer: '?', pending: 0, closed: false,
      write: () => false, end: () => {}, pause: () => {}, resume: () => {}, destroy: () => {}, reset: () => {},
    };
    setImmediate(() => options.events.connect?.(conn, 'EADDRNOTAVAIL'));
    return conn;
  };
  return {
    ...actual,
    dial: (options: DialOptions): Conn => {
      const port = options.localPort ?? 0;
      policy.asked.push(port);
      return policy.refuse(port) ? refused(options) : actual.dial(options);
    },
  };
});

const needsLib = libOnlyReason('capacity', "judges the tester's own replacing of refused source ports");
const SOURCE = '127.0.0.89';

describe.skipIf(needsLib)('capacity: source ports the kernel refuses', () => {
  afterEach(() => {
    policy.asked = [];
    policy.refuse = () => false;
  });

  it('CAP-PORT-010 after its own port and 8 spares are refused, a dial asks for the kernel\'s choice, and holds the connection it gives', async () => {
    await using server = await startAckServer();
    const { low } = readOsLimits().ephemeralPorts!;
    policy.refuse = (port) => port !== 0;
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 1, delayMs: 0, holdMs: 10, sourceAddresses: [SOURCE], close: 'reset' }).run();
    // Its own port, then the spares past the one port the run deals: low+1 to low+8.
    expect(policy.asked).toEqual([low, low + 1, low + 2, low + 3, low + 4, low + 5, low + 6, low + 7, low + 8, 0]);
    expect(result.sourcePortsSkipped).toBe(9);
    expect(result.connections).toMatchObject({ attempted: 1, established: 1, held: 1, failed: 0 });
    expect(result.ok).toBe(true);
  });

  it('CAP-PORT-011 a kernel\'s own choice refused is a failed connection (EADDRNOTAVAIL, a real shortage of ports), not dialed again', async () => {
    await using server = await startAckServer();
    policy.refuse = () => true;
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 1, delayMs: 0, holdMs: 10, sourceAddresses: [SOURCE], close: 'reset' }).run();
    expect(policy.asked).toHaveLength(10);
    expect(policy.asked.at(-1)).toBe(0);
    expect(result.errors).toEqual({ EADDRNOTAVAIL: 1 });
    expect(result.connections).toMatchObject({ attempted: 1, established: 0, failed: 1 });
    expect(result.ok).toBe(false);
  });
});
