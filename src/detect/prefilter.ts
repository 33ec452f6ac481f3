/**
 * The shared prefilter: one cheap test per event, before any per-rule work, that rejects the events no
 * enabled rule can match, and per rule a cheaper necessary condition than its full match.
 *
 * Each rule's match implies some status codes (its own `status`, or every branch of an any_of having
 * one): the union over the rules is one table lookup per event. An event whose status no rule can
 * count goes no further, which with the default rules (403 only) is nearly every line.
 */
import type { AccessEvent } from '../parse/access-event.js';
import { MatchView, type CompiledRule, type RuleMatch } from './rule.js';

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

export class Prefilter {
  /** Statuses some rule may count (1), or null when some rule counts any status. */
  private readonly any: Uint8Array | null;
  /** Per rule: its statuses, or null for any. */
  private readonly perRule: (Uint8Array | null)[];

  constructor(rules: readonly CompiledRule[]) {
    this.perRule = rules.map((r) => {
      const s = necessaryStatus(r.settings.match);
      if (s === null) return null;
      const t = new Uint8Array(1000);
      for (const x of s) if (x >= 0 && x < 1000) t[x] = 1;
      return t;
    });
    if (this.perRule.some((t) => t === null) || rules.length === 0) {
      this.any = rules.length === 0 ? new Uint8Array(1000) : null;
    } else {
      const u = new Uint8Array(1000);
      for (const t of this.perRule) for (let i = 0; i < 1000; i++) u[i] = u[i]! | t![i]!;
      this.any = u;
    }
  }

  /** 0 when no rule can match `ev`; otherwise a token for mayMatch. */
  pass(ev: AccessEvent): number {
    const st = ev.status;
    if (this.any !== null && this.any[st] !== 1) return 0;
    this.status = st;
    return 1;
  }

  private status = 0;

  /** Can rule `i` match the event last passed? (A necessary condition: the full match decides.) */
  mayMatch(i: number, _pass: number): boolean {
    const t = this.perRule[i]!;
    return t === null || t[this.status] === 1;
  }
}

/** Does any of these rules match an event? (Replay's parse threads keep only such events.) */
export class AnyRuleMatcher {
  private readonly prefilter: Prefilter;
  private readonly view = new MatchView();

  constructor(private readonly rules: readonly CompiledRule[]) {
    this.prefilter = new Prefilter(rules);
  }

  test(ev: AccessEvent): boolean {
    const pass = this.prefilter.pass(ev);
    if (pass === 0) return false;
    this.view.reset(ev);
    for (let i = 0; i < this.rules.length; i++) if (this.prefilter.mayMatch(i, pass) && this.rules[i]!.matchesView(this.view)) return true;
    return false;
  }
}
