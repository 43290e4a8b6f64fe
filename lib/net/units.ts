// Parsing of the human units the command line accepts: durations (ms, s, m, h) and sizes (B, KiB, MiB, GiB).
// Each throws an OptionError whose message names the problem, so a CLI can turn it into one usage line.
import { OptionError } from './options.ts';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };

/**
 * Parses `250ms`, `1.5s`, `2m` into milliseconds. A bare number is taken in `bareUnit`
 * (the prior art's capacity tester took `-delay 10` as milliseconds).
 */
export function parseDuration(text: string, bareUnit: 'ms' | 's' = 'ms'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(String(text));
  if (!match) throw new OptionError('duration', `"${text}" is not a duration (use e.g. 500ms, 10s, 2m)`);
  const unit = (match[2] ?? bareUnit).toLowerCase();
  return Math.round(Number(match[1]) * DURATION_UNITS[unit]);
}

/** Parses `64KiB`, `1MiB`, `4096` (bytes) into a byte count. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(String(text));
  if (!match) throw new OptionError('size', `"${text}" is not a size (use e.g. 4096, 64KiB, 1MiB)`);
  const unit = (match[2] ?? 'b').toLowerCase();
  return Math.round(Number(match[1]) * SIZE_UNITS[unit]);
}

/** Formats milliseconds the way people read them: 850ms, 1.2s, 2m5s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return seconds ? `${minutes}m${seconds}s` : `${minutes}m`;
}

/** Formats a byte count with binary units: 512B, 64KiB, 1.5MiB. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 ** 2) return `${+(bytes / 1024).toFixed(1)}KiB`;
  if (bytes < 1024 ** 3) return `${+(bytes / 1024 ** 2).toFixed(1)}MiB`;
  return `${+(bytes / 1024 ** 3).toFixed(2)}GiB`;
}

/** Parses `HOST:PORT`, `[::1]:PORT` or a bare `PORT` (host defaults to 127.0.0.1). */
export function parseHostPort(text: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  const value = String(text).trim();
  let host = defaultHost;
  let portText = value;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
  } else if (value.includes(':')) {
    const at = value.lastIndexOf(':');
    host = value.slice(0, at);
    portText = value.slice(at + 1);
    if (host.includes(':')) throw new OptionError('address', `"${text}": write IPv6 addresses in brackets, e.g. [::1]:5000`);
  }
  return { host: host || defaultHost, port: parsePort(portText) };
}

/** Parses a TCP port number (0 means "pick a free one"). */
export function parsePort(text: string | number): number {
  const port = Number(text);
  if (!/^\d+$/.test(String(text).trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new OptionError('port', `"${text}" is not a port (0-65535; 0 picks a free one)`);
  }
  return port;
}

/** Joins host and port the way URLs and logs expect: IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * How often to sweep deadlines of `timeoutMs` (one timer for many connections costs less than a timer
 * each): every tenth of the timeout, so none is noticed more than a tenth late, yet at least every
 * 100 ms and at most every 5 ms.
 */
export function deadlineSweepMs(timeoutMs: number): number {
  return Math.max(5, Math.min(100, Math.floor(timeoutMs / 10)));
}
