// The capacity tester opens N connections, keeps them, and counts exactly what the server did with
// each: established, closed by the server, failed by code. Against fixture servers with a known
// ceiling it must report that ceiling, by holding (K held, the rest closed) and by ramping (ceiling K);
// against a server that lets connections go after a time it counts the closures, or reopens them.
import { describe, expect, it } from 'vitest';
import { runCapacity } from '../../lib/capacity/workers.ts';
import { parseSourceRange } from '../../lib/capacity/options.ts';
import { countTimeWait, timeWaitBaseline } from '../../lib/capacity/limits.ts';
import { createAcceptKServer, createClosingAfterServer, createPeerRecordingServer, createStalledListener } from '../../fixtures/capacity-servers.ts';
import { closedPort } from '../../fixtures/servers.ts';
import { runNaiveCapacity, runStopAtFirstFailureCapacity } from '../../fixtures/naive-capacity.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { waitForValue } from '../_harness/wait.ts';

const fixtureOnly = libOnlyReason('capacity', 'these specs need fixture servers with a known ceiling');

describe.skipIf(fixtureOnly)('capacity: holding connections', () => {
  it('CAP-HOLD-001 holds N connections for the hold and reports all N established and held', async () => {
    await using server = await createAcceptKServer(1000);
    const result = await runCapacity({ host: server.host, port: server.port, connections: 30, delayMs: 0, holdMs: scaled(100), close: 'reset' });
    expect(result.connections).toMatchObject({ planned: 30, attempted: 30, established: 30, closedByServer: 0, failed: 0, held: 30, maxConcurrent: 30, notStarted: 0 });
    expect(result.errors).toEqual({});
    expect(result.connectLatency.count).toBe(30);
    await waitForValue(() => server.stats().accepted, 30, { what: 'connections the server accepted' });
    expect(result.ok).toBe(true);
  });

  /** 26 connections to a server that keeps 20: all established, 6 closed by the server, 20 held. */
  const expectTwentyHeldOfTwentySix = (result: { connections: object }): void => {
    expect(result.connections).toMatchObject({ established: 26, closedByServer: 6, held: 20 });
  };

  it('CAP-HOLD-002 reports exactly K held and the rest closed by a server that keeps only K', async () => {
    await using server = await createAcceptKServer(20);
    const result = await runCapacity({ host: server.host, port: server.port, connections: 26, delayMs: 1, holdMs: scaled(300), close: 'reset' });
    expectTwentyHeldOfTwentySix(result);
    expect(result.connections).toMatchObject({ planned: 26, attempted: 26, failed: 0 });
    expect(server.stats()).toMatchObject({ accepted: 26, closedByServer: 6 });
    expect(result.ok).toBe(false);
  });

  it('CAP-HOLD-003 catches a tester that counts handshakes as held (fixtures/naive-capacity.ts)', async () => {
    await using server = await createAcceptKServer(20);
    const naive = await runNaiveCapacity({ host: server.host, port: server.port, connections: 26, holdMs: scaled(300) });
    expect(server.stats()).toMatchObject({ accepted: 26, closedByServer: 6 });
    expect(naive.connections).toMatchObject({ established: 26, held: 26 }); // what a tester that never reads reports
    expect(() => expectTwentyHeldOfTwentySix(naive)).toThrow();
  });

  it('CAP-CLOSE-001 counts every closure by a server that closes each connection after a time, and ends when all are closed', async () => {
    await using server = await createClosingAfterServer(scaled(50));
    const result = await runCapacity({ host: server.host, port: server.port, connections: 20, delayMs: 2 });
    expect(result.connections).toMatchObject({ planned: 20, established: 20, closedByServer: 20, failed: 0, held: 0 });
    expect(result.timeWaitSides).toMatchObject({ client: 0, server: 20 });
    expect(result.ok).toBe(true);
  });

  it('CAP-REOPEN-001 keeps N open for the whole hold with --reopen against a server that closes them after a time', async () => {
    await using server = await createClosingAfterServer(scaled(100));
    const result = await runCapacity({ host: server.host, port: server.port, connections: 10, delayMs: 0, holdMs: scaled(450), reopen: true, close: 'reset' });
    const c = result.connections;
    expect(c.held).toBe(10);
    expect(c.closedByServer).toBeGreaterThanOrEqual(30); // each slot outlived its connection at least 3 times
    expect(c.attempted).toBe(c.established + c.failed + c.abandoned);
    expect(c.established).toBeGreaterThanOrEqual(10 + 30);
    expect(server.stats().accepted).toBe(c.established);
    expect(result.ok).toBe(true);
  });

  it('CAP-SRC-001 spreads dials over --source-ips in turn', async () => {
    await using server = await createPeerRecordingServer({ closeAfterRecording: true });
    const sources = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
    const result = await runCapacity({ host: server.host, port: server.port, connections: 9, delayMs: 0, sourceAddresses: sources });
    expect(result.connections, `errors ${JSON.stringify(result.errors)}: ${result.errorSamples.join('; ')}`).toMatchObject({ established: 9, closedByServer: 9, failed: 0 });
    expect(server.peers()).toEqual({ '127.0.0.1': 3, '127.0.0.2': 3, '127.0.0.3': 3 });
  });

  it('CAP-SRC-002 reads --source-ips as a range A-B, a list or one address, and rejects ranges that run backwards', () => {
    expect(parseSourceRange('127.0.0.254-127.0.1.1')).toEqual(['127.0.0.254', '127.0.0.255', '127.0.1.0', '127.0.1.1']);
    expect(parseSourceRange('127.0.0.1,127.0.0.5')).toEqual(['127.0.0.1', '127.0.0.5']);
    expect(parseSourceRange('::1')).toEqual(['::1']);
    expect(() => parseSourceRange('127.0.0.9-127.0.0.1')).toThrow(/ends before it starts/);
    expect(() => parseSourceRange('localhost')).toThrow(/not an IP address/);
  });

  it('CAP-TW-001 counts the TIME_WAIT sockets it leaves: N when it closes first with FIN, none with --close reset', async () => {
    await using server = await createPeerRecordingServer();
    const fin = await runCapacity({ host: server.host, port: server.port, connections: 5, delayMs: 0, holdMs: scaled(50), close: 'fin' });
    expect(fin.timeWaitSides).toEqual({ client: 5, server: 0 });
    expect(fin.timeWait).toBe(5);
    const reset = await runCapacity({ host: server.host, port: server.port, connections: 5, delayMs: 0, holdMs: scaled(50), close: 'reset' });
    expect(reset.timeWait).toBe(0);
  });

  it('CAP-TW-002 leaves out of its count the TIME_WAIT sockets that were there before it began, even those closed a moment before', async () => {
    await using server = await createPeerRecordingServer();
    const fin = await runCapacity({ host: server.host, port: server.port, connections: 5, delayMs: 0, holdMs: scaled(50), close: 'fin' });
    expect(fin.timeWait).toBe(5);
    // Read at once: the five have as much of their 60 s left as sockets closed right now would. (An
    // earlier spec's server on the same port number may have left its own here too.)
    const before = await timeWaitBaseline(server.port);
    expect(before.expiresBy.size).toBeGreaterThanOrEqual(5);
    expect(await countTimeWait(server.port, before)).toEqual({ client: 0, server: 0 });
  });
});

