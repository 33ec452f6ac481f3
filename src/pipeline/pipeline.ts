/**
 * The pipeline: parse → detect → decide, built once from a config and used by the live agent and by
 * `banhammer replay` alike. Same code, two modes:
 *
 * - live: "now" is the agent's clock. A line stamped more than SKEW_TOLERANCE_MS ahead of it is
 *   counted as skewed and taken as happening now (so no line can shield an address or stretch a ban),
 *   lines already older than a rule's findtime never count for it, and a ban starts now.
 * - replay: "now" is the log's own time (each event's), so findtime, bantime and expiry behave as when
 *   the log was written.
 *
 * The allowlist is always loopback + ignoreip + trusted proxies, plus, live, the host's own addresses:
 * replay never bans what the agent would not. Ban state lives in the BanBook; the caller takes what
 * the enforcer must change from book.changes(). reconfigure() is the reload: windows, counters,
 * bans and the parser's lines in progress carry over, rules whose counting changed start fresh, and
 * bans of newly allowlisted addresses are lifted.
 *
 * Evidence (issue 14): observe() takes the raw line and its file; every failure the detector counts
 * is kept in an EvidenceKeeper (bounded, decide/evidence.ts) and an offense hands that address's
 * lines of the window to the ban. Live always; replay when asked (replay --explain), so both show
 * lines chosen by the same code.
 */
import { networkInterfaces } from 'node:os';
import type { Config } from '../config/schema.js';
import { isSkip, SKIP_REASONS, type AccessEvent, type SkipReason } from '../parse/access-event.js';
import { createLineParser, type LineParser } from '../parse/line-parser.js';
import { compileRule, type CompiledRule, type RuleSettings } from '../detect/rule.js';
import { Detector, type FailureEvent } from '../detect/detector.js';
import type { Offense } from '../detect/offense.js';
import { Allowlist } from '../decide/allowlist.js';
import { BanBook, MANUAL_RULE, type Ban, type EndCause } from '../decide/ban-book.js';
import { EvidenceKeeper, linesPerBan, type PendingEvidence } from '../decide/evidence.js';
import { NetworkEscalation, type NetworkEscalationSettings } from '../decide/network-escalation.js';
import { BanhammerError } from '../errors.js';
import { isNetwork, ipv6NetworkOf } from '../parse/ip.js';
import { runSync, sortSteps, STEP_UNITS, type Steps } from '../yielding.js';
import { longestFindtime, StaleLines, type BehindReport } from './stale-lines.js';

export type PipelineMode = 'live' | 'replay';

/** A log line stamped further ahead of the agent's clock than this is skewed (live mode). */
export const SKEW_TOLERANCE_MS = 60_000;

/** The settings of bans made with `banhammer ban` (never detected: the rule is not enabled). */
export const MANUAL_SETTINGS: RuleSettings = {
  enabled: false,
  description: 'Bans made with `banhammer ban`',
  match: { status: [], paths: [], methods: [] },
  maxretry: 1,
  findtime: 1000,
  bantime: Number.POSITIVE_INFINITY,
  increment: null,
};

export interface PipelineOptions {
  readonly config: Config;
  readonly mode: PipelineMode;
  /** Live: the host's own addresses (never banned). */
  readonly hostAddresses?: readonly string[];
  /** Only these rules (any defined rule, enabled or not; replay's --rule); default: the enabled ones. */
  readonly only?: readonly string[];
  /** Every new ban, as the book recorded it. */
  readonly onBan?: (ban: Ban) => void;
  /**
   * Bans the book ended to make room for another container's ban at the cap (host mode: BanBook
   * cutForShare), right after that ban's onBan: the live agent lifts them, replay ends them there.
   */
  readonly onCut?: (bans: Ban[], at: number) => void;
  /** Live: every failure counted into a rule's window, with the rule's window (the share stage counts it group-wide). */
  readonly onFailure?: (f: { ip: string; family: 4 | 6; rule: string; time: number; findtime: number; maxretry: number; scope?: string }) => void;
  /** Live: a line stamped in the future (its time, the clock's); at most once a minute, for the log. */
  readonly onSkew?: (eventTime: number, now: number) => void;
  /**
   * Live: every line read for a minute or more has been too old for any rule to count (stale-lines.ts);
   * at most once every 10 minutes, for the log.
   */
  readonly onBehind?: (report: BehindReport) => void;
  /**
   * The first event whose client was read from a forwarded field past a trusted proxy
   * (AccessEvent.forwarded), once: the daemon says whether its enforcer can hold such a client.
   */
  readonly onForwarded?: (ev: AccessEvent) => void;
  /** Keep the lines of failures and hand them to bans (default: live yes, replay no). */
  readonly evidence?: boolean;
  /** Byte budget of the lines of addresses that have not offended yet (default 8 MiB). */
  readonly pendingEvidenceBytes?: number;
  /**
   * The time given to observe() is the line's own (default: in replay): a ban then covers only the
   * lines from its own time on (BanBookLimits.logTime).
   */
  readonly logTime?: boolean;
  /**
   * Whether IPv6 network escalation (config ipv6NetworkBanAfter) may make network bans (default yes):
   * not when the enforcer holds no network (the daemon says so), nor in host mode with bans per
   * container (there a host-wide ban comes from a line any tenant may have written).
   */
  readonly networkBans?: boolean;
}

