/**
 * A deterministic generator of a realistic Apache `combined` access log for the replay benchmark.
 *
 * Contract: the same (lines, seed, start, rate) always yields the same bytes (a seeded PRNG, never
 * Math.random or the wall clock), exactly `lines` newline-terminated lines, log time advancing
 * monotonically one second at a time (many lines share a second: page loads come as bursts).
 *
 * What is in it:
 * - background traffic from tens of thousands of clients (mostly IPv4 from 198.18.0.0/15, some IPv6
 *   from 2001:db8::/32, a few written IPv4-mapped), each with a fixed User-Agent: page views with
 *   their assets (200/304), redirects (301), misses (404), a few 401/403/500, crawlers and scanners;
 * - scripted 403 flooders: persistent ones that cross the `forbidden` threshold (5 in 60 s) again and
 *   again across the 1 h bantime, exact-threshold ones, and ones that stay just under it (4 in 60 s,
 *   5 spread over 61 s);
 * - adversarial lines: a User-Agent or Referer carrying a forged log line with another address and a
 *   403, and request lines with an escaped `\" 403 ` (Apache escapes `"` as `\"`), both of which a
 *   structural parser must ignore;
 * - loopback clients (127.0.0.1, ::1) getting 403 floods (never banned) and lines that must be skipped:
 *   hostnames in the address field, invalid addresses, invalid dates, truncated lines, server
 *   messages interleaved on stdout, binary junk and empty lines.
 *
 * Text is produced as latin1 strings (one char per byte) so that junk lines can carry raw bytes.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Prng } from './prng.js';

/** Bump when the output for a given seed changes, so cached files are regenerated. */
export const GENERATOR_VERSION = 1;

export interface GenerateOptions {
  /** Exact number of lines to produce. */
  readonly lines: number;
  readonly seed: number;
  /** Log time of the first line, ms since the epoch (whole second). Default 2026-03-14 06:00:00 UTC. */
  readonly start?: number;
  /** Mean lines per second of log time. Default 70 (1M lines ≈ 4 h of log). */
  readonly rate?: number;
}

export interface GenerateSummary {
  readonly lines: number;
  readonly bytes: number;
  /** Log time of the first and last line (ms). */
  readonly firstTime: number;
  readonly lastTime: number;
  /** Distinct client addresses of the background traffic pool. */
  readonly clients: number;
}

