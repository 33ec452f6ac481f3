/**
 * The shared prefilter: one cheap test per event, before any per-rule work, that rejects the events no
 * enabled rule can match, and per rule a cheaper necessary condition than its full match.
 *
 * Each rule's match implies some status codes (its own `status`, or every branch of an any_of having
 * one): the union over the rules is one table lookup per event. An event whose status no rule can
 * count goes no further, which with the default rules (403 only) is nearly every line. Then each rule
 * has a literal gate (class Prefilter below).
 */
import type { AccessEvent } from '../parse/access-event.js';
import { MatchView, type CompiledRule, type RuleMatch } from './rule.js';
import { literalScore, requiredLiteralsOfList } from './literals.js';
import { LiteralScanner } from './literal-scanner.js';
import { MAX_PATH_TESTED } from './path-pattern.js';
import { TextMemo } from './text-memo.js';

/** The statuses without which `m` cannot hold, or null when any status may. */
export function necessaryStatus(m: RuleMatch): ReadonlySet<number> | null {
  if (m.status !== null) return new Set(m.status);
  for (const sub of m.allOf ?? []) {
    const s = necessaryStatus(sub);
    if (s !== null) return s;
  }
  if (m.anyOf !== undefined && m.anyOf.length > 0) {
    const union = new Set<number>();
    for (const sub of m.anyOf) {
      const s = necessaryStatus(sub);
      if (s === null) return null;
      for (const x of s) union.add(x);
    }
    return union;
  }
  return null;
}

/** Fields the literal gates look at. */
const FIELDS = ['target', 'userAgent', 'referer', 'request'] as const;
/** The bits of the User-Agent and the referer. */
const HEADER_FIELDS = 0b0110;
type Field = (typeof FIELDS)[number];

/** At least one of these literals occurs in its field (a necessary condition of a match). */
export type Gate = { readonly [F in Field]?: readonly string[] };

const gateSize = (g: Gate): number => FIELDS.reduce((n, f) => n + (g[f]?.length ?? 0), 0);
const gateMin = (g: Gate): number => Math.min(...FIELDS.flatMap((f) => (g[f] ?? []).map(literalScore)));

function betterGate(a: Gate | null, b: Gate | null): Gate | null {
  if (a === null) return b;
  if (b === null) return a;
  const ma = gateMin(a);
  const mb = gateMin(b);
  if (ma !== mb) return ma > mb ? a : b;
  return gateSize(a) <= gateSize(b) ? a : b;
}

/** The literal gate of a match (every stated field must hold, so any one field's literals will do). */
export function gateOf(m: RuleMatch): Gate | null {
  let best: Gate | null = null;
  const field = (f: Field, patterns: readonly string[] | undefined): void => {
    if (patterns === undefined || patterns.length === 0) return;
    const lits = requiredLiteralsOfList(patterns);
    if (lits !== null) best = betterGate(best, { [f]: lits });
  };
  field('target', m.paths);
  field('target', m.queries);
  // Query patterns that cannot match an empty query need one: the target holds a `?`.
  if (m.queries !== undefined && m.queries.length > 0 && best === null && !m.queries.some(matchesEmpty)) best = { target: ['?'] };
  field('userAgent', m.userAgents);
  field('referer', m.referers);
  field('request', m.requests);
  for (const sub of m.allOf ?? []) best = betterGate(best, gateOf(sub));
  if (m.anyOf !== undefined && m.anyOf.length > 0) {
    const union: Record<Field, Set<string>> = { target: new Set(), userAgent: new Set(), referer: new Set(), request: new Set() };
    let ok = true;
    for (const sub of m.anyOf) {
      const g = gateOf(sub);
      if (g === null) {
        ok = false;
        break;
      }
      for (const f of FIELDS) for (const l of g[f] ?? []) union[f].add(l);
    }
    if (ok) {
      const g: Record<string, string[]> = {};
      for (const f of FIELDS) if (union[f].size > 0) g[f] = [...union[f]];
      best = betterGate(best, g);
    }
  }
  return best;
}

