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
    expect(huge.startsWith(out[1]!)).toBe(true);
    expect(out.slice(2)).toEqual(['after', 'last']);
  });

  it('a long line right after a skipped tail still gets its whole head, and it parses', async () => {
    const { createLineParser } = await import('../../../src/parse/line-parser.js');
    const BUF = 2 << 20;
    // The first line fills one buffer and ends 50 bytes before the second one does, so the next line
    // starts at the very end of a buffer with no newline after it.
    const first = 'z'.repeat(2 * BUF - 50);
    const head = '198.18.0.77 - - [10/Oct/2026:13:55:36 +0000] "GET /wp-login.php HTTP/1.1" 403 199 "-" "';
    const second = `${head}${'\\"'.repeat(1_500_000)}"`;
    const out = await lines(`${first}\n${second}\nafter\n`);
    expect(out.length).toBe(3);
    expect(out[0]).toBe(first.slice(0, BUF));
    expect(out[1]!.length).toBe(BUF);
    expect(second.startsWith(out[1]!)).toBe(true);
    expect(out[2]).toBe('after');
    expect(createLineParser('auto')(out[1]!)).toMatchObject({ ip: '198.18.0.77', status: 403 });
  });

  it('a huge unterminated last line is one line', async () => {
    const out = await lines(`x\n${'q'.repeat(3 << 20)}`);
    expect(out.length).toBe(2);
  });

  it('replay (parseSpan) counts padded and overlong 403 lines like any other, and counts every skip', async () => {
    const { parseSpan } = await import('../../../src/replay/scan-span.js');
    const { createLineParser } = await import('../../../src/parse/line-parser.js');
    const l = (ip: string, ua: string) => `${ip} - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 403 1 "-" "${ua}"`;
    const content = [
      l('198.18.0.1', '\\"'.repeat(8190)),
      l('198.18.0.2', 'A'.repeat(3 << 20)),
      `{"log":${JSON.stringify(`${l('198.18.0.3', '\\"'.repeat(100_000))}\n`)},"stream":"stdout"}`,
      l('0.0.0.0', '-'),
      `198.18.0.4 - - [10/Oct/2026:13:55:36 +0000] "GET /${'a'.repeat(200_000)} HTTP/1.1" 403 1 "-" "-"`,
    ].join('\n');
    const f = join(dir, 'span.log');
    writeFileSync(f, `${content}\n`);
    for (const format of ['auto', 'apache-combined'] as const) {
      const ips: string[] = [];
      const counts = await parseSpan(f, { from: 0, to: Number.POSITIVE_INFINITY }, createLineParser(format), (e) => ips.push(e.ip));
      const want = format === 'auto' ? ['198.18.0.1', '198.18.0.2', '198.18.0.3'] : ['198.18.0.1', '198.18.0.2'];
      expect(ips, format).toEqual(want);
      expect(counts.lines).toBe(5);
      expect(counts.parsed).toBe(want.length);
      expect(counts.skipReasons['not-client']).toBe(1);
      expect(counts.skipReasons['too-long']).toBe(1);
      if (format === 'apache-combined') expect(counts.skipReasons['unknown-format']).toBe(1);
    }
  });

  it('parallel replay never cuts a Docker line split over records: any span edges give the whole-file result', async () => {
    const { parseSpan } = await import('../../../src/replay/scan-span.js');
    const { createLineParser } = await import('../../../src/parse/line-parser.js');
    const T = '10/Oct/2026:13:55:36 +0000';
    const records = (line: string): string[] => {
      const out: string[] = [];
      const all = `${line}\n`;
      for (let i = 0; i < all.length; i += 16 * 1024) out.push(`{"log":${JSON.stringify(all.slice(i, i + 16 * 1024))},"stream":"stdout"}`);
      return out;
    };
    // A forged line at Docker's 16 KiB split (see line-parser.test.ts), a status in a later record,
    // and ordinary lines around them.
    const start = `198.18.0.40 - - [${T}] "GET /`;
    const rest = ` HTTP/1.1" 200 1 "`;
    const attack = `${start}${'a'.repeat(16 * 1024 - start.length - rest.length)}${rest}198.18.0.99 - - [${T}] " " 403 x"`;
    const late = `198.18.0.41 - - [${T}] "GET /${'\\xff'.repeat(6000)} HTTP/1.1" 403 1 "-" "${'A'.repeat(40_000)}"`;
    const plain = (i: number) => records(`198.18.1.${i} - - [${T}] "GET / HTTP/1.1" 403 1 "-" "-"`);
    const lines = [...plain(1), ...records(attack), ...plain(2), ...records(late), ...records(attack), ...plain(3)];
    const f = join(dir, 'docker.log');
    writeFileSync(f, `${lines.join('\n')}\n`);
    const run = async (spans: { from: number; to: number }[]) => {
      const ips: string[] = [];
      let total = 0;
      let partial = 0;
      for (const sp of spans) {
        const c = await parseSpan(f, sp, createLineParser('auto'), (e) => ips.push(`${e.ip} ${e.status}`));
        total += c.lines;
        partial += c.skipReasons.partial;
      }
      return { ips, total, partial };
    };
    const whole = await run([{ from: 0, to: Number.POSITIVE_INFINITY }]);
    expect(whole.ips).toEqual(['198.18.1.1 403', '198.18.0.40 200', '198.18.1.2 403', '198.18.0.41 403', '198.18.0.40 200', '198.18.1.3 403']);
    expect(whole.total).toBe(lines.length);
    // Every line start as an edge between two spans, and three spans.
    const starts: number[] = [];
    for (let i = 0, at = 0; i < lines.length; at += Buffer.byteLength(lines[i]!) + 1, i++) starts.push(at);
    const size = starts[starts.length - 1]! + Buffer.byteLength(lines[lines.length - 1]!) + 1;
    for (const cut of starts.slice(1)) {
      expect(await run([{ from: 0, to: cut }, { from: cut, to: size }]), `edge at ${cut}`).toEqual(whole);
    }
    expect(await run([{ from: 0, to: starts[2]! }, { from: starts[2]!, to: starts[7]! }, { from: starts[7]!, to: size }])).toEqual(whole);
  });

  it('rejects for a missing file', async () => {
    await expect(readLines(join(dir, 'missing'), () => {})).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
