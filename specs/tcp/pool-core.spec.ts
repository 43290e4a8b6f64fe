// The pool core both bounded servers stand on (lib/tcp/pool.ts), judged directly with a handler each
// spec programs: how a request arriving in pieces is read, how each way a connection can end is
// counted and logged (a client that ends or resets early, a handler that throws or never replies, each
// deadline), what a handler's signal says when it is aborted, how a queued client that gives up frees
// its place, and what close() does to queued, working and new connections. The hello and prime specs
// show the same core through their protocols; these pin the decisions themselves, so they run against
// lib/ only.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { readSocketTable } from '../../lib/net/socket-table.ts';
import { startPoolServer, type PoolConnection, type PoolHandler, type PoolOptions, type PoolServer } from '../../lib/tcp/pool.ts';
import { connectClient, type WireClient } from '../_harness/wire.ts';
import { callCounter, waitForValue, waitUntil } from '../_harness/wait.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';

const needsLib = libOnlyReason('pool', 'programs the pool core with its own handler');

type Plan = (connection: PoolConnection) => Promise<void>;

/** Reads one `\n`-terminated line; rejects as readRequest does. */
const readLine = (connection: PoolConnection): Promise<string> =>
  connection.readRequest((bytes) => {
    const newline = bytes.indexOf(0x0a);
    return newline === -1 ? undefined : bytes.subarray(0, newline).toString('latin1');
  });

/** The default plan: read a line, answer `got LINE`. */
const echo: Plan = async (connection) => {
  const line = await readLine(connection);
  await connection.reply(`got ${line}\n`);
};

/** A pool server whose handler runs, for each connection a worker picks up, the next plan given (echo when none). */
async function programmedServer(options: PoolOptions = {}): Promise<{ server: PoolServer; plan(plan: Plan): void; log: string[]; closes: ReturnType<typeof callCounter> } & AsyncDisposable> {
  const plans: Plan[] = [];
  const log: string[] = [];
  const closes = callCounter();
  const handler: PoolHandler = {
    serve: (connection) => (plans.shift() ?? echo)(connection),
    busyReply: () => 'busy\n',
    readTimeoutReply: () => 'too slow\n',
    stats: () => ({ handlerGauge: 7 }),
    close: async () => closes(),
  };
  const server = await startPoolServer(handler, { log: (line) => log.push(line), ...options });
  return { server, plan: (p) => plans.push(p), log, closes, [Symbol.asyncDispose]: () => server.close() };
}

/** A promise and its resolve, for a plan the spec lets go of. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Plans a handler that reads a line and keeps why the read failed; returns a reader of that reason. */
function planFailingRead(lab: { plan(plan: Plan): void }): () => unknown {
  let reason: unknown;
  lab.plan(async (connection) => {
    await readLine(connection).catch((error: unknown) => {
      reason = error;
      throw error;
    });
  });
  return () => reason;
}

const peerOf = (client: WireClient): string => `127.0.0.1:${client.socket.localPort}`;

/** What an abort reason says of itself. */
const describeReason = (reason: unknown): object => {
  const { name, code, message } = reason as { name?: string; code?: string; message?: string };
  return { name, code, message };
};

