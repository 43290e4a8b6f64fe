// The balancer's decision core, on its own: which clients it serves, refuses or drops, what it counts
// at each turn of a connection's life, and the log lines a user reads for each event. The transports
// call in here; the wire specs (failover, operations) show the same decisions from outside, and these
// pin the counts and the words exactly.
import { describe, expect, it } from 'vitest';
import { BalancerCore } from '../../lib/balancer/core.ts';
import { BackendPool } from '../../lib/balancer/pool.ts';
import { validateBalancerOptions, type BalancerOptions } from '../../lib/balancer/options.ts';

/** A core over backends a and b (never dialed), whose clients are named by a string, logging into `lines`. */
function coreOf(options: Partial<BalancerOptions> = {}) {
  const lines: string[] = [];
  const backends = [
    { host: '127.0.0.1', port: 1000, name: 'a' },
    { host: '127.0.0.1', port: 1001, name: 'b' },
  ];
  const config = validateBalancerOptions({ backends, log: (line) => lines.push(line), ...options });
  const core = new BalancerCore<string>(config, new BackendPool(config), (client) => `peer-${client}`);
  const by = (name: string) => core.pool.backends.find((b) => b.name === name)!;
  return { core, lines, by };
}

describe('balancer: decision core', () => {
  it('LB-CORE-001 serves clients below --max-connections, refuses the one at it with a [REJECT] line, and counts both', () => {
    const { core, lines } = coreOf({ maxConnections: 2 });
    expect([core.admit('c1', 0), core.admit('c2', 1)]).toEqual(['serve', 'serve']);
    expect(core.admit('c3', 2)).toBe('refuse');
    expect(core.admit('c4', 3)).toBe('refuse');
    expect(core.counters).toMatchObject({ accepted: 2, rejected: 2 });
    expect(lines).toEqual(['[REJECT] peer-c3: 2 connections open, the most allowed is 2', '[REJECT] peer-c4: 3 connections open, the most allowed is 2']);
  });

  it('LB-CORE-002 with --max-connections 0 serves any number of clients', () => {
    const { core, lines } = coreOf({ maxConnections: 0 });
    expect(core.admit('c', 1_000_000)).toBe('serve');
    expect(core.counters).toMatchObject({ accepted: 1, rejected: 0 });
    expect(lines).toEqual([]);
  });

  it('LB-CORE-003 once stopping, drops new clients without counting them as accepted or rejected', () => {
    const { core, lines } = coreOf({ maxConnections: 1 });
    core.stopping = true;
    expect(core.admit('c1', 0)).toBe('drop');
    expect(core.admit('c2', 5)).toBe('drop');
    expect(core.counters).toMatchObject({ accepted: 0, rejected: 0 });
    expect(lines).toEqual([]);
  });

  it('LB-CORE-004 gives a client the backend the pool picks, and when every backend was tried counts it and logs a [NO BACKEND] line', () => {
    const { core, lines, by } = coreOf();
    expect(core.choose('c1', undefined)?.name).toBe('a');
    expect(core.choose('c1', new Set([by('a')]))?.name).toBe('b');
    expect(core.counters.noBackend).toBe(0);
    expect(core.choose('c1', new Set([by('a'), by('b')]))).toBeUndefined();
    expect(core.counters.noBackend).toBe(1);
    expect(lines).toEqual(['[NO BACKEND] peer-c1: 2 of 2 backends tried, none could be reached; closing the client']);
  });

  it('LB-CORE-005 a failed dial is counted on its backend by code and logged as [FAILOVER]', () => {
    const { core, lines, by } = coreOf({ ejectAfterFailures: 0 });
    core.connectFailed('c1', by('b'), 'ETIMEDOUT');
    core.connectFailed('c2', by('b'), 'ECONNREFUSED');
    core.connectFailed('c3', by('b'), 'ETIMEDOUT');
    expect(by('b').stats()).toMatchObject({ failures: 3, failureCodes: { ETIMEDOUT: 2, ECONNREFUSED: 1 }, state: 'up' });
    expect(lines).toEqual([
      '[FAILOVER] peer-c1: backend b ETIMEDOUT, trying the next one',
      '[FAILOVER] peer-c2: backend b ECONNREFUSED, trying the next one',
      '[FAILOVER] peer-c3: backend b ETIMEDOUT, trying the next one',
    ]);
  });

  it('LB-CORE-006 a connection counts as active on its backend from connected() to released(), and is logged only with --log-connections', () => {
    const quiet = coreOf();
    quiet.core.connected('c1', quiet.by('a'));
    quiet.core.connected('c2', quiet.by('a'));
    expect(quiet.by('a').stats()).toMatchObject({ active: 2, total: 2 });
    quiet.core.released(quiet.by('a'));
    expect(quiet.by('a').stats()).toMatchObject({ active: 1, total: 2 });
    expect(quiet.lines).toEqual([]);

    const chatty = coreOf({ logConnections: true });
    chatty.core.connected('c1', chatty.by('b'));
    expect(chatty.lines).toEqual(['[FORWARDING] Client peer-c1 connected to b']);
  });

  it('LB-CORE-007 counts bytes each way in total and per backend, and keeps the largest queue ever seen', () => {
    const { core, by } = coreOf();
    core.toBackend(by('a'), 100);
    core.toBackend(by('b'), 5);
    core.toClient(by('a'), 7);
    core.toClient(by('a'), 3);
    expect(core.counters).toMatchObject({ bytesFromClients: 105, bytesToClients: 10 });
    expect(by('a').stats()).toMatchObject({ bytesToBackend: 100, bytesFromBackend: 10 });
    expect(by('b').stats()).toMatchObject({ bytesToBackend: 5, bytesFromBackend: 0 });
    core.queued(300);
    core.queued(200);
    expect(core.counters.peakBufferedBytes).toBe(300);
    core.queued(301);
    expect(core.counters.peakBufferedBytes).toBe(301);
  });

  it('LB-CORE-008 counts and logs idle timeouts, and logs failed accepts', () => {
    const { core, lines } = coreOf({ idleTimeoutMs: 1500 });
    core.idleTimedOut('c1');
    core.acceptFailed('EMFILE');
    expect(core.counters.idleTimeouts).toBe(1);
    expect(lines).toEqual(['[TIMEOUT] peer-c1: idle for 1500ms, closing', '[ERROR] accept: EMFILE']);
    expect(core.peer('x')).toBe('peer-x');
  });

  it('LB-CORE-009 without a log, decides and counts the same, writing nothing', () => {
    const backends = [{ host: '127.0.0.1', port: 1000, name: 'a' }];
    const config = validateBalancerOptions({ backends, maxConnections: 1, logConnections: true });
    const core = new BalancerCore<string>(config, new BackendPool(config), (client) => client);
    const a = core.pool.backends[0];
    expect(core.admit('c1', 1)).toBe('refuse');
    expect(core.choose('c1', new Set([a]))).toBeUndefined();
    core.connectFailed('c1', a, 'ECONNREFUSED');
    core.connected('c2', a);
    core.idleTimedOut('c2');
    core.acceptFailed('EMFILE');
    expect(core.counters).toMatchObject({ rejected: 1, noBackend: 1, idleTimeouts: 1 });
    expect(a.stats()).toMatchObject({ active: 1, failures: 1 });
  });
});
