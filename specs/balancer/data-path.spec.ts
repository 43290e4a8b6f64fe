// Bytes go through the balancer unchanged and both directions are independent: a side that shuts down
// its writes still receives everything the other side sends until that side ends too (the prior art
// closed both sockets at the first FIN), and a slow reader on either side pauses the sender instead
// of filling the balancer's memory. The sizes are the issue's: 64 MiB each way, 256 MiB to a slow
// reader; `npm run bench:balancer-memory` repeats them with the balancer in its own process and reports
// its RSS.
import { describe, expect, it } from 'vitest';
import { startOnlyBackend, startBalancerTarget } from '../_harness/balancer.ts';
import { connectClient } from '../_harness/wire.ts';
import { IN_FLIGHT_BOUND, SLOW_BACKEND, SLOW_CLIENT, checkBackendHalfClose, checkBothWays, checkClientHalfClose, checkExactReads, checkResetPassedOn, checkSlowBackend, checkSlowClient } from './_flows.ts';

const MiB = 1024 * 1024;

describe('balancer: half-close', () => {
  it('LB-HALF-001 lets a client that shut down its writes read the whole reply sent after its FIN', async () => {
    await using a = await startOnlyBackend('a', { mode: 'reply-after-end', replyBytes: 4 * MiB });
    await using balancer = await startBalancerTarget(a.ports);
    await checkClientHalfClose(balancer, a, 256 * 1024);
  });

  it('LB-HALF-002 delivers everything a client sends after the backend shut down its writes, and then the client FIN', async () => {
    await using a = await startOnlyBackend('a', { mode: 'end-first' });
    await using balancer = await startBalancerTarget(a.ports);
    await checkBackendHalfClose(balancer, a, 4 * MiB);
  });
});

describe('balancer: bytes and backpressure', () => {
  it('LB-DATA-001 carries 64 MiB of random bytes each way at once, intact (same SHA-256 at both ends)', async () => {
    await using a = await startOnlyBackend('a', { mode: 'push', pushBytes: 64 * MiB });
    await using balancer = await startBalancerTarget(a.ports);
    await checkBothWays(balancer, a, 64 * MiB);
    if (balancer.stats) expect(balancer.stats().backends[0]).toMatchObject({ bytesToBackend: 2 + 64 * MiB, bytesFromBackend: 64 * MiB + 2 });
  });

  it('LB-DATA-003 carries messages of exactly 4 KiB and 64 KiB each way (a read buffer filled to the byte) and keeps the connection open for the next', async () => {
    await using a = await startOnlyBackend('a');
    await using balancer = await startBalancerTarget(a.ports);
    await checkExactReads(balancer, a, [4096, 65536, 4096 + 65536]);
  });

  it('LB-DATA-002 passes a client\'s reset on to its backend as a reset, not as a FIN', async () => {
    await using a = await startOnlyBackend('a');
    await using balancer = await startBalancerTarget(a.ports);
    await checkResetPassedOn(balancer, a);
  });

  it('LB-FLOW-001 pushes 256 MiB to a client that stalls for a second and then reads slowly, with no more sent and unread than the socket buffers on the way hold, and queues little itself', async () => {
    await using a = await startOnlyBackend('a', { mode: 'push', pushBytes: 256 * MiB });
    await using balancer = await startBalancerTarget(a.ports);
    const result = await checkSlowClient(balancer, a, SLOW_CLIENT);
    expect(result.maxInFlight).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
    // The balancer's own queue for one socket: the stream high-water mark plus one read.
    if (balancer.stats) expect(balancer.stats().peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
  });

  it('LB-FLOW-002 holds back a client sending 256 MiB to a backend that stalls and then reads slowly, with no more sent and unread than the socket buffers on the way hold', async () => {
    await using a = await startOnlyBackend('a', { mode: 'paused' });
    await using balancer = await startBalancerTarget(a.ports);
    const result = await checkSlowBackend(balancer, a, SLOW_BACKEND);
    expect(result.maxInFlight).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
    if (balancer.stats) expect(balancer.stats().peakBufferedBytes).toBeLessThanOrEqual(128 * 1024);
  });
});

describe('balancer: server-first protocols', () => {
  it('LB-GREET-001 passes on a greeting the backend sends before the client says anything (SMTP, MySQL, SSH speak first)', async () => {
    await using a = await startOnlyBackend('a', { greet: 'on-connect' });
    await using balancer = await startBalancerTarget(a.ports);
    await using client = await connectClient(balancer.port, balancer.host);
    // A balancer that dials its backend only once the client has sent something never delivers this.
    expect(await client.readLine()).toBe('a');
  });
});