describe.skipIf(needsLib)('pool core: reading a request', () => {
  it('POOL-CORE-001 reads a request that arrives in pieces whole, and tells the handler who the client is', async () => {
    await using lab = await programmedServer();
    const pieces: string[] = [];
    let who: object = {};
    lab.plan(async (connection) => {
      who = { peer: connection.peer, remoteAddress: connection.remoteAddress };
      const line = await connection.readRequest((bytes) => {
        pieces.push(bytes.toString('latin1'));
        const newline = bytes.indexOf(0x0a);
        return newline === -1 ? undefined : bytes.subarray(0, newline).toString('latin1');
      });
      await connection.reply(`got ${line}\n`);
    });
    await using client = await connectClient(lab.server.port);
    await client.write('hel');
    await waitForValue(() => pieces.length, 1, { what: 'reads of the first piece' });
    await client.write('lo\n');
    expect(await client.readLine()).toBe('got hello');
    expect(pieces).toEqual(['hel', 'hello\n']);
    expect(who).toEqual({ peer: peerOf(client), remoteAddress: '127.0.0.1' });
  });

  it('POOL-CORE-002 answers a client that sends its request and half-closes at once, also when its FIN is what completes the request', async () => {
    await using lab = await programmedServer();
    await using client = await connectClient(lab.server.port);
    client.end('ping\n');
    expect((await client.readToEnd()).toString()).toBe('got ping\n');
    await waitForValue(() => lab.server.stats().completed, 1, { what: 'completed connections' });
    // A request that ends at the client's FIN: the server has read the FIN, and must still be able
    // to write its reply after working (a socket that is not half-open would have ended by then).
    lab.plan(async (connection) => {
      const whole = await connection.readRequest((bytes, ended) => (ended ? bytes.toString('latin1') : undefined));
      await connection.work(scaled(30));
      await connection.reply(`got ${whole}\n`);
    });
    await using second = await connectClient(lab.server.port);
    second.end('no newline');
    expect((await second.readToEnd()).toString()).toBe('got no newline\n');
    await waitForValue(() => lab.server.stats().completed, 2, { what: 'completed connections' });
  });

  it('POOL-CORE-003 a client that ends before a complete request fails with EENDED: counted, logged, closed', async () => {
    await using lab = await programmedServer();
    const reason = planFailingRead(lab);
    await using client = await connectClient(lab.server.port);
    const peer = peerOf(client);
    client.end('hal');
    expect((await client.readToEnd()).length).toBe(0);
    await waitForValue(() => lab.server.stats().failed, 1, { what: 'failed connections' });
    expect(describeReason(reason())).toEqual({ name: 'ConnectionAborted', code: 'EENDED', message: 'client ended before a complete request' });
    expect(lab.server.stats()).toMatchObject({ accepted: 1, completed: 0, failed: 1, timedOut: 0, errors: { EENDED: 1 } });
    expect(lab.log).toContain(`[ERROR] ${peer} - EENDED`);
  });

  it('POOL-CORE-004 a client that resets while its request is read aborts the handler with ECLOSED, and the server serves the next', async () => {
    await using lab = await programmedServer();
    let reason: unknown;
    const read = callCounter();
    lab.plan(async (connection) => {
      await connection
        .readRequest(() => {
          read();
          return undefined;
        })
        .catch((error: unknown) => {
          reason = error;
          throw error;
        });
    });
    const client = await connectClient(lab.server.port);
    await client.write('hal');
    await read.reached(1, { what: 'reads of the piece' });
    client.socket.resetAndDestroy();
    await waitForValue(() => lab.server.stats().failed, 1, { what: 'failed connections' });
    expect(describeReason(reason)).toEqual({ name: 'ConnectionAborted', code: 'ECLOSED', message: 'connection closed' });
    expect(lab.server.stats().errors).toEqual({ ECLOSED: 1 });
    await using next = await connectClient(lab.server.port);
    await next.write('again\n');
    expect(await next.readLine()).toBe('got again');
  });
});

describe.skipIf(needsLib)('pool core: a handler that does not finish its reply', () => {
  it('POOL-CORE-005 a handler that throws fails its connection under the error\'s code, and the client sees the close', async () => {
    await using lab = await programmedServer();
    lab.plan(async (connection) => {
      await readLine(connection);
      throw Object.assign(new Error('handler broke'), { code: 'EBROKEN' });
    });
    await using client = await connectClient(lab.server.port);
    const peer = peerOf(client);
    await client.write('x\n');
    expect((await client.readToEnd()).length).toBe(0);
    await waitForValue(() => lab.server.stats().failed, 1, { what: 'failed connections' });
    expect(lab.server.stats()).toMatchObject({ completed: 0, errors: { EBROKEN: 1 }, active: 0 });
    expect(lab.log).toContain(`[ERROR] ${peer} - EBROKEN`);
  });

  it('POOL-CORE-006 a handler that returns without replying is a failure, not a completion, and its client is closed', async () => {
    await using lab = await programmedServer();
    lab.plan(async (connection) => {
      await readLine(connection);
    });
    await using client = await connectClient(lab.server.port);
    await client.write('x\n');
    expect((await client.readToEnd()).length).toBe(0);
    await waitForValue(() => lab.server.stats().failed, 1, { what: 'failed connections' });
    expect(lab.server.stats()).toMatchObject({ completed: 0, errors: { ENOREPLY: 1 } });
  });

  it('POOL-CORE-014 a pool with no log counts a failed connection all the same, and serves the next', async () => {
    await using lab = await programmedServer({ log: undefined });
    lab.plan(async (connection) => {
      await readLine(connection);
      throw Object.assign(new Error('handler broke'), { code: 'EBROKEN' });
    });
    await using failing = await connectClient(lab.server.port);
    await failing.write('x\n');
    expect((await failing.readToEnd()).length).toBe(0);
    await waitForValue(() => lab.server.stats().failed, 1, { what: 'failed connections' });
    await using next = await connectClient(lab.server.port);
    await next.write('y\n');
    expect(await next.readLine()).toBe('got y');
    expect(lab.log).toEqual([]);
    expect(lab.server.stats()).toMatchObject({ completed: 1, failed: 1, errors: { EBROKEN: 1 } });
  });
});

