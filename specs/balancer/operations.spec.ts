// Running the balancer: a connection limit refuses the extra client at once and serves the others, an
// idle connection is closed, a graceful stop refuses new clients while open streams finish, and the
// stats (from stats(), as JSON and as Prometheus text on the stats port) agree with what the clients
// counted. `connlab balancer` starts with the prior art's flags, and bad input gets one line and exit
// status 2 (1 when the port is taken). The limit and the idle timeout judge another balancer through
// what it declares; stopping, the stats and the command line are lib/'s own.
import net from 'node:net';
import { describe, expect, it, type TestContext } from 'vitest';
import { declared, declaredOr, libOnly, skipWith } from '../_harness/targets.ts';
import { askName, reachName, reachNames, startBackend, startBalancerTarget, startOnlyBackend, tally } from '../_harness/balancer.ts';
import { WHO } from '../../fixtures/backends.ts';
import { connectClient, type WireClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';
import { runCli, startCliServer } from '../_harness/cli.ts';

const FAMILY = 'balancer';

describe('balancer: limits and timeouts', () => {
  it('LB-LIMIT-001 closes the connection past --max-connections at once, logs it, and keeps serving the others', async (ctx) => {
    const max = declared(ctx, FAMILY, '--max-connections', 2, 'the most client connections it keeps at once');
    if (max > 1000) skipWith(ctx, `--max-connections ${max} is more than this spec opens (1000): declare a smaller limit for the check`);
    const lines: string[] = [];
    await using a = await startOnlyBackend('a');
    await using balancer = await startBalancerTarget(a.ports, { maxConnections: 2, log: (line) => lines.push(line) });
    const from = a.sessions.length;
    const held: WireClient[] = [];
    try {
      // Connections that just closed (the readiness check's) may still count against the limit for a moment.
      for (let i = 0; i < max; i++) held.push((await waitUntil(() => heldConnection(balancer), (client) => client !== undefined, { what: `connection ${i + 1} of ${max}`, expected: 'served' }))!);
      await using extra = await connectClient(balancer.port, balancer.host);
      await extra.write(WHO).catch(() => {}); // it may be closed already
      expect((await extra.readToEnd(scaled(5000))).length).toBe(0);
      await held[0].write('one\n');
      expect(await held[0].readLine()).toBe('one');
      expect(a.clients(from)).toHaveLength(max);
      if (balancer.stats) {
        expect(balancer.stats()).toMatchObject({ accepted: 2, rejected: 1, open: 2 });
        expect(lines.filter((line) => line.startsWith('[REJECT]'))).toHaveLength(1);
      }
    } finally {
      for (const client of held) client.destroy();
    }
  });

  it('LB-TIME-001 closes both sides of a connection through which nothing moved for the idle timeout', async (ctx) => {
    const idleMs = idleTimeout(ctx, scaled(200));
    await using a = await startOnlyBackend('a');
    await using balancer = await startBalancerTarget(a.ports, { idleTimeoutMs: idleMs });
    const from = a.sessions.length;
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await askName(client)).toBe('a');
    const quietSince = Date.now();
    expect((await client.readToEnd(idleMs + scaled(5000))).length).toBe(0);
    expect(Date.now() - quietSince).toBeGreaterThanOrEqual(idleMs - 20);
    await waitUntil(() => a.clients(from).every((session) => session.closed), (closed) => closed, { what: "the backend's side", expected: 'closed' });
    if (balancer.stats) expect(balancer.stats()).toMatchObject({ idleTimeouts: 1, open: 0 });
  });

  it('LB-TIME-002 keeps a connection open past the idle timeout while bytes keep moving', async (ctx) => {
    const idleMs = idleTimeout(ctx, scaled(300));
    await using a = await startOnlyBackend('a');
    await using balancer = await startBalancerTarget(a.ports, { idleTimeoutMs: idleMs });
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await askName(client)).toBe('a');
    const started = Date.now();
    for (let i = 0; Date.now() - started < idleMs * 2; i++) {
      await client.write(`tick ${i}\n`);
      expect(await client.readLine()).toBe(`tick ${i}`);
      // Time is the subject: traffic every quarter of the idle timeout must keep the connection open.
      await new Promise((resolve) => setTimeout(resolve, idleMs / 4));
    }
    if (balancer.stats) expect(balancer.stats().idleTimeouts).toBe(0);
  });
});

/** A connection the backend answered, or undefined when the balancer closed it. */
async function heldConnection(balancer: { host: string; port: number }): Promise<WireClient | undefined> {
  const client = await connectClient(balancer.port, balancer.host);
  try {
    expect(await askName(client)).toBe('a');
    return client;
  } catch {
    client.destroy();
    return undefined;
  }
}

