import { describe, expect, it } from 'vitest';
import { LiteralScanner } from '../../../src/detect/literal-scanner.js';
import { fold } from '../../../src/detect/literals.js';

describe('LiteralScanner (every literal found in one pass)', () => {
  it('finds exactly the literals a plain search of the folded text finds, on random texts', () => {
    let seed = 11;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    // Letters both cases, `\` and `+` (folded), characters no literal holds, and one ≥ 128.
    const alphabet = 'abcAB/\\+ .-xX;\t%{}é';
    const pick = (len: number): string => Array.from({ length: len }, () => alphabet[rnd(alphabet.length)]!).join('');
    for (let round = 0; round < 200; round++) {
      const literals = [...new Set(Array.from({ length: 1 + rnd(12) }, () => fold(pick(1 + rnd(4))).replace(/[^\x00-\x7f]/g, 'a')))];
      const scanner = new LiteralScanner(literals, literals.map((_, i) => i));
      const seen = new Int32Array(literals.length);
      for (let k = 0; k < 50; k++) {
        const gen = round * 100 + k + 1;
        const text = pick(rnd(30));
        const uncertain = scanner.scan(text, 1000, seen, gen);
        expect(uncertain).toBe(/[^\x00-\x7f]/.test(text));
        if (uncertain) continue;
        const folded = fold(text);
        literals.forEach((l, i) => expect(seen[i] === gen, `${JSON.stringify(l)} in ${JSON.stringify(text)}`).toBe(folded.includes(l)));
        // As a target: a `%`, `//` (after folding), `\x` or `;` cannot be judged; otherwise the same literals.
        const gen2 = gen + 1_000_000;
        const u2 = scanner.scanTarget(text, 1000, seen, gen2);
        expect(u2).toBe(text.includes('%') || folded.includes('//') || /\\x/i.test(text) || /[;\t\n\r]/.test(text));
        if (!u2) literals.forEach((l, i) => expect(seen[i] === gen2).toBe(folded.includes(l)));
      }
    }
  });

  it('reads at most `max` characters', () => {
    const s = new LiteralScanner(['abc'], [0]);
    const seen = new Int32Array(1);
    s.scan('xxabc', 4, seen, 1);
    expect(seen[0]).toBe(0);
    s.scan('xxabc', 5, seen, 2);
    expect(seen[0]).toBe(2);
  });
});