export interface PipelineStats {
  lines: number;
  parsed: number;
  skipped: Record<SkipReason, number>;
  /** Live: lines stamped more than SKEW_TOLERANCE_MS ahead of the agent's clock. */
  skewed: number;
  /** Live: lines stamped too long ago for any rule to count them (stale-lines.ts). */
  stale: number;
  /**
   * Events whose client was read from an X-Forwarded-For field past a trusted proxy
   * (AccessEvent.forwarded): the server itself saw the proxy as their peer.
   */
  forwarded: number;
}

export class Pipeline {
  readonly mode: PipelineMode;
  readonly book: BanBook;
  readonly detector: Detector;
  readonly stats: PipelineStats = {
    lines: 0,
    parsed: 0,
    skipped: Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>,
    skewed: 0,
    stale: 0,
    forwarded: 0,
  };
  private config: Config;
  private allowlist: Allowlist;
  private parser: LineParser;
  /** Live: the host's own addresses, as last read (start, reload, the daemon's periodic refresh). */
  private hostAddresses: readonly string[];
  private readonly only: readonly string[] | undefined;
  private readonly onBan: (ban: Ban) => void;
  private readonly onCut: (bans: Ban[], at: number) => void;
  private readonly onSkew: (eventTime: number, now: number) => void;
  private readonly onBehind: ((report: BehindReport) => void) | undefined;
  /** Live: lines too old for any rule, and whether the log has been behind the clock for a while. */
  private readonly staleLines: StaleLines;
  private readonly onForwarded: ((ev: AccessEvent) => void) | undefined;
  /** Live: the clock for the line being handled; scope name lookups for host mode. */
  private now = 0;
  private lastSkewReport = Number.NEGATIVE_INFINITY;
  private scopeName: ((scope: string) => string | undefined) | undefined;
  /** The failures' lines of addresses that have not offended yet; undefined when evidence is off. */
  readonly evidence: EvidenceKeeper | undefined;
  /** The raw line (and its file) of the event being observed, for the evidence hook. */
  private line: string | undefined;
  private file: string | undefined;
  /** IPv6 network escalation: bans of a network's addresses, counted toward a ban of the network. */
  private readonly escalation: NetworkEscalation;
  private readonly networkBans: boolean;
  /**
   * A count of the book's bans toward escalation that has begun and not ended (a restart's, or a
   * reload's that changed escalation's settings: countBansForEscalation), run in slices by the
   * daemon (recounting). Whatever else reads or changes escalation's memory (a ban, an unban, another
   * reload) first runs what is left of it at once (settleCount), so every ban and unban meets the
   * count complete, as if it had been done in one block.
   */
  private pendingCount: Steps<void> | undefined;

