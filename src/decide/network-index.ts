/**
 * The networks the ban book holds bans of (CIDR bans), indexed so that "which held network shares
 * addresses with this one?" costs a few dozen lookups and one binary search instead of a scan of
 * every ban: a group holding thousands of network bans made each adoption scan all the others
 * (parsing two addresses per pair), and a replica froze for minutes on start (review: helper).
 *
 * Two CIDR networks share addresses exactly when one contains the other. The networks containing
 * `n` (or equal to it) are `n` cut to each shorter prefix: looked up by value. The networks inside
 * `n` start within it: found by binary search in the sorted starts. A network is indexed once
 * whatever the number of its bans (the caller counts them); `holds` lets the caller skip a network
 * whose bans have all expired without being removed yet.
 *
 * Only the prefix lengths some held network has are tried as "containing" candidates: trying every
 * shorter prefix cost a BigInt cut and a key per length (119 for an IPv6 /120), and a state file or
 * a group of 100,000 IPv6 network bans took 8 s (/64) to 13 s (/120) to restore, the event loop
 * blocked, against 0.5 s for as many addresses (review: helper).
 *
 * The starts are kept in chunks (chunked-starts.ts), not one sorted array spliced at each add and
 * delete: that cost n² for n networks, and 100,000 network bans ending in the same second blocked
 * the agent for 13 s (review H47).
 */
import { addressValue } from '../parse/ip.js';
import { ChunkedStarts } from './chunked-starts.js';

interface Entry {
  readonly text: string;
  readonly family: 4 | 6;
  readonly start: bigint;
  readonly prefix: number;
}

/** One network as the index reads it: canonical text (`addr/prefix`), family, prefix. */
export interface IndexedNetwork {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly prefix: number;
}

const BITS: Record<4 | 6, number> = { 4: 32, 6: 128 };

export class NetworkIndex {
  /** By (family, start, prefix) as one value. */
  private readonly byKey = new Map<string, Entry>();
  private readonly byText = new Map<string, Entry>();
  /** Entries by start, per family (ties in any order). */
  private readonly sorted: Record<4 | 6, ChunkedStarts<Entry>> = { 4: new ChunkedStarts(), 6: new ChunkedStarts() };
  /** How many held networks have each prefix length, per family: only those lengths can contain another. */
  private readonly prefixCount: Record<4 | 6, Uint32Array> = { 4: new Uint32Array(33), 6: new Uint32Array(129) };

  get size(): number {
    return this.byText.size;
  }

  /** Indexes a network (once: adding one already held does nothing). */
  add(n: IndexedNetwork): void {
    if (this.byText.has(n.ip)) return;
    const start = startOf(n);
    if (start === null) return;
    const e: Entry = { text: n.ip, family: n.family, start, prefix: n.prefix };
    this.byText.set(n.ip, e);
    this.byKey.set(keyOf(n.family, start, n.prefix), e);
    this.prefixCount[n.family][n.prefix]!++;
    this.sorted[n.family].insert(e);
  }

  /** Forgets a network. */
  delete(text: string): void {
    const e = this.byText.get(text);
    if (e === undefined) return;
    this.byText.delete(text);
    this.byKey.delete(keyOf(e.family, e.start, e.prefix));
    this.prefixCount[e.family][e.prefix]!--;
    this.sorted[e.family].delete(e);
  }

  /**
   * A held network other than `n` itself that shares addresses with `n`, for which `holds` is true,
   * or null. `minPrefix`: no held network is wider (the widest a ban may be).
   */
  overlapping(n: IndexedNetwork, minPrefix: number, holds: (text: string) => boolean): string | null {
    const start = startOf(n);
    if (start === null) return null;
    const bits = BITS[n.family];
    // Containing it: `n` cut to each shorter prefix some held network has.
    const held = this.prefixCount[n.family];
    for (let q = Math.max(0, minPrefix); q < n.prefix; q++) {
      if (held[q] === 0) continue;
      const host = BigInt(bits - q);
      const cut = (start >> host) << host;
      const e = this.byKey.get(keyOf(n.family, cut, q));
      if (e !== undefined && holds(e.text)) return e.text;
    }
    // Inside it (or equal): starting within it.
    const end = start + (1n << BigInt(bits - n.prefix)) - 1n;
    const hit = this.sorted[n.family].find(start, (e) => e.start > end || (e.text !== n.ip && holds(e.text)));
    return hit !== undefined && hit.start <= end ? hit.text : null;
  }

  /**
   * Every held network that shares addresses with `n` (`n` itself included when held): those
   * containing it, found by value as overlapping() finds them, then those inside it, by start. No wider
   * than `minPrefix`. Costs the networks found, not the networks held (`banhammer why` of an address,
   * and a reload's allowlist, ask it: each read every network ban, and 100,000 IPv6 network bans took
   * 0.2 s a `why` and 0.7–0.8 s a reload; review H47).
   */
  overlappingAll(n: IndexedNetwork, minPrefix: number): string[] {
    const start = startOf(n);
    if (start === null) return [];
    const bits = BITS[n.family];
    const out = this.holdingFrom(n, start, minPrefix);
    const end = start + (1n << BigInt(bits - n.prefix)) - 1n;
    this.sorted[n.family].find(start, (e) => {
      if (e.start > end) return true;
      if (e.prefix >= n.prefix) out.push(e.text);
      return false;
    });
    return out;
  }

  /**
   * Every held network wider than `n` that holds all of it (for an address, every network holding
   * it), by value: one lookup per prefix length some held network has. `banhammer why` of a network
   * asks it as it asks for an address: a /24 inside a banned /16 is dropped whole by the firewall.
   */
  holding(n: IndexedNetwork): string[] {
    const start = startOf(n);
    return start === null ? [] : this.holdingFrom(n, start, 0);
  }

  /** holding(), of `n` starting at `start`, no wider than `minPrefix`. */
  private holdingFrom(n: IndexedNetwork, start: bigint, minPrefix: number): string[] {
    const bits = BITS[n.family];
    const out: string[] = [];
    const held = this.prefixCount[n.family];
    for (let q = Math.max(0, minPrefix); q < n.prefix; q++) {
      if (held[q] === 0) continue;
      const host = BigInt(bits - q);
      const e = this.byKey.get(keyOf(n.family, (start >> host) << host, q));
      if (e !== undefined) out.push(e.text);
    }
    return out;
  }
}

function startOf(n: IndexedNetwork): bigint | null {
  const slash = n.ip.indexOf('/');
  const v = addressValue(slash < 0 ? n.ip : n.ip.slice(0, slash));
  if (v === null) return null;
  const host = BigInt(BITS[n.family] - n.prefix);
  return (v >> host) << host;
}

/**
 * A network's key in byKey: text, not a BigInt. V8 hashes a BigInt by its lowest 64 bits only, and
 * those of an IPv6 network of /64 or wider are all zero: every such network shared one hash chain,
 * and 100,000 IPv6 /64 bans (a hostile state file, or the group's values) took 46 s to restore.
 */
const keyOf = (family: 4 | 6, start: bigint, prefix: number): string => `${family} ${start.toString(16)} ${prefix}`;
