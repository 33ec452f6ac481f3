/**
 * The ban book's memory of repeat offenders: per (rule, address, scope) how many bans it has had and
 * when the last one was made, which sets the next ban's length (bantime increment). Bounded at a
 * number of entries, and what goes first at the bound matters, because addresses can cost an
 * attacker nothing: with one insertion-ordered table, 100,000 one-request bans from fresh addresses
 * of one IPv6 /64 pushed out a known offender's entry, and its next ban was a first one again, a day
 * instead of two (review: helper). So:
 *
 * - one IPv6 /64 holds at most PER_64 entries and one /48 at most PER_48 (a /64 is one subscriber's
 *   LAN, a /48 a site's allocation): beyond that an entry of that same network goes, its oldest
 *   address banned once if it has one (so a neighbour's one-shot bans never push out a repeat
 *   offender of the same /64), so flushing 100,000 entries takes hundreds of /48s, not one /64.
 *   Addresses that carry an IPv4 address (NAT64 64:ff9b::/96 and 64:ff9b:1::/48, IPv4-mapped and
 *   -compatible ::/96 forms) are not grouped: behind a translator one /64 is the whole IPv4 internet;
 * - at the bound, entries of addresses banned once go first, oldest first; repeat offenders' only
 *   when nothing else is left (a repeat entry takes two bans of one address, the second only after
 *   the first has ended).
 */
import ipaddr from 'ipaddr.js';
import { BoundedMap } from '../bounded-map.js';
import { carriesIPv4 } from '../parse/ip.js';

export interface OffenderEntry {
  readonly ip: string;
  readonly rule: string;
  readonly scope?: string | undefined;
  readonly count: number;
  readonly last: number;
}

/** Most entries of one IPv6 /64, and of one /48. */
export const PER_64 = 16;
export const PER_48 = 256;

export class OffenderHistory {
  // Each tier a BoundedMap (bounded-map.ts) for oldestKey() in constant time: a Map's first key,
  // taken over and over from a Map deleted at its head, is found past every deleted slot (each
  // eviction cost more). The bounds are this class's own (forgetOne), not the maps'.
  /** Entries with count ≤ 1, oldest first… */
  private readonly once = new BoundedMap<string, OffenderEntry>(Number.MAX_SAFE_INTEGER);
  /** …and those with count ≥ 2, oldest first. */
  private readonly repeat = new BoundedMap<string, OffenderEntry>(Number.MAX_SAFE_INTEGER);
  /** IPv6 entries' keys by their /64 and by their /48, oldest first. */
  private readonly by64 = new Map<string, Set<string>>();
  private readonly by48 = new Map<string, Set<string>>();

  constructor(private readonly max: number) {}

  get(key: string): OffenderEntry | undefined {
    return this.repeat.get(key) ?? this.once.get(key);
  }

  /** Stores `e` as the most recent entry of its tier and networks; at the bounds the first to go goes. */
  set(key: string, e: OffenderEntry): void {
    this.delete(key);
    (e.count >= 2 ? this.repeat : this.once).set(key, e);
    const nets = networksOf(e.ip);
    if (nets !== null) {
      this.capped(this.by64, nets.n64, key, PER_64);
      this.capped(this.by48, nets.n48, key, PER_48);
    }
    while (this.size > this.max) this.forgetOne();
  }

  get size(): number {
    return this.once.size + this.repeat.size;
  }

  /** Every entry: those banned once, then repeat offenders, each oldest first (set() in this order rebuilds the same table). */
  values(): OffenderEntry[] {
    return [...this.once.values(), ...this.repeat.values()];
  }

  private delete(key: string): void {
    const e = this.once.get(key) ?? this.repeat.get(key);
    if (e === undefined) return;
    this.once.delete(key);
    this.repeat.delete(key);
    const nets = networksOf(e.ip);
    if (nets !== null) {
      unlist(this.by64, nets.n64, key);
      unlist(this.by48, nets.n48, key);
    }
  }

  /** Lists `key` under `net`; beyond `cap` the network's oldest entry banned once goes, else its oldest. */
  private capped(index: Map<string, Set<string>>, net: string, key: string, cap: number): void {
    let keys = index.get(net);
    if (keys === undefined) index.set(net, (keys = new Set()));
    keys.add(key);
    while (keys.size > cap) {
      let victim: string | undefined;
      for (const k of keys) {
        if (this.once.has(k)) {
          victim = k;
          break;
        }
      }
      this.delete(victim ?? keys.values().next().value!);
    }
  }

  private forgetOne(): void {
    const oldest = (this.once.size > 0 ? this.once : this.repeat).oldestKey();
    if (oldest !== undefined) this.delete(oldest);
  }
}

function unlist(index: Map<string, Set<string>>, net: string, key: string): void {
  const keys = index.get(net);
  if (keys === undefined) return;
  keys.delete(key);
  if (keys.size === 0) index.delete(net);
}

/** An IPv6 address's /64 and /48 (as hex prefixes), or null for IPv4, networks and IPv6 forms of IPv4 addresses. */
function networksOf(ip: string): { n64: string; n48: string } | null {
  if (!ip.includes(':') || ip.includes('/')) return null;
  let parts: number[];
  try {
    parts = ipaddr.IPv6.parse(ip).parts;
  } catch {
    return null;
  }
  if (carriesIPv4(parts)) return null;
  const h = parts.map((p) => p.toString(16));
  return { n64: h.slice(0, 4).join(':'), n48: h.slice(0, 3).join(':') };
}
