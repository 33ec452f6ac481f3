/** Seeded random access logs for the issue-10 differential audit (round 2): benign and abusive clients, IPv4/IPv6, XFF via proxies, allowlisted clients. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clf } from '../../support/clf.js';

export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

export const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const PATHS = ['/private', '/admin', '/.env', '/.git/config', '/wp-login.php', '/xmlrpc.php', '/phpmyadmin/', '/pma/', '/adminer.php', '/a', '/b', '/index.html', '/img/x.png', '/cgi-bin/x', '/manager/html', '/sql/', '/db/', '/wp-content/plugins/x/readme.txt', '/wp-includes/x.php'];
const STATUS = [200, 200, 403, 403, 404, 404, 401, 400, 500];

export interface GenOpts { seed: number; lines: number; skewMs?: number; gapMs?: number }

/** Lines and their log times; `skewMs`: a fifth of the lines are stamped up to that much earlier than the clock (out of order). */
export function genLog(o: GenOpts): { lines: string[]; times: number[] } {
  const r = prng(o.seed);
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const clients: string[] = [];
  for (let i = 0; i < 25; i++) clients.push(r() < 0.7 ? `198.18.${Math.floor(r() * 4)}.${1 + Math.floor(r() * 20)}` : `2001:db8:${Math.floor(r() * 3)}::${(1 + Math.floor(r() * 20)).toString(16)}`);
  // allowlisted (ignoreip 198.18.9.0/24, 2001:db8:99::/48), mapped and non-canonical spellings
  clients.push('198.18.9.1', '198.18.9.2', '2001:db8:99::1', '::ffff:198.18.3.3', '2001:DB8:0::1');
  const lines: string[] = [];
  const times: number[] = [];
  let t = T0;
  for (let i = 0; i < o.lines; i++) {
    t += Math.floor(r() * (r() < 0.02 ? (o.gapMs ?? 600_000) : 2500));
    const skew = o.skewMs !== undefined && r() < 0.2 ? -Math.floor(r() * o.skewMs) : 0;
    const at = Math.floor((t + skew) / 1000) * 1000;
    const ip = pick(clients);
    const path = pick(PATHS);
    const st = pick(STATUS);
    const ua = r() < 0.05 ? 'sqlmap/1.0' : 'curl/8';
    if (r() < 0.1) {
      // via a trusted proxy (198.18.100.1) or an untrusted one (198.18.100.2)
      lines.push(`${ip}, ${r() < 0.5 ? '198.18.100.1' : '198.18.100.2'} - - [${clf(at)}] "GET ${path} HTTP/1.1" ${st} 10 "-" "${ua}"`);
    } else lines.push(`${ip} - - [${clf(at)}] "${r() < 0.1 ? 'POST' : 'GET'} ${path} HTTP/1.1" ${st} 10 "-" "${ua}"`);
    times.push(t);
  }
  return { lines, times };
}

export const RULES_YAML = `rules:
  forbidden:
    bantime: 2m
    increment: { factor: 2, maxtime: 20m }
  not-found:
    enabled: true
    maxretry: 4
    bantime: 3m
    increment: { factor: 3, maxtime: 1h }
  crawl-non-static:
    enabled: true
    maxretry: 6
    findtime: 20s
    bantime: 1m
    increment: { factor: 2, maxtime: 10m }
  sensitive-paths: { enabled: true }
  admin-probes: { enabled: true, bantime: 5m }
  wordpress-scan: { enabled: true }
  bad-user-agents: { enabled: true }
  unauthorized: { enabled: true, bantime: 1m }
  bad-requests: { enabled: true, maxretry: 3, bantime: 1m }
  request-flood: { enabled: true, maxretry: 15, findtime: 30s }
trusted_proxies: ["198.18.100.1"]
ignoreip: ["198.18.9.0/24", "2001:db8:99::/48"]
`;

const dirs: string[] = [];
export function tmp(prefix = 'bh-h4-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function cleanupTmp(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
export function writeYaml(text = RULES_YAML): string {
  const f = join(tmp(), 'c.yaml');
  writeFileSync(f, text);
  return f;
}
export function writeLog(lines: readonly string[]): string {
  const f = join(tmp(), 'access.log');
  writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}
