// Line framing over a byte stream. Lines are Buffers, never strings, so invalid UTF-8 passes through
// untouched; a line is complete at `\n`, and a `\r` just before it is dropped. However the bytes were
// split or coalesced by TCP, the same lines come out in the same order.

export type LineEvent = { line: Buffer } | { overflow: number };

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLength = 0;

  /**
   * `maxLength` bounds a line's bytes (without its terminator); past it, push() reports overflow.
   * With `reusedInput`, the caller's chunks are overwritten after push() returns (a socket's `onread`
   * buffer): the partial line kept for later is copied, and the lines returned are valid only until
   * the next read.
   */
  constructor(
    private readonly maxLength = 64 * 1024,
    private readonly options: { reusedInput?: boolean } = {},
  ) {}

  /** Bytes held that do not yet form a complete line. */
  get buffered(): number {
    return this.pendingLength;
  }

  /**
   * Feeds a chunk and returns the complete lines it finished. An `{ overflow }` event (the length
   * seen so far) means the current line passed maxLength: the splitter drops the rest of the chunk
   * and what it held, and the caller decides what to do with the stream.
   */
  push(chunk: Buffer): LineEvent[] {
    const events: LineEvent[] = [];
    const overflow = this.each(chunk, (bytes, start, end) => {
      events.push({ line: bytes.subarray(start, end) });
    });
    if (overflow !== -1) events.push({ overflow });
    return events;
  }

  /**
   * Feeds a chunk and calls `onLine` with each complete line as `bytes[start, end)`, without
   * allocating for lines that lie whole in the chunk (the hot path of a busy connection). Returns -1,
   * or the length of a line that passed maxLength (the splitter stops there, as push() does).
   */
  each(chunk: Buffer, onLine: (bytes: Buffer, start: number, end: number) => void): number {
    let start = 0;
    // Stryker disable next-line EqualityOperator: at start === length the pass keeps an empty tail, which changes nothing.
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      const rawLength = this.pendingLength + (end - start);
      // One byte of slack: the last byte may be the `\r` of a CRLF, which is not part of the line.
      if (rawLength > this.maxLength + 1) return this.overflow(rawLength);
      if (newline === -1) {
        this.pending.push(this.options.reusedInput ? Buffer.from(chunk.subarray(start)) : chunk.subarray(start));
        this.pendingLength = rawLength;
        break;
      }
      let bytes = chunk;
      let from = start;
      let to = end;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: with nothing held the copy gives the same bytes; skipping it is only faster.
      if (this.pendingLength > 0) {
        bytes = Buffer.concat([...this.pending, chunk.subarray(start, end)]);
        from = 0;
        to = bytes.length;
        this.reset();
      }
      // An empty line has its `\n` (or nothing) just before it, never a `\r`.
      if (bytes[to - 1] === 0x0d) to--;
      if (to - from > this.maxLength) return this.overflow(to - from);
      onLine(bytes, from, to);
      start = newline + 1;
    }
    return -1;
  }

  /** What is left when the stream ends: an unterminated last line, if any. */
  flush(): Buffer | undefined {
    if (this.pendingLength === 0) return undefined;
    const rest = Buffer.concat(this.pending);
    this.reset();
    return rest;
  }

  private overflow(length: number): number {
    this.reset();
    return length;
  }

  private reset(): void {
    this.pending = [];
    this.pendingLength = 0;
  }
}
