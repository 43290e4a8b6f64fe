// The prime server reads one message (a line, or everything up to the client's FIN), replies
// `<count> <sí|no>\n` where count is how often the last character occurs in the message and the second
// word says whether that count is prime, then half-closes so a client reading to end of stream (as
// JMeter's TCP Sampler does) gets the whole reply. Bad messages get an `ERR` line, never silence.
// Judge another server with `connlab check prime --target HOST:PORT`, declaring its --max-message and
// --timeout; an error reply must be an `ERR ...` line (lib/'s exact wording is checked against lib/ only).
import { describe, expect, it } from 'vitest';
import { startPrimeTarget } from '../_harness/pool.ts';
import { connectClient } from '../_harness/wire.ts';
import { startCliServer } from '../_harness/cli.ts';
import { declared, declaredOr, externalTarget, libOnly } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';
import { askPrime } from '../../lib/tcp/prime-client.ts';

/** An error reply: lib/'s exact line, or from another server any one `ERR ...` line. */
const errLine = (libText: string): unknown => (externalTarget('prime') ? expect.stringMatching(/^ERR [^\n]*\n$/) : libText);

/** Sends each message (bytes as given) with a half-close, and returns the replies as text, in order. */
async function replies(port: number, host: string, messages: Array<string | Buffer>): Promise<string[]> {
  return Promise.all(messages.map(async (message) => (await askPrime({ host, port, message, timeoutMs: scaled(5000) })).toString('utf8')));
}

describe('prime server: replies', () => {
  it("TCP-PRIME-001 answers the prior art's JMeter plan, abc1a ... abc20a, with `2 sí` each and then ends the stream", async () => {
    await using server = await startPrimeTarget();
    const plan = Array.from({ length: 20 }, (_, i) => `abc${i + 1}a`);
    // Like JMeter's TCP Sampler: no FIN from the client, read until the server ends the stream.
    const got = await Promise.all(plan.map(async (message) => {
      await using client = await connectClient(server.port, server.host);
      await client.write(`${message}\n`);
      return (await client.readToEnd()).toString('utf8');
    }));
    expect(got).toEqual(plan.map(() => '2 sí\n'));
  });

  it('TCP-PRIME-002 counts the last character in code points and says whether the count is prime, for a table of messages', async () => {
    await using server = await startPrimeTarget();
    const table: Record<string, string> = {
      'a': '1 no',
      'aa': '2 sí',
      'aaa': '3 sí',
      'aaaa': '4 no',
      'abcab': '2 sí',
      'xyzzyz z z': '5 sí', // spaces are characters too; the last is `z`
      'ab ab ab ab ab ab ': '6 no',
      'ñandúñ': '2 sí', // two-byte characters count once each
      '🙂 and 🙂 and 🙂': '3 sí', // so do four-byte ones
      'a|"b"|\'a\'': '2 sí', // ends with `'`, which occurs twice; `|` and quotes are plain characters
      'x\r': '1 no', // CRLF: the \r belongs to the line ending
    };
    const messages = Object.keys(table);
    const got = await replies(server.port, server.host, messages.map((m) => `${m}\n`));
    expect(Object.fromEntries(messages.map((m, i) => [m, got[i]]))).toEqual(Object.fromEntries(messages.map((m) => [m, `${table[m]}\n`])));
  });

  it("TCP-PRIME-003 takes everything up to the client's FIN as the message when no newline comes", async () => {
    await using server = await startPrimeTarget();
    expect(await replies(server.port, server.host, ['abc1a', 'zz'])).toEqual(['2 sí\n', '2 sí\n']);
  });

  it('TCP-PRIME-004 answers an empty message and invalid UTF-8 with an ERR line, never silence', async () => {
    await using server = await startPrimeTarget();
    const got = await replies(server.port, server.host, ['\n', '', Buffer.from([0x61, 0xff, 0x61, 0x0a]), Buffer.from([0xc3, 0x28, 0x0a])]);
    expect(got).toEqual([errLine('ERR empty message\n'), errLine('ERR empty message\n'), errLine('ERR message is not valid UTF-8\n'), errLine('ERR message is not valid UTF-8\n')]);
  });

  it('TCP-PRIME-005 answers a message over --max-message with an ERR line without waiting for its end', async (ctx) => {
    const maxMessage = declared(ctx, 'prime', '--max-message', 100, 'the longest message the target accepts');
    await using server = await startPrimeTarget({ maxMessageBytes: maxMessage });
    await using client = await connectClient(server.port, server.host);
    await client.write('m'.repeat(Math.ceil(maxMessage * 1.5))); // no newline, no FIN
    expect((await client.readToEnd()).toString()).toEqual(errLine(`ERR message longer than ${maxMessage} bytes\n`));
  });

  it('TCP-PRIME-006 with framing eof keeps newlines in the message and counts across lines', async (ctx) => {
    libOnly(ctx, 'prime', "it switches lib/'s server to --framing eof");
    await using server = await startPrimeTarget({ framing: 'eof' });
    expect(await replies(server.port, server.host, ['a\nb\na', 'line\nline\n'])).toEqual(['2 sí\n', '2 sí\n']);
  });

  it('TCP-PRIME-007 answers a client that sends nothing with an ERR line at --timeout', { timeout: declaredOr('prime', '--timeout', scaled(200)) + scaled(20_000) }, async (ctx) => {
    const timeoutMs = declared(ctx, 'prime', '--timeout', scaled(200), 'how long the target waits for a complete message, from accept');
    await using server = await startPrimeTarget({ timeoutMs });
    await using client = await connectClient(server.port, server.host);
    const started = performance.now();
    expect((await client.readToEnd(timeoutMs + scaled(5000))).toString()).toEqual(errLine(`ERR timeout: no complete message within ${timeoutMs}ms\n`));
    expect(performance.now() - started).toBeGreaterThanOrEqual(timeoutMs - 5);
    if (server.stats) expect(server.stats()).toMatchObject({ readTimeouts: 1, active: 0 });
  });
});

describe('prime server: the command', () => {
  it('TCP-PRIME-010 `connlab prime-server` answers on the port it prints and stops cleanly on SIGTERM', async (ctx) => {
    libOnly(ctx, 'prime', "it runs lib/'s own `connlab prime-server`");
    await using server = await startCliServer(['prime-server', '--port', '0', '--workers', '2', '--queue', '5']);
    expect(await replies(server.port, server.host, ['abc1a\n'])).toEqual(['2 sí\n']);
    expect(await server.stop('SIGTERM')).toBe(0);
  });
});
