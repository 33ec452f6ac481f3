/**
 * The per-line address lookup of the scanner: line[start, end) → canonical address (or null), for
 * the fields that are not plain dotted quads (IPv6, and anything else in the address field).
 *
 * The table hashes the field's characters, looks in a 2-way bucket and confirms the hit by comparing
 * the stored raw text with the field (a slice compared natively), so a hit is exact, and a hit costs
 * no validation. A miss validates with canonicalIp() (ip.ts, the one validator every stage shares) and
 * stores flat copies: the stored strings never pin the multi-megabyte chunk a line was sliced from,
 * and the returned `ip` is one shared string whose hash V8 computes once for every later Map lookup.
 * Invalid fields (hostnames, ports, junk) are not stored; they go through canonicalIp each time.
 *
 * Dotted quads, the common case, take a faster road: validQuad() validates the field while looking for
 * its end (replacing the search for the space) and keeps its 32-bit value; the text is written back
 * from that value (quadText) only when an event's address is read, so no lookup at all happens per
 * line (a table of tens of thousands of clients costs a cache miss per line). It accepts exactly what
 * Node's isIPv4 accepts (four 0–255 octets, no leading zeros).
 * Memory is bounded by the table size (2 × 8192 entries).
 */
import { randomBytes } from 'node:crypto';
import { canonicalIp, nonClientReason, type CanonicalIp } from './ip.js';
import { flatAscii } from './timestamp.js';

const BITS = 13;
const BUCKETS = 1 << BITS;
/** Longest textual IPv6 address (with an embedded IPv4 tail). */
const MAX_ADDRESS_LENGTH = 45;

/** A canonical address as the table hands it out: with nonClientReason() worked out once, when stored. */
export interface TableIp extends CanonicalIp {
  /** The address can never be a client (ip.ts nonClientReason): the scanner skips it as 'not-client'. */
  readonly notClient: boolean;
}

export class AddressTable {
  /** After a successful scanQuad(): index of the space that ends the address. */
  end = 0;

  /** The hash's random start (see lookup). */
  private readonly seed = randomBytes(4).readInt32LE(0);
  private readonly raws: string[] = new Array<string>(2 * BUCKETS).fill('\u0000');
  private readonly values: (TableIp | null)[] = new Array<TableIp | null>(2 * BUCKETS).fill(null);

  /** The canonical address written at line[start, end), or null when it is not a plain address. */
  lookup(line: string, start: number, end: number): TableIp | null {
    const n = end - start;
    if (n <= 0 || n > MAX_ADDRESS_LENGTH) return null;
    // Every character: addresses that differ only in the middle (2001:db8:1:X::1, which anyone holding
    // a prefix can send from) must not all share a bucket, or each line would miss and be validated.
    // Seeded per table, so which addresses share a bucket cannot be worked out ahead of time either.
    let h = n ^ this.seed;
    for (let i = start; i < end; i++) h = Math.imul(h ^ line.charCodeAt(i), 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    const slot = ((h >>> (32 - BITS)) << 1) >>> 0;
    // The field as a slice compared with ===, which V8 does natively: startsWith at a position walks
    // the characters one by one (~230 ns for an IPv6 address on the bench machine, against ~70).
    const raw = line.slice(start, end);
    const a = this.raws[slot]!;
    if (a === raw) return this.values[slot]!;
    if (this.raws[slot + 1] === raw) return this.values[slot + 1]!;

    const c = canonicalIp(raw);
    if (c === null) return null;
    // Valid addresses are ASCII, so the flat copies are exact. Newest entry first in its bucket.
    const ip = flatAscii(c.ip);
    const v: TableIp = Object.freeze({ ip, family: c.family, notClient: nonClientReason(c) !== null });
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
   * Validates line[start, end) as exactly one dotted quad (as validQuad does, but ending at `end`
   * whatever follows): on success `this.quad` holds its value. For X-Forwarded-For entries.
   */
  exactQuad(line: string, start: number, end: number): boolean {
    if (end - start < 7 || end - start > 15) return false;
    let octet = 0;
    let digits = 0;
    let dots = 0;
    let value = 0;
    for (let i = start; i < end; i++) {
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
      } else {
        return false;
      }
    }
    if (dots !== 3 || digits === 0) return false;
    this.quad = (value << 8) | octet;
    return true;
  }

  /**
   * A dotted quad starting at `start` and ending at a space before `end`: its canonical address, with
   * `this.end` set to the space. null when the field is anything else (the caller then finds the field
   * end itself and uses lookup()). The scanner itself calls validQuad() and makes the text lazily.
   */
  scanQuad(line: string, start: number, end: number): CanonicalIp | null {
    return this.validQuad(line, start, end) ? { ip: quadText(this.quad), family: 4 } : null;
  }
}

const TEXT_BITS = 12;
/** The last texts made, by value (direct-mapped): `quadTexts[slot]` is the text of `quadValues[slot]`. */
const quadValues = new Int32Array(1 << TEXT_BITS);
const quadTexts: string[] = new Array<string>(1 << TEXT_BITS).fill('');

/**
 * The canonical text of a 32-bit IPv4 value: never a slice pinning a read chunk. The same address
 * gets the same string object while it stays in a small direct-mapped table (4,096 slots, exact: the
 * value is compared), so the windows, the allowlist memo and the ban book, which look an event's
 * address up in Maps several times per line when a rule counts every line, hash it once and compare
 * it by identity, instead of building, flattening and hashing a fresh string per line (~250 ns for
 * each Map lookup, against ~50).
 */
export function quadText(value: number): string {
  const v = value | 0;
  const slot = Math.imul(v, 0x9e3779b1) >>> (32 - TEXT_BITS);
  const known = quadTexts[slot]!;
  if (known !== '' && quadValues[slot] === v) return known;
  const text = flatAscii(`${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);
  quadValues[slot] = v;
  quadTexts[slot] = text;
  return text;
}
