// The http-client family judges clients precisely, by their command lines: lib/'s fixed client passes,
// the faulty one (a new transport per request) and one that never reads its bodies fail the bound and
// the reuse, a client that never closes idle connections fails the idle timeout it declares, and one
// that does not retry a request on a stale reused connection fails the retry.
// `npm run test:meta` runs these.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../_harness/cli.ts';
import { runCheckCli } from '../_harness/check.ts';

const UNCONSUMED = fileURLToPath(new URL('../../fixtures/http-clients/unconsumed-bodies.mjs', import.meta.url));
const client = (args: string): string => `node ${BIN} http-client --url {url} --extra-probability 0 --quiet ${args}`;

describe('the http-client family judges clients precisely', () => {
  it("META-CLIENT-001 passes lib/'s fixed client: bounded, reused, idle ones closed, none left", async () => {
    const check = await runCheckCli('http-client', undefined, ['--command', client('--mode fixed --interval 400ms --requests 4 --idle-timeout 150ms --connections 2'), '--max-sockets', '2', '--idle-timeout', '150ms']);
    // Its pauses are longer than its idle timeout: each request has its own connection, so reuse cannot be judged.
    expect(check.failed, check.stdout).toEqual([]);
    expect(check.passed).toEqual(['HTTP-CLIENT-001', 'HTTP-CLIENT-002', 'HTTP-CLIENT-004', 'HTTP-CLIENT-005']);
    const burst = await runCheckCli('http-client', undefined, ['--command', client('--mode fixed --interval 20ms --requests 12 --connections 2'), '--max-sockets', '2']);
    expect(burst.failed, burst.stdout).toEqual([]);
    expect(burst.passed).toEqual(['HTTP-CLIENT-001', 'HTTP-CLIENT-002', 'HTTP-CLIENT-003', 'HTTP-CLIENT-005']);
  });

  it('META-CLIENT-002 fails a client with a new transport per request on exactly the bound and the reuse', async () => {
    const check = await runCheckCli('http-client', undefined, ['--command', client('--mode faulty --interval 20ms --requests 12'), '--max-sockets', '6']);
    expect(check.failed, check.stdout).toEqual(['HTTP-CLIENT-002', 'HTTP-CLIENT-003']);
    expect(check.passed).toEqual(['HTTP-CLIENT-001', 'HTTP-CLIENT-005']);
  });

  it('META-CLIENT-003 fails a client that keeps idle connections far past the idle timeout it declares on exactly HTTP-CLIENT-004', async () => {
    const check = await runCheckCli('http-client', undefined, ['--command', client('--mode fixed --interval 600ms --requests 3 --idle-timeout 30s'), '--idle-timeout', '150ms']);
    expect(check.failed, check.stdout).toEqual(['HTTP-CLIENT-004']);
  });

  it('META-CLIENT-005 fails a client that never reads its response bodies (fixtures/http-clients) on exactly the bound and the reuse', async () => {
    const check = await runCheckCli('http-client', undefined, ['--command', `node ${UNCONSUMED} {url} 8 20`, '--max-sockets', '2']);
    expect(check.failed, check.stdout).toEqual(['HTTP-CLIENT-002', 'HTTP-CLIENT-003']);
    expect(check.passed).toEqual(['HTTP-CLIENT-001', 'HTTP-CLIENT-005']);
  });

  it('META-CLIENT-006 fails a client that does not retry a request whose reused connection was reset on exactly HTTP-CLIENT-006', async () => {
    const pauses = client('--mode fixed --interval 400ms --requests 4 --idle-timeout 10s --connections 1');
    const sound = await runCheckCli('http-client', undefined, ['--command', pauses, '--max-sockets', '1']);
    expect(sound.failed, sound.stdout).toEqual([]);
    expect(sound.passed).toEqual(['HTTP-CLIENT-001', 'HTTP-CLIENT-002', 'HTTP-CLIENT-003', 'HTTP-CLIENT-005', 'HTTP-CLIENT-006']);
    const broken = await runCheckCli('http-client', undefined, ['--command', `${pauses} --no-retry`, '--max-sockets', '1']);
    expect(broken.failed, broken.stdout).toEqual(['HTTP-CLIENT-006']);
  });

  it('META-CLIENT-004 a command that cannot run is a failed check, not a pass', async () => {
    const check = await runCheckCli('http-client', undefined, ['--command', 'exit 3']);
    expect(check.failed).toContain('HTTP-CLIENT-001');
    expect(check.exitCode).toBe(1);
  });
});