  constructor(opts: PipelineOptions) {
    this.mode = opts.mode;
    this.config = opts.config;
    this.hostAddresses = opts.mode === 'live' ? (opts.hostAddresses ?? []) : [];
    this.only = opts.only;
    this.onBan = opts.onBan ?? (() => {});
    this.onCut = opts.onCut ?? (() => {});
    this.onSkew = opts.onSkew ?? (() => {});
    this.onBehind = opts.onBehind;
    this.onForwarded = opts.onForwarded;
    this.networkBans = opts.networkBans ?? true;
    this.escalation = new NetworkEscalation(escalationSettings(opts.config));
    this.allowlist = buildAllowlist(opts.config, this.hostAddresses);
    this.parser = createLineParser(opts.config.log.format, { trustedProxies: opts.config.trustedProxies });
    this.book = new BanBook(bookRules(opts.config), this.allowlist, undefined, { endedBans: opts.config.banHistory, logTime: opts.logTime ?? opts.mode === 'replay', maxBans: opts.config.maxBans });
    const keeper = (opts.evidence ?? opts.mode === 'live') ? new EvidenceKeeper(opts.pendingEvidenceBytes) : undefined;
    this.evidence = keeper;
    const share = opts.onFailure !== undefined && opts.mode === 'live' ? failureHook(opts.onFailure) : undefined;
    // A ban keeps the last linesPerBan(maxretry) failures of its window. A failure counted while the
    // window holds `count` (counted, or kept from the future: it grows by one per failure at most)
    // cannot be among them when at least that many more are needed for the ban
    // (count ≤ maxretry − linesPerBan): the ring would have let it go by then. So rules with a high
    // maxretry (request-flood's 600) keep lines only near their threshold, with the same evidence.
    // Not with a replica group: its count, not this window's, makes the ban, at any local count.
    const keepFrom = (rule: CompiledRule): number => (share !== undefined ? 0 : rule.settings.maxretry - linesPerBan(rule.settings.maxretry));
    const keep =
      keeper &&
      ((ev: FailureEvent, rule: CompiledRule, scope: string | undefined, count: number): void => {
        if (this.line !== undefined && count > keepFrom(rule)) {
          keeper.record(rule.name, ev.ip, scope, linesPerBan(rule.settings.maxretry), this.line, ev.time, this.file, rule.settings.findtime);
        }
      });
    const onFailure =
      keep && share
        ? (ev: FailureEvent, rule: CompiledRule, scope: string | undefined, count: number): void => (keep(ev, rule, scope, count), share(ev, rule, scope))
        : (keep ?? share);
    const rules = selectRules(opts.config, opts.only);
    this.staleLines = new StaleLines(longestFindtime(rules));
    this.detector = new Detector(rules, {
      maxTracked: opts.config.maxTracked,
      isExempt: (ip) => this.isExempt(ip),
      isBanned: (ip, rule, t, scope) => this.book.isBanned(ip, rule, this.mode === 'live' ? this.now : t, scope),
      ...(onFailure !== undefined ? { onFailure } : {}),
    });
  }

  /** The detector's allowlist test, remembering its last answer (a client's lines come in bursts). */
  private exemptIp = '';
  private exemptList: Allowlist | null = null;
  private exemptAnswer = false;
  private isExempt(ip: string): boolean {
    if (ip !== this.exemptIp || this.exemptList !== this.allowlist) {
      this.exemptAnswer = this.allowlist.has(ip);
      this.exemptIp = ip;
      this.exemptList = this.allowlist;
    }
    return this.exemptAnswer;
  }

  /** Is `ip` never to be banned (loopback, ignoreip, trusted proxies, the host's addresses)? */
  isAllowlisted(ip: string): boolean {
    return this.allowlist.has(ip);
  }

  hasRule(rule: string): boolean {
    return rule === MANUAL_RULE || Object.hasOwn(this.config.rules, rule);
  }

  /**
   * Parses a line; returns the event, or null when skipped (counted by reason). `file`: where it came
   * from, so Docker lines split over several records are put back together per file.
   */
  parse(line: string, file?: string): AccessEvent | null {
    this.stats.lines++;
    const out = this.parser(line, file);
    if (isSkip(out)) {
      this.stats.skipped[out]++;
      return null;
    }
    this.stats.parsed++;
    // One flag read per event (a bit of the scanned event); the hook runs once.
    if (out.forwarded === true && this.stats.forwarded++ === 0) this.onForwarded?.(out);
    return out;
  }

  /**
   * A file read on from a position saved before a restart: `before`, its last whole lines before that
   * position, tell the parser which lines were in progress there (LineParser.resume). Nothing is
   * counted: those lines were read before the stop.
   */
  resume(before: readonly string[], file: string): void {
    this.parser.resume(before, file);
  }

