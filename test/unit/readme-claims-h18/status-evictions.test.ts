/**
 * README (Rules): "each rule tracks at most `max_tracked` addresses and evicts the least recently
 * failing one (evictions are counted and shown)". `banhammer replay` showed them; the live agent
 * counted them (Detector.counters().evictions) but `banhammer status` did not show them, so an
 * operator whose agent was being flooded with addresses (which pushes a real attacker's half-full
 * window out before it reaches maxretry) had no way to see that max_tracked was reached.
 *
 * A real Detector at its cap, through the real status builder, the CLI's answer check and the text
 * formatter: `evicted` per rule in `status --json` and an `Evicted` line in the text, only when the
 * rule evicted something (the report of a rule that never reached its cap keeps its shape).
 */
import { describe, expect, it } from 'vitest';
import { Detector } from '../../../src/detect/detector.js';
import { compileRule, type RuleSettings } from '../../../src/detect/rule.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import { buildStatusReport, type StatusSources } from '../../../src/control/status-report.js';
import { formatStatus } from '../../../src/control/format-status.js';
import { resultFits } from '../../../src/control/result-check.js';

const S = 1000;
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const rule: RuleSettings = {
  enabled: true, description: '', match: { status: [403], paths: [], methods: [] },
  count: 'failures', maxretry: 5, findtime: 600 * S, bantime: 3600 * S, increment: null,
};
const ev = (ip: string, t: number): AccessEvent => ({ ip, family: 4, time: t, status: 403, path: '/x', method: 'GET' });

function sources(detector: Detector): StatusSources {
  return {
    instance: 'web1',
    enforcer: 'iptables',
    startedAt: NOW - 60_000,
    now: NOW,
    positions: [{ path: '/var/log/a.log' }],
    lagBytes: 0,
    detector,
    book: { active: () => [], totalBanned: () => 0 } as never,
    rules: { forbidden: rule, quiet: rule },
    health: { stateError: null, enforceFailing: 0, refused: 0, repairs: 0, skewedLines: 0 },
  };
}

describe('status shows the evictions of a rule at its max_tracked', () => {
  it('evicted in --json and in the text, for the rule that evicted only', () => {
    const d = new Detector([compileRule('forbidden', rule), compileRule('quiet', rule)], { maxTracked: 4 });
    // Twelve addresses, two failures each, interleaved: at most 4 are tracked, the rest evicted.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 12; i++) d.observe(ev(`198.18.0.${i + 1}`, NOW - 100 * S + round * 20 * S + i * S), () => {});
    }
    const evictions = d.counters('forbidden')!.evictions;
    expect(evictions).toBeGreaterThan(0);

    const report = buildStatusReport(sources(d));
    const forbidden = report.rules.find((r) => r.name === 'forbidden')! as unknown as Record<string, unknown>;
    expect(forbidden.evicted).toBe(evictions);
    expect(resultFits('status', report)).toBe(true);

    const text = formatStatus(report, 'forbidden');
    expect(text).toContain(`Evicted:\t${evictions}`);
    expect(text).toMatch(/max_tracked/);
  });

  it('a rule that never reached its cap shows no evicted field and no line', () => {
    const d = new Detector([compileRule('forbidden', rule), compileRule('quiet', rule)], { maxTracked: 100 });
    for (let i = 0; i < 12; i++) d.observe(ev(`198.18.0.${i + 1}`, NOW - 10 * S), () => {});
    const report = buildStatusReport(sources(d));
    for (const r of report.rules) expect(Object.keys(r)).not.toContain('evicted');
    expect(formatStatus(report, 'forbidden')).not.toMatch(/Evicted/);
  });

  it('the CLI refuses an evicted that is not a count (a malformed answer), and takes one without it', () => {
    const report = buildStatusReport(sources(new Detector([compileRule('forbidden', rule)], { maxTracked: 4 })));
    expect(resultFits('status', report)).toBe(true);
    const bad = { ...report, rules: report.rules.map((r) => ({ ...r, evicted: 'lots' })) };
    expect(resultFits('status', bad)).toBe(false);
  });
});
