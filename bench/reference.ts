/**
 * The oracle: an independent, deliberately plain computation of the bans the default `forbidden`
 * rule must produce for an Apache combined log. It shares no code with src/parse, src/detect or
 * src/decide (one regex per line, arrays of times per address), so a bug there cannot hide here.
 *
 * The rule, as specified for `banhammer replay`:
 * - a line counts when it is a well-formed access line (address, `[dd/Mon/yyyy:HH:MM:SS ±hhmm]`,
 *   quoted request line in which `\"` is an escaped quote, then a three-digit status) with status
 *   403; the address is the first field, canonicalised (IPv4-mapped IPv6 becomes IPv4, IPv6 is written
 *   lower-case and compressed per RFC 5952); hostnames, invalid addresses or dates, lines longer than
 *   16 KiB, and anything in the referer or User-Agent never count;
 * - loopback (127.0.0.0/8, ::1) is never banned and accumulates nothing;
 * - an address is banned by its 5th counted 403 within 60 s of log time: the window ending at time t
 *   holds the failures with time in (t − 60 s, t]; the ban starts at t with `failures` = the window's
 *   count, and the address's window then starts empty;
 * - a ban lasts 1 h of log time: while t < at + 1 h the address's 403s do not count at all (they are
 *   not new bans and do not fill its window); from at + 1 h on it can be banned again.
 */
import { createReadStream } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';

export const REFERENCE_RULE = Object.freeze({
  name: 'forbidden',
  status: 403,
  maxretry: 5,
  findtime: 60_000,
  bantime: 3_600_000,
});


export interface ReferenceBan {
  readonly ip: string;
  readonly rule: string;
  /** Log time of the line that crossed the threshold, ms since the epoch. */
  readonly at: number;
  readonly failures: number;
}

export interface ReferenceResult {
  readonly lines: number;
  /** Well-formed access lines. */
  readonly parsed: number;
  /** Well-formed lines with status 403 (loopback included). */
  readonly matches: number;
  /** In log order. */
  readonly bans: readonly ReferenceBan[];
}

const LINE_RE = /^(\S+) \S+ \S+ \[([^\]]*)\] "(?:[^"\\]|\\.)*" (\d{3})(?: |$)/;
const TIME_RE = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `10/Oct/2026:13:55:36 -0700` → ms since the epoch, or null. */
export function parseLogTime(s: string): number | null {
  const m = TIME_RE.exec(s);
  if (m === null) return null;
  const [, dd, mon, yyyy, hh, mi, ss, sign, zh, zm] = m as unknown as string[];
  const month = MONTHS.indexOf(mon!);
  const day = Number(dd);
  const year = Number(yyyy);
  if (month < 0 || Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 59 || Number(zh) > 14 || Number(zm) > 59) return null;
  const local = Date.UTC(year, month, day, Number(hh), Number(mi), Number(ss));
  const check = new Date(local);
  if (day < 1 || check.getUTCDate() !== day || check.getUTCMonth() !== month) return null;
  const offset = (Number(zh) * 60 + Number(zm)) * 60_000;
  return sign === '+' ? local - offset : local + offset;
}

/** Canonical form of an address (see the module doc), or null when `raw` is not one. */
export function canonicalAddress(raw: string): string | null {
  if (isIPv4(raw)) return raw;
  if (!isIPv6(raw) || raw.includes('%')) return null;
  const groups = ipv6Groups(raw);
  if (groups === null) return null;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) {
    const [hi, lo] = [groups[6]!, groups[7]!];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The eight 16-bit groups of a valid IPv6 address (which may end in a dotted IPv4 part). */
function ipv6Groups(raw: string): number[] | null {
  let s = raw.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const b = dotted.slice(1).map(Number);
    s = `${s.slice(0, dotted.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length > 1 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const fill = halves.length > 1 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (all.length !== 8) return null;
  return all.map((h) => parseInt(h, 16));
}

export function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/** Feeds lines one by one, in log order; result() gives the expected bans. */
export class ReferenceForbidden {
  private lines = 0;
  private parsed = 0;
  private matches = 0;
  private readonly bans: ReferenceBan[] = [];
  /** Failure times inside the current window, per address, oldest first. */
  private readonly windows = new Map<string, number[]>();
  private readonly bannedUntil = new Map<string, number>();

  feed(line: string): void {
    this.lines++;
    // No length limit: length never decides whether a failure counts (the parse contract).
    const m = LINE_RE.exec(line);
    if (m === null) return;
    const ip = canonicalAddress(m[1]!);
    const t = parseLogTime(m[2]!);
    if (ip === null || t === null) return;
    this.parsed++;
    if (Number(m[3]) !== REFERENCE_RULE.status) return;
    this.matches++;
    if (isLoopback(ip)) return;
    const until = this.bannedUntil.get(ip);
    if (until !== undefined && t < until) return;

    const kept = (this.windows.get(ip) ?? []).filter((x) => x > t - REFERENCE_RULE.findtime);
    kept.push(t);
    if (kept.length >= REFERENCE_RULE.maxretry) {
      this.bans.push({ ip, rule: REFERENCE_RULE.name, at: t, failures: kept.length });
      this.bannedUntil.set(ip, t + REFERENCE_RULE.bantime);
      this.windows.delete(ip);
    } else {
      this.windows.set(ip, kept);
    }
  }

  result(): ReferenceResult {
    return { lines: this.lines, parsed: this.parsed, matches: this.matches, bans: [...this.bans] };
  }
}

export function referenceFromText(text: string): ReferenceResult {
  const ref = new ReferenceForbidden();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const l of lines) ref.feed(l.endsWith('\r') ? l.slice(0, -1) : l);
  return ref.result();
}

export async function referenceFromFile(path: string): Promise<ReferenceResult> {
  const ref = new ReferenceForbidden();
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  for await (const line of rl) ref.feed(line);
  return ref.result();
}
