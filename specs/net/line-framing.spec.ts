// Line framing, the piece the ack server and the load client read every byte through, exported from
// lib/index.ts as LineSplitter: lines end at `\n` with one `\r` before it dropped, come out the same
// however the bytes were split, and are bounded by a length past which the splitter reports an
// overflow as soon as it sees one, terminated or not, and then holds nothing. These specs judge
// lib/'s splitter from code; the ack family judges the same behavior over the wire.
import { describe, expect, it } from 'vitest';
import { LineSplitter, type LineEvent } from '../../lib/index.ts';

/** What a splitter gives for these chunks, as text: each line, or `overflow N`. */
function split(chunks: Array<string | Buffer>, maxLength?: number): string[] {
  const splitter = new LineSplitter(maxLength);
  const show = (event: LineEvent): string => ('line' in event ? event.line.toString('latin1') : `overflow ${event.overflow}`);
  return chunks.flatMap((chunk) => splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'latin1')).map(show));
}

describe('line framing', () => {
  it('LINES-001 gives the same lines however the bytes are split: at every point, and one byte at a time', () => {
    const text = 'one\r\ntwo\n\nthree\r\r\nfour\n';
    const expected = ['one', 'two', '', 'three\r', 'four'];
    for (let at = 0; at <= text.length; at++) expect(split([text.slice(0, at), text.slice(at)]), `split at ${at}`).toEqual(expected);
    expect(split([...text])).toEqual(expected);
  });

  it('LINES-002 takes a line of exactly the limit, ended by LF or by CRLF, also after another line in the same chunk', () => {
    const line = 'x'.repeat(8);
    expect(split([`${line}\n`], 8)).toEqual([line]);
    expect(split([`${line}\r\n`], 8)).toEqual([line]);
    expect(split([`ab\n${line}\r\n`], 8)).toEqual(['ab', line]);
    expect(split([`${line}\r`, '\n'], 8)).toEqual([line]);
  });

  it('LINES-003 reports a line one byte over the limit as an overflow of its length, also after another line in the same chunk', () => {
    expect(split([`${'x'.repeat(9)}\n`], 8)).toEqual(['overflow 9']);
    expect(split([`ab\n${'x'.repeat(9)}\n`], 8)).toEqual(['ab', 'overflow 9']);
    expect(split(['x'.repeat(5), `${'x'.repeat(4)}\n`], 8)).toEqual(['overflow 9']);
    // With its `\r` it is limit + 2 bytes, over at once (LINES-004).
    expect(split([`${'x'.repeat(9)}\r\n`], 8)).toEqual(['overflow 10']);
  });

  it('LINES-004 reports an unterminated line as soon as it passes the limit and a `\\r` (limit + 2 bytes), without waiting for its `\\n`', () => {
    const splitter = new LineSplitter(8);
    // Limit + 1 may still be a line and its `\r`: held.
    expect(splitter.push(Buffer.from('x'.repeat(9)))).toEqual([]);
    expect(splitter.buffered).toBe(9);
    expect(splitter.push(Buffer.from('x'))).toEqual([{ overflow: 10 }]);
  });

  it('LINES-005 holds nothing after an overflow: the rest of that chunk is dropped and the next chunk starts a new line', () => {
    const splitter = new LineSplitter(4);
    splitter.push(Buffer.from('abc'));
    expect(splitter.push(Buffer.from('defg\nkept?\n'))).toEqual([{ overflow: 7 }]);
    expect(splitter.buffered).toBe(0);
    expect(splitter.flush()).toBeUndefined();
    expect(splitter.push(Buffer.from('new\n')).map((e) => ('line' in e ? e.line.toString() : e))).toEqual(['new']);
  });

  it('LINES-006 counts the bytes it holds of an unfinished line and gives them up once at the end of the stream', () => {
    const splitter = new LineSplitter();
    expect(splitter.flush()).toBeUndefined();
    splitter.push(Buffer.from('done\npart'));
    splitter.push(Buffer.from('ial'));
    expect(splitter.buffered).toBe(7);
    expect(splitter.flush()?.toString()).toBe('partial');
    expect(splitter.buffered).toBe(0);
    expect(splitter.flush()).toBeUndefined();
  });

  it('LINES-007 keeps its own copy of a partial line when the caller reuses its read buffer (reusedInput)', () => {
    const splitter = new LineSplitter(64, { reusedInput: true });
    const buffer = Buffer.from('hello');
    splitter.push(buffer);
    buffer.fill('z');
    const events = splitter.push(Buffer.from(' world\n'));
    expect(events.map((e) => ('line' in e ? e.line.toString() : e))).toEqual(['hello world']);
  });

  it('LINES-008 passes bytes that are not UTF-8 through untouched', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x0a]);
    const [event] = new LineSplitter().push(bytes);
    expect('line' in event && [...event.line]).toEqual([0xff, 0xfe, 0x00, 0xc3]);
  });
});
