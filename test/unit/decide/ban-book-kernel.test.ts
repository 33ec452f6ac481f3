/**
 * The ban book owns what the enforcer must hold (issue 10): every change comes out of changes() as a
 * diff of effective expiries per (address, scope), and hostile input never reaches it (issue 9).
 */
import { describe, expect, it } from 'vitest';
import { BanBook, MAX_BAN_MS } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import type { Offense } from '../../../src/detect/offense.js';

const H = 3600_000;
const offense = (ip: string, at: number, rule = 'forbidden', scope?: string): Offense => ({ ip, family: ip.includes(':') ? 6 : 4, rule, at, failures: 5, scope });
const book = (allow: string[] = []) => new BanBook({ ...PRESETS }, new Allowlist(allow));

describe('BanBook kernel view', () => {
  it('one entry per address and scope with the latest expiry over its rules; shrinks and lifts as bans go', () => {
    const b = book();
    b.consider(offense('198.18.0.1', 0));
    b.consider(offense('198.18.0.1', 0, 'sensitive-paths'));
    expect(b.changes(0)).toEqual({ ban: [{ ip: '198.18.0.1', family: 4, until: 24 * H }], unban: [] });
    expect(b.changes(0)).toEqual({ ban: [], unban: [] });
    b.unban('198.18.0.1', 'sensitive-paths');
    expect(b.changes(1)).toEqual({ ban: [{ ip: '198.18.0.1', family: 4, until: H }], unban: [] });
    b.expire(H);
    expect(b.changes(H)).toEqual({ ban: [], unban: [{ ip: '198.18.0.1', family: 4 }] });
  });

  it('a permanent manual ban dominates; an unban in one scope leaves the others', () => {
    const b = book();
    b.consider(offense('198.18.0.2', 0, 'forbidden', 'X'));
    b.consider(offense('198.18.0.2', 0, 'forbidden', 'Y'));
    b.banManually('198.18.0.2', { durationMs: null, now: 0, scope: 'X' });
    expect(b.changes(0).ban).toEqual([
      { ip: '198.18.0.2', family: 4, until: null, scope: 'X' },
      { ip: '198.18.0.2', family: 4, until: H, scope: 'Y' },
    ]);
    b.unban('198.18.0.2', undefined, 'X');
    expect(b.changes(1)).toEqual({ ban: [], unban: [{ ip: '198.18.0.2', family: 4, scope: 'X' }] });
    expect(b.expected(1)).toEqual([{ ip: '198.18.0.2', family: 4, until: H, scope: 'Y' }]);
  });

  it('heldCounts() follows what the enforcer was told, per family, without a scan', () => {
    const b = book();
    b.consider(offense('198.18.0.31', 0));
    b.consider(offense('198.18.0.31', 0, 'sensitive-paths'));
    b.consider({ ...offense('2001:db8::31', 0), family: 6 });
    expect(b.heldCounts()).toEqual({ v4: 0, v6: 0 });
    b.changes(0);
    expect(b.heldCounts()).toEqual({ v4: 1, v6: 1 });
    b.requeue(b.changes(0));
    b.touchAll();
    b.changes(0);
    expect(b.heldCounts()).toEqual({ v4: 1, v6: 1 });
    b.unban('2001:db8::31');
    b.changes(1);
    expect(b.heldCounts()).toEqual({ v4: 1, v6: 0 });
  });

  it('requeue() makes a failed diff come back, even when nothing else changed', () => {
    const b = book();
    b.consider(offense('198.18.0.3', 0));
    const d = b.changes(0);
    b.requeue(d);
    expect(b.changes(0)).toEqual(d);
    b.unban('198.18.0.3');
    const u = b.changes(0);
    b.requeue(u);
    expect(b.changes(0)).toEqual(u);
  });

  it('reconfigure() lifts bans of newly allowlisted addresses (and its diff unbans them), keeps totals', () => {
    const b = book();
    b.consider(offense('198.18.0.4', 0));
    b.consider(offense('198.18.0.5', 0));
    b.changes(0);
    const lifted = b.reconfigure({ ...PRESETS }, new Allowlist(['198.18.0.4/32']));
    expect(lifted.map((x) => x.ip)).toEqual(['198.18.0.4']);
    expect(b.changes(0)).toEqual({ ban: [], unban: [{ ip: '198.18.0.4', family: 4 }] });
    expect(b.totalBanned('forbidden')).toBe(2);
    expect(b.consider(offense('198.18.0.4', 1))).toBeNull();
  });

  it('restore() touches every restored ban so the enforcer gets them all', () => {
    const a = book();
    a.consider(offense('198.18.0.6', 0));
    a.banManually('2001:db8::6', { durationMs: null, now: 0 });
    const b = book();
    b.restore(JSON.parse(JSON.stringify(a.snapshot())), 1);
    expect(b.changes(1).ban.map((x) => x.ip).sort()).toEqual(['198.18.0.6', '2001:db8::6']);
  });
});

