/**
 * The match half of the detect stage: which of the rules count an event. The shared prefilter
 * (prefilter.ts) rejects most events with one status lookup, offers the rest only to the rules that
 * may count their status, and each of those passes its literal gate before its full match runs over
 * a view of the event prepared once for all rules (rule.ts).
 *
 * The live Detector matches and counts on one thread; a parallel replay matches on its parse threads
 * (replay/scan-span.ts) and counts on the main thread, in log order: the same class decides in both.
 */
import type { AccessEvent } from '../parse/access-event.js';
import { MatchView, type CompiledRule } from './rule.js';
import { Prefilter } from './prefilter.js';

export class RuleMatcher {
  /** The indices of the rules the last event matched, in rule order: matched[0 .. match()'s answer). */
  readonly matched: Int32Array;
  private readonly prefilter: Prefilter;
  /** The event as every rule sees it, prepared once per event. */
  private readonly view: MatchView;

  /** `pathSeed`: the seed of pathHash() (default: this process's; a replay's threads share the main thread's). */
  constructor(readonly rules: readonly CompiledRule[], pathSeed?: number) {
    this.view = new MatchView(pathSeed);
    this.prefilter = new Prefilter(rules);
    this.matched = new Int32Array(rules.length);
  }

  /** Matches one event; returns how many rules count it (their indices in `matched`). */
  match(ev: AccessEvent): number {
    const view = this.view;
    view.reset(ev);
    const prefilter = this.prefilter;
    const pass = prefilter.pass(ev, view);
    if (pass === 0) return 0;
    const candidates = prefilter.candidates(ev.status);
    const rules = this.rules;
    let n = 0;
    for (let c = 0; c < candidates.length; c++) {
      const i = candidates[c]!;
      if (prefilter.mayMatch(i, pass) && rules[i]!.matchesView(view)) this.matched[n++] = i;
    }
    return n;
  }

  /** The 32-bit hash of the last matched event's path, without its query (count: distinct-paths). */
  pathHash(): number {
    return this.view.pathHash();
  }
}
