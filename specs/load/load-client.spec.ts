// The load client runs N staggered clients, checks every reply against what each sent, and counts
// every failure by code instead of stopping: refused, reset, silent and wrong servers are each
// classified, and the latency percentiles see a server's delay. In open-loop mode (--rate) latency is
// measured from the intended send time, so a stalled server cannot hide behind fewer sends.
import { describe, expect, it } from 'vitest';
import { runLoad } from '../../lib/load/load-client.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import {
  closedPort,
  createDelayedAckServer,
  createResettingServer,
  createSilentServer,
  createStallingAckServer,
  createWrongAckServer,
} from '../../fixtures/servers.ts';
import { runNaiveLoad } from '../../fixtures/naive-load.ts';
import { scaled } from '../_harness/time.ts';

describe('load client: the prior art scenario', () => {
  it('LOAD-001 runs 50 staggered clients that each get their own ack, with exact totals', async () => {
    await using server = await startAckServer();
    const result = await runLoad({ host: server.host, port: server.port, clients: 50, staggerMs: 5 });
    expect(result.clients).toEqual({ attempted: 50, connected: 50, failed: 0 });
    expect(result.messages).toEqual({ planned: 50, sent: 50, acked: 50, mismatched: 0, missing: 0, extra: 0 });
    expect(result.errors).toEqual({});
    expect(result.latency.ack.count).toBe(50);
    expect(result.latency.connect.count).toBe(50);
    expect(result.ok).toBe(true);
    expect(server.stats()).toMatchObject({ accepted: 50, messages: 50, acks: 50 });
  });

  it('LOAD-002 sends many messages per client from a template and matches each ack to its message', async () => {
    await using server = await startAckServer();
    const result = await runLoad({ host: server.host, port: server.port, clients: 10, staggerMs: 0, messagesPerClient: 100, pipeline: 8, message: 'c{i} m{n}' });
    expect(result.messages).toMatchObject({ sent: 1000, acked: 1000, mismatched: 0, missing: 0, extra: 0 });
    expect(result.ok).toBe(true);
  });

  it('LOAD-003 speaks the prior art\'s chunk protocol: `ACK from server` per message', async () => {
    await using server = await startAckServer({ framing: 'chunk' });
    const result = await runLoad({ host: server.host, port: server.port, clients: 5, staggerMs: 0, framing: 'chunk', messagesPerClient: 3 });
    expect(result.messages).toMatchObject({ sent: 15, acked: 15, mismatched: 0, missing: 0 });
  });
});

describe('load client: failures are counted, never fatal', () => {
  it('LOAD-010 counts every refused connection as ECONNREFUSED and fails the run', async () => {
    const port = await closedPort();
    const result = await runLoad({ host: '127.0.0.1', port, clients: 10, staggerMs: 0 });
    expect(result.clients).toEqual({ attempted: 10, connected: 0, failed: 10 });
    expect(result.errors).toEqual({ ECONNREFUSED: 10 });
    expect(result.messages).toMatchObject({ planned: 10, sent: 0, acked: 0 });
    expect(result.ok).toBe(false);
  });

  it('LOAD-011 counts connections reset by the server as ECONNRESET, their messages missing', async () => {
    await using server = await createResettingServer();
    const result = await runLoad({ host: server.host, port: server.port, clients: 10, staggerMs: 0 });
    expect(result.clients.connected).toBe(10);
    expect(result.errors).toEqual({ ECONNRESET: 10 });
    expect(result.messages).toMatchObject({ sent: 10, acked: 0, missing: 10 });
    expect(result.ok).toBe(false);
  });

  it('LOAD-012 gives up on a silent server at the reply timeout and counts REPLY_TIMEOUT', async () => {
    await using server = await createSilentServer();
    const result = await runLoad({ host: server.host, port: server.port, clients: 5, staggerMs: 0, replyTimeoutMs: scaled(200) });
    expect(result.errors).toEqual({ REPLY_TIMEOUT: 5 });
    expect(result.messages).toMatchObject({ sent: 5, acked: 0, missing: 5 });
    expect(result.ok).toBe(false);
  });

  /** A server that answers every message with the same wrong ack: each of the 6 sent is mismatched. */
  const expectSixMismatched = (result: { messages: object }): void => {
    expect(result.messages).toMatchObject({ sent: 6, acked: 0, mismatched: 6, missing: 0 });
  };

  it('LOAD-013 counts wrong replies as mismatched, with a sample of what came back', async () => {
    await using server = await createWrongAckServer();
    const result = await runLoad({ host: server.host, port: server.port, clients: 3, staggerMs: 0, messagesPerClient: 2 });
    expectSixMismatched(result);
    expect(result.errorSamples.some((s) => s.includes('"ACK from server"'))).toBe(true);
    expect(result.ok).toBe(false);
  });

  it('LOAD-014 catches a client that counts any reply as an ack, never comparing it with what it sent (fixtures/naive-load.ts)', async () => {
    await using server = await createWrongAckServer();
    const naive = await runNaiveLoad({ host: server.host, port: server.port, messages: 6, flaw: 'any-reply-is-an-ack' });
    expect(naive.messages).toMatchObject({ sent: 6, acked: 6 }); // what it reports: every message acked
    expect(() => expectSixMismatched(naive)).toThrow();
  });
});

