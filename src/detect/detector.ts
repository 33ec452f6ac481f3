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
import { MatchView, type CompiledRule } from './rule.js';
import type { Offense } from './offense.js';
import { SlidingWindows } from './sliding-window.js';
import { DistinctWindows, hashPath } from './distinct-window.js';
import { Prefilter } from './prefilter.js';
import { scopedKey } from '../decide/scoped-key.js';

export interface DetectorOptions {
  maxTracked: number;
  isExempt?: (ip: string) => boolean;
  /** `scope`: the container the event's failures count for (host mode), undefined for host-wide. */
  isBanned?: (ip: string, rule: string, t: number, scope?: string) => boolean;
  /**
   * Every failure counted into a window (the share stage counts it group-wide too), with the window's
   * count once it is in; called before the offense it may make.
   */
  onFailure?: (ev: AccessEvent, rule: CompiledRule, scope: string | undefined, count: number) => void;
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
  private prefilter: Prefilter;
  /** The event as every rule sees it, prepared once per event (rule.ts). */
  private readonly view = new MatchView();
  private maxTracked: number;
  private readonly isExempt: (ip: string) => boolean;
  private readonly isBanned: (ip: string, rule: string, t: number, scope?: string) => boolean;
  private readonly onFailure: DetectorOptions['onFailure'];

  constructor(rules: readonly CompiledRule[], opts: DetectorOptions) {
    this.maxTracked = opts.maxTracked;
    this.states = rules.map((rule) => freshState(rule, opts.maxTracked));
    this.prefilter = new Prefilter(rules);
    this.isExempt = opts.isExempt ?? (() => false);
    this.isBanned = opts.isBanned ?? (() => false);
    this.onFailure = opts.onFailure;
  }

  /**
   * Feeds one event; calls `emit` for each rule whose threshold the event crosses. The live agent
   * passes `now` (wall clock): an event already older than a rule's findtime then never counts for
   * it, so lines read late after a restart cannot trigger a ban. Replay passes nothing.
   * `scope` (host mode: a container id) counts the address's failures separately per scope.
   */
  observe(ev: AccessEvent, emit: (o: Offense) => void, now?: number, scope?: string): void {
    // One shared test first: most lines no enabled rule can match never reach per-rule work.
    const view = this.view;
    view.reset(ev);
    const pass = this.prefilter.pass(ev, view);
    if (pass === 0) return;
    const states = this.states;
    const candidates = this.prefilter.candidates(ev.status);
    let key: string | undefined;
    let exempt: boolean | undefined;
    for (let c = 0; c < candidates.length; c++) {
      const i = candidates[c]!;
      const s = states[i]!;
      if (!this.prefilter.mayMatch(i, pass) || !s.rule.matchesView(view)) continue;
      s.counters.matches++;
      const name = s.rule.name;
      if (now !== undefined && ev.time <= now - s.rule.settings.findtime) continue;
      // Allowlisted or not is the same for every rule: asked once per event, when a rule first counts it.
      exempt ??= this.isExempt(ev.ip);
      if (exempt || this.isBanned(ev.ip, name, ev.time, scope)) continue;
      s.counters.failures++;
      key ??= scopedKey(ev.ip, scope);
      let n: number;
      if (s.distinct !== null) {
        n = s.distinct.record(key, ev.time, hashPath(view.wholeTarget(), view.pathEnd()));
        // The group (share stage) counts requests: only a path new to this window is one for it, so
        // a replica group counts distinct paths too (the same path on two replicas counts twice).
        if (s.distinct.added) this.onFailure?.(ev, s.rule, scope, n);
      } else {
        n = s.windows!.record(key, ev.time);
        this.onFailure?.(ev, s.rule, scope, n);
      }
      if (n >= s.rule.settings.maxretry) {
        s.distinct?.reset(key);
        s.windows?.reset(key);
        s.counters.offenses++;
        emit({ ip: ev.ip, family: ev.family, rule: name, at: ev.time, failures: n, origin: ev.origin, scope });
      }
    }
  }

  /**
   * Reload: the new rule list. A rule whose name and settings are unchanged keeps its windows and
   * counters; a new or changed rule (or any rule, when maxTracked changed) starts fresh.
   */
  reconfigure(rules: readonly CompiledRule[], maxTracked: number): void {
    const old = new Map(this.states.map((s) => [s.rule.name, s]));
    const sameCap = maxTracked === this.maxTracked;
    this.maxTracked = maxTracked;
    this.states = rules.map((rule) => {
      const prev = old.get(rule.name);
      if (sameCap && prev !== undefined && JSON.stringify(prev.rule.settings) === JSON.stringify(rule.settings)) return { ...prev, rule };
      return freshState(rule, maxTracked);
    });
    this.prefilter = new Prefilter(rules);
  }

  /** Drops stale windows (the live agent calls this periodically with wall-clock time). */
  sweep(now: number): void {
    for (const s of this.states) (s.windows ?? s.distinct)!.sweep(now);
  }

  /** Forgets an address's failures (in one scope) under a rule, or under every rule. */
  reset(ip: string, rule?: string, scope?: string): void {
    const key = scopedKey(ip, scope);
    for (const s of this.states) if (rule === undefined || s.rule.name === rule) (s.windows ?? s.distinct)!.reset(key);
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

function freshState(rule: CompiledRule, maxTracked: number): RuleState {
  const distinct = rule.settings.count === 'distinct-paths';
  return {
    rule,
    windows: distinct ? null : new SlidingWindows(rule.settings.findtime, maxTracked),
    distinct: distinct ? new DistinctWindows(rule.settings.findtime, maxTracked, rule.settings.maxretry) : null,
    counters: { matches: 0, failures: 0, offenses: 0, evictions: 0 },
  };
}
