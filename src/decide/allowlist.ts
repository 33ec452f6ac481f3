/**
 * Addresses that are never banned: loopback always, plus ignoreip entries (addresses and CIDRs,
 * IPv4 and IPv6), plus whatever the daemon adds (the host's own addresses, trusted proxies).
 *
 * has() runs for every failing request, so it allocates nothing that outlives the call: a flood of a
 * million distinct addresses must not leave a cache of them behind (an earlier memo in front of
 * node:net's BlockList, whose check() builds a native SocketAddress per call, promoted every address
 * it saw into the old generation). A canonical dotted quad, the common case, is read straight into
 * a 32-bit number and compared with each IPv4 network; anything else is canonicalised first and
 * IPv6 is matched with ipaddr.js. Entries are validated with parseCidr.
 */
import ipaddr from 'ipaddr.js';
import { BanhammerError } from '../errors.js';
import { canonicalIp, parseCidr, type Cidr } from '../parse/ip.js';

const ALWAYS: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** The value of a canonical dotted quad (no leading zeros), or -1 for anything else. */
export function dottedQuadValue(s: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

export class Allowlist {
  private readonly entries: Cidr[] = [];
  /** IPv4 networks as [network value, mask], both unsigned 32-bit. */
  private readonly v4: Array<readonly [number, number]> = [];
  private readonly v6: Array<readonly [ipaddr.IPv6, number]> = [];

  constructor(cidrs: readonly string[] = []) {
    for (const c of [...ALWAYS, ...cidrs]) this.add(c);
  }

  add(raw: string): void {
    const c = parseCidr(raw);
    if (c === null) {
      throw new BanhammerError('BH_ERR_ADDRESS', `not an address or CIDR: ${JSON.stringify(raw)}`, {
        hint: 'use forms like 10.0.0.0/8, 198.18.0.7 or 2001:db8::/32',
        data: { value: raw },
      });
    }
    if (c.family === 4) {
      const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
      this.v4.push([dottedQuadValue(c.network), mask]);
    } else {
      this.v6.push([ipaddr.IPv6.parse(c.network), c.prefix]);
    }
    this.entries.push(c);
  }

  /** True when `ip` (canonical, or any valid spelling) must never be banned. */
  has(ip: string): boolean {
    const quad = dottedQuadValue(ip);
    if (quad >= 0) return this.hasV4(quad);
    const c = canonicalIp(ip);
    if (c === null) return false;
    if (c.family === 4) return this.hasV4(dottedQuadValue(c.ip));
    const addr = ipaddr.IPv6.parse(c.ip);
    for (const [net, prefix] of this.v6) if (addr.match(net, prefix)) return true;
    return false;
  }

  /** The entries in canonical CIDR form, loopback first. */
  cidrs(): string[] {
    return this.entries.map((c) => `${c.network}/${c.prefix}`);
  }

  private hasV4(value: number): boolean {
    for (const [net, mask] of this.v4) if ((value & mask) >>> 0 === net) return true;
    return false;
  }
}
