// connlab's public API: re-exports only. Each part lives in its own folder under lib/.
export type { ServerHandle, ErrorCounts } from './net/types.ts';
export { serve, listenOn, trackConnections, makeHandle, type ListenOptions } from './net/listen.ts';
export { LineSplitter, type LineEvent } from './net/lines.ts';
export { parseDuration, parseSize, parseHostPort, parsePort, formatHostPort, formatDuration, formatSize } from './net/units.ts';
export { errorCode, limitHint, ErrorTally } from './net/errors.ts';
export { readSocketTable, socketInodes, socketCensus, type SocketEntry, type TcpState, type CensusQuery } from './net/socket-table.ts';
export { parseShard, shareOf, type Shard } from './net/shard.ts';
export { fileDescriptorLimit, openFileDescriptors } from './net/fd-limit.ts';

export { startAckServer, type AckServer, type AckServerOptions, type AckServerStats, type Framing } from './tcp/ack-server.ts';
export { runLoad, LoadRun, type LoadOptions, type LoadResult, type LoadProgress } from './load/load-client.ts';
export { renderLoadResult } from './load/report.ts';
export { runHttpBurst, type HttpBurstOptions, type HttpBurstResult } from './load/http-burst.ts';

export { startPoolServer, type PoolServer, type PoolOptions, type PoolStats, type PoolHandler } from './tcp/pool.ts';
export { startHelloServer, type HelloServer, type HelloServerOptions, type HelloServerStats } from './tcp/hello-server.ts';
export { startPrimeServer, isPrime, type PrimeServer, type PrimeServerOptions, type PrimeServerStats } from './tcp/prime-server.ts';
export { Journal, readJournal, parseJournal, type JournalRecord, type JournalReading } from './tcp/journal.ts';
export { askPrime, runPrimeLoad, type PrimeLoadOptions, type PrimeLoadResult } from './tcp/prime-client.ts';

export { runCapacity, createTester, workersFor, WorkerPoolRun, type Tester } from './capacity/workers.ts';
export { CapacityRun } from './capacity/capacity-run.ts';
export { parseSourceRange, type CapacityOptions, type CapacityEvent } from './capacity/options.ts';
export type { CapacityResult, CapacityProgress, SeriesPoint } from './capacity/result.ts';
export { mergeCapacityResults, mergeLoadResults, mergeSeries } from './capacity/merge.ts';
export { renderCapacityResult, renderCapacityProgress } from './capacity/report.ts';
export { readOsLimits, limitsHit, countTimeWait, type OsLimits, type LimitHit } from './capacity/limits.ts';

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
export { createKeepAliveClient, type KeepAliveClient, type KeepAliveClientOptions, type ClientMode, type Leak } from './http-keepalive/clients.ts';
export { runHttpClient, HttpClientRun, type HttpClientRunOptions, type HttpClientResult, type SocketSample } from './http-keepalive/run.ts';

export { LatencyRecorder, percentileCurve, latencyBuckets, type LatencySummary } from './report/latency.ts';
export { renderReport, type LabResults } from './report/html.ts';
