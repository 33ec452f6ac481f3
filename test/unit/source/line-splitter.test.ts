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

  it('drops a line longer than the cap, counts it, and keeps memory bounded', () => {
    const s = new LineSplitter(0, 16);
    const out = feed(s, 'short\n', 'x'.repeat(10), 'y'.repeat(10));
    expect(out).toEqual(['short']);
    expect(s.overlongLines).toBe(1);
    // Keep feeding a huge line in chunks: nothing is held beyond the cap.
    for (let i = 0; i < 100; i++) feed(s, 'z'.repeat(1000));
    expect(s.overlongLines).toBe(1);
    expect(s.committed).toBe(6);
    expect(feed(s, 'zz\nok\n')).toEqual(['ok']);
    expect(s.overlongLines).toBe(1);
    expect(s.committed).toBe(6 + 20 + 100_000 + 3 + 3);
  });

  it('drops an overlong line that arrives in one chunk with its newline', () => {
    const s = new LineSplitter(0, 8);
    expect(feed(s, '123456789\nabc\n12345678\n')).toEqual(['abc', '12345678']);
    expect(s.overlongLines).toBe(1);
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
});
