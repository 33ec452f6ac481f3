/**
 * Issue 13: "No preset, whether on by default or not, may ban a benign client of a realistic
 * traffic mix". Each session below is one benign client, replayed alone with every preset on
 * (replay --all-rules); none may be banned. The control at the end shows the harness bans.
 */
import { describe, expect, it } from 'vitest';
import { bansOf, CHROME, FIREFOX, line, replayAll, T0 } from './harness.js';

type Session = () => string[];

const SAFARI_ICONS = 'MobileSafari/604.1 CFNetwork/1496.0.7 Darwin/23.5.0';

const sessions: Record<string, Session> = {
  // A reader of a documentation site searching for SQL functions: a few searches a minute, each with
  // a function's parentheses (what a SQL docs search box gets), plus plain English with brackets.
  'a reader searching SQL documentation (function names with parentheses)': () =>
    ['concat(first,+last)', 'substring(name,+1,+3)', 'version()+mysql', 'user()+function', 'char(10)+newline', 'upper(name)+vs+ucase', 'md5(password)+insecure']
      .map((q, i) => line('198.18.210.1', T0 + i * 50, `GET /search?q=${q} HTTP/1.1`, 200)),
  'a shopper searching words followed by brackets (arctic char (fish), database (book) …)': () =>
    ['arctic+char+(fish)', 'database+(book)', 'user+(manual)+pdf', 'version+(2024)', 'lower+(back)+pain', 'hex+(nut)+m6']
      .map((q, i) => line('198.18.210.2', T0 + i * 60, `GET /shop/search?q=${q} HTTP/1.1`, 200, CHROME)),
  // Documentation pages about server files (the issue's `/docs/linux/etc/passwd-file-format.html` class).
  'a reader of tutorials about .htaccess and .htpasswd': () =>
    ['/wiki/.htaccess_tutorial', '/wiki/.htpasswd-generator', '/docs/.htaccess_rewrite_rules', '/blog/what-is-etc-shadow', '/docs/linux/etc/passwd-file-format.html']
      .map((p, i) => line('198.18.210.3', T0 + i * 30, `GET ${p} HTTP/1.1`, 200, CHROME)),
  // WordPress with plain permalinks (its default): the author archive is /?author=N, paged.
  'a reader paging through an author archive (plain permalinks)': () =>
    [1, 2, 3, 4, 5, 6].map((p, i) => line('198.18.210.4', T0 + i * 40, `GET /?author=2${p === 1 ? '' : `&paged=${p}`} HTTP/1.1`, 200, FIREFOX)),
  'an RSS reader polling an author feed every 2 minutes': () =>
    Array.from({ length: 30 }, (_, i) => line('198.18.210.5', T0 + i * 120, 'GET /?author=2&feed=rss2 HTTP/1.1', i % 3 ? 304 : 200, 'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers)')),
  // An office NAT: 12 people, each opening a page a minute; every page view costs a missing favicon
  // and Safari's two touch icons (the issue's "missing favicon 404s repeated on every page view").
  'an office NAT of 12 people, missing favicon and touch icons on every page view': () => {
    const out: string[] = [];
    for (let m = 0; m < 10; m++) {
      for (let u = 0; u < 12; u++) {
        const t = T0 + m * 60 + u * 5;
        out.push(line('198.18.210.6', t, `GET /intranet/page-${(m * 12 + u) % 50} HTTP/1.1`, 200, CHROME));
        out.push(line('198.18.210.6', t + 1, 'GET /favicon.ico HTTP/1.1', 404, CHROME));
        out.push(line('198.18.210.6', t + 1, 'GET /apple-touch-icon.png HTTP/1.1', 404, SAFARI_ICONS));
        out.push(line('198.18.210.6', t + 1, 'GET /apple-touch-icon-precomposed.png HTTP/1.1', 404, SAFARI_ICONS));
      }
    }
    return out;
  },
  // An API client syncing records by id: 5 requests a second for a minute.
  'a python-requests client fetching records by id (5/s)': () =>
    Array.from({ length: 300 }, (_, i) => line('198.18.210.7', T0 + i / 5, `GET /api/v1/orders/${1000 + i} HTTP/1.1`, 200, 'python-requests/2.31.0')),
  'an okhttp app syncing JSON documents by id (4/s)': () =>
    Array.from({ length: 200 }, (_, i) => line('198.18.210.8', T0 + i / 4, `GET /sync/notes/${i}.json HTTP/1.1`, 200, 'okhttp/4.12.0')),
  // An import script POSTing rows; the API answers 400 for the rows that fail validation.
  'a curl import script whose invalid rows the API answers 400': () =>
    Array.from({ length: 120 }, (_, i) => line('198.18.210.9', T0 + i / 2, 'POST /api/v1/contacts HTTP/1.1', i % 4 === 0 ? 400 : 201, 'curl/8.5.0')),
};

