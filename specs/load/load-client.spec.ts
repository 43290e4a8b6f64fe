// The load client runs N staggered clients, checks every reply against what each sent, and counts
// every failure by code instead of stopping: refused, reset, silent and wrong servers are each
// classified, and the latency percentiles see a server's delay. In open-loop mode (--rate) latency is
// measured from the intended send time, so a stalled server cannot hide behind fewer sends.
import { describe, expect, it } from 'vitest';
import { LoadRun, runLoad } from '../../lib/load/load-client.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import {
  closedPort,
  createDelayedAckServer,
  createResettingServer,
  createSilentServer,
  createStallingAckServer,
  createRecordingLineServer,
  createWrongAckServer,
  createHalfOpenAckServer,
} from '../../fixtures/servers.ts';
import { waitUntil } from '../_harness/wait.ts';
import { createPeerRecordingServer, createStalledListener } from '../../fixtures/capacity-servers.ts';
import { runNaiveLoad } from '../../fixtures/naive-load.ts';
import { scaled } from '../_harness/time.ts';

describe('load client: the prior art scenario', () => {
  it('LOAD-001 runs 50 staggered clients that each get their own ack, with exact totals', async () => {
    await using server = await startAckServer();
    const before = performance.now();
    const result = await runLoad({ host: server.host, port: server.port, clients: 50, staggerMs: 5 });
    const tookMs = performance.now() - before;
    expect(result.clients).toEqual({ attempted: 50, connected: 50, failed: 0 });
    // The rate is the acks over the run's own duration, which the call's time bounds.
    expect(result.durationMs).toBeGreaterThanOrEqual(49 * 5);
    expect(result.durationMs).toBeLessThanOrEqual(Math.ceil(tookMs));
    const rate = (50 * 1000) / result.durationMs;
    expect(Math.abs(result.acksPerSecond - rate)).toBeLessThanOrEqual(rate / result.durationMs + 1);
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
    expect(result.errorSamples).toContain(`client 0 connect: connect ECONNREFUSED 127.0.0.1:${port}`);
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
    expect(result.errorSamples).toContain(`client 0: no reply within ${scaled(200)}ms`);
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
    // At most five samples, each naming the client, what it wanted and what came back.
    expect(result.errorSamples).toHaveLength(5);
    for (const sample of result.errorSamples) expect(sample).toMatch(/^client [0-2]: expected "ACK Hello from client #[0-2]", got "ACK from server"$/);
    expect(result.ok).toBe(false);
    const utf8 = await runLoad({ host: server.host, port: server.port, clients: 1, staggerMs: 0, message: 'día {i}' });
    expect(utf8.errorSamples).toEqual(['client 0: expected "ACK día 0", got "ACK from server"']);
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
    // On schedule: the last of the 100 leaves 99 intervals of 5 ms after the first.
    expect(open.durationMs).toBeGreaterThanOrEqual(99 * 5);
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
    expect(result.durationMs).toBeGreaterThanOrEqual(scaled(500) - 5);
    expect(result.stopped).toBe(false);
    expect(result.ok).toBe(true);
  });
});

