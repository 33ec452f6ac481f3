/**
 * No request escapes a rule through the shared prefilter or the RE2 literal guard (helper H20's
 * hostile review of fcc92be). Two classes were found, each a rule whose own full match counts a line
 * that the shared matcher (prefilter gate, then the literal guard before re2js) never offered to it:
 *
 * 1. Spellings that JOIN text: a path pattern that mentions `?` sees the whole target with its path
 *    as the server serves it, so `/wp-login.php#x?action=register` (the fragment dropped) and
 *    `/x/..?author=1` (a trailing dot segment resolved) are also read as `/wp-login.php?action=register`
 *    and `/?author=1`. The raw target holds neither literal, and neither `#` nor a dot segment right
 *    before the query made the prefilter scan the spellings, so `\.php\?action=` or `^/\?author=` was
 *    never run on such a line.
 * 2. Escapes RE2 read otherwise than JavaScript: patterns are JavaScript syntax (no `u` flag), where
 *    `\p`, `\P`, `\A`, `\z`, `\Q`, `\E` are just those letters and `\u{4a}`, `\x{4a}` are `u`/`x`
 *    then `{4a}`; re2js's translateRegExp passed them to RE2 as a Unicode class, anchors, quoting
 *    and a code point. The literals (literals.ts, read as JavaScript) were then not in what RE2
 *    matched: `\pLx+` needs `lx` but RE2 matched `/ax`. And the same pattern meant two things by
 *    engine (without a quantifier V8 runs it and reads `pL`). RE2 now reads them as JavaScript does.
 *
 * Then a differential check: random hostile lines (targets, User-Agents, referers, methods), every
 * preset and user rules of many shapes; the shared matcher must count exactly what each rule's own
 * match counts with no literal known (every pattern given a never-matching alternative, so neither a
 * gate nor a guard applies).
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../src/detect/presets.js';
import { compileRule, type RuleMatch, type RuleSettings } from '../../../src/detect/rule.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { compilePathPatterns, engineFor } from '../../../src/detect/path-pattern.js';
import { fold, requiredLiterals } from '../../../src/detect/literals.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';

const user = (match: Partial<RuleMatch>): RuleSettings => ({
  enabled: true,
  description: '',
  maxretry: 1,
  findtime: 1000,
  bantime: 1000,
  increment: null,
  match: { status: null, paths: [], methods: [], ...match },
});

/** The rules `defs` counts `e` with through the shared matcher, and each rule's own match with no literal known. */
function bothWays(defs: Record<string, RuleSettings>) {
  const names = Object.keys(defs);
  const rules = names.map((n) => compileRule(n, defs[n]!));
  const wrap = (ps: readonly string[] | undefined): string[] | undefined => ps?.map((p) => `(?:${p})|[^\\s\\S]`);
  const bare = (m: RuleMatch): RuleMatch => ({
    ...m,
    paths: wrap(m.paths)!,
    queries: wrap(m.queries),
    userAgents: wrap(m.userAgents),
    referers: wrap(m.referers),
    requests: wrap(m.requests),
    anyOf: m.anyOf?.map(bare),
    allOf: m.allOf?.map(bare),
    noneOf: m.noneOf?.map(bare),
  });
  const own = names.map((n) => compileRule(n, { ...defs[n]!, match: bare(defs[n]!.match) }));
  const matcher = new RuleMatcher(rules);
  return (e: AccessEvent): { shared: string[]; own: string[] } => {
    const n = matcher.match(e);
    return { shared: Array.from(matcher.matched.subarray(0, n), (i) => names[i]!), own: names.filter((_, i) => own[i]!.matches(e)) };
  };
}

const event = (path: string, extra: Partial<AccessEvent> & { userAgent?: string; referer?: string } = {}): AccessEvent =>
  ({ ip: '198.18.0.20', family: 4, time: 0, method: 'GET', path, status: 404, request: `GET ${path} HTTP/1.1`, ...extra }) as AccessEvent;

