// The data-path checks of the balancer family, as functions of a target (host, port) and the backend
// behind it, so the specs run them against the balancer under test and against the broken proxies in
// fixtures/ (which must fail them). Each throws, saying what it expected and what it saw, on a defect.
import net, { type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { WHO, pushRandom, type BackendSession, type NamedBackend } from '../../fixtures/backends.ts';
import { askName } from '../_harness/balancer.ts';
import { declaredOr } from '../_harness/targets.ts';
import { connectClient } from '../_harness/wire.ts';
import { nextEvent, waitUntil } from '../_harness/wait.ts';
import { scaled } from '../_harness/time.ts';

const MiB = 1024 * 1024;

/** The most one socket's kernel buffer may grow to here: the last field of tcp_rmem or tcp_wmem. */
function socketBufferMax(sysctl: 'tcp_rmem' | 'tcp_wmem', linuxDefault: number): number {
  try {
    const max = Number(readFileSync(`/proc/sys/net/ipv4/${sysctl}`, 'utf8').trim().split(/\s+/)[2]);
    return Number.isFinite(max) && max > 0 ? max : linuxDefault;
  } catch {
    return linuxDefault;
  }
}

/**
 * Bytes a sender may have written that the slow reader has not read: the kernel buffers of both hops,
 * each a send buffer and a receive buffer that autotuning may grow to the machine's maximum
 * (2 x (tcp_rmem + tcp_wmem) max: 72 MiB here, 20 MiB with Linux's defaults), plus 8 MiB for what
 * the balancer queues. Measured here: 10 to 35 MiB. Without backpressure it is most of the 256 MiB.
 */
export const IN_FLIGHT_BOUND = 2 * (socketBufferMax('tcp_rmem', 6 * MiB) + socketBufferMax('tcp_wmem', 4 * MiB)) + 8 * MiB;
/**
 * How long a slow reader reads nothing at first: a second (while a balancer without backpressure would
 * take all it gets), or half a declared idle timeout, which would rightly end a stream that long still.
 */
const STALL_MS = Math.min(scaled(1000), declaredOr<number>('balancer', '--idle-timeout', Infinity) / 2);
/** Readers that stall, then read at a steady rate. */
export const SLOW_CLIENT = { size: 256 * MiB, stallMs: STALL_MS, bytesPerSecond: 256 * MiB, bound: IN_FLIGHT_BOUND };
export const SLOW_BACKEND = { size: 256 * MiB, stallMs: STALL_MS, bytesPerSecond: 256 * MiB, bound: IN_FLIGHT_BOUND };

export interface Target {
  host: string;
  port: number;
}

/** A raw connection to the target, for byte counts too large for the wire client's buffer. */
async function openSocket(target: Target): Promise<Socket> {
  const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
  socket.on('error', () => {}); // failures surface through the reads and deadlines of each check
  await once(socket, 'connect');
  return socket;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** The backend's connection that carried the traffic (an external balancer's health checks add empty ones). */
export function busiestSession(backend: NamedBackend, from = 0): BackendSession {
  const sessions = backend.clients(from).sort((x, y) => y.received + y.sent - (x.received + x.sent));
  if (!sessions[0]) throw new Error(`backend ${backend.name} saw no connection`);
  return sessions[0];
}

/**
 * The client sends `size` bytes and shuts down its write side; the backend (mode reply-after-end)
 * answers only after that FIN, and the client must still read the whole answer.
 */
export async function checkClientHalfClose(target: Target, backend: NamedBackend, size: number): Promise<void> {
  const from = backend.sessions.length;
  await using client = await connectClient(target.port, target.host);
  expect(await askName(client)).toBe(backend.name);
  const payload = Buffer.alloc(size, 0x5a);
  await client.write(payload);
  client.end();
  expect(await client.readLine()).toBe(`${backend.name} received ${size} bytes ${sha256(payload)}`);
  const reply = await client.readToEnd(scaled(10_000));
  const session = busiestSession(backend, from);
  await session.done;
  expect({ bytes: reply.length, sha256: sha256(reply) }).toEqual({ bytes: session.sent, sha256: session.sentHash.copy().digest('hex') });
}

/**
 * The backend (mode end-first) sends its name and shuts down its write side at once; the client sees
 * the end of the stream, then sends `size` bytes and ends, and the backend must receive all of them.
 */
export async function checkBackendHalfClose(target: Target, backend: NamedBackend, size: number): Promise<void> {
  const from = backend.sessions.length;
  await using client = await connectClient(target.port, target.host);
  await client.write(WHO);
  expect((await client.readToEnd()).toString()).toBe(`${backend.name}\n`);
  const payload = Buffer.alloc(size, 0xa5);
  await client.write(payload);
  client.end();
  // The backend closes once it has the client's FIN; then the balancer closes the client, cleanly.
  expect(await client.closed()).toMatchObject({ hadError: false });
  const session = busiestSession(backend, from);
  await session.done;
  expect({ received: session.received, sha256: session.receivedHash.copy().digest('hex'), clientEnded: session.clientEnded }).toEqual({
    received: size,
    sha256: sha256(payload),
    clientEnded: true,
  });
}

/**
 * `size` random bytes each way at once (backend in push mode); both ends must hash the same. Neither
 * side ends its stream before it has everything: this check is about the bytes, not about half-close.
 */
export async function checkBothWays(target: Target, backend: NamedBackend, size: number): Promise<void> {
  const from = backend.sessions.length;
  const socket = await openSocket(target);
  try {
    socket.setNoDelay(true);
    const received = hashBytes(socket, backend.name.length + 1, size);
    socket.write(WHO);
    const sent = { sent: 0, sentHash: createHash('sha256') };
    await pushRandom(socket, size, sent);
    const got = await withDeadline(received, scaled(20_000), `the client to read ${size} bytes`);
    const session = busiestSession(backend, from);
    await waitUntil(() => session.received, (bytes) => bytes >= size, { what: `bytes at backend ${backend.name}`, expected: String(size), timeout: scaled(5000) });
    expect(got).toEqual({ bytes: size, sha256: session.sentHash.copy().digest('hex') });
    expect({ bytes: session.received, sha256: session.receivedHash.copy().digest('hex') }).toEqual({ bytes: size, sha256: sent.sentHash.digest('hex') });
  } finally {
    socket.destroy();
  }
}

/** Hashes the first `size` bytes after `skip` that arrive on `socket`; fails if the stream ends or breaks first. */
function hashBytes(socket: Socket, skip: number, size: number): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let toSkip = skip;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      const cut = Math.min(toSkip, chunk.length);
      toSkip -= cut;
      const body = chunk.subarray(cut, cut + (size - bytes));
      bytes += body.length;
      hash.update(body);
      if (bytes === size) {
        socket.off('data', onData);
        resolve({ bytes, sha256: hash.digest('hex') });
      }
    };
    socket.on('data', onData);
    socket.once('end', () => reject(new Error(`the stream ended after ${bytes} of ${size} bytes`)));
    socket.once('error', reject);
  });
}

