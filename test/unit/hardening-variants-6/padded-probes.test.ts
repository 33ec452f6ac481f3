/**
 * Padding does not hide a probe. A client pads its target to escape whatever looks at only part of
 * it, with text the server resolves away (`/./`, `//`, `%2e/`, `%252e/`, `\`, `;x` parameters) or
 * with a long query before the payload. Every exploit-probes and sensitive-paths sample that matches
 * still matches, with every preset on, when its target is padded to ~8 KB in each of those ways (the
 * prefilter now judges such a target by its spellings, and RE2-run patterns are guarded by their
 * literals: neither may lose a match). And on random hostile targets built from those pieces and the
 * probes' own words, the shared matcher (prefilter, literal guards, memos) answers exactly what each
 * rule's own full match answers.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS, PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import { compileRule } from '../../../src/detect/rule.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, type AccessEvent } from '../../../src/parse/access-event.js';

const names = Object.keys(PRESETS);
const rules = names.map((n) => compileRule(n, PRESETS[n]!));
const parse = createLineParser('auto');
const REQUEST = /"([A-Z]+) (\S+) (HTTP\/[0-9.]+)"/;

/** Ways to pad a path that leave what the server serves unchanged (repeated to about 8 KB). */
const PATH_PADDING: Record<string, (path: string) => string> = {
  'dot segments': (p) => '/.'.repeat(4000) + p,
  'slash runs': (p) => '/'.repeat(8000) + p,
  'encoded dots': (p) => '/%2e'.repeat(2000) + p,
  'double-encoded dots': (p) => '/%252e'.repeat(1300) + p,
  'backslashes (logged as \\\\)': (p) => '\\\\'.repeat(4000) + p,
  'nginx backslashes (\\x5C)': (p) => '\\x5C'.repeat(2000) + p,
  'up and down again': (p) => '/x/..'.repeat(1600) + p,
};

const matched = (line: string): string[] => {
  const e = parse(line);
  if (isSkip(e)) throw new Error(`skipped: ${line}`);
  const m = new RuleMatcher(rules);
  const n = m.match(e);
  return Array.from(m.matched.subarray(0, n), (i) => names[i]!);
};

const samples = PRESET_DEFINITIONS.filter((d) => d.name === 'exploit-probes' || d.name === 'sensitive-paths').flatMap((d) => d.samples.match.map((line) => ({ rule: d.name, line })));

