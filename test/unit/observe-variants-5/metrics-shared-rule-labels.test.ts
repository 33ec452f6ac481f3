/**
 * Round 5 (issue 14, metrics cardinality): rule names reach the `rule` label from this agent's
 * configuration and from bans shared by other replicas through Redis (any name SHARED_RULE_RE
 * allows). Distinct values are capped (MAX_LABEL_VALUES, later ones counted under "other"), so a
 * group whose replicas run other rules, or anyone who can write to the shared Redis, bounded the
 * series count, but filled the cap first: a rule a reload then switched on for this agent was
 * counted under "other", its bans and matches lost from every per-rule panel and alert. Rules of
 * the configuration always have their own series; shared names stay capped.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics, MAX_LABEL_VALUES, OVERFLOW_LABEL } from '../../../src/metrics/registry.js';

const value = (text: string, series: string): number | undefined => {
  for (const l of text.split('\n')) if (l.startsWith(`${series} `)) return Number(l.slice(series.length + 1));
  return undefined;
};

describe('the rule label when shared bans bring many rule names', () => {
  it('a rule switched on by a reload after the cap was reached has its own series; shared names beyond the cap are "other"', async () => {
    const m = createMetrics({ rules: ['forbidden'] });
    for (let i = 0; i < MAX_LABEL_VALUES + 20; i++) m.banned(`remote-${i}`);
    m.declareRule('added-by-reload');
    m.banned('added-by-reload', 3);
    m.ruleMatches('added-by-reload', 7);
    m.unbanned('added-by-reload', 'expired', 2);
    m.banned('forbidden');
    const text = await m.render();
    expect(value(text, 'banhammer_bans_total{rule="added-by-reload"}')).toBe(3);
    expect(value(text, 'banhammer_rule_matches_total{rule="added-by-reload"}')).toBe(7);
    expect(value(text, 'banhammer_unbans_total{rule="added-by-reload",reason="expired"}')).toBe(2);
    expect(value(text, 'banhammer_bans_total{rule="forbidden"}')).toBe(1);
    // Still bounded: the shared names past the cap share one series.
    const bansSeries = text.split('\n').filter((l) => l.startsWith('banhammer_bans_total{'));
    expect(bansSeries.length).toBeLessThanOrEqual(MAX_LABEL_VALUES + 3);
    expect(value(text, `banhammer_bans_total{rule="${OVERFLOW_LABEL}"}`)).toBeGreaterThan(0);
    // Every shared ban is counted somewhere: nothing lost.
    const total = bansSeries.reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    expect(total).toBe(MAX_LABEL_VALUES + 20 + 3 + 1);
  });
});