export const DEFAULT_START = Date.UTC(2026, 2, 14, 6, 0, 0);
export const DEFAULT_RATE = 70;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `14/Mar/2026:06:00:00 +0000` for a UTC instant. */
export function clfTime(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(
    d.getUTCMinutes(),
  )}:${pad2(d.getUTCSeconds())} +0000`;
}

// ---------------------------------------------------------------------------------------------------
// Vocabulary

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.81',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1',
];
const BOTS = [
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
  'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)',
  'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
];
const TOOLS = ['curl/8.5.0', 'python-requests/2.31.0', 'Go-http-client/1.1', 'Wget/1.21.3', 'okhttp/4.12.0', '-'];
const SCANNER_UAS = [
  'Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)',
  'sqlmap/1.8.3#stable (https://sqlmap.org)',
  'Mozilla/5.0 zgrab/0.x',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36',
];

const PAGES = [
  '/', '/', '/', '/index.html', '/about', '/contact', '/pricing', '/blog', '/blog/2026/02/zero-downtime-deploys',
  '/blog/2026/03/why-we-log-everything', '/blog/2025/11/caching-at-the-edge', '/docs/getting-started', '/docs/api',
  '/docs/api/authentication', '/products', '/products/1042', '/products/2210', '/products/3377?ref=newsletter',
  '/search?q=docker+compose', '/search?q=rate%20limit', '/cart', '/checkout', '/account', '/login', '/feed.xml',
  '/sitemap.xml', '/robots.txt', '/api/v1/items?page=2', '/api/v1/items?page=3&sort=price', '/api/v1/status',
];
const ASSETS = [
  '/static/css/main.3f2a1c9e.css', '/static/js/app.9b8e7d21.js', '/static/js/vendor.5c4d3e2f.js',
  '/static/img/logo.svg', '/static/img/hero-1200.webp', '/static/fonts/inter-var.woff2', '/favicon.ico',
  '/static/img/icons/cart.svg', '/static/img/products/1042-thumb.jpg', '/static/img/products/2210-thumb.jpg',
  '/apple-touch-icon.png', '/static/js/analytics.min.js',
];
const MISSING = ['/old-page.html', '/blog/2019/01/gone', '/wp-login.php', '/xmlrpc.php', '/phpmyadmin/', '/.well-known/security.txt', '/apple-touch-icon-precomposed.png', '/products/9999'];
const FORBIDDEN = ['/.htaccess', '/.htpasswd', '/.git/config', '/server-status', '/uploads/', '/private/report.pdf', '/cgi-bin/', '/.env', '/backup/', '/admin/config.php'];
const REFERERS = [
  'https://www.google.com/', 'https://www.bing.com/', 'https://duckduckgo.com/', 'https://news.ycombinator.com/',
  'https://t.co/x7Ka9PqLm2', 'https://www.reddit.com/r/selfhosted/',
];
const SITE = 'https://shop.example';

// ---------------------------------------------------------------------------------------------------
// Addresses

/** Size of 198.18.0.0/15. */
const V4_SPACE = 1 << 17;
/** Pool indices above this are reserved for scripted actors (so they never collide with clients). */
const MAX_CLIENTS = 100_000;

/** A distinct IPv4 address of 198.18.0.0/15 per index (an odd multiplier permutes 0..2^17-1). */
export function v4For(index: number): string {
  const n = (Math.imul(index, 40503) + 7919) & (V4_SPACE - 1);
  return `198.${18 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
}

/** A distinct, canonically written IPv6 address of 2001:db8::/32 per index (all written groups nonzero). */
export function v6For(index: number, privacy: boolean): string {
  const g3 = (0x100 + (index >>> 15)).toString(16);
  const g4 = ((index & 0x7fff) + 1).toString(16);
  const h = Math.imul(index ^ 0x5bd1e995, 0x27d4eb2d) >>> 0;
  if (!privacy) return `2001:db8:${g3}:${g4}::${((h & 0xfffe) + 1).toString(16)}`;
  const g = (k: number): string => (((Math.imul(h >>> k, 0x9e3779b1) >>> 16) | 1) & 0xffff).toString(16);
  return `2001:db8:${g3}:${g4}:${g(0)}:${g(3)}:${g(7)}:${g(11)}`;
}

interface Client {
  readonly ip: string;
  /** Occasionally written in IPv4-mapped form (::ffff:a.b.c.d), as some front ends do. */
  readonly mapped: boolean;
  readonly ua: string;
  readonly kind: 'browser' | 'bot' | 'tool';
}

function makeClient(i: number, rng: Prng): Client {
  const v6 = i % 10 === 7;
  const ip = v6 ? v6For(i, i % 20 === 17) : v4For(i);
  const kind = rng.weighted<Client['kind']>([[90, 'browser'], [4, 'bot'], [6, 'tool']]);
  const ua = kind === 'browser' ? rng.pick(BROWSERS) : kind === 'bot' ? rng.pick(BOTS) : rng.pick(TOOLS);
  return { ip, mapped: !v6 && i % 97 === 3, ua, kind };
}

// ---------------------------------------------------------------------------------------------------
// Lines

function line(host: string, user: string, ts: string, request: string, status: number, bytes: string, referer: string, ua: string): string {
  return `${host} - ${user} [${ts}] "${request}" ${status} ${bytes} "${referer}" "${ua}"`;
}

/** A forged access line as it appears inside a quoted field: Apache has escaped its quotes. */
function forgedLine(victim: string, ts: string, path: string): string {
  return `${victim} - - [${ts}] \\"GET ${path} HTTP/1.1\\" 403 199 \\"-\\" \\"Mozilla/5.0`;
}

