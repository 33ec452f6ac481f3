/**
 * Review H31, seam state file: a book that cut bans at the cap (host mode) is saved and restored (a
 * restart): the same bans come back in each container, the cut ones stay ended with why's text, and
 * the next cuts take the same bans in both books (the order of cuts survives the restart: a ban
 * unbanned and banned again is its container's newest, in the book saved as in the book restored).
 */
import { describe, expect, it } from 'vitest';
import { BanBook, type BanBookSnapshot } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const CAP = 1000;
const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((c) => c.repeat(64));
const v4 = (k: number, n: number): string => `198.18.${k * 4 + (n >> 8)}.${n & 255}`;
const book = () => new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: CAP });
const offense = (b: BanBook, ip: string, scope: string, at: number) => b.consider({ ip, family: 4, rule: 'exploit-probes', at, failures: 1, scope }, at);
const view = (b: BanBook) => b.active().map((x) => `${x.scope!.slice(0, 1)} ${x.ip}`).sort();

describe('a book that cut bans at the cap, saved and restored', () => {
  it('comes back the same, and cuts the same bans next', () => {
    const b = book();
    let t = T0;
    for (let k = 0; k < 4; k++) for (let n = 0; n < 250; n++) offense(b, v4(k, n), ids[k]!, (t += 10));
    // Container A's first ban unbanned and banned again: the newest of A's after that.
    b.unban(v4(0, 0), undefined, ids[0], { at: (t += 10), by: 'control' });
    offense(b, v4(0, 0), ids[0]!, (t += 10));
    const again = book();
    again.restore(JSON.parse(JSON.stringify(b.snapshot())) as BanBookSnapshot, t);
    expect(view(again)).toEqual(view(b));
    // A fifth and a sixth container's offenders after the restart: the same bans are cut in both books.
    const cuts = (x: BanBook, at: number) => {
      for (let n = 0; n < 60; n++) expect(offense(x, `198.19.0.${n + 1}`, ids[4 + (n % 2)]!, at + n)).not.toBeNull();
      return x.takeCut().map((c) => `${c.scope!.slice(0, 1)} ${c.ip}`).sort(); // which of the containers holding the most comes first is not said
    };
    const next = cuts(b, t + 10);
    expect(next).toHaveLength(60);
    expect(cuts(again, t + 10)).toEqual(next);
    expect(view(again)).toEqual(view(b));
    const cutText = (x: BanBook) => x.endedBans().filter((e) => e.ended.by?.startsWith('cap: ')).map((e) => `${e.scope!.slice(0, 1)} ${e.ip}`).sort();
    expect(cutText(again)).toEqual(cutText(b));
    expect(cutText(b)).toHaveLength(60);
  });
});
