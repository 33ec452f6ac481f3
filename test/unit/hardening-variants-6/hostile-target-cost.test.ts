/**
 * No request target a client writes may cost the agent much more than an ordinary long one (issue 9:
 * nothing an input says may stall the agent). A client controls its whole target; the rules test it
 * in every spelling (as written, percent-decoded once and twice, `\` and `//` normalised, dot
 * segments resolved, `;…` parameters dropped: rule.ts MatchView), so an 8 KB target of `%2e/`,
 * `%252e/`, `\x2e\x5c`, `\\`, `//` or `..;/` made 6–15 spellings of up to 8 KB each. Measured with
 * every preset on (bench/per-line-cost.js, 2,000 such lines), each cost 0.8–2.9 ms a line where an
 * ordinary line costs ~2.5 µs: about 2,000 such requests a second (16 MB/s) kept the agent's one
 * thread busy and it fell behind. Three causes, each fixed and checked here:
 *
 * - The prefilter gave up on such a target (a `%`, `//`, `;`, a character ≥ 128 may change what the
 *   literals see) and let every rule with a target gate through, each then testing every spelling.
 *   It now scans the spellings themselves, so a rule runs only when one of them holds its literals.
 * - RE2-run patterns (re2js, ~50–100 ns a character) ran over every spelling; they now run only on
 *   a text holding one of their necessary literals (a native regex pass first).
 * - Normalising (`\`, `\x5c`, `//`), dropping `;…` parameters and the byte-by-byte decoding were
 *   regex replaces or ropes costing 35–50 ns an escape; each is now one scan, and the path's and the
 *   whole target's lists share their work on the same long texts.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../src/detect/presets.js';
import { compileRule, MatchView, normalisedPath, percentDecode, withoutDotSegments, withoutParameters } from '../../../src/detect/rule.js';
import { normalisedPathByReplace, withoutParametersByReplace } from '../../support/spelling-reference.js';
import { Prefilter } from '../../../src/detect/prefilter.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { cpuMs } from '../../support/cpu-time.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import { referencePercentDecode as reference } from '../../support/percent-decode-reference.js';

const names = Object.keys(PRESETS);
const rules = names.map((n) => compileRule(n, PRESETS[n]!, true));
const fill = (unit: string, n = 8000): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
const ev = (path: string, status = 404): AccessEvent => ({ ip: '198.18.0.1', family: 4, time: 0, method: 'GET', path, status });

/** Hostile 8 KB targets that hold none of the probe rules' literals in any spelling. */
const HOSTILE: Record<string, string> = {
  'percent-dot': '/a/' + fill('%2e/'),
  'percent-dot-invalid': '/a/' + fill('%2e/%zz'),
  'double-percent-dot': '/a/' + fill('%252e/'),
  'iis-slash-invalid': '/a/' + fill('%u002f%zz'),
  'logged-backslash': '/a/' + fill('\\x2e\\x5c'),
  backslashes: '/a/' + fill('\\'),
  slashes: '/a' + fill('/'),
  'high-bytes': '/a/' + fill('%ff%2e/'),
  parameters: '/a/' + fill(';x/%2e/'),
  'query-escapes': '/a?' + fill('b=%2e&%09%zz+'),
};

/** Probe rules none of whose literals any spelling of HOSTILE holds. */
const PROBES = ['exploit-probes', 'admin-probes', 'sqli-probes', 'xss-probes', 'webshell-probes', 'wordpress-scan', 'wp-user-enum', 'tech-probes', 'w00tw00t', 'sensitive-paths'];

/** Distinct targets per call (a memo must not answer), best of `rounds` passes: CPU µs per event (test/support/cpu-time.ts). */
function cost(matcher: RuleMatcher, targets: readonly string[], rounds = 5, n = 40): number {
  const events = Array.from({ length: n }, (_, i) => ev(targets[i % targets.length]!.replace('/', `/x${i}/`)));
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const ms = cpuMs(() => {
      for (const e of events) matcher.match(e);
    });
    best = Math.min(best, (ms * 1000) / n);
  }
  return best;
}

/** Ordinary request targets (pages, assets, API calls with queries), answered 404 like the hostile ones. */
const ORDINARY = ['/', '/index.html', '/static/js/app.5c4d3e2f.js', '/api/v1/items?page=3&sort=price', '/blog/2026/12/a-post-title/', '/images/logo.png', '/search?q=red+shoes&lang=en'];

