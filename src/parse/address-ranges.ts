/**
 * Sets of address ranges (IPv4 and IPv6 networks), sorted and merged, tested by binary search
 * without allocating. The one implementation behind the decide stage's allowlist (who is never
 * banned, allowlist.ts) and the parse stage's trusted proxies (whose forwarded addresses are
 * believed, trusted-proxies.ts).
 *
 * IPv4 ranges are uint32 [start, end] pairs; IPv6 ranges are four 32-bit words per bound. Ranges are
 * merged lazily on the first test after an add(). overlaps() answers whether any address of a network
 * is in the set: the last merged range starting at or before the network's end overlaps it exactly
 * when it ends at or after the network's start (merged ranges are disjoint and sorted).
 */
import ipaddr from 'ipaddr.js';
import type { Cidr } from './ip.js';

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

/**
 * Reads an IPv6 address written as hex groups only (1–4 hex digits each, `:`-separated, at most one
 * `::` standing for one or more zero groups; no embedded dotted quad, zone or brackets) into `out`.
 * false for anything else (including every string Node's isIPv6 would reject): the caller then
 * takes the general path.
 */
export function hexIPv6Groups(s: string, out: Uint16Array): boolean {
  const n = s.length;
  if (n < 2 || n > 39) return false;
  let count = 0;
  let gap = -1; // index in out where `::` stands
  let i = 0;
  if (s.charCodeAt(0) === 58 /* : */) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
    if (i === n) {
      out.fill(0);
      return true;
    }
  }
  for (;;) {
    let v = 0;
    let digits = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      if (++digits > 4) return false;
      v = v * 16 + d;
      i++;
    }
    if (digits === 0 || count === 8) return false;
    out[count++] = v;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return false; // a trailing single colon
    }
  }
  if (gap < 0) return count === 8;
  if (count > 7) return false;
  // Move the groups after `::` to the end and zero the gap.
  const tail = count - gap;
  for (let k = 0; k < tail; k++) out[7 - k] = out[count - 1 - k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

export class AddressRanges {
  /** Unsorted IPv4 ranges as added: start, end, start, end, … (uint32 values). */
  private readonly v4Raw: number[] = [];
  /** Unsorted IPv6 ranges as added: 4 start words then 4 end words per range. */
  private readonly v6Raw: number[] = [];
  private dirty = true;
  /** Sorted, merged IPv4 ranges: v4Start[i] ≤ v4End[i] < v4Start[i + 1]. */
  private v4Start = new Uint32Array(0);
  private v4End = new Uint32Array(0);
  /** Sorted, merged IPv6 ranges, 4 words per bound, range i at [4i, 4i + 4). */
  private v6Start = new Uint32Array(0);
  private v6End = new Uint32Array(0);
  private v6Count = 0;

  add(c: Cidr): void {
    if (c.family === 4) this.v4Raw.push(...v4Range(c));
    else this.v6Raw.push(...v6Range(c));
    this.dirty = true;
  }

  /** Is the IPv4 address with this uint32 value inside a range? */
  hasV4(value: number): boolean {
    if (this.dirty) this.rebuild();
    const starts = this.v4Start;
    // The last range starting at or before value.
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= value) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && value <= this.v4End[found]!;
  }

  /** Is the IPv6 address with these four 32-bit words inside a range? */
  hasV6(a: number, b: number, c: number, d: number): boolean {
    if (this.dirty) this.rebuild();
    const s = this.v6Start;
    let lo = 0;
    let hi = this.v6Count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp4(s, mid * 4, a, b, c, d) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && cmp4(this.v6End, found * 4, a, b, c, d) >= 0;
  }

  /** Does any address of network `n` fall inside a range? */
  overlaps(n: Cidr): boolean {
    if (this.dirty) this.rebuild();
    if (n.family === 4) {
      const [start, end] = v4Range(n);
      const i = lastAtOrBefore(this.v4Start.length, (k) => this.v4Start[k]! <= end);
      return i >= 0 && this.v4End[i]! >= start;
    }
    const r = v6Range(n);
    const i = lastAtOrBefore(this.v6Count, (k) => cmp4(this.v6Start, 4 * k, r[4], r[5], r[6], r[7]) <= 0);
    return i >= 0 && cmp4(this.v6End, 4 * i, r[0], r[1], r[2], r[3]) >= 0;
  }

  /**
   * Does the set hold every address of the family? Not only a /0: halves (0.0.0.0/1 and 128.0.0.0/1)
   * or any ranges that add up to the whole family. Merged ranges are disjoint, so they cover the family
   * exactly when their sizes add up to it. For configuration checks (not per line).
   */
  coversAll(family: 4 | 6): boolean {
    if (this.dirty) this.rebuild();
    if (family === 4) {
      let total = 0;
      for (let i = 0; i < this.v4Start.length; i++) total += this.v4End[i]! - this.v4Start[i]! + 1;
      return total === 2 ** 32;
    }
    const value = (w: Uint32Array, at: number): bigint => (BigInt(w[at]!) << 96n) | (BigInt(w[at + 1]!) << 64n) | (BigInt(w[at + 2]!) << 32n) | BigInt(w[at + 3]!);
    let total = 0n;
    for (let i = 0; i < this.v6Count; i++) total += value(this.v6End, 4 * i) - value(this.v6Start, 4 * i) + 1n;
    return total === 1n << 128n;
  }

  private rebuild(): void {
    // IPv4: sort by start, merge overlapping and adjacent ranges.
    const n4 = this.v4Raw.length / 2;
    const order4 = Array.from({ length: n4 }, (_, i) => i).sort((x, y) => this.v4Raw[2 * x]! - this.v4Raw[2 * y]!);
    const s4: number[] = [];
    const e4: number[] = [];
    for (const i of order4) {
      const start = this.v4Raw[2 * i]!;
      const end = this.v4Raw[2 * i + 1]!;
      const last = e4.length - 1;
      if (last >= 0 && start <= e4[last]! + 1) {
        if (end > e4[last]!) e4[last] = end;
      } else {
        s4.push(start);
        e4.push(end);
      }
    }
    this.v4Start = Uint32Array.from(s4);
    this.v4End = Uint32Array.from(e4);

    // IPv6: sort by start, merge overlapping ranges (CIDR ranges either nest or are disjoint).
    const raw = this.v6Raw;
    const n6 = raw.length / 8;
    const order6 = Array.from({ length: n6 }, (_, i) => i).sort((x, y) => cmp4(raw, 8 * x, raw[8 * y]!, raw[8 * y + 1]!, raw[8 * y + 2]!, raw[8 * y + 3]!));
    const s6: number[] = [];
    const e6: number[] = [];
    for (const i of order6) {
      const o = 8 * i;
      const last = s6.length / 4 - 1;
      if (last >= 0 && cmp4(e6, 4 * last, raw[o]!, raw[o + 1]!, raw[o + 2]!, raw[o + 3]!) >= 0) {
        // Starts inside the previous range: extend it when it ends later.
        if (cmp4(e6, 4 * last, raw[o + 4]!, raw[o + 5]!, raw[o + 6]!, raw[o + 7]!) < 0) for (let k = 0; k < 4; k++) e6[4 * last + k] = raw[o + 4 + k]!;
      } else {
        for (let k = 0; k < 4; k++) s6.push(raw[o + k]!);
        for (let k = 0; k < 4; k++) e6.push(raw[o + 4 + k]!);
      }
    }
    this.v6Start = Uint32Array.from(s6);
    this.v6End = Uint32Array.from(e6);
    this.v6Count = s6.length / 4;
    this.dirty = false;
  }
}

