// The capacity tester's own bookkeeping, judged in one process (lib/capacity/capacity-run.ts): the
// events it reports per connection, its live gauges, a stop by signal before and during a run (also
// from its own event handlers), what makes a run ok, memory readings that fail, the
// slots a shard numbers its connections by, and the figures of its result that are derived from
// others (rates, per-connection memory, TIME_WAIT totals, the thinned series). The capacity family's
// other specs judge the counts against servers with a known ceiling; these pin what the run says of itself.
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serve } from '../../lib/net/listen.ts';
import { CapacityRun } from '../../lib/capacity/capacity-run.ts';
import type { CapacityEvent } from '../../lib/capacity/options.ts';
import type { CapacityResult } from '../../lib/results/capacity.ts';
import { createAcceptKServer, createClosingAfterServer, createPeerRecordingServer, createResetAfterAcceptServer, createStalledListener } from '../../fixtures/capacity-servers.ts';
import { closedPort, createHalfOpenAckServer } from '../../fixtures/servers.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { waitUntil } from '../_harness/wait.ts';

const needsLib = libOnlyReason('capacity', "reads the tester's own events and gauges");

describe.skipIf(needsLib)('capacity run: what it reports as it goes', () => {
  it('CAP-RUN-001 reports each dial, handshake, closure by the server and the end of opening as events, and its gauges match them', async () => {
    await using server = await createAcceptKServer(2);
    const events: CapacityEvent[] = [];
    const holdMs = scaled(400);
    const run = new CapacityRun({ host: server.host, port: server.port, connections: 3, delayMs: 0, holdMs, close: 'reset', onEvent: (e) => events.push(e) });
    const running = run.run();
    await waitUntil(() => events.filter((e) => e.type === 'closed-by-server').length, (n) => n === 1, { what: 'closures by the server', expected: '1' });
    const progress = run.progress();
    expect(progress).toMatchObject({ planned: 3, notStarted: 0, dialing: 0, open: 2, established: 3, closedByServer: 1, failed: 0, errors: 0 });
    const result = await running;
    const slotsOf = (type: string): number[] => events.flatMap((e) => (e.type === type && 'slot' in e ? [e.slot] : [])).sort();
    expect(slotsOf('dialing')).toEqual([0, 1, 2]);
    expect(slotsOf('established')).toEqual([0, 1, 2]);
    expect(events.filter((e) => e.type === 'closed-by-server')).toEqual([{ type: 'closed-by-server', slot: expect.any(Number), code: undefined }]);
    expect(events.filter((e) => e.type === 'opened-all')).toHaveLength(1);
    expect(result.connections).toMatchObject({ held: 2, closedByServer: 1, maxConcurrent: progress.maxConcurrent });
  });

  it('CAP-RUN-002 reports each refused dial as a failed event with its code, and a sample naming the connection', async () => {
    const port = await closedPort();
    const events: CapacityEvent[] = [];
    const result = await new CapacityRun({ host: '127.0.0.1', port, connections: 3, delayMs: 0, onEvent: (e) => events.push(e) }).run();
    expect(events.filter((e) => e.type === 'failed').sort((a, b) => ('slot' in a && 'slot' in b ? a.slot - b.slot : 0))).toEqual(
      [0, 1, 2].map((slot) => ({ type: 'failed', slot, code: 'ECONNREFUSED' })),
    );
    expect(result.errorSamples.sort()).toEqual(['connection 0: ECONNREFUSED', 'connection 1: ECONNREFUSED', 'connection 2: ECONNREFUSED']);
    expect(result.ok).toBe(false);
  });
});

