// `connlab ack-server` as an operator runs it: it prints `listening on HOST:PORT` first, logs each
// connection's life with --verbose in the prior art's words, refuses a bad flag with one line and
// exit status 2, survives running out of file descriptors, and drains and exits 0 on SIGTERM.
import { describe, expect, it } from 'vitest';
import { runCli, startCliServer } from '../_harness/cli.ts';
import { connectClient } from '../_harness/wire.ts';
import { waitUntil } from '../_harness/wait.ts';
import { libOnlyReason } from '../_harness/targets.ts';

const needsLib = libOnlyReason('ack', 'it starts lib/\'s ack server as a process');

describe.skipIf(needsLib)('ack-server command', () => {
  it('TCP-ACKCLI-001 prints `listening on HOST:PORT` first and, with --verbose, logs [CONNECT] [DATA] [DISCONNECT] and its gauges', async () => {
    await using server = await startCliServer(['ack-server', '--port', '0', '--verbose', '--stats-interval', '50ms']);
    expect(server.host).toBe('127.0.0.1');
    {
      await using client = await connectClient(server.port, server.host);
      await client.write('Hello from client #0\n');
      expect(await client.readLine()).toBe('ACK Hello from client #0');
      client.end();
      await client.closed();
    }
    const log = await waitUntil(() => server.stderrLines.join('\n'), (text) => text.includes('[DISCONNECT]'), { what: 'verbose log' });
    expect(log).toMatch(/\[CONNECT\] 127\.0\.0\.1:\d+ connected/);
    expect(log).toMatch(/\[DATA\] 127\.0\.0\.1:\d+ sent: Hello from client #0/);
    expect(log).toMatch(/\[DISCONNECT\] 127\.0\.0\.1:\d+ disconnected/);
    // The gauges, every --stats-interval: this one connection's message and ack, nothing open any more.
    await waitUntil(() => server.stderrLines.join('\n'), (text) => /\[STATS\] open 0 \| accepted 1 rejected 0 \| messages 1 acks 1/.test(text), { what: 'a gauge line' });
  });

  it('TCP-ACKCLI-002 on SIGTERM stops accepting, finishes the open connection\'s replies and exits 0', async () => {
    await using server = await startCliServer(['ack-server', '--port', '0']);
    await using client = await connectClient(server.port, server.host);
    await client.write('before stop\n');
    expect(await client.readLine()).toBe('ACK before stop');
    const exitCode = server.stop('SIGTERM');
    // The server ends our connection cleanly (FIN, not RST) as part of its drain.
    expect((await client.readToEnd()).toString()).toBe('');
    client.end();
    expect(await exitCode).toBe(0);
    await expect(connectClient(server.port, server.host)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('TCP-ACKCLI-003 rejects a bad flag value with one line naming the flag and exit status 2', async () => {
    const result = await runCli(['ack-server', '--port', '70000']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("option '--port <n>' argument '70000' is invalid");
    const framing = await runCli(['ack-server', '--framing', 'words']);
    expect(framing.exitCode).toBe(2);
    expect(framing.stderr).toContain('must be one of line, chunk');
  });

  it('TCP-ACKCLI-004 reports a port in use and exits 1', async () => {
    await using first = await startCliServer(['ack-server', '--port', '0']);
    const second = await runCli(['ack-server', '--port', String(first.port)]);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`cannot listen on 127.0.0.1:${first.port}: EADDRINUSE`);
  });

  it('TCP-ACKCLI-005 survives running out of file descriptors: logs EMFILE and serves again once some are free', async () => {
    // 128 descriptors: Node needs about 25 of its own, so the server runs out with about a hundred
    // clients. (Much lower and Node itself can fail at start: it opens its modules' files in parallel.)
    await using server = await startCliServer(['ack-server', '--port', '0'], { shell: 'ulimit -n 128' });
    const clients = [];
    const failures: string[] = [];
    for (let i = 0; i < 140; i++) {
      const client = await connectClient(server.port, server.host).catch((error: Error) => failures.push(error.message));
      if (typeof client === 'object') clients.push(client);
    }
    // The kernel completes handshakes the server cannot accept; those connections get closed by the server.
    const served = await Promise.all(
      clients.map(async (client, i) => {
        await client.write(`ping ${i}\n`).catch(() => {});
        return client.readLine().then((line) => line === `ACK ping ${i}`, () => false);
      }),
    );
    expect(served.filter(Boolean).length).toBeGreaterThan(0);
    expect(served.filter((ok) => !ok).length).toBeGreaterThan(0);
    await waitUntil(() => server.stderrLines.join('\n'), (text) => text.includes('EMFILE'), { what: 'server log', expected: 'an EMFILE line' });
    for (const client of clients) client.destroy();
    // Once the server has seen those closes, its descriptors are free and a new client is served.
    const servedAgain = async (): Promise<boolean> => {
      try {
        await using after = await connectClient(server.port, server.host);
        await after.write('after\n');
        return (await after.readLine()) === 'ACK after';
      } catch {
        return false; // closed by the OS while the server is still at its limit
      }
    };
    expect(await waitUntil(servedAgain, (ok) => ok, { what: 'a new client served after the others closed', expected: 'ACK after' })).toBe(true);
  });
});
