/**
 * Address validation and canonicalisation, shared by every stage: a string is only ever treated as an
 * address after canonicalIp() accepted it. Both families are first validated by Node's own isIPv4 /
 * isIPv6; IPv6 is then read into its eight 16-bit groups here and written back per RFC 5952
 * (lower-case, no leading zeros, the longest run of two or more zero groups as `::`), so every spelling
 * of one address maps to one canonical string.
 *
 * Only IPv4-mapped IPv6 (`::ffff:a.b.c.d`, ::ffff:0:0/96, however spelled) is IPv4. IPv4-compatible
 * IPv6 (`::a.b.c.d`, ::/96, as glibc prints it), SIIT's `::ffff:0:a.b.c.d` and NAT64's
 * `64:ff9b::a.b.c.d` are other IPv6 addresses and stay IPv6: turning them into the embedded IPv4 would
 * ban an innocent IPv4 host and let the IPv6 client go. (ipaddr.js's parser reads `::a.b.c.d` as
 * `::ffff:a.b.c.d`, which is why it is not used for parsing any more.) A mapped network in a
 * configuration list is IPv4 too, its prefix counted in IPv6 bits (`::ffff:198.18.0.0/112` is
 * 198.18.0.0/16; below /96 it is refused): see parseCidr.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { dottedQuadValue, hexIPv6Groups } from './address-ranges.js';

/** Scratch for addressValue's reading of hex groups. */
const VALUE_GROUPS = new Uint16Array(8);

export interface CanonicalIp {
  readonly ip: string;
  readonly family: 4 | 6;
}

/**
 * Returns the canonical form of an address, or null when `raw` is not a plain IPv4/IPv6 address
 * (hostnames, CIDRs, zone ids, ports and brackets are all rejected). IPv4-mapped IPv6 (and only that)
 * becomes IPv4.
 */
export function canonicalIp(raw: string): CanonicalIp | null {
  if (raw.length === 0 || raw.length > 45) return null;
  if (isIPv4(raw)) return { ip: raw, family: 4 };
  if (!isIPv6(raw) || raw.includes('%')) return null;
  const g = ipv6Groups(raw);
  if (g === null) return null;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return { ip: `${g[6]! >>> 8}.${g[6]! & 255}.${g[7]! >>> 8}.${g[7]! & 255}`, family: 4 };
  }
  return { ip: rfc5952(g), family: 6 };
}

/** Why an address can never be the source of a TCP connection (see nonClientReason). */
export type NonClientReason = 'unspecified' | 'multicast' | 'broadcast';

/**
 * null when `c` may be a client; otherwise why it can never be the source address of a TCP connection,
 * so that no log line, manual ban or saved state can make it a ban (the kernel refuses some of these
 * as set elements, and banning them protects nothing):
 * - 'unspecified': `::` and all of 0.0.0.0/8 ("this host on this network", RFC 1122 3.2.1.3: a source
 *   only while a host is still learning its own address, e.g. a DHCP request, never for TCP; routers
 *   must not forward it, RFC 1812 5.3.7, and Linux drops it as a martian source).
 * - 'multicast': 224.0.0.0/4 and ff00::/8. A multicast address is a group, never a sender (RFC 1122
 *   3.2.1.3, RFC 4291 2.7), and TCP is point-to-point.
 * - 'broadcast': 255.255.255.255, the limited broadcast (RFC 919/922), never a source.
 * Everything else is a possible client, including loopback, link-local, private ranges and 240.0.0.0/4
 * (those are the allowlist's business, not the parser's). Subnet-directed broadcasts cannot be known
 * without the netmask and are left to the allowlist.
 */
export function nonClientReason(c: CanonicalIp): NonClientReason | null {
  if (c.family === 4) {
    const first = firstOctet(c.ip);
    if (first === 0) return 'unspecified';
    if (first >= 224 && first <= 239) return 'multicast';
    if (c.ip === '255.255.255.255') return 'broadcast';
    return null;
  }
  if (c.ip === '::') return 'unspecified';
  // Canonical IPv6 is lower-case without leading zeros, so ff00::/8 is exactly "ffXX:".
  if (c.ip.length >= 5 && c.ip.charCodeAt(0) === 102 && c.ip.charCodeAt(1) === 102 && c.ip.charCodeAt(4) === 58) {
    return 'multicast';
  }
  return null;
}

/**
 * canonicalIp() for an address that claims to be a client (a log line's first field, a manual ban, a
 * saved ban): the canonical address, or null when it is not an address or can never be a client
 * (nonClientReason). Use nonClientReason() on canonicalIp()'s result to say which.
 */