describe.skipIf(needsLib)('capacity run: stopping by signal', () => {
  it('CAP-RUN-003 a signal aborted before the run starts gives a result at once with nothing dialed', async () => {
    await using server = await createAcceptKServer(100);
    const controller = new AbortController();
    const run = new CapacityRun({ host: server.host, port: server.port, connections: 5, delayMs: 0, holdMs: scaled(60_000), signal: controller.signal });
    await run.prepare();
    controller.abort();
    const result = await run.run();
    expect(result.stoppedBy).toBe('signal');
    expect(result.connections).toMatchObject({ planned: 5, attempted: 0, established: 0, notStarted: 5 });
    expect(result.opening).toEqual({ ms: 0, established: 0, perSecond: 0 }); // no opening, so no rate
    expect(result.ok).toBe(false);
    expect(server.stats().accepted).toBe(0);
  });

  it('CAP-RUN-004 a signal during the hold ends the run then, with what it held, not ok', async () => {
    await using server = await createAcceptKServer(100);
    const controller = new AbortController();
    const holdMs = scaled(60_000);
    const run = new CapacityRun({ host: server.host, port: server.port, connections: 4, delayMs: 0, holdMs, close: 'reset', signal: controller.signal });
    const before = performance.now();
    const running = run.run();
    await waitUntil(() => run.progress().open, (open) => open === 4, { what: 'open connections', expected: '4' });
    controller.abort();
    run.stop('max-duration'); // the first reason stands
    const result = await running;
    expect(performance.now() - before).toBeLessThan(holdMs);
    expect(result.stoppedBy).toBe('signal');
    expect(result.connections).toMatchObject({ established: 4, held: 4, abandoned: 0, notStarted: 0 });
    expect(result.ok).toBe(false);
  });

  it('CAP-RUN-013 a signal once the run has judged its target, while it counts what its closes left, changes nothing: the run completed', async () => {
    // The server never answers our FINs, so the count waits for closes to settle, a second at most.
    await using server = await createHalfOpenAckServer();
    const controller = new AbortController();
    const run = new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: 0, holdMs: scaled(50), close: 'fin', signal: controller.signal });
    const running = run.run();
    await waitUntil(() => server.fins(), (fins) => fins === 2, { what: 'FINs the server received', expected: '2' });
    controller.abort();
    const result = await running;
    expect(result.stoppedBy).toBeUndefined();
    expect(result.connections).toMatchObject({ established: 2, held: 2 });
    expect(result.ok).toBe(true);
  });
});

describe.skipIf(needsLib)('capacity run: shards and derived figures', () => {
  it("CAP-RUN-005 a shard numbers its connections as in the whole run and names itself in the result", async () => {
    const port = await closedPort();
    const shard = { index: 1, count: 2 };
    const events: CapacityEvent[] = [];
    const delayMs = scaled(50);
    const result = await new CapacityRun({ host: '127.0.0.1', port, connections: 4, delayMs, shard, onEvent: (e) => events.push(e) }).run();
    expect(events.flatMap((e) => (e.type === 'dialing' ? [e.slot] : [])).sort()).toEqual([2, 3]);
    // Two shards share the pace: each dials every 2 × delay, so the whole run keeps one dial per delay.
    expect(result.opening.ms).toBeGreaterThanOrEqual(2 * delayMs - 1);
    expect(result.errorSamples.sort()).toEqual(['connection 2: ECONNREFUSED', 'connection 3: ECONNREFUSED']);
    expect(result.shard).toEqual(shard);
    expect(result.connections).toMatchObject({ planned: 2, attempted: 2, failed: 2 });
    // And so are the closures by the server, in their events and samples.
    await using resetting = await createResetAfterAcceptServer();
    const closures: CapacityEvent[] = [];
    const reset = await new CapacityRun({ host: resetting.host, port: resetting.port, connections: 4, delayMs: 0, shard, onEvent: (e) => closures.push(e) }).run();
    expect(closures.flatMap((e) => (e.type === 'closed-by-server' ? [e.slot] : [])).sort()).toEqual([2, 3]);
    expect(reset.errorSamples.sort()).toEqual(['connection 2 closed: ECONNRESET', 'connection 3 closed: ECONNRESET']);
  });

  it('CAP-RUN-006 derives its rates, connect times, memory per connection and TIME_WAIT total from its own figures', async () => {
    await using server = await createClosingAfterServer(scaled(50));
    const before = Date.now();
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 20, delayMs: 1 }).run();
    const tookMs = Date.now() - before;
    expect(result.connections).toMatchObject({ established: 20, closedByServer: 20 });
    expect(result.timeWait).toBe(result.timeWaitSides.client + result.timeWaitSides.server);
    expect(result.timeWaitSides.server).toBeGreaterThan(0);
    const { ms, established, perSecond } = result.opening;
    expect(established).toBe(20);
    expect(ms).toBeGreaterThanOrEqual(19);
    // ms is rounded: the rate from it is within one step of the rate the run computed from the exact time.
    expect(perSecond).toBeLessThanOrEqual(Math.ceil((established * 1000) / (ms - 0.5)));
    expect(perSecond).toBeGreaterThanOrEqual(Math.floor((established * 1000) / (ms + 0.5)));
    expect(result.durationMs).toBeGreaterThanOrEqual(ms);
    expect(result.durationMs).toBeLessThanOrEqual(tookMs);
    // Each handshake is timed from its own dial: none took longer than the opening (ms is rounded).
    expect(result.connectLatency.count).toBe(20);
    expect(result.connectLatency.max).toBeLessThanOrEqual(ms + 0.5);
    expect(result.memory.perConnectionBytes).toBe(0); // none held at the end
  });

  it('CAP-RUN-007 memory per held connection is the growth over what it held', async () => {
    await using server = await createAcceptKServer(1000);
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 50, delayMs: 0, holdMs: scaled(100), close: 'reset' }).run();
    expect(result.connections.held).toBe(50);
    expect(result.memory.rssBytes).toBeGreaterThan(0);
    expect(result.memory.perConnectionBytes).toBe(Math.round(result.memory.grownBytes / 50));
  });

  it('CAP-RUN-008 keeps a long series to at most 2,000 points, evenly thinned, from the start to the judging', async () => {
    await using server = await createAcceptKServer(1000);
    const holdMs = 2600;
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: 0, holdMs, close: 'reset', sampleIntervalMs: 1 }).run();
    const { series } = result;
    expect(series.length).toBeLessThanOrEqual(2000);
    expect(series.length).toBeGreaterThan(500);
    expect(series[0]).toEqual({ t: expect.any(Number), open: 0 });
    expect(series[0].t).toBeLessThan(50);
    expect(series.at(-1)).toMatchObject({ open: 2 });
    expect(series.at(-1)!.t).toBeGreaterThanOrEqual(holdMs - 1);
    expect(series.every((p, i) => i === 0 || p.t >= series[i - 1].t)).toBe(true);
  }, 20_000);
});

