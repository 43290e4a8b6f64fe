// The scenarios `connlab demo` runs, each showing one phenomenon of the lab on loopback with free
// ports, and each filling its section of the results document the report draws.
import { startAckServer } from '../tcp/ack-server.ts';
import { startBalancer } from '../balancer/index.ts';
import { runLoad } from '../load/load-client.ts';
import { startHelloServer } from '../tcp/hello-server.ts';
import { runHttpBurst } from '../load/http-burst.ts';
import { startSlowServer } from '../http-keepalive/slow-server.ts';
import { runHttpClient } from '../http-keepalive/run.ts';
import { runCapacity } from '../capacity/workers.ts';
import { renderPairs } from '../report/table.ts';
import { renderCapacityResult, renderHttpClientResult, renderLoadResult } from '../report/text.ts';
import type { BoundedSection, CapacitySection, KeepAliveSection, LabResults, OverloadSection } from '../results/lab.ts';

export interface ScenarioOutcome {
  /** Text for the terminal. */
  summary: string;
  /** Whether the phenomenon showed as expected. */
  ok: boolean;
}

export interface Scenario {
  name: string;
  run(results: LabResults): Promise<ScenarioOutcome>;
}

export interface DemoScale {
  /** Smaller and faster (tests, a first look). */
  quick: boolean;
  clients: number;
}

export function overloadScenario(scale: DemoScale): Scenario {
  return {
    name: 'overload topology: staggered clients through the balancer to two ack servers',
    async run(results) {
      await using a = await startAckServer({ port: 0 });
      await using b = await startAckServer({ port: 0 });
      await using balancer = await startBalancer({
        port: 0,
        backends: [
          { name: 'ack-a', host: a.host, port: a.port },
          { name: 'ack-b', host: b.host, port: b.port },
        ],
      });
      const load = await runLoad({ host: balancer.host, port: balancer.port, clients: scale.clients, staggerMs: 20 });
      const routed = balancer.stats().backends;
      const section: OverloadSection = {
        description:
          `${scale.clients} clients started 20 ms apart connect to the round-robin balancer in front of two ack servers; ` +
          'each sends one line and checks its ack.',
        load,
        backends: [a, b].map((server, i) => ({
          name: routed[i].name,
          address: routed[i].address,
          connections: routed[i].total,
          acks: server.stats().acks,
        })),
      };
      results.overload = section;
      const split = section.backends.map((backend) => `${backend.name} ${backend.connections} connections, ${backend.acks} acks`).join('; ');
      const even = Math.abs(section.backends[0].connections - section.backends[1].connections) <= 1;
      return { summary: `== overload: ${section.description}\n${renderLoadResult(load)}\nper backend: ${split}`, ok: load.ok && even };
    },
  };
}

export function boundedScenario(scale: DemoScale): Scenario {
  const config = { workers: 10, queue: 10, workMs: scale.quick ? 200 : 500, deadlineMs: scale.quick ? 1500 : 3000 };
  const requests = 40;
  const silentClients = 2;
  return {
    name: 'bounded server under a burst bigger than its workers plus queue',
    async run(results) {
      await using server = await startHelloServer({ port: 0, workers: config.workers, queue: config.queue, workMs: config.workMs, deadlineMs: config.deadlineMs });
      const burst = await runHttpBurst({ host: server.host, port: server.port, requests, silentClients, timeoutMs: config.deadlineMs * 4 });
      const stats = server.stats();
      const section: BoundedSection = {
        description:
          `hello-server with ${config.workers} workers, a queue of ${config.queue}, ${config.workMs} ms of work and a ${config.deadlineMs} ms deadline; ` +
          `${silentClients} clients connect and send nothing, then ${requests} requests arrive at once.`,
        config,
        burst,
        server: {
          peakActive: stats.peakActive,
          peakQueued: stats.peakQueued,
          completed: stats.completed,
          rejected: stats.rejected,
          timedOut: stats.timedOut,
          accepted: stats.accepted,
        },
      };
      results.bounded = section;
      const ok = stats.peakActive <= config.workers && stats.peakQueued <= config.queue && (burst.statuses['503'] ?? 0) > 0 && burst.failed === 0;
      const summary = renderPairs([
        ['responses', Object.entries(burst.statuses).map(([status, n]) => `${n} x ${status}`).join(', ')],
        ['silent clients', Object.entries(burst.silentStatuses).map(([status, n]) => `${n} x ${status}`).join(', ') || 'no reply'],
        ['server gauges', `peak ${stats.peakActive} active (limit ${config.workers}), peak ${stats.peakQueued} queued (limit ${config.queue}), ${stats.rejected} rejected, ${stats.timedOut} timed out`],
        ['latency', `p50 ${burst.latency.p50} ms, p99 ${burst.latency.p99} ms, max ${burst.latency.max} ms`],
      ]);
      return { summary: `== bounded: ${section.description}\n${summary}`, ok };
    },
  };
}

