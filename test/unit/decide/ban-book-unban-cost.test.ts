/**
 * An unban in one scope (or host-wide), as the group's unbans and `banhammer unban` outside host mode
 * ask, finds the address's bans by its key: it used to go over every ban held, so anyone on the
 * group's channel alternating ban and unban of one address cost a pass over the book per message.
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { cpuNow } from '../../support/cpu-time.js';

const H = 3_600_000;
const ipAt = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255}`;

/** ms for `rounds` ban + unban pairs of one address, with `held` other bans in the book. */
function pairsCost(held: number, rounds: number): number {
  const b = new BanBook({ ...PRESETS }, new Allowlist([]));
  const bans = Array.from({ length: held }, (_, i) => ({ ip: ipAt(i + 1), family: 4, rule: 'forbidden', at: 0, until: H, failures: 5, nth: 1, manual: false }));
  b.restore({ bans, ended: [], history: [] } as never, 1);
  const t0 = cpuNow();
  for (let i = 0; i < rounds; i++) {
    b.banManually('198.19.0.1', { rule: 'forbidden', durationMs: H, now: 10 });
    expect(b.unban('198.19.0.1', undefined, null)).toHaveLength(1);
  }
  return cpuNow() - t0;
}

describe('unban in one scope', () => {
  it('costs the same with 40,000 bans held as with 100 (same machine)', () => {
    pairsCost(100, 2000); // warm-up
    // CPU time (test/support/cpu-time.ts), interleaved, best of 3 each: preemption does not count,
    // and a slow moment of a loaded machine weighs on both sides or on neither.
    let small = Infinity;
    let large = Infinity;
    for (let k = 0; k < 3; k++) {
      small = Math.min(small, pairsCost(100, 2000));
      large = Math.min(large, pairsCost(40_000, 2000));
    }
    // A pass over the book per unban made this about 400 times the small book's.
    expect(large).toBeLessThan(5 * small + 50);
  });

  it('lifts the address’s bans in that scope only, by rule or all', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]));
    const ip = '198.18.3.3';
    const c1 = 'a'.repeat(64);
    b.banManually(ip, { rule: 'forbidden', durationMs: H, now: 0 });
    b.banManually(ip, { rule: 'not-found', durationMs: H, now: 0 });
    b.banManually(ip, { rule: 'forbidden', durationMs: H, now: 0, scope: c1 });
    expect(b.unban(ip, 'not-found', null).map((x) => x.rule)).toEqual(['not-found']);
    expect(b.isBanned(ip, 'forbidden', 1)).toBe(true);
    expect(b.unban(ip, undefined, null).map((x) => x.rule)).toEqual(['forbidden']);
    expect(b.isBanned(ip, 'forbidden', 1, c1)).toBe(true);
    expect(b.unban(ip, undefined, c1)).toHaveLength(1);
    expect(b.active(1)).toHaveLength(0);
    // Every scope (undefined) still lifts all of them.
    b.banManually(ip, { rule: 'forbidden', durationMs: H, now: 0 });
    b.banManually(ip, { rule: 'forbidden', durationMs: H, now: 0, scope: c1 });
    expect(b.changes(1).ban).toHaveLength(2);
    expect(b.unban(ip)).toHaveLength(2);
    expect(b.changes(2).unban).toHaveLength(2);
  });
});