/** The idle timeout judged: lib/'s `libMs`, or the declared one, if it is short enough to wait out. */
function idleTimeout(ctx: TestContext, libMs: number): number {
  const idleMs = declared(ctx, FAMILY, '--idle-timeout', libMs, 'how long a connection through which nothing moves is kept');
  if (idleMs > 10_000) skipWith(ctx, `--idle-timeout ${idleMs}ms is longer than this spec waits (10s): declare a shorter one for the check`);
  return idleMs;
}

describe('balancer: graceful stop', () => {
  it('LB-STOP-001 refuses new clients once stopping, and lets an open stream finish within the grace period', async (ctx) => {
    libOnly(ctx, 'balancer', 'it stops the balancer');
    await using a = await startBackend(0, 'a');
    const balancer = await startBalancerTarget([a.port]);
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await askName(client)).toBe('a');
    const stopped = balancer.close(scaled(10_000));
    await expect(connectClient(balancer.port, balancer.host)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const payload = 'x'.repeat(1024 * 1024);
    await client.write(`${payload}\n`);
    expect(await client.readLine()).toBe(payload);
    client.end();
    expect((await client.readToEnd()).length).toBe(0);
    await stopped;
  });

  it('LB-STOP-002 cuts the connections still open when the grace period ends', async (ctx) => {
    libOnly(ctx, 'balancer', 'it stops the balancer');
    await using a = await startBackend(0, 'a');
    const balancer = await startBalancerTarget([a.port]);
    await using client = await connectClient(balancer.port, balancer.host);
    expect(await askName(client)).toBe('a');
    const graceMs = scaled(200);
    const started = Date.now();
    await balancer.close(graceMs);
    expect(Date.now() - started).toBeGreaterThanOrEqual(graceMs - 20);
    expect((await client.readToEnd()).length).toBe(0);
    await a.sessions[0].done;
  });
});

describe('balancer: stats', () => {
  it('LB-STATS-001 counts connections, bytes each way and failures exactly as the clients saw them, in stats(), /stats and /metrics', async (ctx) => {
    libOnly(ctx, 'balancer', "it reads lib/'s stats port");
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using balancer = await startBalancerTarget([a.port, b.port], { statsPort: 0 });
    let sent = 0;
    let echoed = 0;
    for (let i = 0; i < 10; i++) {
      await using client = await connectClient(balancer.port, balancer.host);
      await askName(client);
      const message = `message ${'#'.repeat(i * 100)}\n`;
      sent += WHO.length + message.length;
      echoed += message.length;
      await client.write(message);
      client.end();
      expect((await client.readToEnd()).toString()).toBe(message);
    }
    await waitUntil(() => balancer.stats!().open, (open) => open === 0, { what: 'open connections', expected: '0' });
    const stats = balancer.stats!();
    expect(stats).toMatchObject({ accepted: 10, rejected: 0, noBackend: 0, open: 0, bytesFromClients: sent, bytesToClients: echoed + 10 * 2 });
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

describe('balancer: the command line', () => {
  it('LB-CLI-001 `connlab balancer --port 0 --backend A --backend B` alternates between them and exits 0 on SIGTERM', async (ctx) => {
    libOnly(ctx, 'balancer', "it runs lib/'s command line");
    await using a = await startBackend(0, 'a');
    await using b = await startBackend(1, 'b');
    await using cli = await startCliServer(['balancer', '--port', '0', '--backend', `127.0.0.1:${a.port}`, '--backend', `127.0.0.1:${b.port}`]);
    expect(await reachNames(cli, 4)).toEqual(['a', 'b', 'a', 'b']);
    expect(await cli.stop('SIGTERM')).toBe(0);
    expect(cli.stderrLines.some((line) => line.startsWith('[LOAD BALANCER] Listening on'))).toBe(true);
  });

  it('LB-CLI-002 answers a bad backend with one line naming --backend and exit status 2, and a taken port with exit status 1', async (ctx) => {
    libOnly(ctx, 'balancer', "it runs lib/'s command line");
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
    // Under a declared connection limit, as many as it keeps (an even number, for the halves).
    const count = Math.min(200, 2 * Math.floor(declaredOr<number>(FAMILY, '--max-connections', 200) / 2));
    const names = await Promise.all(Array.from({ length: count }, () => reachName(balancer)));
    expect(tally(names)).toEqual({ a: count / 2, b: count / 2 });
    // The balancer and both backends end with nothing open.
    await waitUntil(() => a.open() + b.open(), (open) => open === 0, { what: 'open backend connections', expected: '0' });
    expect(net.isIP(balancer.host)).toBeGreaterThan(0);
  });
});