describe('load client: the open loop\'s schedule', () => {
  it('LOAD-027 in open loop sends each message at its time, never early, and times it from then: at 100/s message k leaves k × 10 ms after the first', async () => {
    await using server = await createRecordingLineServer('ack');
    const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, messagesPerClient: 10, rate: 100, message: 'c{i} m{n}' });
    expect(result.messages).toMatchObject({ planned: 20, sent: 20, acked: 20 });
    // Each client numbers its own messages; the schedule deals them out in turn.
    expect(server.lines().map(String).sort()).toEqual([0, 1].flatMap((i) => Array.from({ length: 10 }, (_, n) => `c${i} m${n}`)).sort());
    const arrivals = server.arrivals();
    // Timers never fire early; the first message may have been a little late, hence the 5 ms.
    for (let k = 1; k < arrivals.length; k++) expect(arrivals[k] - arrivals[0], `message ${k}`).toBeGreaterThanOrEqual(k * 10 - 5);
    // Against a server that answers at once, a latency is about a loopback round trip, never the schedule's age.
    expect(result.latency.ack.max).toBeLessThanOrEqual(result.durationMs);
    expect(result.latency.ack.p50).toBeLessThan(result.durationMs / 4);
  });

  it('LOAD-028 in open loop waits for the last acks of every client, also with a reply timeout of 0', async () => {
    // Acks come 100 ms late, after the schedule has ended: client 0's last before client 1's.
    for (const replyTimeoutMs of [scaled(2000), 0]) {
      await using server = await createDelayedAckServer(100);
      const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, messagesPerClient: 5, rate: 100, replyTimeoutMs });
      expect(result.messages, `reply timeout ${replyTimeoutMs}`).toMatchObject({ sent: 10, acked: 10, missing: 0 });
      expect(result.ok).toBe(true);
    }
  });

  it('LOAD-029 in open loop connects its clients one --stagger apart before the schedule starts, and a stop during the stagger dials no more of them', async () => {
    await using server = await startAckServer();
    const staggerMs = scaled(100);
    const staggered = await runLoad({ host: server.host, port: server.port, clients: 3, staggerMs, messagesPerClient: 1, rate: 1000 });
    expect(staggered.ok).toBe(true);
    expect(staggered.durationMs).toBeGreaterThanOrEqual(2 * staggerMs - 1);
    const controller = new AbortController();
    const run = new LoadRun({ host: server.host, port: server.port, clients: 3, staggerMs: scaled(5000), messagesPerClient: 1, rate: 1000, signal: controller.signal });
    const running = run.run();
    await waitUntil(() => run.progress().connected, (n) => n === 1, { what: 'connected clients', expected: '1' });
    controller.abort();
    const stopped = await running;
    expect(stopped.clients).toEqual({ attempted: 1, connected: 1, failed: 0 });
    expect(stopped.stopped).toBe(true);
  });

  it('LOAD-033 in open loop holds each connection for --hold after the last ack, and a shard with no clients sends nothing', async () => {
    await using server = await startAckServer();
    const holdMs = scaled(300);
    const held = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, messagesPerClient: 1, rate: 1000, holdMs });
    expect(held.ok).toBe(true);
    expect(held.durationMs).toBeGreaterThanOrEqual(holdMs);
    // One client in two shards: shard 0 has none.
    const empty = await runLoad({ host: server.host, port: server.port, clients: 1, staggerMs: 0, rate: 100, durationMs: scaled(100), shard: { index: 0, count: 2 } });
    expect(empty.clients).toEqual({ attempted: 0, connected: 0, failed: 0 });
    expect(empty.messages).toMatchObject({ planned: 0, sent: 0 });
  });
});

describe('load client: what goes on the wire', () => {
  it('LOAD-004 renders {i} as the client and {n} as the message number, sends non-ASCII messages as UTF-8, and matches acks split over reads', async () => {
    for (const [message, rate] of [['c{i} m{n} {i}', 0], ['c{i} m{n} día', 0], ['c{i} m{n} {i}', 1000]] as const) {
      await using server = await createRecordingLineServer('split-ack');
      const result = await runLoad({ host: server.host, port: server.port, clients: 3, staggerMs: 0, messagesPerClient: 2, pipeline: 2, message, rate });
      const expected = [0, 1, 2].flatMap((i) => [0, 1].map((n) => message.replaceAll('{i}', String(i)).replaceAll('{n}', String(n))));
      expect(server.lines().map((line) => line.toString('hex')).sort(), message).toEqual(expected.map((text) => Buffer.from(text).toString('hex')).sort());
      expect(result.messages, message).toEqual({ planned: 6, sent: 6, acked: 6, mismatched: 0, missing: 0, extra: 0 });
      expect(result.ok, message).toBe(true);
    }
  });

  it('LOAD-005 counts a reply nobody asked for as extra, and such a run is not ok', async () => {
    await using server = await createRecordingLineServer('twice');
    const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0 });
    expect(result.messages).toEqual({ planned: 2, sent: 2, acked: 2, mismatched: 0, missing: 0, extra: 2 });
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(false);
  });

  it('LOAD-006 counts a server that hangs up with acks outstanding as ECLOSED, saying how many', async () => {
    await using server = await createRecordingLineServer('hang-up');
    const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0 });
    expect(result.errors).toEqual({ ECLOSED: 2 });
    expect(result.errorSamples).toContain('client 0: server closed the connection with 1 acks outstanding');
    expect(result.messages).toMatchObject({ sent: 2, acked: 0, missing: 2 });
    expect(result.ok).toBe(false);
  });

  it('LOAD-007 holds each connection open for --hold after its last ack', async () => {
    await using server = await startAckServer();
    const holdMs = scaled(300);
    const running = runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, holdMs });
    await waitUntil(() => server.stats(), (s) => s.acks === 2, { what: 'acks', expected: '2' });
    expect(server.stats().open).toBe(2);
    const result = await running;
    expect(result.ok).toBe(true);
    expect(result.durationMs).toBeGreaterThanOrEqual(holdMs - 1);
    await waitUntil(() => server.stats().open, (open) => open === 0, { what: 'open connections after the run', expected: '0' });
  });
});

