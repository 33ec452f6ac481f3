/**
 * An own ban that a longer ban adopted from the group replaced stays under it (Ban.under): kept in
 * the state file, in force again when the group lifts the adopted ban with an unban made before the
 * own one (liftAdopted), and read from a state file as the hostile input it is (h35, seed 41).
 */
import { describe, expect, it } from 'vitest';
import { BanBook, type Ban, type BanBookSnapshot } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const H = 3_600_000;
const T = 1_800_000_000_000;
const IP = '198.18.62.1';
const book = (): BanBook => new BanBook({ ...PRESETS }, new Allowlist([]));
const cause = { at: T + 20_000, by: 'group:c' };
/** A state file's bans, as written by anyone (hostile input). */
const saved = (bans: unknown[]): BanBookSnapshot => ({ bans, history: [], ended: [] }) as unknown as BanBookSnapshot;

/** Own one-hour ban at T+10 s, replaced by b's permanent ban made at T (delivered later). */
function withUnder(): { b: BanBook; own: Ban; adopted: Ban } {
  const b = book();
  const own = b.banManually(IP, { durationMs: H, now: T + 10_000 });
  b.changes(T + 10_000);
  const adopted = b.adopt({ ip: IP, rule: 'manual', at: T, until: null, origin: 'b' }, T + 11_000)!;
  expect(adopted).toMatchObject({ from: 'b', until: null, under: { at: T + 10_000, until: T + 10_000 + H } });
  expect(adopted.under!.from).toBeUndefined();
  return { b, own, adopted };
}

describe('an own ban under a longer adopted one', () => {
  it('adopting a longer ban keeps the own one under it; a yet longer adopted one keeps it too', () => {
    const { b } = withUnder();
    expect(b.changes(T + 11_000).ban).toEqual([{ ip: IP, family: 4, until: null }]);
    const again = b.adopt({ ip: IP, rule: 'manual', at: T + 1, until: null, origin: 'b2' }, T + 12_000);
    // (As long as the held one: not adopted.)
    expect(again).toBeNull();
    const b2 = book();
    b2.banManually(IP, { durationMs: H, now: T + 10_000 });
    b2.adopt({ ip: IP, rule: 'manual', at: T, until: T + 2 * H, origin: 'b' }, T + 11_000);
    const longer = b2.adopt({ ip: IP, rule: 'manual', at: T + 1, until: null, origin: 'b2' }, T + 12_000)!;
    expect(longer.under).toMatchObject({ at: T + 10_000, until: T + 10_000 + H });
  });

  it('liftAdopted before the own ban: the own ban is in force again, and the kernel is told its expiry', () => {
    const { b } = withUnder();
    b.changes(T + 11_000);
    const r = b.liftAdopted(IP, undefined, T + 5_000, T + 20_000, cause);
    expect(r.lifted).toEqual([]);
    expect(r.restored).toHaveLength(1);
    expect(b.active(T + 20_000)).toEqual([expect.objectContaining({ ip: IP, until: T + 10_000 + H })]);
    expect(b.active(T + 20_000)[0]!.from).toBeUndefined();
    expect(b.changes(T + 20_000).ban).toEqual([{ ip: IP, family: 4, until: T + 10_000 + H }]);
    expect(b.endedBans().at(-1)).toMatchObject({ from: 'b', ended: { reason: 'unbanned', by: 'group:c' } });
    expect(b.endedBans().at(-1)!.under).toBeUndefined();
  });

  it('liftAdopted after the own ban, or of an adopted ban with nothing under it: the address is lifted', () => {
    const { b } = withUnder();
    const r = b.liftAdopted(IP, undefined, T + 15_000, T + 20_000, cause);
    expect(r.restored).toEqual([]);
    expect(r.lifted).toHaveLength(1);
    expect(b.active(T + 20_000)).toEqual([]);
    const b2 = book();
    b2.adopt({ ip: IP, rule: 'manual', at: T, until: null, origin: 'b' }, T);
    expect(b2.liftAdopted(IP, undefined, T + 5_000, T + 20_000, cause).lifted).toHaveLength(1);
    expect(b2.active(T + 20_000)).toEqual([]);
  });

  it('liftAdopted leaves own bans, and adopted bans made after the unban, in force', () => {
    const b = book();
    b.banManually(IP, { rule: 'forbidden', durationMs: H, now: T });
    b.adopt({ ip: IP, rule: 'manual', at: T + 30_000, until: null, origin: 'b' }, T + 30_000);
    expect(b.liftAdopted(IP, undefined, T + 20_000, T + 40_000, cause)).toEqual({ lifted: [], restored: [] });
    expect(b.active(T + 40_000)).toHaveLength(2);
  });

  it('an own ban that ended meanwhile is not brought back', () => {
    const { b } = withUnder();
    const r = b.liftAdopted(IP, undefined, T + 5_000, T + 10_000 + H + 1, cause);
    expect(r.restored).toEqual([]);
    expect(b.active(T + 10_000 + H + 1)).toEqual([]);
  });

  it('a local or group unban of the address lifts the own ban under the adopted one too', () => {
    const { b } = withUnder();
    expect(b.unban(IP)).toHaveLength(1);
    expect(b.active(T + 20_000)).toEqual([]);
  });

  it('the state file keeps it: restored under the adopted ban', () => {
    const { b } = withUnder();
    const saved = JSON.parse(JSON.stringify(b.snapshot()));
    const again = book();
    expect(again.restore(saved, T + 20_000).restored).toBe(1);
    const [held] = again.active(T + 20_000);
    expect(held).toMatchObject({ from: 'b', until: null, under: { ip: IP, rule: 'manual', at: T + 10_000, until: T + 10_000 + H } });
    expect(again.liftAdopted(IP, undefined, T + 5_000, T + 20_000, cause).restored).toHaveLength(1);
  });

  it('a hostile state file: anything under a ban but an unexpired own ban of its rule, address and scope is dropped, the ban kept', () => {
    const adopted = { ip: IP, family: 4, rule: 'manual', at: T, until: null, failures: 0, nth: 1, manual: true, from: 'b' };
    const own = { ip: IP, family: 4, rule: 'manual', at: T + 10_000, until: T + 10_000 + H, failures: 0, nth: 1, manual: true };
    const hostile: unknown[] = [
      { ...own, ip: '198.18.62.2' },
      { ...own, rule: 'forbidden' },
      { ...own, from: 'x' },
      { ...own, under: own },
      { ...own, until: T + 1 },
      { ...own, ip: '127.0.0.1' },
      { ...own, scope: 'ab'.repeat(32) },
      'not a ban',
      [own],
      null,
    ];
    for (const under of hostile) {
      const b = book();
      expect(b.restore(saved([{ ...adopted, under }]), T + 20_000).restored, JSON.stringify(under)).toBe(1);
      const [held] = b.active(T + 20_000);
      expect(held!.under, JSON.stringify(under)).toBeUndefined();
      expect(b.liftAdopted(IP, undefined, T + 5_000, T + 20_000, cause).restored).toEqual([]);
    }
    // Under an own ban it means nothing.
    const b = book();
    b.restore(saved([{ ...own, under: own }]), T + 20_000);
    expect(b.active(T + 20_000)[0]!.under).toBeUndefined();
  });
});
