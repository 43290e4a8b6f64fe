// A capacity run split over worker processes never loses its result. Whatever happens to a worker
// (killed, crashed, its report lost), the command prints the merged result of what it has, names the
// worker it lost and how (exit code or signal, what it had reported last), and exits 1. A worker waits
// for its result to be delivered before it disconnects, and the parent reads every message a worker
// sent before judging how it ended, so runs one after another all report.
import { describe, expect, it } from 'vitest';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { runCapacity } from '../../lib/capacity/workers.ts';
import type { CapacityResult } from '../../lib/results/capacity.ts';
import { resultProblems } from '../../lib/results/index.ts';
import { renderCapacityResult } from '../../lib/report/text.ts';
import { spawnCli } from '../_harness/cli.ts';
import { waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';

describe('capacity: worker processes', () => {
  it('CAP-WORK-001 a worker killed with SIGKILL mid-hold still leaves a result that names it, with the other worker\'s connections held, and exit status 1', async () => {
    await using server = await startAckServer();
    const args = ['capacity', '--host', server.host, '--port', String(server.port), '--connections', '20', '--delay', '0', '--hold', `${scaled(2500)}ms`, '--workers', '2', '--close', 'reset', '--interval', '100ms', '--json'];
    await using cli = spawnCli(args);
    const pids = await cli.stderrLine(/^\[capacity\] 2 worker processes \(pids (\d+), (\d+)\)$/);
    const victim = Number(pids[2]);
    // Both workers hold their ten once the server counts twenty open, and their gauges have reached the parent.
    await waitUntil(() => server.stats().open, (open) => open === 20, { what: 'connections the server holds', expected: '20' });
    await cli.stderrLine(/established 20 open/);
    process.kill(victim, 'SIGKILL');
    const run = await cli.done();
    expect(run.exitCode, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout) as CapacityResult;
    expect(resultProblems(result)).toEqual([]);
    expect(result.ok).toBe(false);
    expect(result.lostWorkers).toEqual([
      expect.objectContaining({ worker: 1, shard: { index: 1, count: 2 }, signal: 'SIGKILL', exitCode: null, lastProgress: expect.objectContaining({ planned: 10, established: 10, open: 10 }) }),
    ]);
    expect(result.lostWorkers![0].reason).toMatch(/killed by SIGKILL before reporting its result/);
    // Worker 0 held its ten to the end of the hold; worker 1's ten were established, never judged held.
    expect(result.connections).toMatchObject({ planned: 20, established: 20, held: 10, failed: 0 });
    // The table people read says it too.
    expect(renderCapacityResult(result)).toMatch(/lost worker 1\s+shard 1\/2 killed by SIGKILL before reporting its result; it had reported 10 open, 10 established, 0 failed of 10/);
  });

  it('CAP-WORK-002 four multi-worker runs one right after another all report, with no worker lost', async () => {
    await using server = await startAckServer();
    const results: CapacityResult[] = [];
    for (let i = 0; i < 4; i++) results.push(await runCapacity({ host: server.host, port: server.port, connections: 6, delayMs: 0, holdMs: 10, workers: 2, close: 'reset' }));
    for (const [i, result] of results.entries()) {
      expect(result.lostWorkers, `run ${i}`).toBeUndefined();
      expect(result.connections, `run ${i}`).toMatchObject({ planned: 6, established: 6, held: 6 });
      expect(result.processes, `run ${i}`).toBe(2);
      expect(result.ok, `run ${i}`).toBe(true);
    }
  });
});
