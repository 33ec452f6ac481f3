/**
 * Addresses that are never banned: loopback always, plus ignoreip entries (addresses and CIDRs,
 * IPv4 and IPv6), plus whatever the daemon adds (the host's own addresses, trusted proxies).
 *
 * has() runs for every failing request, so it allocates nothing that outlives the call: a flood of a
 * million distinct addresses must not leave a cache of them behind (an earlier memo in front of
 * node:net's BlockList, whose check() builds a native SocketAddress per call, promoted every address
 * it saw into the old generation). A canonical dotted quad, the common case, is read straight into
 * a 32-bit number and looked up without allocating; anything else is canonicalised first.
 *
 * Lookups are O(log n) in the number of entries: a 100,000-entry ignoreip used to be scanned entry by
 * entry for every failing line (20k lines: 10 s). Each family's networks are kept as address ranges,
 * sorted and merged (overlapping or, for IPv4, adjacent ranges become one), and has() binary-searches
 * the last range starting at or before the address. IPv4 ranges are uint32 pairs; IPv6 ranges are
 * four uint32 words per bound, compared word by word (no BigInt, so no allocation once the address is
 * read). The sorted tables are rebuilt on the first has() after add(). Entries are validated with
 * parseCidr (an IPv4-mapped network, `::ffff:198.18.0.0/120`, is the IPv4 network it names, like the
 * mapped client it must match); cidrs() returns them as given (canonical), not merged.
 *
 * overlapping(network) answers the CIDR ban's question — does any allowlisted address fall inside
 * this network? — with the same tables: the last merged range starting at or before the network's
 * end overlaps it exactly when it ends at or after the network's start (merged ranges are disjoint
 * and sorted, so no earlier one can). Only a yes goes through the entries, to name the one covered.
 */
import ipaddr from 'ipaddr.js';
import { BanhammerError } from '../errors.js';
import { canonicalIp, cidrOverlaps, cidrDetail, parseCidr, type Cidr } from '../parse/ip.js';
import { AddressRanges, dottedQuadValue, hexIPv6Groups } from '../parse/address-ranges.js';

// Re-exported: callers know them from here.
export { dottedQuadValue, hexIPv6Groups };

const ALWAYS: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** Scratch for hexIPv6Groups (has() allocates nothing). */
const V6_GROUPS = new Uint16Array(8);

export class Allowlist {
  private readonly entries: Cidr[] = [];
  private readonly ranges = new AddressRanges();

  constructor(cidrs: readonly string[] = []) {
    for (const c of ALWAYS) this.add(c);
    for (const c of cidrs) this.add(c);
  }

  add(raw: string): void {
    const c = parseCidr(raw);
    if (c === null) {
      throw new BanhammerError('BH_ERR_ADDRESS', `not an address or CIDR: ${JSON.stringify(raw)}${cidrDetail(raw)}`, {
        hint: 'use forms like 10.0.0.0/8, 198.18.0.7 or 2001:db8::/32',
        data: { value: raw },
      });
    }
    this.ranges.add(c);
    this.entries.push(c);
  }

  /** True when `ip` (canonical, or any valid spelling) must never be banned. */
  has(ip: string): boolean {
    const quad = dottedQuadValue(ip);
    if (quad >= 0) return this.ranges.hasV4(quad);
    // IPv6 written with hex groups only (every canonical IPv6 but ::ffff:0:0/96, which is IPv4): read
    // straight into words. canonicalIp would find the same groups, so the answer is the same.
    if (hexIPv6Groups(ip, V6_GROUPS) && !(V6_GROUPS[0] === 0 && V6_GROUPS[1] === 0 && V6_GROUPS[2] === 0 && V6_GROUPS[3] === 0 && V6_GROUPS[4] === 0 && V6_GROUPS[5] === 0xffff)) {
      const g = V6_GROUPS;
      return this.ranges.hasV6(((g[0]! << 16) | g[1]!) >>> 0, ((g[2]! << 16) | g[3]!) >>> 0, ((g[4]! << 16) | g[5]!) >>> 0, ((g[6]! << 16) | g[7]!) >>> 0);
    }
    const c = canonicalIp(ip);
    if (c === null) return false;
    if (c.family === 4) return this.ranges.hasV4(dottedQuadValue(c.ip));
    const p = ipaddr.IPv6.parse(c.ip).parts;
    return this.ranges.hasV6(
      (p[0]! * 65536 + p[1]!) >>> 0,
      (p[2]! * 65536 + p[3]!) >>> 0,
      (p[4]! * 65536 + p[5]!) >>> 0,
      (p[6]! * 65536 + p[7]!) >>> 0,
    );
  }

  /**
   * The first allowlisted entry (canonical; a single address without /32 or /128) sharing an address
   * with `network` (`addr/prefix` or an address, any valid spelling), or null when none does or
   * `network` is not valid. Used to refuse a CIDR ban that would cover an address never to be banned.
   */
  overlapping(network: string | Cidr): string | null {
    const n = typeof network === 'string' ? parseCidr(network) : network;
    if (n === null) return null;
    if (!this.ranges.overlaps(n)) return null;
    const e = this.entries.find((x) => cidrOverlaps(x, n));
    if (e === undefined) return null;
    return e.prefix === (e.family === 4 ? 32 : 128) ? e.network : `${e.network}/${e.prefix}`;
  }

  /** The entries as validated (canonical network, prefix, family), loopback first. */
  networks(): readonly Cidr[] {
    return this.entries;
  }

  /** The entries in canonical CIDR form, loopback first. */
  cidrs(): string[] {
    return this.entries.map((c) => `${c.network}/${c.prefix}`);
  }
}
