// A raw TCP client for specs: connect, write bytes, and read with deadlines that return what arrived.
// Each read fails with what it expected and what it had seen so far. Clients are disposable
// (`await using client = await connectClient(port)`), and destroy their socket on dispose.
import net, { type Socket } from 'node:net';
import { DEFAULT_WAIT_MS } from './time.ts';
import { WaitTimeoutError } from './wait.ts';

export interface WireClient {
  readonly socket: Socket;
  /** Every byte received so far. */
  readonly received: () => Buffer;
  write(data: string | Buffer): Promise<void>;
  /** Ends our writes (half-close); we can still read. */
  end(data?: string | Buffer): void;
  /** Resolves with the next `\n`-terminated line (without `\n`). */
  readLine(timeout?: number): Promise<string>;
  readLines(count: number, timeout?: number): Promise<string[]>;
  /** Resolves with exactly `length` more bytes. */
  readBytes(length: number, timeout?: number): Promise<Buffer>;
  /** Resolves with everything until the server ends the stream. */
  readToEnd(timeout?: number): Promise<Buffer>;
  /** Resolves when the socket is closed (by either side), with whether it ended in an error. */
  closed(timeout?: number): Promise<{ hadError: boolean; error?: NodeJS.ErrnoException }>;
  destroy(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function connectClient(port: number, host = '127.0.0.1', options: { localAddress?: string; localPort?: number; timeout?: number } = {}): Promise<WireClient> {
  const socket = net.connect({ port, host, localAddress: options.localAddress, localPort: options.localPort, allowHalfOpen: true });
  let buffer = Buffer.alloc(0);
  let cursor = 0;
  let ended = false;
  let closedInfo: { hadError: boolean; error?: NodeJS.ErrnoException } | undefined;
  let lastError: NodeJS.ErrnoException | undefined;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    notify();
  });
  socket.on('end', () => {
    ended = true;
    notify();
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    lastError = error;
  });
  socket.on('close', (hadError) => {
    closedInfo = { hadError, error: lastError };
    ended = true;
    notify();
  });

  await new Promise<void>((resolve, reject) => {
    const timeout = options.timeout ?? DEFAULT_WAIT_MS;
    const timer = setTimeout(() => reject(new Error(`connect to ${host}:${port} timed out after ${timeout}ms`)), timeout);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });

  /** Waits until `take()` returns a value, re-checking on every data/end/close. */
  function until<T>(take: () => T | undefined, expected: string, timeout = DEFAULT_WAIT_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        let value: T | undefined;
        try {
          value = take();
        } catch (error) {
          cleanup();
          reject(error);
          return;
        }
        if (value !== undefined) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = buffer.subarray(cursor);
        reject(new WaitTimeoutError('read', expected, `${seen.length} unread bytes ${JSON.stringify(seen.subarray(0, 200).toString('latin1'))}${ended ? ' and end of stream' : ''}`, timeout));
      }, timeout);
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  }

  const endOfStream = (expected: string): Error =>
    new Error(`stream ended before ${expected}; unread: ${JSON.stringify(buffer.subarray(cursor).toString('latin1'))}`);

  const client: WireClient = {
    socket,
    received: () => buffer,
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        socket.write(data, (error) => (error ? reject(error) : resolve()));
      }),
    end: (data) => {
      if (data === undefined) socket.end();
      else socket.end(data);
    },
    readLine: (timeout) =>
      until(() => {
        const newline = buffer.indexOf(0x0a, cursor);
        if (newline === -1) {
          if (ended) throw endOfStream('a line');
          return undefined;
        }
        const line = buffer.subarray(cursor, newline).toString('utf8');
        cursor = newline + 1;
        return line;
      }, 'a line ending in \\n', timeout),
    readLines: async (count, timeout = DEFAULT_WAIT_MS) => {
      const started = Date.now();
      const lines: string[] = [];
      while (lines.length < count) lines.push(await client.readLine(Math.max(1, timeout - (Date.now() - started))));
      return lines;
    },
    readBytes: (length, timeout) =>
      until(() => {
        if (buffer.length - cursor >= length) {
          const bytes = buffer.subarray(cursor, cursor + length);
          cursor += length;
          return bytes;
        }
        if (ended) throw endOfStream(`${length} bytes`);
        return undefined;
      }, `${length} bytes`, timeout),
    readToEnd: (timeout) =>
      until(() => {
        if (!ended) return undefined;
        const rest = buffer.subarray(cursor);
        cursor = buffer.length;
        return rest;
      }, 'the server to end the stream', timeout),
    closed: (timeout) => until(() => closedInfo, 'the connection to close', timeout),
    destroy: () => socket.destroy(),
    [Symbol.asyncDispose]: async () => {
      socket.destroy();
    },
  };
  return client;
}
