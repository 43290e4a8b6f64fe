// Checking the options every part takes, in one place: one error type for a bad option (the command line
// maps it to exit status 2, once, in cli/main.ts), one way to lay options over defaults, and one check
// per kind of value, so a port, a count or a choice is judged and worded the same everywhere.
import net from 'node:net';

/** A bad option: its name, and a message that says what it must be and what it was. */
export class OptionError extends RangeError {
  readonly code = 'EUSAGE';

  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = 'OptionError';
  }
}

/** `options` laid over `defaults`; an option left undefined keeps its default. */
export function withDefaults<D extends object, O extends object>(defaults: D, options: O): D & O {
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value;
  return merged as D & O;
}

const shown = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(value));

/** A whole number from `min` to `max`. */
export function checkWhole(option: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new OptionError(option, `${option} must be a whole number ${range}, not ${shown(value)}`);
  }
  return value;
}

/** Any number from `min` to `max` (a rate, a probability). */
export function checkNumber(option: string, value: unknown, min = 0, max = Number.MAX_VALUE): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Number.MAX_VALUE ? `>= ${min}` : `from ${min} to ${max}`;
    throw new OptionError(option, `${option} must be a number ${range}, not ${shown(value)}`);
  }
  return value;
}

/** A TCP port: 1-65535 to connect to; 0-65535 to listen on, where 0 picks a free one. */
export function checkPort(option: string, value: unknown, use: 'listen' | 'connect'): number {
  const low = use === 'listen' ? 0 : 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < low || value > 65535) {
    const range = use === 'listen' ? '0-65535 (0 picks a free one)' : '1-65535 (a port to connect to)';
    throw new OptionError(option, `${option} must be ${range}, not ${shown(value)}`);
  }
  return value;
}

/** One of a fixed set of words. */
export function checkOneOf<T extends string>(option: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) throw new OptionError(option, `${option} must be ${choices.join(' or ')}, not ${shown(value)}`);
  return value as T;
}

/** An IPv4 or IPv6 address (not a host name). */
export function checkIp(option: string, value: unknown): string {
  if (typeof value !== 'string' || !net.isIP(value)) throw new OptionError(option, `${option}: ${shown(value)} is not an IP address`);
  return value;
}

/** A non-empty host name or address. */
export function checkHost(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new OptionError(option, `${option} must be a host name or address, not ${shown(value)}`);
  return value;
}

/** Throws an OptionError for `option` unless `ok`. */
export function checkThat(ok: boolean, option: string, message: string): void {
  if (!ok) throw new OptionError(option, message);
}
