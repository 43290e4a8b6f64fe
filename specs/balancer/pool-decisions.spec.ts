// The balancer's backend pool decides, for each connection, which backend it goes to: the strategies'
// arithmetic (weights in least-connections), what happens when backends are down or were already tried
// for this connection, and when an ejected backend gets its trial connection. These are decisions no
// wire spec can pin to the millisecond or the ratio, so they are judged here on lib/'s pool itself
// (specs/balancer/*.spec.ts show the same behaviors over the wire).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendPool, type Backend } from '../../lib/balancer/pool.ts';
import { validateBalancerOptions, type BalancerOptions } from '../../lib/balancer/options.ts';

/** A pool over backends a, b, ... on ports that are never dialed (no health checks run here). */
function poolOf(weights: number[], options: Partial<BalancerOptions> = {}): { pool: BackendPool; by: (name: string) => Backend } {
  const backends = weights.map((weight, i) => ({ host: '127.0.0.1', port: 1000 + i, weight, name: String.fromCharCode(97 + i) }));
  const pool = new BackendPool(validateBalancerOptions({ backends, ...options }));
  return { pool, by: (name) => pool.backends.find((b) => b.name === name)! };
}

/** Names of the backends picked for `count` connections, each opened and kept open (active + 1). */
function pickOpen(pool: BackendPool, count: number): string[] {
  return Array.from({ length: count }, () => {
    const backend = pool.pick(undefined)!;
    backend.active++;
    return backend.name;
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('balancer: pool decisions', () => {
  it('LB-POOL-001 least-connections weighs open connections by weight: with weights 2 and 1, a takes two for each one b takes', () => {
    const { pool } = poolOf([2, 1], { strategy: 'least-connections' });
    expect(pickOpen(pool, 6).sort()).toEqual(['a', 'a', 'a', 'a', 'b', 'b']);
  });

  it('LB-POOL-002 least-connections gives ties to the backend picked least recently, so equal loads take turns', () => {
    const { pool, by } = poolOf([1, 1, 1], { strategy: 'least-connections' });
    const picked = Array.from({ length: 6 }, () => pool.pick(undefined)!.name);
    expect(picked).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    by('a').active = 1;
    expect([pool.pick(undefined)!.name, pool.pick(undefined)!.name]).toEqual(['b', 'c']);
  });

  it('LB-POOL-003 with every backend down, tries the down ones rather than refuse the connection', () => {
    const { pool, by } = poolOf([1, 1], { ejectAfterFailures: 1, ejectTimeMs: 60_000 });
    pool.connectFailed(by('a'), 'ECONNREFUSED');
    pool.connectFailed(by('b'), 'ECONNREFUSED');
    expect([by('a').state, by('b').state]).toEqual(['down', 'down']);
    const first = pool.pick(undefined)!;
    expect(first).toBeDefined();
    expect(pool.pick(new Set([first]))?.name).toBe(first.name === 'a' ? 'b' : 'a');
    expect(pool.pick(new Set([by('a'), by('b')]))).toBeUndefined();
  });

  it('LB-POOL-004 once the backends that are up have failed a connection, refuses it rather than try one that is down', () => {
    const { pool, by } = poolOf([1, 1], { ejectAfterFailures: 1, ejectTimeMs: 60_000 });
    pool.connectFailed(by('b'), 'ECONNREFUSED');
    expect(pool.pick(undefined)?.name).toBe('a');
    expect(pool.pick(new Set([by('a')]))).toBeUndefined();
  });

  it('LB-POOL-005 gives an ejected backend its trial connection exactly when the eject time is over, not a millisecond before', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const { pool, by } = poolOf([1, 1], { ejectAfterFailures: 2, ejectTimeMs: 5000 });
    pool.connectFailed(by('a'), 'ECONNREFUSED');
    expect(by('a').state).toBe('up');
    pool.connectFailed(by('a'), 'ECONNREFUSED');
    expect(by('a').state).toBe('down');
    vi.setSystemTime(1_000_000 + 4999);
    expect(pickOpen(pool, 2)).toEqual(['b', 'b']);
    vi.setSystemTime(1_000_000 + 5000);
    expect(pool.pick(new Set([by('b')]))?.name).toBe('a');
    pool.connected(by('a'));
    expect(by('a').state).toBe('up');
  });

  it('LB-POOL-006 ejects only after the set number of failed connects in a row: a success in between starts the count over', () => {
    const { pool, by } = poolOf([1, 1], { ejectAfterFailures: 3 });
    const a = by('a');
    pool.connectFailed(a, 'ECONNREFUSED');
    pool.connectFailed(a, 'ECONNREFUSED');
    pool.connected(a);
    pool.connectFailed(a, 'ETIMEDOUT');
    pool.connectFailed(a, 'ETIMEDOUT');
    expect(a.state).toBe('up');
    pool.connectFailed(a, 'ETIMEDOUT');
    expect(a.stats()).toMatchObject({ state: 'down', reason: 'ejected after 3 failed connects (ETIMEDOUT)', failures: 5, failureCodes: { ECONNREFUSED: 2, ETIMEDOUT: 3 }, ejections: 1, total: 1 });
  });

  it('LB-POOL-007 never ejects when the failure limit is 0', () => {
    const { pool, by } = poolOf([1, 1], { ejectAfterFailures: 0 });
    for (let i = 0; i < 10; i++) pool.connectFailed(by('a'), 'ECONNREFUSED');
    expect(by('a').state).toBe('up');
  });

  it('LB-POOL-008 round-robin starts its rotation over from the first backend when one goes down', () => {
    const { pool, by } = poolOf([1, 1, 1], { ejectAfterFailures: 1, ejectTimeMs: 60_000 });
    expect(pickOpen(pool, 1)).toEqual(['a']);
    pool.connectFailed(by('c'), 'ECONNREFUSED');
    expect(pickOpen(pool, 3)).toEqual(['a', 'b', 'a']);
  });

  it('LB-POOL-009 health checks take a backend down after `fall` failures in a row and up after `rise` passes in a row; a check of the other kind starts the streak over', () => {
    const log: string[] = [];
    const { pool, by } = poolOf([1, 1], { healthCheck: { intervalMs: 1000, fall: 3, rise: 2 }, log: (line) => log.push(line) });
    const a = by('a');
    for (const code of ['ECONNREFUSED', 'ECONNREFUSED', undefined, 'ECONNREFUSED', 'ECONNREFUSED']) pool.recordCheck(a, code);
    expect(a.state).toBe('up');
    pool.recordCheck(a, 'ETIMEDOUT');
    expect(a.stats()).toMatchObject({ state: 'down', reason: '3 health checks failed (ETIMEDOUT)', checks: { passed: 1, failed: 5 } });
    // More failures while down, and passes short of `rise`, change nothing.
    for (const code of ['ECONNREFUSED', undefined, 'ECONNREFUSED', undefined]) pool.recordCheck(a, code);
    expect(a.state).toBe('down');
    pool.recordCheck(a, undefined);
    expect(a.stats()).toMatchObject({ state: 'up', checks: { passed: 4, failed: 7 } });
    expect(a.stats().reason).toBeUndefined();
    pool.recordCheck(a, undefined);
    expect(log).toEqual(['[BACKEND] a down: 3 health checks failed (ETIMEDOUT)', '[BACKEND] a up: 2 health checks passed']);
  });

  it('LB-POOL-013 stop() cancels the health checks still to come', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { pool } = poolOf([1, 1], { healthCheck: { intervalMs: 1000, fall: 3, rise: 2 } });
    pool.startHealthChecks();
    expect(vi.getTimerCount()).toBe(2);
    pool.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('LB-POOL-010 never gives a connection back a backend it already tried, with every backend up; round-robin ignores open connections', () => {
    for (const strategy of ['round-robin', 'least-connections'] as const) {
      const { pool, by } = poolOf([1, 1, 1], { strategy });
      by('b').active = strategy === 'round-robin' ? 5 : 0;
      expect(pool.pick(new Set([by('a')]))?.name, strategy).toBe('b');
      expect(pool.pick(new Set([by('a'), by('b')]))?.name, strategy).toBe('c');
      expect(pool.pick(new Set(pool.backends)), strategy).toBeUndefined();
    }
  });

  it('LB-POOL-011 with every backend ejected, gives the trial to the one whose eject time is over, and a failed trial is not a second ejection', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const log: string[] = [];
    const { pool, by } = poolOf([1, 1], { ejectAfterFailures: 1, ejectTimeMs: 5000, log: (line) => log.push(line) });
    pool.connectFailed(by('a'), 'ECONNREFUSED');
    vi.setSystemTime(1_000_000 + 3000);
    pool.connectFailed(by('b'), 'ECONNREFUSED');
    vi.setSystemTime(1_000_000 + 5000);
    expect(pickOpen(pool, 2)).toEqual(['a', 'a']);
    pool.connectFailed(by('a'), 'ETIMEDOUT');
    expect(by('a').stats()).toMatchObject({ state: 'down', reason: 'ejected after 1 failed connects (ECONNREFUSED)', ejections: 1, failures: 2 });
    expect(log).toEqual(['[BACKEND] a down: ejected after 1 failed connects (ECONNREFUSED)', '[BACKEND] b down: ejected after 1 failed connects (ECONNREFUSED)']);
    pool.connected(by('a'));
    expect(log.at(-1)).toBe('[BACKEND] a up: a trial connection succeeded');
  });

  it('LB-POOL-012 resolves a backend host name once at start, IPv4 first, and keeps an IP address as it is', async () => {
    const pool = new BackendPool(validateBalancerOptions({ backends: [{ host: 'localhost', port: 1000 }, { host: '::1', port: 1001 }] }));
    await pool.resolve();
    expect(pool.backends.map((b) => [b.address, b.family])).toEqual([['127.0.0.1', 4], ['::1', 6]]);
  });
});
