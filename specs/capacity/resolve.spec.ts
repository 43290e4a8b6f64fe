// The capacity tester resolves its target once, before the first dial, and dials that address for
// every connection. A name with addresses of both families is dialed on its IPv4 one: a server on
// `localhost` often listens on 127.0.0.1 only, and a dial to ::1 would be refused for all of them.
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveTarget, CapacityRun } from '../../lib/capacity/capacity-run.ts';
import { libOnlyReason } from '../_harness/targets.ts';

const lookup = vi.hoisted(() => ({ answer: undefined as undefined | Array<{ address: string; family: number }> }));
vi.mock('node:dns/promises', async (original) => {
  const dns = await original<typeof import('node:dns/promises')>();
  // This file's answers where a spec set them; the resolver's everywhere else.
  return { ...dns, lookup: (host: string, options: object) => (lookup.answer ? Promise.resolve(lookup.answer) : dns.lookup(host, options as never)) };
});
afterEach(() => {
  lookup.answer = undefined;
});

const needsLib = libOnlyReason('capacity', "resolves through the tester's own code");

describe.skipIf(needsLib)('capacity: resolving the target', () => {
  it('CAP-RESOLVE-001 dials the IPv4 address of a name that has both, whichever the resolver lists first, the first address of a name with IPv6 only, and ENOTFOUND for a name with none', async () => {
    lookup.answer = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
    expect(await resolveTarget('both.example')).toEqual({ address: '127.0.0.1', family: 4 });
    lookup.answer = [{ address: '::1', family: 6 }, { address: '::2', family: 6 }];
    expect(await resolveTarget('six.example')).toEqual({ address: '::1', family: 6 });
    lookup.answer = [];
    await expect(resolveTarget('none.example')).rejects.toMatchObject({ code: 'ENOTFOUND', message: 'cannot resolve none.example' });
  });

  it('CAP-RESOLVE-002 holds its connections to an IPv6 target', async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => accepted.push(socket.on('error', () => {})));
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    try {
      const { port } = server.address() as net.AddressInfo;
      const result = await new CapacityRun({ host: '::1', port, connections: 3, delayMs: 0, holdMs: 50, close: 'reset' }).run();
      expect(result.errors).toEqual({});
      expect(result.connections).toMatchObject({ established: 3, held: 3, failed: 0 });
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
