import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLines } from '../../../src/replay/read-lines.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-readlines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function lines(content: string | Buffer): Promise<string[]> {
  const f = join(dir, `f${Math.random()}`);
  writeFileSync(f, content);
  const out: string[] = [];
  await readLines(f, (l) => out.push(l));
  return out;
}

describe('readLines', () => {
  it('splits on LF and CRLF and keeps a last unterminated line', async () => {
    expect(await lines('a\nb\r\n\nc')).toEqual(['a', 'b', '', 'c']);
    expect(await lines('a\n')).toEqual(['a']);
    expect(await lines('')).toEqual([]);
  });

  it('handles lines spanning read boundaries, byte for byte (latin1)', async () => {
    const a = 'a'.repeat((2 << 20) - 5);
    const out = await lines(`${a}\nbbbbbbbbbb\n\xe9\n`);
    expect(out.map((l) => l.length)).toEqual([a.length, 10, 2]); // é is written as two UTF-8 bytes
    const bytes = Buffer.from([0x31, 0xc3, 0xa9, 0x0a]);
    expect(await lines(bytes)).toEqual(['1\u00c3\u00a9']);
  });

  it('delivers a line longer than the buffer once, truncated, and keeps counting lines after it', async () => {
    const huge = 'z'.repeat(5 << 20);
    const out = await lines(`first\n${huge}\nafter\nlast`);
    expect(out.length).toBe(4);
    expect(out[0]).toBe('first');
    expect(out[1]!.length).toBeLessThan(huge.length);
    expect(out.slice(2)).toEqual(['after', 'last']);
  });

  it('a huge unterminated last line is one line', async () => {
    const out = await lines(`x\n${'q'.repeat(3 << 20)}`);
    expect(out.length).toBe(2);
  });

  it('rejects for a missing file', async () => {
    await expect(readLines(join(dir, 'missing'), () => {})).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
