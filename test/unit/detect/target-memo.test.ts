/**
 * What the hot path keeps per distinct text (text-memo.ts, TargetFacts in rule.ts) must never change
 * an answer: every event is matched exactly as a matcher that has seen nothing before would match it,
 * whatever came before, and no text can be answered for another (the latin1 twin of a text with a
 * character above U+00FF, a target past the kept length, a memo that filled up).
 */
import { describe, expect, it } from 'vitest';
import { TextMemo } from '../../../src/detect/text-memo.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { compileRule, MatchView } from '../../../src/detect/rule.js';
import { Prefilter } from '../../../src/detect/prefilter.js';
import { hashPath } from '../../../src/detect/distinct-window.js';
import { MAX_PATH_TESTED } from '../../../src/detect/path-pattern.js';
import { PRESETS } from '../../../src/detect/presets.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import { rng } from '../../support/random.js';

describe('TextMemo', () => {
  it('answers what was stored for the same text, and nothing for another', () => {
    const m = new TextMemo<number>(8);
    m.set('/a', 1);
    m.set('/b', 2);
    expect(m.get('/a')).toBe(1);
    expect(m.get('/b')).toBe(2);
    expect(m.get('/a')).toBe(1);
    expect(m.get('/c')).toBeUndefined();
    // A slice of a longer text is the same text.
    expect(m.get('x/ay'.slice(1, 3))).toBe(1);
  });

  it('never stores a text its latin1 copy would change (a client could send the copy to be answered for it)', () => {
    const m = new TextMemo<string>(8);
    // U+012E and U+4E2E both become 0x2E ('.') in latin1.
    m.set('/page\u012ejs', 'not static');
    m.set('/x\u4e2ephp', 'other');
    expect(m.get('/page.js')).toBeUndefined();
    expect(m.get('/x.php')).toBeUndefined();
    expect(m.get('/page\u012ejs')).toBeUndefined();
    expect(m.size).toBe(0);
    // Latin-1 itself is kept.
    m.set('/caf\u00e9', 'kept');
    expect(m.get('/caf\u00e9')).toBe('kept');
  });

  it('keeps no text longer than its limit, and holds at most max texts', () => {
    const m = new TextMemo<number>(4, 16);
    m.set('/' + 'a'.repeat(16), 1);
    expect(m.size).toBe(0);
    expect(m.get('/' + 'a'.repeat(16))).toBeUndefined();
    for (let i = 0; i < 50; i++) {
      m.set(`/p${i}`, i);
      expect(m.size).toBeLessThanOrEqual(4);
      expect(m.get(`/p${i}`)).toBe(i);
    }
  });
});

/** An event as the parser gives it, with the request line and headers. */
function event(target: string, status = 200, method = 'GET', userAgent = 'Mozilla/5.0 (X11; Linux x86_64)'): AccessEvent {
  return { ip: '198.18.0.9', family: 4, time: 0, method, path: target, status, request: `${method} ${target} HTTP/1.1`, userAgent, referer: '-' } as AccessEvent;
}

const rules = Object.entries(PRESETS).map(([name, s]) => compileRule(name, { ...s, enabled: true }));

/** Rule names matched by a matcher that has seen nothing before. */
function fresh(ev: AccessEvent): string[] {
  return rules.filter((r) => r.matches(ev)).map((r) => r.name);
}

