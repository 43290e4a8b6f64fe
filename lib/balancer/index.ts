// The balancer's public API: startBalancer(options) resolves to a disposable handle with stats().
export { startBalancer, type Balancer, type BalancerStats } from './balancer.ts';
export { parseBackend, validateBalancerOptions, STRATEGIES, type BalancerOptions, type BackendSpec, type HealthCheckOptions, type Strategy, type TransportKind } from './options.ts';
export type { BackendStats, BackendState } from './pool.ts';
export { renderPrometheus } from './stats-server.ts';
