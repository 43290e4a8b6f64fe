// The ack family is only worth something if it fails on a broken server, and only on the specs about
// what is broken. Each case runs `connlab check ack` (the path users' CI takes) against a fixture with one
// defect and asserts the exact set of spec IDs that fail, and that the rest pass or are skipped for a
// parameter the fixture does not declare. `npm run test:meta` runs these; they are not part of npm test.
import { describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../lib/net/types.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import {
  createAckPerReadServer,
  createNoConnectionLimitServer,
  createNoIdleTimeoutServer,
  createNoLineLimitServer,
  createLimitAtNewlineServer,
  createTextDecodingAckServer,
  createUnboundedReplyServer,
} from '../../fixtures/broken-ack-servers.ts';
import { runCheckCli } from '../_harness/check.ts';

const FAMILY_IDS = ['TCP-ACK-001', 'TCP-ACK-002', 'TCP-ACK-003', 'TCP-ACK-004', 'TCP-ACK-005', 'TCP-ACK-006', 'TCP-ACK-010', 'TCP-ACK-011', 'TCP-ACK-012', 'TCP-ACK-013', 'TCP-ACK-014', 'TCP-ACK-015', 'TCP-ACK-020', 'TCP-ACK-021'];

async function judge(server: ServerHandle, declared: string[]): Promise<Awaited<ReturnType<typeof runCheckCli>>> {
  // Failures wait out their deadlines: a shorter scale keeps this quick, the declared timings are the target's own.
  return runCheckCli('ack', `${server.host}:${server.port}`, declared, { timeScale: 0.5 });
}

describe('the ack family judges broken servers precisely', () => {
  it('META-ACK-001 passes lib/\'s own server on every spec that can judge a target, limits declared', async () => {
    await using server = await startAckServer({ maxLineLength: 16, idleTimeoutMs: 6000 });
    const check = await judge(server, ['--max-line', '16', '--idle-timeout', '6s']);
    expect(check.failed, check.stdout).toEqual([]);
    expect(check.skipped).toEqual(['TCP-ACK-006', 'TCP-ACK-011']);
    expect(check.passed).toEqual(FAMILY_IDS.filter((id) => id !== 'TCP-ACK-006' && id !== 'TCP-ACK-011'));
    expect(check.exitCode).toBe(0);
    // A limit of two connections is checked on its own: the other specs' connections would meet it.
    await using limited = await startAckServer({ maxConnections: 2 });
    const alone = await runCheckCli('ack', `${limited.host}:${limited.port}`, ['--max-connections', '2', '--only', 'TCP-ACK-011']);
    expect(alone.passed, alone.stdout).toEqual(['TCP-ACK-011']);
  });

  const cases: Array<[string, () => Promise<ServerHandle>, string[], string[]]> = [
    // An ack per read breaks everything that needs lines: the counts, the CRLF, and losing nothing under a slow reader.
    ['an ack per read instead of per line', createAckPerReadServer, [], ['TCP-ACK-001', 'TCP-ACK-002', 'TCP-ACK-003', 'TCP-ACK-013']],
    ['lines decoded as text', createTextDecodingAckServer, [], ['TCP-ACK-004']],
    ['replies buffered without bound for a client that never reads', createUnboundedReplyServer, [], ['TCP-ACK-013']],
    ['no idle timeout, though it declares one', createNoIdleTimeoutServer, ['--idle-timeout', '300ms'], ['TCP-ACK-012']],
    ['no line limit, though it declares one', createNoLineLimitServer, ['--max-line', '16'], ['TCP-ACK-010', 'TCP-ACK-015']],
    ['a line limit applied only at the newline', () => createLimitAtNewlineServer(16), ['--max-line', '16'], ['TCP-ACK-015']],
    ['no connection limit, though it declares one', createNoConnectionLimitServer, ['--max-connections', '2', '--only', 'TCP-ACK-011'], ['TCP-ACK-011']],
  ];
  for (const [i, [defect, create, declared, expected]] of cases.entries()) {
    it(`META-ACK-${String(i + 2).padStart(3, '0')} fails a server with ${defect} on exactly ${expected.join(', ')}`, async () => {
      await using server = await create();
      const check = await judge(server, declared);
      expect(check.failed, check.stdout).toEqual(expected);
      // Everything else passed, or was skipped for a parameter this fixture does not declare (or as lib only).
      for (const spec of check.result.specs.filter((s) => s.status === 'skipped')) expect(spec.reason, spec.id).toMatch(/^(needs --|lib only)/);
      expect(check.exitCode).toBe(1);
    });
  }
});
