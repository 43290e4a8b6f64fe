// Bytes go through the balancer unchanged and both directions are independent: a side that shuts down
// its writes still receives everything the other side sends until that side ends too (the prior art
// closed both sockets at the first FIN), and a slow reader on either side pauses the sender instead
// of filling the balancer's memory. The sizes are the issue's: 64 MiB each way, 256 MiB to a slow
// reader; `npm run bench:balancer-memory` repeats them with the balancer in its own process and reports
// its RSS.
import { describe, expect, it } from 'vitest';
import { startBackend, startBalancerTarget } from '../_harness/balancer.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { IN_FLIGHT_BOUND, SLOW_BACKEND, SLOW_CLIENT, checkBackendHalfClose, checkBothWays, checkClientHalfClose, checkExactReads, checkResetPassedOn, checkSlowBackend, checkSlowClient } from './_flows.ts';
import { startBrokenProxy } from '../../fixtures/broken-balancers.ts';

const MiB = 1024 * 1024;
const resetIsLibs = libOnlyReason('balancer', 'passing a reset on as a reset is lib/\'s choice; other balancers may end the backend side with a FIN');

describe('balancer: half-close', () => {
  it('LB-HALF-001 lets a client that shut down its writes read the whole reply sent after its FIN', async () => {
    await using a = await startBackend(0, 'a', { mode: 'reply-after-end', replyBytes: 4 * MiB });
    await using balancer = await startBalancerTarget([a.port]);
    await checkClientHalfClose(balancer, a, 256 * 1024);
  });

  it('LB-HALF-002 delivers everything a client sends after the backend shut down its writes, and then the client FIN', async () => {
    await using a = await startBackend(0, 'a', { mode: 'end-first' });
    await using balancer = await startBalancerTarget([a.port]);
    await checkBackendHalfClose(balancer, a, 4 * MiB);
  });
});

describe('balancer: bytes and backpressure', () => {
  it('LB-DATA-001 carries 64 MiB of random bytes each way at once, intact (same SHA-256 at both ends)', async () => {
    await using a = await startBackend(0, 'a', { mode: 'push', pushBytes: 64 * MiB });
    await using balancer = await startBalancerTarget([a.port]);
    await checkBothWays(balancer, a, 64 * MiB);
    if (balancer.stats) expect(balancer.stats().backends[0]).toMatchObject({ bytesToBackend: 64 * MiB, bytesFromBackend: 64 * MiB + 2 });
  });

  it('LB-DATA-003 carries messages of exactly 4 KiB and 64 KiB each way (a read buffer filled to the byte) and keeps the connection open for the next', async () => {
    await using a = await startBackend(0, 'a');
    await using balancer = await startBalancerTarget([a.port]);
    await checkExactReads(balancer, a, [4096, 65536, 4096 + 65536]);
  });

  it.skipIf(resetIsLibs)('LB-DATA-002 passes a client\'s reset on to its backend as a reset, not as a FIN', async () => {
    await using a = await startBackend(0, 'a');
    await using balancer = await startBalancerTarget([a.port]);
    await checkResetPassedOn(balancer, a);
  });

  it('LB-FLOW-001 pushes 256 MiB to a client that stalls for a second and then reads slowly, with at most 32 MiB sent and unread, and queues little itself', async () => {
    await using a = await startBackend(0, 'a', { mode: 'push', pushBytes: 256 * MiB });
    await using balancer = await startBalancerTarget([a.port]);
    const result = await checkSlowClient(balancer, a, SLOW_CLIENT);
    expect(result.maxInFlight).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
    // The balancer's own queue for one socket: the stream high-water mark plus one read.
    if (balancer.stats) expect(balancer.stats().peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
  });

  it('LB-FLOW-002 holds back a client sending 64 MiB to a backend that stalls and then reads slowly, with at most 32 MiB sent and unread', async () => {
    await using a = await startBackend(0, 'a', { mode: 'paused' });
    await using balancer = await startBalancerTarget([a.port]);
    const result = await checkSlowBackend(balancer, a, SLOW_BACKEND);
    expect(result.maxInFlight).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
    if (balancer.stats) expect(balancer.stats().peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
  });
});

const checksOfChecks = libOnlyReason('balancer', 'the checks are proved against broken proxies once, with lib/ as the target');

// The checks above catch the defects they are about: run against proxies broken on purpose, they fail.
describe.skipIf(checksOfChecks)('balancer: the data-path checks catch broken proxies', () => {
  it('LB-META-001 the half-close checks fail a proxy that closes both directions at the first FIN', async () => {
    await using replying = await startBackend(0, 'a', { mode: 'reply-after-end', replyBytes: MiB });
    await using proxy = await startBrokenProxy(replying, 'close-on-first-fin');
    await expect(checkClientHalfClose(proxy, replying, 1024)).rejects.toThrow();
    await using ending = await startBackend(0, 'b', { mode: 'end-first' });
    await using proxy2 = await startBrokenProxy(ending, 'close-on-first-fin');
    await expect(checkBackendHalfClose(proxy2, ending, 1024)).rejects.toThrow();
  });

  it('LB-META-002 the slow-reader checks fail a proxy that copies without backpressure', async () => {
    await using pushing = await startBackend(0, 'a', { mode: 'push', pushBytes: 256 * MiB });
    await using proxy = await startBrokenProxy(pushing, 'no-backpressure');
    await expect(checkSlowClient(proxy, pushing, SLOW_CLIENT)).rejects.toThrow(/memory is not bounded/);
    await using paused = await startBackend(0, 'b', { mode: 'paused' });
    await using proxy2 = await startBrokenProxy(paused, 'no-backpressure');
    await expect(checkSlowBackend(proxy2, paused, SLOW_BACKEND)).rejects.toThrow(/memory is not bounded/);
  });
});
