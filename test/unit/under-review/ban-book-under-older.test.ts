/**
 * Review H41 of 2ad8f45 (Ban.under): only an own ban made after the adopted ban that replaced it is
 * kept under it. An older one can never stand again (liftAdopted brings back an own ban made after
 * the unban, and the unban lifts only an adopted ban made up to it), and is no longer this replica's
 * own to the share stage; kept, it was handed over as own at the next start and, the group having
 * lifted it meanwhile, made the share stage lift the newer adopted ban with it
 * (test/integration/under-review/stale-under-restart.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { BanBook, type BanBookSnapshot } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const H = 3_600_000;
const T = 1_800_000_000_000;
const IP = '198.18.144.1';
const book = (): BanBook => new BanBook({ ...PRESETS }, new Allowlist([]));

describe('review h41: an own ban under an adopted one is one made after it', () => {
  it('adopting a longer ban made after the own one keeps nothing under it; one made before keeps it', () => {
    const b = book();
    b.banManually(IP, { durationMs: H, now: T });
    const newer = b.adopt({ ip: IP, rule: 'manual', at: T + 5_000, until: null, origin: 'b' }, T + 6_000)!;
    expect(newer.from).toBe('b');
    expect(newer.under).toBeUndefined();
    const b2 = book();
    b2.banManually(IP, { durationMs: H, now: T });
    expect(b2.adopt({ ip: IP, rule: 'manual', at: T - 5_000, until: null, origin: 'b' }, T + 6_000)!.under).toMatchObject({ at: T });
  });

  it('a longer adopted ban made after the own one drops it from under the one it replaces', () => {
    const b = book();
    b.banManually(IP, { durationMs: H, now: T });
    b.adopt({ ip: IP, rule: 'manual', at: T - 5_000, until: T + 2 * H, origin: 'b' }, T + 1_000);
    const later = b.adopt({ ip: IP, rule: 'manual', at: T + 5_000, until: null, origin: 'c' }, T + 6_000)!;
    expect(later.under).toBeUndefined();
    // Nothing for an unban between the two to bring back: the address is lifted.
    expect(b.liftAdopted(IP, undefined, T + 5_000, T + 7_000, { at: T + 7_000, by: 'group:d' })).toMatchObject({ restored: [] });
    expect(b.active(T + 7_000)).toEqual([]);
  });

  it('a state file: an own ban under an adopted one made after it is dropped, the adopted ban kept', () => {
    const adopted = { ip: IP, family: 4, rule: 'manual', at: T + 5_000, until: null, failures: 0, nth: 1, manual: true, from: 'b' };
    const own = { ip: IP, family: 4, rule: 'manual', at: T, until: T + H, failures: 0, nth: 1, manual: true };
    for (const under of [own, { ...own, at: T + 5_000 }]) {
      const b = book();
      expect(b.restore({ bans: [{ ...adopted, under }], history: [], ended: [] } as unknown as BanBookSnapshot, T + 10_000).restored).toBe(1);
      const [held] = b.active(T + 10_000);
      expect(held).toMatchObject({ from: 'b', until: null });
      expect(held!.under).toBeUndefined();
    }
    const b = book();
    b.restore({ bans: [{ ...adopted, under: { ...own, at: T + 6_000 } }], history: [], ended: [] } as unknown as BanBookSnapshot, T + 10_000);
    expect(b.active(T + 10_000)[0]!.under).toMatchObject({ at: T + 6_000 });
  });
});