describe('spellings that join text across a dropped fragment or a resolved trailing dot segment', () => {
  const defs = {
    register: user({ paths: ['/wp-login\\.php\\?action=register'] }),
    author: user({ paths: ['^/\\?author=\\d+'] }),
    admin: user({ paths: ['/admin/\\?debug='] }),
  };
  const check = bothWays(defs);
  it.each([
    ['/wp-login.php#x?action=register', 'register'],
    ['/wp-login.php#?action=register', 'register'],
    ['/x/..?author=1', 'author'],
    ['/.?author=1', 'author'],
    ['/x\\..?author=1', 'author'],
    ['/x/..#frag?author=1', 'author'],
    ['/admin/x/..?debug=1', 'admin'],
    ['/admin/.?debug=1', 'admin'],
    ['/admin/#?debug=1', 'admin'],
  ])('%s counts for %s', (path, rule) => {
    const { shared, own } = check(event(path));
    expect(own).toContain(rule);
    expect(shared).toEqual(own);
  });
});

describe('escapes RE2 read otherwise than JavaScript', () => {
  it.each([
    ['\\pLx+', '/pLxx', '/lx'],
    ['\\PLx+', '/PLx', '/1x'],
    ['/\\p{Greek}+', '/p{Greek}}', '/α'],
    ['/\\x{4a}+z', '/x{4a}}z', '/Jz'],
    ['/\\x{3}y+', '/xxxy', '/\x03y'],
    ['/\\x{4g}+z', '/x{4g}}z', '/Jz'],
    ['/\\u{4a}+z', '/u{4a}z', '/Jz'],
    ['\\Qab\\\\cd\\E+', 'Qab\\cdEE', 'ab\\\\cd'],
    ['\\Ax+yz', '/Axyz', 'xyz'],
    ['ab\\z+', '/abzz', 'ab'],
  ])('%s runs on RE2 as JavaScript reads it', (p, js, notJs) => {
    expect(engineFor(p)).toBe('re2');
    const v8 = new RegExp(p, 'i');
    expect(v8.test(js)).toBe(true);
    expect(v8.test(notJs)).toBe(false);
    const test = compilePathPatterns([p])!;
    expect(test(js)).toBe(true);
    expect(test(notJs)).toBe(false);
    // And the pattern without its `+` (which V8 runs when nothing else counts as a quantifier) reads the same.
    const unquantified = p.replace(/\+/g, '');
    for (const s of [js, notJs, js.replace(/(.)\1+/g, '$1')]) expect(compilePathPatterns([unquantified])!(s), s).toBe(new RegExp(unquantified, 'i').test(s));
  });

  it('a rule of such a pattern counts in the shared matcher exactly what it counts alone', () => {
    const check = bothWays({ pl: user({ paths: ['\\pLx+'] }), greek: user({ paths: ['/\\p{Greek}+'] }), q: user({ paths: ['\\Qab\\\\cd\\E+'] }) });
    for (const path of ['/ax', '/pLx', '/α', '/p{Greek}', '/ab\\\\cd', '/Qab\\cdE']) {
      const { shared, own } = check(event(path));
      expect(shared, path).toEqual(own);
    }
  });
});

describe('a count written with leading zeros', () => {
  // `{00}` and `{00,3}` are counts of none in JavaScript: the atom before them is optional, and its
  // character no necessary literal (literals.ts took only the spelling `{0}` as none).
  it.each([
    ['/ab{00}c', '/ac'],
    ['/ab{00,3}c', '/ac'],
    ['/x(?:ab){000}y', '/xy'],
  ])('%s matches %s, which holds one of its literals', (p, text) => {
    expect(new RegExp(p, 'i').test(text)).toBe(true);
    const literals = requiredLiterals(p);
    if (literals !== null) expect(literals.some((l) => fold(text).includes(l)), String(literals)).toBe(true);
  });
});

