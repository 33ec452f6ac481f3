/**
 * Review H31: a cut at the cap must not carry a container past its quarter of BANHAMMER_MAX_BANS.
 *
 * The README and the setting's text promise that in host mode one container holds at most a quarter
 * of the cap. cutForShare let a container under its share (the cap over the containers holding
 * bans) take another's room however many it held; with fewer than four containers holding bans the
 * share is more than a quarter, so after the cap was lowered by a reload (or with manual bans of a
 * container) a container grew past its quarter, one cut at a time. The state file then did not come
 * back as it was: restore() refuses what is past a container's quarter, so the restart lifted them.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const v4 = (i: number): string => `198.18.${i >> 8}.${i & 255}`;
const offense = (b: BanBook, ip: string, scope: string, at: number) => b.consider({ ip, family: 4, rule: 'exploit-probes', at, failures: 1, scope }, at);
const perScope = (b: BanBook): Map<string, number> => {
  const m = new Map<string, number>();
  for (const x of b.active()) if (x.scope !== undefined) m.set(x.scope, (m.get(x.scope) ?? 0) + 1);
  return m;
};

describe('a cut at the cap stops at the container\'s quarter', () => {
  it('the cap lowered by a reload: the container under its share grows to its quarter, not to half the cap, and a restart restores the same book', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: 4000 });
    let t = T0;
    for (let n = 0; n < 1000; n++) expect(offense(b, v4(n), A, (t += 10))).not.toBeNull(); // A's quarter of 4000
    b.setMaxBans(1000); // BANHAMMER_MAX_BANS lowered by a reload: A holds every ban the book may
    let made = 0;
    for (let n = 0; n < 800; n++) if (offense(b, v4(4096 + n), B, (t += 10)) !== null) made++;
    expect(made).toBe(250);
    expect(perScope(b).get(B)).toBe(250);
    expect(b.active().length).toBeLessThanOrEqual(1000);
    const again = new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: 1000 });
    again.restore(JSON.parse(JSON.stringify(b.snapshot())), t);
    expect(perScope(again).get(B)).toBe(perScope(b).get(B));
  });

  it('manual bans of a container (never cut) beside its detected ones: the other container stops at its quarter too', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: 1000 });
    let t = T0;
    for (let n = 0; n < 250; n++) expect(offense(b, v4(n), A, (t += 10))).not.toBeNull();
    for (let n = 0; n < 350; n++) b.banManually(v4(1024 + n), { durationMs: null, now: (t += 10), scope: A });
    for (let n = 0; n < 250; n++) expect(offense(b, v4(2048 + n), B, (t += 10))).not.toBeNull();
    for (let n = 0; n < 150; n++) b.banManually(`198.19.${n >> 8}.${n & 255}`, { durationMs: null, now: (t += 10) }); // host-wide
    expect(b.active().length).toBe(1000);
    // B holds its quarter: refused, as before the cut existed, not a cut of A's.
    expect(offense(b, v4(3072), B, (t += 10))).toBeNull();
    expect(b.takeCut()).toEqual([]);
    expect(perScope(b).get(B)).toBe(250);
  });
});
