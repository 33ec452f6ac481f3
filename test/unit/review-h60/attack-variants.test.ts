/**
 * Issue 13: an attack a preset's description claims must be caught however the server still reads
 * it. Helper H60's review found near-miss spellings that escaped: a webshell asked for with path info,
 * a NUL or a trailing dot/blank (what Apache, nginx's `\.php(/|$)`, old PHP and Windows servers still
 * run as the script), JSP/ASP.NET shells, Adminer at a prefix, xmlrpc.php with path info in a WordPress
 * scan, Spring actuator under a context path, `.env` with a trailing blank or NUL. Each is replayed
 * with every preset on (replay --all-rules) at the preset's own threshold. Test addresses only.
 */
import { describe, expect, it } from 'vitest';
import { line, presetMatches, replayAll, T0 } from '../presets-variants/harness.js';

/** Replays `targets` (one GET each, answered `status`) from one address; the rules that banned it. */
async function rulesBanning(ip: string, targets: readonly string[], status = 404): Promise<string[]> {
  const lines = targets.map((t, i) => line(ip, T0 + i, `GET ${t} HTTP/1.1`, status, 'Mozilla/5.0'));
  return (await replayAll(lines)).bans.filter((b) => b.ip === ip).map((b) => b.rule);
}

describe('webshell-probes: names the server still runs the shell for (2 distinct in 10 minutes)', () => {
  const walks: Record<string, string[]> = {
    'path info after the script': ['/c99.php/', '/wp-content/uploads/wso.php/x'],
    'a NUL before a harmless extension': ['/uploads/wso.php%00.jpg', '/images/r57.php%00.png'],
    'a trailing dot or blank (Windows servers drop them)': ['/alfa.php.', '/r57.php%20'],
    'JSP and ASP.NET shells': ['/cmd.jsp?cmd=id', '/shell.aspx', '/jspspy.jsp'],
  };
  for (const [name, targets] of Object.entries(walks)) {
    it(`bans a walk of ${name}`, async () => {
      expect(await rulesBanning(`198.19.170.${Object.keys(walks).indexOf(name) + 1}`, targets)).toContain('webshell-probes');
    });
  }
  it('still leaves a backup copy and a tutorial page alone', () => {
    for (const t of ['/wso.php.bak', '/docs/shell.jsp-tutorial', '/docs/browser.jsp']) {
      expect([t, presetMatches('webshell-probes', line('198.18.170.1', T0, `GET ${t} HTTP/1.1`, 404))]).toEqual([t, false]);
    }
  });
});

describe('admin-probes: Adminer served at a prefix (2 distinct in 10 minutes)', () => {
  it('bans /adminer/ with another front-end', async () => {
    expect(await rulesBanning('198.19.171.1', ['/adminer/', '/pma/'])).toContain('admin-probes');
    expect(await rulesBanning('198.19.171.2', ['/adminer', '/adminer.php'])).toContain('admin-probes');
  });
  it('still leaves a blog post about Adminer alone', () => {
    expect(presetMatches('admin-probes', line('198.18.171.1', T0, 'GET /blog/adminer-vs-phpmyadmin HTTP/1.1', 404))).toBe(false);
  });
});

describe('wordpress-scan: xmlrpc.php and wp-login.php with path info (3 distinct in 10 minutes)', () => {
  it('bans a scan that asks for them so', async () => {
    expect(await rulesBanning('198.19.172.1', ['/xmlrpc.php/', '/blog/wp-login.php/x', '/wp-cron.php/'])).toContain('wordpress-scan');
  });
});

describe('tech-probes: Spring actuator under a context path (one request)', () => {
  for (const t of ['/api/actuator/env', '/app/actuator/heapdump', '/service/v1/actuator/configprops']) {
    it(`bans GET ${t} answered 404`, async () => {
      expect(await rulesBanning('198.19.173.1', [t])).toContain('tech-probes');
    });
  }
  it('still leaves an actuator that answers alone (the product runs here)', async () => {
    expect(await rulesBanning('198.18.173.1', ['/api/actuator/env'], 200)).toEqual([]);
  });
});

describe('sensitive-paths: .env with a trailing blank or NUL (2 in 10 minutes)', () => {
  it('bans /.env%20 and /.env%00', async () => {
    expect(await rulesBanning('198.19.174.1', ['/.env%20', '/app/.env%00'])).toContain('sensitive-paths');
  });
  it('still leaves a page about environments alone', () => {
    expect(presetMatches('sensitive-paths', line('198.18.174.1', T0, 'GET /blog/.environment-friendly-tips HTTP/1.1', 404))).toBe(false);
  });
});

describe('sqli-probes: a quote-comparison injection with MySQL\'s `||` / `&&` for OR / AND (5 in 10 minutes)', () => {
  it('bans five such payloads', async () => {
    const ip = '198.19.175.1';
    const payloads = ["1%27||%271%27=%271", "1%27%7C%7C%27a%27%3D%27a", "x%22||%22b%22=%22b", "1%27%26%26%271%27%3D%271", "2%27+||+1%3D1+--+"];
    const lines = payloads.map((p, i) => line(ip, T0 + i, `GET /item.php?id=${p} HTTP/1.1`, 200));
    expect((await replayAll(lines)).bans.filter((b) => b.ip === ip).map((b) => b.rule)).toContain('sqli-probes');
  });
});
