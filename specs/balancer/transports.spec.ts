// lib/'s balancer moves bytes on Node's bare libuv TCP handles where Node has them, and on net.Socket
// where it does not (or CONNLAB_LEAN_SOCKETS=0 turns them off); the rest of this family runs on the
// default. These specs repeat, on the other transport, the behaviors that depend most on how bytes
// move: the round-robin order, half-close both ways, 64 MiB intact each way, a slow reader's bound,
// a dead backend skipped, and a client's reset passed on. Everything above lib/net's connection type
// (the decisions, the data path) is one piece of code for both.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TRANSPORT } from '../../lib/net/conn.ts';
import { announceSkip } from '../_harness/skip.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { deadBackendPort, reachNames, startBackend, startBalancerTarget, tally } from '../_harness/balancer.ts';
import { IN_FLIGHT_BOUND, SLOW_CLIENT, checkBackendHalfClose, checkBothWays, checkClientHalfClose, checkResetPassedOn, checkSlowClient } from './_flows.ts';

const MiB = 1024 * 1024;
/** The transport the rest of the family does not run on. */
const other = DEFAULT_TRANSPORT === 'libuv' ? 'net' : undefined;
const skip =
  libOnlyReason('balancer', "it picks lib/'s transport") ??
  announceSkip(other ? undefined : "Node's libuv handles are off here, so the whole family already runs on net");
const options = { transport: other } as const;

describe.skipIf(skip)(`balancer: the same behaviors on the ${other ?? 'net'} transport`, () => {
  it('LB-NET-001 sends 100 connections over 2 backends in the exact order a b a b ..., 50 and 50, on the other transport', async () => {
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([a.port, b.port], options);
    expect(balancer.transport).toBe(other);
    const names = await reachNames(balancer, 100);
    expect(names).toEqual(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 'a' : 'b')));
    expect(tally(names)).toEqual({ a: 50, b: 50 });
  });

  it('LB-NET-002 forwards half-close both ways on the other transport', async () => {
    await using replying = await startBackend(0, 'a', { mode: 'reply-after-end', replyBytes: 4 * MiB });
    await using balancer = await startBalancerTarget([replying.port], options);
    await checkClientHalfClose(balancer, replying, 256 * 1024);
    await using ending = await startBackend(1, 'b', { mode: 'end-first' });
    await using balancer2 = await startBalancerTarget([ending.port], options);
    await checkBackendHalfClose(balancer2, ending, 4 * MiB);
  });

  it('LB-NET-003 carries 64 MiB of random bytes each way at once, intact, on the other transport', async () => {
    await using a = await startBackend(0, 'a', { mode: 'push', pushBytes: 64 * MiB });
    await using balancer = await startBalancerTarget([a.port], options);
    await checkBothWays(balancer, a, 64 * MiB);
    expect(balancer.stats!().backends[0]).toMatchObject({ bytesToBackend: 2 + 64 * MiB, bytesFromBackend: 64 * MiB + 2 });
  });

  it('LB-NET-004 bounds what a slow client leaves unread of 256 MiB, and queues little itself, on the other transport', async () => {
    await using a = await startBackend(0, 'a', { mode: 'push', pushBytes: 256 * MiB });
    await using balancer = await startBalancerTarget([a.port], options);
    const result = await checkSlowClient(balancer, a, SLOW_CLIENT);
    expect(result.maxInFlight).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
    expect(balancer.stats!().peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
  });

  it('LB-NET-005 gives a backend that is down from the start nothing, and none of 100 connections fails, on the other transport', async () => {
    const deadPort = await deadBackendPort(0);
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([deadPort, b.port], options);
    expect(tally(await reachNames(balancer, 100))).toEqual({ b: 100 });
  });

  it('LB-NET-006 passes a client\'s reset on to its backend as a reset on the other transport', async () => {
    await using a = await startBackend(0, 'a');
    await using balancer = await startBalancerTarget([a.port], options);
    await checkResetPassedOn(balancer, a);
  });
});
