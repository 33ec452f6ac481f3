/**
 * Spellings of a request target that nginx and Apache serve as another
 * path, which the rules did not read that way.
 *
 * - A raw `#fragment`: both servers drop it (nginx's complex-URI parser stops at `#`, APR's URI parser
 *   splits it off), so `POST /xmlrpc.php#x` runs xmlrpc.php, yet `$`-anchored patterns saw `…php#x`.
 * - Dot segments: both resolve `/./` and `/x/../` (RFC 3986 remove_dot_segments), so `/./tmui/…` is
 *   `/tmui/…`, yet `^/`-anchored patterns saw `/./tmui/`.
 * - An absolute-form target (`GET http://host/manager/html`): both serve the path of it, yet
 *   `^/`-anchored patterns saw `http://host/…` (only open-proxy, off by default, looks at it).
 * Through the live agent's matcher (prefilter, memos, full match), and each rule's own matches().
 */
import { describe, it, expect } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { selectRules } from '../../../src/pipeline/pipeline.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const RULES = 'admin-probes,exploit-probes,sensitive-paths,webshell-probes,login-bruteforce,xmlrpc,tech-probes,wordpress-scan,wp-user-enum';
const rules = selectRules(loadConfig({ env: { BANHAMMER_RULES: RULES }, hostname: 'x' }));
const matcher = new RuleMatcher(rules);
const parse = createLineParser('auto');

const countedBy = (method: string, target: string, status: number): string[] => {
  const ev = parse(`198.18.0.1 - - [02/Dec/2026:10:00:00 +0000] "${method} ${target} HTTP/1.1" ${status} 10 "-" "Mozilla/5.0"`);
  if (typeof ev === 'string') throw new Error(ev);
  const n = matcher.match(ev);
  const live = [...matcher.matched.slice(0, n)].map((i) => matcher.rules[i]!.name);
  // The prefilter never rejects what a rule's own full match accepts.
  expect(live).toEqual(rules.filter((r) => r.matches(ev)).map((r) => r.name));
  return live;
};

describe('served spellings of a target', () => {
  it.each([
    // fragment
    ['POST', '/xmlrpc.php#x', 200, 'xmlrpc'],
    ['POST', '/wp-login.php#', 200, 'login-bruteforce'],
    ['GET', '/.env#a', 404, 'sensitive-paths'],
    ['GET', '/shell.php#1', 404, 'webshell-probes'],
    ['GET', '/.aws/credentials#x', 404, 'sensitive-paths'],
    // dot segments
    ['POST', '/./xmlrpc.php', 200, 'xmlrpc'],
    ['POST', '/./user/login', 200, 'login-bruteforce'],
    ['GET', '/./tmui/login.jsp', 404, 'exploit-probes'],
    ['GET', '/static/../tmui/login.jsp', 404, 'exploit-probes'],
    ['GET', '/%2e/tmui/login.jsp', 404, 'exploit-probes'],
    ['GET', '/./manager/html', 404, 'admin-probes'],
    ['GET', '/x/../system/console', 404, 'tech-probes'],
    ['GET', '/./wp-json/wp/v2/users', 200, 'wp-user-enum'],
    // resolving joins text no necessary literal spanned (the prefilter must not reject these)
    ['GET', '/manager/x/../html', 404, 'admin-probes'],
    ['GET', '/manager/./html', 404, 'admin-probes'],
    ['GET', '/manager\\.\\html', 404, 'admin-probes'],
    ['GET', '/xmlrpc/../eval-stdin.php', 404, 'exploit-probes'],
    ['GET', '/php/./ztp_gate.php', 404, 'exploit-probes'],
    ['GET', '/php/x/../ztp_gate.php', 404, 'exploit-probes'],
    ['GET', '/service/extension/backup/./mboximport', 404, 'exploit-probes'],
    // absolute-form targets
    ['GET', 'http://example.test/manager/html', 404, 'admin-probes'],
    ['GET', 'http://example.test/tmui/login.jsp', 404, 'exploit-probes'],
    ['POST', 'https://example.test/xmlrpc.php', 200, 'xmlrpc'],
    ['POST', 'http://example.test:80/user/login', 200, 'login-bruteforce'],
  ])('%s %s (%i) counts for %s', (method, target, status, rule) => {
    expect(countedBy(method, target, status)).toContain(rule);
  });

  it('ordinary targets with dots, fragments or a host stay uncounted', () => {
    expect(countedBy('GET', '/docs/./intro.html', 200)).toEqual([]);
    expect(countedBy('GET', '/a/b/c.html#top', 200)).toEqual([]);
    expect(countedBy('GET', 'http://example.test/index.html', 200)).toEqual([]);
    expect(countedBy('GET', '/releases/v1.../v2', 200)).toEqual([]);
  });
});

describe('prefilter vs full match on served spellings (seeded)', () => {
  it('never rejects what a rule matches, for preset paths cut by dot segments, fragments and hosts', () => {
    let seed = 20261204;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const bases = [
      '/php/ztp_gate.php', '/eval-stdin.php', '/manager/html', '/xmlrpc.php', '/wp-login.php', '/tmui/login.jsp', '/.env',
      '/.git/config', '/system/console', '/vendor/x/y.php', '/shell.php', '/wp-json/wp/v2/users', '/user/login', '/etc/passwd',
      '/service/extension/backup/mboximport', '/vpns/cfg/smb.conf', '/.aws/credentials', '/phpmyadmin/index.php',
    ];
    const cuts = ['/./', '/x/../', '/.\\', '\\..\\', '/%2e/', '/./../'];
    let checked = 0;
    for (let k = 0; k < 3000; k++) {
      let t = bases[rnd(bases.length)]!;
      // One of its slashes spelled with a dot segment (the same served path), then maybe a fragment and a host.
      const slashes = [...t].flatMap((c, i) => (c === '/' ? [i] : []));
      const at = slashes[rnd(slashes.length)]!;
      if (rnd(3) > 0) t = t.slice(0, at) + cuts[rnd(cuts.length)]! + t.slice(at + 1);
      if (rnd(3) === 0) t += '#' + 'ab/.'.slice(0, rnd(5));
      if (rnd(4) === 0) t = 'http://example.test' + t;
      countedBy(rnd(2) === 0 ? 'GET' : 'POST', t, [200, 403, 404][rnd(3)]!);
      checked++;
    }
    expect(checked).toBe(3000);
  });
});
