import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { canonicalTarget, networkCoverReason } from '../../../src/parse/ip.js';

const D = 86_400_000;
const book = (allow: string[] = []) => new BanBook({ ...PRESETS }, new Allowlist(allow));
const cidr = (s: string) => {
  const t = canonicalTarget(s)!;
  return { network: t.ip.split('/')[0]!, prefix: t.prefix, family: t.family };
};

describe('CIDR ban targets (parse/ip.ts)', () => {
  it('normalises a network to its network address; a full-length prefix is the address', () => {
    expect(canonicalTarget('198.18.0.7/24')).toEqual({ ip: '198.18.0.0/24', family: 4, prefix: 24 });
    expect(canonicalTarget('2001:DB8:0:0::1/48')).toEqual({ ip: '2001:db8::/48', family: 6, prefix: 48 });
    expect(canonicalTarget('198.18.0.7/32')).toEqual({ ip: '198.18.0.7', family: 4, prefix: 32 });
    expect(canonicalTarget('2001:db8::7/128')).toEqual({ ip: '2001:db8::7', family: 6, prefix: 128 });
    expect(canonicalTarget('198.18.0.7')).toEqual({ ip: '198.18.0.7', family: 4, prefix: 32 });
    for (const bad of ['198.18.0.0/33', '198.18.0.0/', '/24', ' 198.18.0.0/24', '198.18.0.0/24 ', '198.18.0.0/-1', 'fe80::1%eth0/64', '::ffff:198.18.0.0/120', '::ffff:198.18.0.0/24', '::ffff:198.0.0.0/8', '::FFFF:c612:0/24', 'x/8', ''])
      expect(canonicalTarget(bad), bad).toBeNull();
  });

  it('refuses /0, networks wider than /8 (IPv4) or /32 (IPv6), and networks covering loopback or non-client ranges', () => {
    expect(networkCoverReason(cidr('0.0.0.0/0'))).toMatch(/\/0/);
    expect(networkCoverReason(cidr('198.0.0.0/7'))).toMatch(/wider than \/8/);
    expect(networkCoverReason(cidr('2001::/31'))).toMatch(/wider than \/32/);
    expect(networkCoverReason(cidr('127.0.0.0/24'))).toBe('covers 127.0.0.0/8 (loopback)');
    expect(networkCoverReason(cidr('0.0.0.0/8'))).toBe('covers 0.0.0.0/8 (unspecified)');
    expect(networkCoverReason(cidr('224.0.0.0/8'))).toBe('covers 224.0.0.0/4 (multicast)');
    expect(networkCoverReason(cidr('255.255.255.0/24'))).toBe('covers 255.255.255.255 (broadcast)');
    expect(networkCoverReason(cidr('::/96'))).toBe('covers :: (unspecified)');
    expect(networkCoverReason(cidr('ff02::/48'))).toBe('covers ff00::/8 (multicast)');
    expect(networkCoverReason(cidr('::fffe:0:0/95'))).toBe('covers ::ffff:0:0/96 (IPv4-mapped)');
    expect(networkCoverReason(cidr('198.18.0.0/8'))).toBeNull();
    expect(networkCoverReason(cidr('198.18.0.0/24'))).toBeNull();
    expect(networkCoverReason(cidr('2001:db8::/32'))).toBeNull();
  });
});

