// The balancer family judges other balancers precisely. fixtures/broken-balancers.ts is a second
// balancer, written apart from lib/'s: with no flaw `connlab check balancer` must pass it on every spec
// that can judge a target, and with each flaw it must fail exactly the specs about that flaw. The
// backends are on free ports declared with --backend-ports, as a user would declare theirs.
// `npm run test:meta` runs these; they are not part of npm test.
import { describe, expect, it } from 'vitest';
import { startFixtureBalancer, type BalancerFlaw } from '../../fixtures/broken-balancers.ts';
import { runCheckCli, type CheckOutcome } from '../_harness/check.ts';
import { portBelowEphemeral } from '../../fixtures/servers.ts';

const TIMING = { connectTimeoutMs: 500, health: { intervalMs: 100, timeoutMs: 300, fall: 2, rise: 2 }, idleTimeoutMs: 1000 };
const DECLARED = ['--connect-timeout', '500ms', '--health-interval', '100ms', '--fall', '2', '--rise', '2', '--idle-timeout', '1s'];
/** lib/'s own: weights, strategies, ejection, its gauges, stopping, its command line and transports. */
const LIB_ONLY = /^LB-(RR-00[23]|LC-|FAIL-004|STOP-|STATS-|CLI-|NET-)/;

async function judge(flaw: BalancerFlaw | undefined, declared: string[], options: { maxConnections?: number } = {}): Promise<CheckOutcome> {
  const first = await portBelowEphemeral();
  const ports = [first, await portBelowEphemeral([first])];
  await using balancer = await startFixtureBalancer({ ...TIMING, ...options, backends: ports, flaw });
  return await runCheckCli('balancer', `${balancer.host}:${balancer.port}`, ['--backend-ports', ports.join(','), ...DECLARED, ...declared]);
}

function expectOnly(check: CheckOutcome, failed: string[]): void {
  expect(check.failed, check.stdout).toEqual([...failed].sort());
  for (const spec of check.result.specs.filter((s) => s.status === 'skipped')) expect(LIB_ONLY.test(spec.id) || /^needs --/.test(spec.reason ?? ''), `${spec.id}: ${spec.reason}`).toBe(true);
  expect(check.exitCode).toBe(failed.length === 0 ? 0 : 1);
}

describe('the balancer family judges other balancers precisely', () => {
  it('META-LB-001 passes a sound balancer written apart from lib/ on every spec that can judge a target, with its timings declared', async () => {
    const check = await judge(undefined, []);
    expectOnly(check, []);
    expect(check.passed.length).toBeGreaterThanOrEqual(18);
  });

  it('META-LB-002 passes its connection limit, checked on its own (the other specs open more connections)', async () => {
    expectOnly(await judge(undefined, ['--max-connections', '3', '--only', 'LB-LIMIT-001'], { maxConnections: 3 }), []);
  });

  const cases: Array<[BalancerFlaw, string[], string[]]> = [
    ['dial-on-first-byte', [], ['LB-GREET-001']],
    ['close-on-first-fin', [], ['LB-HALF-001', 'LB-HALF-002']],
    ['no-backpressure', [], ['LB-FLOW-001', 'LB-FLOW-002']],
    ['no-retry', [], ['LB-FAIL-001', 'LB-FAIL-002', 'LB-FAIL-006']],
    ['forget-bytes-on-timeout', [], ['LB-FAIL-006']],
    ['reset-as-fin', [], ['LB-DATA-002']],
    ['no-health-checks', [], ['LB-HEALTH-001']],
    ['no-idle-timeout', [], ['LB-TIME-001']],
    ['no-connection-limit', ['--max-connections', '3', '--only', 'LB-LIMIT-001,LB-CONN-001'], ['LB-LIMIT-001']],
  ];
  for (const [i, [flaw, declared, expected]] of cases.entries()) {
    it(`META-LB-${String(i + 3).padStart(3, '0')} fails a balancer that has the flaw ${flaw} on exactly ${expected.join(', ')}`, async () => {
      const limit = flaw === 'no-connection-limit' ? { maxConnections: 3 } : {};
      expectOnly(await judge(flaw, declared, limit), expected);
    });
  }
});
