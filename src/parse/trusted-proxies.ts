/**
 * The trusted-proxy test of the parse stage: is this peer (or X-Forwarded-For entry) one of the
 * reverse proxies named by `trusted_proxies` (BANHAMMER_TRUSTED_PROXIES)? Only then does the parser
 * believe what it says about the client (see apache.ts, "X-Forwarded-For").
 *
 * Built from the configured list alone: loopback and ignoreip are not proxies (the decide stage's
 * allowlist holds those, plus trusted proxies, for a different question: who is never banned). An
 * IPv4 peer, the common case, is tested as the 32-bit value the scanner already holds, by binary
 * search over sorted, merged ranges, without allocating; IPv6 compares four 32-bit words per range
 * (trusted-proxy lists are short).
 */
import { BanhammerError } from '../errors.js';
import { parseCidr, type CanonicalIp } from './ip.js';

export class TrustedProxies {
  private readonly v4Start: Uint32Array;
  private readonly v4End: Uint32Array;
  /** IPv6 ranges, 8 words each: four start words, then four end words. */
  private readonly v6: Uint32Array;

  private constructor(v4: [number, number][], v6: number[]) {
    v4.sort((a, b) => a[0] - b[0]);
    const s: number[] = [];
    const e: number[] = [];
    for (const [a, b] of v4) {
      const last = e.length - 1;
      if (last >= 0 && a <= e[last]! + 1) {
        if (b > e[last]!) e[last] = b;
      } else {
        s.push(a);
        e.push(b);
      }
    }
    this.v4Start = Uint32Array.from(s);
    this.v4End = Uint32Array.from(e);
    this.v6 = Uint32Array.from(v6);
  }

  /**
   * The test for a list of addresses and CIDRs (the setting's canonical values), or null when the
   * list is empty (then no forwarded address is ever believed). Throws BH_ERR_CONFIG for an entry
   * that is not an address or CIDR (the config schema has already refused those).
   */
  static from(cidrs: readonly string[] | undefined): TrustedProxies | null {
    if (cidrs === undefined || cidrs.length === 0) return null;
    const v4: [number, number][] = [];
    const v6: number[] = [];
    for (const raw of cidrs) {
      const c = parseCidr(raw);
      if (c === null) {
        throw new BanhammerError('BH_ERR_CONFIG', `trusted proxy is not an address or CIDR: ${JSON.stringify(raw)}`, {
          hint: 'use forms like 10.0.0.0/8, 198.18.0.7 or 2001:db8::/32',
          data: { value: raw },
        });
      }
      if (c.family === 4) {
        const start = quadValue(c.network);
        const host = c.prefix === 0 ? 0xffffffff : c.prefix === 32 ? 0 : 0xffffffff >>> c.prefix;
        v4.push([start, (start | host) >>> 0]);
      } else {
        const w = v6Words(c.network);
        for (let i = 0; i < 4; i++) v6.push(w[i]!);
        for (let i = 0; i < 4; i++) {
          const bits = c.prefix - 32 * i;
          const host = bits >= 32 ? 0 : bits <= 0 ? 0xffffffff : 0xffffffff >>> bits;
          v6.push((w[i]! | host) >>> 0);
        }
      }
    }
    return new TrustedProxies(v4, v6);
  }

  /** An IPv4 address as the scanner holds it (AddressTable.quad: a 32-bit value, maybe negative). */
  hasQuad(quad: number): boolean {
    const v = quad >>> 0;
    const starts = this.v4Start;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= v) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && v <= this.v4End[found]!;
  }

  /** A canonical address (canonicalIp's result). */
  has(c: CanonicalIp): boolean {
    if (c.family === 4) return this.hasQuad(quadValue(c.ip));
    if (this.v6.length === 0) return false;
    const w = v6Words(c.ip);
    const r = this.v6;
    for (let k = 0; k < r.length; k += 8) {
      if (cmp(w, r, k) >= 0 && cmp(w, r, k + 4) <= 0) return true;
    }
    return false;
  }
}

/** The value of a canonical dotted quad. */
function quadValue(ip: string): number {
  let v = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      v = v * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return (v * 256 + part) >>> 0;
}

/** Four 32-bit words of a canonical IPv6 address (no embedded dotted quad: canonical text has none). */
function v6Words(ip: string): number[] {
  const dbl = ip.indexOf('::');
  const head = dbl < 0 ? ip.split(':') : ip.slice(0, dbl) === '' ? [] : ip.slice(0, dbl).split(':');
  const tail = dbl < 0 ? [] : ip.slice(dbl + 2) === '' ? [] : ip.slice(dbl + 2).split(':');
  const groups = [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail].map((g) => parseInt(g, 16));
  return [0, 1, 2, 3].map((i) => (groups[2 * i]! * 65536 + groups[2 * i + 1]!) >>> 0);
}

/** Compares words a[0..4) with r[at..at+4). */
function cmp(a: readonly number[], r: Uint32Array, at: number): number {
  return a[0]! - r[at]! || a[1]! - r[at + 1]! || a[2]! - r[at + 2]! || a[3]! - r[at + 3]!;
}