describe('load client: stopping', () => {
  it('LOAD-008 a run stopped by its signal ends at once, says it was stopped, counts what it never sent, and is not ok', async () => {
    await using server = await startAckServer();
    const controller = new AbortController();
    const staggerMs = scaled(5_000);
    const run = new LoadRun({ host: server.host, port: server.port, clients: 2, staggerMs, signal: controller.signal });
    const before = performance.now();
    const running = run.run();
    // Client 0 is done; client 1 waits out its stagger.
    await waitUntil(() => server.stats(), (s) => s.acks === 1 && s.open === 0, { what: 'the first client done', expected: '1 ack, no connection open' });
    expect(run.progress()).toEqual({ started: 1, connected: 1, failed: 0, sent: 1, acked: 1, errors: 0 });
    controller.abort();
    const result = await running;
    expect(performance.now() - before).toBeLessThan(staggerMs);
    expect(result.stopped).toBe(true);
    expect(result.clients).toEqual({ attempted: 1, connected: 1, failed: 0 });
    expect(result.messages).toEqual({ planned: 2, sent: 1, acked: 1, mismatched: 0, missing: 0, extra: 0 });
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(false);
  });
  it('LOAD-009 a duration cuts a closed-loop run short, and the run leaves no connection open', async () => {
    await using server = await startAckServer();
    const durationMs = scaled(300);
    const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, messagesPerClient: 10_000_000, durationMs });
    expect(result.stopped).toBe(true);
    expect(result.durationMs).toBeGreaterThanOrEqual(durationMs - 1);
    expect(result.messages.sent).toBeLessThan(result.messages.planned);
    expect(result.messages.acked).toBeGreaterThan(0);
    await waitUntil(() => server.stats().open, (open) => open === 0, { what: 'open connections after the run', expected: '0' });
  });
});

describe('load client: ending connections', () => {
  it('LOAD-018 ends each connection with a FIN after its last ack, and gives up on a server that keeps its side open at the reply timeout', async () => {
    await using server = await createHalfOpenAckServer();
    const replyTimeoutMs = scaled(300);
    const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, replyTimeoutMs });
    expect(result.messages).toMatchObject({ sent: 2, acked: 2, missing: 0 });
    expect(result.errors).toEqual({});
    expect(server.fins()).toBe(2);
    // Each waited for the server's side to close, then stopped waiting at the reply timeout.
    expect(result.durationMs).toBeGreaterThanOrEqual(replyTimeoutMs - 5);
    expect(result.durationMs).toBeLessThan(replyTimeoutMs + scaled(2000));
    // A server that closes when the client does lets it go at once.
    await using closing = await startAckServer();
    const quick = await runLoad({ host: closing.host, port: closing.port, clients: 2, staggerMs: 0, replyTimeoutMs: scaled(5000) });
    expect(quick.ok).toBe(true);
    expect(quick.durationMs).toBeLessThan(scaled(2500));
  });

  it('LOAD-019 keeps any number of staggered clients waiting on one stop signal without a listener-leak warning', async () => {
    await using server = await startAckServer();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      // All but the first wait out their stagger at once, each listening for a stop.
      const result = await runLoad({ host: server.host, port: server.port, clients: 40, staggerMs: 1 });
      expect(result.ok).toBe(true);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });
});