describe('load client: latency', () => {
  it('LOAD-020 sees a server\'s reply delay in every percentile', async () => {
    const delayMs = 100;
    await using server = await createDelayedAckServer(delayMs);
    const result = await runLoad({ host: server.host, port: server.port, clients: 10, staggerMs: 0, messagesPerClient: 2 });
    expect(result.messages.acked).toBe(20);
    expect(result.latency.ack.p50).toBeGreaterThanOrEqual(delayMs - 1);
    expect(result.latency.ack.max).toBeGreaterThanOrEqual(result.latency.ack.p99);
    expect(result.latency.connect.p50).toBeLessThan(delayMs);
  });

  const stallMs = 400;
  /** 100 messages at 200/s against a server that stalls 400 ms first: the ~80 scheduled during it each waited. */
  const expectStallCharged = (result: { messages: { acked: number }; latency: { ack: { p50: number } } }): void => {
    expect(result.messages.acked).toBe(100);
    expect(result.latency.ack.p50).toBeGreaterThan(stallMs / 4);
  };

  it('LOAD-021 in open-loop mode charges a stall to every message scheduled during it (no coordinated omission)', async () => {
    // Closed loop: the one client waits out the stall once, then sends at full speed; the stall is one sample.
    await using closedServer = await createStallingAckServer(stallMs);
    const closed = await runLoad({ host: closedServer.host, port: closedServer.port, clients: 1, staggerMs: 0, messagesPerClient: 100 });
    // Open loop at 200/s for 100 messages: the ~80 scheduled during the stall each wait for its end.
    await using openServer = await createStallingAckServer(stallMs);
    const open = await runLoad({ host: openServer.host, port: openServer.port, clients: 1, staggerMs: 0, messagesPerClient: 100, rate: 200 });
    expect(closed.messages.acked).toBe(100);
    expect(closed.latency.ack.max).toBeGreaterThanOrEqual(stallMs - 5);
    expect(closed.latency.ack.p50).toBeLessThan(stallMs / 4);
    expectStallCharged(open);
  });

  it('LOAD-023 catches a client that paces --rate by waiting for each ack and times from the actual send (fixtures/naive-load.ts)', async () => {
    await using server = await createStallingAckServer(stallMs);
    const naive = await runNaiveLoad({ host: server.host, port: server.port, messages: 100, rate: 200, flaw: 'latency-from-actual-send' });
    expect(naive.messages.acked).toBe(100);
    expect(naive.latency.ack.max).toBeGreaterThanOrEqual(stallMs - 5); // it saw the stall once
    expect(() => expectStallCharged(naive)).toThrow();
  });
});

describe('load client: open loop over a duration', () => {
  it('LOAD-022 with --rate and --duration sends rate × duration messages on schedule and waits for their acks', async () => {
    await using server = await startAckServer();
    const result = await runLoad({ host: server.host, port: server.port, clients: 4, staggerMs: 0, rate: 200, durationMs: scaled(500) });
    expect(result.messages).toMatchObject({ planned: Math.floor(scaled(500) / 5), sent: Math.floor(scaled(500) / 5), missing: 0, mismatched: 0 });
    expect(result.stopped).toBe(false);
    expect(result.ok).toBe(true);
  });
});
