/**
 * A rule: which events count (match), how many within how long trigger a ban (maxretry, findtime),
 * and for how long (bantime, optionally growing for repeat offenders).
 *
 * RuleSettings is what config holds (durations already in ms); CompiledRule is the hot-path form.
 */
import type { AccessEvent } from '../parse/access-event.js';
import { compilePathPatterns, MAX_PATH_TESTED } from './path-pattern.js';
import { MAX_MEMO_TEXT, TextMemo } from './text-memo.js';
import { flatAscii } from '../parse/timestamp.js';
import { hashPath, PATH_HASH_SEED } from './distinct-window.js';

export interface RuleMatch {
  /** Status codes that count; null means any status. */
  readonly status: readonly number[] | null;
  /**
   * Regular expressions (JavaScript syntax, case-insensitive, linear time: path-pattern.ts) over the
   * path (the request target without its query), as written, percent-decoded once and twice, and with
   * `\` → `/` and `//` → `/`; any matching variant counts. A pattern that mentions `?` (`\?`, `[?…]`)
   * sees the whole target, query included, as every pattern did before queries had their own field.
   * Empty means any.
   */
  readonly paths: readonly string[];
  /** Request methods that count (upper-case); empty means any. */
  readonly methods: readonly string[];
  /** Like paths, over the query string (after `?`; `+` is also read as a space when decoding). */
  readonly queries?: readonly string[] | undefined;
  /** Over the User-Agent as written; a line without one never matches. */
  readonly userAgents?: readonly string[] | undefined;
  /** Over the referer as written; a line without one never matches. */
  readonly referers?: readonly string[] | undefined;
  /** Over the raw request line as written (junk, CONNECT, absolute URIs). */
  readonly requests?: readonly string[] | undefined;
  /** At least one of these holds. */
  readonly anyOf?: readonly RuleMatch[] | undefined;
  /** Every one of these holds. */
  readonly allOf?: readonly RuleMatch[] | undefined;
  /** None of these holds. */
  readonly noneOf?: readonly RuleMatch[] | undefined;
}

export interface BantimeIncrement {
  /** Each repeat ban lasts `factor` times the previous one… */
  readonly factor: number;
  /** …but never longer than this (ms). */
  readonly maxtime: number;
}

export interface RuleSettings {
  readonly enabled: boolean;
  readonly description: string;
  readonly match: RuleMatch;
  readonly maxretry: number;
  /** ms */
  readonly findtime: number;
  /** ms */
  readonly bantime: number;
  readonly increment: BantimeIncrement | null;
  /** What the window counts: matching requests (default), or the distinct paths an address requested. */
  readonly count?: 'failures' | 'distinct-paths' | undefined;
  /** Where the rule comes from or what it is about (rule files' `references`). */
  readonly references?: readonly string[] | undefined;
}

export interface CompiledRule {
  readonly name: string;
  readonly settings: RuleSettings;
  /** Does this event count against its address? (Prepares a view of the event: see matchesView.) */
  matches(ev: AccessEvent): boolean;
  /** Hot path: the same over a view prepared once per event and shared by every rule. */
  matchesView(view: MatchView): boolean;
}

/**
 * `checked`: the rule's patterns passed configuration's checks (every rule of a loaded Config has:
 * user rules at load, presets in the unit tier and the bundle), so its RE2-run patterns may compile
 * on first use (path-pattern.ts compilePathPatterns). Otherwise they are checked and compiled now.
 */
export function compileRule(name: string, settings: RuleSettings, checked = false): CompiledRule {
  const test = compileMatch(settings.match, checked);
  const own = new MatchView();
  return {
    name,
    settings,
    matches(ev) {
      own.reset(ev);
      return test(own);
    },
    matchesView: test,
  };
}

type Test = (v: MatchView) => boolean;

/** The request line and headers (parse/access-event.ts), undefined when the layout has none. */
type EventHeaders = AccessEvent & { readonly request?: string | undefined; readonly referer?: string | undefined; readonly userAgent?: string | undefined };

/** The test of a (complete) match: every stated field holds, cheapest first. */
/**
 * `exclusion`: the match is (inside) a `none_of`: its path tests see only the spellings the server
 * serves, never a written form it does not serve (`/wp-login.php#.css` must not be excluded as a
 * stylesheet: the server runs wp-login.php).
 */