/** Whether `p` matches the empty string (it was validated: V8's engine on '' is instant). */
function matchesEmpty(p: string): boolean {
  try {
    return new RegExp(p, 'i').test('');
  } catch {
    return true;
  }
}


/**
 * The shared prefilter. Per event, pass() looks up the status in the union of the statuses the rules
 * can count (one table lookup rejects most lines when the enabled rules all want some status); then
 * per rule, mayMatch() checks that rule's statuses and its literal gate: the necessary literals of its
 * patterns (literals.ts), found for all rules at once by one scan per field (literal-scanner.ts), done
 * lazily the first time a rule needs that field. A target the raw scan cannot judge (`%`, `//`, `;`,
 * `\x5c`, a dot segment or fragment that a spelling resolves, a character ≥ 128) is judged by
 * scanning each distinct spelling the rules test it in (LiteralScanner.scanSpelling); a header field
 * the scan cannot judge (a character ≥ 128) passes every gate on it.
 */
/** The methods without which `m` cannot hold (upper-case), or null when any method may. */
export function necessaryMethods(m: RuleMatch): ReadonlySet<string> | null {
  if (m.methods.length > 0) return new Set(m.methods.map((x) => x.toUpperCase()));
  for (const sub of m.allOf ?? []) {
    const s = necessaryMethods(sub);
    if (s !== null) return s;
  }
  if (m.anyOf !== undefined && m.anyOf.length > 0) {
    const union = new Set<string>();
    for (const sub of m.anyOf) {
      const s = necessaryMethods(sub);
      if (s === null) return null;
      for (const x of s) union.add(x);
    }
    return union;
  }
  return null;
}

const EMPTY_IDS = new Int32Array(0);

/** Characters the fold leaves alone and that ordinary text rarely holds, rarest first. */
const SENTINEL_ORDER = '{}$`|<>[]^~\'"!*@#;(),:=&%.-_0123456789';
const MAX_SENTINELS = 3;

/** A few characters at least one of which each literal holds (see Prefilter.sentinels), or null. */
export function sentinelsOf(literals: readonly string[]): string[] | null {
  if (literals.length === 0) return null;
  const chosen = new Set<string>();
  for (const l of literals) {
    if ([...chosen].some((c) => l.includes(c))) continue;
    const c = [...SENTINEL_ORDER].find((x) => l.includes(x));
    if (c === undefined) return null;
    chosen.add(c);
    if (chosen.size > MAX_SENTINELS) return null;
  }
  return [...chosen];
}

function holdsAny(text: string, chars: readonly string[]): boolean {
  for (let i = 0; i < chars.length; i++) if (text.indexOf(chars[i]!, 0) >= 0) return true;
  return false;
}

export class Prefilter {
  /** Statuses some rule may count (1), or null when some rule counts any status. */
  private readonly any: Uint8Array | null;
  /** Per rule: its statuses, or null for any. */
  private readonly statuses: (Uint8Array | null)[];
  /** Per status: the rules that may count it; for a status outside 0–999, those that count any. */
  private readonly byStatus: Int32Array[];
  private readonly anyStatus: Int32Array;
  /** Per rule: its methods, or null for any. */
  private readonly methods: (ReadonlySet<string> | null)[];
  /**
   * Per field: found literal ids by value (null: the text cannot be judged). Every field's values
   * repeat in real logs (a page's assets, a browser's User-Agent), and a lookup is native.
   */
  private readonly caches: TextMemo<Int32Array | null>[] = FIELDS.map(() => new TextMemo(4096));
  /** Per rule: its gate's literal ids, and which fields they are in (bit per FIELDS index); null = no gate. */
  private readonly gateIds: (Int32Array | null)[];
  private readonly gateFields: number[];
  private readonly scanners: (LiteralScanner | null)[];
  /**
   * Per field: a few characters at least one of which every literal of the field holds (`{` for
   * `${jndi:` and `() {`), or null. A text holding none of them holds no literal: one native indexOf
   * per character instead of a scan (the common case for headers, which every line carries).
   */
  private readonly sentinels: (string[] | null)[];
  private readonly headerSentinels: string[] | null;
  private readonly seen: Int32Array;
  private readonly rulesOf: Int32Array[];
  /** Per rule: the generation of the last event in which one of its gate's literals was found. */
  private readonly ruleSeen: Int32Array;
  private gen = 0;
  private ev: AccessEvent | null = null;
  /** The event's view, when the caller has one (its header texts are read once and shared). */
  private view: MatchView | null = null;
  /** Bits: field scanned for this event / field cannot be judged for this event. */
  private scanned = 0;
  private uncertain = 0;