export function canonicalClientIp(raw: string): CanonicalIp | null {
  const c = canonicalIp(raw);
  return c === null || nonClientReason(c) !== null ? null : c;
}

/** The first octet of a canonical dotted quad (no allocation: the parser asks once per IPv6/vhost line). */
function firstOctet(ip: string): number {
  let v = 0;
  for (let i = 0; i < 3; i++) {
    const d = ip.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  return v;
}

/**
 * The eight 16-bit groups of an address that Node's isIPv6 accepted (no zone id), or null. An embedded
 * dotted quad (only as the last 32 bits) gives the last two groups, whatever the groups before it are.
 */
function ipv6Groups(raw: string): number[] | null {
  const dbl = raw.indexOf('::');
  if (dbl >= 0 && raw.indexOf('::', dbl + 1) >= 0) return null;
  const head = groupsOf(dbl < 0 ? raw : raw.slice(0, dbl), dbl < 0);
  const tail = dbl < 0 ? [] : groupsOf(raw.slice(dbl + 2), true);
  if (head === null || tail === null) return null;
  const zeros = 8 - head.length - tail.length;
  if (dbl < 0 ? zeros !== 0 : zeros < 1) return null;
  const out = head;
  for (let i = 0; i < zeros; i++) out.push(0);
  for (const t of tail) out.push(t);
  return out;
}

/** Groups of a `:`-separated run; a dotted quad is allowed only last and only when `last`. */
function groupsOf(s: string, last: boolean): number[] | null {
  const out: number[] = [];
  if (s === '') return out;
  const parts = s.split(':');
  for (let i = 0; i < parts.length; i++) {
    const g = parts[i]!;
    if (g.includes('.')) {
      if (!last || i !== parts.length - 1 || !isIPv4(g)) return null;
      const o = g.split('.').map(Number) as [number, number, number, number];
      out.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
  }
  return out;
}

/** RFC 5952 text of eight groups: lower-case hex, the first longest run of ≥ 2 zero groups as `::`. */
function rfc5952(g: ArrayLike<number>): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  // Built by concatenation (no slices, maps or joins: escalation formats a network per ban counted).
  const hex = (a: number, b: number): string => {
    let out = '';
    for (let i = a; i < b; i++) out += i === a ? g[i]!.toString(16) : `:${g[i]!.toString(16)}`;
    return out;
  };
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** A validated CIDR (or single address as /32, /128) in canonical form. */
export interface Cidr {
  readonly network: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parses `addr` or `addr/prefix`; null when invalid (see cidrProblem). Host bits are cleared (10.1.2.3/8 → 10.0.0.0/8). */
export function parseCidr(raw: string): Cidr | null {
  const r = readCidr(raw);
  return r === null || 'problem' in r ? null : r;
}

/**
 * Why parseCidr refuses `raw` when there is more to say than that it is no address or CIDR (an
 * IPv4-mapped network with a prefix below /96: how to write it), in words for a configuration error;
 * null otherwise (valid, or plainly not an address or CIDR).
 */
export function cidrProblem(raw: string): string | null {
  const r = readCidr(raw);
  return r !== null && 'problem' in r ? r.problem : null;
}

/** cidrProblem as the tail of an error message (`: …`), or '' when it has nothing to add. */
export function cidrDetail(raw: string): string {
  const why = cidrProblem(raw);
  return why === null ? '' : `: ${why}`;
}

/**
 * An IPv4-mapped network (`::ffff:198.18.0.0/112`) counts its prefix in IPv6 bits, as every IPv6
 * prefix does: the 96 bits of ::ffff:0:0/96, then N − 96 bits of the IPv4 address. Since a mapped
 * address is IPv4 here (canonicalIp), the network is the IPv4 network a.b.c.d/(N − 96): /112 is a
 * /16, /128 one address. Reading the prefix as IPv4 bits instead made `::ffff:198.18.0.0/24` shield
 * 198.18.0.0/24 and refused the right spellings (/112, /128). Below /96 the network would reach past
 * ::ffff:0:0/96 into addresses that are not IPv4 at all (`::ffff:198.18.0.0/24` is ::/24 in IPv6
 * terms): neither reading is what anyone means, so it is refused with the rule, never guessed.
 */
const MAPPED_PROBLEM =
  'an IPv4-mapped network (::ffff:a.b.c.d) takes a prefix of /96 to /128, counted in IPv6 bits (96 + the IPv4 prefix: ::ffff:198.18.0.0/112 is 198.18.0.0/16); write the IPv4 network (e.g. 198.18.0.0/16) instead';

/** parseCidr's reading: the network, null when it is no address or CIDR, or a problem to tell. */
function readCidr(raw: string): Cidr | { problem: string } | null {
  const s = raw.trim();
  const slash = s.indexOf('/');
  if (slash < 0) {
    const c = canonicalIp(s);
    return c ? { network: c.ip, prefix: c.family === 4 ? 32 : 128, family: c.family } : null;
  }
  const addr = s.slice(0, slash);
  const base = canonicalIp(addr);
  const p = s.slice(slash + 1);
  if (!base || !/^\d{1,3}$/.test(p)) return null;
  let prefix = Number(p);
  if (base.family === 4 && addr.includes(':')) {
    // Written as IPv4-mapped IPv6 (canonicalIp made it IPv4): its prefix counts IPv6 bits.
    if (prefix > 128) return null;
    if (prefix < 96) return { problem: MAPPED_PROBLEM };
    prefix -= 96;
  }
  if (prefix > (base.family === 4 ? 32 : 128)) return null;
  return { network: networkText(base, prefix), prefix, family: base.family };
}

/** The canonical text of `base` with the bits after `prefix` cleared (10.1.2.3/8 → 10.0.0.0). */
function networkText(base: CanonicalIp, prefix: number): string {
  if (base.family === 4) {
    const o = base.ip.split('.').map(Number);
    const v = prefix === 0 ? 0 : ((((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> (32 - prefix)) << (32 - prefix)) >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const g = ipv6Groups(base.ip)!;
  for (let i = 0; i < 8; i++) {
    const keep = prefix - 16 * i; // network bits inside group i
    if (keep <= 0) g[i] = 0;
    else if (keep < 16) g[i] = g[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  return rfc5952(g);
}

/**
 * The widest network a CIDR ban may cover: /8 for IPv4 (16.7 million addresses, a whole former
 * class A) and /32 for IPv6 (a regional registry's usual allocation to one provider). Anything wider
 * is far more likely a typo than a decision, and /0 would ban every client.
 */
export const MIN_BAN_PREFIX: Readonly<Record<4 | 6, number>> = { 4: 8, 6: 32 };

/** Is this ban target (canonicalTarget's `ip`) a network (`addr/prefix`) rather than one address? */
export const isNetwork = (ip: string): boolean => ip.includes('/');

/** A ban target in canonical text: an address, or a network `addr/prefix`; `prefix` 32/128 for an address. */
export interface CanonicalTarget extends CanonicalIp {
  readonly prefix: number;
}

/**
 * What `banhammer ban|unban` may name: one address (canonicalIp), or a network `addr/prefix`. A
 * network is normalised to its network address (198.18.0.7/24 is 198.18.0.0/24, the way ignoreip
 * entries are read), and a full-length prefix (/32, /128) is just the address. null when `raw` is
 * neither (surrounding spaces, zone ids and IPv4-mapped networks included). Says nothing about
 * whether the target may be banned: see networkCoverReason() and the ban book.
 */
export function canonicalTarget(raw: string): CanonicalTarget | null {
  if (raw.length === 0 || raw.length > 49) return null;
  if (!raw.includes('/')) {
    const c = canonicalIp(raw);
    return c === null ? null : { ip: c.ip, family: c.family, prefix: c.family === 4 ? 32 : 128 };
  }
  if (raw.trim() !== raw) return null;
  const n = parseCidr(raw);
  if (n === null) return null;
  // An IPv4-mapped network (`::ffff:198.18.0.0/120`): configuration lists read it as the IPv4 network
  // it names (parseCidr), but a ban, an unban, `why` and the group's messages name a network one way
  // only, in its own family, as status shows it and the kernel holds it: refused, as documented.
  if (n.family === 4 && raw.slice(0, raw.indexOf('/')).includes(':')) return null;
  const full = n.family === 4 ? 32 : 128;
  return { ip: n.prefix === full ? n.network : `${n.network}/${n.prefix}`, family: n.family, prefix: n.prefix };
}

/**
 * The value of an address as a number of its family's width (IPv4 32 bits, IPv6 128; an IPv4-mapped
 * spelling is the IPv4 value), or null when `ip` is not an address. Read by this module's own parser,
 * not ipaddr.js: the checks of a network ban (cidrOverlaps, networkCoverReason) and the network index
 * run once per network restored or adopted, and ipaddr.js's parse was most of the cost of restoring
 * 100,000 of them (review: helper).
 */
export function addressValue(ip: string): bigint | null {
  // Canonical text (every caller's, nearly always) is read without allocating first.
  const quad = dottedQuadValue(ip);
  if (quad >= 0) return BigInt(quad);
  const h = VALUE_GROUPS;
  if (hexIPv6Groups(ip, h) && !(h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff)) return groupsValue(h);
  const c = canonicalIp(ip);
  if (c === null) return null;
  if (c.family === 4) return BigInt(dottedQuadValue(c.ip));
  return groupsValue(ipv6Groups(c.ip)!);
}

/** Eight 16-bit groups as one 128-bit value. */
function groupsValue(g: ArrayLike<number>): bigint {
  const word = (i: number): bigint => BigInt(((g[i]! << 16) | g[i + 1]!) >>> 0);
  return (word(0) << 96n) | (word(2) << 64n) | (word(4) << 32n) | word(6);
}

/** Do two networks of one family share an address? (Two prefixes overlap when the shorter one holds the other's network.) */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const w = addressValue(a.network);
  const n = addressValue(b.network);
  return w !== null && n !== null && valuesOverlap(a.family, w, a.prefix, n, b.prefix);
}

/** cidrOverlaps of two networks of `family` given by value and prefix. */
function valuesOverlap(family: 4 | 6, a: bigint, pa: number, b: bigint, pb: number): boolean {
  const host = BigInt((family === 4 ? 32 : 128) - Math.min(pa, pb));
  return a >> host === b >> host;
}

/** A fixed network with its value read once (NEVER_COVER, IPV4_CARRIERS are tested against every network ban). */
interface KnownRange extends Cidr {
  readonly value: bigint;
  readonly what: string;
}
/** Read in its own family: `::ffff:0:0` here is the IPv6 network, which addressValue would read as IPv4's 0.0.0.0. */
const knownRange = (network: string, prefix: number, family: 4 | 6, what: string): KnownRange => ({
  network,
  prefix,
  family,
  what,
  value: family === 4 ? BigInt(dottedQuadValue(network)) : groupsValue(ipv6Groups(network)!),
});

/** Networks a CIDR ban may never cover, and what they are. */
const NEVER_COVER: readonly KnownRange[] = [
  knownRange('0.0.0.0', 8, 4, 'unspecified'),
  knownRange('127.0.0.0', 8, 4, 'loopback'),
  knownRange('224.0.0.0', 4, 4, 'multicast'),
  knownRange('255.255.255.255', 32, 4, 'broadcast'),
  knownRange('::', 128, 6, 'unspecified'),
  knownRange('::1', 128, 6, 'loopback'),
  knownRange('::ffff:0:0', 96, 6, 'IPv4-mapped'),
  knownRange('ff00::', 8, 6, 'multicast'),
];

/**
 * IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64's well-known prefix (RFC 6052; SIIT-DC
 * and NAT64 gateways show every IPv4 client to an IPv6-only server as 64:ff9b::a.b.c.d), SIIT's
 * IPv4-translated ::ffff:0:0:0/96 and the deprecated IPv4-compatible ::/96 (IPv4-mapped
 * ::ffff:0:0/96 is never banned as a network at all: NEVER_COVER). A network inside one is as wide as
 * the IPv4 network it carries: 64:ff9b::/96 is 0.0.0.0/0 behind the translator, and passed the IPv6
 * width limit (/32) as well as the group's (/48), so one `ban`, or one value on the group's channel,
 * banned every IPv4 client there (review: helper).
 */
const IPV4_CARRIERS: readonly KnownRange[] = [
  knownRange('64:ff9b::', 96, 6, 'NAT64'),
  knownRange('::ffff:0:0:0', 96, 6, 'IPv4-translated'),
  knownRange('::', 96, 6, 'IPv4-compatible'),
];

/**
 * Why the network `n` may never be banned as a whole, in words (`is /0 …`, `covers 127.0.0.0/8
 * (loopback)`), or null. Refused: /0, anything wider than MIN_BAN_PREFIX, and any network holding
 * loopback or an address that can never be a client (nonClientReason's ranges: 0.0.0.0/8, multicast,
 * the broadcast address, ::), or IPv4-mapped IPv6; an IPv6 network holding IPv4 addresses
 * (IPV4_CARRIERS) is held to the IPv4 limit in the bits after its /96, and one holding a whole /96
 * of them is refused. The allowlist (ignoreip, trusted proxies, this host's addresses) is the ban
 * book's business.
 */
export function networkCoverReason(n: Cidr): string | null {
  if (n.prefix === 0) return 'is /0: it would ban every client';
  const min = MIN_BAN_PREFIX[n.family];
  if (n.prefix < min) return `is wider than /${min}, the widest network banhammer bans for IPv${n.family}`;
  const value = addressValue(n.network);
  if (value === null) return 'is not a network';
  const overlaps = (r: KnownRange): boolean => r.family === n.family && valuesOverlap(n.family, value, n.prefix, r.value, r.prefix);
  for (const range of NEVER_COVER) {
    if (overlaps(range)) return `covers ${range.prefix === (range.family === 4 ? 32 : 128) ? range.network : `${range.network}/${range.prefix}`} (${range.what})`;
  }
  for (const range of IPV4_CARRIERS) {
    if (!overlaps(range)) continue;
    if (n.prefix <= range.prefix) return `covers ${range.network}/${range.prefix} (${range.what}: the IPv6 form of every IPv4 address)`;
    const v4 = MIN_BAN_PREFIX[4];
    if (n.prefix - range.prefix < v4) return `holds IPv4 addresses (${range.what} ${range.network}/${range.prefix}) and is wider than /${range.prefix + v4}, an IPv4 /${v4}, the widest network banhammer bans for IPv4`;
  }
  return null;
}

/**
 * Whether the address is an IPv6 form of an IPv4 address: NAT64's well-known prefix 64:ff9b::/96 and
 * local-use 64:ff9b:1::/48 (RFC 6052, 8215), IPv4-mapped ::ffff:0:0/96, IPv4-translated
 * ::ffff:0:0:0/96 (SIIT) and IPv4-compatible ::/96.
 */
export function carriesIPv4(p: ArrayLike<number>): boolean {
  if (p[0] === 0x64 && p[1] === 0xff9b) return p[2] === 1 || (p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0);
  if (p[0] !== 0 || p[1] !== 0 || p[2] !== 0 || p[3] !== 0) return false;
  return (p[4] === 0 && (p[5] === 0 || p[5] === 0xffff)) || (p[4] === 0xffff && p[5] === 0);
}

/**
 * The network of `prefix` bits (32–128) that holds the IPv6 address `ip`, as canonical text
 * (`2001:db8:1:2::/64`), or null when `ip` is not an IPv6 address or is the IPv6 form of an IPv4
 * address (behind NAT64 or in a mapped form, one such network holds every IPv4 client).
 */
export function ipv6NetworkOf(ip: string, prefix: number): string | null {
  if (!Number.isInteger(prefix) || prefix < 32 || prefix > 128) return null;
  // Canonical text (a ban's address: what escalation counts) is read without a full parse. A reload
  // changing escalation's settings counts every ban held again, in one block: read through
  // canonicalIp and canonicalTarget, 100,000 IPv6 bans took 2.5 s of blocked event loop (review H49).
  const fast = canonicalIPv6NetworkOf(ip, prefix);
  if (fast !== undefined) return fast;
  const c = canonicalIp(ip);
  if (c === null || c.family !== 6) return null;
  const g = ipv6Groups(c.ip);
  if (g === null || carriesIPv4(g)) return null;
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, prefix - 16 * i));
    g[i] = keep === 0 ? 0 : g[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  return canonicalTarget(`${g.map((x) => x.toString(16)).join(':')}/${prefix}`)?.ip ?? null;
}

/** Scratch for canonicalIPv6NetworkOf (one thread: no call of it runs inside another). */
const NETWORK_GROUPS = new Uint16Array(8);

/**
 * ipv6NetworkOf() of an address written in canonical IPv6 text (RFC 5952: what canonicalIp returns,
 * so `ip` is its own canonical form and no IPv4-mapped address), read straight into groups: the same
 * answer, or undefined when `ip` is not written so (the caller then parses it in full).
 */
function canonicalIPv6NetworkOf(ip: string, prefix: number): string | null | undefined {
  const g = NETWORK_GROUPS;
  if (!hexIPv6Groups(ip, g)) return undefined;
  if ((g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) || rfc5952(g) !== ip) return undefined;
  if (carriesIPv4(g)) return null;
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, prefix - 16 * i));
    g[i] = keep === 0 ? 0 : g[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  const text = rfc5952(g);
  return prefix === 128 ? text : `${text}/${prefix}`;
}
