// Thresholds make a run a gate, k6-style: `--threshold 'ack.p99<20ms'` on load, capacity, http-client and
// merge names a metric of the run's result, an operator and a value in the metric's unit. Each is printed
// with its measured value and passed or FAILED, carried in the JSON as `thresholds: [{ expr, value, ok }]`,
// and one that fails makes the run exit 1. A sharded run is judged on its exactly merged histograms. A bad
// expression is a usage error (exit 2) that names it and the metrics it could have meant.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDelayedAckServer } from '../../fixtures/servers.ts';
import { createAcceptKServer } from '../../fixtures/capacity-servers.ts';
import { startSlowServer } from '../../lib/http-keepalive/slow-server.ts';
import { LatencyRecorder } from '../../lib/results/latency.ts';
import { LOAD_KIND, type LoadResult } from '../../lib/results/load.ts';
import { METRICS, judgeThresholds, parseThreshold } from '../../lib/results/thresholds.ts';
import { resultProblems } from '../../lib/results/index.ts';
import { runCli } from '../_harness/cli.ts';
import { tempDir } from '../_harness/files.ts';
import { scaled } from '../_harness/time.ts';

/** A load result with an ack histogram of `samples` (ms) and the given errors, as a shard would write it. */
function loadDocument(samples: number[], errors: Record<string, number> = {}): LoadResult {
  const ack = new LatencyRecorder();
  for (const ms of samples) ack.record(ms);
  const connect = new LatencyRecorder();
  connect.record(1);
  return {
    kind: LOAD_KIND,
    target: '127.0.0.1:5000',
    transport: 'libuv',
    clients: { attempted: 1, connected: 1, failed: 0 },
    messages: { planned: samples.length, sent: samples.length, acked: samples.length, mismatched: 0, missing: 0, extra: 0 },
    errors,
    errorSamples: [],
    latency: { connect: connect.summary(), ack: ack.summary() },
    durationMs: 1000,
    acksPerSecond: samples.length,
    stopped: false,
    ok: true,
  };
}

const judge = (expr: string, document: LoadResult): boolean => judgeThresholds([parseThreshold(expr, LOAD_KIND)], document)[0].ok;