  constructor(rules: readonly CompiledRule[]) {
    this.statuses = rules.map((r) => {
      const s = necessaryStatus(r.settings.match);
      if (s === null) return null;
      const t = new Uint8Array(1000);
      for (const x of s) if (x >= 0 && x < 1000) t[x] = 1;
      return t;
    });
    this.methods = rules.map((r) => necessaryMethods(r.settings.match));
    // Per status, the rules that may count it; equal lists are one shared array.
    const lists = new Map<string, Int32Array>();
    const listOf = (status: number): Int32Array => {
      const ids: number[] = [];
      for (let i = 0; i < rules.length; i++) if (this.statuses[i] === null || (status >= 0 && this.statuses[i]![status] === 1)) ids.push(i);
      const k = ids.join(',');
      let l = lists.get(k);
      if (l === undefined) lists.set(k, (l = Int32Array.from(ids)));
      return l;
    };
    this.anyStatus = listOf(-1);
    this.byStatus = Array.from({ length: 1000 }, (_, status) => listOf(status));
    if (rules.length === 0) {
      this.any = new Uint8Array(1000);
    } else if (this.statuses.some((t) => t === null)) {
      this.any = null;
    } else {
      const u = new Uint8Array(1000);
      for (const t of this.statuses) for (let i = 0; i < 1000; i++) u[i] = u[i]! | t![i]!;
      this.any = u;
    }
    // Literal ids: one per (field, literal), shared by the rules that need it.
    const ids = FIELDS.map(() => new Map<string, number>());
    let next = 0;
    this.gateFields = [];
    this.gateIds = rules.map((r) => {
      const g = gateOf(r.settings.match);
      if (g === null) {
        this.gateFields.push(0);
        return null;
      }
      const mine: number[] = [];
      let fields = 0;
      FIELDS.forEach((f, fi) => {
        for (const l of g[f] ?? []) {
          let id = ids[fi]!.get(l);
          if (id === undefined) ids[fi]!.set(l, (id = next++));
          mine.push(id);
          fields |= 1 << fi;
        }
      });
      this.gateFields.push(fields);
      return Int32Array.from(mine);
    });
    this.scanners = ids.map((m) => (m.size === 0 ? null : new LiteralScanner([...m.keys()], [...m.values()])));
    // Not for the target: the rules also test it percent-decoded (%7B is a `{`).
    this.sentinels = ids.map((m, fi) => (fi === 0 ? null : sentinelsOf([...m.keys()])));
    // The User-Agent's and referer's together (both or none: they are found in one search).
    const headerLiterals = [...ids[1]!.keys(), ...ids[2]!.keys()];
    this.headerSentinels = headerLiterals.length === 0 ? null : sentinelsOf(headerLiterals);
    this.seen = new Int32Array(next);
    // Per literal id, the rules whose gate it opens: a found literal marks its rules at once, so a
    // gate costs one read per event, not one per literal (exploit-probes has dozens).
    const owners: number[][] = Array.from({ length: next }, () => []);
    this.gateIds.forEach((g, r) => g?.forEach((id) => owners[id]!.push(r)));
    this.rulesOf = owners.map((o) => Int32Array.from(new Set(o)));
    this.ruleSeen = new Int32Array(rules.length);
  }

