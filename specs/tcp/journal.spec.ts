// The prime server's journal (`--journal FILE`) holds one JSON Lines record per request, with the
// message stored losslessly, and each record is written and synced before its reply is sent: a client
// that got a reply can be sure the record exists, even if the server is killed the next moment. Under
// concurrent load no record is lost, duplicated or interleaved, and the reader tolerates (and reports)
// the torn last line a crash can leave. These specs read the file, so they run against lib/ only.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { startPrimeServer } from '../../lib/tcp/prime-server.ts';
import { Journal, messageBytes, parseJournal, readJournal, type JournalReading } from '../../lib/tcp/journal.ts';
import { askPrime, runPrimeLoad } from '../../lib/tcp/prime-client.ts';
import { createBufferedJournalPrimeServer, createInterleavingPrimeServer, createReplyFirstPrimeServer, createWholeRecordPrimeServer } from '../../fixtures/pool-servers.ts';
import { startCliServer } from '../_harness/cli.ts';
import { tempDir } from '../_harness/files.ts';
import { libOnlyReason } from '../_harness/targets.ts';
import { scaled } from '../_harness/time.ts';

const needsLib = libOnlyReason('prime', 'the journal is a file the spec reads');

/**
 * Everything wrong with a journal, given what was sent and what came back: lines that do not parse,
 * repeated sequence numbers or messages, replies without their record or with a different one, and
 * (when `complete`) records missing for requests that were sent. Messages must be unique per request.
 */
function auditJournal(reading: JournalReading, sent: Buffer[], replies: Array<Buffer | undefined>, complete: boolean): string[] {
  const problems: string[] = [];
  if (reading.corrupt.length > 0) problems.push(`${reading.corrupt.length} complete lines are not records, e.g. ${JSON.stringify(reading.corrupt[0].text.slice(0, 80))}`);
  const seqs = new Set(reading.records.map((r) => r.seq));
  if (seqs.size !== reading.records.length) problems.push(`${reading.records.length - seqs.size} repeated seq numbers`);
  const byMessage = new Map<string, string[]>();
  for (const record of reading.records) {
    const key = messageBytes(record).toString('base64');
    byMessage.set(key, [...(byMessage.get(key) ?? []), record.reply]);
  }
  const duplicated = [...byMessage.values()].filter((r) => r.length > 1).length;
  if (duplicated > 0) problems.push(`${duplicated} messages recorded more than once`);
  let missing = 0;
  let mismatched = 0;
  sent.forEach((message, i) => {
    const recorded = byMessage.get(message.toString('base64'));
    const reply = replies[i];
    if (!recorded) {
      if (reply || complete) missing++;
    } else if (reply && recorded[0] !== reply.toString('utf8')) mismatched++;
  });
  if (missing > 0) problems.push(`${missing} requests have no record`);
  if (mismatched > 0) problems.push(`${mismatched} records differ from the reply their client got`);
  return problems;
}

const lineMessage = (i: number): Buffer => Buffer.from(`request ${i} ${'a'.repeat(i % 5)}`);

describe.skipIf(needsLib)('journal: what a record holds', () => {
  it('TCP-JOURNAL-001 writes one record per request with time, client, message, count, result and reply', async () => {
    await using dir = await tempDir();
    await using server = await startPrimeServer({ journalPath: dir.file('journal.jsonl') });
    const reply = await askPrime({ port: server.port, message: 'abc1a\n' });
    const { records, corrupt, tornTail } = await readJournal(dir.file('journal.jsonl'));
    expect({ corrupt, tornTail }).toEqual({ corrupt: [], tornTail: undefined });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ seq: 1, message: 'abc1a', count: 2, result: 'sí', reply: reply.toString('utf8') });
    expect(records[0].client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Date.now() - Date.parse(records[0].time)).toBeLessThan(scaled(60_000));
  });

  it('TCP-JOURNAL-002 stores messages with newlines, `|`, quotes and invalid bytes losslessly, and error replies too', async () => {
    await using dir = await tempDir();
    await using server = await startPrimeServer({ journalPath: dir.file('journal.jsonl'), framing: 'eof' });
    const messages = [
      Buffer.from('two\nlines\n'),
      Buffer.from('2024-01-01 | 127.0.0.9 | a | 1 | no'),
      Buffer.from('"quoted" \'single\' \\back\\slash'),
      Buffer.from([0x61, 0xff, 0xfe, 0x00, 0x61]),
      Buffer.from(''),
    ];
    for (const message of messages) await askPrime({ port: server.port, message });
    const { records, corrupt } = await readJournal(dir.file('journal.jsonl'));
    expect(corrupt).toEqual([]);
    expect(records.map((r) => messageBytes(r))).toEqual(messages);
    expect(records.map((r) => r.reply)).toEqual(['2 sí\n', '1 no\n', '1 no\n', 'ERR message is not valid UTF-8\n', 'ERR empty message\n']);
    expect(records[3]).toMatchObject({ message: null, count: null, result: 'error' });
  });
});

