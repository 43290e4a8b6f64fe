// The prime server: the pool core with the prior art's port-5050 handler. A message is one line (or,
// with framing `eof`, everything up to the client's FIN; with `line`, a FIN also ends it). The reply
// is `<count> <sí|no>\n`: how often the message's last character occurs in it, and whether that count
// is prime. Then the server half-closes, so a client reading to end of stream (JMeter's TCP Sampler)
// gets the whole reply. An empty message, invalid UTF-8 or an overlong message gets an `ERR ...` line,
// never silence. With a journal, every request's record is durable before its reply is sent.
import { PRIME_DEFAULTS, validatePrimeServerOptions, type PrimeFraming, type PrimeServerOptions } from './options.ts';
import { startPoolServer, type PoolConnection, type PoolHandler, type PoolServer, type PoolStats } from './pool.ts';

export type { PrimeServerOptions };
import { Journal, type JournalEntry, type JournalStats } from './journal.ts';

export interface PrimeServerStats extends PoolStats {
  /** Replies of the form `<count> <sí|no>`. */
  answered: number;
  /** `ERR ...` replies to bad messages. */
  errorReplies: number;
  /** Requests refused because the journal could not write. */
  journalFailures: number;
  journal?: JournalStats;
}

export interface PrimeServer extends PoolServer {
  stats(): PrimeServerStats;
  readonly journal?: Journal;
}

export interface PrimeAnswer {
  count: number;
  prime: boolean;
  reply: string;
}

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The reply to one message, or an `ERR` line. Characters are Unicode code points. */
export function answer(message: Buffer, maxMessageBytes = PRIME_DEFAULTS.maxMessageBytes): PrimeAnswer | { error: string } {
  if (message.length > maxMessageBytes) return { error: `ERR message longer than ${maxMessageBytes} bytes\n` };
  if (message.length === 0) return { error: 'ERR empty message\n' };
  let text: string;
  try {
    text = utf8.decode(message);
  } catch {
    return { error: 'ERR message is not valid UTF-8\n' };
  }
  const characters = [...text];
  const last = characters[characters.length - 1];
  const count = characters.filter((c) => c === last).length;
  const prime = isPrime(count);
  return { count, prime, reply: `${count} ${prime ? 'sí' : 'no'}\n` };
}

/** Splits the message off the bytes read so far, or undefined to read more. */
export function frameMessage(bytes: Buffer, ended: boolean, framing: PrimeFraming, maxMessageBytes: number): Buffer | undefined {
  if (framing === 'line') {
    const newline = bytes.indexOf(0x0a);
    if (newline !== -1) {
      const end = newline > 0 && bytes[newline - 1] === 0x0d ? newline - 1 : newline;
      return bytes.subarray(0, end);
    }
  }
  if (ended) return bytes;
  // Too long already: stop reading and let answer() say so (one byte over is enough to tell).
  if (bytes.length > maxMessageBytes + 1) return bytes.subarray(0, maxMessageBytes + 1);
  return undefined;
}

/** The prime handler: frames a message, answers it, and journals it durably before the reply. */
class PrimeHandler implements PoolHandler {
  private readonly counts = { answered: 0, errorReplies: 0, journalFailures: 0 };

  constructor(
    private readonly config: typeof PRIME_DEFAULTS,
    readonly journal: Journal | undefined,
  ) {}

  async serve(connection: PoolConnection): Promise<void> {
    const { framing, maxMessageBytes } = this.config;
    const message = await connection.readRequest((bytes, ended) => frameMessage(bytes, ended, framing, maxMessageBytes));
    const result = answer(message, maxMessageBytes);
    const reply = 'error' in result ? result.error : result.reply;
    if (this.journal) await this.record(connection, message, result, reply);
    await connection.reply(reply);
    if ('error' in result) this.counts.errorReplies++;
    else this.counts.answered++;
  }

  /** Appends the request's record; a journal that cannot write refuses the request instead of answering it. */
  private async record(connection: PoolConnection, message: Buffer, result: PrimeAnswer | { error: string }, reply: string): Promise<void> {
    const text = utf8Text(message);
    const entry: JournalEntry = {
      client: connection.peer,
      message: text ?? null,
      ...(text === undefined ? { messageBase64: message.toString('base64') } : {}),
      count: 'error' in result ? null : result.count,
      result: 'error' in result ? 'error' : result.prime ? 'sí' : 'no',
      reply,
    };
    try {
      await this.journal!.append(entry);
    } catch (error) {
      this.counts.journalFailures++;
      await connection.reply('ERR journal unavailable; request not recorded\n');
      throw error;
    }
  }

  busyReply(): string {
    return 'ERR busy: every worker is busy and the queue is full\n';
  }

  readTimeoutReply(): string {
    return `ERR timeout: no complete message within ${this.config.timeoutMs}ms\n`;
  }

  stats(): Omit<PrimeServerStats, keyof PoolStats> {
    return { ...this.counts, ...(this.journal ? { journal: this.journal.stats() } : {}) };
  }

  async close(): Promise<void> {
    await this.journal?.close();
  }
}

export async function startPrimeServer(options: PrimeServerOptions = {}): Promise<PrimeServer> {
  const config = validatePrimeServerOptions(options);
  const { timeoutMs: _timeout, journalPath, framing: _framing, maxMessageBytes: _max, ...poolOptions } = options;
  const journal = journalPath ? await Journal.open(journalPath) : undefined;
  const pool = { ...poolOptions, workers: config.workers, queue: config.queue, readDeadlineMs: config.timeoutMs, writeDeadlineMs: config.timeoutMs };
  try {
    const server = await startPoolServer(new PrimeHandler(config, journal), pool);
    return Object.assign(server, { journal }) as PrimeServer;
  } catch (error) {
    await journal?.close();
    throw error;
  }
}

function utf8Text(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