  /** Marks literal `id` found for this event, and the rules its finding lets through. */
  private found(id: number): void {
    this.seen[id] = this.gen;
    const rules = this.rulesOf[id]!;
    for (let k = 0; k < rules.length; k++) this.ruleSeen[rules[k]!] = this.gen;
  }

  /**
   * The rules that may count an event of this status, in rule order (per status, built once): a
   * 200 line is never offered to the 4xx rules at all.
   */
  candidates(status: number): Int32Array {
    return (status >= 0 && status < 1000 ? this.byStatus[status] : undefined) ?? this.anyStatus;
  }

  /** 0 when no rule can match `ev`; otherwise a token for mayMatch (the same event). */
  pass(ev: AccessEvent, view?: MatchView): number {
    if (this.any !== null && this.any[ev.status] !== 1) return 0;
    this.ev = ev;
    this.view = view ?? null;
    this.scanned = 0;
    this.uncertain = 0;
    if (++this.gen === 0x7fffffff) {
      this.gen = 1;
      this.seen.fill(0);
      this.ruleSeen.fill(0);
    }
    return this.gen;
  }

  /** Can rule `i` match the event last passed? (A necessary condition: the full match decides.) */
  mayMatch(i: number, _pass: number): boolean {
    const t = this.statuses[i]!;
    if (t !== null && t[this.ev!.status] !== 1) return false;
    const m = this.methods[i]!;
    if (m !== null && !m.has(this.ev!.method)) return false;
    const ids = this.gateIds[i]!;
    if (ids === null) return true;
    const fields = this.gateFields[i]!;
    if ((fields & ~this.scanned) !== 0) this.scan(fields & ~this.scanned);
    if ((fields & this.uncertain) !== 0) return true;
    return this.ruleSeen[i] === this.gen;
  }