export interface SlowReadResult {
  bytes: number;
  /** The most bytes ever written by the sender and not yet read by the slow reader. */
  maxInFlight: number;
}

/**
 * A slow reader: reads nothing from `socket` for `stallMs`, then reads at `bytesPerSecond` until it
 * has `size` bytes (it does not wait for the end: these checks are about backpressure). It fails as soon as more than `bound` bytes are sent and unread: a balancer without
 * backpressure lets the sender run ahead without limit while the reader stalls.
 */
export async function readSlowly(
  socket: Socket,
  options: { bytesPerSecond: number; stallMs: number; bound: number; sentSoFar: () => number; skip?: number; size: number },
): Promise<SlowReadResult> {
  socket.pause();
  let maxInFlight = 0;
  const tooMuch = (inFlight: number): Error => new Error(`memory is not bounded: ${inFlight} bytes sent and not yet read, expected at most ${options.bound}`);
  // The stall: time is the subject here. Polling lets a runaway sender fail the check at once.
  const stallEnds = Date.now() + options.stallMs;
  while (Date.now() < stallEnds) {
    const inFlight = options.sentSoFar();
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (inFlight > options.bound) {
      socket.destroy();
      throw tooMuch(inFlight);
    }
    // Time is the subject: the reader stalls for a while, and what is in flight is sampled meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const started = Date.now();
  let bytes = 0;
  let toSkip = options.skip ?? 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      const skipped = Math.min(toSkip, chunk.length);
      toSkip -= skipped;
      bytes += chunk.length - skipped;
      const inFlight = options.sentSoFar() - bytes;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      if (inFlight > options.bound) {
        socket.destroy();
        reject(tooMuch(inFlight));
        return;
      }
      if (bytes >= options.size) {
        socket.pause();
        resolve({ bytes, maxInFlight });
        return;
      }
      const ahead = started + (bytes / options.bytesPerSecond) * 1000 - Date.now();
      // Time is the subject: a slow reader keeps to its byte rate by pausing when it gets ahead.
      if (ahead > 1) {
        socket.pause();
        setTimeout(() => socket.resume(), ahead);
      }
    });
    socket.once('end', () => reject(new Error(`the stream ended after ${bytes} of ${options.size} bytes`)));
    socket.once('error', reject);
    socket.resume();
  });
}