/** One scripted line at a given second (flooders, adversaries, must-skip lines). */
interface Scripted {
  readonly t: number;
  readonly text: (ts: string, rng: Prng) => string;
}

function forbiddenHit(host: string, ua: string, method = 'GET'): Scripted['text'] {
  return (ts, rng) => line(host, '-', ts, `${method} ${rng.pick(FORBIDDEN)} HTTP/1.1`, 403, String(rng.range(199, 320)), '-', ua);
}

/**
 * The scripted actors, as a list of timed lines. `duration` is the log length in seconds; `nextIndex`
 * hands out pool indices above the client pool so scripted addresses are distinct from clients.
 */
function script(rng: Prng, duration: number, nextIndex: () => number, clients: readonly Client[]): Scripted[] {
  const out: Scripted[] = [];
  const add = (t: number, text: Scripted['text']): void => {
    if (t >= 0 && t < duration) out.push({ t: Math.floor(t), text });
  };
  const scale = Math.max(1, Math.round(duration / 3600));

  // Persistent flooders: bursts of 403s every few minutes from early on to the end, crossing the
  // threshold many times; most crossings fall inside a running ban, some after it expired.
  const persistent: { ip: string; alt?: string }[] = [];
  for (let k = 0; k < 4 + scale; k++) persistent.push({ ip: v4For(nextIndex()) });
  persistent.push({ ip: v6For(nextIndex(), false) }, { ip: v6For(nextIndex(), true) });
  const mappedFlooder = v4For(nextIndex());
  persistent.push({ ip: mappedFlooder, alt: `::ffff:${mappedFlooder}` });
  for (const f of persistent) {
    const ua = rng.pick([...SCANNER_UAS, ...TOOLS]);
    let t = rng.int(Math.max(1, Math.floor(duration / 5)));
    while (t < duration) {
      const n = rng.range(3, 30);
      for (let j = 0; j < n; j++) {
        add(t, forbiddenHit(f.alt !== undefined && rng.chance(0.5) ? f.alt : f.ip, ua));
        t += rng.weighted([[5, 0], [3, 1], [1, 3]]);
      }
      t += rng.range(45, 1500);
    }
  }

  // Exact-threshold flooders: 5 forbidden hits within 40–59 s, then quiet for a while.
  for (let k = 0; k < 2 + scale; k++) {
    const ip = v4For(nextIndex());
    let t = rng.int(600);
    while (t < duration) {
      const span = rng.range(40, 59);
      const marks = [0, rng.range(1, span - 3), rng.range(1, span - 2), rng.range(1, span - 1), span].sort((a, b) => a - b);
      for (const m of marks) add(t + m, forbiddenHit(ip, 'python-requests/2.31.0'));
      t += span + rng.range(600, 5400);
    }
  }

  // Just under: four within 10 s, then at least 61 s of quiet — never five within 60 s.
  for (let k = 0; k < 2 + scale; k++) {
    const ip = k % 3 === 2 ? v6For(nextIndex(), false) : v4For(nextIndex());
    let t = rng.int(300);
    while (t < duration) {
      for (let j = 0; j < 4; j++) add(t + j * rng.range(0, 3), forbiddenHit(ip, 'curl/8.5.0'));
      t += 9 + rng.range(61, 400);
    }
  }

  // Just under: five spread over 61 s (the first has left the window when the fifth arrives).
  for (let k = 0; k < 1 + scale; k++) {
    const ip = v4For(nextIndex());
    let t = rng.int(300);
    while (t < duration) {
      for (const m of [0, 15, 30, 45, 61]) add(t + m, forbiddenHit(ip, 'Wget/1.21.3'));
      t += 61 + rng.range(61, 600);
    }
  }

  // Framers: their own requests succeed (or are rejected with 400), but the User-Agent, Referer or an
  // escaped request line carries a forged 403 line for a victim address.
  for (let k = 0; k < 2 + scale; k++) {
    const attacker = v4For(nextIndex());
    const victim = rng.pick(clients).ip;
    let t = rng.int(600);
    while (t < duration) {
      for (let j = 0; j < 8; j++) {
        const mode = j % 3;
        add(t + j, (ts, r) => {
          if (mode === 0) return line(attacker, '-', ts, 'GET / HTTP/1.1', 200, String(r.range(5000, 9000)), '-', `Mozilla/5.0\\" ${forgedLine(victim, ts, '/admin/')}`);
          if (mode === 1) return line(attacker, '-', ts, 'GET /products HTTP/1.1', 200, String(r.range(5000, 9000)), `https://evil.example/\\" ${forgedLine(victim, ts, '/.env')}`, 'curl/8.5.0');
          return line(attacker, '-', ts, `GET /x\\" 403 199 \\"-\\" \\"-\\" ${victim} HTTP/1.1`, 400, '226', '-', '-');
        });
      }
      t += rng.range(20, 900);
    }
  }

  // Loopback: a health check that is refused (403) several times a minute, and a burst from ::1.
  for (let t = 5; t < duration; t += 10) {
    add(t, (ts, r) => line('127.0.0.1', '-', ts, 'GET /server-status?auto HTTP/1.1', r.chance(0.8) ? 403 : 200, '199', '-', 'curl/8.5.0'));
  }
  for (let t = 900; t < duration; t += 1800) {
    for (let j = 0; j < 12; j++) add(t + (j >> 2), forbiddenHit('::1', 'Wget/1.21.3'));
  }

  // Must-skip floods: hostnames (HostnameLookups On), invalid addresses, invalid dates.
  const badHosts = ['scanner-7.bad.example', 'crawl-198-18-4-2.example.net', '999.18.1.1', '198.18.1', '2001:db8::g1', '198.18.0.1:8080'];
  for (const host of badHosts) {
    let t = rng.int(900);
    while (t < duration) {
      for (let j = 0; j < 8; j++) add(t + (j >> 1), forbiddenHit(host, 'Mozilla/5.0 zgrab/0.x'));
      t += rng.range(120, 1800);
    }
  }
  const badDateIp = v4For(nextIndex());
  for (let t = rng.int(600); t < duration; t += rng.range(300, 1800)) {
    for (let j = 0; j < 8; j++) {
      add(t + j, (ts, r) => line(badDateIp, '-', ts.replace(/\/[A-Z][a-z]{2}\//, '/Foo/'), `GET ${r.pick(FORBIDDEN)} HTTP/1.1`, 403, '199', '-', 'curl/8.5.0'));
    }
  }

  out.sort((a, b) => a.t - b.t);
  return out;
}

/** Lines that are not access lines at all (junk on the log stream); all must be skipped. */
function junk(rng: Prng, ts: string, clients: readonly Client[]): string {
  switch (rng.int(7)) {
    case 0:
      return '';
    case 1:
      return "AH00558: apache2: Could not reliably determine the server's fully qualified domain name, using 172.17.0.2. Set the 'ServerName' directive globally to suppress this message";
    case 2:
      return `[${ts.slice(0, 11)}] PHP Warning:  Undefined variable $cart in /var/www/html/checkout.php on line 42`;
    case 3: {
      // Truncated before the status (a partial write): the request line never closes.
      const full = line(rng.pick(clients).ip, '-', ts, `GET ${rng.pick(FORBIDDEN)} HTTP/1.1`, 403, '199', '-', 'curl/8.5.0');
      return full.slice(0, full.indexOf('"') + 1 + rng.range(0, 12));
    }
    case 4: {
      let s = '';
      const n = rng.range(8, 120);
      for (let i = 0; i < n; i++) {
        const c = rng.int(256);
        s += String.fromCharCode(c === 10 || c === 13 ? 0 : c);
      }
      return s;
    }
    case 5:
      return '\0'.repeat(rng.range(16, 256));
    default:
      return `[${ts}] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.62 (Debian) configured -- resuming normal operations`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Generation

/**
 * Yields the log as latin1 chunks of complete lines (each ending in "\n"), about `chunkLines` lines
 * per chunk. Memory stays bounded by one chunk plus the scripted schedule.
 */
export function* generateLogChunks(opts: GenerateOptions, chunkLines = 16_384): Generator<string, GenerateSummary> {
  const total = opts.lines;
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`lines must be a non-negative integer, got ${total}`);
  const rng = new Prng(opts.seed);
  const start = Math.floor((opts.start ?? DEFAULT_START) / 1000) * 1000;
  const rate = opts.rate ?? DEFAULT_RATE;
  const duration = Math.max(60, Math.ceil(total / rate));

  const nClients = Math.min(MAX_CLIENTS, Math.max(50, Math.floor(total / 20)));
  const clients: Client[] = [];
  for (let i = 0; i < nClients; i++) clients.push(makeClient(i, rng));
  const regulars = Math.max(5, Math.floor(nClients / 100));
  let scriptedIndex = MAX_CLIENTS;
  const scripted = script(rng, duration, () => scriptedIndex++, clients);
  let si = 0;

  let buf: string[] = [];
  let emitted = 0;
  let bytes = 0;
  let lastTime = start;
  const push = (s: string): void => {
    buf.push(s);
    emitted++;
  };

  // Mean lines per page view ≈ 1 + mean assets (see below) ≈ 3.9.
  const groupsPerSecond = rate / 3.9;
  let burstLeft = 0;
  let t = 0;
  while (emitted < total) {
    const ts = clfTime(start + t * 1000);
    lastTime = start + t * 1000;
    // Daily-ish swell plus occasional crawler bursts.
    if (burstLeft === 0 && rng.chance(0.002)) burstLeft = rng.range(5, 40);
    const swell = 1 + 0.35 * Math.sin((2 * Math.PI * t) / 7200);
    let groups = rng.poisson(groupsPerSecond * swell * 0.97);
    const crawlerBurst = burstLeft > 0 ? rng.range(5, 25) : 0;
    if (burstLeft > 0) burstLeft--;
    let scriptedHere = 0;
    while (si + scriptedHere < scripted.length && (scripted[si + scriptedHere] as Scripted).t <= t) scriptedHere++;

    // Interleave page views, crawler hits and scripted lines at random within the second.
    let crawl = crawlerBurst;
    while ((groups > 0 || crawl > 0 || scriptedHere > 0) && emitted < total) {
      const r = rng.int(groups + crawl + scriptedHere);
      if (r < scriptedHere) {
        push((scripted[si++] as Scripted).text(ts, rng));
        scriptedHere--;
      } else if (r < scriptedHere + crawl) {
        crawl--;
        const bot = clients[(t * 7 + crawl) % regulars] as Client;
        const path = rng.chance(0.9) ? rng.pick(PAGES) : rng.pick(MISSING);
        const status = PAGES.includes(path) ? 200 : 404;
        push(line(bot.ip, '-', ts, `GET ${path} HTTP/1.1`, status, String(rng.range(300, 40000)), '-', rng.pick(BOTS)));
      } else {
        groups--;
        pageView(ts);
      }
      if (rng.chance(0.0005) && emitted < total) push(junk(rng, ts, clients));
    }
    if (buf.length >= chunkLines) {
      const chunk = buf.join('\n') + '\n';
      bytes += chunk.length;
      buf = [];
      yield chunk;
    }
    t++;
  }
  // Scripted lines past the end of the generated span are dropped (the log simply ends).
  if (buf.length > 0) {
    const chunk = buf.join('\n') + '\n';
    bytes += chunk.length;
    yield chunk;
  }
  return { lines: emitted, bytes, firstTime: start, lastTime, clients: nClients };

  function pageView(ts: string): void {
    const c = rng.chance(0.25) ? (clients[rng.int(regulars)] as Client) : (clients[rng.int(nClients)] as Client);
    const host = c.mapped && rng.chance(0.3) ? `::ffff:${c.ip}` : c.ip;
    const proto = c.kind === 'tool' ? 'HTTP/1.0' : rng.chance(0.35) ? 'HTTP/2.0' : 'HTTP/1.1';
    const user = rng.chance(0.01) ? rng.pick(['alice', 'bob', 'ops']) : '-';
    const roll = rng.next();
    let method = 'GET';
    let path: string;
    let status: number;
    let size: string;
    if (roll < 0.84) {
      path = rng.pick(PAGES);
      if (path === '/login' && rng.chance(0.4)) method = 'POST';
      status = rng.chance(0.004) ? 500 : path === '/account' && user === '-' && rng.chance(0.5) ? 401 : 200;
      size = String(status === 500 ? 531 : rng.range(900, 60000));
    } else if (roll < 0.9) {
      path = rng.pick(['/docs', '/blog/', '/shop', '/index.php', '/products/']);
      status = 301;
      size = String(rng.range(230, 250));
    } else if (roll < 0.975) {
      path = rng.pick(MISSING);
      status = 404;
      size = String(rng.range(196, 290));
    } else if (roll < 0.985) {
      path = rng.pick(FORBIDDEN);
      status = 403;
      size = String(rng.range(199, 320));
    } else if (roll < 0.995) {
      path = rng.pick(['/admin/', '/account/settings', '/api/v1/orders']);
      status = 401;
      size = String(rng.range(381, 460));
    } else {
      path = '-';
      status = rng.chance(0.5) ? 408 : 400;
      size = '-';
    }
    if (rng.chance(0.02)) method = 'HEAD';
    const request = path === '-' ? '-' : `${method} ${path} ${proto}`;
    const referer = rng.chance(0.45) ? '-' : rng.chance(0.6) ? `${SITE}${rng.pick(PAGES)}` : rng.pick(REFERERS);
    push(line(host, user, ts, request, status, size, referer, c.ua));
    if (c.kind !== 'browser' || status !== 200 || emitted >= total) return;
    // The page's assets, same second: fresh (200) or revalidated (304).
    const returning = rng.chance(0.6);
    const n = rng.weighted([[30, 0], [25, 2], [25, 4], [20, 8]]);
    for (let k = 0; k < n && emitted < total; k++) {
      const asset = rng.pick(ASSETS);
      const s = asset === '/apple-touch-icon.png' && rng.chance(0.5) ? 404 : returning && rng.chance(0.85) ? 304 : 200;
      push(line(host, user, ts, `GET ${asset} ${proto}`, s, s === 304 ? '-' : String(rng.range(400, 250000)), `${SITE}${path}`, c.ua));
    }
  }
}

/** The whole log as one latin1 string (for tests and small logs). */
export function generateLogString(opts: GenerateOptions): string {
  let s = '';
  for (const chunk of generateLogChunks(opts)) s += chunk;
  return s;
}

/**
 * Writes the log to `path` (creating its folder) through a temporary file renamed into place, so an
 * interrupted run never leaves a partial log that a later run would reuse.
 */
export function writeLogFile(path: string, opts: GenerateOptions): GenerateSummary {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let summary: GenerateSummary;
  try {
    const it = generateLogChunks(opts);
    for (;;) {
      const r = it.next();
      if (r.done) {
        summary = r.value;
        break;
      }
      writeSync(fd, Buffer.from(r.value, 'latin1'));
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return summary;
}

/** Where the bench keeps the log of a given size and seed (the name changes with GENERATOR_VERSION). */
export function benchLogPath(dir: string, lines: number, seed: number): string {
  return join(dir, `access-v${GENERATOR_VERSION}-s${seed}-n${lines}.log`);
}

/** Returns the cached log path, generating it first when it is not there. */
export function ensureBenchLog(dir: string, opts: GenerateOptions): { path: string; generated: boolean } {
  const path = benchLogPath(dir, opts.lines, opts.seed);
  if (existsSync(path)) return { path, generated: false };
  writeLogFile(path, opts);
  return { path, generated: true };
}
