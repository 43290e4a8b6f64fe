// Result documents whose every number is known, for the specs of merging and of document shapes: each
// field of its kind present (optional ones left to the caller) with a value of the right type.
import { LatencyRecorder, type LatencySummary } from '../../lib/results/latency.ts';
import { CAPACITY_KIND, type CapacityResult } from '../../lib/results/capacity.ts';
import { LOAD_KIND, type LoadResult } from '../../lib/results/load.ts';

/** A latency summary of exactly these samples (ms). */
export function latencyOf(...samples: number[]): LatencySummary {
  const recorder = new LatencyRecorder();
  for (const ms of samples) recorder.record(ms);
  return recorder.summary();
}

export function loadDocument(overrides: Partial<LoadResult> = {}): LoadResult {
  return {
    kind: LOAD_KIND,
    target: '127.0.0.1:5000',
    transport: 'libuv',
    clients: { attempted: 10, connected: 9, failed: 1 },
    messages: { planned: 30, sent: 28, acked: 27, mismatched: 1, missing: 2, extra: 0 },
    errors: { ECONNREFUSED: 1 },
    errorSamples: ['ECONNREFUSED 127.0.0.1:5000'],
    latency: { connect: latencyOf(1, 2), ack: latencyOf(3, 4, 5) },
    durationMs: 1000,
    acksPerSecond: 27,
    stopped: false,
    ok: true,
    ...overrides,
  };
}

export function capacityDocument(overrides: Partial<CapacityResult> = {}): CapacityResult {
  return {
    kind: CAPACITY_KIND,
    target: '127.0.0.1:5000',
    connections: { planned: 10, attempted: 11, established: 9, closedByServer: 1, failed: 2, held: 8, maxConcurrent: 9, notStarted: 0, abandoned: 0 },
    errors: { ETIMEDOUT: 2 },
    errorSamples: ['ETIMEDOUT'],
    connectLatency: latencyOf(1, 2, 3),
    series: [],
    timeWait: 3,
    timeWaitSides: { client: 2, server: 1 },
    limits: { openFiles: { soft: 1024, hard: 20_000 }, ephemeralPorts: { low: 32_768, high: 60_999 }, hit: [] },
    memory: { rssBytes: 1000, grownBytes: 800, perConnectionBytes: 100 },
    opening: { ms: 100, established: 9, perSecond: 90 },
    startedAt: 1_000_000,
    durationMs: 500,
    processes: 1,
    sockets: 'libuv',
    sourceAddresses: 1,
    sourcePortsSkipped: 0,
    warnings: [],
    ok: true,
    ...overrides,
  };
}
