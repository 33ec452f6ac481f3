/**
 * IPv6 network escalation, the counting half (decide/network-escalation.ts): which bans of a
 * network's addresses make its ban, and that its memory stays bounded.
 */
import { describe, expect, it } from 'vitest';
import { NetworkEscalation } from '../../../src/decide/network-escalation.js';
import { ipv6NetworkOf } from '../../../src/parse/ip.js';

const H = 3600_000;
const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const on = (after = 3, prefix = 64, within = H) => new NetworkEscalation({ after, prefix, within });

describe('ipv6NetworkOf', () => {
  it('gives the canonical network of any spelling, at any prefix', () => {
    expect(ipv6NetworkOf('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64');
    expect(ipv6NetworkOf('2001:DB8:1:2:0:0:0:7', 64)).toBe('2001:db8:1:2::/64');
    expect(ipv6NetworkOf('2001:db8:1:2:3:4:5:6', 48)).toBe('2001:db8:1::/48');
    expect(ipv6NetworkOf('2001:db8:1:ff:3:4:5:6', 57)).toBe('2001:db8:1:80::/57');
    expect(ipv6NetworkOf('2001:db8:1:2:3:4:5:6', 120)).toBe('2001:db8:1:2:3:4:5:0/120');
  });

  it('gives none for IPv4, for IPv6 forms of IPv4 addresses, and for what is not an address', () => {
    for (const ip of ['198.18.0.1', '64:ff9b::c612:1', '64:ff9b:1:2::c612:1', '::ffff:198.18.0.1', '::198.18.0.1', '2001:db8::/64', 'x', '']) {
      expect(ipv6NetworkOf(ip, 64)).toBeNull();
    }
    expect(ipv6NetworkOf('2001:db8::1', 31)).toBeNull();
  });
});

describe('NetworkEscalation', () => {
  it('is off at after = 0', () => {
    const e = on(0);
    expect(e.enabled).toBe(false);
    for (let i = 1; i <= 10; i++) expect(e.record(`2001:db8:1:2::${i}`, T0 + i)).toBeNull();
    expect(e.size).toBe(0);
  });

  it('names the network at the after-th different address banned within the window, with those addresses', () => {
    const e = on(3);
    expect(e.record('2001:db8:1:2::a', T0)).toBeNull();
    expect(e.record('2001:db8:1:2::b', T0 + 1000)).toBeNull();
    const got = e.record('2001:db8:1:2:ffff::c', T0 + 2000);
    expect(got).toEqual({
      network: '2001:db8:1:2::/64',
      addresses: [
        { ip: '2001:db8:1:2::a', at: T0 },
        { ip: '2001:db8:1:2::b', at: T0 + 1000 },
        { ip: '2001:db8:1:2:ffff::c', at: T0 + 2000 },
      ],
    });
    // Named once: its memory starts again (the network ban covers what follows).
    expect(e.record('2001:db8:1:2::d', T0 + 3000)).toBeNull();
  });

  it('counts an address once, however often it is banned', () => {
    const e = on(3);
    for (let i = 0; i < 10; i++) expect(e.record('2001:db8:1:2::a', T0 + i * 1000)).toBeNull();
    expect(e.record('2001:db8:1:2::b', T0 + 20_000)).toBeNull();
    expect(e.record('2001:db8:1:2::c', T0 + 30_000)?.network).toBe('2001:db8:1:2::/64');
  });

  it('counts bans within (t − within, t] only', () => {
    const e = on(3);
    e.record('2001:db8:1:2::a', T0);
    e.record('2001:db8:1:2::b', T0 + 1000);
    // At T0 + within the first one is out: two in the window.
    expect(e.record('2001:db8:1:2::c', T0 + H)).toBeNull();
    expect(e.record('2001:db8:1:2::d', T0 + H + 1)?.addresses.map((a) => a.ip)).toEqual(['2001:db8:1:2::b', '2001:db8:1:2::c', '2001:db8:1:2::d']);
  });

  it('keeps networks apart, and never groups IPv4 or the IPv6 forms of IPv4 addresses', () => {
    const e = on(2);
    expect(e.record('2001:db8:1:2::a', T0)).toBeNull();
    expect(e.record('2001:db8:1:3::a', T0)).toBeNull();
    for (let i = 1; i <= 5; i++) {
      expect(e.record(`198.18.0.${i}`, T0)).toBeNull();
      expect(e.record(`64:ff9b::c612:${i}`, T0)).toBeNull();
      expect(e.record(`::ffff:198.18.1.${i}`, T0)).toBeNull();
    }
    expect(e.record('2001:db8:1:3::b', T0)?.network).toBe('2001:db8:1:3::/64');
  });

  it('counts at the configured prefix', () => {
    const e = on(2, 48);
    expect(e.record('2001:db8:1:2::a', T0)).toBeNull();
    expect(e.record('2001:db8:1:ffff::a', T0)?.network).toBe('2001:db8:1::/48');
  });

  it('holds at most maxNetworks networks, forgetting the least recently grown first', () => {
    const e = new NetworkEscalation({ after: 3, prefix: 64, within: H }, 3);
    e.record('2001:db8:0:1::a', T0);
    e.record('2001:db8:0:2::a', T0);
    e.record('2001:db8:0:3::a', T0);
    e.record('2001:db8:0:1::b', T0); // 0:1 grows: now the most recent
    expect(e.size).toBe(3);
    e.record('2001:db8:0:4::a', T0); // evicts 0:2, the least recently grown
    expect(e.size).toBe(3);
    expect(e.record('2001:db8:0:2::b', T0)).toBeNull();
    expect(e.record('2001:db8:0:2::c', T0)).toBeNull(); // 0:2's first address was forgotten
    expect(e.record('2001:db8:0:1::c', T0)?.network).toBe('2001:db8:0:1::/64');
  });

  it('a flood of one address per network stays bounded', () => {
    const e = new NetworkEscalation({ after: 3, prefix: 64, within: H }, 1000);
    for (let i = 0; i < 20_000; i++) e.record(`2001:db8:${(i >> 16) & 0xffff}:${i & 0xffff}::1`, T0 + i);
    expect(e.size).toBe(1000);
  });

  it('forget() lets go of a network, and a new prefix counts afresh', () => {
    const e = on(3);
    e.record('2001:db8:1:2::a', T0);
    e.record('2001:db8:1:2::b', T0);
    e.forget('2001:db8:1:2::a');
    expect(e.record('2001:db8:1:2::c', T0)).toBeNull();
    // ::b still counts: a fourth address makes it.
    expect(e.record('2001:db8:1:2::d', T0)?.addresses.map((a) => a.ip)).toEqual(['2001:db8:1:2::b', '2001:db8:1:2::c', '2001:db8:1:2::d']);
    e.record('2001:db8:1:2::e', T0);
    e.forget('2001:db8:1:2::/64');
    expect(e.size).toBe(0);
    e.record('2001:db8:1:2::a', T0);
    e.record('2001:db8:1:2::b', T0);
    e.configure({ after: 3, prefix: 64, within: H });
    expect(e.size).toBe(1);
    e.configure({ after: 3, prefix: 56, within: H });
    expect(e.size).toBe(0);
    e.configure({ after: 0, prefix: 56, within: H });
    expect(e.enabled).toBe(false);
  });
});
