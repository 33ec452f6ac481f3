/**
 * A long benign mix (hours, not one): health checks every 10 s for 5 hours, a WordPress editor's
 * heartbeat every 15 s for 3 hours with autosaves and REST calls, Googlebot at 1 page/s and Bingbot
 * for 30 minutes with old 404s, eight API clients (curl, python-requests, Go, okhttp, axios, Java,
 * Postman, Wget), Jetpack, an RSS poller, a CDN pulling assets, a legit /admin app with base64 query
 * strings, OPTIONS preflights, 304s and 206 ranges, HEAD checks, a browser missing its favicon and
 * touch icons on every page, an office NAT, non-ASCII/IDN paths and blog slugs that name script tags,
 * /etc/passwd or .env. Replayed with every preset on: nobody is banned.
 */
import { line } from './harness.js';
import { describe, expect, it } from 'vitest';
import { bansOf, replayAll } from './harness.js';
const T0 = Date.UTC(2026, 11, 1, 8, 0, 0) / 1000;
const FF = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
const CH = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const GB = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const BB = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';
function benign(): { lines: string[]; who: Record<string, string> } {
  const E: [number, string][] = [];
  const who: Record<string, string> = {};
  const add = (ip: string, t: number, req: string, st: number, ua = FF, ref = '-', bytes = 2048) => E.push([t, line(ip, t, req, st, ua, ref, bytes)]);
  // 1. searcher with SQL words, function-call like and quotes, 10 searches in 10 minutes
  who['198.18.201.1'] = 'sql searcher';
  const qs = ['select+from+where', 'union+vs+union+all', 'order+by+desc', 'drop+table+if+exists', "don't+--+stop", 'count(*)+vs+count(1)', 'concat(first,+last)', "it's+1+or+2", 'substring(name,+1,+3)', 'version()+mysql', 'user()+function', "O'Brien+and+'1'='1'+trick", 'order+by+1+--', "'--"];
  qs.forEach((q, i) => add('198.18.201.1', T0 + i * 40, `GET /search?q=${q} HTTP/1.1`, 200));
  // 2. blog slugs
  who['198.18.201.2'] = 'blog reader';
  ['/2024/01/how-to-use-script-tags', '/2024/02/onload-event-handlers-explained/', '/2024/03/javascript-alert-boxes', '/docs/environment-variables', '/docs/linux/etc/passwd-file-format.html', '/blog/what-is-etc-shadow', '/wiki/.htaccess_tutorial', '/blog/wp-config-php-hardening-guide/', '/docs/the-etc-passwd-file', '/kb/etc/passwd', '/articles/.env-files-best-practices', '/docs/git/.gitignore', '/tutorials/ssh/id_rsa-vs-id_ed25519', '/docs/dotfiles/.bashrc-explained', '/blog/union-select-explained', '/shop/caf%C3%A9-cr%C3%A8me', '/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E3%83%9A%E3%83%BC%E3%82%B8', '/wiki/C%2B%2B', '/wiki/..._(band)'].forEach((p, i) => add('198.18.201.2', T0 + 30 + i * 45, `GET ${p} HTTP/1.1`, 200, CH));
  // 3. Googlebot 1 page/s for 30 min, Bingbot too, some 404 old links and 301s
  who['198.18.202.1'] = 'googlebot';
  who['198.18.202.2'] = 'bingbot';
  for (let i = 0; i < 1800; i++) {
    add('198.18.202.1', T0 + i, `GET /articles/page-${i}/ HTTP/1.1`, i % 50 === 0 ? 404 : (i % 17 === 0 ? 301 : 200), GB);
    if (i % 2 === 0) add('198.18.202.2', T0 + i, `GET /products/${i}?ref=bing HTTP/1.1`, i % 40 === 0 ? 404 : 200, BB);
  }
  // 4. health checks every 10 s for 5 hours
  who['198.18.203.1'] = 'health';
  for (let i = 0; i < 1800; i++) { add('198.18.203.1', T0 + i * 10, 'GET /healthz HTTP/1.1', 200, 'kube-probe/1.29'); add('198.18.203.1', T0 + i * 10 + 1, 'GET /status HTTP/1.1', i % 100 === 0 ? 503 : 200, 'UptimeRobot/2.0'); add('198.18.203.1', T0 + i*10+2, 'HEAD / HTTP/1.1', 200, 'Go-http-client/1.1'); }
  // 5. WordPress editor for 3 hours
  const wp = '198.18.204.1'; who[wp] = 'wp editor';
  add(wp, T0, 'GET /wp-login.php HTTP/1.1', 200, CH);
  add(wp, T0 + 5, 'POST /wp-login.php HTTP/1.1', 200, CH, 'https://example.test/wp-login.php');
  add(wp, T0 + 12, 'POST /wp-login.php HTTP/1.1', 200, CH, 'https://example.test/wp-login.php');
  add(wp, T0 + 20, 'POST /wp-login.php HTTP/1.1', 302, CH, 'https://example.test/wp-login.php');
  add(wp, T0 + 21, 'GET /wp-admin/ HTTP/1.1', 200, CH);
  for (let i = 0; i < 3 * 3600 / 15; i++) {
    const t = T0 + 30 + i * 15;
    add(wp, t, 'POST /wp-admin/admin-ajax.php HTTP/1.1', 200, CH, 'https://example.test/wp-admin/post.php?post=12&action=edit', 47);
    if (i % 4 === 0) add(wp, t + 2, 'POST /wp-json/wp/v2/posts/12/autosaves?_locale=user HTTP/1.1', 200, CH);
    if (i % 20 === 0) { add(wp, t + 3, 'GET /wp-json/wp/v2/users/me?_locale=user HTTP/1.1', 200, CH); add(wp, t + 4, 'GET /wp-json/wp/v2/users?who=authors&per_page=100&_locale=user HTTP/1.1', 200, CH); add(wp, t+5, 'GET /wp-json/wp/v2/users?context=view&who=authors&_fields=id,name&_locale=user HTTP/1.1', 200, CH);}
    if (i % 40 === 0) { add(wp, t + 6, 'GET /wp-admin/edit.php HTTP/1.1', 200, CH); add(wp, t + 7, 'GET /wp-content/plugins/jetpack/_inc/blocks/editor.js?ver=12.0 HTTP/1.1', 200, CH); add(wp, t+8, 'GET /wp-admin/load-styles.php?c=0&dir=ltr&load%5Bchunk_0%5D=dashicons,admin-bar HTTP/1.1', 200, CH); add(wp, t+9, 'GET /?author=1 HTTP/1.1', 301, CH); add(wp, t+9, 'GET /wp-admin/post.php?post=12&action=edit HTTP/1.1', 200, CH); }
  }
  // 6. API clients
  const uas = ['curl/8.5.0', 'python-requests/2.31.0', 'Go-http-client/2.0', 'okhttp/4.12.0', 'axios/1.6.2', 'Java/17.0.2', 'PostmanRuntime/7.36.0', 'Wget/1.21.4'];
  uas.forEach((ua, k) => {
    const ip = `198.18.205.${k + 1}`; who[ip] = ua;
    for (let i = 0; i < 600; i++) {
      const t = T0 + i * 6;
      add(ip, t, i % 3 ? `GET /api/v1/items?page=${i % 50}&limit=50 HTTP/1.1` : `POST /api/v1/items HTTP/1.1`, i % 3 ? 200 : 201, ua);
      if (i % 60 === 0) add(ip, t + 1, `GET /api/v1/items/${i} HTTP/1.1`, 404, ua);
      if (i % 100 === 0) add(ip, t + 2, `GET /api/v1/me HTTP/1.1`, 401, ua);
      if (i % 50 === 0) add(ip, t + 3, `DELETE /api/v1/items/${i} HTTP/1.1`, 204, ua);
    }
  });
  // 7. Jetpack once, RSS poller, CDN
  who['198.18.206.1'] = 'jetpack'; add('198.18.206.1', T0 + 100, 'POST /xmlrpc.php HTTP/1.1', 200, 'Jetpack by WordPress.com');
  add('198.18.206.1', T0 + 101, 'POST /xmlrpc.php?for=jetpack&token=abc&timestamp=1&nonce=x&signature=y HTTP/1.1', 200, 'Jetpack by WordPress.com');
  who['198.18.206.2'] = 'rss'; for (let i = 0; i < 300; i++) add('198.18.206.2', T0 + i * 60, 'GET /feed/ HTTP/1.1', i % 5 ? 304 : 200, 'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers)');
  who['198.18.206.3'] = 'cdn';
  for (let i = 0; i < 3000; i++) add('198.18.206.3', T0 + i * 0.5, `GET /assets/img-${i % 300}.webp HTTP/1.1`, i % 97 === 0 ? 404 : 200, 'Amazon CloudFront');
  // 8. legit admin app, base64 queries, HEAD/OPTIONS/304/206
  const ad = '198.18.207.1'; who[ad] = 'admin';
  for (let i = 0; i < 200; i++) {
    const t = T0 + i * 20;
    add(ad, t, `GET /admin/orders?page=${i} HTTP/1.1`, 200, CH);
    add(ad, t + 1, `OPTIONS /api/v1/orders/${i} HTTP/1.1`, 204, CH);
    add(ad, t + 2, `GET /admin/export?state=eyJmaWx0ZXIiOnsic3RhdHVzIjoib3BlbiJ9LCJzb3J0Ijoib3JkZXIgYnkgZGF0ZSJ9&sig=${'QUJD'.repeat(50)} HTTP/1.1`, 200, CH);
    add(ad, t + 3, 'GET /admin/logo.png HTTP/1.1', 304, CH);
    add(ad, t + 4, 'GET /video/intro.mp4 HTTP/1.1', 206, CH);
    add(ad, t + 5, 'GET /video/intro.mp4 HTTP/1.1', 206, CH);
    if (i % 10 === 0) add(ad, t + 6, 'GET /admin/settings HTTP/1.1', 403, CH);
  }
  // 9. browsers: each page view misses favicon and touch icons
  const br = '198.18.208.1'; who[br] = 'browser';
  for (let i = 0; i < 100; i++) {
    const t = T0 + i * 20;
    add(br, t, `GET /docs/page-${i % 30} HTTP/1.1`, 200, CH);
    for (const a of ['/css/site.css', '/js/app.js', '/img/hero.jpg', '/fonts/inter.woff2']) add(br, t + 0.2, `GET ${a} HTTP/1.1`, i ? 304 : 200, CH);
    add(br, t + 0.3, 'GET /favicon.ico HTTP/1.1', 404, CH);
    add(br, t + 0.3, 'GET /apple-touch-icon.png HTTP/1.1', 404, 'MobileSafari/604.1 CFNetwork/1496.0.7 Darwin/23.5.0');
    add(br, t + 0.3, 'GET /apple-touch-icon-precomposed.png HTTP/1.1', 404, 'MobileSafari/604.1 CFNetwork/1496.0.7 Darwin/23.5.0');
  }
  // 10. office NAT: 15 users, each a page per minute with assets and missing icons
  const nat = '198.18.209.1'; who[nat] = 'office nat';
  for (let m = 0; m < 60; m++) for (let u = 0; u < 15; u++) {
    const t = T0 + m * 60 + u * 4;
    add(nat, t, `GET /intranet/page-${(m * 15 + u) % 200} HTTP/1.1`, 200, CH);
    for (let a = 0; a < 8; a++) add(nat, t + 0.5, `GET /static/a${a}.js HTTP/1.1`, 200, CH);
    if (u % 3 === 0) add(nat, t + 0.6, 'GET /favicon.ico HTTP/1.1', 404, CH);
  }
  E.sort((a, b) => a[0] - b[0]);
  return { lines: E.map((e) => e[1]), who };
}


describe('a long benign mix with every preset on', () => {
  it('is fully parsed and bans nobody', async () => {
    const { lines, who } = benign();
    expect(lines.length).toBeGreaterThan(20_000);
    const report = await replayAll(lines);
    expect(report.skipped).toBe(0);
    expect(bansOf(report).map((b) => `${b} [${who[b.split(' ')[0]!] ?? '?'}]`)).toEqual([]);
  });
});
