// The lab from the command line, as the prior art was run: `connlab slow-server` prints its socket census
// (its own count and the OS's) every interval, and `connlab http-client` prints its own open sockets after
// each request, exits by itself when its requests are done, and with --json gives the socket series.
// Each spec here starts one or two `connlab` processes, so they get a longer deadline than the default.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli, startCliServer, type CliResult, type CliServer } from '../_harness/cli.ts';
import { waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';

const PROCESSES = scaled(45_000);
const LEAKY_CENSUS = fileURLToPath(new URL('../../fixtures/leaky-census-server.ts', import.meta.url));
const CENSUS = /^\[SERVER\] Active TCP Connections: (\d+) \(own count\) \| ESTABLISHED by the OS: (\d+) \| in flight: (\d+)$/;

/**
 * The census checks around a client: before any client, both counts and the requests in flight read 0
 * on every line; a faulty client then holds 3 sockets and exits, and within `settleMs` a census line
 * reads 0 and 0 again. Returns the client's run.
 */
async function censusAroundAClient(server: CliServer, settleMs: number): Promise<CliResult> {
  const lines = (): string[] => server.stderrLines.filter((l) => CENSUS.test(l));
  await waitUntil(() => lines().length, (n) => n >= 2, { what: 'census lines', expected: 'at least 2' });
  expect(lines().slice(0, 2).map((l) => CENSUS.exec(l)!.slice(1))).toEqual([['0', '0', '0'], ['0', '0', '0']]);
  const result = await runCli(['http-client', '--mode', 'faulty', '--url', `http://${server.host}:${server.port}/`, '--interval', '50ms', '--extra-probability', '0', '--requests', '3', '--json']);
  // The client process has exited, so its sockets are gone from the server's count too.
  await waitUntil(() => lines().at(-1) ?? '', (l) => l.includes('Connections: 0 (own count) | ESTABLISHED by the OS: 0'), {
    what: 'a census line after the client exited',
    expected: '0 and 0',
    timeout: settleMs,
  });
  return result;
}

describe('slow-server and http-client commands', () => {
  it('HTTP-KA-040 slow-server prints `listening on`, then a census line with both counts every interval, and stops on SIGTERM', async () => {
    await using server = await startCliServer(['slow-server', '--port', '0', '--delay', '50ms', '--census-interval', '100ms']);
    const result = await censusAroundAClient(server, scaled(5000));
    expect(result.exitCode).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.requests).toEqual({ started: 3, extra: 0, completed: 3, failed: 0, cancelled: 0, retried: 0 });
    expect(doc.sockets).toMatchObject({ peak: 3, final: 3, opened: 3, perCompletedRequest: 1, afterClose: 0 });
    // The series is ready to plot: ms since the start and the OS's count of open sockets.
    expect(doc.series.length).toBeGreaterThanOrEqual(4);
    for (const point of doc.series) expect(point).toMatchObject({ t: expect.any(Number), sockets: expect.any(Number) });
    expect(doc.series.at(-1).sockets).toBe(3);
    const perRequest = result.stderr.split('\n').filter((l) => l.startsWith('[CLIENT] request #'));
    expect(perRequest).toHaveLength(3);
    for (const line of perRequest) expect(line).toMatch(/^\[CLIENT\] request #\d 200 in \d+ms \| open sockets to the server \(OS\): \d+$/);
    expect(await server.stop('SIGTERM')).toBe(0);
  }, PROCESSES);

  it('HTTP-KA-043 the same census checks catch a server whose own count never goes down when a connection closes (fixtures/leaky-census-server.ts)', async () => {
    await using leaky = await startCliServer(['50', '100'], { entry: ['--import', 'tsx', LEAKY_CENSUS] });
    await expect(censusAroundAClient(leaky, scaled(1500))).rejects.toThrow(/a census line after the client exited/);
  }, PROCESSES);

  it('HTTP-KA-041 http-client in fixed mode exits by itself with its sockets closed and a text summary', async () => {
    await using server = await startCliServer(['slow-server', '--port', '0', '--delay', '20ms', '--census-interval', '0']);
    const result = await runCli(['http-client', '--mode', 'fixed', '--url', `http://${server.host}:${server.port}/`, '--interval', '30ms', '--requests', '4', '--quiet']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/requests\s+4\/4 completed/);
    expect(result.stdout).toMatch(/after close 0/);
    expect(result.stderr).toBe('');
    expect(await server.stop('SIGTERM')).toBe(0);
  }, PROCESSES);

  it('HTTP-KA-042 rejects bad flags with one line naming the flag and exit status 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['http-client', '--mode', 'sloppy'], /--mode.*faulty, fixed/],
      [['http-client', '--mode', 'fixed', '--leak', 'unconsumed-body'], /--leak applies to --mode faulty only/],
      [['slow-server', '--delay', 'soon'], /--delay/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args);
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr.split('\n')[0], args.join(' ')).toMatch(message);
    }
  }, PROCESSES);
});
