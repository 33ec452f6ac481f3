/**
 * The detect stage: AccessEvent in, Offense out.
 *
 * Each enabled rule tests every event; a matching event is a failure of its address under that rule
 * and goes into the rule's sliding window. When an address reaches `maxretry` failures within
 * `findtime` (log time), the detector emits an Offense and empties that address's window.
 *
 * Two callbacks keep policy out of this module: `isExempt(ip)` (allowlist: exempt addresses never
 * accumulate failures) and `isBanned(ip, rule, t)` (an address already banned by a rule does not
 * count against it again while the ban lasts: with a firewall in front it would not have reached us,
 * and behind a proxy its rejected requests must not extend its own ban).
 */
import type { AccessEvent } from '../parse/access-event.js';
import type { CompiledRule, RuleSettings } from './rule.js';
import type { Offense } from './offense.js';
import { MAX_LATE_MS, SlidingWindows } from './sliding-window.js';
import { DistinctWindows } from './distinct-window.js';
import { RuleMatcher } from './rule-matcher.js';
import { parseScopedKey, scopedKey } from '../decide/scoped-key.js';

/** How far replay's stand-in clock may run ahead of the event being counted (twice MAX_LATE_MS). */
const REPLAY_CLOCK_LEAD_MS = 2 * MAX_LATE_MS;

/** What counting a failure needs of an event. */
export type FailureEvent = Pick<AccessEvent, 'ip' | 'family' | 'time' | 'origin'>;

export interface DetectorOptions {
  maxTracked: number;
  isExempt?: (ip: string) => boolean;
  /** `scope`: the container the event's failures count for (host mode), undefined for host-wide. */
  isBanned?: (ip: string, rule: string, t: number, scope?: string) => boolean;
  /**
   * Every failure counted into a window (the share stage counts it group-wide too), with what the
   * window holds once it is in (its count, plus failures stamped ahead of this one that it keeps but
   * does not count yet: at least the count, and one more per failure at most); called before the
   * offense it may make.
   */
  onFailure?: (ev: FailureEvent, rule: CompiledRule, scope: string | undefined, count: number) => void;
}

export interface RuleCounters {
  /** Events that matched the rule (including exempt and already-banned addresses). */
  matches: number;
  /** Failures counted into windows (fail2ban's "total failed"). */
  failures: number;
  offenses: number;
  evictions: number;
}

interface RuleState {
  readonly rule: CompiledRule;
  /** `count: failures` rules count every matching request… */
  readonly windows: SlidingWindows | null;
  /** …`count: distinct-paths` rules the distinct paths. */
  readonly distinct: DistinctWindows | null;
  readonly counters: RuleCounters;
}

export class Detector {
  private states: RuleState[];
  private matcher: RuleMatcher;
  private maxTracked: number;
  private readonly isExempt: (ip: string) => boolean;
  private readonly isBanned: (ip: string, rule: string, t: number, scope?: string) => boolean;
  private readonly onFailure: DetectorOptions['onFailure'];
  /**
   * Replay (no clock given): what stands for the clock when a window decides what is from the
   * future: the newest event time read so far, held at most REPLAY_CLOCK_LEAD_MS ahead of the event
   * being counted. Lines logged minutes late (Apache writes a slow request, stamped when it began,
   * when it ends), one or several in a row, then keep their address's newer failures, as the live
   * agent does, where measured from a late line alone they were dropped as from a forged clock; a
   * line stamped far ahead moves it REPLAY_CLOCK_LEAD_MS at most, and still goes as from the future.
   */
  private lastTime: number | undefined;

  constructor(rules: readonly CompiledRule[], opts: DetectorOptions) {
    this.maxTracked = opts.maxTracked;
    this.states = rules.map((rule) => freshState(rule, opts.maxTracked));
    this.matcher = new RuleMatcher(rules);
    this.isExempt = opts.isExempt ?? (() => false);
    this.isBanned = opts.isBanned ?? (() => false);
    this.onFailure = opts.onFailure;
  }

