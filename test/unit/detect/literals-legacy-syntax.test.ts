/**
 * The prefilter's necessary literals (literals.ts) must hold for every text a pattern matches as
 * JavaScript reads it. Patterns run without the `u` flag, so JavaScript's legacy (Annex B) syntax
 * applies: `[]` matches nothing and `[^]` anything, `\c` before a non-letter, `\u` without four hex
 * digits and `\p{…}` stand for themselves, `\012` is an octal escape. A tokenizer that read these
 * otherwise swallowed a `|` and claimed a literal that one alternative lacks, so a line the full
 * match counts was rejected by the prefilter (review: helper).
 */
import { describe, expect, it } from 'vitest';
import { fold, requiredLiterals } from '../../../src/detect/literals.js';
import { checkPathPattern } from '../../../src/detect/path-pattern.js';
import { rng } from '../../support/random.js';

/** Whether every text in `texts` that `p` matches holds one of its necessary literals. */
function unsoundOn(p: string, texts: readonly string[]): string | null {
  const lits = requiredLiterals(p);
  if (lits === null) return null;
  const re = new RegExp(p, 'i');
  for (const t of texts) if (re.test(t) && !lits.some((l) => fold(t).includes(l))) return t;
  return null;
}

describe('necessary literals under JavaScript legacy syntax', () => {
  it.each([
    ['[^]|abc]xyz', '/anything'],
    ['\\c|abcd', '/x\\c'],
    ['\\uab|cdefg', '/uab'],
    ['\\012|abcdef', '/a\nb'],
    ['[]|abc]def', '/abc]def'],
    ['\\p{L}|zzzz', '/p{L}'],
    ['\\u{2}|qwerty', '/uu'],
  ])('%s: %s is matched and holds a necessary literal', (p, text) => {
    expect(checkPathPattern(p)).toBeNull();
    expect(new RegExp(p, 'i').test(text)).toBe(true);
    expect(unsoundOn(p, [text])).toBeNull();
  });

  it('random patterns of legacy escapes, classes and alternations: never a literal a match lacks', () => {
    const r = rng(1313);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const atoms = ['a', 'b', 'ab', 'xyz', '\\c', '\\cA', '\\u', '\\u12', '\\u0041', '\\x4', '\\x41', '\\0', '\\012', '\\8', '\\p', '\\p{L}', '\\k', '[]', '[^]', '[]a]', '[^]a]', '[a\\]]', '{', '}', ']', '\\{', '.', '\\d', '\\/', '/', '%', '\\|'];
    const quants = ['', '', '', '?', '*', '+', '{2}', '{0,1}', '{1,}'];
    const texts: string[] = [];
    const alphabet = ['a', 'b', 'x', 'y', 'z', 'c', 'u', 'p', 'L', '{', '}', ']', '[', '\\', '|', '/', '%', '\n', '\u0001', 'A', '1', '2', '0', '\u0000', '\u0012', 'k', '8'];
    for (let k = 0; k < 3000; k++) {
      let t = '';
      const n = 1 + Math.floor(r() * 10);
      for (let j = 0; j < n; j++) t += pick(alphabet);
      texts.push(t);
    }
    let checked = 0;
    for (let k = 0; k < 1500; k++) {
      const alts: string[] = [];
      const na = 1 + Math.floor(r() * 3);
      for (let a = 0; a < na; a++) {
        let s = '';
        const n = 1 + Math.floor(r() * 4);
        for (let j = 0; j < n; j++) s += pick(atoms) + pick(quants);
        alts.push(s);
      }
      const p = alts.join('|');
      let valid = true;
      try {
        new RegExp(p, 'i');
      } catch {
        valid = false;
      }
      if (!valid || checkPathPattern(p) !== null) continue;
      checked++;
      // Texts that hold an alternative's own characters too, so that matches happen.
      const own = alts.map((a) => a.replace(/\\/g, '')).concat(texts);
      const bad = unsoundOn(p, own);
      expect(bad, `pattern ${JSON.stringify(p)} on ${JSON.stringify(bad)} (literals ${JSON.stringify(requiredLiterals(p))})`).toBeNull();
    }
    expect(checked).toBeGreaterThan(300);
  });
});
