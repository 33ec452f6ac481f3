/**
 * A state file (or a Redis group) may name any number of rules: an address's bans are found by the
 * address, never by probing every rule name ever seen. Probing made a restore of N bans that each
 * named another rule cost N × N key lookups in changes(), a stall at start-up from one hostile file.
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { cpuNow } from '../../support/cpu-time.js';

const H = 3_600_000;
const ipAt = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255}`;

function snapshotOf(n: number, ruleOf: (i: number) => string): never {
  const bans = Array.from({ length: n }, (_, i) => ({ ip: ipAt(i), family: 4, rule: ruleOf(i), at: 0, until: H + i, failures: 5, nth: 1, manual: false }));
  return { bans, ended: [], history: [] } as never;
}

/** Restore and the enforcer's first diff, in CPU ms (test/support/cpu-time.ts: preemption does not count). */
function restoreAndDiff(snap: never): { ms: number; bans: number } {
  const b = new BanBook({ ...PRESETS }, new Allowlist([]));
  const t0 = cpuNow();
  b.restore(snap, 1);
  const diff = b.changes(1);
  return { ms: cpuNow() - t0, bans: diff.ban.length };
}

describe('bans under many rule names', () => {
  it('a restore whose bans each name another rule costs what one rule name costs (same machine)', () => {
    const n = 20_000;
    const many = snapshotOf(n, (i) => `rule-${i}`);
    const one = snapshotOf(n, () => 'forbidden');
    restoreAndDiff(one); // warm-up
    // Interleaved, best of 3 each: a slow moment of a loaded machine weighs on both sides or on neither.
    let base = Infinity;
    let ms = Infinity;
    for (let k = 0; k < 3; k++) {
      base = Math.min(base, restoreAndDiff(one).ms);
      const r = restoreAndDiff(many);
      expect(r.bans).toBe(n);
      ms = Math.min(ms, r.ms);
    }
    // Probing every name was ~n times the work; by address it is about the same.
    expect(ms).toBeLessThan(10 * base + 50);
  });

  it('one address banned under 50,000 rule names: a line of it costs one lookup, and its bans end in linear time', () => {
    const n = 50_000;
    const ip = '198.18.9.9';
    const bans = Array.from({ length: n }, (_, i) => ({ ip, family: 4, rule: `rule-${i}`, at: 0, until: H + i, failures: 5, nth: 1, manual: false }));
    const b = new BanBook({ ...PRESETS }, new Allowlist([]));
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const t0 = cpuNow();
    b.restore({ bans, ended: [], history: [] } as never, 1);
    expect(b.changes(1).ban).toHaveLength(1);
    // The detector asks per counting rule per line: 100,000 asks.
    let yes = 0;
    for (let i = 0; i < 100_000; i++) if (b.isBanned(ip, i % 2 === 0 ? 'forbidden' : `rule-${i % n}`, 2)) yes++;
    expect(yes).toBe(50_000);
    // Every ban ends (an unban of the address: each one is removed from the address's bans).
    expect(b.unban(ip)).toHaveLength(n);
    expect(b.effectiveUntil(ip, 2)).toBeUndefined();
    // Linear: a scan of the address's bans per ask or per end took minutes.
    expect(cpuNow() - t0).toBeLessThan(10_000);
  });

  it('an address banned under several rules: the longest ban holds it, each rule answers for its own', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]));
    const ip = '198.18.7.1';
    const ban = (rule: string, until: number): object => ({ ip, family: 4, rule, at: 0, until, failures: 5, nth: 1, manual: false });
    b.restore({ bans: [ban('forbidden', 2 * H), ban('not-found', 5 * H), ban('custom-a', 3 * H)], ended: [], history: [] } as never, 1);
    expect(b.effectiveUntil(ip, 1)).toBe(5 * H);
    expect(b.isBanned(ip, 'forbidden', 1)).toBe(true);
    expect(b.isBanned(ip, 'custom-a', 1)).toBe(true);
    expect(b.isBanned(ip, 'xmlrpc', 1)).toBe(false);
    expect(b.isBanned(ip, 'forbidden', 2 * H)).toBe(false);
    expect(b.effectiveUntil(ip, 4 * H)).toBe(5 * H);
    // Lifting one rule's ban leaves the others.
    b.unban(ip, 'not-found');
    expect(b.isBanned(ip, 'not-found', 1)).toBe(false);
    expect(b.effectiveUntil(ip, 1)).toBe(3 * H);
    b.unban(ip, 'custom-a');
    expect(b.effectiveUntil(ip, 1)).toBe(2 * H);
    b.unban(ip);
    expect(b.effectiveUntil(ip, 1)).toBeUndefined();
    expect(b.isBanned(ip, 'forbidden', 1)).toBe(false);
  });

  it('a new ban by the same rule takes the old one’s place, whether or not the address has others', () => {
    for (const others of [[], ['not-found']]) {
      const b = new BanBook({ ...PRESETS }, new Allowlist([]));
      const ip = '198.18.7.2';
      for (const rule of others) b.banManually(ip, { rule, durationMs: H, now: 0 });
      b.banManually(ip, { rule: 'forbidden', durationMs: H, now: 0 });
      b.banManually(ip, { rule: 'forbidden', durationMs: 9 * H, now: 10 });
      expect(b.effectiveUntil(ip, 20)).toBe(10 + 9 * H);
      expect(b.active(20).filter((x) => x.rule === 'forbidden')).toHaveLength(1);
      b.unban(ip, 'forbidden');
      expect(b.isBanned(ip, 'forbidden', 20)).toBe(false);
      expect(b.effectiveUntil(ip, 20)).toBe(others.length > 0 ? H : undefined);
    }
  });
});