  /**
   * Feeds one event; calls `emit` for each rule whose threshold the event crosses. The live agent
   * passes `now` (wall clock): an event already older than a rule's findtime then never counts for
   * it, so lines read late after a restart cannot trigger a ban. Replay passes nothing.
   * `scope` (host mode: a container id) counts the address's failures separately per scope; a list
   * counts the event in each of its scopes (a syslog tag several containers may write), matched once.
   */
  observe(ev: AccessEvent, emit: (o: Offense) => void, now?: number, scope?: string | readonly (string | undefined)[]): void {
    // One shared test first: most lines no enabled rule can match never reach per-rule work.
    const m = this.matcher;
    const n = m.match(ev);
    if (n === 0) return;
    if (typeof scope !== 'object') return this.countMatched(ev, m.matched, n, -1, emit, now, scope);
    for (const s of scope) this.countMatched(ev, m.matched, n, -1, emit, now, s);
  }

  /**
   * The count half of observe(): a failure of `ev`'s address under each of the rules `rules[0 .. n)`
   * (indices in rule order, as RuleMatcher gives them). `pathHash`: the path's hash when matched
   * elsewhere (a replay's parse thread), or -1 for this detector's own last matched event.
   * `exempt`: whether the address is allowlisted, when the caller already knows.
   */
  countMatched(ev: FailureEvent, rules: ArrayLike<number>, n: number, pathHash: number, emit: (o: Offense) => void, now?: number, scope?: string, exempt?: boolean): void {
    const states = this.states;
    let key: string | undefined;
    let hash = pathHash;
    let clock = now;
    if (clock === undefined) {
      // Replay's stand-in for the clock: the newest time read lately, never more than
      // REPLAY_CLOCK_LEAD ahead of this event (a line stamped far ahead moves it that far at most).
      const t = ev.time;
      const prev = this.lastTime;
      clock = prev === undefined ? t : Math.max(t, Math.min(prev, t + REPLAY_CLOCK_LEAD_MS));
      this.lastTime = clock;
    }
    for (let k = 0; k < n; k++) {
      const s = states[rules[k]!]!;
      s.counters.matches++;
      const name = s.rule.name;
      if (now !== undefined && ev.time <= now - s.rule.settings.findtime) continue;
      // Allowlisted or not is the same for every rule: asked once per event, when a rule first counts it.
      exempt ??= this.isExempt(ev.ip);
      if (exempt || this.isBanned(ev.ip, name, ev.time, scope)) continue;
      s.counters.failures++;
      key ??= scopedKey(ev.ip, scope);
      let c: number;
      if (s.distinct !== null) {
        if (hash < 0) hash = this.matcher.pathHash();
        c = s.distinct.record(key, ev.time, hash, clock);
        // The group (share stage) counts requests: only a path new to this window is one for it, so
        // a replica group counts distinct paths too (the same path on two replicas counts twice).
        if (s.distinct.added) this.onFailure?.(ev, s.rule, scope, s.distinct.held);
      } else {
        c = s.windows!.record(key, ev.time, clock);
        this.onFailure?.(ev, s.rule, scope, s.windows!.held);
      }
      if (c >= s.rule.settings.maxretry) {
        s.distinct?.reset(key);
        s.windows?.reset(key);
        s.counters.offenses++;
        emit({ ip: ev.ip, family: ev.family, rule: name, at: ev.time, failures: c, origin: ev.origin, scope });
      }
    }
  }

  /**
   * Reload: the new rule list. A rule whose name and counting (countingKey) are unchanged keeps its windows and
   * counters (under a new maxTracked too: beyond a lower cap its least recently failing addresses go,
   * counted as evictions); a new or changed rule starts fresh. Returns the names of the rules whose
   * windows were let go (restarted or no longer run), so that what was kept of their failures
   * (evidence) goes with them.
   */
  reconfigure(rules: readonly CompiledRule[], maxTracked: number): Set<string> {
    const old = new Map(this.states.map((s) => [s.rule.name, s]));
    const newCap = maxTracked !== this.maxTracked;
    this.maxTracked = maxTracked;
    const dropped = new Set(old.keys());
    this.states = rules.map((rule) => {
      const prev = old.get(rule.name);
      if (prev !== undefined && countingKey(prev.rule.settings) === countingKey(rule.settings)) {
        dropped.delete(rule.name);
        if (newCap) (prev.windows ?? prev.distinct)!.setMaxTracked(maxTracked);
        return { ...prev, rule };
      }
      return freshState(rule, maxTracked);
    });
    this.matcher = new RuleMatcher(rules);
    return dropped;
  }

