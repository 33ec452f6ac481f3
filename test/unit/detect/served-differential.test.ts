/**
 * The prefilter (RuleMatcher) vs every preset rule's own full match, on targets built
 * from the presets' own literals and samples, cut at ANY position (not only at slashes) by dot
 * segments, fragments, absolute forms, `;` parameters, percent-encoding and backslashes.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS, PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import { compileRule, type RuleMatch } from '../../../src/detect/rule.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { requiredLiteralsOfList } from '../../../src/detect/literals.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { rng } from '../../support/random.js';

const SAMPLE = /"(\S+) (\S+) HTTP\/[0-9.]+" (\d{3})/;

describe('prefilter never rejects what a rule matches (served spellings)', () => {
  const rules = Object.keys(PRESETS).map((n) => compileRule(n, PRESETS[n]!));
  const bases = new Set<string>(['/', '/php/ztp_gate.php', '/manager/html', '/xmlrpc.php', '/tmui/login.jsp', '/wp-json/wp/v2/users']);
  const statuses = new Set<number>([200, 401, 403, 404, 405]);
  const methods = new Set<string>(['GET', 'POST', 'HEAD']);
  for (const d of PRESET_DEFINITIONS) {
    for (const l of [...d.samples.match, ...d.samples.noMatch]) {
      const m = SAMPLE.exec(l);
      if (m === null) continue;
      methods.add(m[1]!);
      bases.add(m[2]!);
      statuses.add(Number(m[3]));
    }
  }
  for (const r of rules) {
    const walk = (m: RuleMatch): void => {
      const lits = m.paths.length > 0 ? requiredLiteralsOfList(m.paths) : null;
      for (const l of lits ?? []) bases.add(l.startsWith('/') ? l : `/${l}`);
      for (const s of [...(m.anyOf ?? []), ...(m.allOf ?? []), ...(m.noneOf ?? [])]) walk(s);
    };
    walk(r.settings.match);
  }
  const cuts = ['/./', '/../', '/x/../', '\\.\\', '/.', '/..', './', '../', '#', '#/x/../', ';p', ';', '%2e', '%2f', '\\x5C', '//', '?a=/../', '\\', '/.;/', '/..;/', '.', '..', '/%2e/', '/.%2f', '%2e%2e/', '\t', '/.#', '/x/..#y'];
  const prefixes = ['', '', '', 'http://h', 'HTTPS://h:8443', 'x:', '.', './', '..', 'h:/', '//h'];
  const pick = <T,>(r: () => number, s: readonly T[]): T => s[Math.floor(r() * s.length)]!;

  it('on 20,000 seeded mutations', () => {
    const B = [...bases];
    const M = [...methods];
    const S = [...statuses];
    const parse = createLineParser('auto');
    const matcher = new RuleMatcher(rules);
    const r = rng(Number(process.env.SEED ?? 7));
    let checked = 0;
    let matched = 0;
    const t0 = Date.now();
    for (let i = 0; i < 20_000 && Date.now() - t0 < 60_000; i++) {
      let t = pick(r, B);
      const k = 1 + Math.floor(r() * 3);
      for (let j = 0; j < k; j++) {
        const at = Math.floor(r() * (t.length + 1));
        t = t.slice(0, at) + pick(r, cuts) + t.slice(at);
      }
      t = pick(r, prefixes) + t;
      if (t.includes(' ') || t.includes('"')) continue;
      const line = `198.18.0.${i % 200} - - [02/Dec/2026:10:00:00 +0000] "${pick(r, M)} ${t} HTTP/1.1" ${pick(r, S)} 10 "-" "Mozilla/5.0"`;
      const ev = parse(line);
      if (isSkip(ev)) continue;
      checked++;
      const n = matcher.match(ev);
      const got = Array.from(matcher.matched.subarray(0, n)).map((x) => rules[x]!.name);
      const want = rules.filter((x) => x.matches(ev)).map((x) => x.name);
      matched += want.length;
      expect(got, line).toEqual(want);
    }
    expect(checked).toBeGreaterThan(5000);
    expect(matched).toBeGreaterThan(500);
  });
});