describe('hostile request targets', () => {
  it.each(Object.entries(HOSTILE))('%s: the prefilter judges the target by its spellings and lets no probe rule through', (_, target) => {
    const prefilter = new Prefilter(rules);
    const view = new MatchView();
    const e = ev(target);
    view.reset(e);
    const pass = prefilter.pass(e, view);
    const through = names.filter((_, i) => prefilter.candidates(404).includes(i) && prefilter.mayMatch(i, pass));
    // Before: every rule with a target gate came through (the target "could not be judged").
    expect(through.filter((n) => PROBES.includes(n))).toEqual([]);
    // And what it lets through is what the rules match (no rule it rejects would have matched).
    for (let i = 0; i < rules.length; i++) if (rules[i]!.matches(e)) expect(through).toContain(names[i]);
  });

  it('every preset on: no hostile 8 KB target costs more than 2,000x an ordinary line (before: up to ~7,000x)', () => {
    const matcher = new RuleMatcher(rules);
    // Warm every path up once; then the best of several runs each (a loaded machine only slows a run).
    for (const t of [ORDINARY, ...Object.values(HOSTILE).map((h) => [h])]) cost(matcher, t, 1, 14);
    const base = (): number => cost(matcher, ORDINARY, 10, 210);
    const ratios: Record<string, number> = {};
    for (const [name, target] of Object.entries(HOSTILE)) {
      let best = Infinity;
      for (let k = 0; k < 3 && best > 2000; k++) best = Math.min(best, cost(matcher, [target]) / base());
      ratios[name] = Math.round(best);
    }
    // Measured on a shared 2-core machine (an ordinary line ~0.3 µs here, matching alone, every
    // preset): 60–1,250x after (an 8 KB target 20–400 µs), 960–7,400x before (0.3–2.4 ms).
    if (process.env.H17_PRINT) console.log(ratios, base());
    expect(Object.entries(ratios).filter(([, r]) => r > 2000)).toEqual([]);
  });
});

describe('the one-scan helpers agree with the regex replaces they replaced', () => {
  it('normalisedPath and withoutParameters on 200,000 random strings of the characters they act on', () => {
    let seed = 17;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000;
    const alphabet = [';', '/', '\\', 'x', '5', 'c', 'C', 'X', 'a', '.', '%', '\u017f'];
    for (let k = 0; k < 200_000; k++) {
      let s = '';
      const n = Math.floor(next() * 14);
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(next() * alphabet.length)];
      if (normalisedPath(s) !== normalisedPathByReplace(s)) expect([s, normalisedPath(s)]).toEqual([s, normalisedPathByReplace(s)]);
      if (withoutParameters(s) !== withoutParametersByReplace(s)) expect([s, withoutParameters(s)]).toEqual([s, withoutParametersByReplace(s)]);
    }
  });

  it('percentDecode on 3,000 long random texts (its byte buffer) decodes as the regex it replaced', () => {
    let seed = 5;
    const next = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n);
    const alphabet = ['%', '%', '%', 'c', 'C', '0', '1', 'e', 'E', '8', '9', 'a', 'A', 'b', 'B', 'f', 'F', 'u', 'U', 'z', '/', '.', '+', '\x10', 'ÿ', 'é', '\u0100', '%2e', '%zz'];
    for (let k = 0; k < 3000; k++) {
      const n = 200 + next(1200);
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet[next(alphabet.length)]!;
      // Most with nothing beyond U+00FF (the byte buffer), some with (the rope).
      if (next(4) !== 0) s = s.replace(/\u0100/g, 'x');
      const query = k % 3 === 0;
      const want = reference(s, query);
      if (percentDecode(s, query) !== want) expect({ s, query, got: percentDecode(s, query) }).toEqual({ s, query, got: want });
    }
  });

  it('and on long texts (the memo of recent answers answers what working it out does)', () => {
    for (const unit of ['\\x5c', '\\\\x', '//a', ';x//', '\\x5C;/', 'a']) {
      const s = '/p/' + fill(unit, 4000);
      expect(normalisedPath(s)).toBe(normalisedPathByReplace(s));
      expect(normalisedPath(s)).toBe(normalisedPathByReplace(s));
      expect(withoutParameters(s)).toBe(withoutParametersByReplace(s));
    }
    // The same long text asked again, and another of the same length, get their own answers.
    expect(withoutDotSegments('/p/' + './x/'.repeat(800) + 'z')).toBe('/p/' + 'x/'.repeat(800) + 'z');
    expect(withoutDotSegments('/p/' + './y/'.repeat(800) + 'z')).toBe('/p/' + 'y/'.repeat(800) + 'z');
    expect(withoutDotSegments('/p/' + './x/'.repeat(800) + 'z')).toBe('/p/' + 'x/'.repeat(800) + 'z');
    expect(percentDecode('/q/' + fill('%41', 3000))).toBe('/q/' + 'A'.repeat(1000));
    expect(percentDecode('/q/' + fill('%42', 3000))).toBe('/q/' + 'B'.repeat(1000));
    expect(percentDecode('/q/' + fill('%41', 3000))).toBe('/q/' + 'A'.repeat(1000));
  });
});