describe.skipIf(fixtureOnly)('capacity: ramp', () => {
  it('CAP-RAMP-001 ramps until the server closes one and reports the ceiling K, with the concurrency series', async () => {
    await using server = await createAcceptKServer(25);
    const result = await runCapacity({ host: server.host, port: server.port, connections: 200, delayMs: 2, ramp: true, rampSettleMs: scaled(150) });
    expect(result.ramp).toEqual({ ceiling: 25, reason: 'closed by the server' });
    expect(result.connections.closedByServer).toBeGreaterThanOrEqual(1);
    expect(result.connections.established).toBe(25 + result.connections.closedByServer);
    expect(result.series.at(-1)!.open).toBe(25);
    expect(result.series.every((p, i) => i === 0 || p.t >= result.series[i - 1].t)).toBe(true);
    expect(result.ok).toBe(true);
  });

  it('CAP-RAMP-002 reports the asked-for count as the ceiling when the server keeps up with all of them', async () => {
    await using server = await createAcceptKServer(1000);
    const result = await runCapacity({ host: server.host, port: server.port, connections: 40, delayMs: 0, ramp: true, rampStep: 10, rampSettleMs: scaled(50), close: 'reset' });
    expect(result.ramp).toEqual({ ceiling: 40, reason: 'reached the 40 connections asked for' });
  });
});

