/**
 * Bans for one container (host mode: Ban.scope is a container id) restored by an agent that is not
 * in host mode (review: helper). Its enforcer protects one container or the host (iptables, the map
 * enforcers) and has no per-container sets: given the scoped ban it held the address for everyone it
 * guards, a ban for tenant X becoming one for tenant Y; nftables refused it while status and `why`
 * showed it as held. restore({ scopes: false }) ends such a ban as `refused` (by `restore: …`), the
 * way a saved network is refused under an enforcer that holds none: never held, never host-wide,
 * and `why` says what became of it. A scope that cannot be read is never widened to host-wide either.
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook, type BanBookSnapshot } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';

const H = 3_600_000;
const X = 'c1'.repeat(32);
const Y = 'c2'.repeat(32);
const book = () => new BanBook({ ...PRESETS }, new Allowlist([]));
const offense = (ip: string, at: number, scope?: string) => ({ ip, family: (ip.includes(':') ? 6 : 4) as 4 | 6, rule: 'forbidden', at, failures: 5, scope });
const NOT_HOST = 'restore: a ban for one container, outside host mode';

/** A state file written in host mode: detected and manual bans for containers X and Y, and host-wide ones. */
function hostModeState(): BanBookSnapshot {
  const a = book();
  a.consider(offense('198.18.7.1', 0, X), 0, 'shop');
  a.consider(offense('2001:db8::7', 0, Y), 0, 'blog');
  a.banManually('198.18.7.2', { durationMs: null, now: 0, scope: Y, scopeName: 'blog' });
  a.consider(offense('198.18.7.3', 0));
  a.banManually('198.18.7.4', { durationMs: null, now: 0 });
  a.banManually('198.18.8.0/24', { durationMs: null, now: 0 });
  return JSON.parse(JSON.stringify(a.snapshot())) as BanBookSnapshot;
}

describe('restore of scoped bans outside host mode', () => {
  it('ends them as refused: not held (neither for the container nor host-wide), not active, and why() says so', () => {
    const b = book();
    expect(b.restore(hostModeState(), 10, { scopes: false })).toEqual({ restored: 3, dropped: 3, scopedRefused: 3 });
    // The enforcer is told of the host-wide bans only.
    expect(b.changes(10).ban.map((e) => [e.ip, e.scope]).sort()).toEqual([['198.18.7.3', undefined], ['198.18.7.4', undefined], ['198.18.8.0/24', undefined]]);
    expect(b.expected(10).some((e) => e.scope !== undefined || ['198.18.7.1', '198.18.7.2', '2001:db8::7'].includes(e.ip))).toBe(false);
    expect(b.active(10).map((x) => x.ip).sort()).toEqual(['198.18.7.3', '198.18.7.4', '198.18.8.0/24']);
    for (const [ip, scope] of [['198.18.7.1', X], ['2001:db8::7', Y], ['198.18.7.2', Y]] as const) {
      expect(b.isBanned(ip, ip === '198.18.7.2' ? 'manual' : 'forbidden', 10)).toBe(false);
      expect(b.isBanned(ip, ip === '198.18.7.2' ? 'manual' : 'forbidden', 10, scope)).toBe(false);
      const about = b.about({ ip, family: ip.includes(':') ? 6 : 4, prefix: ip.includes(':') ? 128 : 32 }, 10);
      expect(about.active).toEqual([]);
      expect(about.ended).toEqual([expect.objectContaining({ ip, scope, ended: { reason: 'refused', at: 10, by: NOT_HOST } })]);
    }
    // Saved again, they are history: a later restart in host mode does not bring them back.
    const again = book();
    expect(again.restore(JSON.parse(JSON.stringify(b.snapshot())), 20, { scopes: true })).toEqual({ restored: 3, dropped: 0 });
    expect(again.active(20).some((x) => x.scope !== undefined)).toBe(false);
    // What ends a ban whatever the mode says so first: expired while the agent was down, or allowlisted now.
    const later = new BanBook({ ...PRESETS }, new Allowlist(['198.18.7.2']));
    expect(later.restore(hostModeState(), 2 * H, { scopes: false })).toEqual({ restored: 2, dropped: 4 });
    expect(later.about({ ip: '198.18.7.1', family: 4, prefix: 32 }, 2 * H).ended[0]!.ended).toEqual({ reason: 'expired', at: H });
    expect(later.about({ ip: '198.18.7.2', family: 4, prefix: 32 }, 2 * H).ended[0]!.ended).toEqual({ reason: 'allowlisted', at: 2 * H, by: 'restore' });
  });

  it('host mode keeps them, each for its own container (a container gone since included: its enforcer holds them in its sets)', () => {
    const b = book();
    // The contrast: outside host mode the same file holds none of them.
    expect(book().restore(hostModeState(), 10, { scopes: false }).restored).toBe(3);
    expect(b.restore(hostModeState(), 10, { scopes: true })).toEqual({ restored: 6, dropped: 0 });
    expect(b.changes(10).ban.map((e) => `${e.ip} ${e.scope ?? '-'}`).sort()).toEqual(
      ['198.18.7.1 ' + X, '198.18.7.2 ' + Y, '198.18.7.3 -', '198.18.7.4 -', '198.18.8.0/24 -', '2001:db8::7 ' + Y].sort(),
    );
    expect(b.isBanned('198.18.7.1', 'forbidden', 10)).toBe(false);
  });
});

describe('a scope that cannot be read is never widened to host-wide', () => {
  it('such a ban is dropped in every mode, and its history does not count for the host-wide key', () => {
    const base = { family: 4, rule: 'forbidden', at: 0, until: H, failures: 5, nth: 3, manual: false };
    for (const scope of [42, '', 'c0ffee web', 'c0ffee\x1b[2J', 'x'.repeat(129), { id: X }]) {
      const snap = {
        bans: [{ ...base, ip: '198.18.9.1', scope }, { ...base, ip: '198.18.9.2' }],
        history: [{ ip: '198.18.9.1', rule: 'forbidden', scope, count: 3, last: 0 }],
        ended: [{ ...base, ip: '198.18.9.3', scope, ended: { reason: 'expired', at: H } }],
      };
      for (const scopes of [true, false]) {
        const b = book();
        expect(b.restore(snap as never, 1, { scopes }), JSON.stringify(scope)).toEqual({ restored: 1, dropped: 1 });
        expect(b.active().map((x) => x.ip)).toEqual(['198.18.9.2']);
        expect(b.changes(1).ban.map((e) => e.ip)).toEqual(['198.18.9.2']);
        expect(b.about({ ip: '198.18.9.3', family: 4, prefix: 32 }, 1).ended).toEqual([]);
        // A host-wide offense is a first ban, not the 4th of a count read from the unreadable scope.
        expect(b.consider(offense('198.18.9.1', 2), 2)).toMatchObject({ nth: 1 });
      }
    }
  });
});
