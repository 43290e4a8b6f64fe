// The prime server's journal: one JSON Lines record per request, durable before the reply is sent.
// append() resolves only once the record's bytes are durable (written with O_DSYNC, as good as an
// fdatasync after the write); records that arrive
// while a sync is running wait for the next one and share it (group commit), so a burst of N requests
// costs a few syncs, not N. One writer appends whole lines in order, so records are never lost,
// duplicated or interleaved. JSON strings keep newlines, `|` and quotes as they are; bytes that are not
// valid UTF-8 are kept exactly in `messageBase64`. readJournal() tolerates a torn last line (a crash
// in the middle of a write) and reports it; opening a journal drops such a tail, which no client was
// ever answered for, so new records start on a line of their own.
import { constants } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface JournalRecord {
  /** Position in the file, from 1; a restarted server continues after the last record. */
  seq: number;
  /** ISO 8601 time the request was answered. */
  time: string;
  /** `host:port` of the client. */
  client: string;
  /** The message as text; null when its bytes are not valid UTF-8 (then see messageBase64). */
  message: string | null;
  /** The message's exact bytes, present when they are not valid UTF-8. */
  messageBase64?: string;
  /** How often the last character occurs in the message; null for an error reply. */
  count: number | null;
  result: 'sí' | 'no' | 'error';
  /** The exact reply sent. */
  reply: string;
}

export type JournalEntry = Omit<JournalRecord, 'seq' | 'time'>;

export interface JournalStats {
  records: number;
  /** Write + sync rounds; records / batches is the group-commit factor. */
  batches: number;
  largestBatch: number;
  bytes: number;
  /** Bytes of a torn last line dropped when the journal was opened. */
  repairedBytes: number;
}

interface Pending {
  line: Buffer;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class Journal {
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private seq = 0;
  private readonly counters: JournalStats;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    repairedBytes: number,
    lastSeq: number,
  ) {
    this.seq = lastSeq;
    this.counters = { records: 0, batches: 0, largestBatch: 0, bytes: 0, repairedBytes };
  }

  /** Opens (or creates) a journal for appending, dropping a torn last line left by a crash. */
  static async open(file: string): Promise<Journal> {
    let repaired = 0;
    let lastSeq = 0;
    // Stryker disable next-line BlockStatement,ConditionalExpression: any other error of this open (EISDIR, EROFS, EACCES for root) the write-only open below meets too, and says the same
    const existing = await open(file, 'r+').catch((error: NodeJS.ErrnoException) => {
      // Stryker disable next-line ConditionalExpression: as above
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (existing) {
      try {
        const { size } = await existing.stat();
        repaired = await tornTailLength(existing, size);
        const kept = size - repaired;
        // Stryker disable next-line ConditionalExpression,EqualityOperator: truncating to the same size changes nothing; the test saves a sync
        if (repaired > 0) {
          await existing.truncate(kept);
          await existing.datasync();
        }
        lastSeq = await lastRecordSeq(existing, kept);
      } finally {
        await existing.close();
      }
    }
    // O_DSYNC: each write returns only once its bytes are durable, as write + fdatasync would, in one
    // system call, so a batch costs one trip to the thread pool instead of two.
    const handle = await open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC, 0o644);
    // Stryker disable next-line all: a directory's sync shows only after a power loss
    if (!existing) await syncDirectory(path.dirname(path.resolve(file)));
    return new Journal(file, handle, repaired, lastSeq);
  }

  /** Appends a record and resolves with it once it is on disk. */
  append(entry: JournalEntry): Promise<JournalRecord> {
    if (this.failure) return Promise.reject(this.failure);
    const record: JournalRecord = { seq: ++this.seq, time: new Date().toISOString(), ...entry };
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    return new Promise<JournalRecord>((resolve, reject) => {
      this.pending.push({ line, resolve: () => resolve(record), reject });
      this.flushing ??= this.flush();
    });
  }

  stats(): JournalStats {
    return { ...this.counters };
  }

  /** Waits for pending records, then closes the file. */
  async close(): Promise<void> {
    await this.flushing;
    await this.handle.close();
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      const bytes = Buffer.concat(batch.map((p) => p.line));
      try {
        let written = 0;
        while (written < bytes.length) {
          // Stryker disable next-line ArithmeticOperator: the first write starts at 0, and a regular file takes it whole
          const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written);
          written += bytesWritten;
        }
      } catch (error) {
        // A journal that cannot write must not let replies through: fail this batch and every later append.
        this.failure = new Error(`journal ${this.file} failed: ${(error as Error).message}`, { cause: error });
        for (const p of [...batch, ...this.pending.splice(0)]) p.reject(this.failure);
        break;
      }
      this.counters.records += batch.length;
      this.counters.batches++;
      this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
      this.counters.bytes += bytes.length;
      for (const p of batch) p.resolve();
    }
    this.flushing = undefined;
  }
}