describe.skipIf(needsLib)('capacity run: resets, dial timeouts, ramps, reopens', () => {
  it('CAP-RUN-009 counts a connection the server resets as closed by the server with ECONNRESET, in its events and samples', async () => {
    await using server = await createResetAfterAcceptServer();
    const events: CapacityEvent[] = [];
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 3, delayMs: 0, onEvent: (e) => events.push(e) }).run();
    // Each was established (the reset comes 50 ms after the handshake), then closed by the reset.
    expect(result.connections).toMatchObject({ established: 3, closedByServer: 3, failed: 0, held: 0 });
    expect(result.errors).toEqual({ ECONNRESET: 3 });
    expect(result.errorSamples.sort()).toEqual([0, 1, 2].map((slot) => `connection ${slot} closed: ECONNRESET`));
    expect(events.filter((e) => e.type === 'closed-by-server').map((e) => ('code' in e ? e.code : undefined))).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
  });

  it('CAP-RUN-010 with a dial timeout of 0 a dial waits as long as it takes; a stop abandons it, and the run is not ok', async () => {
    await using server = await createStalledListener();
    const connections = server.backlog + 3;
    const result = await new CapacityRun({ host: server.host, port: server.port, connections, delayMs: 0, dialTimeoutMs: 0, holdMs: scaled(60_000), maxDurationMs: scaled(400), close: 'reset' }).run();
    expect(result.stoppedBy).toBe('max-duration');
    expect(result.connections).toMatchObject({ attempted: connections, established: server.backlog + 1, failed: 0, abandoned: 2, notStarted: 0 });
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(false);
  });

  it('CAP-RUN-011 a ramp stops at its first failed dial, names the code as its reason, and reports what it held as the ceiling', async () => {
    await using server = await createStalledListener();
    const events: CapacityEvent[] = [];
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 50, delayMs: 5, ramp: true, dialTimeoutMs: scaled(200), rampSettleMs: scaled(50), close: 'reset', onEvent: (e) => events.push(e) }).run();
    expect(result.ramp).toEqual({ ceiling: server.backlog + 1, reason: 'ETIMEDOUT' });
    expect(events.filter((e) => e.type === 'ramp-stopped')).toEqual([{ type: 'ramp-stopped', reason: 'ETIMEDOUT' }]);
    expect(result.connections.attempted).toBeLessThan(50);
    expect(result.ok).toBe(true);
  });

  it("CAP-RUN-012 the opening's count is of the first handshakes only; reopens during the hold are counted apart", async () => {
    await using server = await createClosingAfterServer(scaled(60));
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 5, delayMs: 0, holdMs: scaled(300), reopen: true, close: 'reset' }).run();
    expect(result.opening.established).toBe(5);
    expect(result.connections.established).toBeGreaterThan(5);
  });
});