  private scan(fields: number): void {
    const ev = this.ev as AccessEvent & { readonly request?: string; readonly referer?: string; readonly userAgent?: string };
    const v = this.view;
    // Headers whose literals all hold a rare character (`{` for `${jndi:` and `() {`): when the
    // event can tell that no header holds one, neither is read at all (most lines).
    const headers = fields & HEADER_FIELDS;
    if (headers !== 0 && this.headerSentinels !== null && ev.headersMayHold !== undefined && !ev.headersMayHold(this.headerSentinels, MAX_PATH_TESTED)) {
      this.scanned |= headers;
      fields &= ~HEADER_FIELDS;
    }
    for (let fi = 0; fi < FIELDS.length; fi++) {
      if ((fields & (1 << fi)) === 0) continue;
      this.scanned |= 1 << fi;
      const scanner = this.scanners[fi];
      if (scanner === null || scanner === undefined) continue;
      const text =
        v !== null
          ? fi === 0 ? v.wholeTarget() : fi === 1 ? v.userAgent() : fi === 2 ? v.referer() : v.request()
          : fi === 0 ? ev.path : fi === 1 ? ev.userAgent : fi === 2 ? ev.referer : ev.request;
      if (text === undefined) continue;
      // A header or request line longer than the rules read: its unread rest may hold anything, and
      // the rules' tests count it as if it matched (rule.ts compileMatch).
      if (fi !== 0 && text.length > MAX_PATH_TESTED) {
        this.uncertain |= 1 << fi;
        continue;
      }
      const sentinels = this.sentinels[fi];
      if (sentinels !== null && sentinels !== undefined && !holdsAny(text, sentinels)) continue;
      // The target's and the request line's answers are kept with their other facts (rule.ts), the
      // headers' here.
      const facts = v === null ? null : fi === 0 ? v.targetFacts() : fi === 3 ? v.requestFacts() : null;
      const cache = facts === null ? this.caches[fi]! : null;
      const hit = facts !== null ? (facts.scannedBy === this ? facts.found : undefined) : cache!.get(text);
      if (hit === undefined) {
        // A `/./` or `/../` in the target: the rules also test its path with them resolved (rule.ts
        // withoutDotSegments), which joins text around them that no literal spanned (`/php/./x.php`).
        let uncertain =
          fi === 0
            ? scanner.scanTarget(text, MAX_PATH_TESTED, this.seen, this.gen) || joinsOnResolving(text)
            : scanner.scan(text, MAX_PATH_TESTED, this.seen, this.gen);
        // So is a target longer than the rules read (MatchView reads its first MAX_PATH_TESTED characters).
        if (fi === 0 && ev.path.length > MAX_PATH_TESTED) uncertain = true;
        // A target the raw scan cannot judge (`%`, `//`, `;`, `\x5c`, a dot segment, a character
        // ≥ 128): every spelling the rules test it in is scanned instead (rule.ts MatchView), which
        // judges it exactly. Before, such a target let every rule with a target gate through, so a
        // client's 8 KB `%2e/` target ran each of them over every spelling (0.3–3 ms a line with
        // every preset on, where an ordinary line costs ~2.5 µs).
        if (uncertain && fi === 0 && v !== null) {
          // Unless a list was cut at its budget (rule.ts SpellingBudget): a spelling not made may
          // hold any literal, and the rules' tests answer for it as if it matched (nothing to scan).
          uncertain = v.spellingsCut();
          if (!uncertain) {
            // What the raw scan found before it stopped stays in found[0 .. foundCount); the spellings add to it.
            const spellings = distinctSpellings(v.pathVariants(), v.queryVariants(), v.targetVariants());
            for (let k = 0; k < spellings.length; k++) scanner.scanSpelling(spellings[k]!, this.seen, this.gen);
          }
        }
        if (uncertain) this.uncertain |= 1 << fi;
        const n = scanner.foundCount;
        for (let k = 0; k < n; k++) this.found(scanner.found[k]!);
        const ids = uncertain ? null : n === 0 ? EMPTY_IDS : scanner.found.slice(0, n);
        if (facts !== null) {
          facts.found = ids;
          facts.scannedBy = this;
        }
        else cache!.set(text, ids);
      } else if (hit === null) {
        this.uncertain |= 1 << fi;
      } else {
        for (let k = 0; k < hit.length; k++) this.found(hit[k]!);
      }
    }
  }
}

/**
 * The spellings of the three lists, each once: the path is the whole target when there is no query,
 * and the lists share their unchanged forms, so a hostile target's 8 KB raw form was scanned twice.
 */
function distinctSpellings(...lists: (readonly string[])[]): string[] {
  const out: string[] = [];
  for (const list of lists) for (const s of list) if (!out.includes(s)) out.push(s);
  return out;
}

/**
 * Whether a spelling of `target` the rules test may join text the raw target holds apart: resolving
 * a `.` or `..` segment with more path or the query after it (`\` read as `/`: `/php/./x.php`, and
 * `/x/..?author=1`, which the whole-target spelling reads as `/?author=1`), or dropping a raw
 * `#fragment` of the path when a query follows (`/wp-login.php#x?action=register` is read as
 * `/wp-login.php?action=register`: rule.ts targetVariants). A trailing dot segment, or a fragment
 * with no query after it, only cuts text off.
 */
function joinsOnResolving(target: string): boolean {
  const t = target.length > MAX_PATH_TESTED ? target.slice(0, MAX_PATH_TESTED) : target;
  const hash = t.indexOf('#');
  if (hash >= 0 && t.indexOf('?') > hash) return true;
  return t.includes('.') && INNER_DOT_SEGMENT.test(t);
}

const INNER_DOT_SEGMENT = /[/\\]\.\.?[/\\?]/;

/**
 * Whether a rule can be kept from any lines at all by the prefilter (a status, a method or a literal
 * it needs). A rule that cannot (request-flood, crawl-non-static) counts on every line.
 */
export function isFiltered(m: RuleMatch): boolean {
  return necessaryStatus(m) !== null || necessaryMethods(m) !== null || gateOf(m) !== null;
}
