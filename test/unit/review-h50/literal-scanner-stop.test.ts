/**
 * Review H50 (b8ce55b): LiteralScanner against a plain reference, including what the existing test
 * leaves out: where a scan stops as uncertain, the literals it marked before stopping (the
 * prefilter keeps them in found[] and adds the spellings' finds to them), a `max` that cuts the text
 * (`\x` is judged with the character after `max`), a mark already set for the generation, and
 * found[] listing each newly marked id once. Ids may repeat across literals.
 */
import { describe, expect, it } from 'vitest';
import { LiteralScanner } from '../../../src/detect/literal-scanner.js';
import { fold } from '../../../src/detect/literals.js';

/** Where scanTarget stops as uncertain in text[0, max), or -1: it has marked what text[0, stop) holds. */
function targetStop(text: string, max: number): number {
  const end = Math.min(text.length, max);
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || '%;\t\n\r'.includes(text[i]!)) return i;
    if (text[i] === '\\' && (text[i + 1] === 'x' || text[i + 1] === 'X')) return i;
    if (i > 0 && '/\\'.includes(text[i]!) && '/\\'.includes(text[i - 1]!)) return i;
  }
  return -1;
}

/** Where scan stops (a character ≥ 128), or -1. */
function plainStop(text: string, max: number): number {
  const end = Math.min(text.length, max);
  for (let i = 0; i < end; i++) if (text.charCodeAt(i) >= 128) return i;
  return -1;
}

/**
 * scanSpelling's reading: ſ as s, K (Kelvin) as k, any other character ≥ 128 as none of the literals'
 * (U+FFFF here: a literal may hold NUL).
 */
const spelled = (t: string): string => fold(t.replace(/\u017f/g, 's').replace(/\u212a/g, 'k').replace(/[^\x00-\x7f]/g, '\uffff'));

describe('LiteralScanner against a plain reference, where it stops too', () => {
  it('marks exactly the literals of the part read before it stops, and lists each new id once', () => {
    let seed = 50;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const text = 'abxX/\\%;\t\n\r.+ sSkKAB0=?\u017f\u212a\u00e9\u0080\u007f\u0000';
    const lit = 'abx/.+ sk0=?%;\t\u007f\u0000';
    const pick = (a: string, len: number): string => Array.from({ length: len }, () => a[rnd(a.length)]!).join('');
    let stopped = 0;
    let cases = 0;
    for (let round = 0; round < 300; round++) {
      const literals = Array.from({ length: 1 + rnd(10) }, () => fold(pick(lit, 1 + rnd(4))));
      const ids = literals.map(() => rnd(literals.length));
      const nIds = Math.max(...ids) + 1;
      const scanner = new LiteralScanner(literals, ids);
      for (let k = 0; k < 40; k++) {
        const t = pick(text, rnd(30));
        const max = rnd(34);
        for (const kind of ['scan', 'scanTarget', 'scanSpelling'] as const) {
          const seen = new Int32Array(nIds);
          const gen = 1 + rnd(3);
          const pre = rnd(nIds + 1); // one id already marked this generation (or none)
          if (pre < nIds) seen[pre] = gen;
          scanner.foundCount = 0;
          let stop: number;
          let read: string;
          if (kind === 'scanSpelling') {
            scanner.scanSpelling(t, seen, gen);
            stop = -1;
            read = spelled(t);
          } else {
            stop = kind === 'scan' ? plainStop(t, max) : targetStop(t, max);
            const got = kind === 'scan' ? scanner.scan(t, max, seen, gen) : scanner.scanTarget(t, max, seen, gen);
            if (got !== stop >= 0) expect(got, JSON.stringify([kind, t, max])).toBe(stop >= 0);
            read = fold(t.slice(0, stop >= 0 ? stop : Math.min(t.length, max)));
          }
          if (stop >= 0) stopped++;
          const want = new Set<number>();
          literals.forEach((l, i) => {
            if (read.includes(l)) want.add(ids[i]!);
          });
          const marked = Array.from({ length: nIds }, (_, id) => seen[id] === gen);
          const wanted = Array.from({ length: nIds }, (_, id) => want.has(id) || id === pre);
          // (Compared as strings first: an expect per case costs more than the scan.)
          const listed = [...scanner.found.subarray(0, scanner.foundCount)].sort((a, b) => a - b);
          const newly = [...want].filter((id) => id !== pre).sort((a, b) => a - b);
          if (String(marked) !== String(wanted) || String(listed) !== String(newly)) {
            expect({ marked, listed }, JSON.stringify([kind, literals, ids, t, max, pre])).toEqual({ marked: wanted, listed: newly });
          }
          cases++;
        }
      }
    }
    expect(cases).toBe(300 * 40 * 3);
    expect(stopped).toBeGreaterThan(5_000);
  });
});