describe.skipIf(needsLib)('capacity run: pace and dials in flight', () => {
  /**
   * When each slot's dial began, by slot, in ms from this call. Call it just before the run: the run's
   * schedule counts from a moment after this one (once it has prepared), so no dial may come earlier than
   * its due time measured from here. Measured from the first dial instead, a pause of the machine between
   * the run's start and its first dial would make the second look early.
   */
  function dialTimes(): { onEvent: (e: CapacityEvent) => void; times: Map<number, number> } {
    const times = new Map<number, number>();
    const origin = performance.now();
    return {
      times,
      onEvent: (e) => {
        if (e.type === 'dialing') times.set(e.slot, performance.now() - origin);
      },
    };
  }

  it('CAP-RUN-014 dials one --delay apart, on schedule, and a shard of K dials K delays apart, so K shards together keep the pace of one run', async () => {
    await using server = await createAcceptKServer(100);
    const delayMs = scaled(20);
    const one = dialTimes();
    await new CapacityRun({ host: server.host, port: server.port, connections: 4, delayMs, holdMs: 10, close: 'reset', onEvent: one.onEvent }).run();
    const shard = dialTimes();
    await new CapacityRun({ host: server.host, port: server.port, connections: 8, delayMs, holdMs: 10, close: 'reset', shard: { index: 1, count: 2 }, onEvent: shard.onEvent }).run();
    // No dial before its due time (timers never fire early by more than a rounding millisecond). Late
    // is mostly the machine's business, but the schedule keeps to its times: a pause delays the dials
    // due during it, and adds nothing to those after.
    expect([...one.times.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const [slot, t] of one.times) expect(t).toBeGreaterThanOrEqual(slot * delayMs - 2);
    expect(one.times.get(3)).toBeLessThan(3 * delayMs + scaled(1000));
    expect([...shard.times.keys()].sort()).toEqual([4, 5, 6, 7]);
    for (const [slot, t] of shard.times) expect(t).toBeGreaterThanOrEqual((slot - 4) * 2 * delayMs - 2);
  });

  it('CAP-RUN-015 a ramp dials --ramp-step connections at a time, one --delay between steps', async () => {
    await using server = await createAcceptKServer(100);
    const delayMs = scaled(30);
    const ramp = dialTimes();
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 9, delayMs, ramp: true, rampStep: 3, rampSettleMs: 10, close: 'reset', onEvent: ramp.onEvent }).run();
    expect(result.ramp).toMatchObject({ ceiling: 9 });
    const at = (slot: number): number => ramp.times.get(slot)!;
    for (const step of [0, 3, 6]) {
      // A step's dials start together, in one go...
      expect(at(step + 2) - at(step)).toBeLessThan(delayMs / 2);
      // ...one delay per step after the first, never earlier (timers never fire early).
      expect(at(step)).toBeGreaterThanOrEqual((step / 3) * delayMs - 2);
    }
  });

  it('CAP-RUN-016 keeps at most --max-dialing dials in flight, starting the next as one ends', async () => {
    await using server = await createStalledListener();
    let inFlight = 0;
    let most = 0;
    const onEvent = (e: CapacityEvent): void => {
      if (e.type === 'dialing') most = Math.max(most, ++inFlight);
      else if (e.type === 'established' || e.type === 'failed') inFlight--;
    };
    // Past the listener's queue every dial hangs until its timeout, so dials pile up to the cap.
    const connections = server.backlog + 7;
    const result = await new CapacityRun({ host: server.host, port: server.port, connections, delayMs: 0, maxDialing: 3, dialTimeoutMs: scaled(150), holdMs: 10, close: 'reset', onEvent }).run();
    expect(most).toBe(3);
    expect(result.connections).toMatchObject({ attempted: connections, established: server.backlog + 1, failed: 6, notStarted: 0 });
    expect(result.errors).toEqual({ ETIMEDOUT: 6 });
  });
});