describe.skipIf(needsLib)('pool core: deadlines', () => {
  it('POOL-CORE-007 at the read deadline: the timeout reply, the connection kept until the client closes, a timeout and not a failure', async () => {
    const readDeadlineMs = scaled(100);
    await using lab = await programmedServer({ readDeadlineMs });
    const reason = planFailingRead(lab);
    await using client = await connectClient(lab.server.port);
    await client.write('hal');
    expect((await client.readToEnd()).toString()).toBe('too slow\n');
    // Half-closed, not cut: late bytes from the client are read and dropped until its FIN.
    expect(lab.server.stats()).toMatchObject({ open: 1, readTimeouts: 1, writeTimeouts: 0, timedOut: 1, failed: 0, errors: {} });
    expect(describeReason(reason())).toEqual({ name: 'ConnectionAborted', code: 'EREADTIMEOUT', message: 'read deadline passed' });
    expect(lab.log).toContain(`[TIMEOUT] ${peerOf(client)} request not read within ${readDeadlineMs}ms of accept`);
    await client.write('late\n');
    client.end();
    expect(await client.closed()).toMatchObject({ hadError: false });
    await waitForValue(() => lab.server.stats().open, 0, { what: 'open connections' });
  });

  it('POOL-CORE-008 at the write deadline: the handler\'s waits, reads and replies are aborted with EWRITETIMEOUT, a timeout and not a failure', async () => {
    const writeDeadlineMs = scaled(150);
    await using lab = await programmedServer({ writeDeadlineMs });
    const seen: Record<string, unknown> = {};
    const done = gate();
    lab.plan(async (connection) => {
      await readLine(connection);
      try {
        await connection.work(scaled(60_000)).catch((error: unknown) => {
          seen.work = error;
        });
        seen.read = await readLine(connection).catch((error: unknown) => error);
        seen.reply = await connection.reply('too late\n').catch((error: unknown) => error);
        seen.aborted = connection.signal.reason;
      } finally {
        done.open();
      }
      throw seen.aborted;
    });
    await using client = await connectClient(lab.server.port);
    const peer = peerOf(client);
    await client.write('x\n');
    await done.opened;
    expect(describeReason(seen.work)).toEqual({ name: 'ConnectionAborted', code: 'EWRITETIMEOUT', message: 'write deadline passed' });
    expect([seen.read, seen.reply]).toEqual([seen.aborted, seen.aborted]);
    expect(seen.work).toBe(seen.aborted);
    expect((await client.readToEnd()).length).toBe(0);
    await waitForValue(() => lab.server.stats().active, 0, { what: 'connections being handled' });
    expect(lab.server.stats()).toMatchObject({ writeTimeouts: 1, readTimeouts: 0, failed: 0, completed: 0, errors: {} });
    expect(lab.log).toContain(`[TIMEOUT] ${peer} reply not delivered within ${writeDeadlineMs}ms of accept`);
  });
});

