// The lab document (`connlab demo` writes it to report/results.json): one section per phenomenon, each
// holding the results of the tools that showed it. `connlab report` draws it; a tool's own --json output
// becomes a lab document with one section (labFromResults), so the same page draws either.
import { OptionError } from '../net/options.ts';
import { LAB_KIND } from './kinds.ts';
import type { ErrorCounts } from '../net/types.ts';
import { CAPACITY_KIND, CAPACITY_SHAPE, type CapacityResult } from './capacity.ts';
import { HTTP_CLIENT_KIND, HTTP_CLIENT_SHAPE, type HttpClientResult } from './http-client.ts';
import { LATENCY_SHAPE, type LatencySummary } from './latency.ts';
import { LOAD_KIND, LOAD_SHAPE, type LoadResult } from './load.ts';
import { arrayOf, counts, literal, num, object, optional, str } from './shape.ts';

export { LAB_KIND };

/** A burst of one-shot HTTP requests against a bounded server, and what came back. */
export interface HttpBurstResult {
  requests: number;
  /** Responses by status code, e.g. { "200": 20, "503": 20 }. */
  statuses: Record<string, number>;
  /** Status codes the silent clients got (408 when the server enforces its deadline). */
  silentStatuses: Record<string, number>;
  failed: number;
  errors: ErrorCounts;
  /** From connect to the end of the response, for every request that got one. */
  latency: LatencySummary;
  durationMs: number;
}

export interface OverloadSection {
  description: string;
  load: LoadResult;
  /** Connections each backend received, by name. */
  backends: Array<{ name: string; address: string; connections: number; acks?: number }>;
}

export interface BoundedSection {
  description: string;
  config: { workers: number; queue: number; workMs: number; deadlineMs: number };
  burst: HttpBurstResult;
  server: { peakActive: number; peakQueued: number; completed: number; rejected: number; timedOut: number; accepted: number };
}

export interface KeepAliveSection {
  description: string;
  faulty?: HttpClientResult;
  fixed?: HttpClientResult;
}

export interface CapacitySection {
  description: string;
  /** The ceiling the target was configured with, to compare against what the ramp found (when known). */
  knownCeiling?: number;
  capacity: CapacityResult;
}

/** Every section is optional: a report drawn from one tool's result has only that tool's. */
export interface LabResults {
  kind: typeof LAB_KIND;
  tool: 'connlab';
  generatedAt: string;
  durationMs?: number;
  overload?: OverloadSection;
  bounded?: BoundedSection;
  keepalive?: KeepAliveSection;
  capacity?: CapacitySection;
}

export const LAB_SHAPE = object({
  kind: literal(LAB_KIND),
  generatedAt: str,
  durationMs: optional(num),
  overload: optional(object({ description: str, load: LOAD_SHAPE, backends: arrayOf(object({ name: str, address: str, connections: num })) })),
  bounded: optional(
    object({
      description: str,
      config: object({ workers: num, queue: num, workMs: num, deadlineMs: num }),
      burst: object({ requests: num, statuses: counts, silentStatuses: counts, failed: num, errors: counts, latency: LATENCY_SHAPE, durationMs: num }),
      server: object({ peakActive: num, peakQueued: num, completed: num, rejected: num, timedOut: num, accepted: num }),
    }),
  ),
  keepalive: optional(object({ description: str, faulty: optional(HTTP_CLIENT_SHAPE), fixed: optional(HTTP_CLIENT_SHAPE) })),
  capacity: optional(object({ description: str, knownCeiling: optional(num), capacity: CAPACITY_SHAPE })),
});

export function newLab(): LabResults {
  return { kind: LAB_KIND, tool: 'connlab', generatedAt: new Date().toISOString() };
}

/** The results a report can draw: a lab document, or the --json output of load, capacity or http-client. */
export type Drawable = LabResults | LoadResult | CapacityResult | HttpClientResult;

/**
 * One lab document from saved results: a lab document as it is, or tools' results each put in its
 * section (a faulty and a fixed http-client result share the keep-alive section).
 */
export function labFromResults(documents: Drawable[]): LabResults {
  if (documents.length === 1 && documents[0].kind === LAB_KIND) return documents[0];
  const lab = newLab();
  for (const document of documents) {
    if (document.kind === LAB_KIND) throw new OptionError('FILE', 'a lab document (results.json) is drawn on its own, not together with other results');
    if (document.kind === LOAD_KIND) lab.overload = { description: `Load run against ${document.target}.`, load: document, backends: [] };
    else if (document.kind === CAPACITY_KIND) lab.capacity = { description: `Capacity run against ${document.target}.`, capacity: document };
    else if (document.kind === HTTP_CLIENT_KIND) {
      const keepalive = (lab.keepalive ??= { description: '' });
      keepalive[document.mode] = document;
      keepalive.description = `HTTP client runs against ${document.target}.`;
    } else throw new OptionError('FILE', `a ${(document as { kind: string }).kind} document has no charts to draw (the report draws load, capacity, http-client and demo results)`);
  }
  return lab;
}