describe.skipIf(needsLib)('capacity run: a stop from its own events, and what makes a run ok', () => {
  /** A run whose `onEvent` aborts it at the first event `when` picks. */
  function stopAt(when: (e: CapacityEvent) => boolean): { signal: AbortSignal; events: CapacityEvent[]; onEvent: (e: CapacityEvent) => void } {
    const controller = new AbortController();
    const events: CapacityEvent[] = [];
    return {
      signal: controller.signal,
      events,
      onEvent: (e) => {
        events.push(e);
        if (when(e)) controller.abort();
      },
    };
  }
  /**
   * The timers set from here on that are still pending (neither fired nor cleared): a run that ends
   * must leave none of its own behind.
   */
  function pendingTimers(): Set<NodeJS.Timeout> {
    const pending = new Set<NodeJS.Timeout>();
    const { setTimeout: set, clearTimeout: clear } = globalThis;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const timer = set(() => {
        pending.delete(timer);
        callback(...args);
      }, ms);
      pending.add(timer);
      return timer;
    }) as typeof setTimeout);
    vi.spyOn(globalThis, 'clearTimeout').mockImplementation((timer) => {
      pending.delete(timer as NodeJS.Timeout);
      clear(timer);
    });
    return pending;
  }
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("CAP-RUN-017 a stop from a dial's own event abandons that dial and starts no other", async () => {
    await using server = await createAcceptKServer(100);
    const stop = stopAt((e) => e.type === 'dialing');
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 3, delayMs: 0, close: 'reset', ...stop }).run();
    expect(stop.events.filter((e) => e.type === 'dialing')).toEqual([{ type: 'dialing', slot: 0 }]);
    expect(result.connections).toMatchObject({ attempted: 1, abandoned: 1, established: 0, notStarted: 2 });
  });

  it('CAP-RUN-018 a run with a dial abandoned at its stop is not ok, though nothing failed and every slot was dialed', async () => {
    await using server = await createAcceptKServer(100);
    // With no delay all three dials start in one go: the last one's event finds all three in flight.
    const stop = stopAt((e) => e.type === 'dialing' && e.slot === 2);
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 3, delayMs: 0, close: 'reset', ...stop }).run();
    expect(result.connections).toMatchObject({ attempted: 3, abandoned: 3, failed: 0, notStarted: 0 });
    expect(result.ok).toBe(false);
  });

  /** Two slots a minute apart, stopped once the first is established. */
  async function stoppedAfterTheFirst(): Promise<CapacityResult> {
    await using server = await createAcceptKServer(100);
    const stop = stopAt((e) => e.type === 'established');
    // Awaited here: the server is disposed when this function returns.
    return await new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: scaled(60_000), close: 'reset', ...stop }).run();
  }

  it('CAP-RUN-019 a run stopped before it dialed every slot is not ok, though every dial it made was established', async () => {
    const result = await stoppedAfterTheFirst();
    expect(result.connections).toMatchObject({ attempted: 1, established: 1, failed: 0, abandoned: 0, notStarted: 1 });
    expect(result.ok).toBe(false);
  });

  it('CAP-RUN-020 the opening of a run stopped before it dialed every slot lasts until the stop, and counts what it established', async () => {
    const result = await stoppedAfterTheFirst();
    expect(result.opening.established).toBe(1);
    // The stop came a moment after the first handshake: a rate, not the 0 of an opening never timed.
    expect(result.opening.perSecond).toBeGreaterThan(0);
    expect(result.opening.ms).toBeLessThan(scaled(60_000));
  });

  it('CAP-RUN-021 a ramp whose first dial is refused found no ceiling, and is not ok', async () => {
    const port = await closedPort();
    const result = await new CapacityRun({ host: '127.0.0.1', port, connections: 5, delayMs: 0, ramp: true, rampSettleMs: 10 }).run();
    expect(result.ramp).toEqual({ ceiling: 0, reason: 'ECONNREFUSED' });
    expect(result.ok).toBe(false);
  });

  it('CAP-RUN-022 a ramp stopped after its settle, during its hold, found a ceiling but is not ok, and leaves no timer behind', async () => {
    await using server = await createAcceptKServer(100);
    const stop = stopAt((e) => e.type === 'ramp-settled');
    const timers = pendingTimers();
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 3, delayMs: 0, ramp: true, rampSettleMs: 10, holdMs: scaled(60_000), close: 'reset', ...stop }).run();
    expect(stop.events.filter((e) => e.type === 'ramp-settled')).toEqual([{ type: 'ramp-settled', ceiling: 3 }]);
    expect(result.ramp).toEqual({ ceiling: 3, reason: 'reached the 3 connections asked for' });
    expect(result.stoppedBy).toBe('signal');
    expect(result.ok).toBe(false);
    expect(timers.size).toBe(0);
  });

  it('CAP-RUN-023 a stop from the event that ends the opening ends the run there: no hold begins, no timer is left behind', async () => {
    await using server = await createAcceptKServer(100);
    const stop = stopAt((e) => e.type === 'opened-all');
    const timers = pendingTimers();
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: 0, holdMs: scaled(60_000), close: 'reset', ...stop }).run();
    expect(result.connections).toMatchObject({ established: 2, held: 2 });
    expect(result.stoppedBy).toBe('signal');
    expect(timers.size).toBe(0);
  });

  it('CAP-RUN-035 a ramp that stopped short of N dials no more during the hold after its settle', async () => {
    await using server = await createAcceptKServer(3);
    const delayMs = scaled(10);
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 50, delayMs, ramp: true, rampSettleMs: 10, holdMs: scaled(150), close: 'reset' }).run();
    // The fourth is closed at once: the ramp stops there, a few dials on at most.
    expect(result.ramp).toEqual({ ceiling: 3, reason: 'closed by the server' });
    expect(result.connections.attempted).toBeLessThan(10);
    expect(result.connections).toMatchObject({ held: 3, notStarted: 50 - result.connections.attempted });
  });

  it('CAP-RUN-036 a ramp stopped while still adding found no ceiling, and says it was stopped before the ramp ended', async () => {
    await using server = await createAcceptKServer(100);
    const stop = stopAt((e) => e.type === 'established');
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 20, delayMs: scaled(50), ramp: true, close: 'reset', ...stop }).run();
    expect(result.ramp).toEqual({ ceiling: 0, reason: 'stopped before the ramp ended' });
    expect(result.stoppedBy).toBe('signal');
    expect(result.ok).toBe(false);
  });

  it('CAP-RUN-037 with no hold, a server that closes each connection at once still gets every slot dialed: the run ends after the last', async () => {
    await using server = await createAcceptKServer(0);
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 3, delayMs: scaled(30), close: 'reset' }).run();
    expect(result.connections).toMatchObject({ attempted: 3, established: 3, closedByServer: 3, held: 0, notStarted: 0 });
    expect(result.ok).toBe(true);
  });

  it('CAP-RUN-038 a hold lasts its whole time, also when the server closed every connection early in it', async () => {
    await using server = await createClosingAfterServer(10);
    const holdMs = scaled(300);
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: 0, holdMs, close: 'reset' }).run();
    expect(result.connections).toMatchObject({ established: 2, closedByServer: 2, held: 0 });
    expect(result.durationMs).toBeGreaterThanOrEqual(holdMs);
    expect(result.ok).toBe(false);
  });

  it("CAP-RUN-024 a ramp's opening ends when the ramp stops adding, not after its settle", async () => {
    const port = await closedPort();
    const rampSettleMs = scaled(300);
    const result = await new CapacityRun({ host: '127.0.0.1', port, connections: 5, delayMs: 0, ramp: true, rampSettleMs }).run();
    expect(result.durationMs).toBeGreaterThanOrEqual(rampSettleMs);
    expect(result.opening.ms).toBeLessThan(rampSettleMs);
  });

  it("CAP-RUN-025 a hold's opening ends with its last handshake, not with the hold", async () => {
    await using server = await createAcceptKServer(100);
    const holdMs = scaled(300);
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: 0, holdMs, close: 'reset' }).run();
    expect(result.connections.held).toBe(2);
    expect(result.opening.ms).toBeLessThan(holdMs);
  });

  /**
   * A run of `connections` with --reopen against `server`, which closes each connection after a while:
   * each reopen's own event holds the loop until just past the end of the hold, so the hold's timer
   * fires with the reopens in flight, before their handshakes are read. `onEvent` sees every event
   * first; `atJudging` runs in the same turn as the hold's timer, right after it.
   */
  async function reopensInFlightAtTheHoldsEnd(
    server: { host: string; port: number },
    connections: number,
    hooks: { onEvent?: (e: CapacityEvent) => void; atJudging?: (run: CapacityRun) => void } = {},
  ): Promise<{ result: CapacityResult; events: CapacityEvent[] }> {
    const holdMs = scaled(150);
    let holdEndsAt = Infinity;
    const events: CapacityEvent[] = [];
    const onEvent = (e: CapacityEvent): void => {
      events.push(e);
      hooks.onEvent?.(e);
      if (e.type === 'opened-all') holdEndsAt = performance.now() + holdMs;
      const reopens = events.filter((x) => x.type === 'dialing').length - connections;
      if (e.type !== 'dialing' || reopens < 1) return;
      // Timers due at once run in the order they were set: this one comes after the hold's.
      if (reopens === 1 && hooks.atJudging) setTimeout(() => hooks.atJudging!(run), holdEndsAt + 10 - performance.now());
      if (reopens === connections) while (performance.now() < holdEndsAt + 20); // busy: no timer, no I/O until then
    };
    const run = new CapacityRun({ host: server.host, port: server.port, connections, delayMs: 0, holdMs, reopen: true, close: 'reset', onEvent });
    return { result: await run.run(), events };
  }

  it('CAP-RUN-029 with --reopen, every reopen in flight when the hold ends is waited for: two established are both held', async () => {
    await using server = await createClosingAfterServer(scaled(50));
    const { result, events } = await reopensInFlightAtTheHoldsEnd(server, 2);
    // Every dial was established, the two reopens in flight at the hold's end included, and both held
    // (the server's timer runs for a reopen too: it may close one again while the run judges).
    const dials = events.filter((e) => e.type === 'dialing').length;
    expect(dials).toBeGreaterThanOrEqual(4);
    expect(result.connections).toMatchObject({ established: dials, held: 2, abandoned: 0 });
    expect(result.ok).toBe(true);
  });

  it('CAP-RUN-030 with --reopen, a reopen in flight when the hold ends that is refused is a failure, not held', async () => {
    await using server = await createClosingAfterServer(scaled(50));
    // The server stops listening as it closes the connection: the reopen that follows is refused.
    const onEvent = (e: CapacityEvent): void => void (e.type === 'closed-by-server' && server.close());
    const { result } = await reopensInFlightAtTheHoldsEnd(server, 1, { onEvent });
    expect(result.errors).toEqual({ ECONNREFUSED: 1 });
    expect(result.connections).toMatchObject({ attempted: 2, established: 1, failed: 1, held: 0, abandoned: 0 });
    expect(result.ok).toBe(false);
  });

  it('CAP-RUN-031 a stop while the run waits for the reopens in flight at the end of its hold gives up on them: abandoned, stopped, not ok', async () => {
    await using server = await createClosingAfterServer(scaled(50));
    const { result } = await reopensInFlightAtTheHoldsEnd(server, 1, { atJudging: (run) => run.stop() });
    expect(result.stoppedBy).toBe('signal');
    expect(result.connections).toMatchObject({ attempted: 2, established: 1, held: 0, abandoned: 1 });
    expect(result.ok).toBe(false);
  });

  it('CAP-RUN-026 with --reopen, a reopen in flight when the hold ends is waited for, and held when it is established', async () => {
    // The server closes each connection after a while; the reopen's own event holds the loop past the
    // end of the hold, so the hold's timer fires with that dial in flight, before its handshake is read.
    await using server = await createClosingAfterServer(scaled(50));
    const holdMs = scaled(150);
    let holdEndsAt = Infinity;
    const events: CapacityEvent[] = [];
    const onEvent = (e: CapacityEvent): void => {
      events.push(e);
      if (e.type === 'opened-all') holdEndsAt = performance.now() + holdMs;
      const reopening = e.type === 'dialing' && events.filter((x) => x.type === 'dialing').length === 2;
      if (reopening) while (performance.now() < holdEndsAt + 5); // busy: no timer, no I/O until then
    };
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 1, delayMs: 0, holdMs, reopen: true, close: 'reset', onEvent }).run();
    expect(events.map((e) => e.type)).toEqual(['dialing', 'established', 'opened-all', 'closed-by-server', 'dialing', 'established']);
    expect(result.connections).toMatchObject({ established: 2, closedByServer: 1, held: 1, abandoned: 0 });
    expect(result.ok).toBe(true);
  });
});