export function compileMatch(m: RuleMatch, checked = false, exclusion = false): Test {
  const tests: Test[] = [];
  if (m.status !== null) {
    const table = new Uint8Array(1000);
    for (const s of m.status) if (s >= 0 && s < 1000) table[s] = 1;
    tests.push((v) => table[v.ev.status] === 1);
  }
  if (m.methods.length > 0) {
    const methods = new Set(m.methods.map((x) => x.toUpperCase()));
    tests.push((v) => methods.has(v.ev.method));
  }
  const requests = compilePathPatterns(m.requests ?? [], checked);
  // A field longer than the rules read (MAX_PATH_TESTED) counts as if its unread rest matched
  // (inside a none_of: as if it did not), so that padding cannot push a probe out of reach.
  const over = !exclusion;
  if (requests !== null) tests.push((v) => { const r = v.request(); return r !== undefined && r !== '' && (r.length > MAX_PATH_TESTED ? over || requests(cap(r)) : requests(r)); });
  if (m.paths.length > 0) {
    const pathOnly = compilePathPatterns(m.paths.filter((p) => !mentionsQuery(p)), checked);
    const whole = compilePathPatterns(m.paths.filter(mentionsQuery), checked);
    // A list of spellings cut at its budget (spellingBudget) answers as if its missing spellings
    // matched, before any pattern runs over it: the event counts, never escapes (inside a none_of,
    // that is "not excluded": the spellings made are tested as usual).
    const paths: Test = exclusion
      ? (v) => (pathOnly !== null && anyOf(v.servedPathVariants(), pathOnly)) || (whole !== null && anyOf(v.targetVariants(), whole))
      : (v) =>
          (pathOnly !== null && (v.pathSpellingsCut() || anyOf(v.pathVariants(), pathOnly))) ||
          (whole !== null && (v.targetSpellingsCut() || anyOf(v.targetVariants(), whole)));
    tests.push((v) => v.byTarget(paths));
  }
  const queries = compilePathPatterns(m.queries ?? [], checked);
  if (queries !== null) {
    const query: Test = exclusion ? (v) => anyOf(v.queryVariants(), queries) : (v) => v.querySpellingsCut() || anyOf(v.queryVariants(), queries);
    tests.push((v) => v.byTarget(query));
  }
  const agents = compilePathPatterns(m.userAgents ?? [], checked);
  if (agents !== null) tests.push((v) => { const ua = v.userAgent(); return ua !== undefined && (ua.length > MAX_PATH_TESTED ? over || agents(cap(ua)) : agents(ua)); });
  const referers = compilePathPatterns(m.referers ?? [], checked);
  if (referers !== null) tests.push((v) => { const r = v.referer(); return r !== undefined && (r.length > MAX_PATH_TESTED ? over || referers(cap(r)) : referers(r)); });
  for (const sub of m.allOf ?? []) tests.push(compileMatch(sub, checked, exclusion));
  if (m.anyOf !== undefined && m.anyOf.length > 0) {
    const subs = m.anyOf.map((sub) => compileMatch(sub, checked, exclusion));
    tests.push((v) => {
      for (let i = 0; i < subs.length; i++) if (subs[i]!(v)) return true;
      return false;
    });
  }
  if (m.noneOf !== undefined && m.noneOf.length > 0) {
    const subs = m.noneOf.map((sub) => compileMatch(sub, checked, !exclusion));
    tests.push((v) => {
      for (let i = 0; i < subs.length; i++) if (subs[i]!(v)) return false;
      return true;
    });
  }
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  if (tests.length === 2) {
    const [a, b] = tests as [Test, Test];
    return (v) => a(v) && b(v);
  }
  return (v) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(v)) return false;
    return true;
  };
}

const cap = (s: string): string => (s.length > MAX_PATH_TESTED ? s.slice(0, MAX_PATH_TESTED) : s);

function anyOf(variants: readonly string[], test: (s: string) => boolean): boolean {
  for (let i = 0; i < variants.length; i++) if (test(variants[i]!)) return true;
  return false;
}

/**
 * Does a `paths` pattern mention `?` as a character (`\?`, or `?` inside a class)? Such a pattern was
 * written when paths were tested over the whole target, query included, and still is (README "Rules").
 */
export function mentionsQuery(p: string): boolean {
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      if (p[i + 1] === '?') return true;
      i++;
    } else if (inClass) {
      if (c === '?') return true;
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    }
  }
  return false;
}

/**
 * What is worked out from a request target alone, kept per distinct target (MatchView keeps them): the
 * literals the prefilter found in it (prefilter.ts), its path's hash (distinct-paths rules) and the
 * answers of the rules' path and query tests. Requests repeat (a site's pages and assets), so most
 * lines find these in one native lookup instead of walking the target again per rule.
 */
export class TargetFacts {
  /** Literal ids the prefilter's target scan found; null: the target cannot be judged; undefined: not scanned yet. */
  found: Int32Array | null | undefined = undefined;
  /** The prefilter whose ids `found` holds (ids are its own: another prefilter scans again). */
  scannedBy: object | null = null;
  /** hashPath of the path (-1: not worked out yet; a hash is ≥ 0). */
  hash = -1;
  /** Answers of path and query tests, by test. */
  private answers: Map<Test, boolean> | null = null;

  answer(test: Test, v: MatchView): boolean {
    const answers = (this.answers ??= new Map());
    let a = answers.get(test);
    if (a === undefined) answers.set(test, (a = test(v)));
    return a;
  }
}

/**
 * What is worked out from a request line alone, kept per distinct request line: the literals the
 * prefilter's request-line scan found, and its target's facts (so that most lines find both in one
 * lookup). `target` is the target they are the facts of, compared on every use: an event whose
 * request line and target disagree is never answered for another's target.
 */
export class RequestFacts {
  /** Literal ids found in the request line; null: it cannot be judged; undefined: not scanned yet. */
  found: Int32Array | null | undefined = undefined;
  scannedBy: object | null = null;
  constructor(
    readonly target: string,
    readonly facts: TargetFacts,
  ) {}
}