describe('RuleMatcher with kept target facts', () => {
  const targets = [
    '/',
    '/index.html',
    '/page.js',
    '/page\u012ejs', // latin1 twin of /page.js: not a static asset
    '/x.php',
    '/x\u4e2ephp',
    '/wp-login.php',
    '/.env',
    '/.%65nv',
    '/docs/linux/etc/passwd-file-format.html',
    '/?../../etc/passwd',
    '/cgi-bin/../../etc/passwd',
    '/search?q=select+name+from+users',
    '/?1701234567',
    '/static/app.js?v=1701234567',
    '/' + 'a/'.repeat(300) + '.env', // past the kept length
    '/' + 'b'.repeat(600),
    '/api/v1/items?page=3&sort=price',
    '//admin//',
    '/phpmyadmin/',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/xmlrpc.php',
    '/?author=1',
  ];

  it('matches every event as a matcher that has seen nothing, whatever came before', () => {
    const matcher = new RuleMatcher(rules);
    // Each target with several statuses and methods, forwards then backwards, twice: every
    // answer kept for a target is asked again under other events.
    const events: AccessEvent[] = [];
    for (const status of [200, 403, 404, 400]) for (const method of ['GET', 'POST']) for (const t of targets) events.push(event(t, status, method));
    // Request lines that disagree with the target (a skewed event's copy, a hand-made one): each
    // is answered for its own target, never for the target another event had with that line.
    for (const t of targets) events.push({ ...event(t), request: 'GET / HTTP/1.1' } as AccessEvent, { ...event('/'), request: `GET ${t} HTTP/1.1` } as AccessEvent);
    const stream = [...events, ...[...events].reverse(), ...events];
    for (const ev of stream) {
      const n = matcher.match(ev);
      const got = Array.from(matcher.matched.subarray(0, n), (i) => rules[i]!.name);
      expect(got, `${ev.method} ${ev.path} ${ev.status}`).toEqual(fresh(ev));
    }
  });

  it('never answers a target for its latin1 twin under the same request line', () => {
    // Events whose request line and target disagree (no parser makes them, but the matcher takes any
    // event): the first target holds U+0100, whose latin1 copy is U+0000.
    const matcher = new RuleMatcher(rules);
    const withLine = (target: string): AccessEvent => ({ ...event(target, 404), request: 'GET /index.html HTTP/1.1' }) as AccessEvent;
    for (const [a, b] of [['/etc/passwd\u0100', '/etc/passwd\u0000'], ['/page\u012ejs', '/page.js'], ['/x\u4e2ephp', '/x.php']] as const) {
      for (const t of [a, b, a, b]) {
        const ev = withLine(t);
        const n = matcher.match(ev);
        expect(Array.from(matcher.matched.subarray(0, n), (i) => rules[i]!.name), JSON.stringify(t)).toEqual(fresh(ev));
        if (n > 0) expect(matcher.pathHash(), JSON.stringify(t)).toBe(hashPath(t));
      }
    }
  });

  it('gives each path its own hash, the query left out', () => {
    const matcher = new RuleMatcher(rules);
    const crawl = rules.findIndex((r) => r.name === 'crawl-non-static');
    for (const t of ['/a?x=1', '/b', '/a?y=2', '/page\u012ejs', '/page.js', '/b', '/a']) {
      const n = matcher.match(event(t));
      if (!Array.from(matcher.matched.subarray(0, n)).includes(crawl)) continue;
      const path = t.includes('?') ? t.slice(0, t.indexOf('?')) : t;
      expect(matcher.pathHash(), t).toBe(hashPath(path));
    }
  });

  it('does not let the latin1 twin of a static asset decide for the asset (crawl-non-static)', () => {
    const matcher = new RuleMatcher(rules);
    const crawl = rules.findIndex((r) => r.name === 'crawl-non-static');
    const counts = (t: string): boolean => {
      const n = matcher.match(event(t));
      return Array.from(matcher.matched.subarray(0, n)).includes(crawl);
    };
    expect(counts('/page\u012ejs')).toBe(true);
    expect(counts('/page.js')).toBe(false);
    expect(counts('/page\u012ejs')).toBe(true);
  });
});

