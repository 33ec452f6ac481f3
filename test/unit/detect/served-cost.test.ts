/**
 * The spellings a path is tested in stay few on hostile 32 KiB targets: a fragment adds the written
 * form as it is, not a second set of every spelling (which doubled a hostile line's cost), and the
 * helpers that make the served spelling are linear.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../src/detect/presets.js';
import { compileRule, MatchView, servedPath, withoutDotSegments } from '../../../src/detect/rule.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import { cpuMs } from '../../support/cpu-time.js';

const rules = Object.keys(PRESETS).map((n) => compileRule(n, PRESETS[n]!));
const ev = (path: string): AccessEvent => ({ ip: '198.18.0.1', family: 4, time: 0, method: 'GET', path, status: 404 });
const fill = (unit: string, n = 32_700) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);

function perLine(path: string, rounds = 20): { ms: number; variants: number; total: number } {
  const m = new RuleMatcher(rules);
  const v = new MatchView();
  v.reset(ev(path));
  const vars = v.pathVariants();
  // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
  const ms = cpuMs(() => {
    for (let i = 0; i < rounds; i++) m.match(ev(path + (i % 2 === 0 ? '' : 'z'))); // defeat per-target memo
  });
  return { ms: ms / rounds, variants: vars.length, total: vars.reduce((n, s) => n + s.length, 0) };
}

describe('cost of served spellings', () => {
  it('helpers are linear on 32 KiB hostile input', () => {
    for (const s of [fill('/./'), fill('#'), fill('/..'), fill('a'), 'http://' + fill('a'), fill('/.;/'), fill('./')]) {
      const ms = cpuMs(() => {
        for (let i = 0; i < 20; i++) { servedPath(s); withoutDotSegments(s); }
      }) / 20;
      expect(ms).toBeLessThan(200); // linear: about 1 ms; a backtracking pattern would take seconds
    }
  });

  it('per line through every preset', () => {
    const cases: Record<string, string> = {
      baseline_percent: '/' + fill('a%41'),
      dots: fill('/./'),
      hashes: '/' + fill('#'),
      worst: '/' + fill('a%252e%252e/.;x\\./') + '#' + 'b'.repeat(4),
      worst_no_hash: '/' + fill('a%252e%252e/.;x\\./') + 'b'.repeat(5),
    };
    const out: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(cases)) out[k] = perLine(p);
    // With every spelling of both the written and the served path, a one-character fragment made
    // 30 spellings of such a line instead of 15 (~31 ms instead of ~11 through every preset).
    const withHash = out.worst as { variants: number };
    const without = out.worst_no_hash as { variants: number };
    expect(withHash.variants).toBeLessThanOrEqual(without.variants + 1);
  });
});
