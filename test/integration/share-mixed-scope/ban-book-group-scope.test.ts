/**
 * Helper H44, the ban book's part: a ban the group stores for one container, adopted host-wide by an
 * agent not in host mode, keeps that container's id (Ban.groupScope). The own ban it replaces is kept
 * under it whatever its age (the group stores the two under different fields); liftAdopted for that
 * container lifts it alone and puts the own ban back; a host-wide field's lift leaves it alone; the
 * state file keeps it, read as the hostile input it is.
 */
import { describe, expect, it } from 'vitest';
import { BanBook, type Ban, type BanBookSnapshot } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const H = 3_600_000;
const T = 1_800_000_000_000;
const IP = '198.18.75.1';
const SHOP = 'a1'.repeat(32);
const CART = 'b2'.repeat(32);
const book = (): BanBook => new BanBook({ ...PRESETS }, new Allowlist([]));
const cause = { at: T + 20_000, by: 'group:host' };
const saved = (bans: unknown[]): BanBookSnapshot => ({ bans, history: [], ended: [] }) as unknown as BanBookSnapshot;

/** Own one-hour ban at T, then the host's 3-hour ban for shop made at T+10 s, adopted host-wide. */
function withOlderOwn(): { b: BanBook; own: Ban; adopted: Ban } {
  const b = book();
  const own = b.banManually(IP, { durationMs: H, now: T });
  b.changes(T);
  const adopted = b.adopt({ ip: IP, rule: 'manual', at: T + 10_000, until: T + 10_000 + 3 * H, origin: 'host', groupScope: SHOP }, T + 11_000)!;
  return { b, own, adopted };
}

describe('a ban adopted host-wide from one container (Ban.groupScope)', () => {
  it('keeps the container and the older own ban under it (it was dropped: h41 keeps only newer ones of the same field)', () => {
    const { adopted } = withOlderOwn();
    expect(adopted).toMatchObject({ from: 'host', groupScope: SHOP, under: { at: T, until: T + H } });
    expect(adopted.scope).toBeUndefined();
    // The same without a container (the group's host-wide field): the older own ban is not kept (h41).
    const b = book();
    b.banManually(IP, { durationMs: H, now: T });
    expect(b.adopt({ ip: IP, rule: 'manual', at: T + 10_000, until: T + 10_000 + 3 * H, origin: 'c' }, T + 11_000)!.under).toBeUndefined();
  });

  it("liftAdopted for that container lifts it alone and puts the own ban back, whatever the unban's date", () => {
    const { b } = withOlderOwn();
    b.changes(T + 11_000);
    const r = b.liftAdopted(IP, undefined, T + 15_000, T + 20_000, cause, { scope: SHOP });
    expect(r.lifted).toEqual([]);
    expect(r.restored).toEqual([expect.objectContaining({ at: T, until: T + H })]);
    expect(b.active(T + 20_000).map((x) => [x.from, x.until])).toEqual([[undefined, T + H]]);
    expect(b.changes(T + 20_000).ban).toEqual([{ ip: IP, family: 4, until: T + H }]);
  });

  it("another container's unban, a host-wide field's, or one dated before it lift nothing", () => {
    const { b } = withOlderOwn();
    expect(b.liftAdopted(IP, undefined, T + 15_000, T + 20_000, cause, { scope: CART, origin: 'host' })).toEqual({ lifted: [], restored: [] });
    expect(b.liftAdopted(IP, undefined, T + 15_000, T + 20_000, cause, { scope: undefined })).toEqual({ lifted: [], restored: [] });
    expect(b.liftAdopted(IP, undefined, T + 5_000, T + 20_000, cause, { scope: SHOP })).toEqual({ lifted: [], restored: [] });
    expect(b.active(T + 20_000).map((x) => [x.from, x.groupScope])).toEqual([['host', SHOP]]);
  });

  it('an adopted ban without a container is lifted by its maker\'s unban for one (a state file from before groupScope), not by another maker\'s', () => {
    const b = book();
    b.adopt({ ip: IP, rule: 'manual', at: T, until: T + 3 * H, origin: 'host' }, T + 1_000);
    expect(b.liftAdopted(IP, undefined, T + 15_000, T + 20_000, cause, { scope: SHOP, origin: 'other' }).lifted).toEqual([]);
    expect(b.liftAdopted(IP, undefined, T + 15_000, T + 20_000, cause, { scope: SHOP, origin: 'host' }).lifted).toHaveLength(1);
    expect(b.active(T + 20_000)).toEqual([]);
  });

  it('the state file keeps the container and the own ban under it', () => {
    const { b } = withOlderOwn();
    const again = book();
    again.restore(JSON.parse(JSON.stringify(b.snapshot())) as BanBookSnapshot, T + 12_000);
    const [a] = again.active(T + 12_000);
    expect(a).toMatchObject({ from: 'host', groupScope: SHOP, under: { at: T, until: T + H } });
    expect(again.liftAdopted(IP, undefined, T + 15_000, T + 20_000, cause, { scope: SHOP }).restored).toHaveLength(1);
  });

  it('a hostile state file: a groupScope that is no scope, on an own ban, on a scoped ban or on a network is left out, and so is an older own ban under a ban without one', () => {
    const adopted = { ip: IP, family: 4, rule: 'manual', at: T + 10_000, until: T + 3 * H, failures: 0, nth: 1, manual: true, from: 'host' };
    const under = { ip: IP, family: 4, rule: 'manual', at: T, until: T + H, failures: 0, nth: 1, manual: true };
    const read = (bans: unknown[]): Ban[] => {
      const b = book();
      b.restore(saved(bans), T + 12_000, { scopes: true, networks: true });
      return b.active(T + 12_000);
    };
    for (const bad of ['', 'a b', 'x\u001b[31m', 'x'.repeat(200), 7, {}, null]) {
      const [a] = read([{ ...adopted, groupScope: bad, under }]);
      expect(a!.groupScope).toBeUndefined();
      expect(a!.under).toBeUndefined();
    }
    expect(read([{ ...under, groupScope: SHOP }])[0]!.groupScope).toBeUndefined();
    expect(read([{ ...adopted, scope: CART, groupScope: SHOP }])[0]!.groupScope).toBeUndefined();
    expect(read([{ ...adopted, ip: '198.18.76.0/24', groupScope: SHOP }])[0]!.groupScope).toBeUndefined();
    // An own ban under it claiming a container of its own, or one from another replica: dropped.
    expect(read([{ ...adopted, groupScope: SHOP, under: { ...under, groupScope: CART } }])[0]!.under).toBeUndefined();
    expect(read([{ ...adopted, groupScope: SHOP, under: { ...under, from: 'x' } }])[0]!.under).toBeUndefined();
    expect(read([{ ...adopted, groupScope: SHOP, under }])[0]).toMatchObject({ groupScope: SHOP, under: { at: T } });
  });

  it('a network from the group keeps no container', () => {
    const b = book();
    const n = b.adopt({ ip: '198.18.76.0/24', rule: 'manual', at: T, until: T + H, origin: 'host', groupScope: SHOP }, T + 1);
    expect(n).not.toBeNull();
    expect(n!.groupScope).toBeUndefined();
  });
});
