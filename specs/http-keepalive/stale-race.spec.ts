// The stale keep-alive race: a server closes an idle keep-alive connection just as the client, whose
// idle timeout outlives the server's, sends its next request on it; the request meets a reset. Here the
// race is made deterministic by a fixture server that forgets idle connections without telling the
// client (its FIN "still in flight"). A pooled client that does not retry fails; the fixed client retries
// the idempotent GET once on a fresh connection, fails nothing, and leaks nothing.
import { describe, expect, it } from 'vitest';
import { createKeepAliveClient } from '../../lib/http-keepalive/clients.ts';
import { clientSocketCount } from '../../lib/http-keepalive/socket-count.ts';
import { createStaleKeepAliveServer } from '../../fixtures/http-servers.ts';
import { createResettingServer } from '../../fixtures/servers.ts';
import { waitForValue } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';

const osSockets = async (port: number): Promise<number> => (await clientSocketCount(port)).established;

describe('the stale keep-alive race', () => {
  it('HTTP-KA-020 a pooled client that does not retry gets a reset on its reused socket', async () => {
    // The fixed client with its retry switched off is the broken implementation here.
    await using server = await createStaleKeepAliveServer({ idleMs: scaled(20) });
    await using client = createKeepAliveClient({ mode: 'fixed', retryStaleSocket: false });
    const url = `http://${server.host}:${server.port}/`;
    expect(await client.get(url)).toMatchObject({ ok: true, status: 200 });
    await waitForValue(() => server.stats().staled, 1, { what: 'the server forgetting the idle connection' });
    const second = await client.get(url);
    expect(second).toMatchObject({ ok: false, retried: false });
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(second.error);
    expect(server.stats()).toMatchObject({ connections: 1, responses: 1, resets: 1 });
  });

  it('HTTP-KA-021 the fixed client retries the GET once on a fresh connection: no failure, no leak', async () => {
    await using server = await createStaleKeepAliveServer({ idleMs: scaled(20) });
    const url = `http://${server.host}:${server.port}/`;
    const client = createKeepAliveClient({ mode: 'fixed' });
    expect(await client.get(url)).toMatchObject({ ok: true, retried: false });
    await waitForValue(() => server.stats().staled, 1, { what: 'the server forgetting the idle connection' });
    expect(await client.get(url)).toMatchObject({ ok: true, status: 200, retried: true });
    expect(server.stats()).toMatchObject({ connections: 2, responses: 2, resets: 1 });
    // The reset socket is gone; only the fresh one is open, and after close none is.
    expect(client.stats()).toMatchObject({ requests: 2, completed: 2, failed: 0, retries: 1, idleFlushes: 1, connectionsOpened: 2, connectionsOpen: 1 });
    await waitForValue(() => osSockets(server.port), 1, { what: 'ESTABLISHED sockets of this process to the server' });
    await client.close();
    await waitForValue(() => osSockets(server.port), 0, { what: 'ESTABLISHED sockets of this process to the server' });
  });

  it('HTTP-KA-022 the fixed client does not retry a reset on a fresh socket: that failure is real', async () => {
    await using server = await createResettingServer();
    await using client = createKeepAliveClient({ mode: 'fixed' });
    const outcome = await client.get(`http://${server.host}:${server.port}/`);
    expect(outcome).toMatchObject({ ok: false, retried: false });
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(outcome.error);
    expect(client.stats()).toMatchObject({ retries: 0, failed: 1, connectionsOpened: 1 });
  });

  it('HTTP-KA-023 the fixed client also retries when its reused socket is closed with a FIN before any response', async () => {
    await using server = await createStaleKeepAliveServer({ idleMs: scaled(20), close: 'fin' });
    await using client = createKeepAliveClient({ mode: 'fixed' });
    const url = `http://${server.host}:${server.port}/`;
    expect(await client.get(url)).toMatchObject({ ok: true, retried: false });
    await waitForValue(() => server.stats().staled, 1, { what: 'the server forgetting the idle connection' });
    expect(await client.get(url)).toMatchObject({ ok: true, status: 200, retried: true });
    expect(client.stats()).toMatchObject({ completed: 2, failed: 0, retries: 1, connectionsOpened: 2 });
  });

  it("HTTP-KA-024 two fixed clients in one process each retry their own stale socket, and other clients' requests do not confuse them", async () => {
    await using server = await createStaleKeepAliveServer({ idleMs: scaled(20) });
    await using first = createKeepAliveClient({ mode: 'fixed' });
    await using second = createKeepAliveClient({ mode: 'fixed' });
    await using bystander = createKeepAliveClient({ mode: 'faulty' });
    const url = `http://${server.host}:${server.port}/`;
    expect([await first.get(url), await second.get(url), await bystander.get(url)].map((o) => o.ok)).toEqual([true, true, true]);
    await waitForValue(() => server.stats().staled, 3, { what: 'the server forgetting the idle connections' });
    expect(await first.get(url)).toMatchObject({ ok: true, retried: true });
    expect(await second.get(url)).toMatchObject({ ok: true, retried: true });
    expect([first.stats().retries, second.stats().retries]).toEqual([1, 1]);
  });

  it('HTTP-KA-025 requests that fail together on one agent flush its connections once', async () => {
    await using server = await createResettingServer();
    await using client = createKeepAliveClient({ mode: 'fixed', perOriginConnections: 2 });
    const url = `http://${server.host}:${server.port}/`;
    const outcomes = await Promise.all([client.get(url), client.get(url)]);
    expect(outcomes.map((o) => o.ok)).toEqual([false, false]);
    expect(client.stats()).toMatchObject({ failed: 2, retries: 0, idleFlushes: 1 });
  });
});