describe('load client: what makes a run not ok', () => {
  it('LOAD-034 counts a reply longer than any ack could be (1 MiB) as an extra reply, and samples a wrong reply by its first bytes and length', async () => {
    await using server = await createRecordingLineServer('oversized-first');
    const result = await runLoad({ host: server.host, port: server.port, clients: 1, staggerMs: 0 });
    // The 1.5 MiB line: its first MiB is the extra reply. The rest, read as a line of its own, is the
    // wrong answer to the message, and the ack after it answers nothing: one more extra.
    expect(result.messages).toMatchObject({ sent: 1, acked: 0, mismatched: 1, extra: 2 });
    expect(result.errorSamples).toEqual([expect.stringMatching(/^client 0: expected "ACK Hello from client #0", got "x{120}… \(\d+ bytes\)"$/)]);
    expect(result.ok).toBe(false);
  });

  it('LOAD-039 shows a wrong reply of 120 bytes, the sample\'s limit, whole, also when it does not start its read', async () => {
    await using server = await createRecordingLineServer('ack-then-wrong-120');
    // Two messages in flight: the server answers both in one write, the first right, the second wrong.
    const result = await runLoad({ host: server.host, port: server.port, clients: 1, staggerMs: 0, messagesPerClient: 2, pipeline: 2 });
    expect(result.messages).toMatchObject({ sent: 2, acked: 1, mismatched: 1, extra: 0 });
    expect(result.errorSamples).toEqual([`client 0: expected "ACK Hello from client #0", got "${'w'.repeat(120)}"`]);
  });

  it('LOAD-035 a connection the server resets after its last ack is an error, and the run is not ok though every ack came', async () => {
    await using server = await createRecordingLineServer('reset-after-ack');
    const result = await runLoad({ host: server.host, port: server.port, clients: 1, staggerMs: 0, holdMs: scaled(500) });
    expect(result.messages).toMatchObject({ sent: 1, acked: 1, missing: 0 });
    expect(result.errors).toEqual({ ECONNRESET: 1 });
    expect(result.ok).toBe(false);
  });

  it('LOAD-036 a run stopped with acks outstanding counts them missing and is not ok, though it sent all it planned', async () => {
    await using server = await createDelayedAckServer(scaled(5000));
    const controller = new AbortController();
    const run = new LoadRun({ host: server.host, port: server.port, clients: 2, staggerMs: 0, signal: controller.signal });
    const running = run.run();
    await waitUntil(() => run.progress().sent, (n) => n === 2, { what: 'messages sent', expected: '2' });
    controller.abort();
    const result = await running;
    expect(result.messages).toMatchObject({ planned: 2, sent: 2, acked: 0, missing: 2 });
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(false);
  });

  it('LOAD-037 a server that closes a connection during --hold ends that hold, and the run is ok', async () => {
    await using server = await createRecordingLineServer('end-after-ack');
    const holdMs = scaled(60_000);
    const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, holdMs });
    expect(result.durationMs).toBeLessThan(holdMs);
    expect(result.messages).toMatchObject({ sent: 2, acked: 2 });
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(true);
  });

  it('LOAD-038 with a connect timeout of 0 a dial waits as long as it takes, and a stop gives it up at once, counting it neither made nor failed', async () => {
    await using stalled = await createStalledListener();
    // Fill the listener's queue (the connections stay queued when the client gives up on its FIN).
    await runLoad({ host: stalled.host, port: stalled.port, clients: stalled.backlog + 1, staggerMs: 0, messagesPerClient: 0, replyTimeoutMs: scaled(100) });
    const controller = new AbortController();
    const run = new LoadRun({ host: stalled.host, port: stalled.port, clients: 1, staggerMs: 0, connectTimeoutMs: 0, signal: controller.signal });
    const running = run.run();
    // Long enough for any timer a connect timeout of 0 must not have set.
    await new Promise((resolve) => setTimeout(resolve, scaled(200)));
    expect(run.progress()).toMatchObject({ started: 1, connected: 0, failed: 0 });
    const before = performance.now();
    controller.abort();
    const result = await running;
    expect(performance.now() - before).toBeLessThan(scaled(1000));
    expect(result.clients).toEqual({ attempted: 1, connected: 0, failed: 0 });
    expect(result.errors).toEqual({});
    expect(result.stopped).toBe(true);
  });
});

