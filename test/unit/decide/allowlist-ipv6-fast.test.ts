import { describe, expect, it } from 'vitest';
import { Allowlist, hexIPv6Groups } from '../../../src/decide/allowlist.js';
import { canonicalIp } from '../../../src/parse/ip.js';

/** The eight groups canonicalIp finds for an IPv6 address (its RFC 5952 text read back). */
function groupsOfCanonical(s: string): number[] | null {
  const c = canonicalIp(s);
  if (c === null || c.family !== 6) return null;
  const out = new Uint16Array(8);
  expect(hexIPv6Groups(c.ip, out)).toBe(true);
  return [...out];
}

describe('hexIPv6Groups (the allowlist’s allocation-free IPv6 reader)', () => {
  it('reads every hex-only spelling into the groups canonicalIp finds', () => {
    const spellings = [
      '::', '::1', '1::', '1::8', '2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:0db8:0000::0001', '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', 'fe80::1:2', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '0:0:0:0:0:0:0:0',
    ];
    for (const s of spellings) {
      const out = new Uint16Array(8);
      expect(hexIPv6Groups(s, out), s).toBe(true);
      const want = groupsOfCanonical(s);
      expect(want, s).not.toBeNull();
      expect([...out], s).toEqual(want);
    }
  });

  it('refuses everything that is not a hex-only IPv6 address (the caller takes the general path)', () => {
    const out = new Uint16Array(8);
    for (const s of [
      '', ':', ':::', '1:::2', '1::2::3', ':1::', '1:', ':1', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8',
      '12345::', 'g::1', '::1 ', ' ::1', '::1%eth0', '[::1]', '::ffff:198.18.0.1', '198.18.0.1', '1:2:3:4:5:6:7:8::',
      '00000::1', '0000:0000:0000:0000:0000:0000:0000:00001',
    ]) {
      expect(hexIPv6Groups(s, out), JSON.stringify(s)).toBe(false);
    }
  });

  it('gives has() the same answers as the general path, IPv4-mapped addresses included', () => {
    const a = new Allowlist(['2001:db8:a::/48', '198.18.0.0/24', '2001:db8:ff::7']);
    expect(a.has('2001:db8:a::5')).toBe(true);
    expect(a.has('2001:DB8:A:0:0:0:0:5')).toBe(true);
    expect(a.has('2001:db8:b::5')).toBe(false);
    expect(a.has('2001:db8:ff::7')).toBe(true);
    expect(a.has('2001:db8:ff::8')).toBe(false);
    expect(a.has('::1')).toBe(true);
    expect(a.has('::2')).toBe(false);
    // ::ffff:0:0/96 is IPv4: ::ffff:c612:5 is 198.18.0.5, inside 198.18.0.0/24.
    expect(a.has('::ffff:c612:5')).toBe(true);
    expect(a.has('::ffff:c613:5')).toBe(false);
    expect(a.has('1::2:3:4:5:6:7:8')).toBe(false);
  });
});