export function keepAliveScenario(scale: DemoScale): Scenario {
  // As in the prior art (20 s delay, a request every 20 s), requests mostly do not overlap, except
  // the random extras: a socket per request is pure leak, not needed concurrency.
  const delayMs = scale.quick ? 100 : 300;
  const intervalMs = scale.quick ? 150 : 400;
  const requests = scale.quick ? 10 : 24;
  return {
    name: 'faulty against fixed HTTP clients on the slow server',
    async run(results) {
      // One server each, so the two clients' sockets are told apart by the server's port.
      await using faultyServer = await startSlowServer({ port: 0, delayMs, keepAliveTimeoutMs: 120_000 });
      await using fixedServer = await startSlowServer({ port: 0, delayMs, keepAliveTimeoutMs: 120_000 });
      const common = { intervalMs, extraProbability: 0.5, requests, sampleIntervalMs: Math.max(20, Math.round(intervalMs / 4)) };
      const [faulty, fixed] = await Promise.all([
        runHttpClient({ ...common, mode: 'faulty', url: `http://${faultyServer.host}:${faultyServer.port}/`, serverOpen: () => faultyServer.stats().open }),
        runHttpClient({ ...common, mode: 'fixed', url: `http://${fixedServer.host}:${fixedServer.port}/`, serverOpen: () => fixedServer.stats().open }),
      ]);
      const section: KeepAliveSection = {
        description:
          `The slow server answers after ${delayMs} ms and keeps idle connections for 120 s. Each client sends a request every ${intervalMs} ms ` +
          `(and, half the time, an extra one), ${requests} in all. The faulty client makes a new dispatcher per request and never closes it; ` +
          'the fixed one shares one pool capped at 2 connections per origin.',
        faulty,
        fixed,
      };
      results.keepalive = section;
      const ok = faulty.sockets.peak > fixed.sockets.peak && fixed.sockets.peak <= 2 && faulty.ok && fixed.ok;
      return {
        summary: `== keep-alive: ${section.description}\n-- faulty\n${renderHttpClientResult(faulty)}\n-- fixed\n${renderHttpClientResult(fixed)}`,
        ok,
      };
    },
  };
}

export function capacityScenario(scale: DemoScale): Scenario {
  const ceiling = scale.quick ? 60 : 200;
  const attempt = ceiling * 2;
  return {
    name: 'the capacity tester ramping against a server with a known ceiling',
    async run(results) {
      // The ack server's connection limit is the ceiling: past it, it answers with an error and closes.
      await using server = await startAckServer({ port: 0, maxConnections: ceiling });
      const capacity = await runCapacity({
        host: server.host,
        port: server.port,
        connections: attempt,
        ramp: true,
        rampStep: scale.quick ? 10 : 20,
        delayMs: scale.quick ? 20 : 50,
        rampSettleMs: 200,
        holdMs: 0,
        close: 'reset',
      });
      const section: CapacitySection = {
        description:
          `connlab capacity --ramp adds connections in steps against an ack server that holds at most ${ceiling} ` +
          `(it answers the next one with an error and closes it), trying up to ${attempt}.`,
        knownCeiling: ceiling,
        capacity,
      };
      results.capacity = section;
      const found = capacity.ramp?.ceiling;
      return {
        summary: `== capacity: ${section.description}\n${renderCapacityResult(capacity)}`,
        ok: found === ceiling,
      };
    },
  };
}
