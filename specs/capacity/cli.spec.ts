// `connlab capacity` as users run it: the Go tool's flags and its default scenario still work, a
// failed run still ends with a summary and status 1, the OS limit it hit is named with how to raise
// it, a run too big for one process's file limit spreads over worker processes by itself, and a
// Kubernetes Indexed Job's JOB_COMPLETION_INDEX picks the shard.
import { describe, expect, it } from 'vitest';
import { runCli } from '../_harness/cli.ts';
import { createAcceptKServer, createClosingAfterServer, createPeerRecordingServer } from '../../fixtures/capacity-servers.ts';
import { closedPort } from '../../fixtures/servers.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import type { CapacityResult } from '../../lib/results/capacity.ts';

const fixtureOnly = libOnlyReason('capacity', 'these specs need fixture servers with a known ceiling');

describe.skipIf(fixtureOnly)('connlab capacity', () => {
  it("CAP-CLI-001 runs the prior art's scenario with its Go flags: 100 connections 10 ms apart, all closed by the server", async () => {
    await using server = await createClosingAfterServer(scaled(100));
    const cli = await runCli(['capacity', '-host', '127.0.0.1', '-port', String(server.port), '-connections', '100', '-delay', '10', '--json', '--quiet']);
    expect(cli.exitCode).toBe(0);
    const result = JSON.parse(cli.stdout) as CapacityResult;
    expect(result.target).toBe(`127.0.0.1:${server.port}`);
    expect(result.connections).toMatchObject({ attempted: 100, established: 100, closedByServer: 100, failed: 0, held: 0 });
    expect(result.connectLatency.count).toBe(100);
    // -delay 10 is milliseconds: 100 dials take about a second, not 1000 s and not 0.
    expect(result.opening.ms).toBeGreaterThanOrEqual(990);
    expect(server.stats()).toMatchObject({ accepted: 100, closedByServer: 100 });
  });

  it("CAP-CLI-002 prints each connection's lifecycle with --verbose and live stats on stderr every interval", async () => {
    await using server = await createClosingAfterServer(scaled(300));
    const cli = await runCli(['capacity', '--host', '127.0.0.1', '--port', String(server.port), '--connections', '5', '--delay', '20ms', '--verbose', '--interval', '50ms']);
    expect(cli.exitCode).toBe(0);
    const lines = cli.stderr.split('\n');
    for (const i of [0, 1, 2, 3, 4]) {
      expect(lines).toContain(`runner ${i} is initiating a connection`);
      expect(lines).toContain(`runner ${i} established the connection`);
      expect(lines).toContain(`runner ${i} got its connection closed`);
    }
    expect(lines.at(-1)).toBe('Terminating Program');
    expect(lines.some((l) => /^total 5 \| dialing \d+ \| established \d+ open \(\d+ in all\) \| closed by server \d+ \| errors \d+ \| not started \d+$/.test(l))).toBe(true);
    expect(cli.stdout).toMatch(/max concurrent\s+5/);
  });

  it('CAP-CLI-003 ends with a summary and status 1 when every dial is refused', async () => {
    const port = await closedPort();
    const cli = await runCli(['capacity', '--host', '127.0.0.1', '--port', String(port), '--connections', '4', '--delay', '0', '--quiet']);
    expect(cli.exitCode).toBe(1);
    expect(cli.stdout).toMatch(/0\/4 established, 4 failed/);
    expect(cli.stdout).toMatch(/ECONNREFUSED\s+4/);
    expect(cli.stdout).toMatch(/verdict\s+FAILED/);
  });

  it('CAP-CLI-004 names the file limit it hit (EMFILE) and how to raise it, counting every dial', async () => {
    await using server = await createPeerRecordingServer();
    const cli = await runCli(['capacity', '--host', '127.0.0.1', '--port', String(server.port), '--connections', '250', '--delay', '0', '--hold', '50ms', '--workers', '1', '--close', 'reset', '--json', '--quiet'], { shell: 'ulimit -n 200' });
    expect(cli.exitCode).toBe(1);
    const result = JSON.parse(cli.stdout) as CapacityResult;
    const c = result.connections;
    expect(result.errors.EMFILE).toBeGreaterThan(0);
    expect(c.failed).toBe(result.errors.EMFILE);
    expect(c.established + c.failed).toBe(250);
    expect(result.limits.openFiles).toEqual({ soft: 200, hard: 200 });
    expect(result.limits.hit).toEqual([expect.objectContaining({ code: 'EMFILE', count: c.failed, hint: expect.stringContaining('ulimit -n') })]);
  });

  it('CAP-CLI-005 spreads a run over worker processes by itself when one process may not open them all', async () => {
    await using server = await createPeerRecordingServer({ closeAfterRecording: true });
    const cli = await runCli(['capacity', '--host', '127.0.0.1', '--port', String(server.port), '--connections', '300', '--delay', '0', '--json'], { shell: 'ulimit -n 300' });
    expect(cli.stderr).toContain('[capacity] 2 worker processes');
    expect(cli.exitCode).toBe(0);
    const result = JSON.parse(cli.stdout) as CapacityResult;
    expect(result.processes).toBe(2);
    expect(result.connections).toMatchObject({ planned: 300, established: 300, closedByServer: 300, failed: 0 });
    expect(result.errors).toEqual({});
    expect(server.peers()).toEqual({ '127.0.0.1': 300 });
  });

  it('CAP-CLI-006 takes its shard from JOB_COMPLETION_INDEX with --shards N: an exact share', async () => {
    await using server = await createAcceptKServer(100);
    const cli = await runCli(['capacity', '--host', '127.0.0.1', '--port', String(server.port), '--connections', '10', '--shards', '3', '--delay', '0', '--hold', '50ms', '--close', 'reset', '--json', '--quiet'], { shell: 'export JOB_COMPLETION_INDEX=1' });
    expect(cli.exitCode).toBe(0);
    const result = JSON.parse(cli.stdout) as CapacityResult;
    expect(result.shard).toEqual({ index: 1, count: 3 });
    expect(result.connections).toMatchObject({ planned: 3, established: 3, held: 3 });
  });

  it('CAP-CLI-007 rejects bad input with one line naming the flag and status 2', async () => {
    const reopen = await runCli(['capacity', '--reopen']);
    expect(reopen.exitCode).toBe(2);
    expect(reopen.stderr).toMatch(/reopen keeps connections open until the hold or the run ends/);
    const shards = await runCli(['capacity', '--shards', '4', '--source-ips', '127.0.0.1-127.0.0.3']);
    expect(shards.exitCode).toBe(2);
    expect(shards.stderr).toMatch(/JOB_COMPLETION_INDEX/);
  });
});