describe('BanBook: CIDR bans', () => {
  it('bans a network manually, normalised, and hands it to the enforcer as network/prefix', () => {
    const b = book();
    const ban = b.banManually('198.18.0.7/24', { durationMs: D, now: 0 });
    expect(ban).toMatchObject({ ip: '198.18.0.0/24', family: 4, rule: 'manual', until: D, manual: true });
    expect(b.changes(1)).toEqual({ ban: [{ ip: '198.18.0.0/24', family: 4, until: D }], unban: [] });
    expect(b.active(1).map((x) => x.ip)).toEqual(['198.18.0.0/24']);
    const v6 = b.banManually('2001:db8:1::/48', { durationMs: null, now: 0 });
    expect(v6).toMatchObject({ ip: '2001:db8:1::/48', family: 6, until: null });
    expect(b.heldCounts()).toEqual({ v4: 1, v6: 0 });
    b.changes(1);
    expect(b.heldCounts()).toEqual({ v4: 1, v6: 1 });
  });

  it('a /32 or /128 is an address ban', () => {
    const b = book();
    expect(b.banManually('198.18.0.7/32', { durationMs: D, now: 0 }).ip).toBe('198.18.0.7');
    expect(b.banManually('2001:db8::7/128', { durationMs: D, now: 0 }).ip).toBe('2001:db8::7');
    expect(() => b.banManually('0.0.0.0/32', { durationMs: D, now: 0 })).toThrow(/unspecified address/);
  });

  it('unban of the same network (any spelling) lifts it; an address inside it does not', () => {
    const b = book();
    b.banManually('198.18.0.0/24', { durationMs: D, now: 0 });
    b.banManually('198.18.0.9', { durationMs: D, now: 0 });
    b.changes(1);
    expect(b.unban('198.18.0.5')).toEqual([]);
    expect(b.unban('198.18.0.0/25')).toEqual([]);
    expect(b.unban('198.18.0.77/24').map((x) => x.ip)).toEqual(['198.18.0.0/24']);
    expect(b.changes(2)).toEqual({ ban: [], unban: [{ ip: '198.18.0.0/24', family: 4 }] });
    expect(b.active(2).map((x) => x.ip)).toEqual(['198.18.0.9']);
  });

  it('refuses /0, too wide, loopback, non-client and allowlisted networks with one clear error', () => {
    const b = book(['198.19.7.0/24', '2001:db8:ff::1']);
    const ban = (ip: string) => () => b.banManually(ip, { durationMs: D, now: 0 });
    expect(ban('0.0.0.0/0')).toThrow('0.0.0.0/0 is /0: it would ban every client; it is not banned');
    expect(ban('::/0')).toThrow(/::\/0 is \/0/);
    expect(ban('10.0.0.0/7')).toThrow(/10\.0\.0\.0\/7 is wider than \/8/);
    expect(ban('127.0.0.0/8')).toThrow('127.0.0.0/8 covers 127.0.0.0/8 (loopback); it is not banned');
    expect(ban('224.1.0.0/16')).toThrow(/covers 224\.0\.0\.0\/4 \(multicast\)/);
    expect(ban('198.19.0.0/16')).toThrow('198.19.0.0/16 covers 198.19.7.0/24, which is allowlisted (loopback, ignoreip, a trusted proxy or this host); it is not banned');
    expect(ban('198.19.7.128/25')).toThrow(/covers 198\.19\.7\.0\/24, which is allowlisted/);
    expect(ban('2001:db8:ff::/64')).toThrow(/2001:db8:ff::\/64 covers 2001:db8:ff::1, which is allowlisted/);
    expect(ban('198.18.0.0/33')).toThrow(/not an IP address or network: "198.18.0.0\/33"/);
    try {
      ban('198.19.0.0/16')();
    } catch (e) {
      expect((e as { code: string }).code).toBe('BH_ERR_ADDRESS');
    }
    expect(b.active()).toEqual([]);
    expect(b.banManually('198.19.8.0/24', { durationMs: D, now: 0 }).ip).toBe('198.19.8.0/24');
  });

  it('the host own addresses (in the live allowlist) are never covered', () => {
    const b = book(['198.18.0.1']);
    expect(() => b.banManually('198.18.0.0/24', { durationMs: D, now: 0 })).toThrow(/covers 198\.18\.0\.1, which is allowlisted/);
  });

  it('a network ban is host-wide only', () => {
    const b = book();
    expect(() => b.banManually('198.18.0.0/24', { durationMs: D, now: 0, scope: 'a'.repeat(64) })).toThrow(/applies to every container/);
  });

  it('detection never makes a network ban; a network shared by another replica is adopted only as banManually would take it here', () => {
    const b = book(['198.18.7.7']);
    expect(b.consider({ ip: '198.18.0.0/24', family: 4, rule: 'forbidden', at: 0, failures: 5 })).toBeNull();
    expect(b.adopt({ ip: '198.18.0.0/24', rule: 'manual', at: 0, until: null, origin: 'r2' }, 1)).toMatchObject({ ip: '198.18.0.0/24', until: null, from: 'r2', manual: true });
    for (const ip of ['198.18.7.0/24', '10.0.0.0/4', '127.0.0.0/16', '198.18.0.128/25', 'junk/24']) {
      expect(b.adopt({ ip, rule: 'manual', at: 0, until: null, origin: 'r2' }, 1), ip).toBeNull();
    }
    expect(b.adopt({ ip: '198.19.0.0/24', rule: 'manual', at: 0, until: null, origin: 'r2', scope: 'ab'.repeat(32) }, 1)).toBeNull();
    expect(b.active(1).map((x) => x.ip)).toEqual(['198.18.0.0/24']);
  });

  it('state save/restore keeps network bans and re-validates them', () => {
    const a = book();
    a.banManually('198.18.0.0/24', { durationMs: D, now: 0 });
    a.banManually('2001:db8:1::/48', { durationMs: null, now: 0 });
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const b = book();
    expect(b.restore(snap, 1)).toEqual({ restored: 2, dropped: 0 });
    expect(b.active(1).map((x) => x.ip).sort()).toEqual(['198.18.0.0/24', '2001:db8:1::/48']);
    expect(b.changes(1).ban.map((x) => x.ip).sort()).toEqual(['198.18.0.0/24', '2001:db8:1::/48']);
    expect(b.banManually('198.18.0.0/24', { durationMs: D, now: 2 }).nth).toBe(2); // history kept

    // Now allowlisted, too wide, non-canonical garbage or scoped: dropped.
    const hostile = {
      bans: [
        { ...snap.bans[0], ip: '198.18.0.0/24' },
        { ...snap.bans[0], ip: '10.0.0.0/4' },
        { ...snap.bans[0], ip: '127.0.0.0/16' },
        { ...snap.bans[0], ip: '198.18.0.0/24', scope: 'b'.repeat(64) },
        { ...snap.bans[0], ip: '198.18.1.9/24' }, // normalised
      ],
      history: [],
    };
    const c = book(['198.18.0.1']);
    expect(c.restore(hostile, 1)).toEqual({ restored: 1, dropped: 4 });
    expect(c.active(1).map((x) => x.ip)).toEqual(['198.18.1.0/24']);
  });

  it('a reload that allowlists an address inside a banned network lifts the network ban', () => {
    const b = book();
    b.banManually('198.18.0.0/24', { durationMs: D, now: 0 });
    b.banManually('198.18.1.0/24', { durationMs: D, now: 0 });
    const lifted = b.reconfigure({ ...PRESETS }, new Allowlist(['198.18.0.200']));
    expect(lifted.map((x) => x.ip)).toEqual(['198.18.0.0/24']);
    expect(b.active(1).map((x) => x.ip)).toEqual(['198.18.1.0/24']);
  });
});