/**
 * One event as the rules see it, prepared lazily and at most once per event whatever the number of
 * rules: the path (target without query) and the query, each as written, percent-decoded once and
 * twice, and with `\` → `/` and runs of `/` → `/`. The lists are reused from event to event.
 */
export class MatchView {
  ev: AccessEvent = EMPTY_EVENT;

  /** `pathSeed`: the seed of pathHash() (distinct-window.ts hashPath; a replay's threads share one). */
  constructor(private readonly pathSeed: number = PATH_HASH_SEED) {}

  /** Facts by target (bounded: text-memo.ts), and this event's. */
  private readonly facts = new TextMemo<TargetFacts>(4096);
  private eventFacts: TargetFacts | null = null;
  /** Facts by request line, and this event's (undefined: not looked up yet; null: no request line). */
  private readonly requests = new TextMemo<RequestFacts>(4096);
  private eventRequest: RequestFacts | null | undefined = undefined;
  private target = '';
  private queryAt = -1;
  private readonly paths: string[] = [];
  private readonly queries: string[] = [];
  private readonly targets: string[] = [];
  /** Whether each list of spellings was cut at its budget (spellingBudget): valid with its state bit. */
  private pathsCut = false;
  private queriesCut = false;
  private targetsCut = false;
  /** The target is longer than the rules read (MAX_PATH_TESTED): every list counts as cut. */
  private targetCapped = false;
  /** Bits: 1 path variants, 2 query variants, 4 target variants, 8 target, 16 request, 32 UA, 64 referer. */
  private state = 0;
  private requestText: string | undefined;
  private userAgentText: string | undefined;
  private refererText: string | undefined;

  /** A new event: nothing is computed until a rule asks (most events are rejected by status first). */
  reset(ev: AccessEvent): void {
    forgetRecentAnswers();
    this.ev = ev;
    this.state = 0;
    this.eventFacts = null;
    this.eventRequest = undefined;
  }

  /** What is known of this event's target (shared with every earlier event of the same target). */
  targetFacts(): TargetFacts {
    if (this.eventFacts !== null) return this.eventFacts;
    const r = this.requestFacts();
    return (this.eventFacts = r !== null ? r.facts : this.factsOf(this.wholeTarget()));
  }

  /** What is known of this event's request line, or null when it has none. */
  requestFacts(): RequestFacts | null {
    if (this.eventRequest !== undefined) return this.eventRequest;
    const line = this.request();
    if (line === undefined || line === '') return (this.eventRequest = null);
    const target = this.wholeTarget();
    let r = this.requests.get(line);
    if (r === undefined || r.target !== target) {
      const facts = this.factsOf(target);
      // Kept only with a flat copy of its target that is the same text (never a latin1 twin, which
      // would be answered for it; never a slice pinning the chunk it was cut from), and only as long
      // as the memo keeps its keys. Otherwise the facts are this event's alone.
      const flat = target.length <= MAX_MEMO_TEXT && line.length <= MAX_MEMO_TEXT ? flatAscii(target) : null;
      r = new RequestFacts(flat ?? target, facts);
      if (flat === target) this.requests.set(line, r);
    }
    return (this.eventRequest = r);
  }

  private factsOf(target: string): TargetFacts {
    let f = this.facts.get(target);
    if (f === undefined) this.facts.set(target, (f = new TargetFacts()));
    return f;
  }

  /** `test`'s answer for this event, when it depends on the target alone (path and query tests). */
  byTarget(test: Test): boolean {
    return this.targetFacts().answer(test, this);
  }

  /** The 32-bit hash of the path without its query or `;…` parameters (count: distinct-paths). */
  pathHash(): number {
    const f = this.targetFacts();
    if (f.hash < 0) {
      const end = this.pathEnd();
      const t = this.wholeTarget();
      // `;…` path parameters (a session id) do not make another path: the rules match without them too.
      const semi = t.indexOf(';');
      f.hash = semi < 0 || semi >= end ? hashPath(t, end, this.pathSeed) : hashPath(withoutParameters(t.slice(0, end)), undefined, this.pathSeed);
    }
    return f.hash;
  }

  private prepareTarget(): void {
    this.state |= 8;
    const t = this.ev.path;
    this.targetCapped = t.length > MAX_PATH_TESTED;
    this.target = this.targetCapped ? t.slice(0, MAX_PATH_TESTED) : t;
    this.queryAt = this.target.indexOf('?');
  }

  /** Whether the target is longer than the rules read (MAX_PATH_TESTED): wholeTarget() is its head. */
  capped(): boolean {
    if ((this.state & 8) === 0) this.prepareTarget();
    return this.targetCapped;
  }

  /** The request target as written (at most MAX_PATH_TESTED characters). */
  wholeTarget(): string {
    if ((this.state & 8) === 0) this.prepareTarget();
    return this.target;
  }

  /** The path without its query. */
  path(): string {
    if ((this.state & 8) === 0) this.prepareTarget();
    return this.queryAt < 0 ? this.target : this.target.slice(0, this.queryAt);
  }

  /** Where the path ends in wholeTarget() (path() is its first pathEnd() characters), with no slice. */
  pathEnd(): number {
    if ((this.state & 8) === 0) this.prepareTarget();
    return this.queryAt < 0 ? this.target.length : this.queryAt;
  }