/** Bytes after the last newline: the torn record a crash may leave. */
async function tornTailLength(handle: FileHandle, size: number): Promise<number> {
  const buffer = Buffer.alloc(64 * 1024);
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - buffer.length);
    const { bytesRead } = await handle.read(buffer, 0, end - start, start);
    const newline = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline !== -1) return size - (start + newline + 1);
    end = start;
  }
  return size;
}

/**
 * The seq of the last complete record in the first `end` bytes, so a restarted server continues the
 * sequence; 0 if none. Reads backwards in growing windows: a record can be longer than any one window.
 */
async function lastRecordSeq(handle: FileHandle, end: number): Promise<number> {
  // Stryker disable next-line ArithmeticOperator: the first window's size changes only how many reads it takes
  for (let window = 256 * 1024; ; window *= 4) {
    const start = Math.max(0, end - window);
    // Stryker disable next-line ArithmeticOperator: `end` is the end of the file, so a longer read stops there too
    const buffer = Buffer.alloc(end - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    // A window may begin inside a record; that piece of a JSON object line never parses as an object.
    const lines = buffer.subarray(0, bytesRead).toString('utf8').split('\n').reverse();
    for (const line of lines) {
      const seq = seqOf(line);
      if (seq !== undefined) return seq;
    }
    if (start === 0) return 0;
  }
}

/** The seq of a line that is a JSON object with an integer seq. */
function seqOf(line: string): number | undefined {
  try {
    const { seq } = JSON.parse(line) as { seq?: unknown };
    if (Number.isInteger(seq)) return seq as number;
  } catch {
    // not JSON (an empty line, or a line that is not a record), or `null`
  }
  return undefined;
}

// Stryker disable all: a directory's sync shows only after a power loss
/** Makes a newly created file's directory entry durable too. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse to sync a directory; the file's own data is still synced.
  }
}
// Stryker restore all

export interface JournalReading {
  records: JournalRecord[];
  /** A last line without its newline: the write a crash cut short. Never a record anyone was answered for. */
  tornTail?: { offset: number; bytes: number };
  /** Complete lines that are not records (should never happen; reported, not hidden). */
  corrupt: Array<{ line: number; text: string; error: string }>;
}

/** Reads a journal, tolerating and reporting a torn last line. */
export async function readJournal(file: string): Promise<JournalReading> {
  return parseJournal(await readFile(file));
}

export function parseJournal(bytes: Buffer): JournalReading {
  const reading: JournalReading = { records: [], corrupt: [] };
  let start = 0;
  let lineNumber = 0;
  while (start < bytes.length) {
    const newline = bytes.indexOf(0x0a, start);
    if (newline === -1) {
      reading.tornTail = { offset: start, bytes: bytes.length - start };
      break;
    }
    lineNumber++;
    const text = bytes.subarray(start, newline).toString('utf8');
    try {
      reading.records.push(asRecord(JSON.parse(text)));
    } catch (error) {
      reading.corrupt.push({ line: lineNumber, text: text.slice(0, 200), error: (error as Error).message });
    }
    start = newline + 1;
  }
  return reading;
}

/** The exact bytes of a record's message. */
export function messageBytes(record: JournalRecord): Buffer {
  return record.messageBase64 !== undefined ? Buffer.from(record.messageBase64, 'base64') : Buffer.from(record.message ?? '');
}

function asRecord(value: unknown): JournalRecord {
  const r = value as JournalRecord;
  const ok =
    r !== null &&
    Number.isInteger(r.seq) &&
    typeof r.time === 'string' &&
    typeof r.client === 'string' &&
    (typeof r.message === 'string' || (r.message === null && typeof r.messageBase64 === 'string')) &&
    (r.count === null || Number.isInteger(r.count)) &&
    (r.result === 'sí' || r.result === 'no' || r.result === 'error') &&
    typeof r.reply === 'string';
  if (!ok) throw new Error('not a journal record');
  return r;
}