describe.skipIf(needsLib)('journal: nothing lost, duplicated or interleaved', () => {
  it('TCP-JOURNAL-010 1,000 concurrent requests leave exactly 1,000 records that match the replies, with syncs shared', async () => {
    await using dir = await tempDir();
    await using server = await startPrimeServer({ journalPath: dir.file('journal.jsonl'), queue: 1000 });
    const sent = Array.from({ length: 1000 }, (_, i) => lineMessage(i));
    const load = await runPrimeLoad({ port: server.port, requests: 1000, concurrency: 1000, message: (i) => Buffer.concat([sent[i], Buffer.from('\n')]), timeoutMs: scaled(15_000) });
    expect({ answered: load.answered, errors: load.errors }).toEqual({ answered: 1000, errors: {} });
    const reading = await readJournal(dir.file('journal.jsonl'));
    expect(auditJournal(reading, sent, load.replies, true)).toEqual([]);
    expect(reading.records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    const journal = server.stats().journal!;
    expect(journal.records).toBe(1000);
    // Group commit: records that arrive during a sync share the next one.
    expect(journal.batches).toBeLessThan(1000);
  });

  /** 300 concurrent requests to `server`; what the audit finds wrong with the journal they leave. */
  async function auditConcurrentRequests(port: number, file: string): Promise<string[]> {
    const sent = Array.from({ length: 300 }, (_, i) => lineMessage(i));
    const load = await runPrimeLoad({ port, requests: 300, concurrency: 300, message: (i) => Buffer.concat([sent[i], Buffer.from('\n')]), timeoutMs: scaled(15_000) });
    expect(load.answered).toBe(300);
    return auditJournal(await readJournal(file), sent, load.replies, true);
  }

  it('TCP-JOURNAL-011 the same checks catch a server that writes each record in two unsynchronized appends, and pass it when it writes each in one', async () => {
    await using dir = await tempDir();
    // The fixture numbers its records in order like lib/: only the interleaving can be caught.
    await using broken = await createInterleavingPrimeServer(dir.file('broken.jsonl'));
    const problems = await auditConcurrentRequests(broken.port, dir.file('broken.jsonl'));
    expect(problems.join('; ')).toMatch(/complete lines are not records/);
    await using whole = await createWholeRecordPrimeServer(dir.file('whole.jsonl'));
    expect(await auditConcurrentRequests(whole.port, dir.file('whole.jsonl'))).toEqual([]);
  });

  /** Makes 200 requests; on each reply, looks in the file for its record. Returns those not there yet. */
  async function recordsAbsentOnReply(port: number, file: string): Promise<number[]> {
    const sent = Array.from({ length: 200 }, (_, i) => lineMessage(i));
    const absent: number[] = [];
    const load = await runPrimeLoad({
      port,
      requests: 200,
      concurrency: 50,
      message: (i) => Buffer.concat([sent[i], Buffer.from('\n')]),
      onReply: (i) => {
        const now = parseJournal(readFileSync(file));
        if (!now.records.some((r) => r.message === sent[i].toString())) absent.push(i);
      },
    });
    expect(load.answered).toBe(200);
    return absent;
  }

  it('TCP-JOURNAL-012 a client that gets its reply finds its record already in the file', async () => {
    await using dir = await tempDir();
    await using server = await startPrimeServer({ journalPath: dir.file('journal.jsonl') });
    expect(await recordsAbsentOnReply(server.port, dir.file('journal.jsonl'))).toEqual([]);
  });

  it('TCP-JOURNAL-013 the same check catches a server that buffers its records and writes them on a timer', async () => {
    await using dir = await tempDir();
    await writeFile(dir.file('journal.jsonl'), '');
    await using broken = await createBufferedJournalPrimeServer(dir.file('journal.jsonl'), scaled(1000));
    expect((await recordsAbsentOnReply(broken.port, dir.file('journal.jsonl'))).length).toBeGreaterThan(0);
  });

  it('TCP-JOURNAL-014 the same check catches a server that sends the reply first and appends the record after it', async () => {
    await using dir = await tempDir();
    await writeFile(dir.file('journal.jsonl'), '');
    await using broken = await createReplyFirstPrimeServer(dir.file('journal.jsonl'));
    expect((await recordsAbsentOnReply(broken.port, dir.file('journal.jsonl'))).length).toBeGreaterThan(0);
  });
});

describe.skipIf(needsLib)('journal: crashes', () => {
  it('TCP-JOURNAL-020 after SIGKILL mid-load every reply a client received has its record and every complete line parses', async () => {
    await using dir = await tempDir();
    const file = dir.file('journal.jsonl');
    const args = ['prime-server', '--port', '0', '--journal', file, '--queue', '1000'];
    const sent = Array.from({ length: 4000 }, (_, i) => lineMessage(i));
    let killedAfter = 0;
    let load;
    {
      await using server = await startCliServer(args);
      let received = 0;
      load = await runPrimeLoad({
        port: server.port,
        requests: sent.length,
        concurrency: 50,
        message: (i) => Buffer.concat([sent[i], Buffer.from('\n')]),
        timeoutMs: scaled(5000),
        onReply: () => {
          if (++received === 300) {
            killedAfter = received;
            server.child.kill('SIGKILL');
          }
        },
      });
      expect((await server.child).signal).toBe('SIGKILL');
    }
    expect(killedAfter).toBe(300);
    expect(load.answered).toBeGreaterThanOrEqual(300);
    expect(load.answered).toBeLessThan(sent.length); // it really died mid-load
    const reading = await readJournal(file);
    expect(auditJournal(reading, sent, load.replies, false)).toEqual([]);
    expect(reading.records.length).toBeGreaterThanOrEqual(load.answered);

    // A restarted server drops a torn tail, if the crash left one, and continues the sequence.
    await using again = await startCliServer(args);
    expect((await askPrime({ port: again.port, message: 'after the crash\n' })).toString()).toBe('2 sí\n');
    const after = await readJournal(file);
    expect({ corrupt: after.corrupt, tornTail: after.tornTail }).toEqual({ corrupt: [], tornTail: undefined });
    expect(after.records.at(-1)).toMatchObject({ seq: Math.max(...reading.records.map((r) => r.seq)) + 1, message: 'after the crash' });
  }, scaled(40_000));
});

describe('journal: the reader', () => {
  const record = (seq: number): string => `${JSON.stringify({ seq, time: '2026-01-01T00:00:00.000Z', client: '127.0.0.1:1', message: 'aa', count: 2, result: 'sí', reply: '2 sí\n' })}\n`;

  it('TCP-JOURNAL-030 reads every complete record and reports a torn last line instead of failing', () => {
    const whole = record(1) + record(2);
    const torn = record(3).slice(0, 25);
    const reading = parseJournal(Buffer.from(whole + torn));
    expect(reading.records.map((r) => r.seq)).toEqual([1, 2]);
    expect(reading.tornTail).toEqual({ offset: Buffer.byteLength(whole), bytes: 25 });
    expect(reading.corrupt).toEqual([]);
  });

  it('TCP-JOURNAL-031 reports a complete line that is not a record rather than hiding it', () => {
    const reading = parseJournal(Buffer.from(record(1) + '{"seq": 2, "half\n' + record(3)));
    expect(reading.records.map((r) => r.seq)).toEqual([1, 3]);
    expect(reading.corrupt.map((c) => c.line)).toEqual([2]);
  });

  it.skipIf(needsLib)('TCP-JOURNAL-032 reopening a journal with a torn tail drops the tail and starts the next record on its own line', async () => {
    await using dir = await tempDir();
    const file = dir.file('journal.jsonl');
    await writeFile(file, record(1) + record(2));
    await appendFile(file, record(3).slice(0, 30));
    const journal = await Journal.open(file);
    expect(journal.stats().repairedBytes).toBe(30);
    await journal.append({ client: '127.0.0.1:2', message: 'b', count: 1, result: 'no', reply: '1 no\n' });
    await journal.close();
    const reading = parseJournal(await readFile(file));
    expect(reading.records.map((r) => [r.seq, r.message])).toEqual([[1, 'aa'], [2, 'aa'], [3, 'b']]);
    expect({ corrupt: reading.corrupt, tornTail: reading.tornTail }).toEqual({ corrupt: [], tornTail: undefined });
  });
  it('TCP-JOURNAL-033 refuses each field of a record that is missing or of the wrong type, and accepts each form the writer produces', () => {
    const good = { seq: 1, time: '2026-01-01T00:00:00.000Z', client: '127.0.0.1:1', message: 'aa', count: 2, result: 'sí', reply: '2 sí\n' };
    const wrong: Array<[string, unknown]> = [
      ['null', null],
      ['a number', 5],
      ['a string', 'record'],
      ['an array', [1]],
      ...Object.keys(good).map((field): [string, unknown] => [`no ${field}`, { ...good, [field]: undefined }]),
      ['seq as text', { ...good, seq: '1' }],
      ['seq not whole', { ...good, seq: 1.5 }],
      ['time a number', { ...good, time: 1 }],
      ['client a number', { ...good, client: 1 }],
      ['message a number', { ...good, message: 1 }],
      ['message a number beside its bytes', { ...good, message: 1, messageBase64: 'AA==' }],
      ['message null without its bytes', { ...good, message: null }],
      ['message null with bytes not text', { ...good, message: null, messageBase64: 1 }],
      ['count as text', { ...good, count: '2' }],
      ['count not whole', { ...good, count: 1.5 }],
      ['another result', { ...good, result: 'yes' }],
      ['reply a number', { ...good, reply: 1 }],
    ];
    const reading = parseJournal(Buffer.from(wrong.map(([, value]) => `${JSON.stringify(value)}\n`).join('')));
    expect(reading.records).toEqual([]);
    expect(reading.corrupt.map((c) => [wrong[c.line - 1][0], c.error])).toEqual(wrong.map(([name]) => [name, 'not a journal record']));

    const forms = [
      good,
      { ...good, result: 'no' },
      { ...good, message: 'x', count: null, result: 'error', reply: 'error: empty\n' },
      { ...good, message: null, messageBase64: Buffer.from([0xff, 0x0a]).toString('base64') },
    ];
    const accepted = parseJournal(Buffer.from(forms.map((f) => `${JSON.stringify(f)}\n`).join('')));
    expect(accepted.corrupt).toEqual([]);
    expect(accepted.records).toEqual(forms);
  });

  it('TCP-JOURNAL-034 gives a message its exact bytes, from messageBase64 when the text could not hold them', () => {
    const base = { seq: 1, time: '', client: '', count: null, result: 'error', reply: '' } as const;
    expect(messageBytes({ ...base, message: 'día|"x"' })).toEqual(Buffer.from('día|"x"'));
    expect(messageBytes({ ...base, message: null, messageBase64: Buffer.from([0xc3, 0x28, 0x0a]).toString('base64') })).toEqual(Buffer.from([0xc3, 0x28, 0x0a]));
    expect(messageBytes({ ...base, message: null })).toEqual(Buffer.alloc(0));
  });

  it('TCP-JOURNAL-035 shows at most the first 200 characters of a line that is not a record', () => {
    const reading = parseJournal(Buffer.from(`${'x'.repeat(300)}\n`));
    expect(reading.corrupt).toEqual([{ line: 1, text: 'x'.repeat(200), error: expect.any(String) }]);
  });
});

describe.skipIf(needsLib)('journal: reopening a file', () => {
  const record = (seq: number, message = 'aa'): string => `${JSON.stringify({ seq, time: '2026-01-01T00:00:00.000Z', client: '127.0.0.1:1', message, count: 2, result: 'sí', reply: '2 sí\n' })}\n`;
  const entry = { client: '127.0.0.1:2', message: 'b', count: 1, result: 'no', reply: '1 no\n' } as const;

  /** Opens `content` as a journal, appends one record, and returns what the file then holds. */
  async function reopen(content: string | Buffer): Promise<{ repairedBytes: number; seq: number; reading: JournalReading }> {
    await using dir = await tempDir();
    const file = dir.file('journal.jsonl');
    await writeFile(file, content);
    const journal = await Journal.open(file);
    const { seq } = await journal.append(entry);
    const { repairedBytes } = journal.stats();
    await journal.close();
    return { repairedBytes, seq, reading: parseJournal(await readFile(file)) };
  }

  it('TCP-JOURNAL-036 an empty file starts at seq 1 with nothing repaired', async () => {
    const { repairedBytes, seq, reading } = await reopen('');
    expect({ repairedBytes, seq, records: reading.records.length }).toEqual({ repairedBytes: 0, seq: 1, records: 1 });
  });

  it('TCP-JOURNAL-037 a file of a single record continues after it', async () => {
    expect((await reopen(record(7))).seq).toBe(8);
  });

  it('TCP-JOURNAL-038 a file that is all torn tail (no newline at all, longer than one read) is emptied and starts at seq 1', async () => {
    const { repairedBytes, seq, reading } = await reopen('y'.repeat(150 * 1024));
    expect({ repairedBytes, seq }).toEqual({ repairedBytes: 150 * 1024, seq: 1 });
    expect({ records: reading.records.map((r) => r.seq), corrupt: reading.corrupt, tornTail: reading.tornTail }).toEqual({ records: [1], corrupt: [], tornTail: undefined });
  });

  it('TCP-JOURNAL-039 a torn tail longer than one read is dropped whole, and the sequence continues before it', async () => {
    const { repairedBytes, seq, reading } = await reopen(record(1) + record(2) + 'z'.repeat(200 * 1024));
    expect({ repairedBytes, seq }).toEqual({ repairedBytes: 200 * 1024, seq: 3 });
    expect({ records: reading.records.map((r) => r.seq), corrupt: reading.corrupt }).toEqual({ records: [1, 2, 3], corrupt: [] });
  });

  it('TCP-JOURNAL-040 a last record longer than the read window still gives the sequence (no seq is used twice)', async () => {
    const { seq } = await reopen(record(1) + record(2, 'm'.repeat(600 * 1024)));
    expect(seq).toBe(3);
  });

  it('TCP-JOURNAL-041 complete lines after the last record that are not records (no seq, or a seq that is not a whole number) do not restart the sequence', async () => {
    const { seq } = await reopen(record(4) + '{"seq":"9"}\n' + '{"seq":2.5}\n' + '{"note":"not a record"}\n' + 'garbage\n\n');
    expect(seq).toBe(5);
  });

  it('TCP-JOURNAL-042 counts records, write rounds, the largest round and bytes; opening and closing leave no descriptor open', async () => {
    await using dir = await tempDir();
    const file = dir.file('journal.jsonl');
    const descriptors = (): number => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false; // closed while we looked
      }
    }).length;
    await writeFile(file, record(1));
    const journal = await Journal.open(file);
    // The first append starts a write alone; the two made while it runs share the next one.
    await Promise.all([journal.append(entry), journal.append(entry), journal.append(entry)]);
    const stats = journal.stats();
    await journal.close();
    const size = (await readFile(file)).length;
    expect(stats).toEqual({ records: 3, batches: 2, largestBatch: 2, bytes: size - Buffer.byteLength(record(1)), repairedBytes: 0 });
    expect(descriptors()).toBe(0);
  });

  it.skipIf(process.platform !== 'linux')('TCP-JOURNAL-043 a journal that cannot write refuses that record and every later one with the same error, naming the file', async () => {
    const journal = await Journal.open('/dev/full');
    const first = journal.append(entry).then(() => undefined, (error: unknown) => error);
    const queued = journal.append(entry).then(() => undefined, (error: unknown) => error);
    const failure = await first;
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/^journal \/dev\/full failed: ENOSPC/);
    expect((failure as Error).cause).toMatchObject({ code: 'ENOSPC' });
    expect(await queued).toBe(failure);
    await expect(journal.append(entry)).rejects.toBe(failure);
    expect(journal.stats()).toMatchObject({ records: 0, batches: 0, bytes: 0 });
    await journal.close();
  });
});