  /** The query without its `?` ('' when none). */
  query(): string {
    if ((this.state & 8) === 0) this.prepareTarget();
    return this.queryAt < 0 ? '' : this.target.slice(this.queryAt + 1);
  }

  /** The raw request line, User-Agent and referer, read from the event once (its getters slice). */
  request(): string | undefined {
    if ((this.state & 16) === 0) {
      this.state |= 16;
      this.requestText = (this.ev as EventHeaders).request;
    }
    return this.requestText;
  }

  userAgent(): string | undefined {
    if ((this.state & 32) === 0) {
      this.state |= 32;
      this.userAgentText = (this.ev as EventHeaders).userAgent;
    }
    return this.userAgentText;
  }

  referer(): string | undefined {
    if ((this.state & 64) === 0) {
      this.state |= 64;
      this.refererText = (this.ev as EventHeaders).referer;
    }
    return this.refererText;
  }

  pathVariants(): readonly string[] {
    if ((this.state & 1) === 0) {
      this.state |= 1;
      const p = this.path();
      // The path the server serves, when the target is written otherwise (absolute form, a
      // fragment): its spellings, and the written form as it is (patterns that look for `${#`, say),
      // not every spelling of both (a one-character fragment doubled a hostile line's cost).
      const served = servedPath(p);
      const budget = spellingBudget(p.length);
      if (served === p) variantsOf(p, this.paths, false, budget, true);
      else {
        // The written form is kept last whatever the budget (servedPathVariants drops it).
        budget.left -= p.length;
        variantsOf(served, this.paths, false, budget, true);
        this.paths.push(p);
      }
      this.pathsCut = budget.cut;
    }
    return this.paths;
  }

  /**
   * Whether pathVariants() was cut at its budget (spellingBudget), or the target is longer than the
   * rules read (MAX_PATH_TESTED): some spelling of the path was not made, or some of it not read, so
   * its tests answer as if that had matched.
   */
  pathSpellingsCut(): boolean {
    // A target longer than the rules read is not spelled at all: it counts whatever its spellings.
    if (this.capped()) return true;
    this.pathVariants();
    return this.pathsCut;
  }

  /** Whether queryVariants() was cut at its budget. */
  querySpellingsCut(): boolean {
    // A target longer than the rules read is not spelled at all: it counts whatever its spellings.
    if (this.capped()) return true;
    this.queryVariants();
    return this.queriesCut;
  }

  /** Whether targetVariants() was cut at its budget. */
  targetSpellingsCut(): boolean {
    // A target longer than the rules read is not spelled at all: it counts whatever its spellings.
    if (this.capped()) return true;
    this.targetVariants();
    return this.targetsCut;
  }

  /** Whether any of the target's lists of spellings (path, query, whole target) was cut at its budget. */
  spellingsCut(): boolean {
    return this.pathSpellingsCut() || this.querySpellingsCut() || this.targetSpellingsCut();
  }

  /** The path's spellings the server serves (none_of exclusions): pathVariants() without a written form it does not serve. */
  servedPathVariants(): readonly string[] {
    const all = this.pathVariants();
    // The written form is last when it differs from the served one (pathVariants).
    return servedPath(this.path()) === this.path() ? all : all.slice(0, -1);
  }

  queryVariants(): readonly string[] {
    if ((this.state & 2) === 0) {
      this.state |= 2;
      const q = this.query();
      const budget = spellingBudget(q.length);
      variantsOf(q, this.queries, true, budget);
      // A raw `#` ends the query too (servers drop the fragment): `?rest_route=/wp/v2/users#x`.
      const hash = q.indexOf('#');
      if (hash >= 0) variantsOf(q.slice(0, hash), this.queries, true, budget, false, true);
      pushWithoutUrlWhitespace(this.queries, budget);
      this.queriesCut = budget.cut;
    }
    return this.queries;
  }

  /**
   * The whole target (path and query), for path patterns that mention `?`: as written, and with the
   * path as the server serves it (no `scheme://host`, no fragment, dot segments resolved) when that
   * differs, so that `GET http://host/etc/passwd`, `/etc/passwd#x` and `/./etc/passwd` are seen as
   * `/etc/passwd` by `^/etc/passwd(?:$|\?)` as they are by path-only patterns.
   */
  targetVariants(): readonly string[] {
    if ((this.state & 4) === 0) {
      this.state |= 4;
      const t = this.wholeTarget();
      const budget = spellingBudget(t.length);
      variantsOf(t, this.targets, false, budget);
      const p = this.path();
      const served = servedPath(p);
      const resolved = withoutDotSegments(normalisedPath(served));
      // Appended as one more text to spell, within the same budget.
      if (resolved !== p) variantsOf(resolved + t.slice(p.length), this.targets, false, budget, false, true);
      this.targetsCut = budget.cut;
    }
    return this.targets;
  }
}

const EMPTY_EVENT: AccessEvent = { ip: '', family: 4, time: 0, method: '', path: '', status: 0 };

/**
 * The spellings of `s` rules test: as written, percent-decoded once and twice, each also normalised
 * (pushNormalised). `params`: a path, whose `;…` path parameters are dropped in the normalised form.
 */
