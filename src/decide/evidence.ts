/**
 * Evidence: the log lines that made a ban, kept with it (issue 14), as fail2ban's mail actions send
 * the matching lines of a ban and `cscli alerts inspect` shows an alert's events.
 *
 * Contract:
 * - EvidenceLine is what a Ban carries (Ban.evidence) and what `banhammer why`, replay --explain,
 *   notifications and the state file show: the raw line as written (wrappers included), the file it
 *   was read from, and its time (ms; the time the detector counted it). A line is at most
 *   MAX_EVIDENCE_LINE_CHARS characters plus a marker saying how much was cut, and never holds a
 *   control character (C0, DEL, C1 are written as \xHH), so it is safe on a terminal, in a mail body
 *   and in a JSON payload. Its text is a copy: it never pins the chunk the line was read from.
 * - A ban keeps at most linesPerBan(maxretry) lines: the failures counted for it (maxretry, at most
 *   MAX_EVIDENCE_LINES), plus EXTRA_EVIDENCE_LINES for rules whose count needs more failures than
 *   maxretry (distinct paths); the newest win and the ban says how many were left out.
 * - EvidenceKeeper holds the lines of addresses that have failed but not (yet) offended: one small
 *   ring per (rule, address, scope), in least-recently-used order, with one byte budget over all of
 *   them. A flood of any number of addresses with lines of any length costs at most that budget:
 *   the least recently failing addresses lose their lines first (a ban made later without its lines
 *   says so through evidenceOmitted). Pure: times are arguments.
 */

export interface EvidenceLine {
  /** The log line as written, cut to MAX_EVIDENCE_LINE_CHARS (with a marker), control characters escaped. */
  readonly line: string;
  /** The log file it was read from (absent: stdin, or not known). */
  readonly file?: string;
  /** When it happened (ms since the epoch): the line's time as the detector counted it. */
  readonly at: number;
}

/** Longest line text kept; a longer line is cut here and marked `… [N more chars]`. */
export const MAX_EVIDENCE_LINE_CHARS = 1000;
/** Most lines a ban keeps, whatever maxretry says (plus EXTRA_EVIDENCE_LINES). */
export const MAX_EVIDENCE_LINES = 20;
/** Lines kept beyond maxretry: a rule counting distinct paths needs more failures than maxretry. */
export const EXTRA_EVIDENCE_LINES = 3;
/** Longest file name kept with a line. */
export const MAX_EVIDENCE_FILE_CHARS = 4096;
/** Default byte budget of the lines of addresses that have not offended yet. */
export const DEFAULT_PENDING_EVIDENCE_BYTES = 8 << 20;
/** Bookkeeping per kept line (the line object, string headers, the array slot), counted into budgets; measured with V8 heap snapshots of a flood. */
export const EVIDENCE_LINE_OVERHEAD = 128;
/** Bookkeeping per ring (map entry, key string, ring object, its array). */
const RING_OVERHEAD = 320;

/** How many lines a ban under a rule with this maxretry keeps. */
export function linesPerBan(maxretry: number): number {
  const n = Number.isFinite(maxretry) && maxretry >= 1 ? Math.floor(maxretry) : 1;
  return Math.min(n, MAX_EVIDENCE_LINES) + EXTRA_EVIDENCE_LINES;
}

// Control characters, and the Unicode ones that reorder or break what a terminal shows (bidi
// overrides and isolates, marks, line and paragraph separators): a log line is attacker-written.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const CONTROL_ALL_RE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const hex = (c: string): string => {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
};

/**
 * `s` cut to at most `max` UTF-16 units, never between the two halves of a surrogate pair: a lone
 * half (an emoji cut in two, from a line nginx wrote as UTF-8) is not valid Unicode, and strict JSON
 * readers (a webhook receiver, `why --json` consumers) refuse the document that carries it.
 */
function cutPair(s: string, max: number): string {
  if (s.length <= max) return s;
  const c = s.charCodeAt(max - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? max - 1 : max);
}

