/**
 * Fields dense in escapes (a client's `"` is `\"` in Apache's log and `\\\"` once Docker wraps it)
 * cost the parser a native search per quote (findQuote) and a string built of thousands of pieces
 * (the Docker decode): 0.6 to 0.9 ms for one 8 KiB path of them with `forbidden` alone, the seed's
 * default, against about 10 µs for a plain 8 KiB path. Both now read such a field once.
 *
 * Each is checked against the plain definition it replaced (test/support/docker-json-reference.ts),
 * over random texts made of the characters that matter (quotes, backslashes, escapes,
 * control characters, `\u` escapes cut anywhere), and at every decode limit.
 */
import { describe, expect, it } from 'vitest';
import { findQuote } from '../../../src/parse/apache.js';
import { unwrapDockerJsonHead } from '../../../src/parse/docker-json.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { referenceDecode, referenceFindQuote } from '../../support/docker-json-reference.js';
import { intRng as prng } from '../../support/random.js';

describe('findQuote over escape-dense text', () => {
  it('finds what the plain definition finds, from any start and to any end', () => {
    const rnd = prng(3);
    const alphabet = ['\\', '\\', '"', '"', 'a', ' '];
    for (let round = 0; round < 3000; round++) {
      const line = Array.from({ length: rnd(40) }, () => alphabet[rnd(alphabet.length)]!).join('');
      const from = rnd(line.length + 1);
      const end = from + rnd(line.length - from + 2);
      expect(findQuote(line, from, end, true), JSON.stringify([line, from, end])).toBe(referenceFindQuote(line, from, end));
    }
  });

  it('past many escaped quotes (where it stops searching natively and reads on), the same', () => {
    const rnd = prng(9);
    let past = 0;
    for (let round = 0; round < 2000; round++) {
      // Runs of `\"`, `\\"` (an escaped backslash, then a real quote) and letters.
      const units = [...Array<string>(40).fill('\\"'), '\\\\"', '\\\\\\"', 'ab', '\\'];
      const line = Array.from({ length: 10 + rnd(80) }, () => units[rnd(units.length)]!).join('');
      const from = rnd(8);
      const end = line.length - rnd(8);
      const want = referenceFindQuote(line, from, end);
      expect(findQuote(line, from, end, true), JSON.stringify([line, from, end])).toBe(want);
      const escaped = (line.slice(from, want < 0 ? end : want).match(/"/g) ?? []).length;
      if (escaped > 20) past++;
    }
    expect(past).toBeGreaterThan(250);
    // Long stretches without a quote after the escaped ones (searched natively again), with runs of
    // backslashes right before the quote that ends them.
    const rnd2 = prng(13);
    let stretched = 0;
    for (let round = 0; round < 1500; round++) {
      const units = [...Array<string>(20).fill('\\"'), 'a'.repeat(30 + rnd2(120)), `${'b'.repeat(70)}${'\\'.repeat(rnd2(5))}"`, '\\', '\\\\"'];
      const line = Array.from({ length: 18 + rnd2(30) }, () => units[rnd2(units.length)]!).join('');
      const from = rnd2(4);
      const end = line.length - rnd2(4);
      const want = referenceFindQuote(line, from, end);
      expect(findQuote(line, from, end, true), JSON.stringify([line, from, end])).toBe(want);
      if (/[^"\\]{65}/.test(line.slice(from, want < 0 ? end : want))) stretched++;
    }
    expect(stretched).toBeGreaterThan(300);
    const long = `${'\\"'.repeat(17)}${'a'.repeat(100_000)}\\\\"`;
    expect(findQuote(long, 0, long.length, true)).toBe(long.length - 1);
    const dense = `${'\\"'.repeat(5000)}x"`;
    expect(findQuote(dense, 0, dense.length, true)).toBe(dense.length - 1);
  });
});

describe('the Docker json-file decode over escape-dense text', () => {
  it('gives what the one-escape-at-a-time decode gave, closed or cut, at every limit', () => {
    const rnd = prng(5);
    // JSON string pieces: plain text, every escape, control characters, non-ASCII, \u cut anywhere.
    const pieces = ['a', 'b c', '\\"', '\\\\', '\\/', '\\n', '\\r', '\\t', '\\b', '\\f', '\\u0041', '\\u00e9', '\\ud83d', '\\u0', '\\u00', '\\u004', '\\x', '\\', '\u0001', 'é', '"'];
    let checked = 0;
    for (let round = 0; round < 4000; round++) {
      const body = Array.from({ length: rnd(24) }, () => pieces[rnd(pieces.length)]!).join('');
      const shape = rnd(3);
      const record = shape === 0 ? `{"log":"${body}","stream":"stdout"}` : shape === 1 ? `{"log":"${body}` : `{"log":"${body}"}`;
      for (const maxChars of [0, 1, 3, 8, 20, 200]) {
        const got = unwrapDockerJsonHead(record, maxChars);
        const close = referenceFindQuote(record, 8, record.length);
        // Where the record is a Docker one at all (the string closes where a key or the end follows).
        if (close >= 0 && !(record[close + 1] === ',' || record[close + 1] === '}' || close + 1 === record.length)) continue;
        const want = referenceDecode(record, 8, close < 0 ? record.length : close, maxChars);
        expect(got === null ? null : { text: got.text, cut: got.cut }, JSON.stringify([record, maxChars])).toEqual(want);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });

  it('an 8 KiB path of escaped quotes in a Docker record parses to the same event as in the plain line', () => {
    const path = `/z${'\\"x\\"'.repeat(1365)}`;
    const line = `198.18.0.1 - - [07/Dec/2026:00:00:00 +0000] "GET ${path} HTTP/1.1" 404 512 "-" "curl/8.0"`;
    const record = JSON.stringify({ log: `${line}\n`, stream: 'stdout', time: '2026-12-07T00:00:00.000000000Z' });
    const plain = createLineParser('auto')(line);
    const wrapped = createLineParser('auto')(record);
    if (isSkip(plain) || isSkip(wrapped)) throw new Error(`skipped: ${String(plain)} ${String(wrapped)}`);
    expect([wrapped.ip, wrapped.status, wrapped.path]).toEqual([plain.ip, plain.status, plain.path]);
    expect(wrapped.path).toBe(path);
  });
});
