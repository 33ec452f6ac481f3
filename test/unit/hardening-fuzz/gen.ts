/**
 * Seeded generators for the issue 9 fuzz tests (round 2 audit): real layouts of access lines, hostile
 * mutations, and planted "victim" addresses in the fields a client writes (user, request, referer,
 * User-Agent), which must never become the address a line counts against.
 */
import { clf } from '../../support/clf.js';
import { rng } from '../../support/random.js';

/** A seeded PRNG (test/support/random.ts), so every failure reproduces from its seed. */
export const prng = rng;

export type Rand = () => number;
export const int = (r: Rand, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rand, a: readonly T[]): T => a[int(r, a.length)]!;

/** Clients: 198.18.0.0/24 and 2001:db8::/64 (their canonical forms). */
export const clientOf = (r: Rand): string => (r() < 0.8 ? `198.18.0.${1 + int(r, 40)}` : `2001:db8::${(1 + int(r, 40)).toString(16)}`);
/** Victims: planted only where a client writes (never a client): 198.19.0.0/16, 2001:db8:ffff::/48. */
export const victimOf = (r: Rand): string => (r() < 0.7 ? `198.19.${int(r, 250)}.${1 + int(r, 250)}` : `2001:db8:ffff::${(1 + int(r, 999)).toString(16)}`);
export const isVictim = (ip: string): boolean => ip.startsWith('198.19.') || ip.startsWith('2001:db8:ffff:');
export const TRUSTED_PROXY = '198.18.1.1';

/** Spellings of a victim a client might write (each canonicalises to the victim, or is no address). */
export function victimText(r: Rand, token = false): string {
  const v = victimOf(r);
  if (token) return pick(r, [v, `${v},${victimOf(r)}`, `[${v}]`, `${v}:80`, `::ffff:${v}`]);
  return pick(r, [v, `${v}, ${victimOf(r)}`, `[${v}]`, `${v}:80`, ` ${v} - - [${clf(Date.UTC(2026, 10, 23))}] "GET / HTTP/1.1" 403 1 "`, `::ffff:${v}`, `${v} - -`, `\\"${v}\\"`]);
}

export interface Generated {
  readonly line: string;
  /** Canonical client the line must count against (when its head is intact), or null when none may. */
  readonly client: string | null;
  readonly status: number;
  readonly layout: string;
  /** Index where the head (client … status) ends: mutations past it must not change the verdict. */
  readonly headEnd: number;
}

const UA = ['curl/8.4.0', 'Mozilla/5.0 (X11; Linux x86_64)', '-', ''];
const PATHS = ['/private', '/admin', '/wp-login.php', '/.env', '/x?a=1'];

/** One access line of a random layout, at time `t`, by `client` (canonical). */
export function accessLine(r: Rand, client: string, t: number, status = 403): Generated {
  // As Apache writes them: a backslash as \\, a quote as \".
  const esc = (s: string): string => s.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
  const plantIn = (s: string, token = false): string => (r() < 0.5 ? `${s}${victimText(r, token)}` : s);
  const user = r() < 0.7 ? '-' : esc(plantIn('u', true));
  const path = plantIn(pick(r, PATHS));
  const req = `GET ${esc(path).replaceAll(' ', '%20')} HTTP/1.1`;
  const ref = r() < 0.5 ? '-' : esc(plantIn('http://x/'));
  const ua = esc(plantIn(pick(r, UA)));
  const bytes = int(r, 5000);
  const time = clf(t);
  const layouts = ['combined', 'common', 'vhost', 'nginx-xff', 'proxy-xff'] as const;
  const layout = pick(r, layouts);
  let line: string;
  let headEnd: number;
  let who = client;
  const head = (first: string): string => `${first} - ${user} [${time}] "${req}" ${status}`;
  switch (layout) {
    case 'combined': line = `${head(client)} ${bytes} "${ref}" "${ua}"`; headEnd = head(client).length + 1 + String(bytes).length; break;
    case 'common': line = `${head(client)} ${bytes}`; headEnd = line.length; break;
    case 'vhost': { const h = `www.example.org:443 ${head(client)} ${bytes}`; line = `${h} "${ref}" "${ua}"`; headEnd = h.length; break; }
    case 'nginx-xff': {
      // nginx "main": the peer is the trusted proxy, the client the trailing X-Forwarded-For.
      const h = head(TRUSTED_PROXY);
      line = `${h} ${bytes} "${ref}" "${ua}" "${client}"`;
      headEnd = line.length;
      break;
    }
    default: {
      // Apache %{X-Forwarded-For}i as the first field: spoofed entries, then the client, then the proxy.
      const list = `${victimOf(r)}, ${client}, ${TRUSTED_PROXY}`;
      line = `${head(list)} ${bytes} "${ref}" "${ua}"`;
      headEnd = head(list).length + 1 + String(bytes).length;
      who = client;
    }
  }
  return { line, client: who, status, layout, headEnd };
}

/** Wraps a line as Docker json-file or syslog (RFC 3164 / 5424) would, or not at all. */
export function wrap(r: Rand, g: Generated): Generated {
  const k = int(r, 4);
  if (k === 0) return g;
  if (k === 1) {
    const line = `{"log":${JSON.stringify(`${g.line}\n`)},"stream":"stdout","time":"2026-11-23T09:00:00.000000000Z"}`;
    return { ...g, line, layout: `${g.layout}/docker`, headEnd: line.length };
  }
  const pre = k === 2 ? '<30>Nov 23 09:35:48 web01 nginx[1]: ' : '<30>1 2026-11-23T09:35:48.000Z web01 nginx 1 - - ';
  return { ...g, line: pre + g.line, layout: `${g.layout}/syslog${k}`, headEnd: g.headEnd + pre.length };
}

/** Text a mutation may insert: never a hex digit, '.', ':' or ',' (so it cannot make a new address). */
const INSERTS = ['\0', '\r', '\ud800', '\udfff', '\\"', '\\"'.repeat(50), '"', ' ', '    ', '[', ']', '-', '\t', 'x', '\u00e9', '\u2028', '\ufffd', '\\', '\u0085', '{', '}', '<', '>', '%', '\x7f', '\x1b[31m'];

/** Mutates a line: k random inserts/deletes/cuts; returns the text and whether the head was touched. */
export function mutate(r: Rand, g: Generated, tailOnly: boolean): { line: string; headTouched: boolean } {
  let line = g.line;
  let headTouched = false;
  const n = 1 + int(r, 3);
  for (let i = 0; i < n; i++) {
    const from = tailOnly ? Math.min(line.length, g.headEnd + 1) : 0;
    const at = from + int(r, line.length - from + 1);
    if (at <= g.headEnd) headTouched = true;
    const op = int(r, 10);
    if (op < 6) line = line.slice(0, at) + pick(r, INSERTS) + line.slice(at);
    else if (op < 8) line = line.slice(0, at) + line.slice(at + 1);
    else if (op < 9) line = line.slice(0, at);
    else line = line.slice(0, at) + pick(r, [' '.repeat(1000), '\\"'.repeat(20_000), '\u4e2d'.repeat(3000)]) + line.slice(at);
  }
  return { line, headTouched };
}