describe('Prefilter and kept target facts', () => {
  it('never reads another prefilter\'s literal ids from a view they share', () => {
    const byName = (n: string) => rules.find((r) => r.name === n)!;
    // Two prefilters with different literal sets, so their ids differ.
    const a = new Prefilter([byName('bad-user-agents'), byName('w00tw00t')]);
    const b = new Prefilter([byName('sensitive-paths'), byName('xmlrpc')]);
    const view = new MatchView();
    for (const t of ['/.env', '/w00tw00t.at.ISC.SANS.DFind:)', '/index.html', '/.git/config']) {
      const ev = event(t);
      for (const [p, rs] of [[a, ['bad-user-agents', 'w00tw00t']], [b, ['sensitive-paths', 'xmlrpc']]] as const) {
        view.reset(ev);
        const pass = p.pass(ev, view);
        rs.forEach((name, i) => {
          if (byName(name).matches(ev)) expect(pass !== 0 && p.mayMatch(i, pass), `${name} on ${t}`).toBe(true);
        });
        // And the same answers as a prefilter with a view of its own.
        const own = new MatchView();
        own.reset(ev);
        const fresh = new Prefilter(rs.map(byName));
        const fp = fresh.pass(ev, own);
        rs.forEach((_, i) => expect(pass !== 0 && p.mayMatch(i, pass), `${t}`).toBe(fp !== 0 && fresh.mayMatch(i, fp)));
      }
    }
  });
});

describe('kept facts under hostile targets (differential, seeded)', () => {
  // Pieces a client can put in a target: encodings the rules decode, separators they normalise,
  // the presets' own words, characters whose latin1 copy is another one, and lengths around the
  // memo's 512-character limit.
  const pieces = ['/', '//', '\\', '%2e', '%252e', '%2F', '..', '.env', 'wp-login.php', 'etc/passwd', '?', '&', '=', '+', 'select', 'union',
    '<script>', '${jndi:', '.js', '.php', 'admin', '\u0100', '\u012e', '\u4e2e', '\u00e9', '\u0000', 'a'.repeat(250), 'b'.repeat(505)];
  const statuses = [200, 301, 400, 401, 403, 404, 500];
  const methods = ['GET', 'POST', 'HEAD', 'CONNECT'];
  const agents = ['Mozilla/5.0', 'sqlmap/1.7', 'curl/8.5.0', 'Nikto', '() { :; }; x'];

  it('answers every event of a long random stream as a fresh matcher would, through memos that fill and start again', () => {
    const next = rng(13);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!;
    const targets: string[] = [];
    for (let i = 0; i < 600; i++) {
      let t = '/';
      for (let k = 1 + Math.floor(next() * 5); k > 0; k--) t += pick(pieces);
      targets.push(t);
    }
    const matcher = new RuleMatcher(rules);
    const crawl = rules.findIndex((r) => r.name === 'crawl-non-static');
    // 4,200 distinct filler targets in the middle fill the memos past 4,096, so they start again.
    const stream: AccessEvent[] = [];
    for (let i = 0; i < 3000; i++) stream.push({ ...event(pick(targets), pick(statuses), pick(methods), pick(agents)) });
    for (let i = 0; i < 4200; i++) stream.push(event(`/filler/${i}`));
    for (let i = 0; i < 3000; i++) {
      const ev = { ...event(pick(targets), pick(statuses), pick(methods), pick(agents)) };
      // A tenth with a request line that disagrees with the target.
      stream.push(next() < 0.1 ? ({ ...ev, request: `GET ${pick(targets)} HTTP/1.1` } as AccessEvent) : ev);
    }
    for (const ev of stream) {
      const n = matcher.match(ev);
      const got = Array.from(matcher.matched.subarray(0, n));
      expect(got.map((i) => rules[i]!.name), JSON.stringify([ev.method, ev.path, ev.status, ev.request])).toEqual(fresh(ev));
      if (got.includes(crawl)) {
        const q = ev.path.indexOf('?');
        expect(matcher.pathHash()).toBe(hashPath(ev.path.slice(0, MAX_PATH_TESTED), q < 0 ? Math.min(ev.path.length, MAX_PATH_TESTED) : q));
      }
    }
  });
});
