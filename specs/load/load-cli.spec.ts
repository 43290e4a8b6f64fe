// `connlab load` as CI runs it: one JSON document on stdout with --json, exit status 0 only when every
// client connected and every ack matched, 1 with a summary when the run failed, 2 for a bad flag.
// Running out of file descriptors is counted as EMFILE, never a crash; shards split clients exactly.
import { describe, expect, it } from 'vitest';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { closedPort } from '../../fixtures/servers.ts';
import { runCli } from '../_harness/cli.ts';

describe('load command', () => {
  it('LOAD-CLI-001 prints one JSON document with the documented fields and exits 0 when every ack matched', async () => {
    await using server = await startAckServer();
    const run = await runCli(['load', '--port', String(server.port), '--host', server.host, '--clients', '20', '--stagger', '1ms', '--json']);
    expect(run.exitCode).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.clients).toEqual({ attempted: 20, connected: 20, failed: 0 });
    expect(result.messages).toMatchObject({ sent: 20, acked: 20, mismatched: 0, missing: 0 });
    expect(result.errors).toEqual({});
    for (const name of ['connect', 'ack']) {
      expect(Object.keys(result.latency[name])).toEqual(expect.arrayContaining(['p50', 'p90', 'p99', 'p999', 'max', 'histogram']));
      expect(result.latency[name].histogram).toMatch(/^[A-Za-z0-9+/=]+$/);
    }
  });

  it('LOAD-CLI-002 exits 1 with a summary when the target refuses every connection', async () => {
    const port = await closedPort();
    const run = await runCli(['load', '--port', String(port), '--host', '127.0.0.1', '--clients', '5', '--stagger', '0', '--quiet']);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('0/5 connected, 5 failed');
    expect(run.stdout).toMatch(/ECONNREFUSED\s+5/);
    expect(run.stdout).toContain('FAILED');
  });

  it('LOAD-CLI-003 rejects a bad flag value with one line naming the flag and exit status 2', async () => {
    const run = await runCli(['load', '--clients', 'many']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("option '--clients <n>' argument 'many' is invalid");
    const shard = await runCli(['load', '--shard', '3/3']);
    expect(shard.exitCode).toBe(2);
    expect(shard.stderr).toContain('the shard index must be 0..2');
  });

  it('LOAD-CLI-004 counts EMFILE when the client runs out of file descriptors, and still reports', async () => {
    await using server = await startAckServer();
    const run = await runCli(
      ['load', '--port', String(server.port), '--host', server.host, '--clients', '200', '--stagger', '0', '--hold', '1s', '--json'],
      // Node needs about 25 descriptors of its own, and more for a moment at start, when it opens its
      // modules' files in parallel: 128 leaves room for that and runs out with about a hundred clients.
      { shell: 'ulimit -n 128' },
    );
    expect(run.exitCode, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result.errors.EMFILE).toBeGreaterThan(0);
    expect(result.clients.attempted).toBe(200);
    expect(result.clients.connected + result.clients.failed).toBe(200);
    expect(result.clients.failed).toBe(result.errors.EMFILE);
  });

  it('LOAD-CLI-005 splits clients exactly over shards: three shards of 10 clients send each message once', async () => {
    await using server = await startAckServer();
    const shards = await Promise.all(
      ['0/3', '1/3', '2/3'].map((shard) =>
        runCli(['load', '--port', String(server.port), '--host', server.host, '--clients', '10', '--stagger', '0', '--shard', shard, '--json']),
      ),
    );
    const results = shards.map((run) => JSON.parse(run.stdout));
    expect(results.map((r) => r.clients.attempted)).toEqual([3, 3, 4]);
    expect(results.reduce((sum, r) => sum + r.messages.acked, 0)).toBe(10);
    expect(server.stats()).toMatchObject({ accepted: 10, messages: 10, acks: 10 });
  });
});