describe('load client: shards, no reply timeout, open-loop failures', () => {
  it('LOAD-025 a shard runs its share of the clients, numbered as in the whole run, and names itself', async () => {
    await using server = await createRecordingLineServer('split-ack');
    const shard = { index: 1, count: 2 };
    const result = await runLoad({ host: server.host, port: server.port, clients: 5, staggerMs: 0, message: 'c{i}', shard });
    // Of clients 0-4, shard 1 of 2 runs 2, 3 and 4.
    expect(server.lines().map(String).sort()).toEqual(['c2', 'c3', 'c4']);
    expect(result.shard).toEqual(shard);
    expect(result.clients).toEqual({ attempted: 3, connected: 3, failed: 0 });
    // In open loop a shard sends its share of the rate: half of 200/s for 500 ms is 50 messages.
    await using ack = await startAckServer();
    const open = await runLoad({ host: ack.host, port: ack.port, clients: 4, staggerMs: 0, rate: 200, durationMs: scaled(500), shard: { index: 0, count: 2 } });
    expect(open.messages).toMatchObject({ planned: Math.floor(scaled(500) / 10), missing: 0 });
  });

  it('LOAD-024 with a reply timeout of 0 waits as long as a reply takes', async () => {
    await using server = await createDelayedAckServer(scaled(150));
    const result = await runLoad({ host: server.host, port: server.port, clients: 3, staggerMs: 0, replyTimeoutMs: 0 });
    expect(result.errors).toEqual({});
    expect(result.messages).toMatchObject({ sent: 3, acked: 3, missing: 0 });
  });

  it('LOAD-026 in open loop, refused and reset connections are counted, and what they were scheduled to send is planned but not sent', async () => {
    const refused = await runLoad({ host: '127.0.0.1', port: await closedPort(), clients: 2, staggerMs: 0, messagesPerClient: 5, rate: 500 });
    expect(refused.errors).toEqual({ ECONNREFUSED: 2 });
    expect(refused.messages).toMatchObject({ planned: 10, sent: 0, acked: 0 });
    expect(refused.ok).toBe(false);
    await using server = await createResettingServer();
    const reset = await runLoad({ host: server.host, port: server.port, clients: 1, staggerMs: 0, messagesPerClient: 50, rate: 500 });
    expect(reset.errors).toEqual({ ECONNRESET: 1 });
    expect(reset.messages.planned).toBe(50);
    expect(reset.messages.sent).toBeLessThan(50);
    expect(reset.ok).toBe(false);
  });
});

describe('load client: near misses, dial timeouts, source addresses', () => {
  it('LOAD-015 a reply that differs from the ack in its last byte, or has one byte more, is mismatched, for text and for raw bytes', async () => {
    for (const reply of ['last-byte-wrong', 'one-byte-longer'] as const) {
      for (const message of ['plain {i}', 'día {i}']) {
        await using server = await createRecordingLineServer(reply);
        const result = await runLoad({ host: server.host, port: server.port, clients: 2, staggerMs: 0, message });
        expect(result.messages, `${reply}, ${message}`).toMatchObject({ sent: 2, acked: 0, mismatched: 2 });
      }
    }
  });

  it('LOAD-016 gives up on a dial the server never answers at the connect timeout, counting ETIMEDOUT with the timeout in its message', async () => {
    await using server = await createStalledListener();
    const connectTimeoutMs = scaled(300);
    // backlog + 1 handshakes complete on a listener that does not accept; the rest hang.
    const clients = server.backlog + 3;
    const result = await runLoad({ host: server.host, port: server.port, clients, staggerMs: 0, connectTimeoutMs, replyTimeoutMs: scaled(300) });
    expect(result.clients).toEqual({ attempted: clients, connected: server.backlog + 1, failed: 2 });
    expect(result.errors).toMatchObject({ ETIMEDOUT: 2 });
    expect(result.errorSamples.filter((sample) => sample.endsWith(` connect: connect timed out after ${connectTimeoutMs}ms`))).toHaveLength(2);
  });

  it('LOAD-017 dials from the given source addresses in turn', async () => {
    await using server = await createPeerRecordingServer({ closeAfterRecording: true });
    await runLoad({ host: server.host, port: server.port, clients: 6, staggerMs: 0, sourceAddresses: ['127.0.0.2', '127.0.0.3', '127.0.0.4'], replyTimeoutMs: scaled(500) });
    expect(server.peers()).toEqual({ '127.0.0.2': 2, '127.0.0.3': 2, '127.0.0.4': 2 });
  });
});