function variantsOf(s: string, out: string[], query: boolean, budget: SpellingBudget, params = false, append = false): void {
  if (!append) out.length = 0;
  // A list's first text is always tested (it is at most MAX_PATH_TESTED characters); one appended
  // to it is a spelling like the others.
  else if (!budget.fits(s)) return;
  budget.push(out, s);
  if (!pushNormalised(s, out, params, budget)) return;
  if (!s.includes('%') && !(query && s.includes('+'))) return;
  if (!budget.fits(s)) return;
  const once = percentDecode(s, query);
  if (once === s) return;
  budget.push(out, once);
  if (!pushNormalised(once, out, params, budget)) return;
  if (!once.includes('%')) return;
  if (!budget.fits(once)) return;
  const twice = percentDecode(once, query);
  if (twice === once) return;
  budget.push(out, twice);
  pushNormalised(twice, out, params, budget);
}

/**
 * The characters the spellings of one text (a path, a query, a whole target) may still take. Every
 * spelling is made from an earlier one and is never longer than it, so one is made only when a text
 * as long as its source still fits: the list, and the work of making it, stay within the budget
 * (the checks that find nothing to change are native searches: normalisedPath, withoutDotSegments).
 * A list whose next spelling does not fit is cut there (`cut`), and the rules' tests over it answer
 * as if a missing spelling had matched (compileMatch): padding a probe with text that multiplies
 * spellings (`%252e`, `/./`, `;`, `\`, `//` together) cannot hide it, it makes the line count.
 */
export class SpellingBudget {
  cut = false;
  constructor(public left: number) {}

  /** Whether a spelling made from `source` (at most as long) fits; when not, the list is cut. */
  fits(source: string): boolean {
    if (this.cut || source.length > this.left) {
      this.cut = true;
      return false;
    }
    return true;
  }

  /** Adds a spelling to the list and takes its characters. */
  push(out: string[], spelling: string): void {
    out.push(spelling);
    this.left -= spelling.length;
  }
}

/**
 * The budget of the spellings of a text of `length` characters: SPELLING_FACTOR times it, and
 * SPELLING_SLACK more (a short target's handful of spellings never counts). In the shared corpus and
 * the fixtures (16,502 requests) no target's spellings took more than 6 times its length, and those
 * were short (under 100 characters); a hostile 8 KiB target of `a%252e%252e/.;x\./` took 17 times
 * (15 path spellings and 9 more of the whole target: ~1.3 ms a line with the default rules, where
 * an 8 KiB target of letters costs ~60 µs; bench/hostile-line-cost.ts).
 */
export function spellingBudget(length: number): SpellingBudget {
  return new SpellingBudget(SPELLING_FACTOR * length + SPELLING_SLACK);
}

/** See spellingBudget. */
export const SPELLING_FACTOR = 4;
export const SPELLING_SLACK = 4096;

/**
 * `s` as servers read it, when that differs: `\` as `/` (nginx logs a backslash as `\x5C`, read as
 * one too) and runs of `/` as one; then, for a path, also without its `;…` parameters (Tomcat and
 * other Java servers serve `/manager;x/html` as `/manager/html`), as one more spelling: patterns that
 * look for `..;/` or `;/meta-inf/` themselves still see the normalised path with them.
 */
function pushNormalised(s: string, out: string[], params: boolean, budget: SpellingBudget): boolean {
  // The budget is asked only where a spelling would be made (the same native checks the helpers
  // start with), so a list is never cut for one that would have been the text itself.
  if ((s.indexOf('\\') >= 0 || s.indexOf('//') >= 0) && !budget.fits(s)) return false;
  const n = normalisedPath(s);
  if (n !== s) budget.push(out, n);
  if (!params) return true;
  // Dot segments resolved, as nginx and Apache do before serving (`/./tmui/` is `/tmui/`): the
  // spellings above keep them for the patterns that look for `../` itself.
  if (DOT_SEGMENT.test(n) && !budget.fits(n)) return false;
  const resolved = withoutDotSegments(n);
  if (resolved !== n) budget.push(out, resolved);
  if (!n.includes(';')) return true;
  if (!budget.fits(n)) return false;
  const bare = withoutParameters(n);
  if (bare !== n && bare !== s) budget.push(out, bare);
  if (DOT_SEGMENT.test(bare) && !budget.fits(bare)) return false;
  const bareResolved = withoutDotSegments(bare);
  if (bareResolved !== bare) budget.push(out, bareResolved);
  return true;
}

/**
 * The path a server serves for a path written as `p` (the target before its `?`), when it differs:
 * without the `scheme://authority` of an absolute-form target (`GET http://host/manager/html`, which
 * nginx and Apache serve as `/manager/html`), and without a raw `#fragment` (both drop it: `POST
 * /xmlrpc.php#x` runs xmlrpc.php). An encoded `%23` is part of the path and stays.
 */
