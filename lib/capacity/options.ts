// The capacity tester's options: defaults (the prior art's), validation in one place, and the
// source-address ranges that let one machine dial past the ephemeral ports of one address pair.
import net from 'node:net';
import { OptionError, checkHost, checkIp, checkOneOf, checkPort, checkThat, checkWhole, withDefaults } from '../net/options.ts';
import type { Shard } from '../net/shard.ts';

export interface CapacityOptions {
  host?: string;
  port?: number;
  /** Connections in the whole run (a shard or worker opens its share). With `ramp`: the most to try. */
  connections?: number;
  /** Time between dials over the whole run (the prior art's -delay); with `rampStep`, between steps. */
  delayMs?: number;
  /** Give up on a dial after this long (counted as ETIMEDOUT). */
  dialTimeoutMs?: number;
  /** Keep the connections this long once all are dialed, then close them. 0: wait for the server to close them. */
  holdMs?: number;
  /** Redial what the server closes, to keep N open until the hold or the run ends. */
  reopen?: boolean;
  /** End the run after this long, whatever phase it is in. 0: no limit. */
  maxDurationMs?: number;
  /** Add connections until dials fail, time out or the server closes one; report the highest concurrency held. */
  ramp?: boolean;
  /** Connections added at once per step (one `delay` apart). */
  rampStep?: number;
  /** After the ramp stops, wait this long for further closures before counting the ceiling. */
  rampSettleMs?: number;
  /** Local addresses to dial from, used in turn. */
  sourceAddresses?: string[];
  /** Dials in flight at once per process (more SYNs than a listen backlog holds only get dropped). */
  maxDialing?: number;
  /** How our side closes: `fin` (leaves TIME_WAIT here) or `reset` (RST, leaves none). */
  close?: 'fin' | 'reset';
  /** Sample the open count this often for the result's time series. */
  sampleIntervalMs?: number;
  shard?: Shard;
  signal?: AbortSignal;
  /** Lifecycle events, for --verbose. */
  onEvent?: (event: CapacityEvent) => void;
}

export type CapacityEvent =
  | { type: 'dialing'; slot: number }
  | { type: 'established'; slot: number }
  | { type: 'failed'; slot: number; code: string }
  | { type: 'closed-by-server'; slot: number; code?: string }
  | { type: 'opened-all' }
  | { type: 'ramp-stopped'; reason: string }
  /** The ramp's settle ended: what was still open then is the ceiling. */
  | { type: 'ramp-settled'; ceiling: number };

export const CAPACITY_DEFAULTS = {
  host: 'localhost',
  port: 8888,
  connections: 100,
  delayMs: 10,
  dialTimeoutMs: 5000,
  holdMs: 0,
  reopen: false,
  maxDurationMs: 0,
  ramp: false,
  rampStep: 1,
  rampSettleMs: 500,
  maxDialing: 512,
  close: 'fin' as 'fin' | 'reset',
  sampleIntervalMs: 100,
};

export type CapacityConfig = typeof CAPACITY_DEFAULTS & Pick<CapacityOptions, 'sourceAddresses' | 'shard' | 'signal' | 'onEvent'>;

export function validateCapacityOptions(options: CapacityOptions): CapacityConfig {
  const config: CapacityConfig = withDefaults(CAPACITY_DEFAULTS, options);
  checkHost('host', config.host);
  checkPort('port', config.port, 'connect');
  for (const key of ['connections', 'delayMs', 'dialTimeoutMs', 'holdMs', 'maxDurationMs', 'rampSettleMs'] as const) checkWhole(key, config[key]);
  for (const key of ['rampStep', 'maxDialing', 'sampleIntervalMs'] as const) checkWhole(key, config[key], 1);
  checkOneOf('close', config.close, ['fin', 'reset'] as const);
  checkThat(!config.reopen || config.holdMs > 0 || config.maxDurationMs > 0, 'reopen', 'reopen keeps connections open until the hold or the run ends: give a hold or a max duration');
  checkThat(!(config.reopen && config.ramp), 'reopen', 'reopen and ramp do not mix: a ramp stops at the first closure');
  for (const address of config.sourceAddresses ?? []) checkIp('sourceAddresses', address);
  // An empty list names no source address: the kernel picks the source, as without one.
  if (config.sourceAddresses?.length === 0) config.sourceAddresses = undefined;
  return config;
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/**
 * Expands `127.0.0.1-127.0.0.50` (or a comma list, or one address) into the addresses to dial from.
 * Each source address has its own ephemeral ports, so 50 of them give 50 times the connections to one
 * server port. Every address in 127.0.0.0/8 is already this machine's on Linux.
 */
export function parseSourceRange(text: string): string[] {
  const addresses: string[] = [];
  for (const part of String(text).split(',').map((p) => p.trim()).filter(Boolean)) {
    const [from, to, extra] = part.split('-').map((p) => p.trim());
    if (extra !== undefined) throw new OptionError('source-ips', `"${part}" is not a range (write A-B, e.g. 127.0.0.1-127.0.0.50)`);
    if (to === undefined) {
      if (!net.isIP(from)) throw new OptionError('source-ips', `"${from}" is not an IP address`);
      addresses.push(from);
      continue;
    }
    if (!net.isIPv4(from) || !net.isIPv4(to)) throw new OptionError('source-ips', `"${part}": ranges take IPv4 addresses, e.g. 127.0.0.1-127.0.0.50`);
    const [a, b] = [ipv4ToNumber(from), ipv4ToNumber(to)];
    if (b < a) throw new OptionError('source-ips', `"${part}": the range ends before it starts`);
    if (b - a >= 65536) throw new OptionError('source-ips', `"${part}": at most 65536 addresses in a range`);
    for (let n = a; n <= b; n++) addresses.push(numberToIpv4(n));
  }
  if (addresses.length === 0) throw new OptionError('source-ips', `"${text}" names no address`);
  return addresses;
}
