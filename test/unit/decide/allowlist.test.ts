import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';

describe('Allowlist', () => {
  it('always holds loopback', () => {
    const a = new Allowlist();
    expect(a.has('127.0.0.1')).toBe(true);
    expect(a.has('127.200.3.4')).toBe(true);
    expect(a.has('::1')).toBe(true);
    expect(a.has('::ffff:127.0.0.1')).toBe(true);
    expect(a.has('198.18.0.1')).toBe(false);
  });

  it('matches CIDRs and single addresses of both families, whatever the spelling', () => {
    const a = new Allowlist(['198.18.4.0/22', '2001:db8:a::/48', '198.19.1.1']);
    expect(a.has('198.18.7.255')).toBe(true);
    expect(a.has('198.18.8.0')).toBe(false);
    expect(a.has('2001:DB8:A:0:0:0:0:1')).toBe(true);
    expect(a.has('2001:db8:b::1')).toBe(false);
    expect(a.has('198.19.1.1')).toBe(true);
    expect(a.has('198.19.1.2')).toBe(false);
    expect(a.cidrs()).toContain('198.18.4.0/22');
  });

  it('rejects what is not an address or CIDR with a clear error', () => {
    expect(() => new Allowlist(['example.com'])).toThrow(/not an address or CIDR: "example.com"/);
    expect(() => new Allowlist(['198.18.0.0/33'])).toThrow(/not an address or CIDR/);
  });

  it('answers false for garbage instead of throwing', () => {
    expect(new Allowlist().has('not an ip')).toBe(false);
  });
});