export function servedPath(p: string): string {
  let s = p;
  const hash = s.indexOf('#');
  if (hash >= 0) s = s.slice(0, hash);
  if (s.length > 0 && s.charCodeAt(0) !== 47) {
    const m = ABSOLUTE_FORM.exec(s);
    if (m !== null) s = s.length > m[0].length ? s.slice(m[0].length) : '/';
  }
  return s;
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i;

/**
 * `p` with its `.` and `..` segments resolved (RFC 3986 remove_dot_segments, never above the root), as
 * nginx and Apache resolve them; `p` itself when it has none.
 */
export function withoutDotSegments(p: string): string {
  if (!DOT_SEGMENT.test(p)) return p;
  // The path's spellings and the whole target's ask for the same text's form (targetVariants).
  const known = p.length > 64 ? resolvedPaths.get(p) : undefined;
  if (known !== undefined) return known;
  const out = resolveDotSegments(p);
  if (p.length > 64) resolvedPaths.set(p, out);
  return out;
}

function resolveDotSegments(p: string): string {
  // One scan keeps the segments that stay as [start, end) pairs of `p` on a reused stack (`..` takes
  // the last one back off); the result is the kept segments joined by `/`, cut from `p` as runs of
  // segments that were next to each other there. It was split('/') and join: a string per segment,
  // ~0.2 ms for an 8 KiB target of `/./` or `/.;/x;` where a run is a slice (review H46;
  // test/unit/review-h46 keeps that form as the reference).
  const n = p.length;
  if (keptStarts.length < n + 2) {
    keptStarts = new Int32Array(Math.max(n + 2, 2 * keptStarts.length));
    keptEnds = new Int32Array(keptStarts.length);
  }
  const starts = keptStarts;
  const ends = keptEnds;
  let kept = 0;
  let a = 0;
  for (let i = 0; i <= n; i++) {
    if (i < n && p.charCodeAt(i) !== 47) continue;
    // The segment p[a, i).
    const len = i - a;
    if ((len === 1 || len === 2) && p.charCodeAt(a) === 46 && (len === 1 || p.charCodeAt(a + 1) === 46)) {
      // `..` goes up a segment, never above the root (a first segment that is empty).
      if (len === 2 && kept > 0 && !(kept === 1 && starts[0] === ends[0])) kept--;
      // A trailing `.` or `..` names a directory: the path keeps its final `/` (an empty last segment).
      if (i === n) {
        starts[kept] = a;
        ends[kept++] = a;
      }
    } else {
      starts[kept] = a;
      ends[kept++] = i;
    }
    a = i + 1;
  }
  if (kept === 0) return '';
  let out = '';
  let first = true;
  let runStart = starts[0]!;
  let runEnd = ends[0]!;
  for (let k = 1; k < kept; k++) {
    // Next to the run in `p` (one `/` apart): the run goes on.
    if (starts[k] === runEnd + 1) {
      runEnd = ends[k]!;
      continue;
    }
    out += first ? p.slice(runStart, runEnd) : `/${p.slice(runStart, runEnd)}`;
    first = false;
    runStart = starts[k]!;
    runEnd = ends[k]!;
  }
  return out + (first ? p.slice(runStart, runEnd) : `/${p.slice(runStart, runEnd)}`);
}

/** Reused by resolveDotSegments: the kept segments, as [start, end) of the path. */
let keptStarts = new Int32Array(256);
let keptEnds = new Int32Array(256);

const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/**
 * `s` with nginx's logged `\x5C` and every other `\` read as `/`, and runs of `/` as one: one scan
 * that copies the text between the places it changes. It was three global regex replaces, about
 * 50 ns a match: a client's 8 KB target of `\\` or `\x2e\x5c` cost ~1 ms a line in them alone
 * (normalised once per spelling). test/support/spelling-reference.ts keeps the old form.
 */
export function normalisedPath(s: string): string {
  if (s.indexOf('\\') < 0 && s.indexOf('//') < 0) return s;
  // The path and the whole target ask for the same text's form (pathVariants, targetVariants).
  const known = s.length > 64 ? normalisedPaths.get(s) : undefined;
  if (known !== undefined) return known;
  const out = normalise(s);
  if (s.length > 64) normalisedPaths.set(s, out);
  return out;
}

function normalise(s: string): string {
  const n = s.length;
  let out = '';
  let from = 0;
  // Whether the last character of the output so far (copied or written) is a `/`.
  let slash = false;
  for (let i = 0; i < n; ) {
    const c = s.charCodeAt(i);
    if (c === 47) {
      if (slash) {
        if (from < i) out += s.slice(from, i);
        from = i + 1;
      }
      slash = true;
      i++;
    } else if (c === 92) {
      const len = isAt(s, i + 1, 120) && s.charCodeAt(i + 2) === 53 && isAt(s, i + 3, 99) ? 4 : 1;
      if (!slash) out += from < i ? s.slice(from, i) + '/' : '/';
      else if (from < i) out += s.slice(from, i);
      slash = true;
      i += len;
      from = i;
    } else {
      slash = false;
      i++;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

/**
 * Each spelling holding a tab, line feed or carriage return, also without them: browsers drop them
 * from a URL wherever they are (WHATWG URL parsing), so `java%09script:` reflected into a link runs as
 * `javascript:` (queries only: what an XSS probe sends).
 */
function pushWithoutUrlWhitespace(out: string[], budget: SpellingBudget): void {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    const s = out[i]!;
    if (!URL_WHITESPACE_TEST.test(s)) continue;
    if (!budget.fits(s)) return;
    const bare = s.replace(URL_WHITESPACE, '');
    if (!out.includes(bare)) budget.push(out, bare);
  }
}

const URL_WHITESPACE_TEST = /[\t\n\r]/;
const URL_WHITESPACE = /[\t\n\r]/g;

/**
 * A path without its `;…` parameters (and the runs of `/` that leaves), as Java servers map it. One
 * scan copying the text between the places it changes: two regex replaces cost ~35 ns a parameter,
 * 70 µs for an 8 KB target of `..;/` (test/support/spelling-reference.ts keeps the old form).
 */
export function withoutParameters(path: string): string {
  if (path.indexOf(';') < 0 && path.indexOf('//') < 0) return path;
  const n = path.length;
  let out = '';
  let from = 0;
  let slash = false;
  for (let i = 0; i < n; ) {
    const c = path.charCodeAt(i);
    if (c === 59) {
      if (from < i) out += path.slice(from, i);
      let j = path.indexOf('/', i + 1);
      if (j < 0) j = n;
      i = j;
      from = j;
    } else if (c === 47) {
      if (slash) {
        if (from < i) out += path.slice(from, i);
        from = i + 1;
      }
      slash = true;
      i++;
    } else {
      slash = false;
      i++;
    }
  }
  return from === 0 ? path : out + path.slice(from);
}

const PLUS = /\+/g;

/**
 * One round of percent-decoding (UTF-8 where it decodes, else byte by byte with overlong forms and
 * `%uXXXX` read as their characters: bytewiseDecode); `+` is a space in a query.
 */
export function percentDecode(s: string, query = false): string {
  // The path's spellings and the whole target's decode the same text (pathVariants, targetVariants):
  // an 8 KB target of escapes decoded once instead of twice. Only texts over 64 characters are kept.
  const memo = query ? decodedQueries : decodedPaths;
  const known = s.length > 64 ? memo.get(s) : undefined;
  if (known !== undefined) return known;
  const t = query ? s.replace(PLUS, ' ') : s;
  let out: string;
  try {
    out = decodeURIComponent(t);
  } catch {
    out = bytewiseDecode(t);
  }
  if (s.length > 64) memo.set(s, out);
  return out;
}

/**
 * The last few texts a pure function of one text was asked for, and its answers: a hostile target's
 * spellings are worked out from the same long texts by the path's and the whole target's lists.
 * Compared with `===` (the same string object is one pointer compare; another of the same length
 * is compared natively), newest first; no allocation per lookup.
 */
class RecentAnswers {
  private readonly inputs: string[];
  private readonly outputs: string[];
  private next = 0;
  constructor(size: number) {
    this.inputs = new Array<string>(size).fill('');
    this.outputs = new Array<string>(size).fill('');
  }
  get(s: string): string | undefined {
    const n = this.inputs.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.next - k + n) % n;
      if (this.inputs[i] === s) return this.outputs[i];
    }
    return undefined;
  }
  set(s: string, out: string): void {
    this.inputs[this.next] = s;
    this.outputs[this.next] = out;
    this.next = (this.next + 1) % this.inputs.length;
    recentAnswersHeld = true;
  }
  clear(): void {
    this.inputs.fill('');
    this.outputs.fill('');
  }
}

/** Whether some RecentAnswers holds texts (forgetRecentAnswers empties them). */
let recentAnswersHeld = false;

/**
 * Empties the recent answers (MatchView.reset, per event): they serve the spellings of one event, and
 * kept longer they would pin up to a few MB of long texts (or the chunks they were sliced from).
 */
function forgetRecentAnswers(): void {
  if (!recentAnswersHeld) return;
  recentAnswersHeld = false;
  decodedPaths.clear();
  decodedQueries.clear();
  resolvedPaths.clear();
  normalisedPaths.clear();
}

const decodedPaths = new RecentAnswers(8);
const decodedQueries = new RecentAnswers(8);
const resolvedPaths = new RecentAnswers(8);
const normalisedPaths = new RecentAnswers(8);

/** The value of the hex digit at s[i], or -1 (past the end too). */
function hexAt(s: string, i: number): number {
  const c = s.charCodeAt(i); // NaN past the end: no digit
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20; // A-F as a-f (no other character lands there)
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Whether s[i] is `c` (a lower-case letter or a digit), in either case. */
const isAt = (s: string, i: number, c: number): boolean => (s.charCodeAt(i) | 0x20) === c;

/**
 * Byte-by-byte decoding, where decodeURIComponent refuses the text. At each `%`, in this order: an
 * overlong UTF-8 form of an ASCII character (`%c0%ae`, `%c1%9c`, `%e0%80%ae`) as that character
 * (decodeURIComponent refuses them, but GlassFish (CVE-2017-1000028), old Tomcat (CVE-2008-2938) and
 * IIS read `%c0%ae%c0%ae/` as `../` and `%c0%af` as `/`, and scanners still send them); IIS's
 * `%uXXXX` as its character, full-width ASCII (`%uff0e`) as ASCII ("best fit"); `%XX` as one byte;
 * anything else as written. One scan of the string: it was a regex replace with a replacer function,
 * about 0.2 µs an escape, so a client's 8 KB target of `%2e/%zz` cost ~1.5 ms a line with the
 * default rules (test/unit/detect/percent-decode.test.ts checks the two agree on random text).
 */
function bytewiseDecode(t: string): string {
  // The output goes to a reused byte buffer, made a string once at the end (native latin1): a rope
  // of a slice and a character per escape cost ~35 ns an escape (80 µs for an 8 KB target of
  // `%2e/%zz`). A text or an escape beyond U+00FF (`%u2215`, an earlier decoding's output) is
  // decoded by the rope instead.
  const n = t.length;
  if (n > 256) {
    if (decodeBuffer.length < n) decodeBuffer = Buffer.allocUnsafe(Math.max(n, 2 * decodeBuffer.length));
    const out = bytewiseDecodeInto(t, decodeBuffer);
    if (out !== null) return out;
  }
  return bytewiseDecodeRope(t);
}

/**
 * The escape at t[i] (a `%`) as `code << 4 | length`, or 0 when there is none; tried in this order:
 * an overlong UTF-8 form of an ASCII character, `%uXXXX` (full-width ASCII as ASCII), `%XX`.
 */
function escapeAt(t: string, i: number): number {
  // %c0%XX, %c1%XX (XX in 80..bf): an overlong two-byte form of an ASCII character.
  if ((isAt(t, i + 1, 99) && (t.charCodeAt(i + 2) === 48 || t.charCodeAt(i + 2) === 49)) && t.charCodeAt(i + 3) === 37) {
    const a = hexAt(t, i + 4);
    const b = hexAt(t, i + 5);
    if (a >= 8 && a <= 11 && b >= 0) {
      const v = ((a << 4) | b) & 0x3f;
      return ((t.charCodeAt(i + 2) === 48 ? v : 0x40 | v) << 4) | 6;
    }
  }
  // %e0%80%XX: an overlong three-byte form.
  if (isAt(t, i + 1, 101) && t.charCodeAt(i + 2) === 48 && t.charCodeAt(i + 3) === 37 && t.charCodeAt(i + 4) === 56 && t.charCodeAt(i + 5) === 48 && t.charCodeAt(i + 6) === 37) {
    const a = hexAt(t, i + 7);
    const b = hexAt(t, i + 8);
    if (a >= 8 && a <= 11 && b >= 0) return ((((a << 4) | b) & 0x3f) << 4) | 9;
  }
  // %uXXXX (IIS), full-width ASCII read as ASCII.
  if (isAt(t, i + 1, 117)) {
    const a = hexAt(t, i + 2);
    const b = hexAt(t, i + 3);
    const c = hexAt(t, i + 4);
    const d = hexAt(t, i + 5);
    if (a >= 0 && b >= 0 && c >= 0 && d >= 0) {
      const u = (a << 12) | (b << 8) | (c << 4) | d;
      return ((u >= 0xff01 && u <= 0xff5e ? u - 0xfee0 : u) << 4) | 6;
    }
  }
  // %XX: one byte.
  const a = hexAt(t, i + 1);
  const b = hexAt(t, i + 2);
  if (a >= 0 && b >= 0) return (((a << 4) | b) << 4) | 3;
  return 0;
}

/** Reused by bytewiseDecode for its output bytes (grown to the longest text decoded). */
let decodeBuffer = Buffer.allocUnsafe(1024);

/** bytewiseDecode into `buf` (at least t.length bytes), or null when a character is beyond U+00FF. */
function bytewiseDecodeInto(t: string, buf: Buffer): string | null {
  const n = t.length;
  let w = 0;
  let changed = false;
  for (let i = 0; i < n; ) {
    const c = t.charCodeAt(i);
    if (c === 37) {
      const e = escapeAt(t, i);
      if ((e & 15) !== 0) {
        const code = e >>> 4;
        if (code > 0xff) return null;
        buf[w++] = code;
        i += e & 15;
        changed = true;
        continue;
      }
    } else if (c > 0xff) {
      return null;
    }
    buf[w++] = c;
    i++;
  }
  return changed ? buf.toString('latin1', 0, w) : t;
}

/** bytewiseDecode as a rope of slices and characters (any text). */
function bytewiseDecodeRope(t: string): string {
  let i = t.indexOf('%');
  if (i < 0) return t;
  let out = '';
  let from = 0;
  const n = t.length;
  while (i >= 0) {
    const e = escapeAt(t, i);
    const len = e & 15;
    if (len > 0) {
      out += t.slice(from, i) + String.fromCharCode(e >>> 4);
      from = i + len;
      i = from < n ? t.indexOf('%', from) : -1;
    } else {
      i = t.indexOf('%', i + 1);
    }
  }
  return from === 0 ? t : out + t.slice(from);
}

/** Bantime of the nth ban (1-based) of one address under a rule. */
export function bantimeFor(settings: RuleSettings, nth: number): number {
  const inc = settings.increment;
  if (inc === null || nth <= 1) return settings.bantime;
  const t = settings.bantime * Math.pow(inc.factor, nth - 1);
  return Math.min(t, Math.max(inc.maxtime, settings.bantime));
}

/** Every pattern of a match, nested ones included (for checks and listings). */
export function matchPatterns(m: RuleMatch): string[] {
  const out = [...m.paths, ...(m.queries ?? []), ...(m.userAgents ?? []), ...(m.referers ?? []), ...(m.requests ?? [])];
  for (const sub of [...(m.anyOf ?? []), ...(m.allOf ?? []), ...(m.noneOf ?? [])]) out.push(...matchPatterns(sub));
  return out;
}
