// Resolving a target's name, with the resolver's answers set by each spec (every other lookup goes to
// the real one). The parts that resolve a name once and then use one address (the capacity tester's
// target, the balancer's backends, a listener) take its IPv4 one when it has one, since a server on
// `localhost` often listens on 127.0.0.1 only. The load client tries each address a name stands for
// in turn, as net.connect does, and counts a name that does not resolve like any failed connection:
// by its code, for every client.
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CapacityRun } from '../../lib/capacity/capacity-run.ts';
import { resolveOne } from '../../lib/net/conn.ts';
import { BackendPool } from '../../lib/balancer/pool.ts';
import { validateBalancerOptions } from '../../lib/balancer/options.ts';
import { runLoad } from '../../lib/load/load-client.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { createStalledListener } from '../../fixtures/capacity-servers.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';

const lookup = vi.hoisted(() => ({ answer: undefined as undefined | Array<{ address: string; family: number }>, error: undefined as undefined | string }));
vi.mock('node:dns/promises', async (original) => {
  const dns = await original<typeof import('node:dns/promises')>();
  // This file's answers where a spec set them; the resolver's everywhere else.
  const answer = (host: string, options: object): Promise<unknown> => {
    // An error code of '' stands for an error that carries none.
    if (lookup.error !== undefined) return Promise.reject(Object.assign(new Error(`getaddrinfo ${lookup.error} ${host}`), lookup.error ? { code: lookup.error } : {}));
    return lookup.answer ? Promise.resolve(lookup.answer) : dns.lookup(host, options as never);
  };
  return { ...dns, lookup: answer };
});
afterEach(() => {
  lookup.answer = undefined;
  lookup.error = undefined;
});

const needsLib = libOnlyReason('capacity', "resolves through the tester's own code");
const needsLibLoad = libOnlyReason('load', "resolves through the load client's own code");

describe('resolving one address for a name', () => {
  it('NET-RESOLVE-001 picks the IPv4 address of a name that has both, whichever the resolver lists first, the first address of a name with IPv6 only, and ENOTFOUND for a name with none', async () => {
    lookup.answer = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
    expect(await resolveOne('both.example')).toEqual({ address: '127.0.0.1', family: 4 });
    lookup.answer = [{ address: '::1', family: 6 }, { address: '::2', family: 6 }];
    expect(await resolveOne('six.example')).toEqual({ address: '::1', family: 6 });
    lookup.answer = [];
    await expect(resolveOne('none.example')).rejects.toMatchObject({ code: 'ENOTFOUND', message: 'cannot resolve none.example' });
  });
});

describe('balancer: resolving backends', () => {
  it('LB-POOL-014 dials a backend name on its IPv4 address whichever the resolver lists first, and refuses one that does not resolve, naming the backend and the code', async () => {
    lookup.answer = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
    const pool = new BackendPool(validateBalancerOptions({ backends: [{ host: 'both.example', port: 1000 }] }));
    await pool.resolve();
    expect(pool.backends.map((b) => [b.address, b.family])).toEqual([['127.0.0.1', 4]]);
    lookup.answer = undefined;
    lookup.error = 'ENOTFOUND';
    const lost = new BackendPool(validateBalancerOptions({ backends: [{ host: 'gone.example', port: 1000 }] }));
    // A usage error about --backend (the CLI exits 2), with the resolver's own error as its cause.
    await expect(lost.resolve()).rejects.toMatchObject({
      name: 'OptionError',
      option: 'backend',
      message: `backend ${lost.backends[0].name}: cannot resolve gone.example (ENOTFOUND)`,
      cause: { code: 'ENOTFOUND' },
    });
  });
});

describe.skipIf(needsLib)('capacity: resolving the target', () => {

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

describe.skipIf(needsLibLoad)('load client: resolving the target', () => {
  it('LOAD-030 tries the addresses a name stands for in turn: a refused one is passed over for the next, which serves every client', async () => {
    await using server = await startAckServer();
    // Nothing listens on 127.0.0.3 at the server's port: refused at once.
    lookup.answer = [{ address: '127.0.0.3', family: 4 }, { address: server.host, family: 4 }];
    const result = await runLoad({ host: 'two.example', port: server.port, clients: 3, staggerMs: 0 });
    expect(result.errors).toEqual({});
    expect(result.clients).toEqual({ attempted: 3, connected: 3, failed: 0 });
    expect(result.messages).toMatchObject({ sent: 3, acked: 3 });
    expect(result.target).toBe(`two.example:${server.port}`);
    expect(result.ok).toBe(true);
    // The first that answers is the one: the rest are not tried.
    lookup.answer = [{ address: server.host, family: 4 }, { address: '127.0.0.3', family: 4 }];
    const first = await runLoad({ host: 'two.example', port: server.port, clients: 2, staggerMs: 0 });
    expect(first.errors).toEqual({});
    expect(first.ok).toBe(true);
  });

  it('LOAD-031 stops at an address whose dial timed out, counting ETIMEDOUT, rather than spend another connect timeout on the next', async () => {
    await using stalled = await createStalledListener();
    await using server = await startAckServer({ host: '127.0.0.5', port: stalled.port });
    // Fill the stalled listener's queue, so the next dial to it hangs (the connections stay queued
    // when the client gives up on its FIN being answered).
    const fill = await runLoad({ host: stalled.host, port: stalled.port, clients: stalled.backlog + 1, staggerMs: 0, messagesPerClient: 0, replyTimeoutMs: scaled(100) });
    expect(fill.clients.connected).toBe(stalled.backlog + 1);
    lookup.answer = [{ address: stalled.host, family: 4 }, { address: '127.0.0.5', family: 4 }];
    const connectTimeoutMs = scaled(300);
    const result = await runLoad({ host: 'stalled.example', port: stalled.port, clients: 1, staggerMs: 0, connectTimeoutMs });
    expect(result.clients).toEqual({ attempted: 1, connected: 0, failed: 1 });
    expect(result.errors).toEqual({ ETIMEDOUT: 1 });
    expect(server.stats().accepted).toBe(0);
  });

  it("LOAD-032 counts a name the resolver cannot answer under the resolver's code for every client, and one it answers with no address as ENOTFOUND", async () => {
    lookup.error = 'EAI_AGAIN';
    const failed = await runLoad({ host: 'flaky.example', port: 7, clients: 3, staggerMs: 0 });
    expect(failed.clients).toEqual({ attempted: 3, connected: 0, failed: 3 });
    expect(failed.errors).toEqual({ EAI_AGAIN: 3 });
    expect(failed.errorSamples[0]).toBe('client 0 connect: connect EAI_AGAIN flaky.example:7');
    expect(failed.ok).toBe(false);
    lookup.error = '';
    const uncoded = await runLoad({ host: 'odd.example', port: 7, clients: 1, staggerMs: 0 });
    expect(uncoded.errors).toEqual({ ENOTFOUND: 1 });
    lookup.error = undefined;
    lookup.answer = [];
    const empty = await runLoad({ host: 'empty.example', port: 7, clients: 2, staggerMs: 0 });
    expect(empty.errors).toEqual({ ENOTFOUND: 2 });
    expect(empty.ok).toBe(false);
  });
});
