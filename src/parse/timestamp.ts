/**
 * Apache / nginx access-log time (`%t`, `$time_local`): `10/Oct/2026:13:55:36 -0700`, the text between
 * the square brackets, always 26 characters.
 *
 * parseClfTime() validates every part (two-digit day that exists in that month, English month
 * abbreviation with exact case, four-digit year, 00–23:00–59:00–59, zone `±hhmm` within ±14:00) and
 * returns ms since the epoch, or NaN when anything is off. It never throws.
 *
 * ClfTimeCache memoises it: a busy log repeats one second thousands of times, so the common case is
 * one comparison against the previous line's timestamp; other recent timestamps
 * (logs are only roughly ordered) come from a bounded Map.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** Length of a CLF timestamp without its brackets. */
export const CLF_TIME_LENGTH = 26;

/** Two decimal digits at s[i], s[i+1] as a number, or -1. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return -1;
  return a * 10 + b;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Parses s[start, end) as `dd/Mon/yyyy:HH:MM:SS ±hhmm`; ms since the epoch, or NaN if invalid. */
export function parseClfTime(s: string, start = 0, end = s.length): number {
  if (end - start !== CLF_TIME_LENGTH) return NaN;
  const p = start;
  if (
    s.charCodeAt(p + 2) !== 47 || // '/'
    s.charCodeAt(p + 6) !== 47 ||
    s.charCodeAt(p + 11) !== 58 || // ':'
    s.charCodeAt(p + 14) !== 58 ||
    s.charCodeAt(p + 17) !== 58 ||
    s.charCodeAt(p + 20) !== 32 // ' '
  ) {
    return NaN;
  }
  const day = twoDigits(s, p);
  const month = MONTHS.indexOf(s.slice(p + 3, p + 6) as (typeof MONTHS)[number]);
  const y1 = twoDigits(s, p + 7);
  const y2 = twoDigits(s, p + 9);
  const hour = twoDigits(s, p + 12);
  const minute = twoDigits(s, p + 15);
  const second = twoDigits(s, p + 18);
  const sign = s.charCodeAt(p + 21);
  const zh = twoDigits(s, p + 22);
  const zm = twoDigits(s, p + 24);
  if (month < 0 || day < 1 || y1 < 0 || y2 < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59) return NaN;
  if (second < 0 || second > 59 || zh < 0 || zm < 0 || zm > 59 || (sign !== 43 && sign !== 45)) return NaN;
  const year = y1 * 100 + y2;
  const dim = month === 1 && isLeap(year) ? 29 : DAYS_IN_MONTH[month]!;
  if (day > dim) return NaN;
  const offsetMin = zh * 60 + zm;
  if (offsetMin > 14 * 60) return NaN;
  const utc = Date.UTC(year, month, day, hour, minute, second);
  // Date.UTC maps years 0–99 to 1900–1999; a four-digit year below 100 is not a real log anyway.
  if (year < 100) return NaN;
  return utc - (sign === 43 ? offsetMin : -offsetMin) * 60_000;
}

/**
 * A flat (sequential) copy of an ASCII string. Slices of a big chunk are SlicedStrings, which V8
 * compares more slowly; the cached keys are compared once per line, so they are copied once.
 */
export function flatAscii(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** parseClfTime with a one-entry fast path (same as the previous line) and a bounded memo. */
export class ClfTimeCache {
  // The previous valid timestamp as character codes; all zero never matches a real timestamp.
  private readonly lastKey = new Uint16Array(CLF_TIME_LENGTH);
  private lastValue = NaN;
  private readonly memo = new Map<string, number>();

  constructor(private readonly max = 4096) {}

  /** Time of s[start, end), or NaN when invalid. */
  parse(s: string, start: number, end: number): number {
    if (end - start !== CLF_TIME_LENGTH) return NaN;
    // Compared character by character, seconds first (where consecutive lines differ): a bounded
    // cost whether or not it matches. (indexOf with the previous key looks cheaper but scans the
    // rest of the text on a miss, and replay hands over 64 KiB pieces, not single lines.)
    const key = this.lastKey;
    let same = true;
    for (let i = CLF_TIME_LENGTH - 7; i >= 0; i--) {
      if (s.charCodeAt(start + i) !== key[i]) {
        same = false;
        break;
      }
    }
    if (same) {
      for (let i = CLF_TIME_LENGTH - 6; i < CLF_TIME_LENGTH; i++) {
        if (s.charCodeAt(start + i) !== key[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastValue;
    }
    const text = s.slice(start, end);
    let v = this.memo.get(text);
    if (v === undefined) {
      v = parseClfTime(text);
      if (this.memo.size >= this.max) this.memo.clear();
      // A copy, not the slice: a kept slice would pin the whole read chunk it was cut from.
      this.memo.set(flatAscii(text), v);
    }
    // Only valid keys become the fast path.
    if (v === v) {
      for (let i = 0; i < CLF_TIME_LENGTH; i++) key[i] = s.charCodeAt(start + i);
      this.lastValue = v;
    }
    return v;
  }
}
