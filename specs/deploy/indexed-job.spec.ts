// The sharded tools run beyond one machine as Kubernetes Indexed Jobs (deploy/*-indexed-job.yaml):
// every pod runs the manifest's command line with its own JOB_COMPLETION_INDEX, takes an exact share,
// and `connlab merge` adds the pods' results. These specs play each Job on this machine: the command
// line read from the manifest, N processes with JOB_COMPLETION_INDEX 0..N-1 (the target switched to a
// local server, sizes scaled down), their JSON merged, and the totals and histograms compared with one
// process doing the same work.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { startAckServer } from '../../lib/tcp/ack-server.ts';
import type { CapacityResult } from '../../lib/results/capacity.ts';
import type { LoadResult } from '../../lib/results/load.ts';
import { LatencyRecorder } from '../../lib/results/latency.ts';
import { resultProblems } from '../../lib/results/index.ts';
import { BIN, runCli } from '../_harness/cli.ts';
import { tempDir } from '../_harness/files.ts';
import { scaled } from '../_harness/time.ts';

const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');

interface Job {
  completions: number;
  env: Record<string, string>;
  args: string[];
}

/** The Job's pod count, its container's environment and command line. */
async function readJob(file: string): Promise<Job> {
  const manifest = parse(await readFile(path.join(DEPLOY, file), 'utf8'));
  const container = manifest.spec.template.spec.containers[0];
  const env = Object.fromEntries((container.env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]));
  return { completions: manifest.spec.completions, env, args: container.args.map(String) };
}

/** The command line as a pod runs it: `$(VAR)` from the environment, and some flags replaced. */
function commandLine(job: Job, env: Record<string, string>, replace: Record<string, string>): string[] {
  return job.args.map((arg) => {
    const expanded = arg.replace(/\$\((\w+)\)/g, (_, name: string) => env[name] ?? job.env[name]);
    const flag = /^(--[\w-]+)=/.exec(expanded)?.[1];
    return flag && replace[flag] !== undefined ? `${flag}=${replace[flag]}` : expanded;
  });
}

/** Runs one process per pod, each with its JOB_COMPLETION_INDEX; resolves with their --json documents. */
async function playJob<T>(job: Job, args: string[]): Promise<T[]> {
  const pods = Array.from({ length: job.completions }, (_, index) =>
    execa('node', [BIN, ...args], { env: { JOB_COMPLETION_INDEX: String(index) }, reject: false, timeout: scaled(30_000) }),
  );
  const done = await Promise.all(pods);
  for (const [index, pod] of done.entries()) expect(pod.exitCode, `pod ${index}: ${pod.stderr}`).toBe(0);
  return done.map((pod) => JSON.parse(String(pod.stdout)) as T);
}

/** The manifest's args, run once without sharding: the same work in one process. */
const unsharded = (args: string[]): string[] => args.filter((arg) => !arg.startsWith('--shards'));

/** `connlab merge` of the pods' documents, as the manifest's instructions say. */
async function merge<T>(documents: unknown[]): Promise<T> {
  await using dir = await tempDir('connlab-job-');
  const files = await Promise.all(
    documents.map(async (document, i) => {
      const file = dir.file(`shard-${i}.json`);
      await writeFile(file, JSON.stringify(document));
      return file;
    }),
  );
  const run = await runCli(['merge', ...files]);
  expect(run.exitCode, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
}

describe('deploy: Kubernetes Indexed Jobs, played on one machine', () => {
  it('DEPLOY-001 the capacity Job\'s pods open exact shares that merge into the totals and connect-time histogram of one process', async () => {
    await using server = await startAckServer();
    const job = await readJob('capacity-indexed-job.yaml');
    expect(job.args[0]).toBe('capacity');
    expect(job.args).toContain(`--shards=${job.completions}`);
    const args = commandLine(job, { TARGET_HOST: server.host, TARGET_PORT: String(server.port) }, { '--connections': '42', '--hold': '100ms' });
    const pods = await playJob<CapacityResult>(job, args);
    expect(pods.map((p) => p.shard)).toEqual(pods.map((_, index) => ({ index, count: job.completions })));
    const merged = await merge<CapacityResult>(pods);
    expect(resultProblems(merged)).toEqual([]);
    const [one] = await playJob<CapacityResult>({ ...job, completions: 1 }, unsharded(args));
    for (const key of ['planned', 'attempted', 'established', 'held', 'failed'] as const) expect(merged.connections[key], key).toBe(one.connections[key]);
    expect(merged.connections.held).toBe(42);
    expect(merged.shards).toBe(job.completions);
    // The merged histogram is the pods' histograms added: every connection in it once, percentiles read from all of them.
    expect(merged.connectLatency.count).toBe(one.connectLatency.count);
    expect(merged.connectLatency).toEqual(LatencyRecorder.merge(pods.map((p) => p.connectLatency)));
  });

  it('DEPLOY-002 the load Job\'s pods run exact shares of the clients that merge into the totals and ack histogram of one process', async () => {
    await using server = await startAckServer();
    const job = await readJob('load-indexed-job.yaml');
    expect(job.args[0]).toBe('load');
    expect(job.args).toContain(`--shards=${job.completions}`);
    const args = commandLine(job, { TARGET_HOST: server.host, TARGET_PORT: String(server.port) }, { '--clients': '10', '--messages': '7', '--stagger': '0ms' });
    const pods = await playJob<LoadResult>(job, args);
    const merged = await merge<LoadResult>(pods);
    expect(resultProblems(merged)).toEqual([]);
    const [one] = await playJob<LoadResult>({ ...job, completions: 1 }, unsharded(args));
    expect(merged.clients).toEqual(one.clients);
    expect(merged.messages).toEqual(one.messages);
    expect(merged.messages).toMatchObject({ sent: 70, acked: 70, mismatched: 0, missing: 0 });
    expect(merged.latency.ack.count).toBe(one.latency.ack.count);
    expect(merged.latency.ack).toEqual(LatencyRecorder.merge(pods.map((p) => p.latency.ack)));
  });
});
