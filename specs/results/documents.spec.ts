// Every result connlab prints is a document with a `kind` (`connlab/load@1`, ...): merge, report and
// anyone's CI tell them apart by it, never by guessing from their shape. Each command's --json output is
// checked here against its kind's shape, the same check `connlab merge` and `connlab report` apply to
// the files they are given, and a document that does not fit is refused with what is wrong and where.
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import { startSlowServer } from '../../lib/http-keepalive/slow-server.ts';
import { resultProblems } from '../../lib/results/index.ts';
import { isLoadResult } from '../../lib/results/load.ts';
import { isCapacityResult } from '../../lib/results/capacity.ts';
import { runCli } from '../_harness/cli.ts';
import { tempDir } from '../_harness/files.ts';
import { scaled } from '../_harness/time.ts';
import { capacityDocument, latencyOf, loadDocument } from '../_harness/documents.ts';

type FieldPath = Array<string | number>;

/** Every field path of a document down to its leaves (`latency.ack.p99`, `errorSamples[0]`), `kind` aside. */
function leafPaths(value: unknown, keys: FieldPath = []): FieldPath[] {
  // A long array is checked at its first, second and last items only (see lib/results/shape.ts).
  const checked = (i: number, length: number): boolean => length <= 20 || i < 2 || i === length - 1;
  if (Array.isArray(value)) return value.flatMap((item, i) => (checked(i, value.length) ? leafPaths(item, [...keys, i]) : []));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => (keys.length === 0 && key === 'kind' ? [] : leafPaths(item, [...keys, key])));
  return [keys];
}

/** `document` with the field at `keys` replaced by `value` (a deep copy; the original is untouched). */
function withField(document: object, keys: FieldPath, value: unknown): unknown {
  const copy = structuredClone(document) as Record<string | number, unknown>;
  let node = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[keys.at(-1)!] = value;
  return copy;
}

/** How a problem names a field: `latency.ack.p99`, `errorSamples[0]`. */
const fieldName = (keys: FieldPath): string => keys.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');

/** Each field of `document` given a value of no type a field has is refused, and the problem names the field. */
function expectEveryFieldChecked(document: object): void {
  expect(resultProblems(document)).toEqual([]);
  for (const keys of leafPaths(document)) {
    const name = fieldName(keys);
    const problems = resultProblems(withField(document, keys, { wrong: true }));
    expect(problems.some((p) => p.startsWith(`${name}: `)), `${name}: ${JSON.stringify(problems)}`).toBe(true);
  }
}

