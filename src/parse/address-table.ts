/**
 * The per-line address lookup of the scanner: line[start, end) → canonical address (or null), without
 * allocating on a hit.
 *
 * A Map keyed by a fresh substring pays a slice and a full string hash on every line, which costs
 * more than the rest of the scan. This table instead hashes the length and the last few characters,
 * looks in a 2-way bucket and confirms the hit with startsWith against the stored raw text, so a hit
 * is exact. A miss validates with canonicalIp() (ip.ts, the one validator every stage shares) and
 * stores flat copies: the stored strings never pin the multi-megabyte chunk a line was sliced from,
 * and the returned `ip` is one shared string whose hash V8 computes once for every later Map lookup.
 * Invalid fields (hostnames, ports, junk) are not stored; they go through canonicalIp each time.
 *
 * Dotted quads, the common case, take a faster road: scanQuad() validates the field while looking for
 * its end (replacing the search for the space) and finds the address by its 32-bit value in a
 * direct-mapped table, so neither a substring nor a string comparison is needed on a hit. It accepts
 * exactly what Node's isIPv4 accepts (four 0–255 octets, no leading zeros).
 * Memory is bounded by the table sizes (2 × 8192 and 262144 entries).
 */
import { canonicalIp, type CanonicalIp } from './ip.js';
import { flatAscii } from './timestamp.js';

const BITS = 13;
const BUCKETS = 1 << BITS;
/** Longest textual IPv6 address (with an embedded IPv4 tail). */
const MAX_ADDRESS_LENGTH = 45;

const QUAD_BITS = 18;

export class AddressTable {
  /** After a successful scanQuad(): index of the space that ends the address. */
  end = 0;
  private readonly quadKeys = new Int32Array(1 << QUAD_BITS);
  private readonly quadValues: (CanonicalIp | null)[] = new Array<CanonicalIp | null>(1 << QUAD_BITS).fill(null);

  private readonly raws: string[] = new Array<string>(2 * BUCKETS).fill('\u0000');
  private readonly values: (CanonicalIp | null)[] = new Array<CanonicalIp | null>(2 * BUCKETS).fill(null);

  /** The canonical address written at line[start, end), or null when it is not a plain address. */
  lookup(line: string, start: number, end: number): CanonicalIp | null {
    const n = end - start;
    if (n <= 0 || n > MAX_ADDRESS_LENGTH) return null;
    let h = n;
    const stop = end - 6 > start ? end - 6 : start;
    for (let i = end - 1; i >= stop; i--) h = Math.imul(h ^ line.charCodeAt(i), 0x9e3779b1);
    const slot = ((h >>> (32 - BITS)) << 1) >>> 0;
    const a = this.raws[slot]!;
    if (a.length === n && line.startsWith(a, start)) return this.values[slot]!;
    const b = this.raws[slot + 1]!;
    if (b.length === n && line.startsWith(b, start)) return this.values[slot + 1]!;

    const raw = line.slice(start, end);
    const c = canonicalIp(raw);
    if (c === null) return null;
    // Valid addresses are ASCII, so the flat copies are exact. Newest entry first in its bucket.
    const ip = flatAscii(c.ip);
    const v: CanonicalIp = Object.freeze({ ip, family: c.family });
    this.raws[slot + 1] = a;
    this.values[slot + 1] = this.values[slot]!;
    this.raws[slot] = c.ip === raw ? ip : flatAscii(raw);
    this.values[slot] = v;
    return v;
  }

  /** After a successful validQuad(): the address as a 32-bit value (may be negative as an int32). */
  quad = 0;

  /**
   * Validates a dotted quad starting at `start` and ending at a space before `end`, exactly as Node's
   * isIPv4 would, without looking anything up: on success `this.quad` holds its value and `this.end`
   * the space. The canonical text is then quadText(this.quad), built only when someone asks for it.
   */
  validQuad(line: string, start: number, end: number): boolean {
    let octet = 0;
    let digits = 0;
    let dots = 0;
    let value = 0;
    let i = start;
    for (; i < end; i++) {
      const c = line.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        if (digits === 1 && octet === 0) return false; // leading zero
        octet = octet * 10 + (c - 48);
        if (++digits > 3 || octet > 255) return false;
      } else if (c === 46) {
        if (digits === 0 || dots === 3) return false;
        value = (value << 8) | octet;
        dots++;
        octet = 0;
        digits = 0;
      } else if (c === 32) {
        break;
      } else {
        return false;
      }
    }
    if (i >= end || dots !== 3 || digits === 0) return false;
    this.quad = (value << 8) | octet;
    this.end = i;
    return true;
  }

  /**
   * A dotted quad starting at `start` and ending at a space before `end`: its canonical address, with
   * `this.end` set to the space. null when the field is anything else (the caller then finds the field
   * end itself and uses lookup()).
   */
  scanQuad(line: string, start: number, end: number): CanonicalIp | null {
    let octet = 0;
    let digits = 0;
    let dots = 0;
    let value = 0;
    let i = start;
    for (; i < end; i++) {
      const c = line.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        if (digits === 1 && octet === 0) return null; // leading zero
        octet = octet * 10 + (c - 48);
        if (++digits > 3 || octet > 255) return null;
      } else if (c === 46) {
        if (digits === 0 || dots === 3) return null;
        value = (value << 8) | octet;
        dots++;
        octet = 0;
        digits = 0;
      } else if (c === 32) {
        break;
      } else {
        return null;
      }
    }
    if (i >= end || dots !== 3 || digits === 0) return null;
    value = (value << 8) | octet;
    this.end = i;
    const slot = Math.imul(value, 0x9e3779b1) >>> (32 - QUAD_BITS);
    const hit = this.quadValues[slot]!;
    if (hit !== null && this.quadKeys[slot] === value) return hit;
    // The field was validated digit by digit above (exactly Node's isIPv4), so its canonical text is
    // the octets written back: a fresh string built from numbers, never a slice pinning the chunk.
    const v: CanonicalIp = { ip: `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`, family: 4 };
    this.quadKeys[slot] = value;
    this.quadValues[slot] = v;
    return v;
  }
}

/** The canonical text of a 32-bit IPv4 value: a fresh string (never a slice pinning a read chunk). */
export function quadText(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
