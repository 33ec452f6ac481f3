/**
 * A network ban of IPv6 addresses that carry IPv4 addresses is as wide as the IPv4 network it
 * carries (README: a network wider than /8 is refused, and whoever holds the group's Redis password
 * cannot ban a /8 on every replica). Behind NAT64 / SIIT-DC every IPv4 client reaches an IPv6-only
 * server as 64:ff9b::a.b.c.d, so `64:ff9b::/96` is every IPv4 client: it passed the IPv6 width limit
 * (/32) and the group's (/48) and was banned by `ban`, adopted from the group and restored from a
 * state file. The same for SIIT's ::ffff:0:0:0/96 and the deprecated IPv4-compatible ::/96 (past
 * its `::`).
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook, type Ban } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { canonicalTarget, networkCoverReason } from '../../../src/parse/ip.js';
import { sharedTarget } from '../../../src/share/messages.js';

const NOW = Date.UTC(2026, 11, 5, 5, 0, 0);
const H = 3_600_000;
const cidr = (s: string) => {
  const t = canonicalTarget(s)!;
  return { network: t.ip.split('/')[0]!, prefix: t.prefix, family: t.family };
};
const book = () => new BanBook({ ...PRESETS }, new Allowlist([]));

/** Every IPv4 address (or more than an IPv4 /8 of them) in IPv6 clothes. */
const TOO_WIDE = ['64:ff9b::/96', '64:ff9b::/64', '64:ff9b::/32', '64:ff9b::/100', '64:ff9b::c600:0/103', '::ffff:0:0:0/96', '::ffff:0:c600:0/100', '::8000:0/97', '::c600:0/100'];
/** At most an IPv4 /8 of them, or no IPv4 at all. */
const FINE = ['64:ff9b::c612:0/120', '64:ff9b::a00:0/104', '::ffff:0:c612:0/112', '::c612:0/112', '2001:db8::/32', '2001:db8:1::/48'];

describe('networks of IPv6 forms of IPv4 addresses', () => {
  it('networkCoverReason holds them to the IPv4 width limit', () => {
    for (const n of TOO_WIDE) expect(networkCoverReason(cidr(n)), n).toMatch(/IPv4/);
    for (const n of FINE) expect(networkCoverReason(cidr(n)), n).toBeNull();
  });

  it('banhammer ban refuses them, saying why', () => {
    for (const n of TOO_WIDE) expect(() => book().banManually(n, { durationMs: H, now: NOW }), n).toThrow(/IPv4/);
    for (const n of FINE) expect(book().banManually(n, { durationMs: H, now: NOW }).ip, n).toBe(canonicalTarget(n)!.ip);
  });

  it('a group value naming one is dropped, however the group sends it', () => {
    for (const n of TOO_WIDE) {
      expect(sharedTarget(n), n).toBeNull();
      expect(book().adopt({ ip: n, rule: 'manual', at: NOW, until: NOW + H, origin: 'replica-b' }, NOW), n).toBeNull();
    }
    expect(book().adopt({ ip: '64:ff9b::c612:0/120', rule: 'manual', at: NOW, until: NOW + H, origin: 'replica-b' }, NOW)?.ip).toBe('64:ff9b::c612:0/120');
  });

  it('a state file holding one restores without it', () => {
    const b = book();
    const bans = [...TOO_WIDE, '64:ff9b::c612:0/120'].map((ip): Ban => ({ ip, family: 6, rule: 'manual', at: NOW, until: NOW + H, failures: 0, nth: 1, manual: true }));
    const r = b.restore({ bans, history: [] }, NOW);
    expect(r.restored).toBe(1);
    expect(b.active(NOW).map((x) => x.ip)).toEqual(['64:ff9b::c612:0/120']);
    expect(b.changes(NOW).ban.map((x) => x.ip)).toEqual(['64:ff9b::c612:0/120']);
  });
});
