import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import type { RuleSettings } from '../../../src/detect/rule.js';

const H = 3600_000;
const offense = (ip: string, at: number, rule = 'forbidden') => ({ ip, family: 4 as const, rule, at, failures: 5 });

function book(rules: Record<string, RuleSettings> = { ...PRESETS }, allow: string[] = []) {
  return new BanBook(rules, new Allowlist(allow));
}

describe('BanBook', () => {
  it('bans for bantime, and an offense during the ban is not a new ban', () => {
    const b = book();
    const ban = b.consider(offense('198.18.0.1', 0))!;
    expect(ban).toMatchObject({ ip: '198.18.0.1', rule: 'forbidden', at: 0, until: H, nth: 1 });
    expect(b.consider(offense('198.18.0.1', H - 1))).toBeNull();
    expect(b.totalBanned('forbidden')).toBe(1);
  });

  it('bans again after expiry', () => {
    const b = book();
    b.consider(offense('198.18.0.1', 0));
    expect(b.expire(H).map((x) => x.ip)).toEqual(['198.18.0.1']);
    expect(b.consider(offense('198.18.0.1', H + 1))).toMatchObject({ nth: 2, until: 2 * H + 1 });
  });

  it('grows bantime for repeat offenders up to the cap', () => {
    const rules = { forbidden: { ...PRESETS.forbidden!, increment: { factor: 2, maxtime: 5 * H } } };
    const b = book(rules);
    const lengths: number[] = [];
    let t = 0;
    for (let i = 0; i < 5; i++) {
      const ban = b.consider(offense('198.18.0.1', t))!;
      lengths.push((ban.until! - ban.at) / H);
      t = ban.until!;
    }
    expect(lengths).toEqual([1, 2, 4, 5, 5]);
  });

  it("a manual ban under a rule, for the rule's bantime, grows for a repeat offender like a detected one (fail2ban banip)", () => {
    const rules = { forbidden: { ...PRESETS.forbidden!, increment: { factor: 2, maxtime: 5 * H } } };
    const b = book(rules);
    // Banned once by detection, once by hand: the next ban of either kind is the third.
    const first = b.consider(offense('198.18.0.1', 0))!;
    b.expire(first.until!);
    const second = b.banManually('198.18.0.1', { rule: 'forbidden', durationMs: 'rule', now: first.until! });
    expect(second).toMatchObject({ nth: 2, manual: true, until: first.until! + 2 * H });
    b.expire(second.until!);
    expect(b.consider(offense('198.18.0.1', second.until!))).toMatchObject({ nth: 3, until: second.until! + 4 * H });
    // An explicit duration stays what was asked; the manual rule's own bantime is permanent.
    expect(b.banManually('198.18.0.2', { rule: 'forbidden', durationMs: 60_000, now: 0 }).until).toBe(60_000);
    expect(b.banManually('198.18.0.3', { durationMs: 'rule', now: 0 }).until).toBeNull();
  });

  it('never bans loopback or ignoreip entries, in either family', () => {
    const b = book({ ...PRESETS }, ['198.18.5.0/24', '2001:db8:1::/48']);
    expect(b.consider(offense('127.0.0.1', 0))).toBeNull();
    expect(b.consider({ ...offense('::1', 0), family: 6 })).toBeNull();
    expect(b.consider(offense('198.18.5.77', 0))).toBeNull();
    expect(b.consider({ ...offense('2001:db8:1::9', 0), family: 6 })).toBeNull();
    expect(b.consider(offense('198.18.6.1', 0))).not.toBeNull();
    expect(() => b.banManually('127.0.0.1', { durationMs: H, now: 0 })).toThrow(/allowlisted/);
  });

  it('keeps separate bans per rule and reports the latest expiry per address', () => {
    const b = book();
    b.consider(offense('198.18.0.1', 0));
    b.consider({ ...offense('198.18.0.1', 0, 'sensitive-paths') });
    expect(b.active().length).toBe(2);
    expect(b.effectiveUntil('198.18.0.1', 1)).toBe(24 * H);
    b.expire(H);
    expect(b.effectiveUntil('198.18.0.1', H)).toBe(24 * H);
  });

  it('manual bans validate and canonicalise the address; permanent bans never expire', () => {
    const b = book();
    expect(() => b.banManually('not-an-ip', { durationMs: H, now: 0 })).toThrow(/not an IP address/);
    const ban = b.banManually('2001:DB8:0::7', { durationMs: null, now: 0 });
    expect(ban).toMatchObject({ ip: '2001:db8::7', family: 6, until: null, rule: 'manual' });
    expect(b.expire(1e15)).toEqual([]);
    expect(b.unban('2001:db8::7').length).toBe(1);
  });

  it('restores a snapshot, dropping expired and invalid bans but keeping history', () => {
    const a = book();
    a.consider(offense('198.18.0.1', 0));
    a.consider(offense('198.18.0.2', 10 * H));
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    snap.bans.push({ ...snap.bans[0], ip: 'evil; rm -rf /' });
    const b = book();
    expect(b.restore(snap, 5 * H)).toEqual({ restored: 1, dropped: 2 });
    expect(b.isBanned('198.18.0.2', 'forbidden', 5 * H)).toBe(true);
    expect(b.consider(offense('198.18.0.1', 5 * H))!.nth).toBe(2);
  });
});
