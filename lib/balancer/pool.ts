// The backends and how the next one is chosen. Round-robin is nginx's smooth weighted round-robin, so
// equal weights give the exact order a b a b ... and weights 2:1 give a b a; least-connections picks
// the fewest active connections per unit of weight, round-robin among ties. A backend is down when
// passive ejection (consecutive failed connects) or active health checks say so; down backends are
// skipped while any backend is up, and tried last when none is.
import net from 'node:net';
import { resolveOne } from '../net/conn.ts';
import { errorCode } from '../net/errors.ts';
import { OptionError } from '../net/options.ts';
import { probe } from '../net/probe.ts';
import { formatHostPort } from '../net/units.ts';
import type { BackendConfig, BalancerConfig, Strategy } from './options.ts';

export type BackendState = 'up' | 'down';

export interface BackendStats {
  name: string;
  /** `host:port` as configured. */
  address: string;
  weight: number;
  state: BackendState;
  /** Why it is down: `ejected after 3 failed connects`, `3 failed health checks`. */
  reason?: string;
  active: number;
  /** Connections forwarded to it (successful connects). */
  total: number;
  bytesToBackend: number;
  bytesFromBackend: number;
  /** Failed connects from client traffic, by code. */
  failures: number;
  failureCodes: Record<string, number>;
  ejections: number;
  checks: { passed: number; failed: number };
}

export class Backend {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** The address connections go to: the host resolved once at start, so no lookup per connection. */
  address: string;
  /** IPv4 or IPv6: which connect call `address` needs. */
  family: 4 | 6;
  state: BackendState = 'up';
  reason: string | undefined;
  active = 0;
  total = 0;
  bytesToBackend = 0;
  bytesFromBackend = 0;
  failures = 0;
  readonly failureCodes: Record<string, number> = {};
  consecutiveFailures = 0;
  ejections = 0;
  /** Without active checks: when an ejected backend may get a trial connection. */
  retryAt = 0;
  checksPassed = 0;
  checksFailed = 0;
  checkStreak = 0; // > 0: consecutive passes, < 0: consecutive failures
  /** Smooth weighted round-robin's running weight. */
  current = 0;
  /** Least-connections: when it was last picked, to break ties in turn. */
  lastPicked = 0;

  constructor(config: BackendConfig) {
    this.name = config.name;
    this.host = config.host;
    this.port = config.port;
    this.weight = config.weight;
    this.address = config.host;
    this.family = net.isIPv6(config.host) ? 6 : 4;
  }

  stats(): BackendStats {
    return {
      name: this.name,
      address: formatHostPort(this.host, this.port),
      weight: this.weight,
      state: this.state,
      ...(this.reason ? { reason: this.reason } : {}),
      active: this.active,
      total: this.total,
      bytesToBackend: this.bytesToBackend,
      bytesFromBackend: this.bytesFromBackend,
      failures: this.failures,
      failureCodes: { ...this.failureCodes },
      ejections: this.ejections,
      checks: { passed: this.checksPassed, failed: this.checksFailed },
    };
  }
}

export class BackendPool {
  readonly backends: Backend[];
  private readonly strategy: Strategy;
  private readonly checking: boolean;
  private healthTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private picks = 0;

  constructor(private readonly config: BalancerConfig) {
    this.backends = config.backends.map((backend) => new Backend(backend));
    this.strategy = config.strategy;
    this.checking = config.healthCheck.intervalMs > 0;
  }

  /**
   * Resolves host names once (IPv4 first, as the servers here bind 127.0.0.1) so connects skip DNS;
   * an IP address is given back as it is, without a query.
   */
  async resolve(): Promise<void> {
    await Promise.all(
      this.backends.map(async (backend) => {
        try {
          ({ address: backend.address, family: backend.family } = await resolveOne(backend.host));
        } catch (error) {
          throw Object.assign(new OptionError('backend', `backend ${backend.name}: cannot resolve ${backend.host} (${errorCode(error)})`), { cause: error });
        }
      }),
    );
  }

  /**
   * The next backend for a connection, skipping those already tried for it; undefined when every
   * backend was tried.
   */
  pick(tried: ReadonlySet<Backend> | undefined): Backend | undefined {
    // The common case, first try with every backend up, allocates nothing.
    // Stryker disable next-line BlockStatement,ConditionalExpression: skipping the fast path picks the same backend.
    if (tried === undefined || tried.size === 0) {
      // Stryker disable next-line ConditionalExpression,StringLiteral,ArrowFunction: skipping the fast path picks the same backend.
      if (this.strategy === 'round-robin' && this.backends.every((b) => b.state === 'up')) return smoothWeighted(this.backends);
    }
    const now = Date.now();
    let candidates = this.backends.filter((b) => !tried?.has(b) && this.usable(b, now));
    if (candidates.length === 0) {
      // Nothing is up: try what is down rather than refuse, in case it came back unnoticed.
      if (this.backends.some((b) => this.usable(b, now))) return undefined;
      candidates = this.backends.filter((b) => !tried?.has(b));
      if (candidates.length === 0) return undefined;
    }
    if (this.strategy === 'least-connections') {
      let best = Infinity;
      for (const b of candidates) best = Math.min(best, b.active / b.weight);
      // Ties go to the backend picked least recently, so equal loads still take turns.
      let chosen: Backend | undefined;
      for (const b of candidates) if (b.active / b.weight === best && (!chosen || b.lastPicked < chosen.lastPicked)) chosen = b;
      chosen!.lastPicked = ++this.picks;
      return chosen;
    }
    return smoothWeighted(candidates);
  }

