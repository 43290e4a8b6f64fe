// A run split into shards (`--shard I/N`, one per process or machine) must add up to the run done in
// one piece: shares are exact, counts and error tallies add, and `connlab merge` adds the latency
// histograms themselves, so merged percentiles are those of the whole run. Load results merge the same way.
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCapacity } from '../../lib/capacity/workers.ts';
import { mergeCapacityResults, type CapacityResult } from '../../lib/results/capacity.ts';
import { runLoad, type LoadResult } from '../../lib/load/load-client.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { createAcceptKServer } from '../../fixtures/capacity-servers.ts';
import { runCli } from '../_harness/cli.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';

const fixtureOnly = libOnlyReason('capacity', 'these specs need fixture servers with a known ceiling');

/** Saves each result as a JSON file in a fresh folder, as shards would, and removes the folder after. */
async function withResultFiles<T>(results: unknown[], use: (files: string[], dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'connlab-merge-'));
  try {
    const files = results.map((_, i) => path.join(dir, `shard${i}.json`));
    await Promise.all(results.map((result, i) => writeFile(files[i], JSON.stringify(result))));
    return await use(files, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.skipIf(fixtureOnly)('merging sharded runs', () => {
  it("CAP-SHARD-001 gives shards exact shares whose merged totals equal one run's, through `connlab merge` too", async () => {
    const run = { connections: 40, delayMs: 0, holdMs: scaled(300), close: 'reset' as const };
    let whole: CapacityResult;
    {
      await using server = await createAcceptKServer(30);
      whole = await runCapacity({ ...run, host: server.host, port: server.port });
    }
    await using server = await createAcceptKServer(30);
    const shards = await Promise.all([0, 1, 2].map((index) => runCapacity({ ...run, host: server.host, port: server.port, shard: { index, count: 3 } })));
    expect(shards.map((s) => s.connections.planned)).toEqual([13, 13, 14]);
    const merged = mergeCapacityResults(shards);
    const totals = (r: CapacityResult): object => {
      const { planned, attempted, established, closedByServer, failed, held } = r.connections;
      return { planned, attempted, established, closedByServer, failed, held, latencyCount: r.connectLatency.count, errors: r.errors };
    };
    expect(totals(whole)).toEqual({ planned: 40, attempted: 40, established: 40, closedByServer: 10, failed: 0, held: 30, latencyCount: 40, errors: {} });
    expect(totals(merged)).toEqual(totals(whole));
    expect(merged.shards).toBe(3);

    await withResultFiles(shards, async (files) => {
      const cli = await runCli(['merge', ...files]);
      expect(cli.exitCode).toBe(1); // 10 of the 40 were not held: the whole run missed its target
      expect(totals(JSON.parse(cli.stdout) as CapacityResult)).toEqual(totals(whole));
    });
  });

  it('CAP-MERGE-001 merges load results: counts add and latency histograms add exactly', async () => {
    await using server = await startAckServer();
    const shards = await Promise.all([0, 1].map((index) => runLoad({ host: server.host, port: server.port, clients: 21, staggerMs: 0, messagesPerClient: 3, shard: { index, count: 2 } })));
    expect(shards.map((s) => s.clients.attempted)).toEqual([10, 11]);
    await withResultFiles(shards, async (files, dir) => {
      const cli = await runCli(['merge', ...files]);
      expect(cli.exitCode).toBe(0);
      const merged = JSON.parse(cli.stdout) as LoadResult;
      expect(merged.clients).toEqual({ attempted: 21, connected: 21, failed: 0 });
      expect(merged.messages).toEqual({ planned: 63, sent: 63, acked: 63, mismatched: 0, missing: 0, extra: 0 });
      expect(merged.latency.ack.count).toBe(63);
      // Within the histogram's resolution (3 significant digits) of the largest shard's maximum.
      const shardMax = Math.max(...shards.map((s) => s.latency.ack.max));
      expect(Math.abs(merged.latency.ack.max - shardMax)).toBeLessThanOrEqual(shardMax / 1000 + 0.001);
      const p50s = shards.map((s) => s.latency.ack.p50);
      expect(merged.latency.ack.p50).toBeGreaterThanOrEqual(Math.min(...p50s));
      expect(merged.latency.ack.p50).toBeLessThanOrEqual(Math.max(...p50s));
      expect(merged.ok).toBe(true);

      const mixed = await runCli(['merge', files[0], path.join(dir, 'missing.json')]);
      expect(mixed.exitCode).toBe(2);
      expect(mixed.stderr).toMatch(/cannot read .*missing\.json: ENOENT/);
    });
  });
});
