// The http-server family judges broken keep-alive servers precisely: each case runs `connlab check
// http-server` against a server with one defect and asserts the exact set of spec IDs that fail.
// `npm run test:meta` runs these.
import { describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../lib/net/types.ts';
import { startSlowServer } from '../../lib/http-keepalive/slow-server.ts';
import { DECLARED_SLOW, createFlawedSlowServer } from '../../fixtures/http-servers.ts';
import { runCheckCli } from '../_harness/check.ts';

const DECLARED = ['--delay', `${DECLARED_SLOW.delayMs}ms`, '--keep-alive', `${DECLARED_SLOW.keepAliveMs}ms`, '--max-requests', String(DECLARED_SLOW.maxRequests)];

async function expectFailing(server: ServerHandle, failed: string[]): Promise<void> {
  const check = await runCheckCli('http-server', `${server.host}:${server.port}`, DECLARED);
  expect(check.failed, check.stdout).toEqual(failed);
  for (const spec of check.result.specs.filter((s) => s.status === 'skipped')) expect(spec.reason, spec.id).toMatch(/^(needs |lib only)/);
  expect(check.exitCode).toBe(failed.length === 0 ? 0 : 1);
}

describe('the http-server family judges broken servers precisely', () => {
  it("META-HTTP-001 passes lib/'s own slow server on every spec that can judge a target, its keep-alive declared", async () => {
    await using server = await startSlowServer({ delayMs: DECLARED_SLOW.delayMs, keepAliveTimeoutMs: DECLARED_SLOW.keepAliveMs, maxRequestsPerSocket: DECLARED_SLOW.maxRequests });
    await expectFailing(server, []);
  });

  it('META-HTTP-002 passes a hand-written slow server with no defect (the fixtures below are it, each with one)', async () => {
    await using server = await createFlawedSlowServer({ idleCloseMs: DECLARED_SLOW.keepAliveMs });
    await expectFailing(server, []);
  });

  const cases: Array<[string, Parameters<typeof createFlawedSlowServer>[0], string[]]> = [
    ["idle connections closed long before the advertised timeout (Node's default hides the leak)", { idleCloseMs: 400 }, ['HTTP-KA-003']],
    ['idle connections never closed', { idleCloseMs: 0 }, ['HTTP-KA-003']],
    ['requests answered one at a time', { idleCloseMs: DECLARED_SLOW.keepAliveMs, serialize: true }, ['HTTP-KA-002']],
    ['`Connection: close` said but the connection left open', { idleCloseMs: DECLARED_SLOW.keepAliveMs, keepOpenAfterClose: true }, ['HTTP-KA-007']],
  ];
  for (const [i, [defect, flaws, expected]] of cases.entries()) {
    it(`META-HTTP-${String(i + 3).padStart(3, '0')} fails a slow server with ${defect} on exactly ${expected.join(', ')}`, async () => {
      await using server = await createFlawedSlowServer(flaws);
      await expectFailing(server, expected);
    });
  }
});
