/**
 * Review H31: what a tenant running many containers can do to another tenant's bans at the cap
 * (host mode, bans per container). Characterization of the bound the README states: a container keeps
 * at least its share, the cap over the containers holding bans; but every container holding bans
 * lowers that share for all, so a tenant with nine containers beside a victim's one cuts the
 * victim's bans from 250 (its quarter) down to 100, its oldest first, and those attackers go
 * unbanned. (The README's "cannot keep another tenant's attackers unbanned" said more than this.)
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const CAP = 1000;
const V = 'f'.repeat(64);
const hostile = Array.from({ length: 9 }, (_, i) => i.toString(16).repeat(64));
const offense = (b: BanBook, ip: string, scope: string, at: number) => b.consider({ ip, family: 4, rule: 'exploit-probes', at, failures: 1, scope }, at);
const held = (b: BanBook): Map<string, number> => {
  const m = new Map<string, number>();
  for (const x of b.active()) m.set(x.scope!, (m.get(x.scope!) ?? 0) + 1);
  return m;
};

describe("a tenant's many containers and another tenant's share of the cap", () => {
  it('nine hostile containers cut a victim holding its quarter down to a tenth of the cap, never below the share of the moment', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: CAP });
    let t = T0;
    const victimIps = Array.from({ length: 250 }, (_, n) => `198.19.${n >> 8}.${n & 255}`);
    for (const ip of victimIps) expect(offense(b, ip, V, (t += 10))).not.toBeNull();
    let n = 0;
    for (const h of hostile) {
      for (let i = 0; i < 250; i++) {
        offense(b, `198.18.${(n >> 8) & 255}.${n & 255}`, h, (t += 10));
        n++;
        const m = held(b);
        expect(m.get(V)!).toBeGreaterThanOrEqual(Math.min(250, Math.floor(CAP / m.size)));
      }
    }
    expect(held(b).get(V)).toBe(CAP / 10);
    // The victim's oldest bans were the ones cut: its attackers banned first are unbanned.
    expect(victimIps.filter((ip) => b.isBanned(ip, 'exploit-probes', t, V))).toEqual(victimIps.slice(150));
  });
});
