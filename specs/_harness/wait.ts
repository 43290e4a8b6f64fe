// Waits with deadlines. Nothing here sleeps for a fixed time: each wait ends as soon as what it waits
// for happens, and when the deadline passes it fails saying what it expected and what it saw.
import type { EventEmitter } from 'node:events';
import { DEFAULT_WAIT_MS } from './time.ts';

export class WaitTimeoutError extends Error {
  constructor(what: string, expected: string, seen: string, ms: number) {
    super(`${what}: waited ${ms}ms\n  expected: ${expected}\n  seen:     ${seen}`);
    this.name = 'WaitTimeoutError';
  }
}

export interface WaitOptions {
  /** Milliseconds before giving up (already scaled by the caller, or DEFAULT_WAIT_MS). */
  timeout?: number;
  /** Names what is awaited, for the failure message. */
  what?: string;
}

/**
 * Polls `read` until `accept(value)` holds, e.g. a gauge reaching zero. Failing, it reports the last
 * value seen.
 */
export async function waitUntil<T>(read: () => T | Promise<T>, accept: (value: T) => boolean, options: WaitOptions & { expected?: string } = {}): Promise<T> {
  const timeout = options.timeout ?? DEFAULT_WAIT_MS;
  const started = Date.now();
  let value = await read();
  let pause = 1;
  while (!accept(value)) {
    if (Date.now() - started > timeout) {
      throw new WaitTimeoutError(options.what ?? 'condition', options.expected ?? 'the condition to hold', JSON.stringify(value), timeout);
    }
    await new Promise((resolve) => setImmediate(resolve));
    if (pause < 20) pause++;
    else await new Promise((resolve) => setTimeout(resolve, 10));
    value = await read();
  }
  return value;
}

/** Waits until `read()` equals `expected` (deep equality through JSON). */
export function waitForValue<T>(read: () => T | Promise<T>, expected: T, options: WaitOptions = {}): Promise<T> {
  const wanted = JSON.stringify(expected);
  return waitUntil(read, (value) => JSON.stringify(value) === wanted, { ...options, expected: wanted });
}

/** Resolves with an event's arguments, or fails after the deadline naming the event. */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, options: WaitOptions = {}): Promise<T> {
  const timeout = options.timeout ?? DEFAULT_WAIT_MS;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, onEvent);
      reject(new WaitTimeoutError(options.what ?? `event "${event}"`, `"${event}" to be emitted`, 'nothing', timeout));
    }, timeout);
    function onEvent(...args: unknown[]): void {
      clearTimeout(timer);
      resolve(args as T);
    }
    emitter.once(event, onEvent);
  });
}

/** Counts calls and resolves when there were exactly `n` (like Node's mustCall, but awaitable). */
export function callCounter(): { (): void; count: number; reached(n: number, options?: WaitOptions): Promise<number> } {
  const counter = Object.assign(
    () => {
      counter.count++;
    },
    {
      count: 0,
      reached: (n: number, options: WaitOptions = {}) =>
        waitUntil(() => counter.count, (c) => c >= n, { what: options.what ?? 'call count', expected: `${n} calls`, timeout: options.timeout }),
    },
  );
  return counter;
}