describe('BanBook refuses what cannot be a client or a rule (issue 9)', () => {
  for (const ip of ['0.0.0.0', '::', '0.1.2.3', '224.0.0.1', '239.255.255.250', 'ff02::1', '255.255.255.255', '::ffff:0.0.0.0']) {
    it(`never bans ${ip}: not by detection, not manually, not from a state file`, () => {
      const b = book();
      expect(b.consider(offense(ip, 0))).toBeNull();
      expect(() => b.banManually(ip, { durationMs: H, now: 0 })).toThrow(/client/);
      const r = b.restore({ bans: [{ ip, family: ip.includes(':') ? 6 : 4, rule: 'manual', at: 0, until: null, failures: 0, nth: 1, manual: true }], history: [] }, 1);
      expect(r).toEqual({ restored: 0, dropped: 1 });
      expect(b.changes(1)).toEqual({ ban: [], unban: [] });
    });
  }

  for (const rule of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
    it(`rule ${rule} is no rule: manual ban refused, state entry dropped`, () => {
      const b = book();
      expect(() => b.banManually('198.18.0.7', { rule, durationMs: null, now: 0 })).toThrow(/unknown rule/);
      expect(() => b.consider(offense('198.18.0.7', 0, rule))).toThrow(/unknown rule/);
      const r = b.restore({ bans: [{ ip: '198.18.0.7', family: 4, rule, at: 0, until: null, failures: 0, nth: 1, manual: true }], history: [] }, 1);
      expect(r.restored).toBe(0);
      expect(b.active()).toEqual([]);
    });
  }

  it('durations past the date range are refused or capped; hostile numbers in state never throw later', () => {
    const b = book();
    expect(() => b.banManually('198.18.0.8', { durationMs: 99999999 * 86400_000, now: 0 })).toThrow(/at most 3650 days/);
    expect(() => b.banManually('198.18.0.8', { durationMs: Number.NaN, now: 0 })).toThrow();
    const hostile = [
      { ip: '198.18.0.9', family: 4, rule: 'manual', at: 0, until: 1e300, failures: 0, nth: 1, manual: true },
      { ip: '198.18.0.10', family: 4, rule: 'manual', at: 1e300, until: null, failures: 0, nth: 1, manual: true },
      { ip: '198.18.0.11', family: 4, rule: 'manual', at: 0, until: 'soon', failures: 0, nth: 1, manual: true },
      { ip: 42, family: 4, rule: 'manual', at: 0, until: null },
      null,
    ];
    const r = b.restore({ bans: hostile as never, history: [{ ip: '198.18.0.9', rule: 'manual', count: 1e300, last: Number.NaN } as never] }, 1);
    expect(r).toEqual({ restored: 1, dropped: 4 });
    expect(b.active(1)).toMatchObject([{ ip: '198.18.0.9', until: 1 + MAX_BAN_MS }]);
    expect(() => new Date(b.active(1)[0]!.until!).toISOString()).not.toThrow();
  });
});
