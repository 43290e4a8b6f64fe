// The ends of the ephemeral range, under the capacity tester's own dealing of source ports
// (--source-ips). Reaching them for real takes 28,000 connections per address; here the range the
// tester reads from the OS is made four ports long (20000-20003, below the kernel's own range, so no
// port the kernel picks falls inside it), and a handful of connections reach both ends.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dealtPorts } from '../_harness/source-ports.ts';
import { libOnlyReason } from '../_harness/targets.ts';

const RANGE = { low: 20_000, high: 20_003 };
/** The range the tester reads; null: an OS that does not tell it. */
const os = vi.hoisted(() => ({ ephemeralPorts: { low: 20_000, high: 20_003 } as { low: number; high: number } | null }));
vi.mock('../../lib/capacity/limits.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../lib/capacity/limits.ts')>();
  return { ...actual, readOsLimits: () => ({ ...actual.readOsLimits(), ephemeralPorts: os.ephemeralPorts && { ...os.ephemeralPorts } }) };
});

const needsLib = libOnlyReason('capacity', 'these specs judge the tester itself, with the range it reads made short');

// Source addresses of their own, so no other spec's ports or TIME_WAIT touch these.
const WRAPPED_SOURCE = '127.0.0.85';
const SPARE_SOURCE = '127.0.0.86';
const UNTOLD_SOURCE = '127.0.0.87';

/** The kernel's own ephemeral range, where each port it picks lies. */
const KERNEL = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);

/**
 * The ports of `sources` ("address:port"): those inside the short range, sorted, and how many the kernel
 * picked (inside its own range); a port in neither is a port the tester made up.
 */
function byRange(sources: string[]): { inside: number[]; kernels: number; other: number[] } {
  const ports = sources.map((source) => Number(source.slice(source.lastIndexOf(':') + 1)));
  const inside = ports.filter((port) => port >= RANGE.low && port <= RANGE.high);
  const kernels = ports.filter((port) => port >= KERNEL[0] && port <= KERNEL[1]);
  return { inside: inside.sort((a, b) => a - b), kernels: kernels.length, other: ports.filter((port) => !inside.includes(port) && !kernels.includes(port)) };
}

describe.skipIf(needsLib)('capacity: the ends of the ephemeral range', () => {
  afterEach(() => {
    os.ephemeralPorts = { ...RANGE };
  });

  it('CAP-PORT-007 with more connections on an address than the range has ports, the ports dealt wrap round to its start', async () => {
    // Six connections, four ports: connections 4 and 5 are dealt 20000 and 20001 again, which
    // connections 0 and 1 hold towards the same target. The range has no spare left past the six,
    // so each is replaced by the kernel's choice.
    const run = await dealtPorts({ connections: 6, sourceAddresses: [WRAPPED_SOURCE] }, []);
    expect(byRange(run.sources)).toEqual({ inside: [20_000, 20_001, 20_002, 20_003], kernels: 2, other: [] });
    expect(run.skipped).toBe(2);
    expect(run.established).toBe(6);
  });

  it("CAP-PORT-008 a spare is taken up to the range's last port, and past it the kernel chooses", async () => {
    // Three connections are dealt 20000-20002, all held by listeners: the first refused gets the one
    // spare, 20003 (the range's last port); the other two, none being left, the kernel's choice.
    const held = [20_000, 20_001, 20_002].map((port) => `${SPARE_SOURCE}:${port}`);
    const run = await dealtPorts({ connections: 3, sourceAddresses: [SPARE_SOURCE] }, held);
    expect(byRange(run.sources)).toEqual({ inside: [20_003], kernels: 2, other: [] });
    expect(run.skipped).toBe(3);
    expect(run.established).toBe(3);
  });

  it('CAP-PORT-009 where the OS does not tell its range, dials from --source-ips leave the port to the kernel', async () => {
    os.ephemeralPorts = null;
    const run = await dealtPorts({ connections: 3, sourceAddresses: [UNTOLD_SOURCE] }, []);
    expect(run.sources.map((source) => source.slice(0, source.lastIndexOf(':')))).toEqual([UNTOLD_SOURCE, UNTOLD_SOURCE, UNTOLD_SOURCE]);
    expect(byRange(run.sources)).toEqual({ inside: [], kernels: 3, other: [] });
    expect(run.skipped).toBe(0);
  });
});
