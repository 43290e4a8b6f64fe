// Running the balancer: a connection limit refuses the extra client at once and serves the others, an
// idle connection is closed, a graceful stop refuses new clients while open streams finish, and the
// stats (from stats(), as JSON and as Prometheus text on the stats port) agree with what the clients
// counted. `connlab balancer` starts with the prior art's flags, and bad input gets one line and exit
// status 2 (1 when the port is taken). These set lib/'s options or read its gauges, so they are skipped
// against an external balancer.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { libOnlyReason } from '../_harness/targets.ts';
import { reachName, reachNames, startBackend, startBalancerTarget, tally } from '../_harness/balancer.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';
import { runCli, startCliServer } from '../_harness/cli.ts';

const needsLib = libOnlyReason('balancer', "it sets the balancer's options, stops it or reads its gauges");

describe.skipIf(needsLib)('balancer: limits and timeouts', () => {
  it('LB-LIMIT-001 closes the connection past --max-connections at once, logs it, and keeps serving the others', async () => {
    const lines: string[] = [];
    await using a = await startBackend(0, 'a');
    await using balancer = await startBalancerTarget([a.port], { maxConnections: 2, log: (line) => lines.push(line) });
    await using first = await connectClient(balancer.port, balancer.host);
    await using second = await connectClient(balancer.port, balancer.host);
    expect([await first.readLine(), await second.readLine()]).toEqual(['a', 'a']);
    await using third = await connectClient(balancer.port, balancer.host);
    expect((await third.readToEnd()).length).toBe(0);
    await first.write('one\n');
    expect(await first.readLine()).toBe('one');
    expect(balancer.stats!()).toMatchObject({ accepted: 2, rejected: 1, open: 2 });
    expect(lines.filter((line) => line.startsWith('[REJECT]'))).toHaveLength(1);
    expect(a.sessions).toHaveLength(2);
  });

  it('LB-TIME-001 closes both sides of a connection through which nothing moved for the idle timeout', async () => {
    const idleMs = scaled(200);
    await using a = await startBackend(0, 'a');
    await using balancer = await startBalancerTarget([a.port], { idleTimeoutMs: idleMs });
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await client.readLine()).toBe('a');
    const quietSince = Date.now();
    expect((await client.readToEnd(scaled(5000))).length).toBe(0);
    expect(Date.now() - quietSince).toBeGreaterThanOrEqual(idleMs - 20);
    await a.sessions[0].done;
    expect(balancer.stats!()).toMatchObject({ idleTimeouts: 1, open: 0 });
  });

  it('LB-TIME-002 keeps a connection open past the idle timeout while bytes keep moving', async () => {
    const idleMs = scaled(300);
    await using a = await startBackend(0, 'a');
    await using balancer = await startBalancerTarget([a.port], { idleTimeoutMs: idleMs });
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await client.readLine()).toBe('a');
    const started = Date.now();
    for (let i = 0; Date.now() - started < idleMs * 2; i++) {
      await client.write(`tick ${i}\n`);
      expect(await client.readLine()).toBe(`tick ${i}`);
      // Time is the subject: traffic every quarter of the idle timeout must keep the connection open.
      await new Promise((resolve) => setTimeout(resolve, idleMs / 4));
    }
    expect(balancer.stats!().idleTimeouts).toBe(0);
  });
});

describe.skipIf(needsLib)('balancer: graceful stop', () => {
  it('LB-STOP-001 refuses new clients once stopping, and lets an open stream finish within the grace period', async () => {
    await using a = await startBackend(0, 'a');
    const balancer = await startBalancerTarget([a.port]);
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await client.readLine()).toBe('a');
    const stopped = balancer.close(scaled(10_000));
    await expect(connectClient(balancer.port, balancer.host)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const payload = 'x'.repeat(1024 * 1024);
    await client.write(`${payload}\n`);
    expect(await client.readLine()).toBe(payload);
    client.end();
    expect((await client.readToEnd()).length).toBe(0);
    await stopped;
  });

  it('LB-STOP-002 cuts the connections still open when the grace period ends', async () => {
    await using a = await startBackend(0, 'a');
    const balancer = await startBalancerTarget([a.port]);
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await client.readLine()).toBe('a');
    const graceMs = scaled(200);
    const started = Date.now();
    await balancer.close(graceMs);
    expect(Date.now() - started).toBeGreaterThanOrEqual(graceMs - 20);
    expect((await client.readToEnd()).length).toBe(0);
    await a.sessions[0].done;
  });
});