describe.skipIf(needsLib)('pool core: admission and its log', () => {
  it('POOL-CORE-009 logs each accept, refusal and completion with the client, the busy counts and the time taken', async () => {
    await using lab = await programmedServer({ workers: 1, queue: 0 });
    const release = gate();
    lab.plan(async (connection) => {
      await readLine(connection);
      await release.opened;
      await connection.reply('ok\n');
    });
    const started = performance.now();
    await using first = await connectClient(lab.server.port);
    await first.write('x\n');
    await waitForValue(() => lab.server.stats().active, 1, { what: 'connections being handled' });
    await using refused = await connectClient(lab.server.port);
    expect((await refused.readToEnd()).toString()).toBe('busy\n');
    release.open();
    expect(await first.readLine()).toBe('ok');
    await waitForValue(() => lab.server.stats().completed, 1, { what: 'completed connections' });
    const tookMs = performance.now() - started;
    expect(lab.log.slice(0, 2)).toEqual([`[ACCEPT] ${peerOf(first)}`, `[REJECT] ${peerOf(refused)} - 1 busy, 0 queued`]);
    const done = /^\[DONE\] (\S+) in (\d+)ms$/.exec(lab.log[2]);
    expect(done?.[1]).toBe(peerOf(first));
    expect(Number(done?.[2])).toBeLessThanOrEqual(Math.ceil(tookMs));
    expect(lab.server.stats()).toMatchObject({ accepted: 1, rejected: 1, completed: 1, failed: 0, peakActive: 1, handlerGauge: 7 });
  });

  it('POOL-CORE-010 a client that gave up while queued is found out when a worker takes it (EENDED), and the next one is served', async () => {
    // A queued socket is not read (its bytes wait in the kernel), so its FIN is seen only by the worker that takes it.
    await using lab = await programmedServer({ workers: 1, queue: 2 });
    const release = gate();
    lab.plan(async (connection) => {
      await readLine(connection);
      await release.opened;
      await connection.reply('first\n');
    });
    await using first = await connectClient(lab.server.port);
    await first.write('x\n');
    await waitForValue(() => lab.server.stats().active, 1, { what: 'connections being handled' });
    const quitter = await connectClient(lab.server.port);
    await waitForValue(() => lab.server.stats().queued, 1, { what: 'queued connections' });
    await using next = await connectClient(lab.server.port);
    await next.write('y\n');
    await waitForValue(() => lab.server.stats().queued, 2, { what: 'queued connections' });
    quitter.destroy();
    release.open();
    expect([await first.readLine(), await next.readLine()]).toEqual(['first', 'got y']);
    await waitForValue(() => lab.server.stats().completed, 2, { what: 'completed connections' });
    expect(lab.server.stats()).toMatchObject({ rejected: 0, failed: 1, errors: { EENDED: 1 }, queued: 0 });
  });

  it('POOL-CORE-016 a deadline that ends a working connection leaves the queue as it was: the next in line is served by the freed worker', async () => {
    const writeDeadlineMs = scaled(300);
    await using lab = await programmedServer({ workers: 1, queue: 1, writeDeadlineMs });
    const worked = gate();
    lab.plan(async (connection) => {
      await readLine(connection);
      // Work a while before the next client comes, so its own deadline falls well after this one's.
      await connection.work(scaled(100));
      worked.open();
      await connection.work(scaled(60_000));
    });
    await using first = await connectClient(lab.server.port);
    await first.write('x\n');
    await worked.opened;
    await using queued = await connectClient(lab.server.port);
    await queued.write('y\n');
    await waitForValue(() => lab.server.stats().queued, 1, { what: 'queued connections' });
    expect((await first.readToEnd()).length).toBe(0);
    expect(await queued.readLine()).toBe('got y');
    expect(lab.server.stats()).toMatchObject({ writeTimeouts: 1, completed: 1, queued: 0 });
  });

  it('POOL-CORE-015 leaves a queued connection\'s request in the kernel until a worker takes it (its receive queue holds the bytes)', async () => {
    await using lab = await programmedServer({ workers: 1, queue: 1 });
    const release = gate();
    lab.plan(async (connection) => {
      await readLine(connection);
      await release.opened;
      await connection.reply('first\n');
    });
    try {
      await using first = await connectClient(lab.server.port);
      await first.write('x\n');
      await waitForValue(() => lab.server.stats().active, 1, { what: 'connections being handled' });
      await using queued = await connectClient(lab.server.port);
      await queued.write('queued request\n');
      await waitForValue(() => lab.server.stats().queued, 1, { what: 'queued connections' });
      // A server that read it would hold it in its own memory instead, for every queued client.
      const clientPort = queued.socket.localPort;
      await waitForValue(async () => (await readSocketTable({ port: lab.server.port })).find((e) => e.localPort === lab.server.port && e.remotePort === clientPort)?.rxQueue, 15, { what: "bytes of the queued request in the kernel's receive queue" });
      release.open();
      expect(await first.readLine()).toBe('first');
      expect(await queued.readLine()).toBe('got queued request');
    } finally {
      release.open();
    }
  });

  it('POOL-CORE-013 a queued connection whose write deadline passes is one timeout, not also a failure, and leaves the queue', async () => {
    await using lab = await programmedServer({ workers: 1, queue: 1, writeDeadlineMs: scaled(100) });
    const release = gate();
    lab.plan(async (connection) => {
      await readLine(connection);
      await release.opened;
      await connection.reply('first\n').catch(() => {});
    });
    try {
      await using first = await connectClient(lab.server.port);
      await first.write('x\n');
      await waitForValue(() => lab.server.stats().active, 1, { what: 'connections being handled' });
      await using queued = await connectClient(lab.server.port);
      await waitForValue(() => lab.server.stats().queued, 1, { what: 'queued connections' });
      expect((await queued.readToEnd()).length).toBe(0);
      await waitForValue(() => lab.server.stats().writeTimeouts, 2, { what: 'write deadline expiries (the working one and the queued one)' });
      expect(lab.server.stats()).toMatchObject({ queued: 0, failed: 0, errors: {} });
    } finally {
      release.open();
    }
  });
});

