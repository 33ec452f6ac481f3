/**
 * Patterns run on RE2 (any with a quantifier) must match what JavaScript's engine matches, since
 * patterns are documented as JavaScript regular expressions: RE2's `\s` is only `[\t\n\f\r ]`, so
 * `union%0bselect` (0x0B: white space to MySQL, a known filter bypass) or a no-break space escaped
 * every `\s` pattern; and case-insensitive RE2 folds ſ and K into `\w`, so its `\W` missed them. Over
 * every character up to U+30FF (and a few beyond), a RE2-run pattern may match more than JavaScript's
 * engine (only ever over the client's own text) but never less.
 */
import { describe, expect, it } from 'vitest';
import { compilePathPatterns, engineFor } from '../../../src/detect/path-pattern.js';

const PATTERNS = ['a\\s+b', 'a\\S+b', 'a[\\s]+b', 'a[^\\s]+b', 'a[\\S]+b', 'a[^\\S]+b', 'a[x\\s]+b', 'a[\\s\\S]+b', 'a[^\\d\\s]+b', 'a\\W+b', 'a(?:\\s|x)+b', 'a\\s*\\(', 'union\\s+select', 'q[]\\s]+z', 'r[^]\\s]+t', '[[:alpha:]]+x', 'a[[]+b'];
const CHARS: string[] = [];
for (let c = 0; c < 0x3100; c++) CHARS.push(String.fromCharCode(c));
CHARS.push('\ufeff', '\ufefe', '\uff00', '\u212a', '\ud83d\ude00');

describe('RE2-run patterns read \\s, \\S and \\W as JavaScript does', () => {
  it.each(PATTERNS)('%s never matches less than JavaScript', (p) => {
    expect(engineFor(p)).toBe('re2');
    const test = compilePathPatterns([p])!;
    const js = new RegExp(p, 'i');
    const missed: string[] = [];
    for (const c of CHARS) {
      for (const s of [`a${c}b`, `xa${c}${c}by`, `union${c}select`, `a${c}(`, `q${c}]z`, `rr${c}]]t`, `${c}]x`, `:${c}]]x`]) if (js.test(s) && !test(s)) missed.push(JSON.stringify(s));
    }
    expect(missed.slice(0, 10)).toEqual([]);
  });

  it('\\W inside a class misses only ſ and K (a case-insensitive class would fold them into s and k)', () => {
    const test = compilePathPatterns(['a[x\\W]+b'])!;
    const js = /a[x\W]+b/i;
    const missed = CHARS.filter((c) => js.test(`a${c}b`) && !test(`a${c}b`));
    expect([...new Set(missed)]).toEqual(['\u017f', '\u212a']);
    expect(test('asb') || test('akb')).toBe(false);
  });
});