describe.skipIf(needsLib)('balancer: stats', () => {
  it('LB-STATS-001 counts connections, bytes each way and failures exactly as the clients saw them, in stats(), /stats and /metrics', async () => {
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([a.port, b.port], { statsPort: 0 });
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      await using client = await connectClient(balancer.port, balancer.host);
      await client.readLine();
      const message = `message ${'#'.repeat(i * 100)}\n`;
      sent += message.length;
      await client.write(message);
      client.end();
      expect((await client.readToEnd()).toString()).toBe(message);
    }
    await waitUntil(() => balancer.stats!().open, (open) => open === 0, { what: 'open connections', expected: '0' });
    const stats = balancer.stats!();
    expect(stats).toMatchObject({ accepted: 10, rejected: 0, noBackend: 0, open: 0, bytesFromClients: sent, bytesToClients: sent + 10 * 2 });
    expect(stats.backends.map((s) => ({ total: s.total, active: s.active, state: s.state, failures: s.failures }))).toEqual([
      { total: 5, active: 0, state: 'up', failures: 0 },
      { total: 5, active: 0, state: 'up', failures: 0 },
    ]);
    expect(stats.backends[0].bytesToBackend + stats.backends[1].bytesToBackend).toBe(sent);

    const json = await (await fetch(`http://127.0.0.1:${balancer.statsPort}/stats`)).json();
    expect(json).toEqual(balancer.stats!());
    const metrics = await (await fetch(`http://127.0.0.1:${balancer.statsPort}/metrics`)).text();
    expect(metrics).toContain('connlab_balancer_connections_accepted_total 10\n');
    expect(metrics).toContain(`connlab_balancer_client_bytes_total{direction="in"} ${sent}\n`);
    expect(metrics).toContain(`connlab_balancer_backend_connections_total{backend="127.0.0.1:${a.port}"} 5\n`);
    expect(metrics).toContain(`connlab_balancer_backend_up{backend="127.0.0.1:${b.port}"} 1\n`);
  });
});

describe.skipIf(needsLib)('balancer: the command line', () => {
  it('LB-CLI-001 `connlab balancer --port 0 --backend A --backend B` alternates between them and exits 0 on SIGTERM', async () => {
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using cli = await startCliServer(['balancer', '--port', '0', '--backend', `127.0.0.1:${a.port}`, '--backend', `127.0.0.1:${b.port}`]);
    expect(await reachNames(cli, 4)).toEqual(['a', 'b', 'a', 'b']);
    expect(await cli.stop('SIGTERM')).toBe(0);
    expect(cli.stderrLines.some((line) => line.startsWith('[LOAD BALANCER] Listening on'))).toBe(true);
  });

  it('LB-CLI-002 answers a bad backend with one line naming --backend and exit status 2, and a taken port with exit status 1', async () => {
    const bad = await runCli(['balancer', '--port', '0', '--backend', 'localhost:99999']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^error: option '--backend <host:port>' argument 'localhost:99999' is invalid\. "99999" is not a port/);
    await using taken = await startBackend(0, 'a');
    const busy = await runCli(['balancer', '--port', String(taken.port), '--backend', '127.0.0.1:1']);
    expect(busy.exitCode).toBe(1);
    expect(busy.stderr.trim()).toBe(`connlab: cannot listen on 127.0.0.1:${taken.port}: EADDRINUSE`);
  });
});

describe('balancer: reachability', () => {
  it('LB-CONN-001 accepts 200 concurrent clients and answers each from a backend, 100 and 100', async () => {
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([a.port, b.port]);
    const names = await Promise.all(Array.from({ length: 200 }, () => reachName(balancer)));
    expect(tally(names)).toEqual({ a: 100, b: 100 });
    // The balancer and both backends end with nothing open.
    await waitUntil(() => a.open() + b.open(), (open) => open === 0, { what: 'open backend connections', expected: '0' });
    expect(net.isIP(balancer.host)).toBeGreaterThan(0);
  });
});