export interface SlowReaderOptions {
  size: number;
  /** How long the reader reads nothing at first (ms). */
  stallMs: number;
  bytesPerSecond: number;
  bound: number;
}

/** The backend (push mode) sends to a client that reads at `bytesPerSecond`. */
export async function checkSlowClient(target: Target, backend: NamedBackend, options: SlowReaderOptions): Promise<SlowReadResult> {
  const from = backend.sessions.length;
  const socket = await openSocket(target);
  try {
    socket.write(WHO); // nothing to send but the question
    const result = await withDeadline(
      readSlowly(socket, { ...options, skip: backend.name.length + 1, sentSoFar: () => (backend.clients(from).length > 0 ? busiestSession(backend, from).sent : 0) }),
      scaled(20_000),
      `the client to read ${options.size} bytes`,
    );
    expect(result.bytes).toBe(options.size);
    return result;
  } finally {
    socket.destroy();
  }
}

/** The client sends `size` bytes to a backend (paused mode) that reads at `bytesPerSecond`. */
export async function checkSlowBackend(target: Target, backend: NamedBackend, options: SlowReaderOptions): Promise<SlowReadResult> {
  const from = backend.sessions.length;
  const socket = await openSocket(target);
  try {
    // The question, and its answer before anything else: bytes sent with it would be the backend's early ones.
    const named = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write(WHO);
    await withDeadline(named, scaled(5000), "the backend's name");
    socket.on('data', () => {});
    const tally = { sent: 0 };
    const session = await waitUntil(() => backend.clients(from).find((s) => !s.closed && !s.socket.readableEnded), (s) => s !== undefined, {
      what: `a connection at backend ${backend.name}`,
      expected: 'one',
    });
    const reading = readSlowly(session!.socket, { ...options, sentSoFar: () => tally.sent });
    const pushing = pushRandom(socket, options.size, tally);
    const [result] = await withDeadline(Promise.all([reading, pushing]), scaled(20_000), `the backend to read ${options.size} bytes`);
    expect(result.bytes).toBe(options.size);
    return result;
  } finally {
    socket.destroy();
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms}ms for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * The client resets its connection (RST) after the backend greeted it; the backend's connection must
 * end in a reset too (ECONNRESET), not in a FIN that would pass for a complete request.
 */
export async function checkResetPassedOn(target: Target, backend: NamedBackend): Promise<void> {
  const from = backend.sessions.length;
  const client = await connectClient(target.port, target.host);
  expect(await askName(client)).toBe(backend.name);
  const session = busiestSession(backend, from);
  const closed = nextEvent<[boolean]>(session.socket, 'close', { what: "the backend's connection to close", timeout: scaled(5000) });
  client.socket.resetAndDestroy();
  const [hadError] = await closed;
  expect({ backendSawReset: hadError }).toEqual({ backendSawReset: true });
}

/**
 * The client sends messages of each size in `sizes`, one at a time, and the backend (echo mode)
 * sends each back: sizes that fill a proxy's read buffer exactly are where a read that finds nothing
 * more can be mistaken for the end. The connection must carry every message and a last line after.
 */
export async function checkExactReads(target: Target, backend: NamedBackend, sizes: number[]): Promise<void> {
  await using client = await connectClient(target.port, target.host);
  expect(await askName(client)).toBe(backend.name);
  for (const size of sizes) {
    const message = Buffer.alloc(size, 0x61 + (size % 26));
    await client.write(message);
    const echoed = await client.readBytes(size, scaled(5000));
    expect({ size, same: echoed.equals(message) }).toEqual({ size, same: true });
  }
  await client.write('still open\n');
  expect(await client.readLine()).toBe('still open');
}