describe.skipIf(needsLib)('capacity run: memory readings', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('CAP-RUN-027 a run whose first memory reading failed (no descriptor left to read it) reports no growth, not its whole resident size', async () => {
    await using server = await createAcceptKServer(100);
    vi.spyOn(process.memoryUsage, 'rss').mockImplementationOnce(() => {
      throw Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' });
    });
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: 0, holdMs: 10, close: 'reset' }).run();
    expect(result.connections.held).toBe(2);
    expect(result.memory.rssBytes).toBeGreaterThan(0); // the reading at the judging worked
    expect(result.memory).toMatchObject({ grownBytes: 0, perConnectionBytes: 0 });
  });

  it('CAP-RUN-028 a run whose memory reading at the judging failed reports a resident size of 0 and no growth', async () => {
    await using server = await createAcceptKServer(100);
    const rss = vi.spyOn(process.memoryUsage, 'rss');
    const emfile = (): never => {
      throw Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' });
    };
    // Every reading from the end of the opening on fails: the one at the judging among them.
    const onEvent = (e: CapacityEvent): void => void (e.type === 'opened-all' && rss.mockImplementation(emfile));
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 2, delayMs: 0, holdMs: 10, close: 'reset', onEvent }).run();
    expect(result.connections.held).toBe(2);
    expect(result.memory).toEqual({ rssBytes: 0, grownBytes: 0, perConnectionBytes: 0 });
  });
});