describe('thresholds', () => {
  it('THRESH-001 each operator compares the measured value with the bound: < <= > >= == !=', () => {
    const document = loadDocument([10, 10, 10, 10], { ECONNRESET: 2 });
    const cases: Array<[string, boolean]> = [
      ['ack.p50<10ms', false], ['ack.p50<10.1ms', true], ['ack.p50<=10ms', true], ['ack.p50<=9.9ms', false],
      ['ack.p50>10ms', false], ['ack.p50>9.9ms', true], ['ack.p50>=10ms', true], ['ack.p50>=10.1ms', false],
      ['errors==2', true], ['errors==0', false], ['errors!=0', true], ['errors!=2', false],
      ['errors.ECONNRESET<3', true], ['errors.ECONNRESET<2', false], ['errors.ETIMEDOUT==0', true],
      ['ack.count==4', true], ['acksPerSecond>=4', true], ['messages.acked>4', false],
    ];
    for (const [expr, expected] of cases) expect(judge(expr, document), expr).toBe(expected);
  });

  it('THRESH-002 durations take ms, s and m (a bare number is ms, fractions kept), sizes B, KiB and MiB, and counts no unit', () => {
    const document = loadDocument([1500]);
    expect(judge('ack.max<=1.5s', document)).toBe(true);
    expect(judge('ack.max<1.4s', document)).toBe(false);
    expect(judge('ack.max<1501', document)).toBe(true);
    expect(judge('ack.max<0.1m', document)).toBe(true);
    expect(judgeThresholds([parseThreshold('ack.p50<0.5ms', LOAD_KIND)], loadDocument([0.4]))[0].ok).toBe(true);
    expect(parseThreshold('memory.perConnection<=1KiB', 'connlab/capacity@1').bound).toBe(1024);
    expect(parseThreshold('memory.perConnection<2MiB', 'connlab/capacity@1').bound).toBe(2 * 1024 * 1024);
    expect(() => parseThreshold('held>=10ms', 'connlab/capacity@1')).toThrow(/held is a plain number, with no unit/);
    expect(() => parseThreshold('ack.p99<20KiB', LOAD_KIND)).toThrow(/ack.p99 is a duration: write ms, s or m/);
    expect(() => parseThreshold('memory.perConnection<1s', 'connlab/capacity@1')).toThrow(/is a size: write B, KiB or MiB/);
  });

  it('THRESH-003 a load run against a server that answers after 60 ms fails a threshold below that and passes one above, in the exit status and the JSON', async () => {
    await using server = await createDelayedAckServer(scaled(60));
    const base = ['load', '--host', '127.0.0.1', '--port', String(server.port), '--clients', '3', '--stagger', '0', '--messages', '2', '--json', '--quiet'];
    const below = await runCli([...base, '--threshold', `ack.p50<${scaled(40)}ms`, '--threshold', 'errors==0']);
    expect(below.exitCode, below.stderr).toBe(1);
    const failed = JSON.parse(below.stdout) as LoadResult;
    expect(failed.ok).toBe(true); // the run itself completed: only the threshold failed
    expect(failed.thresholds).toEqual([
      { expr: `ack.p50<${scaled(40)}ms`, value: expect.any(Number), ok: false },
      { expr: 'errors==0', value: 0, ok: true },
    ]);
    expect(failed.thresholds![0].value).toBeGreaterThanOrEqual(scaled(60));
    expect(resultProblems(failed)).toEqual([]);
    const above = await runCli([...base, '--threshold', `ack.p50<${scaled(2000)}ms`, '--threshold', `ack.p50>=${scaled(60)}ms`]);
    expect(above.exitCode, above.stderr).toBe(0);
    expect((JSON.parse(above.stdout) as LoadResult).thresholds!.map((t) => t.ok)).toEqual([true, true]);
  });

  it('THRESH-004 a capacity ramp against a server that keeps 12 connections fails held>= above 12 and passes ramp.ceiling>=12, printing each with its value', async () => {
    // A server each: the fixture keeps the first 12 connections it ever accepts.
    await using server = await createAcceptKServer(12);
    await using again = await createAcceptKServer(12);
    const args = (port: number): string[] => ['capacity', '--host', '127.0.0.1', '--port', String(port), '--connections', '30', '--ramp', '--ramp-step', '3', '--delay', '20ms', '--ramp-settle', '200ms', '--close', 'reset', '--quiet'];
    const run = await runCli([...args(server.port), '--threshold', 'held>=13', '--threshold', 'ramp.ceiling>=12']);
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/threshold\s+held>=13\s+12\s+FAILED/);
    expect(run.stdout).toMatch(/threshold\s+ramp.ceiling>=12\s+12\s+passed/);
    const passing = await runCli([...args(again.port), '--threshold', 'ramp.ceiling>=12', '--threshold', 'held<=12']);
    expect(passing.exitCode, passing.stdout).toBe(0);
  });

  it('THRESH-005 `connlab merge --threshold` judges the merged histogram, not any one shard\'s nor their average', async () => {
    await using dir = await tempDir('connlab-thresholds-');
    // Shard a: 1,000 acks at 10 ms; shard b: 10 acks at 100 ms. Merged p99 is 10 ms; b's alone is 100, their mean 55.
    await writeFile(dir.file('a.json'), JSON.stringify(loadDocument(Array(1000).fill(10))));
    await writeFile(dir.file('b.json'), JSON.stringify(loadDocument(Array(10).fill(100))));
    const b = await runCli(['merge', dir.file('b.json'), '--threshold', 'ack.p99<20ms']);
    expect(b.exitCode).toBe(1);
    const merged = await runCli(['merge', dir.file('a.json'), dir.file('b.json'), '--threshold', 'ack.p99<20ms', '--threshold', 'ack.max>=100ms']);
    expect(merged.exitCode, merged.stderr).toBe(0);
    const document = JSON.parse(merged.stdout) as LoadResult;
    expect(document.thresholds).toEqual([
      { expr: 'ack.p99<20ms', value: document.latency.ack.p99, ok: true },
      { expr: 'ack.max>=100ms', value: document.latency.ack.max, ok: true },
    ]);
    expect(document.latency.ack.count).toBe(1010);
    expect(merged.stderr).toMatch(/threshold\s+ack.p99<20ms\s+10(\.\d+)?ms\s+passed/);
  });

  it('THRESH-006 an http-client run is gated on its sockets: the fixed client passes sockets.peak<=2, the faulty one fails it', async () => {
    await using server = await startSlowServer({ delayMs: 5 });
    const base = ['http-client', '--url', `http://${server.host}:${server.port}/`, '--interval', '10ms', '--extra-probability', '0', '--requests', '4', '--quiet', '--json', '--threshold', 'sockets.peak<=2'];
    const fixed = await runCli([...base, '--mode', 'fixed']);
    expect(fixed.exitCode, fixed.stderr).toBe(0);
    const faulty = await runCli([...base, '--mode', 'faulty']);
    expect(faulty.exitCode).toBe(1);
    expect(JSON.parse(faulty.stdout).thresholds[0]).toMatchObject({ expr: 'sockets.peak<=2', ok: false });
  });

  it('THRESH-007 a malformed expression, an unknown metric or a unit that does not fit exits 2 before the run, naming the expression and the metrics it could mean', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['load', '--port', '1', '--threshold', 'ack.p99<<20ms'], /threshold "ack.p99<<20ms" is not METRIC OPERATOR VALUE/],
      [['load', '--port', '1', '--threshold', 'ack.p98<20ms'], /threshold "ack.p98<20ms": no metric ack.p98 in a load result; did you mean (ack.p\d+, )+.*\(all of them: connlab load --help\)/],
      [['capacity', '--port', '1', '--threshold', 'held>=10ms'], /threshold "held>=10ms": held is a plain number/],
      [['http-client', '--mode', 'fixed', '--url', 'http://127.0.0.1:1/', '--threshold', 'held>=1'], /no metric held in an? http-client result; did you mean .*\(all of them: connlab http-client --help\)/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect(run.exitCode, args.join(' ')).toBe(2);
      expect(run.stderr.split('\n')[0], args.join(' ')).toMatch(message);
      expect(run.stdout, args.join(' ')).toBe('');
    }
  });
});

describe('thresholds: documentation', () => {
  it('THRESH-008 the README\'s table names every metric a threshold can use, for every command', async () => {
    const readme = await readFile(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Thresholds'), readme.indexOf('## Result documents'));
    for (const [kind, metrics] of Object.entries(METRICS)) {
      for (const metric of metrics) {
        const latency = /^(.+)\.(p50|p90|p99|p999|max|mean)$/.exec(metric.name);
        const written = latency ? (latency[2] === 'p50' ? `\`${metric.name}\`` : `\`.${latency[2]}\``) : `\`${metric.name}\``;
        expect(table, `${kind}: ${metric.name}`).toContain(written);
      }
    }
  });
});