describe.skipIf(needsLib)('pool core: close()', () => {
  it('POOL-CORE-011 refuses new connections and tells queued ones it is busy at once, lets a working one finish within the grace, then calls the handler\'s close', async () => {
    const lab = await programmedServer({ workers: 1, queue: 1 });
    const release = gate();
    lab.plan(async (connection) => {
      await readLine(connection);
      await release.opened;
      await connection.reply('finished\n');
    });
    try {
      await using working = await connectClient(lab.server.port);
      await working.write('x\n');
      await waitForValue(() => lab.server.stats().active, 1, { what: 'connections being handled' });
      await using queued = await connectClient(lab.server.port);
      await waitForValue(() => lab.server.stats().queued, 1, { what: 'queued connections' });
      const closing = lab.server.close(scaled(10_000));
      expect((await queued.readToEnd()).toString()).toBe('busy\n');
      await expect(connectRefused(lab.server.port)).resolves.toBe('ECONNREFUSED');
      expect(lab.closes.count).toBe(0);
      release.open();
      expect((await working.readToEnd()).toString()).toBe('finished\n');
      working.end();
      await closing;
      expect(lab.server.stats()).toMatchObject({ open: 0, rejected: 1, completed: 1 });
      expect(lab.closes.count).toBe(1);
    } finally {
      release.open();
      await lab.server.close();
    }
  });

  it('POOL-CORE-012 cuts a connection still working when the grace is over', async () => {
    // Deadlines far past the spec's timeout: only close() can end the working connection in time.
    await using lab = await programmedServer({ readDeadlineMs: scaled(120_000), writeDeadlineMs: scaled(120_000) });
    lab.plan(async (connection) => {
      await readLine(connection);
      await connection.work(scaled(60_000));
    });
    await using working = await connectClient(lab.server.port);
    await working.write('x\n');
    await waitForValue(() => lab.server.stats().active, 1, { what: 'connections being handled' });
    await lab.server.close(scaled(50));
    expect((await working.readToEnd()).length).toBe(0);
    await waitUntil(() => lab.server.stats(), (s) => s.open === 0 && s.active === 0, { what: 'open and active connections', expected: 'none' });
    expect(lab.closes.count).toBe(1);
  });
});

/** Connects to `port` and resolves with the error code the connection fails with (or 'connected'). */
function connectRefused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}