describe.skipIf(needsLib)("capacity run: a worker's part of a run", () => {
  it('CAP-RUN-032 a run told to take no census (a worker: its parent counts for the whole run) reports no TIME_WAIT and warns of none', async () => {
    await using server = await createPeerRecordingServer();
    const run = (internals: { census?: boolean }): Promise<CapacityResult> =>
      new CapacityRun({ host: server.host, port: server.port, connections: 3, delayMs: 0, holdMs: 10, close: 'fin' }, internals).run();
    // We close first with FIN: our three sides wait out their 60 s, and a run with its census counts them.
    expect((await run({})).timeWaitSides).toEqual({ client: 3, server: 0 });
    const part = await run({ census: false });
    expect(part.connections.held).toBe(3);
    expect(part.timeWait).toBe(0);
    expect(part.timeWaitSides).toEqual({ client: 0, server: 0 });
    expect(part.warnings).toEqual([]);
  });

  it('CAP-RUN-033 a ramp stopped from outside (another worker saw the target give way) stops adding, with that reason; a run with no ramp goes on', async () => {
    await using server = await createAcceptKServer(100);
    const reason = 'worker 1: ECONNREFUSED';
    const ramp: CapacityRun = new CapacityRun({
      host: server.host, port: server.port, connections: 50, delayMs: scaled(20), ramp: true, rampSettleMs: 10, close: 'reset',
      onEvent: (e) => void (e.type === 'established' && e.slot === 1 && ramp.stopRamp(reason)),
    });
    const ramped = await ramp.run();
    expect(ramped.ramp).toEqual({ ceiling: ramped.connections.held, reason });
    expect(ramped.ramp!.ceiling).toBeGreaterThanOrEqual(2);
    expect(ramped.connections.attempted).toBeLessThan(50);
    expect(ramped.ok).toBe(true);
    const plain: CapacityRun = new CapacityRun({
      host: server.host, port: server.port, connections: 3, delayMs: 0, holdMs: 10, close: 'reset',
      onEvent: (e) => void (e.type === 'established' && plain.stopRamp(reason)),
    });
    const held = await plain.run();
    expect(held.ramp).toBeUndefined();
    expect(held.connections).toMatchObject({ attempted: 3, held: 3 });
    expect(held.ok).toBe(true);
  });
});