describe('the shared matcher answers what each rule answers alone, on random hostile lines', () => {
  const USER: Record<string, RuleSettings> = {
    'u-register': user({ paths: ['/wp-login\\.php\\?action=register'] }),
    'u-author': user({ paths: ['^/\\?author=\\d+'] }),
    'u-slashq': user({ paths: ['/\\?[a-z]+='] }),
    'u-pL': user({ paths: ['\\pLx+'] }),
    'u-pgreek': user({ paths: ['/\\p{Greek}+'] }),
    'u-xbrace': user({ paths: ['/\\x{4a}+z'] }),
    'u-ubrace': user({ paths: ['/\\u{4a}+z'] }),
    'u-Q': user({ paths: ['\\Qab\\\\cd\\E+'] }),
    'u-A': user({ queries: ['\\A+x'] }),
    'u-union': user({ queries: ['union\\s+(?:all\\s+)?select'] }),
    'u-plus': user({ paths: ['/a\\+b+'] }),
    'u-space': user({ queries: ['a b+c'] }),
    'u-kelvin': user({ paths: ['/kk+s'] }),
    'u-back': user({ paths: ['\\\\\\\\x+y'] }),
    'u-pct': user({ queries: ['%[0-9]+z'] }),
    'u-ua': user({ userAgents: ['sql(?:map)+'] }),
    'u-ref': user({ referers: ['\\$\\{jndi:(?:ldap)+'] }),
    'u-req': user({ requests: ['^GET /x+ '] }),
    'u-dollar': user({ paths: ['/x\\.php$'], queries: ['q=[^&]+'] }),
    'u-alt': user({ paths: ['(?:ab|cd)+ef|gh+'] }),
    'u-opt': user({ paths: ['a(?:bc)?d+'] }),
    'u-phpq': user({ paths: ['\\.php\\?x'] }),
    'u-anyof': user({ anyOf: [{ status: null, methods: [], paths: ['/etc/pass+wd'] }, { status: null, methods: ['POST'], paths: [], userAgents: ['curl/+'] }] }),
    'u-none': user({ status: [404], paths: ['/wp-[a-z]+'], noneOf: [{ status: null, methods: [], paths: ['\\.css$'] }] }),
  };
  const pieces = [
    '/', '//', '\\', '\\\\', '\\x5c', '\\X5C', '%2e', '%2f', '%5c', '%25', '%252e', '%2525', '%u002e', '%c0%ae', '%c0%af', '%e0%80%ae', '%ff', '%c5%bf', '%e2%84%aa', '%u017f', '%u212a', '%uff0e',
    '.', '..', './', '../', '/./', '/../', '/..', '/.', '..;/', ';x', ';', '?', '&', '=', '#', '+', '%2b', '%20', '%09', '%0a', '%0d', '\t', '%3f', '%23', '%253f',
    'a', 'B', 'k', 'K', 's', 'S', 'ſ', 'K', 'é', 'α', 'x', 'X', 'z', 'y', 'J', 'cd', 'ab', 'ef', 'gh', 'q=1', 'pL', 'p{Greek}', 'u{4a}', 'Qab\\cdE', 'A',
    'etc', 'passwd', 'pass', 'wd', 'bin', 'sh', 'cgi-bin', 'tmui', 'eval-stdin.php', 'web-inf', 'wp-login.php', 'xmlrpc.php', '.env', '.git', 'config', 'index.php', 'admin', 'action=register', 'author=1',
    '${', 'jndi:', '%24%7b', '%7b', 'select', 'union', '<script', 'javascript:', 'java%09script:', 'or', '1=1', 'api', 'v2', 'phpmyadmin', 'shell.php', 'wp-json/wp/v2/users', 'rest_route=', 'http://', 'http:',
    'sqlmap', 'ldap', 'curl/', '.php', 'x.php', '.css', 'a+b', 'a b', 'kks', 'KKS', 'ab\\\\cd', 'ab\\cd', 'φ',
  ];
  const statuses = [200, 301, 400, 401, 403, 404, 405, 429, 500];

  it.each([1, 2, 3, 4])('seed %i: 2,500 lines, every preset and 24 user rules', (seed0) => {
    const check = bothWays({ ...PRESETS, ...USER });
    let seed = seed0 * 7919;
    const next = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n);
    const text = (k: number, start: string): string => {
      let t = start;
      for (let i = 0; i < k; i++) t += pieces[next(pieces.length)];
      return t;
    };
    let counted = 0;
    for (let k = 0; k < 2500; k++) {
      let t = text(1 + next(10), next(8) === 0 ? '' : '/');
      if (next(20) === 0) t = '/' + pieces[next(pieces.length)]!.repeat(100 + next(300)) + t;
      const method = ['GET', 'POST', 'HEAD', 'PUT'][next(4)]!;
      const e = event(t, {
        method,
        status: statuses[next(statuses.length)]!,
        ...(next(3) === 0 ? { userAgent: text(1 + next(5), '') } : {}),
        ...(next(3) === 0 ? { referer: text(1 + next(5), '') } : {}),
      });
      const { shared, own } = check(e);
      if (shared.join() !== own.join()) expect({ path: t, shared }).toEqual({ path: t, shared: own });
      counted += own.length;
    }
    expect(counted).toBeGreaterThan(2000);
  });
});
