// Starts the slow HTTP server under test: lib/'s own on a free loopback port, or the external target
// named by CONNLAB_TARGET_HTTP (a server that answers GET / slowly with keep-alive, e.g.
// `connlab slow-server --port 8080 --delay 200ms`). An external target has no gauges to read.
import { startSlowServer, type SlowServerCensus, type SlowServerOptions, type SlowServerStats } from '../../lib/http-keepalive/slow-server.ts';
import { externalTarget } from './targets.ts';
import { formatHostPort } from '../../lib/net/units.ts';

export interface SlowTarget {
  host: string;
  port: number;
  url: string;
  stats?: () => SlowServerStats;
  census?: () => Promise<SlowServerCensus>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startSlowTarget(options: SlowServerOptions = {}): Promise<SlowTarget> {
  const external = externalTarget('http');
  if (external) {
    const noop = async (): Promise<void> => {};
    return { ...external, url: `http://${formatHostPort(external.host, external.port)}/`, close: noop, [Symbol.asyncDispose]: noop };
  }
  const server = await startSlowServer({ port: 0, ...options });
  return {
    host: server.host,
    port: server.port,
    url: `http://${formatHostPort(server.host, server.port)}/`,
    stats: server.stats,
    census: server.census,
    close: () => server.close(),
    [Symbol.asyncDispose]: () => server.close(),
  };
}
