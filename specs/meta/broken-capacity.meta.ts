// The capacity family judges servers that cannot keep their promise precisely: one that keeps fewer
// connections than it promises fails CAP-TARGET-001 (and CAP-TARGET-002 says it could not judge), one
// that closes idle connections early fails CAP-TARGET-002 only, and one that closes the connections over
// its limit only a moment after accepting them still fails CAP-TARGET-001. `npm run test:meta` runs these.
import { describe, expect, it } from 'vitest';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { createAtMostKServer, createClosingAfterServer } from '../../fixtures/capacity-servers.ts';
import { runCheckCli } from '../_harness/check.ts';

const DECLARED = ['--expect-held', '40', '--hold', '1s'];

describe('the capacity family judges servers precisely', () => {
  it("META-CAP-001 passes lib/'s ack server, which keeps 40 connections for a second", async () => {
    await using server = await startAckServer();
    const check = await runCheckCli('capacity', `${server.host}:${server.port}`, DECLARED);
    expect(check.passed, check.stdout).toEqual(['CAP-TARGET-001', 'CAP-TARGET-002']);
    expect(check.exitCode).toBe(0);
  });

  it('META-CAP-002 fails a server that keeps only 25 on CAP-TARGET-001, and CAP-TARGET-002 says it could not judge', async () => {
    await using server = await createAtMostKServer(25);
    const check = await runCheckCli('capacity', `${server.host}:${server.port}`, DECLARED);
    expect(check.failed, check.stdout).toEqual(['CAP-TARGET-001']);
    expect(check.result.specs.find((s) => s.id === 'CAP-TARGET-002')).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^could not judge: the target kept 25 of 40/) });
  });

  it('META-CAP-003 fails a server that closes idle connections after 600 ms on CAP-TARGET-002 only', async () => {
    await using server = await createClosingAfterServer(600);
    const check = await runCheckCli('capacity', `${server.host}:${server.port}`, DECLARED);
    expect(check.failed, check.stdout).toEqual(['CAP-TARGET-002']);
    expect(check.passed).toEqual(['CAP-TARGET-001']);
  });

  it('META-CAP-004 fails a server that closes the connections over 25 only 100 ms after accepting them on CAP-TARGET-001', async () => {
    await using server = await createAtMostKServer(25, 100);
    const check = await runCheckCli('capacity', `${server.host}:${server.port}`, DECLARED);
    expect(check.failed, check.stdout).toEqual(['CAP-TARGET-001']);
    expect(check.result.specs.find((s) => s.id === 'CAP-TARGET-002')).toMatchObject({ status: 'skipped' });
  });
});
