// The pool and prime families judge broken servers precisely: each case runs `connlab check` against a
// fixture with one defect and asserts the exact set of spec IDs that fail; the others pass or are skipped
// for a parameter the case does not declare, or as lib only. `npm run test:meta` runs these.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../lib/net/types.ts';
import { startHelloServer } from '../../lib/tcp/hello-server.ts';
import { startPrimeServer } from '../../lib/tcp/prime-server.ts';
import {
  DECLARED_POOL,
  createLimitlessHelloServer,
  createNoDeadlineHelloServer,
  createSilentOnEmptyPrimeServer,
  createUnboundedQueueHelloServer,
} from '../../fixtures/pool-servers.ts';
import { runCheckCli } from '../_harness/check.ts';

const DECLARED = ['--workers', String(DECLARED_POOL.workers), '--queue', String(DECLARED_POOL.queue), '--deadline', `${DECLARED_POOL.deadlineMs}ms`, '--work', `${DECLARED_POOL.workMs}ms`];
const hasCurl = spawnSync('curl', ['--version']).status === 0;
const LIB_ONLY_POOL = ['TCP-HELLO-020', 'TCP-HELLO-021', 'TCP-POOL-002', 'TCP-POOL-013'];

const judge = (family: string, server: ServerHandle, declared: string[]) => runCheckCli(family, `${server.host}:${server.port}`, declared);

function expectOnly(check: Awaited<ReturnType<typeof runCheckCli>>, failed: string[]): void {
  expect(check.failed, check.stdout).toEqual(failed.sort());
  for (const spec of check.result.specs.filter((s) => s.status === 'skipped')) expect(spec.reason, spec.id).toMatch(/^(needs |lib only)/);
  expect(check.exitCode).toBe(failed.length === 0 ? 0 : 1);
}

describe('the pool family judges broken servers precisely', () => {
  it("META-POOL-001 passes lib/'s own hello server on every spec that can judge a target, its limits declared", async () => {
    await using server = await startHelloServer({ ...DECLARED_POOL, maxHeadBytes: 1024 });
    const check = await judge('pool', server, [...DECLARED, '--max-head', '1KiB']);
    expectOnly(check, []);
    expect(check.skipped.filter((id) => !LIB_ONLY_POOL.includes(id))).toEqual(hasCurl ? [] : ['TCP-HELLO-002']);
  });

  const cases: Array<[string, () => Promise<ServerHandle>, string[]]> = [
    ['a semaphore that limits nothing', createLimitlessHelloServer, ['TCP-HELLO-010', 'TCP-HELLO-011', 'TCP-POOL-001', 'TCP-POOL-003']],
    ['no read deadline', createNoDeadlineHelloServer, ['TCP-POOL-010', 'TCP-POOL-011', 'TCP-POOL-012']],
    ['an unbounded queue', createUnboundedQueueHelloServer, ['TCP-HELLO-011', 'TCP-POOL-003']],
  ];
  for (const [i, [defect, create, expected]] of cases.entries()) {
    it(`META-POOL-${String(i + 2).padStart(3, '0')} fails a hello server with ${defect} on exactly ${expected.join(', ')}`, async () => {
      await using server = await create();
      expectOnly(await judge('pool', server, DECLARED), expected);
    });
  }
});

describe('the prime family judges broken servers precisely', () => {
  it("META-PRIME-001 passes lib/'s own prime server on every spec that can judge a target", async () => {
    await using server = await startPrimeServer({ maxMessageBytes: 100, timeoutMs: 300 });
    expectOnly(await judge('prime', server, ['--max-message', '100', '--timeout', '300ms']), []);
  });

  it('META-PRIME-002 fails a prime server that answers an empty message with silence on exactly TCP-PRIME-004', async () => {
    await using server = await createSilentOnEmptyPrimeServer();
    expectOnly(await judge('prime', server, []), ['TCP-PRIME-004']);
  });
});