describe('BanBook: overlapping network bans', () => {
  it('refuses a network overlapping another banned network, allows the same one again (a new duration) and one that no longer overlaps', () => {
    const b = book();
    b.banManually('198.18.0.0/16', { durationMs: D, now: 0 });
    expect(() => b.banManually('198.18.1.0/24', { durationMs: D, now: 0 })).toThrow('198.18.1.0/24 overlaps the banned network 198.18.0.0/16; it is not banned');
    expect(() => b.banManually('198.16.0.0/14', { durationMs: D, now: 0 })).toThrow(/overlaps the banned network 198\.18\.0\.0\/16/);
    expect(b.banManually('198.18.0.0/16', { durationMs: 2 * D, now: 1 }).until).toBe(2 * D + 1);
    expect(b.banManually('198.19.0.0/24', { durationMs: D, now: 1 }).ip).toBe('198.19.0.0/24');
    expect(b.banManually('198.18.0.9', { durationMs: D, now: 1 }).ip).toBe('198.18.0.9'); // an address inside is its own ban
    b.unban('198.18.0.0/16');
    expect(b.banManually('198.18.1.0/24', { durationMs: D, now: 2 }).ip).toBe('198.18.1.0/24');
    // An expired network no longer counts.
    b.banManually('2001:db8::/48', { durationMs: 10, now: 2 });
    expect(b.banManually('2001:db8::/64', { durationMs: D, now: 100 }).ip).toBe('2001:db8::/64');
  });
});
