/**
 * The trusted-proxy test of the parse stage: is this peer (or X-Forwarded-For entry) one of the
 * reverse proxies named by `trusted_proxies` (BANHAMMER_TRUSTED_PROXIES)? Only then does the parser
 * believe what it says about the client (see apache.ts, "X-Forwarded-For").
 *
 * Built from the configured list alone: loopback and ignoreip are not proxies (the decide stage's
 * allowlist holds those, plus trusted proxies, for a different question: who is never banned). An
 * IPv4 peer, the common case, is tested as the 32-bit value the scanner already holds; both families
 * by binary search over sorted, merged ranges without allocating (address-ranges.ts, shared with the
 * allowlist).
 */
import { BanhammerError } from '../errors.js';
import { AddressRanges, dottedQuadValue, hexIPv6Groups } from './address-ranges.js';
import { cidrDetail, parseCidr, type CanonicalIp } from './ip.js';

/** Scratch for has() (allocates nothing). */
const GROUPS = new Uint16Array(8);

export class TrustedProxies {
  private constructor(private readonly ranges: AddressRanges) {}

  /**
   * The test for a list of addresses and CIDRs (the setting's canonical values), or null when the
   * list is empty (then no forwarded address is ever believed). Throws BH_ERR_CONFIG for an entry
   * that is not an address or CIDR (the config schema has already refused those).
   */
  static from(cidrs: readonly string[] | undefined): TrustedProxies | null {
    if (cidrs === undefined || cidrs.length === 0) return null;
    const ranges = new AddressRanges();
    for (const raw of cidrs) {
      const c = parseCidr(raw);
      if (c === null) {
        throw new BanhammerError('BH_ERR_CONFIG', `trusted proxy is not an address or CIDR: ${JSON.stringify(raw)}${cidrDetail(raw)}`, {
          hint: 'use forms like 10.0.0.0/8, 198.18.0.7 or 2001:db8::/32',
          data: { value: raw },
        });
      }
      ranges.add(c);
    }
    return new TrustedProxies(ranges);
  }

  /** An IPv4 address as the scanner holds it (AddressTable.quad: a 32-bit value, maybe negative). */
  hasQuad(quad: number): boolean {
    return this.ranges.hasV4(quad >>> 0);
  }

  /** A canonical address (canonicalIp's result: IPv6 is hex groups only, IPv4-mapped is IPv4). */
  has(c: CanonicalIp): boolean {
    if (c.family === 4) return this.ranges.hasV4(dottedQuadValue(c.ip));
    if (!hexIPv6Groups(c.ip, GROUPS)) return false;
    const g = GROUPS;
    return this.ranges.hasV6(((g[0]! << 16) | g[1]!) >>> 0, ((g[2]! << 16) | g[3]!) >>> 0, ((g[4]! << 16) | g[5]!) >>> 0, ((g[6]! << 16) | g[7]!) >>> 0);
  }
}
