import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../src/source/line-splitter.js';

function feed(s: LineSplitter, ...chunks: (string | Buffer)[]): string[] {
  const out: string[] = [];
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c, (l) => out.push(l));
  return out;
}

describe('LineSplitter', () => {
  it('splits complete lines and tracks the committed offset', () => {
    const s = new LineSplitter(100);
    expect(feed(s, 'a\nbb\n')).toEqual(['a', 'bb']);
    expect(s.committed).toBe(105);
    expect(s.pendingBytes).toBe(0);
  });

  it('holds a partial line until its newline arrives', () => {
    const s = new LineSplitter();
    expect(feed(s, 'hel')).toEqual([]);
    expect(s.committed).toBe(0);
    expect(s.pendingBytes).toBe(3);
    expect(feed(s, 'lo', ' world\nnext')).toEqual(['hello world']);
    expect(s.committed).toBe(12);
    expect(s.pendingBytes).toBe(4);
  });

  it('strips one CR of a CRLF ending and keeps empty lines', () => {
    const s = new LineSplitter();
    expect(feed(s, 'a\r\n\r\nb\r', '\n\n')).toEqual(['a', '', 'b', '']);
    expect(s.committed).toBe(9);
  });

  it('decodes a multi-byte character split across chunks', () => {
    const bytes = Buffer.from('é→x\n');
    const s = new LineSplitter();
    expect(feed(s, bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3))).toEqual(['é→x']);
  });

  it('keeps the head of a line longer than the cap, delivers it at its newline, counts it, bounded', () => {
    const s = new LineSplitter(0, 16);
    const out = feed(s, 'short\n', 'x'.repeat(10), 'y'.repeat(10));
    expect(out).toEqual(['short']);
    expect(s.overlongLines).toBe(1);
    // Keep feeding a huge line in chunks: nothing is held beyond the cap, nothing delivered yet.
    for (let i = 0; i < 100; i++) feed(s, 'z'.repeat(1000));
    expect(s.overlongLines).toBe(1);
    expect(s.committed).toBe(6);
    expect(s.pendingBytes).toBe(20 + 100_000);
    expect(feed(s, 'zz\nok\n')).toEqual(['xxxxxxxxxxyyyyyy', 'ok']);
    expect(s.overlongLines).toBe(1);
    expect(s.committed).toBe(6 + 20 + 100_000 + 3 + 3);
    expect(s.pendingBytes).toBe(0);
  });

  it('keeps the head of an overlong line that arrives in one chunk with its newline', () => {
    const s = new LineSplitter(0, 8);
    expect(feed(s, '123456789\nabc\n12345678\n')).toEqual(['12345678', 'abc', '12345678']);
    expect(s.overlongLines).toBe(1);
    expect(s.committed).toBe(23);
  });

  it('crossing the cap exactly at a chunk end, or in the held part, gives the same head', () => {
    for (const chunks of [['abcdefgh', 'ijk\n'], ['abcd', 'efgh', 'i\n'], ['abcdefghijk\n'], ['abc', 'defghijk', '\n']]) {
      const s = new LineSplitter(0, 8);
      expect(feed(s, ...chunks, 'next\n'), chunks.join('|')).toEqual(['abcdefgh', 'next']);
      expect(s.overlongLines).toBe(1);
      expect(s.committed).toBe(chunks.join('').length + 5);
    }
  });

  it('never cuts a UTF-8 character in two at the head', () => {
    const s = new LineSplitter(0, 8);
    // 'aaaaaaa' + 'é' (2 bytes) crosses the cap at byte 8: the head stops before the é.
    expect(feed(s, 'aaaaaaaé tail\n', 'aaaaaa→x\n', 'aaaaa→x\n')).toEqual(['aaaaaaa', 'aaaaaa', 'aaaaa→']);
  });

  it('an Apache line padded with escaped quotes arrives whole, and a huge one as a head that still parses', async () => {
    const { createLineParser } = await import('../../../src/parse/line-parser.js');
    const p = createLineParser('auto');
    const head = '198.18.0.66 - - [10/Oct/2026:13:55:36 +0000] "GET /wp-login.php HTTP/1.1" 403 199 "-" "';
    const padded = `${head}${'\\"'.repeat(8190)}"`; // 16.5 kB, the old 16 KiB limit
    const huge = `${head}${'\\"'.repeat(400_000)}"`; // 800 kB, past any cap
    const s = new LineSplitter();
    const out = feed(s, `${padded}\n${huge}\n`);
    expect(out.length).toBe(2);
    expect(out[0]).toBe(padded);
    expect(out[1]!.length).toBeLessThanOrEqual(256 * 1024);
    expect(huge.startsWith(out[1]!)).toBe(true);
    expect(s.overlongLines).toBe(1);
    for (const l of out) expect(p(l)).toMatchObject({ ip: '198.18.0.66', status: 403 });
  });

  it('flushPartial hands over the head of an overlong partial line', () => {
    const s = new LineSplitter(0, 4);
    feed(s, 'ab', 'cdefg');
    const out: string[] = [];
    s.flushPartial((l) => out.push(l));
    expect(out).toEqual(['abcd']);
    expect(s.committed).toBe(7);
    expect(s.overlongLines).toBe(1);
    expect(feed(s, 'x\n')).toEqual(['x']);
  });

  it('flushPartial hands over the held bytes and reset forgets them', () => {
    const s = new LineSplitter(10);
    feed(s, 'tail');
    const out: string[] = [];
    s.flushPartial((l) => out.push(l));
    expect(out).toEqual(['tail']);
    expect(s.committed).toBe(14);
    feed(s, 'junk');
    s.reset(0);
    expect(s.pendingBytes).toBe(0);
    expect(feed(s, 'new\n')).toEqual(['new']);
    expect(s.committed).toBe(4);
  });

  it('discardPartial: the rest of a line begun before the start is dropped, across chunks, and committed moves past it', () => {
    const s = new LineSplitter(100);
    s.discardPartial();
    const lines: string[] = [];
    s.push(Buffer.from('rest of a'), (l) => lines.push(l));
    expect(s.committed).toBe(100);
    expect(s.pendingBytes).toBe(9);
    s.push(Buffer.from(' line\n198.18.0.1 x\n'), (l) => lines.push(l));
    expect(lines).toEqual(['198.18.0.1 x']);
    expect(s.committed).toBe(100 + 15 + 13);
    expect(s.pendingBytes).toBe(0);
    // Only up to the first newline: the next partial line is held as usual.
    s.push(Buffer.from('198.18.0.2'), (l) => lines.push(l));
    s.flushPartial((l) => lines.push(l));
    expect(lines).toEqual(['198.18.0.1 x', '198.18.0.2']);
  });

  it('discardPartial: a flush while still discarding drops the rest instead of delivering it', () => {
    const s = new LineSplitter(0);
    s.discardPartial();
    const lines: string[] = [];
    s.push(Buffer.from('198.18.7.7 - - forged'), (l) => lines.push(l));
    s.flushPartial((l) => lines.push(l));
    expect(lines).toEqual([]);
    expect(s.committed).toBe(21);
    s.push(Buffer.from('next\n'), (l) => lines.push(l));
    expect(lines).toEqual(['next']);
  });
});
