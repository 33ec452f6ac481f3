/**
 * The allowlist and the trusted proxies read an IPv4-mapped network (`::ffff:198.18.0.0/120`) as the
 * IPv4 network it names (198.18.0.0/24: the prefix counts IPv6 bits), the same way the config schema
 * does (parseCidr), and refuse a mapped address with a prefix below /96 instead of reading its prefix
 * as IPv4 bits (`::ffff:198.18.0.0/24` used to shield 198.18.0.0/24, and /120 was refused). An address
 * in a log line written `::ffff:a.b.c.d` is the IPv4 client a.b.c.d for both.
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { TrustedProxies } from '../../../src/parse/trusted-proxies.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { canonicalIp } from '../../../src/parse/ip.js';
import { PRESETS } from '../../../src/detect/presets.js';

describe('Allowlist with IPv4-mapped networks', () => {
  it('::ffff:198.18.0.0/120 allowlists 198.18.0.0/24 and nothing else, however the client is written', () => {
    const a = new Allowlist(['::ffff:198.18.0.0/120', '0:0:0:0:0:FFFF:c612:0207/128']);
    expect(a.cidrs()).toEqual(['127.0.0.0/8', '::1/128', '198.18.0.0/24', '198.18.2.7/32']);
    for (const ip of ['198.18.0.5', '198.18.0.255', '::ffff:198.18.0.5', '::FFFF:c612:0005', '198.18.2.7', '::ffff:198.18.2.7']) expect(a.has(ip), ip).toBe(true);
    for (const ip of ['198.18.1.5', '198.19.0.5', '198.18.2.8', '::ffff:198.18.1.5', '::c612:5', '2001:db8::5']) expect(a.has(ip), ip).toBe(false);
    // A CIDR ban over it is refused naming the entry, and one beside it is not.
    expect(a.overlapping('198.18.0.0/16')).toBe('198.18.0.0/24');
    expect(a.overlapping('198.18.1.0/24')).toBeNull();
    const book = new BanBook({ ...PRESETS }, a);
    expect(() => book.banManually('198.18.0.0/23', { durationMs: null, now: 0 })).toThrow(/covers 198\.18\.0\.0\/24, which is allowlisted/);
    expect(() => book.banManually('::ffff:198.18.0.9', { durationMs: null, now: 0 })).toThrow(/198\.18\.0\.9 is allowlisted/);
    // An IPv4 entry covers a client written ::ffff:a.b.c.d (a log line's first field, a manual ban)
    // as the IPv4 address: the parser canonicalises it, and has() takes any spelling (as it already did).
    const v4 = new Allowlist(['198.18.4.0/22']);
    for (const ip of ['::ffff:198.18.5.1', '::ffff:c612:501']) expect(v4.has(ip), ip).toBe(true);
    expect(v4.has('::ffff:198.18.8.1')).toBe(false);
    const ev = createLineParser('auto')(`::ffff:198.18.5.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 403 1 "-" "x"`);
    expect(ev).toMatchObject({ ip: '198.18.5.1', family: 4 });
    expect(typeof ev === 'object' && v4.has(ev.ip)).toBe(true);
  });

  it('a mapped address with a prefix below /96 is refused, never read as an IPv4 prefix', () => {
    for (const raw of ['::ffff:198.18.0.0/24', '::ffff:198.0.0.0/8', '::ffff:198.18.1.2/32', '::ffff:198.18.0.0/0']) {
      expect(() => new Allowlist([raw]), raw).toThrow(/IPv4-mapped.*\/96 to \/128/);
    }
  });
});

describe('TrustedProxies with IPv4-mapped networks', () => {
  const T = '10/Oct/2026:13:55:36 +0000';
  const line = (peer: string, xff: string) => `${peer} - - [${T}] "GET /wp-login.php HTTP/1.1" 403 199 "-" "Mozilla/5.0" "${xff}"`;

  it('::ffff:198.19.0.0/112 trusts 198.19.0.0/16 only, whether the peer is written IPv4 or mapped', () => {
    const tp = TrustedProxies.from(['::ffff:198.19.0.0/112'])!;
    expect(tp.has(canonicalIp('198.19.7.1')!)).toBe(true);
    expect(tp.has(canonicalIp('::ffff:198.19.7.1')!)).toBe(true);
    expect(tp.hasQuad((198 << 24) | (19 << 16) | 1)).toBe(true);
    expect(tp.has(canonicalIp('198.18.7.1')!)).toBe(false);
    expect(tp.has(canonicalIp('::c613:701')!)).toBe(false);
    const parse = createLineParser('auto', { trustedProxies: ['::ffff:198.19.0.0/112'] });
    for (const peer of ['198.19.0.2', '::ffff:198.19.0.2', '::FFFF:c613:2']) {
      expect(parse(line(peer, '198.18.0.5')), peer).toMatchObject({ ip: '198.18.0.5' });
    }
    // Not a proxy: its own address is the client, whatever it forwards.
    expect(parse(line('::ffff:198.18.9.9', '198.18.0.5'))).toMatchObject({ ip: '198.18.9.9' });
  });

  it('a mapped address with a prefix below /96 is refused with the rule', () => {
    expect(() => TrustedProxies.from(['::ffff:198.19.0.0/16'])).toThrow(/IPv4-mapped.*\/96 to \/128/);
  });
});
