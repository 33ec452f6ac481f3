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

  it('handles lines and multibyte characters spanning chunk boundaries', async () => {
    const long = 'x'.repeat((1 << 20) - 1) + 'é' + 'y'.repeat(10);
    const out = await lines(`${long}\nshort\n`);
    expect(out).toEqual([long, 'short']);
  });

  it('rejects for a missing file', async () => {
    await expect(readLines(join(dir, 'missing'), () => {})).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