/** Runs a measuring command with --json and returns its document, checked to have parsed. */
async function jsonOf(args: string[]): Promise<Record<string, unknown>> {
  const run = await runCli(args);
  expect(run.exitCode, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('result documents', () => {
  it('RESULT-001 `connlab load --json` prints a connlab/load@1 document that fits its shape, every field of it checked', async () => {
    await using server = await startAckServer();
    const document = await jsonOf(['load', '--host', server.host, '--port', String(server.port), '--clients', '3', '--stagger', '0', '--json']);
    expect(document.kind).toBe('connlab/load@1');
    expectEveryFieldChecked(document);
  });

  it('RESULT-002 `connlab capacity --json` prints a connlab/capacity@1 document that fits its shape, every field of it checked, from one process and from two', async () => {
    await using server = await startAckServer();
    const base = ['capacity', '--host', server.host, '--port', String(server.port), '--connections', '6', '--delay', '0', '--hold', '50ms', '--close', 'reset', '--quiet', '--json'];
    for (const workers of ['1', '2']) {
      const document = await jsonOf([...base, '--workers', workers]);
      expect(document.kind, `--workers ${workers}`).toBe('connlab/capacity@1');
      expectEveryFieldChecked(document);
    }
  });

  it('RESULT-003 `connlab http-client --json` prints a connlab/http-client@1 document that fits its shape, every field of it checked', async () => {
    await using server = await startSlowServer({ delayMs: 5 });
    const url = `http://${server.host}:${server.port}/`;
    const document = await jsonOf(['http-client', '--mode', 'fixed', '--url', url, '--interval', '10ms', '--extra-probability', '0', '--requests', '3', '--quiet', '--json']);
    expect(document.kind).toBe('connlab/http-client@1');
    expectEveryFieldChecked(document);
  });

  it('RESULT-004 `connlab merge` of two load shards prints one connlab/load@1 document with shards 2 that fits its shape', async () => {
    await using server = await startAckServer();
    await using dir = await tempDir('connlab-results-');
    const base = ['load', '--host', server.host, '--port', String(server.port), '--clients', '4', '--stagger', '0', '--json'];
    for (const index of [0, 1]) await writeFile(dir.file(`${index}.json`), JSON.stringify(await jsonOf([...base, '--shard', `${index}/2`])));
    const merged = await jsonOf(['merge', dir.file('0.json'), dir.file('1.json')]);
    expect(merged).toMatchObject({ kind: 'connlab/load@1', shards: 2, clients: { attempted: 4, connected: 4 } });
    expect(resultProblems(merged)).toEqual([]);
  });

  it('RESULT-005 `connlab demo --quick` writes a connlab/lab@1 results.json that fits its shape, every tool result inside it included', async () => {
    await using dir = await tempDir('connlab-results-');
    const demo = await runCli(['demo', '--quick', '--out-dir', dir.path], { timeout: scaled(90_000) });
    expect(demo.exitCode, demo.stderr).toBe(0);
    const lab = JSON.parse(await readFile(dir.file('results.json'), 'utf8')) as Record<string, unknown>;
    expect(lab.kind).toBe('connlab/lab@1');
    expect(Object.keys(lab)).toEqual(expect.arrayContaining(['overload', 'bounded', 'keepalive', 'capacity']));
    expect(resultProblems(lab)).toEqual([]);
  });

  it('RESULT-007 a load or capacity document with any one field of the wrong type is refused, naming that field', () => {
    // The guards lib/index.ts exports say the same: each accepts its own kind only.
    expect([isLoadResult(loadDocument()), isLoadResult(capacityDocument()), isLoadResult({ ...loadDocument(), clients: 'x' })]).toEqual([true, false, false]);
    expect([isCapacityResult(capacityDocument()), isCapacityResult(loadDocument()), isCapacityResult({ ...capacityDocument(), ok: 'x' })]).toEqual([true, false, false]);
    // Each name a field may take is accepted, and only those.
    const capacityWith = (fields: object): boolean => isCapacityResult(capacityDocument(fields));
    expect([capacityWith({ sockets: 'libuv' }), capacityWith({ sockets: 'net' }), capacityWith({ sockets: 'tcp' })]).toEqual([true, true, false]);
    expect([capacityWith({ stoppedBy: 'max-duration' }), capacityWith({ stoppedBy: 'signal' }), capacityWith({ stoppedBy: 'ramp' })]).toEqual([true, true, false]);
    const lastProgress = { planned: 5, notStarted: 0, dialing: 0, open: 5, established: 5, closedByServer: 0, failed: 0, errors: 0, maxConcurrent: 5 };
    const thresholds = [{ expr: 'errors==0', value: 0, ok: true }];
    expectEveryFieldChecked(loadDocument({ shard: { index: 0, count: 2 }, shards: 2, thresholds }));
    expectEveryFieldChecked(
      capacityDocument({
        ramp: { ceiling: 3, reason: 'ECONNREFUSED' },
        series: [{ t: 0, open: 1 }],
        limits: { openFiles: { soft: 1, hard: 2 }, ephemeralPorts: { low: 1, high: 2 }, hit: [{ code: 'EMFILE', count: 1, hint: 'h' }] },
        connectLatency: latencyOf(1),
        thresholds,
        shard: { index: 1, count: 2 },
        shards: 1,
        stoppedBy: 'signal',
        lostWorkers: [{ worker: 1, shard: { index: 1, count: 2 }, exitCode: 1, signal: 'SIGKILL', reason: 'killed', lastProgress }],
      }),
    );
  });

  it('RESULT-006 refuses a document whose fields do not fit its kind, naming the field, and one without a kind', async () => {
    await using server = await startAckServer();
    await using dir = await tempDir('connlab-results-');
    const document = await jsonOf(['load', '--host', server.host, '--port', String(server.port), '--clients', '2', '--stagger', '0', '--json']);
    const broken = { ...document, latency: { ...(document.latency as object), ack: { p99: 'fast' } } };
    await writeFile(dir.file('broken.json'), JSON.stringify(broken));
    await writeFile(dir.file('shapeless.json'), JSON.stringify({ clients: {}, messages: {}, latency: {} }));
    const run = await runCli(['merge', dir.file('broken.json')]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/broken\.json: latency\.ack\.count: expected a number, got undefined/);
    const shapeless = await runCli(['merge', dir.file('shapeless.json')]);
    expect(shapeless.exitCode).toBe(2);
    expect(shapeless.stderr).toMatch(/shapeless\.json: it has no `kind`/);
  });
});
