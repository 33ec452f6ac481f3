/**
 * Review H50 (cb7c8a0, 4cc27b1): findQuote past its 16 native hops reads on counting backslashes.
 * Checked here against the plain definition with runs of up to 9 backslashes before a quote (the
 * existing test's texts make runs of 6 and more too rarely to tell a miscount of them), `from` inside
 * a run, `end` anywhere, and with escapes off.
 */
import { describe, expect, it } from 'vitest';
import { findQuote } from '../../../src/parse/apache.js';
import { referenceFindQuote } from '../../support/docker-json-reference.js';

/** The plain definition; with escapes off, simply the first quote. */
const reference = (line: string, from: number, end: number, escapes: boolean): number =>
  escapes ? referenceFindQuote(line, from, Math.min(end, line.length)) : ((i) => (i >= 0 && i < end ? i : -1))(line.indexOf('"', from));

describe('findQuote with long backslash runs', () => {
  it('finds what the plain definition finds', () => {
    let s = 50;
    const rnd = (n: number): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
    let deep = 0;
    for (let round = 0; round < 4000; round++) {
      // Escaped quotes (odd runs) mostly, so that most searches go past 16 of them; now and then an even run.
      const parts: string[] = [];
      for (let k = 0, n = 10 + rnd(60); k < n; k++) {
        const run = rnd(30) !== 0 ? 2 * rnd(5) + 1 : 2 * rnd(5);
        parts.push(rnd(4) === 0 ? 'ab' : '', '\\'.repeat(run), rnd(12) === 0 ? 'x' : '"');
      }
      const line = parts.join('');
      const from = rnd(6);
      const end = line.length - rnd(6);
      const escapes = rnd(8) !== 0;
      const want = reference(line, from, end, escapes);
      const got = findQuote(line, from, end, escapes);
      if (got !== want) expect(got, JSON.stringify([line, from, end, escapes])).toBe(want);
      if (escapes && (line.slice(from, want < 0 ? end : want).match(/"/g) ?? []).length > 16) deep++;
    }
    expect(deep).toBeGreaterThan(500);
  });
});