/**
 * `s` with its control characters escaped, cut to at most `max` characters of the result: an escape
 * is 4 or 6 characters for 1, so a line under the limit as written can be over it once escaped. The
 * cut is made between two characters of `s` (never inside an escape, never between the halves of a
 * surrogate pair), and returns how many characters of `s` are shown, so the marker counts the rest:
 * a line whose client padded it with control characters must not end as if it were complete.
 */
function escapeWithin(s: string, max: number): [string, number] {
  const out: string[] = [];
  let len = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    const pair = c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
    const piece = pair === 2 ? s.slice(i, i + 2) : CONTROL_RE.test(s[i]!) ? hex(s[i]!) : s[i]!;
    if (len + piece.length > max) break;
    out.push(piece);
    len += piece.length;
    i += pair;
  }
  return [out.join(''), i];
}

/**
 * A line as evidence keeps it: cut to `max` characters with a marker, control characters escaped,
 * and copied (a flat string that pins nothing). Never throws.
 */
export function evidenceText(raw: string, max: number = MAX_EVIDENCE_LINE_CHARS): string {
  const s = String(raw);
  let head = cutPair(s, max);
  let kept = head.length;
  if (CONTROL_RE.test(head)) [head, kept] = escapeWithin(head, max);
  const text = s.length > kept ? `${head}… [${s.length - kept} more chars]` : head;
  // Copy: a slice of a 64 KiB read chunk would keep the whole chunk alive as long as the ban.
  // Slicing a concatenation makes V8 flatten it into a new string that holds no reference to the chunk.
  return (text + ' ').slice(0, -1);
}

/** One evidence line from a raw log line. */
export function evidenceLine(raw: string, at: number, file?: string): EvidenceLine {
  return file === undefined ? { line: evidenceText(raw), at } : { line: evidenceText(raw), file: fileText(file), at };
}

/** Bytes a list of evidence lines is counted as against a budget. */
export function evidenceBytes(lines: readonly EvidenceLine[] | undefined): number {
  if (lines === undefined) return 0;
  let n = 0;
  for (const l of lines) n += l.line.length + EVIDENCE_LINE_OVERHEAD;
  return n;
}

/** File names repeat on every line: the same text is shared, and cut when absurdly long. */
const fileCache = new Map<string, string>();
function fileText(file: string): string {
  const hit = fileCache.get(file);
  if (hit !== undefined) return hit;
  const text = evidenceText(file, MAX_EVIDENCE_FILE_CHARS);
  if (fileCache.size >= 256) fileCache.clear();
  fileCache.set(file, text);
  return text;
}

const MAX_TIME = 8.64e15;

/**
 * Evidence read from a state file (hostile): a list of at most `maxLines` objects with a string
 * `line`, a finite `at` and an optional string `file`; anything else is dropped, texts are cut and
 * escaped again. undefined when nothing valid is left.
 */
export function restoreEvidence(raw: unknown, maxLines: number = MAX_EVIDENCE_LINES + EXTRA_EVIDENCE_LINES): EvidenceLine[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: EvidenceLine[] = [];
  // The newest lines are at the end: keep those when there are too many.
  for (const e of raw.slice(-maxLines)) {
    if (typeof e !== 'object' || e === null) continue;
    const { line, at, file } = e as Record<string, unknown>;
    if (typeof line !== 'string' || typeof at !== 'number' || !Number.isFinite(at) || Math.abs(at) > MAX_TIME) continue;
    // A restored line is cut at the limit plus the marker's room, so a saved marker is kept as it was.
    const text = evidenceText(line, MAX_EVIDENCE_LINE_CHARS + 32);
    out.push(typeof file === 'string' && file !== '' ? { line: text, file: fileText(file), at } : { line: text, at });
  }
  return out.length > 0 ? out : undefined;
}

/** The lines of one (rule, address, scope) that has failed but not offended yet; a node of the LRU list. */
interface Ring {
  readonly key: string;
  readonly rule: string;
  readonly ip: string;
  readonly scope: string | undefined;
  /** The rule's findtime when last recorded (pending() shows the lines inside it). */
  window: number;
  /** A circular buffer: `count` lines from `start`, oldest first (no shifting on the failure path). */
  readonly lines: (EvidenceLine | undefined)[];
  start: number;
  count: number;
  bytes: number;
  /** Less and more recently used neighbours (null at the ends). */
  older: Ring | null;
  newer: Ring | null;
}

