/**
 * A syslog line several containers may have written counts in each of their scopes (review H22). A
 * tenant chooses how many such containers there are (one per container whose tag template cannot be
 * rendered), so the line is matched once, whatever the number of scopes: only the counting is per
 * scope, and each scope's count is as if the line had been seen there alone.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Detector } from '../../../src/detect/detector.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { compileRule, type RuleSettings } from '../../../src/detect/rule.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import type { Offense } from '../../../src/detect/offense.js';

const rule: RuleSettings = {
  enabled: true, description: '', match: { status: [403], paths: [], methods: [] },
  maxretry: 3, findtime: 60_000, bantime: 60_000, increment: null,
};
const ev = (t: number): AccessEvent => ({ ip: '198.18.9.9', family: 4, time: t, status: 403, path: '/x', method: 'GET' });
const A = 'a1'.repeat(32);
const B = '3f'.repeat(32);

afterEach(() => vi.restoreAllMocks());

describe('an event counted in a list of scopes', () => {
  it('is matched once, counted in each scope, and bans in each as it would alone', () => {
    const match = vi.spyOn(RuleMatcher.prototype, 'match');
    const d = new Detector([compileRule('forbidden', rule)], { maxTracked: 100 });
    const out: Offense[] = [];
    for (let i = 0; i < 3; i++) d.observe(ev(i * 1000), (o) => out.push(o), undefined, [A, B, undefined]);
    expect(match).toHaveBeenCalledTimes(3);
    expect(out.map((o) => o.scope).sort()).toEqual([A, B, undefined].sort());
    expect(out.every((o) => o.failures === 3 && o.ip === '198.18.9.9')).toBe(true);
    expect(d.counters('forbidden')!.matches).toBe(9);
  });

  it('an empty list counts nowhere', () => {
    const d = new Detector([compileRule('forbidden', rule)], { maxTracked: 100 });
    const out: Offense[] = [];
    for (let i = 0; i < 5; i++) d.observe(ev(i * 1000), (o) => out.push(o), undefined, []);
    expect(out).toEqual([]);
    expect(d.tracked('forbidden')).toBe(0);
  });
});