  /**
   * Detects and decides on one event. `now`: the agent's clock (live); ignored in replay, where the
   * event's own time is now. `scope`: host mode's container id, or a list of them (a syslog tag several
   * containers may write: the event counts in each, matched once), `scopeName` its display name.
   * `line` and `file`: the raw line the event was parsed from and where it was read (evidence).
   */
  observe(ev: AccessEvent, now: number, scope?: string | readonly (string | undefined)[], scopeName?: (scope: string) => string | undefined, line?: string, file?: string): void {
    this.line = line;
    this.file = file;
    try {
      this.observeEvent(ev, now, scope, scopeName);
    } finally {
      this.line = undefined;
      this.file = undefined;
    }
  }

  /**
   * Replay's parallel road: an event whose rules were matched on a parse thread (`rules[0 .. n)`,
   * RuleMatcher's indices; `pathHash` of its path, or -1 when no distinct-paths rule is among them),
   * counted and decided as observe() does. `exempt`: the address is allowlisted, when known.
   */
  observeMatched(ev: FailureEvent, rules: ArrayLike<number>, n: number, pathHash: number, exempt?: boolean, scope?: string): void {
    if (this.mode !== 'replay') throw new Error('observeMatched is for replay');
    this.now = ev.time;
    this.detector.countMatched(ev, rules, n, pathHash, this.onOffense, undefined, scope, exempt);
  }

  private observeEvent(ev: AccessEvent, now: number, scope?: string | readonly (string | undefined)[], scopeName?: (scope: string) => string | undefined): void {
    if (this.mode === 'replay') {
      this.now = ev.time;
      this.detector.observe(ev, this.onOffense, undefined, scope);
      return;
    }
    this.now = now;
    this.scopeName = scopeName;
    let event = ev;
    const behind = this.staleLines.note(ev.time, now);
    this.stats.stale = this.staleLines.total;
    if (behind !== null) this.onBehind?.(behind);
    if (ev.time > now + SKEW_TOLERANCE_MS) {
      this.stats.skewed++;
      // (A clock set back since the last report counts as time gone by: no day without a warning.)
      if (now - this.lastSkewReport >= 60_000 || now < this.lastSkewReport) {
        this.lastSkewReport = now;
        this.onSkew(ev.time, now);
      }
      // Fields are copied by name: a parsed event may keep them as getters on its prototype.
      const h = ev as AccessEvent & { readonly request?: string | undefined; readonly referer?: string | undefined; readonly userAgent?: string | undefined };
      event = {
        ip: ev.ip, family: ev.family, time: now, method: ev.method, path: ev.path, status: ev.status, vhost: ev.vhost, origin: ev.origin,
        request: h.request, referer: h.referer, userAgent: h.userAgent, forwarded: ev.forwarded,
      } as AccessEvent;
    }
    this.detector.observe(event, this.onOffense, now, scope);
  }

  /**
   * A detected offense (local), or one the group's count made (`groupPrefix6`: the widest IPv6 network
   * this agent adopts from the group, share.minPrefix6).
   */
  private readonly onOffense = (o: Offense, groupPrefix6?: number): void => {
    const groupCount = groupPrefix6 !== undefined;
    const live = this.mode === 'live';
    const at = live ? this.now : o.at;
    const name = o.scope === undefined ? undefined : this.scopeName?.(o.scope);
    const evidence = this.evidenceFor(o, groupCount);
    const ban = this.book.consider(live ? { ...o, at } : o, at, name, evidence);
    if (!ban) return;
    this.onBan(ban);
    const cut = this.book.takeCut();
    if (cut.length > 0) this.onCut(cut, at);
    if (ban.family === 6 && ban.scope === undefined && this.networkBans) {
      // A ban made from the group's shared count rests on what other replicas (or anyone holding the
      // group's Redis password) wrote: it may grow into a network ban only as wide as this agent would
      // adopt from the group directly (share.minPrefix6), or that writer could turn one local failure
      // of each of a few addresses into a ban of a network the operator refuses from the group.
      if (groupPrefix6 !== undefined && this.config.ipv6NetworkBanPrefix < groupPrefix6) return;
      // Half the book's room taken: a banned IPv6 address's network goes at once, configured or not.
      this.settleCount();
      const pressed = this.book.pressed;
      if (!pressed && !this.escalation.enabled) return;
      const e = this.escalation.record(ban.ip, ban.at, pressed);
      const net = e === null ? null : this.book.escalate(e.network, ban, e.addresses, at);
      if (net !== null) this.onBan(net);
    }
  };

