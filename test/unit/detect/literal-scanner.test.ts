import { describe, expect, it } from 'vitest';
import { LiteralScanner } from '../../../src/detect/literal-scanner.js';
import { fold } from '../../../src/detect/literals.js';
import { intRng } from '../../support/random.js';

/** A random text of `alphabet`'s characters, and a random set of literals (folded, ASCII: `ascii` for others). */
function randomTexts(seed: number, alphabet: string, ascii: string) {
  const rnd = intRng(seed);
  const pick = (len: number): string => Array.from({ length: len }, () => alphabet[rnd(alphabet.length)]!).join('');
  const literals = (most: number): string[] => [...new Set(Array.from({ length: 1 + rnd(most) }, () => fold(pick(1 + rnd(4))).replace(/[^\x00-\x7f]/g, ascii)))];
  return { rnd, pick, literals };
}

describe('LiteralScanner (every literal found in one pass)', () => {
  it('finds exactly the literals a plain search of the folded text finds, on random texts', () => {
    // Letters both cases, `\` and `+` (folded), characters no literal holds, and one ≥ 128.
    const { rnd, pick, literals: randomLiterals } = randomTexts(11, 'abcAB/\\+ .-xX;\t%{}é', 'a');
    for (let round = 0; round < 200; round++) {
      const literals = randomLiterals(12);
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

  it('scanSpelling adds what it finds to found[], reads ſ as s and K (Kelvin) as k, any other character ≥ 128 as no literal\'s', () => {
    const { rnd, pick, literals: randomLiterals } = randomTexts(7, 'skSKab/\\+ .%;\u017f\u212a\u00e9\u0130', 's');
    for (let round = 0; round < 200; round++) {
      const literals = randomLiterals(10);
      const scanner = new LiteralScanner(literals, literals.map((_, i) => i));
      const seen = new Int32Array(literals.length);
      for (let k = 0; k < 30; k++) {
        const gen = round * 100 + k + 1;
        const first = pick(rnd(20));
        const second = pick(rnd(20));
        scanner.scan('', 1000, seen, gen); // found[] starts empty for this gen
        scanner.scanSpelling(first, seen, gen);
        scanner.scanSpelling(second, seen, gen);
        const read = (t: string): string => fold(t.replace(/\u017f/g, 's').replace(/\u212a/g, 'k').replace(/[^\x00-\x7f]/g, '\u0000'));
        const expected = literals.map((l, i) => [i, read(first).includes(l) || read(second).includes(l)] as const);
        for (const [i, yes] of expected) expect(seen[i] === gen, `${JSON.stringify(literals[i])} in ${JSON.stringify([first, second])}`).toBe(yes);
        const listed = [...scanner.found.subarray(0, scanner.foundCount)].sort((a, b) => a - b);
        expect(listed).toEqual(expected.filter(([, yes]) => yes).map(([i]) => i));
      }
    }
  });

  it('a large literal set (hundreds of states): found[] lists each found id once, in a long text', () => {
    const literals = Array.from({ length: 300 }, (_, i) => `/p${i.toString(36)}x${(i * 7919).toString(36)}/`);
    const scanner = new LiteralScanner(literals, literals.map((_, i) => i));
    const seen = new Int32Array(literals.length);
    const picked = [0, 17, 299, 150, 17];
    const text = picked.map((i) => `aaaa${literals[i]}bbbb`).join('') + 'c'.repeat(8000);
    expect(scanner.scan(text, 100_000, seen, 1)).toBe(false);
    expect([...scanner.found.subarray(0, scanner.foundCount)].sort((a, b) => a - b)).toEqual([0, 17, 150, 299]);
    expect(scanner.scanTarget(text, 100_000, seen, 2)).toBe(false);
    expect([...scanner.found.subarray(0, scanner.foundCount)].sort((a, b) => a - b)).toEqual([0, 17, 150, 299]);
    // Cut before the last literal's text: not found.
    const at = text.indexOf(literals[150]!);
    expect(scanner.scanTarget(text, at + literals[150]!.length - 1, seen, 3)).toBe(false);
    expect([...scanner.found.subarray(0, scanner.foundCount)].sort((a, b) => a - b)).toEqual([0, 17, 299]);
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