describe.skipIf(needsLib)('capacity run: dial timeouts after a stall', () => {
  it('CAP-RUN-034 a dial that completed while the process was stalled past its dial timeout is kept and held, not reset as timed out', async () => {
    // How each connection ended, as the server saw it: our FIN, or a reset.
    const endings: string[] = [];
    await using server = await serve(
      net.createServer((socket) => {
        socket.on('end', () => void (endings.push('FIN'), socket.end()));
        socket.on('error', (error: NodeJS.ErrnoException) => endings.push(error.code ?? 'error'));
      }),
    );
    const dialTimeoutMs = scaled(50);
    // The dial's own event holds the loop for twice the timeout: the kernel completes the handshake
    // meanwhile, and the next turn's sweep finds the dial overdue before its completion is read.
    const onEvent = (e: CapacityEvent): void => {
      if (e.type !== 'dialing') return;
      const until = performance.now() + 2 * dialTimeoutMs;
      while (performance.now() < until); // busy: the stall
    };
    const result = await new CapacityRun({ host: server.host, port: server.port, connections: 1, delayMs: 0, dialTimeoutMs, holdMs: scaled(100), close: 'fin', onEvent }).run();
    expect(result.errors).toEqual({});
    expect(result.connections).toMatchObject({ established: 1, failed: 0, held: 1 });
    expect(result.ok).toBe(true);
    // Held to the end of the hold and closed with our FIN: nothing reset it on the way.
    await waitUntil(() => endings.length, (n) => n === 1, { what: 'connections the server saw end', expected: '1' });
    expect(endings).toEqual(['FIN']);
  });
});