  /** The window's lines of an offense (taken from the keeper: the detector emptied that window). */
  private evidenceFor(o: Offense, groupCount: boolean): { lines: ReturnType<EvidenceKeeper['take']>; omitted: number; groupCount: boolean } | undefined {
    if (this.evidence === undefined) return groupCount ? { lines: [], omitted: 0, groupCount } : undefined;
    const findtime = Object.hasOwn(this.config.rules, o.rule) ? this.config.rules[o.rule]!.findtime : 0;
    const lines = this.evidence.take(o.rule, o.ip, o.scope, o.at - findtime);
    return { lines, omitted: Math.max(0, o.failures - lines.length), groupCount };
  }

  /** What the keeper holds for `ip` (failures that have not made a ban yet), for `banhammer why`. */
  pendingEvidence(ip: string): PendingEvidence[] {
    return this.evidence?.pending(ip) ?? [];
  }

  /**
   * Drops stale detection windows and their kept lines (the live agent calls this periodically): both
   * once their newest failure is two findtimes old, as the detector's sweep (Detector.sweep: a line
   * stamped up to a findtime late still counts with them).
   */
  sweep(now: number): void {
    this.detector.sweep(now);
    this.evidence?.sweep(now, (rule) => (this.detector.ruleNames.includes(rule) && Object.hasOwn(this.config.rules, rule) ? 2 * this.config.rules[rule]!.findtime : undefined));
  }

  /**
   * `banhammer ban`: a manual ban under `rule` (default manual; own rule names only), for `forMs`, or
   * when null the rule's bantime, grown for a repeat offender as a detected ban's would be (permanent
   * for a manual ban); `forMs` Infinity is permanent. The book refuses what cannot be banned.
   */
  banManually(ip: string, opts: { rule?: string | undefined; forMs: number | null; now: number; scope?: string; scopeName?: string; keepLonger?: boolean }): Ban {
    const rule = opts.rule ?? MANUAL_RULE;
    if (!this.hasRule(rule)) {
      throw new BanhammerError('BH_ERR_USAGE', `unknown rule ${JSON.stringify(rule)}`, { hint: `rules: ${Object.keys(this.config.rules).join(', ')}` });
    }
    const forMs = opts.forMs;
    return this.book.banManually(ip, {
      rule,
      durationMs: forMs === null ? 'rule' : Number.isFinite(forMs) ? forMs : null,
      now: opts.now,
      ...(opts.scope !== undefined ? { scope: opts.scope, ...(opts.scopeName !== undefined ? { scopeName: opts.scopeName } : {}) } : {}),
      ...(opts.keepLonger === true ? { keepLonger: true } : {}),
    });
  }

  /**
   * The group's count for (rule, ip, scope) crossed maxretry: a ban here, like a local offense.
   * `minPrefix6`: the widest IPv6 network this agent adopts from the group (the link's share.minPrefix6),
   * the widest network such a ban may grow into by IPv6 network escalation.
   */
  groupOffense(o: Offense, now: number, minPrefix6: number = this.config.share.minPrefix6): void {
    if (!this.hasRule(o.rule) || o.rule === MANUAL_RULE) return;
    this.now = now;
    this.onOffense({ ...o, at: now }, minPrefix6);
  }

  /**
   * A restart restored the saved bans into the book (BanBook.restore): IPv6 network escalation counts
   * them again. Its count lived only in memory: after a restart a client walking its /64 needed
   * `after` more banned addresses for the network ban, the bans of its first ones back in force but
   * counted for nothing (review H33). The bans escalation counts (host-wide, detected here, of IPv6
   * addresses, within its window; a group-count ban only as escalation itself takes it), in force or
   * expired since, are counted in the order they were made, except those a network ban made from
   * them since has already taken. One pass over the book, only with escalation on.
   */
  restored(now: number): void {
    runSync(this.restoredSteps(now));
  }

  /**
   * restored() in pausable steps (src/yielding.ts), for the agent's start: each ban counted costs a
   * parse of its address (its network), and 100,000 saved IPv6 bans blocked the event loop for 2 s
   * in one piece, the control socket already up (review H47). Nothing else may change the book or
   * the escalation meanwhile (the agent reads no line until it is done).
   */
  restoredSteps(now: number): Steps<void> {
    this.startCount(now);
    return this.recounting();
  }