  /**
   * Drops stale windows (the live agent calls this periodically with wall-clock time): those no line
   * the agent may still count can count with. observe() counts a line stamped up to a findtime before
   * `now` (a slow request Apache logs when it ends, stamped when it began), and that line's window
   * reaches a findtime further back: a window is stale once its newest failure is two findtimes old.
   * Dropped at one findtime, a late line read after the sweep counted alone where, read before it (or
   * replayed), it made a ban with the failures before it (review H48).
   */
  sweep(now: number): void {
    for (const s of this.states) (s.windows ?? s.distinct)!.sweep(now - s.rule.settings.findtime);
  }

  /** Forgets an address's failures (in one scope) under a rule, or under every rule. */
  reset(ip: string, rule?: string, scope?: string): void {
    const key = scopedKey(ip, scope);
    for (const s of this.states) if (rule === undefined || s.rule.name === rule) (s.windows ?? s.distinct)!.reset(key);
  }

  /**
   * Forgets, under every rule, the failures of the addresses for which `exempt(ip)` holds (a reload
   * or the host's addresses read again allowlisted them: they are never banned, so they are not
   * failing either, and an allowlist entry removed later counts them afresh, as after a lifted ban).
   * Returns the address and scope of each window let go, once.
   */
  forgetExempt(exempt: (ip: string) => boolean): { ip: string; scope: string | undefined }[] {
    const seen = new Set<string>();
    const drop = (key: string): boolean => exempt(parseScopedKey(key).ip);
    for (const s of this.states) for (const key of (s.windows ?? s.distinct)!.forgetWhere(drop)) seen.add(key);
    return [...seen].map(parseScopedKey);
  }

  counters(rule: string): Readonly<RuleCounters> | undefined {
    const s = this.states.find((x) => x.rule.name === rule);
    if (!s) return undefined;
    return { ...s.counters, evictions: (s.windows ?? s.distinct)!.evictions };
  }

  /** Addresses with failures inside the window as of `now`, per rule. */
  currentlyFailed(rule: string, now: number): number {
    const s = this.states.find((x) => x.rule.name === rule);
    return s === undefined ? 0 : (s.windows ?? s.distinct)!.active(now);
  }

  /** Addresses held in a rule's windows (bounded by maxTracked). */
  tracked(rule: string): number {
    const s = this.states.find((x) => x.rule.name === rule);
    return s === undefined ? 0 : (s.windows ?? s.distinct)!.size;
  }

  get ruleNames(): string[] {
    return this.states.map((s) => s.rule.name);
  }
}

/**
 * What a rule's windows and counters depend on: what it matches, what it counts, over how long and up
 * to how many. A reload that changes only what a ban does (bantime, increment) or says (description,
 * references) keeps them: otherwise lengthening a bantime handed every address a fresh budget of
 * failures, an attacker half-way to a ban included.
 */
function countingKey(s: RuleSettings): string {
  return JSON.stringify([s.match, s.maxretry, s.findtime, s.count ?? 'failures']);
}

function freshState(rule: CompiledRule, maxTracked: number): RuleState {
  const distinct = rule.settings.count === 'distinct-paths';
  return {
    rule,
    windows: distinct ? null : new SlidingWindows(rule.settings.findtime, maxTracked),
    distinct: distinct ? new DistinctWindows(rule.settings.findtime, maxTracked, rule.settings.maxretry) : null,
    counters: { matches: 0, failures: 0, offenses: 0, evictions: 0 },
  };
}
