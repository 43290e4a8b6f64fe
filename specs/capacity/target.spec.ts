// A server's connection capacity, judged from outside: it keeps the connections it promises at once, and
// keeps every one of them while they sit idle for as long as it promises, closing none. Against lib/ the
// server is lib's own ack server; judge another with
// `connlab check capacity --target HOST:PORT --expect-held N --hold D`.
import { describe, expect, it } from 'vitest';
import { runCapacity } from '../../lib/capacity/workers.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { declared, declaredOr, externalTarget, skipWith } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import type { TestContext } from 'vitest';

const FAMILY = 'capacity';
/** The most connections a spec opens against a target; a larger promise is judged at this floor. */
const MOST_CONNECTIONS = 20_000;
const slowest = declaredOr(FAMILY, '--hold', scaled(300)) + scaled(30_000);
/**
 * How long connections are held before "at once" is judged: long enough for a server that closes the
 * ones over its limit as it accepts them to have done so, even when its event loop lags.
 */
const SETTLE_MS = scaled(250);

/** The server judged: the external target, or lib's ack server on a free port. */
async function targetServer(): Promise<{ host: string; port: number; [Symbol.asyncDispose](): Promise<void> }> {
  const external = externalTarget(FAMILY);
  if (external) return { host: external.host, port: external.port, [Symbol.asyncDispose]: async () => {} };
  return startAckServer();
}

/** The promised count, capped at what a spec opens. */
function expectedHeld(ctx: TestContext): number {
  const n = declared(ctx, FAMILY, '--expect-held', 50, 'how many connections the target keeps open at once');
  return Math.min(n, MOST_CONNECTIONS);
}

/** Opens `n` connections as fast as the target takes them and judges them after `holdMs`; closes with RST. */
const open = (server: { host: string; port: number }, n: number, holdMs: number) =>
  runCapacity({ host: server.host, port: server.port, connections: n, delayMs: 0, holdMs, close: 'reset', dialTimeoutMs: scaled(10_000) });

describe('capacity of a server', () => {
  it('CAP-TARGET-001 keeps --expect-held connections open at once: every one established, none closed, none failed', { timeout: slowest }, async (ctx) => {
    const n = expectedHeld(ctx);
    await using server = await targetServer();
    const result = await open(server, n, SETTLE_MS);
    expect(result.errors, result.errorSamples.join('; ')).toEqual({});
    expect(result.connections).toMatchObject({ established: n, held: n, closedByServer: 0, failed: 0 });
  });

  it('CAP-TARGET-002 keeps every one of them while they sit idle for --hold, closing none', { timeout: slowest }, async (ctx) => {
    const n = expectedHeld(ctx);
    const holdMs = declared(ctx, FAMILY, '--hold', scaled(300), 'how long the target keeps idle connections open');
    await using server = await targetServer();
    // Judged only where the target keeps them at once at all (CAP-TARGET-001's requirement).
    const first = await open(server, n, SETTLE_MS);
    if (first.connections.held < n) skipWith(ctx, `could not judge: the target kept ${first.connections.held} of ${n} connections at once (see CAP-TARGET-001)`);
    const result = await open(server, n, holdMs);
    expect(result.connections).toMatchObject({ established: n, closedByServer: 0, held: n });
    expect(result.ok).toBe(true);
  });
});