  /**
   * The count begun last (restoredSteps, or a reload that changed escalation's settings), in pausable
   * steps: the daemon runs it in slices after a reload, as at start (counted in one block, a reload
   * with 100,000 IPv6 bans held blocked the agent's event loop for 2.5 s; review H49). Ends at once
   * when another call ran what was left of it (settleCount) or began another.
   */
  *recounting(): Steps<void> {
    const count = this.pendingCount;
    if (count === undefined) return;
    for (;;) {
      if (this.pendingCount !== count) return;
      if (count.next().done === true) {
        if (this.pendingCount === count) this.pendingCount = undefined;
        return;
      }
      yield;
    }
  }

  /** Begins a count of the book's bans toward escalation as of `now` (one begun before runs to its end first). */
  private startCount(now: number): void {
    this.settleCount();
    const count = this.countBansForEscalation(now);
    // Its first step takes the snapshot of the book's bans (and nothing else): the bans held now.
    if (count.next().done !== true) this.pendingCount = count;
  }

  /** Runs what is left of a count begun (startCount) at once: escalation is about to be read or changed. */
  private settleCount(): void {
    const count = this.pendingCount;
    if (count === undefined) return;
    this.pendingCount = undefined;
    runSync(count);
  }

  /**
   * The bans of the book, counted toward IPv6 network escalation (see restored()): at a restart, and
   * at a reload that changed escalation's settings (NetworkEscalation.configure), so that both count
   * the same bans. Counted without naming a network (remember): the next ban of the network names it.
   */
  private *countBansForEscalation(now: number): Steps<void> {
    if (!this.networkBans || !this.escalation.enabled) return;
    const { ipv6NetworkBanPrefix: prefix, ipv6NetworkBanWithin: within } = this.config;
    const ended = this.book.endedBans();
    // Every held ban, ended by now or not (at a reload the tick may not have lifted it yet): as expired ones.
    const bans = [...this.book.active(), ...ended.filter((e) => e.ended.reason === 'expired')];
    yield;
    // The latest network ban escalation made of each network: it took the addresses banned before it
    // (however it ended since). A network unbanned by hand made escalation forget the addresses
    // banned before the unban (Pipeline.unban): counted again, they named it again at the next ban.
    const named = new Map<string, number>();
    const taken = (net: string, at: number): void => void named.set(net, Math.max(named.get(net) ?? Number.NEGATIVE_INFINITY, at));
    for (const b of [...bans, ...ended]) if (isNetwork(b.ip) && !b.manual && b.from === undefined && b.family === 6) taken(b.ip, b.at);
    for (const e of ended) {
      if (e.family !== 6 || !isNetwork(e.ip) || e.ended.reason !== 'unbanned') continue;
      const net = ipv6NetworkOf(e.ip.slice(0, e.ip.indexOf('/')), prefix);
      if (net !== null) taken(net, e.ended.at);
    }
    yield;
    const counted: Ban[] = [];
    for (let i = 0; i < bans.length; i++) {
      if ((i & (STEP_UNITS - 1)) === STEP_UNITS - 1) yield;
      const b = bans[i]!;
      if (b.family !== 6 || b.scope !== undefined || b.manual || b.from !== undefined || isNetwork(b.ip) || b.at <= now - within) continue;
      if (b.groupCount === true && prefix < this.config.share.minPrefix6) continue;
      const net = ipv6NetworkOf(b.ip, prefix);
      if (net !== null && !((named.get(net) ?? Number.NEGATIVE_INFINITY) >= b.at)) counted.push(b);
    }
    // A ban dated ahead of the clock (saved by a clock that ran ahead, or written into the file by
    // hand) counts as made now: dated a year ahead, it stayed inside escalation's window (at − within,
    // at] of every later ban for that year, and each ban of one more address of its network made the
    // network ban, a day or months on (review H55).
    const madeAt = (b: Ban): number => Math.min(b.at, now);
    yield* sortSteps(counted, (a, c) => madeAt(a) - madeAt(c));
    for (let i = 0; i < counted.length; i++) {
      if ((i & (STEP_UNITS - 1)) === STEP_UNITS - 1) yield;
      const b = counted[i]!;
      this.escalation.remember(b.ip, madeAt(b));
    }
  }

