/**
 * RE2-run patterns (re2js, ~50–100 ns a character) run only on a text that holds one of their
 * necessary literals (path-pattern.ts literalGuard): before, every spelling of a hostile 8 KB target
 * went through them, ~0.5 ms each. The guard must never change an answer: it finds each literal as
 * RE2 matches it, case-insensitively, with ſ (U+017F) as `s` and K (U+212A) as `k` (the only
 * characters outside ASCII that RE2 folds into ASCII), and `\` as `/`, `+` as a space as the
 * prefilter's fold does. (Its own file: modules are per file, so nothing else here loaded re2js.)
 */
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import type * as Re2 from 're2js';
import { compilePathPatterns, engineFor, javascriptEscapes, re2Loaded } from '../../../src/detect/path-pattern.js';
import { PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import { mentionsQuery, type RuleMatch } from '../../../src/detect/rule.js';

const fill = (unit: string, n = 32_000): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);

/** The RE2-run patterns of exploit-probes' traversal branch (`\.\./.*etc/passwd` …, `^/cgi-bin/.*…`). */
const TRAVERSAL = PRESET_DEFINITIONS.find((d) => d.name === 'exploit-probes')!.settings.match.anyOf![1]!.paths;

describe('the literal guard before re2js', () => {
  it('a long hostile text holding none of the literals never reaches re2js (it is not even loaded)', () => {
    expect(TRAVERSAL.every((p) => engineFor(p) === 're2')).toBe(true);
    const test = compilePathPatterns(TRAVERSAL, true)!;
    // Decoded spellings of hostile targets: dot runs, high bytes (`%ff` decoded byte by byte), `\`.
    for (const text of [fill('./'), fill('\u00ff./'), fill('../'), fill('..\\'), fill('/etc/pass/'), fill('\u0130../')]) expect(test(text)).toBe(false);
    expect(re2Loaded()).toBe(false);
    // A text with a literal goes to re2js and is answered by it.
    expect(test('/' + fill('./', 8000) + '../../etc/passwd')).toBe(true);
    expect(re2Loaded()).toBe(true);
  });

  it('answers exactly what re2js alone answers, on every RE2-run preset pattern list and random texts', () => {
    const RE2JS = (createRequire(import.meta.url)('re2js') as typeof Re2).RE2JS;
    const direct = (ps: readonly string[]): ((s: string) => boolean) => {
      const re = RE2JS.compile(ps.map((p) => `(?:${javascriptEscapes(RE2JS.translateRegExp(p))})`).join('|'), RE2JS.CASE_INSENSITIVE);
      return (s) => re.test(s);
    };
    // Each field's patterns of each match, as rule.ts compiles them together.
    const lists: string[][] = [];
    const walk = (m: RuleMatch): void => {
      for (const ps of [m.paths.filter((p) => !mentionsQuery(p)), m.paths.filter(mentionsQuery), m.queries, m.userAgents, m.referers, m.requests]) {
        const re2 = (ps ?? []).filter((p) => engineFor(p) === 're2');
        if (re2.length > 0) lists.push(re2);
      }
      for (const sub of [...(m.anyOf ?? []), ...(m.allOf ?? []), ...(m.noneOf ?? [])]) walk(sub);
    };
    for (const d of PRESET_DEFINITIONS) walk(d.settings.match);
    expect(lists.length).toBeGreaterThan(5);
    let seed = 9;
    const next = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n);
    // Pieces of the patterns' literals, with the spellings the fold and RE2's folding meet.
    const pieces = ['etc/passwd', 'ETC\\PASSWD', 'bin/\u017fh', '/BIN/SH', 'pro\u017f', '\u212aeep', '../', '..\\', '${jndi:', '${J', '() {', '(){', ':;', 'union', 'select', '+', ' ', '/', 'cgi-bin', 'or', '1=1', 'wget', 'http://198.18.0.9/', '<script', 'on', 'load=', 'x', '\u00ff', '%', 'wp-json/wp/v2/users', 'api', 'v1', '.bak', '.sql', 'adminer', 'invokefunction', 'element_parents=', '#value'];
    let runs = 0;
    let matched = 0;
    for (const ps of lists) {
      const guarded = compilePathPatterns(ps, true)!;
      const plain = direct(ps);
      for (let k = 0; k < 1500; k++) {
        let s = '';
        const n = 1 + next(8);
        for (let i = 0; i < n; i++) s += pieces[next(pieces.length)];
        if (next(4) === 0) s = s.toUpperCase();
        const answer = plain(s);
        if (guarded(s) !== answer) expect([ps, s, guarded(s)]).toEqual([ps, s, answer]);
        runs++;
        if (answer) matched++;
      }
    }
    expect(runs).toBeGreaterThan(10_000);
    expect(matched).toBeGreaterThan(300);
  });

  it('ſ and K are read as s and k, as RE2 reads them', () => {
    const test = compilePathPatterns(['\\.\\./.*/bin/sh', 'x\\s*kill'], true)!;
    expect(test('/../x/bin/\u017fh')).toBe(true);
    expect(test('x \u212aill')).toBe(true);
    expect(test('/../x/bin/\u00dfh')).toBe(false);
  });
});
