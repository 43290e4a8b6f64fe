// The pool's active health checks with the probe replaced, so that the spec settles each check itself:
// what the pool does with a check's outcome, and with a check still in flight when the pool stops
// (the balancer closing while a backend is being probed), can then be seen exactly.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendPool } from '../../lib/balancer/pool.ts';
import { validateBalancerOptions } from '../../lib/balancer/options.ts';

/** The checks sent and not yet settled: settle one with its error code (undefined: it passed). */
const probes = vi.hoisted(() => ({ pending: [] as Array<(code: string | undefined) => void> }));
vi.mock('../../lib/net/probe.ts', () => ({
  probe: () => new Promise<string | undefined>((resolve) => probes.pending.push(resolve)),
}));

/** One backend, checked every second; one failed check takes it down. */
const newPool = (): BackendPool =>
  new BackendPool(validateBalancerOptions({ backends: [{ host: '127.0.0.1', port: 1000, name: 'a' }], healthCheck: { intervalMs: 1000, fall: 1, rise: 1 } }));

/** A pool whose first check is out. */
function checkedPool(): BackendPool {
  const pool = newPool();
  pool.startHealthChecks();
  vi.advanceTimersByTime(1000); // the first check goes out
  return pool;
}

/** Lets the callbacks of settled checks run. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  probes.pending.length = 0;
  vi.useRealTimers();
});

describe('balancer: health checks in flight', () => {
  it('LB-POOL-015 counts a check when it settles and sends the next one an interval later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const pool = checkedPool();
    expect(probes.pending).toHaveLength(1);
    probes.pending.shift()!('ECONNREFUSED');
    await settled();
    expect(pool.backends[0].stats()).toMatchObject({ state: 'down', checks: { passed: 0, failed: 1 } });
    vi.advanceTimersByTime(999);
    expect(probes.pending).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(probes.pending).toHaveLength(1);
    pool.stop();
  });

  it('LB-POOL-016 a check in flight when the pool stops is not counted, and no check follows it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const pool = checkedPool();
    expect(probes.pending).toHaveLength(1);
    pool.stop();
    probes.pending.shift()!('ECONNREFUSED');
    await settled();
    expect(pool.backends[0].stats()).toMatchObject({ state: 'up', checks: { passed: 0, failed: 0 } });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('LB-POOL-017 a pool stopped before its health checks start (a balancer closed while starting) never starts them', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const pool = newPool();
    pool.stop();
    pool.startHealthChecks();
    expect(vi.getTimerCount()).toBe(0);
  });
});