describe.skipIf(fixtureOnly)('capacity: failures are counted, never fatal', () => {
  /** 8 dials to a closed port: every one tried, every one refused and counted. */
  const expectEightRefused = (result: { connections: object; errors: object }): void => {
    expect(result.connections).toMatchObject({ planned: 8, attempted: 8, established: 0, failed: 8 });
    expect(result.errors).toEqual({ ECONNREFUSED: 8 });
  };

  it('CAP-ERR-001 classifies every refused dial as ECONNREFUSED and fails the run with a full result', async () => {
    const port = await closedPort();
    const result = await runCapacity({ host: '127.0.0.1', port, connections: 8, delayMs: 0 });
    expectEightRefused(result);
    expect(result.connections.held).toBe(0);
    expect(result.ok).toBe(false);
  });

  it('CAP-ERR-003 catches a tester that ends its run at the first failed dial (fixtures/naive-capacity.ts)', async () => {
    const port = await closedPort();
    const stopped = await runStopAtFirstFailureCapacity({ host: '127.0.0.1', port, connections: 8 });
    expect(stopped.connections).toMatchObject({ attempted: 1, failed: 1 }); // what it reports: one dial, then nothing
    expect(() => expectEightRefused(stopped)).toThrow();
  });

  it('CAP-ERR-002 gives up on dials the server never answers at --dial-timeout and counts them as ETIMEDOUT', async () => {
    await using server = await createStalledListener();
    const dialTimeoutMs = scaled(300);
    const started = performance.now();
    const result = await runCapacity({ host: server.host, port: server.port, connections: 8, delayMs: 0, dialTimeoutMs, close: 'reset', holdMs: 10 });
    const c = result.connections;
    expect(performance.now() - started).toBeGreaterThanOrEqual(dialTimeoutMs);
    // Linux completes backlog + 1 handshakes for a listener that does not accept, then drops SYNs.
    expect(c).toMatchObject({ established: server.backlog + 1, failed: 8 - (server.backlog + 1) });
    expect(result.errors).toEqual({ ETIMEDOUT: 8 - (server.backlog + 1) });
    expect(result.ok).toBe(false);
  });

  it('CAP-DUR-001 ends the run at --max-duration, counting what never started', async () => {
    await using server = await createPeerRecordingServer();
    const maxDurationMs = scaled(300);
    const started = performance.now();
    const result = await runCapacity({ host: server.host, port: server.port, connections: 100, delayMs: scaled(100), maxDurationMs, close: 'reset' });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(maxDurationMs - 5);
    expect(elapsed).toBeLessThan(maxDurationMs + scaled(1500));
    expect(result.stoppedBy).toBe('max-duration');
    const c = result.connections;
    expect(c.attempted).toBeGreaterThan(0);
    expect(c.attempted).toBeLessThan(100);
    expect(c.notStarted).toBe(100 - c.attempted);
    expect(result.ok).toBe(false);
  });
});