/** The first and last address of an IPv4 network, as uint32. */
function v4Range(c: Cidr): [number, number] {
  const start = dottedQuadValue(c.network);
  const host = c.prefix === 0 ? 0xffffffff : c.prefix === 32 ? 0 : 0xffffffff >>> c.prefix;
  return [start, (start | host) >>> 0];
}

/** The first and last address of an IPv6 network: four start words, then four end words. */
function v6Range(c: Cidr): [number, number, number, number, number, number, number, number] {
  const w = v6Words(ipaddr.IPv6.parse(c.network).parts);
  const end: number[] = [];
  for (let i = 0; i < 4; i++) {
    const bits = c.prefix - 32 * i; // network bits inside word i
    const host = bits >= 32 ? 0 : bits <= 0 ? 0xffffffff : 0xffffffff >>> bits;
    end.push((w[i]! | host) >>> 0);
  }
  return [w[0]!, w[1]!, w[2]!, w[3]!, end[0]!, end[1]!, end[2]!, end[3]!];
}

/** The largest index k < n with atOrBefore(k) true (atOrBefore is monotone: true, …, true, false, …), or -1. */
function lastAtOrBefore(n: number, atOrBefore: (k: number) => boolean): number {
  let lo = 0;
  let hi = n - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (atOrBefore(mid)) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** Eight 16-bit groups as four 32-bit words. */
function v6Words(parts: readonly number[]): number[] {
  return [0, 1, 2, 3].map((i) => (parts[2 * i]! * 65536 + parts[2 * i + 1]!) >>> 0);
}

/** Compares the 128-bit value at words[at..at+4) with (a, b, c, d): negative, 0 or positive. */
function cmp4(words: ArrayLike<number>, at: number, a: number, b: number, c: number, d: number): number {
  return words[at]! - a || words[at + 1]! - b || words[at + 2]! - c || words[at + 3]! - d;
}
