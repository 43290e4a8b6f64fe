// The balancer's optional stats port: `GET /stats` answers the stats as JSON, `GET /metrics` in the
// Prometheus text format (version 0.0.4), so a scraper or `curl` sees the same numbers as stats().
import http from 'node:http';
import { serve } from '../net/listen.ts';
import type { ServerHandle } from '../net/types.ts';
import type { BalancerStats } from './balancer.ts';

export async function startStatsServer(stats: () => BalancerStats, options: { host: string; port: number }): Promise<ServerHandle> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderPrometheus(stats()));
    } else if (path === '/stats' || path === '/') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(stats(), null, 2)}\n`);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('try /stats (JSON) or /metrics (Prometheus)\n');
    }
  });
  server.keepAliveTimeout = 1000;
  return serve(server, options);
}

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** Renders the stats as Prometheus metrics named `connlab_balancer_*`. */
export function renderPrometheus(s: BalancerStats): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[labels: string, value: number]>): void => {
    lines.push(`# HELP connlab_balancer_${name} ${help}`, `# TYPE connlab_balancer_${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`connlab_balancer_${name}${labels ? `{${labels}}` : ''} ${value}`);
  };
  const per = (value: (b: BalancerStats['backends'][number]) => number, extra = ''): Array<[string, number]> =>
    s.backends.map((b) => [`backend="${escapeLabel(b.name)}"${extra}`, value(b)]);
  metric('connections_open', 'gauge', 'Client connections open now.', [['', s.open]]);
  metric('connections_accepted_total', 'counter', 'Client connections accepted.', [['', s.accepted]]);
  metric('connections_rejected_total', 'counter', 'Client connections refused by the connection limit.', [['', s.rejected]]);
  metric('connections_no_backend_total', 'counter', 'Client connections closed because no backend could be reached.', [['', s.noBackend]]);
  metric('idle_timeouts_total', 'counter', 'Connections closed by the idle timeout.', [['', s.idleTimeouts]]);
  metric('client_bytes_total', 'counter', 'Bytes forwarded, by direction as seen from the client.', [
    ['direction="in"', s.bytesFromClients],
    ['direction="out"', s.bytesToClients],
  ]);
  metric('peak_buffered_bytes', 'gauge', 'Most bytes ever queued in the balancer for one socket.', [['', s.peakBufferedBytes]]);
  metric('backend_up', 'gauge', '1 when the backend takes connections, 0 when ejected or failing its health checks.', per((b) => (b.state === 'up' ? 1 : 0)));
  metric('backend_active_connections', 'gauge', 'Connections open to the backend now.', per((b) => b.active));
  metric('backend_connections_total', 'counter', 'Connections forwarded to the backend.', per((b) => b.total));
  metric('backend_bytes_total', 'counter', 'Bytes to and from the backend.', [
    ...per((b) => b.bytesToBackend, ',direction="to_backend"'),
    ...per((b) => b.bytesFromBackend, ',direction="from_backend"'),
  ]);
  metric('backend_connect_failures_total', 'counter', 'Failed connects to the backend for client traffic.', per((b) => b.failures));
  metric('backend_ejections_total', 'counter', 'Times the backend was ejected after consecutive failed connects.', per((b) => b.ejections));
  metric('backend_health_checks_total', 'counter', 'Active health checks, by result.', [
    ...per((b) => b.checks.passed, ',result="passed"'),
    ...per((b) => b.checks.failed, ',result="failed"'),
  ]);
  return `${lines.join('\n')}\n`;
}
