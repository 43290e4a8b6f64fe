// Any HTTP client, judged by its command line: `connlab check http-client --command 'CMD ... {url} ...'`
// runs it once against a slow keep-alive server on loopback and watches its connections, by the server's
// records and the OS's count. A client that builds a new transport per request (the keep-alive lab's
// faulty one) piles up a connection per request; a sound one keeps a bounded few, reuses them, closes idle
// ones within its idle timeout, leaves none behind, and retries a request whose reused connection the
// server had closed (run a second time, against a server that forgets idle connections without a FIN).
// Against lib/ the client is lib's own fixed client.
import { describe, expect, it } from 'vitest';
import { BIN } from '../_harness/cli.ts';
import { idlePeriods, observeClientCommand, observeStaleRace } from '../_harness/client-lab.ts';
import { declared, declaredOr, skipWith } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';

const FAMILY = 'http-client';
const node = (args: string): string => `node ${BIN} http-client ${args} --url {url} --extra-probability 0 --quiet`;
/** lib/'s fixed client making a dozen requests in quick turns: bounded, reused. */
const LIB_BURST = node('--mode fixed --interval 30ms --requests 12 --connections 2');
/** lib/'s fixed client with pauses longer than its idle timeout between requests. */
const LIB_IDLE_MS = 150;
const LIB_PAUSES = node(`--mode fixed --interval ${scaled(500)}ms --requests 3 --idle-timeout ${LIB_IDLE_MS}ms`);
/** lib/'s fixed client pausing longer than the stale server keeps a connection, shorter than its own idle timeout. */
const LIB_REUSE_AFTER_PAUSE = node(`--mode fixed --interval ${scaled(400)}ms --requests 4 --idle-timeout 10s --connections 1`);
/** The stale server forgets a connection this long after its response; the retry must come well before the next pause ends. */
const STALE_AFTER_MS = scaled(100);
const RETRY_WITHIN_MS = scaled(250);
const slowest = scaled(130_000);

describe('an HTTP client, judged by its connections', () => {
  it('HTTP-CLIENT-001 gets its requests answered, and exits 0', { timeout: slowest }, async () => {
    const run = await observeClientCommand(LIB_BURST);
    expect(run.responded, `${run.command}\n${run.stderr}`).toBeGreaterThan(0);
    expect(run.exitCode, run.stderr).toBe(0);
  });

  it('HTTP-CLIENT-002 keeps its connections bounded by --max-sockets however many requests it makes', { timeout: slowest }, async () => {
    const maxSockets = declaredOr(FAMILY, '--max-sockets', 6);
    const run = await observeClientCommand(LIB_BURST);
    expect(run.peakOpen, `most connections open at once, over ${run.requests} requests`).toBeLessThanOrEqual(maxSockets);
  });

  it('HTTP-CLIENT-003 reuses its connections: fewer connections than requests', { timeout: slowest }, async (ctx) => {
    const maxSockets = declaredOr(FAMILY, '--max-sockets', 6);
    const run = await observeClientCommand(LIB_BURST);
    if (run.requests <= maxSockets) skipWith(ctx, `could not judge: the command made ${run.requests} requests, no more than --max-sockets ${maxSockets}, so each may have had its own connection`);
    // A client that closes idle connections within its idle timeout rightly opens a new one after a longer pause.
    const idleMs = declaredOr(FAMILY, '--idle-timeout', Infinity);
    const gaps = run.connections.flatMap((c) => c.requests).sort((a, b) => a - b).map((at, i, all) => (i === 0 ? 0 : at - all[i - 1])).slice(1);
    const median = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? 0;
    if (median > idleMs) skipWith(ctx, `could not judge: the command paused ${Math.round(median)}ms between requests (the median), longer than its --idle-timeout ${idleMs}ms, so each request rightly had a new connection`);
    const reused = run.connections.filter((c) => c.responses.length > 1).length;
    expect(reused, `connections that carried more than one response (${run.connections.length} opened for ${run.requests} requests)`).toBeGreaterThan(0);
    expect(run.connections.length).toBeLessThan(run.requests);
  });

  it('HTTP-CLIENT-004 closes a connection within --idle-timeout of going idle', { timeout: slowest }, async (ctx) => {
    const idleMs = declared(ctx, FAMILY, '--idle-timeout', LIB_IDLE_MS, 'how soon the client closes a connection that went idle');
    const run = await observeClientCommand(LIB_PAUSES);
    const slack = scaled(200);
    // Each stretch a connection sat idle while the command ran, up to its next request, its close or the exit.
    const periods = idlePeriods(run);
    if (periods.length === 0) skipWith(ctx, 'could not judge: no request of the command was answered, so no connection went idle');
    expect(periods.filter((period) => period > idleMs + slack).map(Math.round), `idle periods (ms) longer than --idle-timeout ${idleMs}ms`).toEqual([]);
  });

  it('HTTP-CLIENT-005 leaves no connection open once it exits', { timeout: slowest }, async () => {
    const run = await observeClientCommand(LIB_BURST);
    expect(run.openAfterExit).toBe(0);
  });

  it('HTTP-CLIENT-006 retries a request whose reused connection turns out closed by the server, at once, on a new connection (the stale keep-alive race)', { timeout: slowest }, async (ctx) => {
    const run = await observeStaleRace(LIB_REUSE_AFTER_PAUSE, STALE_AFTER_MS);
    const resets = run.connections.filter((c) => c.resetAt !== undefined).map((c) => c.resetAt!);
    if (resets.length === 0) skipWith(ctx, `could not judge: the command never reused a connection more than ${STALE_AFTER_MS}ms after its response, so none turned out stale (pause longer than that between requests, within the client's idle timeout)`);
    // After each reset, the same request again on a connection opened after it, before the client's next pause could end.
    const unretried = resets.filter((resetAt) => !run.connections.some((c) => c.openedAt >= resetAt && c.requests.some((at) => at - resetAt <= RETRY_WITHIN_MS)));
    expect(unretried.length, `resets on a reused connection not followed within ${RETRY_WITHIN_MS}ms by a request on a new one (${resets.length} resets)\n${run.stderr}`).toBe(0);
    expect(run.exitCode, `the command's exit status: a request failed\n${run.stderr}`).toBe(0);
  });
});