  /** Live: while every line read for a minute or more has been too old for any rule to count, that run (stale-lines.ts). */
  logBehind(now: number): BehindReport | undefined {
    return this.mode === 'live' ? this.staleLines.behind(now) : undefined;
  }

  /**
   * Live: the wall clock was stepped by `step` ms (src/wall-steps.ts). The bans dated up to `upTo`
   * (the clock's last reading before the step) and escalation's memory of them move with it
   * (BanBook.shiftMade); returns how many bans moved. The detection windows are left as they are:
   * failures the server stamped before the step and after it do not add up (a client's count in
   * progress starts again, once per step).
   */
  clockStepped(step: number, upTo: number): number {
    if (this.mode !== 'live') return 0;
    this.settleCount();
    this.escalation.shift(step, upTo);
    return this.book.shiftMade(step, upTo);
  }

  /**
   * `banhammer unban`: lifts every ban of `ip` (in one scope; null: host-wide only; default all) and
   * forgets its failures there; `cause` (who, when) goes into the history of ended bans.
   */
  unban(ip: string, scope?: string | null, cause?: EndCause): Ban[] {
    return this.forgetLifted(this.book.unban(ip, undefined, scope, cause));
  }

  /**
   * Lifts each of `bans` still held as given (BanBook.unbanHeld: a ban made since is kept) and, like
   * unban(), forgets the failures and kept lines of each address lifted (`unban --all` in slices).
   */
  unbanHeld(bans: readonly Ban[], cause?: EndCause): Ban[] {
    return this.forgetLifted(this.book.unbanHeld(bans, cause));
  }

  /**
   * `banhammer unban --all`: lifts every ban and, like unban(), forgets the failures and kept lines
   * of each address it lifted (otherwise one more failure would ban it again at once).
   */
  unbanAll(cause?: EndCause): Ban[] {
    return this.forgetLifted(this.book.unbanAll(cause));
  }

  /** After bans were lifted by hand: each address's failures, kept lines and escalation count go with them. */
  private forgetLifted(removed: Ban[]): Ban[] {
    if (removed.length > 0) this.settleCount();
    const rules = this.detector.ruleNames;
    for (const b of removed) {
      if (b.scope === undefined) this.escalation.forget(b.ip);
      this.detector.reset(b.ip, undefined, b.scope);
      this.evidence?.forget(b.ip, b.scope, rules);
    }
    return removed;
  }

  /**
   * Reload: new rules (unchanged ones keep their windows and counters), allowlist and parser; the
   * book keeps every ban and counter. Returns the bans lifted because their address is now allowlisted.
   */
  reconfigure(config: Config, now?: number, hostAddresses?: readonly string[]): Ban[] {
    // Nothing is stored until everything that can refuse the configuration has run.
    const hosts = hostAddresses !== undefined && this.mode === 'live' ? hostAddresses : this.hostAddresses;
    const rules = selectRules(config, this.only);
    const allowlist = buildAllowlist(config, hosts);
    // (createLineParser refuses a log format it does not know: before anything is stored too.)
    // The parser is kept when what it reads with is unchanged (the daemon keeps both, restart-only
    // settings, at every reload): it holds the first records of a Docker line split over several and
    // syslog lines cut before their status, and a new one read their rest alone (review H54: a SIGHUP
    // between two records lost the line, and a rest that reads as a line of its own, another address
    // in it, was counted for that address).
    const parser = sameParsing(this.config, config) ? this.parser : createLineParser(config.log.format, { trustedProxies: config.trustedProxies });
    this.hostAddresses = hosts;
    this.config = config;
    this.allowlist = allowlist;
    this.parser = parser;
    this.staleLines.setLongestFindtime(longestFindtime(rules));
    // A restarted window's kept lines were never counted by the new one: `why` and the next ban
    // must not show them as its failures.
    this.evidence?.forgetRules(this.detector.reconfigure(rules, config.maxTracked));
    this.book.setEndedBans(config.banHistory);
    this.book.setMaxBans(config.maxBans);
    // A count begun under the settings in force ends under them (it read their prefix and window).
    this.settleCount();
    const recount = this.escalation.configure(escalationSettings(config));
    this.forgetAllowlisted();
    const lifted = this.book.reconfigure(bookRules(config), allowlist, now);
    // New escalation settings: the book's bans count again, as a restart on them counts them (review
    // H48), in slices the daemon runs (recounting; review H49).
    if (recount && now !== undefined) this.startCount(now);
    return lifted;
  }

