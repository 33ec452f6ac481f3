/**
 * Address validation and canonicalisation, shared by every stage: a string is only ever treated as an
 * address after canonicalIp() accepted it. IPv4 uses Node's own validator; IPv6 is parsed by ipaddr.js
 * (a well-kept library) so that every spelling of one address maps to one canonical string.
 */
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface CanonicalIp {
  readonly ip: string;
  readonly family: 4 | 6;
}

/**
 * Returns the canonical form of an address, or null when `raw` is not a plain IPv4/IPv6 address
 * (hostnames, CIDRs, zone ids, ports and brackets are all rejected). IPv4-mapped IPv6 becomes IPv4.
 */
export function canonicalIp(raw: string): CanonicalIp | null {
  if (raw.length === 0 || raw.length > 45) return null;
  if (isIPv4(raw)) return { ip: raw, family: 4 };
  if (!isIPv6(raw) || raw.includes('%')) return null;
  try {
    const addr = ipaddr.IPv6.parse(raw);
    if (addr.isIPv4MappedAddress()) return { ip: addr.toIPv4Address().toString(), family: 4 };
    return { ip: addr.toRFC5952String(), family: 6 };
  } catch {
    return null;
  }
}

/** A validated CIDR (or single address as /32, /128) in canonical form. */
export interface Cidr {
  readonly network: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parses `addr` or `addr/prefix`; null when invalid. Host bits are cleared (10.1.2.3/8 → 10.0.0.0/8). */
export function parseCidr(raw: string): Cidr | null {
  const s = raw.trim();
  const slash = s.indexOf('/');
  if (slash < 0) {
    const c = canonicalIp(s);
    return c ? { network: c.ip, prefix: c.family === 4 ? 32 : 128, family: c.family } : null;
  }
  const base = canonicalIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!base || !/^\d{1,3}$/.test(p)) return null;
  const prefix = Number(p);
  if (prefix > (base.family === 4 ? 32 : 128)) return null;
  try {
    const network = base.family === 4
      ? ipaddr.IPv4.networkAddressFromCIDR(`${base.ip}/${prefix}`).toString()
      : ipaddr.IPv6.networkAddressFromCIDR(`${base.ip}/${prefix}`).toRFC5952String();
    return { network, prefix, family: base.family };
  } catch {
    return null;
  }
}
