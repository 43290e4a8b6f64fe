// connlab's public API: re-exports only. Each part lives in its own folder under lib/; the layers are
// net (the floor), results (the documents every part writes), the parts, report (documents to text
// and HTML), and cli.
export type { ServerHandle, ErrorCounts } from './net/types.ts';
export { ServerBase } from './net/server.ts';
export { serve, listenOn, trackConnections, makeHandle, type ListenOptions } from './net/listen.ts';
export { listenConns, dial, resolveHost, DEFAULT_TRANSPORT, type Conn, type ConnEvents, type ConnListener, type Transport, type ReadBuffer } from './net/conn.ts';
export { LineSplitter, type LineEvent } from './net/lines.ts';
export { parseDuration, parseSize, parseHostPort, parsePort, formatHostPort, formatDuration, formatSize } from './net/units.ts';
export { OptionError } from './net/options.ts';
export { errorCode, limitHint } from './net/errors.ts';
export { probe } from './net/probe.ts';
export { readSocketTable, socketInodes, socketCensus, type SocketEntry, type TcpState, type CensusQuery } from './net/socket-table.ts';
export { parseShard, shareOf, type Shard } from './net/shard.ts';
export { fileDescriptorLimit, openFileDescriptors } from './net/fd-limit.ts';

export { ErrorTally } from './results/tally.ts';
export { LatencyRecorder, percentileCurve, latencyBuckets, type LatencySummary } from './results/latency.ts';
export { LOAD_KIND, isLoadResult, mergeLoadResults, type LoadResult } from './results/load.ts';
export { CAPACITY_KIND, isCapacityResult, mergeCapacityResults, mergeSeries, type CapacityResult, type CapacityProgress, type SeriesPoint, type OsLimits, type LimitHit } from './results/capacity.ts';
export { HTTP_CLIENT_KIND, isHttpClientResult, type HttpClientResult, type SocketSample, type ClientMode, type Leak } from './results/http-client.ts';
export { LAB_KIND, labFromResults, type LabResults } from './results/lab.ts';
export { RESULT_KINDS, readResult, resultProblems, mergeResults, type AnyResult } from './results/index.ts';

export { startAckServer, type AckServer, type AckServerOptions, type AckServerStats } from './tcp/ack-server.ts';
export { type Framing } from './tcp/ack-protocol.ts';
export { runLoad, LoadRun, type LoadProgress } from './load/load-client.ts';
export { LOAD_DEFAULTS, validateLoadOptions, type LoadOptions } from './load/options.ts';
export { runHttpBurst, type HttpBurstOptions, type HttpBurstResult } from './load/http-burst.ts';

export { startPoolServer, type PoolServer, type PoolOptions, type PoolStats, type PoolHandler, type PoolConnection } from './tcp/pool.ts';
export { startHelloServer, type HelloServer, type HelloServerOptions, type HelloServerStats } from './tcp/hello-server.ts';
export { startPrimeServer, isPrime, type PrimeServer, type PrimeServerOptions, type PrimeServerStats } from './tcp/prime-server.ts';
export { Journal, readJournal, parseJournal, type JournalRecord, type JournalReading } from './tcp/journal.ts';
export { askPrime, runPrimeLoad, type PrimeLoadOptions, type PrimeLoadResult } from './tcp/prime-client.ts';

export { runCapacity, createTester, workersFor, WorkerPoolRun, type Tester } from './capacity/workers.ts';
export { CapacityRun } from './capacity/capacity-run.ts';
export { CAPACITY_DEFAULTS, parseSourceRange, type CapacityOptions, type CapacityEvent } from './capacity/options.ts';
export { readOsLimits, limitsHit, countTimeWait, timeWaitBaseline, type TimeWaitBaseline } from './capacity/limits.ts';

export {
  startBalancer,
  parseBackend,
  renderPrometheus,
  type Balancer,
  type BalancerStats,
  type BalancerOptions,
  type BackendSpec,
  type BackendStats,
  type HealthCheckOptions,
  type Strategy,
  type TransportKind,
} from './balancer/index.ts';

export { startSlowServer, type SlowServer, type SlowServerOptions, type SlowServerStats } from './http-keepalive/slow-server.ts';
export { createKeepAliveClient, type KeepAliveClient, type KeepAliveClientOptions } from './http-keepalive/clients.ts';
export { runHttpClient, HttpClientRun, type HttpClientRunOptions } from './http-keepalive/run.ts';

export { renderReport } from './report/html.ts';
export { renderResult, renderLoadResult, renderCapacityResult, renderHttpClientResult } from './report/text.ts';
