// `connlab report` draws the report from any saved result, not only the demo's: the --json output of
// the load client, the capacity tester and the HTTP clients each land in their section, with charts
// that have data and figures taken from the files.
import { describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runLoad } from '../../lib/load/load-client.ts';
import { runCapacity } from '../../lib/capacity/workers.ts';
import { runHttpClient } from '../../lib/http-keepalive/run.ts';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { startSlowServer } from '../../lib/http-keepalive/slow-server.ts';
import { runCli } from '../_harness/cli.ts';
import { tempDir } from '../_harness/files.ts';
import { judgeThresholds, parseThreshold } from '../../lib/results/thresholds.ts';

/** The data-points of each chart in a page, by chart id. */
function chartPoints(html: string): Record<string, number> {
  return Object.fromEntries([...html.matchAll(/data-chart="([^"]+)" data-points="(\d+)"/g)].map((m) => [m[1], Number(m[2])]));
}

describe('report command', () => {
  it('REPORT-002 draws load, capacity and http-client --json results into one page, each chart with data', async () => {
    await using dir = await tempDir('connlab-report-');
    await using ack = await startAckServer({ maxConnections: 8 });
    await using slow = await startSlowServer({ delayMs: 5 });
    const load = await runLoad({ host: ack.host, port: ack.port, clients: 4, staggerMs: 0 });
    const capacity = await runCapacity({ host: ack.host, port: ack.port, connections: 16, ramp: true, rampStep: 4, delayMs: 10, rampSettleMs: 50, close: 'reset' });
    const faulty = await runHttpClient({ mode: 'faulty', url: `http://${slow.host}:${slow.port}/`, intervalMs: 10, extraProbability: 0, requests: 3 });
    const files = { load, capacity, faulty };
    for (const [name, result] of Object.entries(files)) await writeFile(path.join(dir.path, `${name}.json`), JSON.stringify(result));

    const out = path.join(dir.path, 'index.html');
    const run = await runCli(['report', ...Object.keys(files).map((name) => path.join(dir.path, `${name}.json`)), '--out', out]);
    expect(run.exitCode, run.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    const points = chartPoints(html);
    expect(points['overload-percentiles']).toBeGreaterThan(0);
    expect(points['capacity-ramp']).toBe(capacity.series.length);
    expect(points['keepalive-sockets']).toBe(faulty.series.length);
    expect(html).toContain(`data-figure="capacity.capacity.ramp.ceiling">${capacity.ramp?.ceiling}<`);
    expect(capacity.ramp?.ceiling).toBe(8);
    expect(html).toContain(`data-figure="overload.load.messages.acked">4<`);
  });

  it('REPORT-003 refuses a file that is not a connlab result with one line and exit status 2', async () => {
    await using dir = await tempDir('connlab-report-');
    const file = path.join(dir.path, 'other.json');
    await writeFile(file, JSON.stringify({ hello: 'world' }));
    const run = await runCli(['report', file, '--out', path.join(dir.path, 'x.html')]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('not a connlab result');
  });

  it('REPORT-004 shows the thresholds a result was judged on beside its charts: each expression, its measured value and passed or FAILED', async () => {
    await using dir = await tempDir('connlab-report-');
    await using ack = await startAckServer();
    const load = await runLoad({ host: ack.host, port: ack.port, clients: 2, staggerMs: 0 });
    const thresholds = judgeThresholds([parseThreshold('ack.p99<10s', load.kind), parseThreshold('acksPerSecond>=1000000', load.kind)], load);
    await writeFile(path.join(dir.path, 'load.json'), JSON.stringify({ ...load, thresholds }));
    const out = path.join(dir.path, 'index.html');
    const run = await runCli(['report', path.join(dir.path, 'load.json'), '--out', out]);
    expect(run.exitCode, run.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toMatch(new RegExp(`<tr class="passed"><th>ack.p99&lt;10s</th><td><span data-figure="overload.load.thresholds.0.value">${load.latency.ack.p99}</span> ms</td><td>passed</td></tr>`));
    expect(html).toMatch(/<tr class="failed"><th>acksPerSecond&gt;=1000000<\/th><td><span data-figure="overload.load.thresholds.1.value">\d+<\/span><\/td><td>FAILED<\/td><\/tr>/);
  });
});
