import { describe, expect, it } from 'vitest';
import { isBanhammerError } from '../../../src/errors.js';
import { canonicalIp } from '../../../src/parse/ip.js';
import { TrustedProxies } from '../../../src/parse/trusted-proxies.js';

const has = (t: TrustedProxies, ip: string) => t.has(canonicalIp(ip)!);

describe('TrustedProxies', () => {
  it('is null for an empty list: nothing forwarded is believed', () => {
    expect(TrustedProxies.from([])).toBeNull();
    expect(TrustedProxies.from(undefined)).toBeNull();
  });

  it('matches addresses and networks of both families, and nothing else (not loopback unless listed)', () => {
    const t = TrustedProxies.from(['198.18.0.0/24', '198.18.1.7', '198.18.0.128/25', '2001:db8:ffff::/48', '2001:db8::1'])!;
    for (const ip of ['198.18.0.0', '198.18.0.255', '198.18.1.7', '2001:db8:ffff::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db8::1', '::ffff:198.18.0.9']) {
      expect(has(t, ip), ip).toBe(true);
    }
    for (const ip of ['198.17.255.255', '198.18.1.0', '198.18.1.6', '198.18.1.8', '127.0.0.1', '::1', '2001:db8:fffe:ffff::', '2001:db8:1::', '2001:db8::2']) {
      expect(has(t, ip), ip).toBe(false);
    }
    // The scanner's form: a 32-bit value as AddressTable keeps it (negative as an int32 above 127.x).
    expect(t.hasQuad((198 << 24) | (18 << 16) | 5)).toBe(true);
    expect(t.hasQuad((198 << 24) | (19 << 16) | 5)).toBe(false);
  });

  it('handles /0, /32, /128 and adjacent networks', () => {
    const all = TrustedProxies.from(['0.0.0.0/0'])!;
    expect(has(all, '255.255.255.255') && has(all, '1.0.0.0')).toBe(true);
    expect(has(all, '2001:db8::1')).toBe(false);
    const adj = TrustedProxies.from(['198.18.0.0/25', '198.18.0.128/25', '2001:db8::/128'])!;
    expect(has(adj, '198.18.0.127') && has(adj, '198.18.0.128')).toBe(true);
    expect(has(adj, '2001:db8::') && !has(adj, '2001:db8::1')).toBe(true);
  });

  it('refuses an entry that is not an address or CIDR', () => {
    try {
      TrustedProxies.from(['proxy.example.org']);
      expect.unreachable();
    } catch (e) {
      expect(isBanhammerError(e) && e.code).toBe('BH_ERR_CONFIG');
    }
  });
});
