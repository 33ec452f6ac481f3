/**
 * buildStatusReport's `brief` option (issue 10, leftover 5): the report without its ban lists,
 * built without them (the daemon passes the control request's `brief`), every count as in the whole
 * report; the whole report keeps its documented shape and key order.
 */
import { describe, expect, it } from 'vitest';
import { buildStatusReport, type StatusSources } from '../../../src/control/status-report.js';

const NOW = Date.UTC(2026, 11, 5, 11, 0, 0);
const bans = Array.from({ length: 500 }, (_, i) => ({ ip: `198.18.${i >> 8}.${i & 255}`, rule: i % 5 === 0 ? 'manual' : 'forbidden', at: NOW - 1000, until: i % 2 === 0 ? null : NOW + 3600_000, nth: 1, ...(i % 7 === 0 ? { evidence: [{ at: NOW, line: 'x' }] } : {}) }));

function sources(): StatusSources {
  return {
    instance: 'web1',
    enforcer: 'iptables',
    startedAt: NOW - 60_000,
    now: NOW,
    positions: [{ path: '/var/log/a.log' }],
    lagBytes: 0,
    detector: { ruleNames: ['forbidden', 'not-found'], counters: (n: string) => ({ failures: n === 'forbidden' ? 1234 : 0 }), currentlyFailed: (n: string) => (n === 'forbidden' ? 9 : 0) } as never,
    book: { active: () => bans, totalBanned: (n: string) => bans.filter((b) => b.rule === n).length + 1 } as never,
    rules: { forbidden: { enabled: true }, 'not-found': { enabled: false } } as never,
    health: { stateError: null, enforceFailing: 0, refused: 0, repairs: 0, skewedLines: 0 },
  };
}

describe('buildStatusReport brief', () => {
  it('the same counts and health, no ban lists, marked brief', () => {
    const full = buildStatusReport(sources());
    const brief = buildStatusReport(sources(), undefined, { brief: true });
    expect(full.brief).toBeUndefined();
    expect(brief.brief).toBe(true);
    expect(brief.health).toEqual(full.health);
    expect(brief.rules.map((r) => r.name)).toEqual(['forbidden', 'not-found', 'manual']);
    expect(brief.rules).toEqual(full.rules.map(({ bans: _b, ...r }) => ({ ...r, bannedIps: [] })));
    expect(full.rules[0]!.bannedIps).toHaveLength(400);
    expect(full.rules[0]!.bans).toHaveLength(400);
    expect(JSON.stringify(brief).length).toBeLessThan(JSON.stringify(full).length / 20);
    // The documented shape of status --json, in its order.
    expect(Object.keys(full.rules[0]!)).toEqual(['name', 'enabled', 'currentlyFailed', 'totalFailed', 'currentlyBanned', 'totalBanned', 'bannedIps', 'withEvidence', 'bans']);
    expect(Object.keys(full)).toEqual(['instance', 'enforcer', 'since', 'files', 'health', 'rules']);
  });

  it('with a rule: that rule only, brief', () => {
    const r = buildStatusReport(sources(), 'manual', { brief: true });
    expect(r.rules).toEqual([{ name: 'manual', enabled: true, currentlyFailed: 0, totalFailed: 0, currentlyBanned: 100, totalBanned: 101, bannedIps: [], withEvidence: 15 }]);
  });
});