/** What the keeper holds for one address under one rule (for `banhammer why`). */
export interface PendingEvidence {
  readonly rule: string;
  readonly scope?: string | undefined;
  readonly lines: readonly EvidenceLine[];
}

export class EvidenceKeeper {
  /** By `${rule} ${scopedKey}`. */
  private readonly rings = new Map<string, Ring>();
  /**
   * Least and most recently failing rings: a linked list, not the Map's insertion order (a Map
   * whose head is deleted over and over is scanned past its deleted slots on every eviction).
   */
  private oldest: Ring | null = null;
  private newest: Ring | null = null;
  private held = 0;
  /** Rings dropped to stay within the budget, since start. */
  evicted = 0;

  /** The last line recorded, as given and as kept (see record()). */
  private lastRaw = '';
  private lastFile: string | undefined = undefined;
  private lastLine: EvidenceLine | null = null;

  constructor(private maxBytes: number = DEFAULT_PENDING_EVIDENCE_BYTES) {}

  /** Bytes held now (never more than the budget once record() returns). */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.rings.size;
  }

  /** A new budget (reload); rings beyond it are dropped at once. */
  setBudget(maxBytes: number): void {
    this.maxBytes = maxBytes;
    this.trim();
  }

  /**
   * A counted failure of `ip` (in `scope`) under `rule`: keeps `raw` (cut, escaped, copied) in the
   * address's ring of `cap` lines (linesPerBan), dropping its oldest line beyond that, and marks the
   * ring as most recently used. `window`: the rule's findtime; take() and pending() hand over only
   * the lines inside it, and sweep() drops rings that fell out of it.
   *
   * A ring is the last `cap` lines recorded, whatever their times: so a rule that records only the
   * failures that can still be among a ban's last lines (pipeline.ts) keeps exactly what recording
   * every one would, late and out-of-order lines included.
   */
  record(rule: string, ip: string, scope: string | undefined, cap: number, raw: string, at: number, file: string | undefined, window: number): void {
    const key = ringKey(rule, ip, scope);
    let ring = this.rings.get(key);
    if (ring === undefined) {
      ring = { key, rule, ip, scope, window, lines: [], start: 0, count: 0, bytes: RING_OVERHEAD, older: null, newer: null };
      this.held += RING_OVERHEAD;
      this.rings.set(key, ring);
    } else {
      this.unlink(ring);
      ring.window = window;
    }
    this.append(ring);
    const size = Math.max(1, Math.floor(cap));
    // The oldest lines go beyond the ring's size (a smaller cap after a reload).
    while (ring.count > 0 && ring.count >= size) this.dropOldest(ring);
    if (ring.count === 0) ring.start = 0;
    // Rules that count every request (request-flood, crawl-non-static) record the same line several
    // times: it is cut, escaped and copied once, and the rings share the (immutable) result.
    let line = this.lastLine;
    if (line === null || raw !== this.lastRaw || at !== line.at || file !== this.lastFile) {
      line = evidenceLine(raw, at, file);
      this.lastRaw = raw;
      this.lastFile = file;
      this.lastLine = line;
    }
    if (ring.count < ring.lines.length) {
      ring.lines[(ring.start + ring.count) % ring.lines.length] = line;
    } else {
      // Full but smaller than its size: grow it, oldest first from slot 0.
      if (ring.start !== 0) {
        const ordered = linesOf(ring);
        ring.lines.length = 0;
        ring.lines.push(...ordered);
        ring.start = 0;
      }
      ring.lines.push(line);
    }
    ring.count++;
    this.add(ring, line.line.length + EVIDENCE_LINE_OVERHEAD);
    this.trim();
  }

  /**
   * The lines of (rule, ip, scope) since `since` (exclusive), oldest first, and forgets them: the
   * detector has just emptied that window. [] when nothing was kept.
   */
  take(rule: string, ip: string, scope: string | undefined, since: number): EvidenceLine[] {
    const key = ringKey(rule, ip, scope);
    const ring = this.rings.get(key);
    if (ring === undefined) return [];
    this.drop(key, ring);
    return linesOf(ring).filter((l) => l.at > since);
  }

  /** Forgets an address's lines in one scope under the given rules (an unban forgets its failures). */
  forget(ip: string, scope: string | undefined, rules: Iterable<string>): void {
    for (const rule of rules) {
      const key = ringKey(rule, ip, scope);
      const ring = this.rings.get(key);
      if (ring !== undefined) this.drop(key, ring);
    }
  }

  /** Forgets every line kept under the given rules (a reload restarted their windows). */
  forgetRules(rules: ReadonlySet<string>): void {
    if (rules.size === 0) return;
    for (const [key, ring] of this.rings) if (rules.has(ring.rule)) this.drop(key, ring);
  }

  /**
   * Drops the rings whose newest line is older than their rule's window as of `now` (a window the
   * detector has let go of): `windowOf(rule)` is the rule's findtime, undefined for a rule that no
   * longer runs (its rings go).
   */
  sweep(now: number, windowOf: (rule: string) => number | undefined): void {
    for (const [key, ring] of this.rings) {
      const w = windowOf(ring.rule);
      const newest = ring.count === 0 ? undefined : ring.lines[(ring.start + ring.count - 1) % ring.lines.length];
      if (w === undefined || newest === undefined || newest.at <= now - w) this.drop(key, ring);
    }
  }

  /** What is held for `ip` (every rule and scope), for `banhammer why`. */
  pending(ip: string): PendingEvidence[] {
    const out: PendingEvidence[] = [];
    for (const ring of this.rings.values()) {
      if (ring.ip !== ip || ring.count === 0) continue;
      // The lines inside the window of the newest one (older ones wait to be pushed out or swept).
      const newest = ring.lines[(ring.start + ring.count - 1) % ring.lines.length]!.at;
      const lines = linesOf(ring).filter((l) => l.at > newest - ring.window);
      out.push({ rule: ring.rule, ...(ring.scope !== undefined ? { scope: ring.scope } : {}), lines });
    }
    return out;
  }

  private dropOldest(ring: Ring): void {
    const old = ring.lines[ring.start]!;
    ring.lines[ring.start] = undefined;
    ring.start = (ring.start + 1) % ring.lines.length;
    ring.count--;
    this.add(ring, -(old.line.length + EVIDENCE_LINE_OVERHEAD));
  }

  private add(ring: Ring, n: number): void {
    ring.bytes += n;
    this.held += n;
  }

  private drop(key: string, ring: Ring): void {
    this.rings.delete(key);
    this.unlink(ring);
    this.held -= ring.bytes;
  }

  private trim(): void {
    while (this.held > this.maxBytes && this.oldest !== null) {
      this.drop(this.oldest.key, this.oldest);
      this.evicted++;
    }
  }

  private unlink(r: Ring): void {
    if (r.older !== null) r.older.newer = r.newer;
    else if (this.oldest === r) this.oldest = r.newer;
    if (r.newer !== null) r.newer.older = r.older;
    else if (this.newest === r) this.newest = r.older;
    r.older = null;
    r.newer = null;
  }

  private append(r: Ring): void {
    r.older = this.newest;
    r.newer = null;
    if (this.newest !== null) this.newest.newer = r;
    else this.oldest = r;
    this.newest = r;
  }
}

/** A ring's lines, oldest first (a copy). */
function linesOf(ring: Ring): EvidenceLine[] {
  const out: EvidenceLine[] = [];
  for (let i = 0; i < ring.count; i++) out.push(ring.lines[(ring.start + i) % ring.lines.length]!);
  return out;
}

const ringKey = (rule: string, ip: string, scope: string | undefined): string => (scope === undefined ? `${rule} ${ip}` : `${rule} ${ip} ${scope}`);