  /**
   * The failures (and kept lines) of addresses the allowlist now covers: they can never be banned, so
   * `why` and "Currently failed" must not show them failing, and an allowlist entry removed later
   * counts them afresh, as after a lifted ban.
   */
  private forgetAllowlisted(): void {
    const allowlist = this.allowlist;
    const rules = this.detector.ruleNames;
    for (const { ip, scope } of this.detector.forgetExempt((ip) => allowlist.has(ip))) this.evidence?.forget(ip, scope, rules);
  }

  /**
   * Live: the host's own addresses read again (an interface or a Docker network's gateway may come
   * after start). When they changed, the allowlist is rebuilt and bans that now cover one of them are
   * lifted, as a reload lifts newly allowlisted ones; returns those bans ([] when nothing changed).
   */
  refreshHostAddresses(hostAddresses: readonly string[], now: number): Ban[] {
    if (this.mode !== 'live') return [];
    const same = hostAddresses.length === this.hostAddresses.length && hostAddresses.every((a, i) => a === this.hostAddresses[i]);
    if (same) return [];
    this.hostAddresses = hostAddresses;
    this.allowlist = buildAllowlist(this.config, hostAddresses);
    this.forgetAllowlisted();
    return this.book.reconfigure(bookRules(this.config), this.allowlist, now, 'host-address');
  }
}

function failureHook(cb: NonNullable<PipelineOptions['onFailure']>): (ev: FailureEvent, rule: CompiledRule, scope: string | undefined) => void {
  return (ev, rule, scope) =>
    cb({ ip: ev.ip, family: ev.family, rule: rule.name, time: ev.time, findtime: rule.settings.findtime, maxretry: rule.settings.maxretry, ...(scope !== undefined ? { scope } : {}) });
}

/** Every address of this host's interfaces (zone ids stripped): the live agent never bans them. */
export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address.split('%')[0]!);
  return out;
}

/** Loopback + ignoreip + trusted proxies + the given host addresses (those Node reports but we cannot read are skipped). */
export function buildAllowlist(config: Config, hostAddresses: readonly string[] = []): Allowlist {
  const allowlist = new Allowlist([...config.ignoreip, ...config.trustedProxies]);
  for (const a of hostAddresses) {
    try {
      allowlist.add(a);
    } catch {
      // an interface address we cannot parse (zone ids are stripped already)
    }
  }
  return allowlist;
}

/** Whether a parser built for `before` reads lines as one built for `after` would (format and trusted proxies). */
function sameParsing(before: Config, after: Config): boolean {
  const a = before.trustedProxies;
  const b = after.trustedProxies;
  return before.log.format === after.log.format && a.length === b.length && a.every((p, i) => p === b[i]);
}

/** Which rules run: `only` names (any defined rule, enabled or not) or the enabled ones. */
export function selectRules(config: Config, only?: readonly string[]): CompiledRule[] {
  if (only && only.length > 0) {
    const unknown = only.filter((n) => !Object.hasOwn(config.rules, n));
    if (unknown.length > 0) {
      throw new BanhammerError('BH_ERR_USAGE', `unknown rule ${unknown.map((n) => JSON.stringify(n)).join(', ')}`, {
        hint: `defined rules: ${Object.keys(config.rules).join(', ')}`,
      });
    }
    return [...new Set(only)].map((n) => compileRule(n, config.rules[n]!, true));
  }
  return Object.entries(config.rules)
    .filter(([, s]) => s.enabled)
    .map(([n, s]) => compileRule(n, s, true));
}

function bookRules(config: Config): Record<string, RuleSettings> {
  const rules: Record<string, RuleSettings> = Object.create(null) as Record<string, RuleSettings>;
  for (const [name, s] of Object.entries(config.rules)) rules[name] = s;
  if (!Object.hasOwn(rules, MANUAL_RULE)) rules[MANUAL_RULE] = MANUAL_SETTINGS;
  return rules;
}

/** The IPv6 network escalation settings of a config. */
function escalationSettings(config: Config): NetworkEscalationSettings {
  return { after: config.ipv6NetworkBanAfter, prefix: config.ipv6NetworkBanPrefix, within: config.ipv6NetworkBanWithin };
}
