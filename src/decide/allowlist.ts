/**
 * Addresses that are never banned: loopback always, plus ignoreip entries (addresses and CIDRs,
 * IPv4 and IPv6), plus whatever the daemon adds (the host's own addresses, trusted proxies).
 * Matching uses Node's own BlockList; inputs are validated with parseCidr first.
 */
import { BlockList } from 'node:net';
import { BanhammerError } from '../errors.js';
import { canonicalIp, parseCidr, type Cidr } from '../parse/ip.js';

const ALWAYS: readonly string[] = ['127.0.0.0/8', '::1/128'];

export class Allowlist {
  private readonly list = new BlockList();
  private readonly entries: Cidr[] = [];
  private readonly memo = new Map<string, boolean>();

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
    this.list.addSubnet(c.network, c.prefix, c.family === 4 ? 'ipv4' : 'ipv6');
    this.entries.push(c);
    this.memo.clear();
  }

  /** True when `ip` (canonical, or any valid spelling) must never be banned. */
  has(ip: string): boolean {
    const hit = this.memo.get(ip);
    if (hit !== undefined) return hit;
    const c = canonicalIp(ip);
    const v = c !== null && this.list.check(c.ip, c.family === 4 ? 'ipv4' : 'ipv6');
    if (this.memo.size > 65_536) this.memo.clear();
    this.memo.set(ip, v);
    return v;
  }

  /** The entries in canonical CIDR form, loopback first. */
  cidrs(): string[] {
    return this.entries.map((c) => `${c.network}/${c.prefix}`);
  }
}