  private usable(backend: Backend, now: number): boolean {
    if (backend.state === 'up') return true;
    // Passive ejection without active checks: after ejectTime, one trial connection decides.
    return !this.checking && backend.retryAt <= now;
  }

  connected(backend: Backend): void {
    backend.total++;
    backend.consecutiveFailures = 0;
    if (backend.state === 'down' && !this.checking) this.markUp(backend, 'a trial connection succeeded');
  }

  connectFailed(backend: Backend, code: string): void {
    backend.failures++;
    backend.failureCodes[code] = (backend.failureCodes[code] ?? 0) + 1;
    backend.consecutiveFailures++;
    const limit = this.config.ejectAfterFailures;
    if (limit === 0 || backend.consecutiveFailures < limit) return;
    backend.retryAt = Date.now() + this.config.ejectTimeMs;
    if (backend.state === 'up') {
      backend.ejections++;
      this.markDown(backend, `ejected after ${backend.consecutiveFailures} failed connects (${code})`);
    }
  }

  private markDown(backend: Backend, reason: string): void {
    backend.state = 'down';
    backend.reason = reason;
    this.resetRotation();
    this.config.log?.(`[BACKEND] ${backend.name} down: ${reason}`);
  }

  private markUp(backend: Backend, reason: string): void {
    backend.state = 'up';
    backend.reason = undefined;
    backend.consecutiveFailures = 0;
    this.resetRotation();
    this.config.log?.(`[BACKEND] ${backend.name} up: ${reason}`);
  }

  /** When the set of live backends changes, the rotation starts over from the first one. */
  private resetRotation(): void {
    for (const backend of this.backends) backend.current = 0;
  }

  /** Starts active health checks: a TCP connect to each backend every interval. */
  startHealthChecks(): void {
    // A balancer closed while it was starting stops its pool before the checks would start.
    if (!this.checking || this.stopped) return;
    for (const backend of this.backends) this.scheduleCheck(backend);
  }

  /** Called at start and after each check that settled, never once stopped. */
  private scheduleCheck(backend: Backend): void {
    const timer = setTimeout(() => {
      this.healthTimers.delete(timer);
      void probe(backend.address, backend.port, this.config.healthCheck.timeoutMs).then((code) => {
        if (this.stopped) return;
        this.recordCheck(backend, code);
        this.scheduleCheck(backend);
      });
    }, this.config.healthCheck.intervalMs);
    timer.unref();
    this.healthTimers.add(timer);
  }

  /**
   * Counts one health check of `backend` (`code` undefined: it passed): `rise` passes in a row bring a
   * down backend up, `fall` failures in a row take an up one down; a check of the other kind starts
   * the streak over. `checkStreak` is positive for passes in a row, negative for failures.
   */
  recordCheck(backend: Backend, code: string | undefined): void {
    const { fall, rise } = this.config.healthCheck;
    if (code === undefined) {
      backend.checksPassed++;
      backend.checkStreak = Math.max(backend.checkStreak, 0) + 1;
      if (backend.state === 'down' && backend.checkStreak >= rise) this.markUp(backend, `${backend.checkStreak} health checks passed`);
    } else {
      backend.checksFailed++;
      backend.checkStreak = Math.min(backend.checkStreak, 0) - 1;
      if (backend.state === 'up' && -backend.checkStreak >= fall) this.markDown(backend, `${-backend.checkStreak} health checks failed (${code})`);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.healthTimers) clearTimeout(timer);
    this.healthTimers.clear();
  }
}

/** nginx's smooth weighted round-robin over `candidates` (non-empty). */
function smoothWeighted(candidates: Backend[]): Backend {
  // Stryker disable next-line ConditionalExpression: a fast path; the loop below picks the one candidate too.
  if (candidates.length === 1) return candidates[0];
  let total = 0;
  let best = candidates[0];
  for (const backend of candidates) {
    backend.current += backend.weight;
    total += backend.weight;
    if (backend.current > best.current) best = backend;
  }
  best.current -= total;
  return best;
}
