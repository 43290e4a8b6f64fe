// A load run with no reply timeout (--reply-timeout 0) waits for every ack as long as it takes while it
// sends; at its end it still must end. An open-loop run's schedule is over when its window ends, and it
// waits for the last acks at most END_WAIT_WITHOUT_TIMEOUT_MS, then counts the rest missing. Its own
// file, apart from the load client's latency specs: this one mostly waits.
import { describe, expect, it } from 'vitest';
import { END_WAIT_WITHOUT_TIMEOUT_MS, runLoad } from '../../lib/load/load-client.ts';
import { createSwallowingServer } from '../../fixtures/servers.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';

const needsLib = libOnlyReason('load', "judges the load client's own end of a run, against a local server");

describe.skipIf(needsLib)('load client: the end of a run without a reply timeout', () => {
  it('LOAD-040 in open loop with a reply timeout of 0, waits 5 s for the last acks of a server that reads and never answers, then counts them missing', async () => {
    await using server = await createSwallowingServer();
    const result = await runLoad({ host: server.host, port: server.port, clients: 1, staggerMs: 0, messagesPerClient: 2, rate: 100, replyTimeoutMs: 0 });
    expect(END_WAIT_WITHOUT_TIMEOUT_MS).toBe(5000);
    expect(result.messages).toMatchObject({ sent: 2, acked: 0, missing: 2 });
    expect(result.ok).toBe(false);
    // The schedule (10 ms), then the wait; the server closes at our FIN, so the client's own end is quick.
    expect(result.durationMs).toBeGreaterThanOrEqual(END_WAIT_WITHOUT_TIMEOUT_MS);
    expect(result.durationMs).toBeLessThan(END_WAIT_WITHOUT_TIMEOUT_MS + scaled(2000));
  }, 20_000 + END_WAIT_WITHOUT_TIMEOUT_MS);
});