describe('benign sessions with every preset on (replay --all-rules)', () => {
  for (const [name, session] of Object.entries(sessions)) {
    it(`bans nobody: ${name}`, async () => {
      const report = await replayAll(session());
      expect(report.skipped).toBe(0);
      expect(bansOf(report)).toEqual([]);
    });
  }

  it('control: the same harness bans an attacker', async () => {
    const report = await replayAll([
      line('198.19.2.1', T0, 'GET /.env HTTP/1.1', 404),
      line('198.19.2.1', T0 + 1, 'GET /.git/config HTTP/1.1', 404),
    ]);
    expect(report.bans.map((b) => `${b.ip} ${b.rule}`)).toContain('198.19.2.1 sensitive-paths');
  });
});

describe('admin-probes: ordinary words as path segments (2 distinct in 10 minutes)', () => {
  const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
  it('bans nobody: Googlebot following old links into a reorganised SQL documentation section', async () => {
    const lines = ['/docs/sql/select-statement.html', '/tutorials/mysql/install', '/blog/category/database/', '/docs/db/migrations'].map((p, i) =>
      line('198.18.213.1', T0 + i * 20, `GET ${p} HTTP/1.1`, 404, GOOGLEBOT),
    );
    const report = await replayAll(lines);
    expect(bansOf(report)).toEqual([]);
  });
  it('bans nobody: an API client refused (403) on two database endpoints', async () => {
    const lines = ['/api/db/status', '/api/v2/database/backup'].map((p, i) => line('198.18.213.2', T0 + i * 30, `GET ${p} HTTP/1.1`, 403, 'python-requests/2.31.0'));
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });
  it('control: still bans a phpMyAdmin walk at the root and below', async () => {
    const lines = ['/mysql/', '/db/', '/admin/phpmyadmin/'].map((p, i) => line('198.19.11.1', T0 + i, `GET ${p} HTTP/1.1`, 404));
    const report = await replayAll(lines);
    expect(report.bans.map((b) => `${b.ip} ${b.rule}`)).toContain('198.19.11.1 admin-probes');
  });
});

describe('protocol clients that ask without credentials first (unauthorized: 5 in a minute)', () => {
  it('bans nobody: a CI runner pulling six images from a private registry in 40 s', async () => {
    const ip = '198.18.214.1';
    const ua = 'docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.1.0 os/linux arch/amd64';
    const lines: string[] = [];
    ['app', 'worker', 'nginx', 'redis', 'postgres', 'migrate'].forEach((img, i) => {
      const t = T0 + i * 7;
      lines.push(line(ip, t, 'GET /v2/ HTTP/1.1', 401, ua, '-', 87));
      lines.push(line(ip, t + 1, `HEAD /v2/team/${img}/manifests/latest HTTP/1.1`, 200, ua, '-', 0));
      lines.push(line(ip, t + 2, `GET /v2/team/${img}/blobs/sha256:${String(i).repeat(64)} HTTP/1.1`, 200, ua, '-', 4096));
    });
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });
  it('bans nobody: developers behind one NAT running git fetch six times in a minute', async () => {
    const ip = '198.18.214.2';
    const lines: string[] = [];
    for (let i = 0; i < 6; i++) {
      const t = T0 + i * 9;
      lines.push(line(ip, t, `GET /team/repo-${i % 3}.git/info/refs?service=git-upload-pack HTTP/1.1`, 401, 'git/2.43.0', '-', 0));
      lines.push(line(ip, t + 1, `GET /team/repo-${i % 3}.git/info/refs?service=git-upload-pack HTTP/1.1`, 200, 'git/2.43.0', '-', 512));
      lines.push(line(ip, t + 2, `POST /team/repo-${i % 3}.git/git-upload-pack HTTP/1.1`, 200, 'git/2.43.0', '-', 2048));
    }
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });
  it('control: still bans Basic-auth guessing on a page', async () => {
    const lines = Array.from({ length: 6 }, (_, i) => line('198.19.12.1', T0 + i, 'GET /private/ HTTP/1.1', 401));
    expect((await replayAll(lines)).bans.map((b) => `${b.ip} ${b.rule}`)).toContain('198.19.12.1 unauthorized');
  });
});

describe('crawl-non-static: a browser on a Next.js site prefetching the links it shows', () => {
  it('bans nobody: one page view prefetches 60 linked pages (?_rsc=) in 3 s', async () => {
    const ip = '198.18.214.3';
    const lines = [line(ip, T0, 'GET /docs HTTP/1.1', 200, CHROME)];
    for (let i = 0; i < 60; i++) lines.push(line(ip, T0 + 1 + i / 20, `GET /docs/section-${i}?_rsc=1x2y3 HTTP/1.1`, 200, CHROME, 'https://example.test/docs'));
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });
  it('control: still bans a scraper walking 60 pages in 5 s', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => line('198.19.12.2', T0 + i / 12, `GET /catalog/item-${i} HTTP/1.1`, 200));
    expect((await replayAll(lines)).bans.map((b) => `${b.ip} ${b.rule}`)).toContain('198.19.12.2 crawl-non-static');
  });
});