describe('padded probes are still matched', () => {
  it.each(Object.entries(PATH_PADDING))('path padded with %s', (_, pad) => {
    let padded = 0;
    for (const { rule, line } of samples) {
      const m = REQUEST.exec(line);
      if (m === null || !m[2]!.startsWith('/')) continue;
      const [whole, method, target, proto] = m;
      const path = target!.split('?')[0]!;
      // Pad only a path the padding cannot change the meaning of (anchored patterns see the
      // resolved path; a path-info probe keeps its script name first).
      const out = line.replace(whole!, `"${method} ${pad(path)}${target!.slice(path.length)} ${proto}"`);
      expect.soft(matched(out), out.slice(0, 120) + '…' + out.slice(-160)).toContain(rule);
      padded++;
    }
    expect(padded).toBeGreaterThan(40);
  });

  it('a query padded in front with ~8 KB of parameters', () => {
    let padded = 0;
    for (const { rule, line } of samples) {
      const m = REQUEST.exec(line);
      if (m === null || !m[2]!.includes('?')) continue;
      const [whole, method, target, proto] = m;
      const q = target!.indexOf('?');
      const out = line.replace(whole!, `"${method} ${target!.slice(0, q + 1)}${'pad=x&'.repeat(1350)}${target!.slice(q + 1)} ${proto}"`);
      expect.soft(matched(out), out.slice(-200)).toContain(rule);
      padded++;
    }
    expect(padded).toBeGreaterThan(15);
  });

  it('a User-Agent or referer padded in front with ~8 KB', () => {
    for (const { rule, line } of samples) {
      const m = /" (\d{3}) (\S+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/.exec(line);
      if (m === null) continue;
      const [, , , referer, agent] = m;
      if (/\$\{|\(\)/.test(agent!)) expect.soft(matched(line.replace(`"${agent}"`, `"${'x'.repeat(8000)} ${agent}"`))).toContain(rule);
      if (/\$\{|\(\)/.test(referer!)) expect.soft(matched(line.replace(`"${referer}"`, `"${'x'.repeat(8000)} ${referer}"`))).toContain(rule);
    }
  });
});

describe('a probe spelled with ſ (U+017F), which RE2 reads as s', () => {
  // The prefilter used to give up on any character ≥ 128; it now reads ſ and K (U+212A) as s and k
  // in the spellings it scans (the only characters RE2 folds into ASCII), and no other as a literal.
  it.each(['/../etc/pa%c5%bf%c5%bfwd', '/../proc/%c5%bfelf/environ', '/%2e%2e/etc/pa%u017f%u017fwd', '/x/' + '%2e/'.repeat(2000) + '../etc/pa%c5%bfswd'])('%s', (path) => {
    const e: AccessEvent = { ip: '198.18.0.8', family: 4, time: 0, method: 'GET', path, status: 404 };
    const m = new RuleMatcher(rules);
    const n = m.match(e);
    expect(rules[names.indexOf('exploit-probes')]!.matches(e)).toBe(true);
    expect(Array.from(m.matched.subarray(0, n), (i) => names[i]!)).toContain('exploit-probes');
  });
});

describe('the shared matcher answers what each rule answers, on random hostile targets', () => {
  it('on 3,000 targets of hostile pieces and probe words, every preset', () => {
    let seed = 23;
    const next = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n);
    const pieces = [
      '/', '//', '\\\\', '\\x5c', '%2e', '%2f', '%5c', '%25', '%252e', '%u002e', '%c0%ae', '%c0%af', '%ff', '%c5%bf', '%e2%84%aa', '%u017f', '%u212a',
      '.', '..', './', '../', '..;/', ';x', ';', '?', '&', '=', '#', '+', '%09', '%0a', '%3f', '%23', 'a', 'B',
      'etc', 'passwd', 'bin', 'sh', 'cgi-bin', 'tmui', 'eval-stdin.php', 'web-inf', 'wp-login.php', 'xmlrpc.php', '.env', '.git', 'config',
      '${', 'jndi:', '%24%7b', 'select', 'union', '<script', 'or', '1=1', 'api', 'v2', 'phpmyadmin', 'shell.php', 'wp-json/wp/v2/users',
    ];
    const events: AccessEvent[] = [];
    for (let k = 0; k < 3000; k++) {
      let t = '/';
      const n = 1 + next(14);
      for (let i = 0; i < n; i++) t += pieces[next(pieces.length)];
      // Some long ones: a piece repeated (padding) around the rest.
      if (next(6) === 0) t = '/' + pieces[next(pieces.length)]!.repeat(200 + next(400)) + t;
      events.push({ ip: '198.18.0.7', family: 4, time: 0, method: next(5) === 0 ? 'POST' : 'GET', path: t, status: [200, 400, 403, 404][next(4)]! });
    }
    const m = new RuleMatcher(rules);
    let hits = 0;
    for (const e of events) {
      const n = m.match(e);
      const shared = Array.from(m.matched.subarray(0, n), (i) => names[i]!);
      const own = names.filter((_, i) => rules[i]!.matches(e));
      if (shared.join() !== own.join()) expect({ path: e.path, status: e.status, shared }).toEqual({ path: e.path, status: e.status, shared: own });
      hits += own.filter((x) => x !== 'request-flood' && x !== 'crawl-non-static' && x !== 'not-found').length;
    }
    expect(hits).toBeGreaterThan(300);
  });
});
