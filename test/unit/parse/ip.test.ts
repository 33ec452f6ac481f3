import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { isSkip } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { canonicalClientIp, canonicalIp, nonClientReason, parseCidr } from '../../../src/parse/ip.js';

const T = '10/Oct/2026:13:55:36 +0000';
const line = (addr: string) => `${addr} - - [${T}] "GET /x HTTP/1.1" 403 1 "-" "-"`;

/** Every spelling, with what it must become. */
const SPELLINGS: [string, string | null][] = [
  // IPv4-mapped (::ffff:0:0/96): the only IPv6 that is IPv4.
  ['::ffff:198.18.0.1', '198.18.0.1'],
  ['::FFFF:198.18.0.1', '198.18.0.1'],
  ['::ffff:c612:1', '198.18.0.1'],
  ['::FFFF:C612:0001', '198.18.0.1'],
  ['0:0:0:0:0:ffff:198.18.0.1', '198.18.0.1'],
  ['0:0:0:0:0:FFFF:c612:1', '198.18.0.1'],
  ['0000:0000:0000:0000:0000:ffff:c612:0001', '198.18.0.1'],
  ['0::ffff:198.18.0.1', '198.18.0.1'],
  ['::0:ffff:198.18.0.1', '198.18.0.1'],
  ['0:0:0::ffff:c612:1', '198.18.0.1'],
  // IPv4-compatible (::/96, as glibc prints it): IPv6.
  ['::198.18.0.38', '::c612:26'],
  ['::c612:26', '::c612:26'],
  ['0:0:0:0:0:0:198.18.0.38', '::c612:26'],
  ['0::198.18.0.38', '::c612:26'],
  ['::0:198.18.0.38', '::c612:26'],
  ['::0.0.0.1', '::1'],
  ['::0.0.0.0', '::'],
  // SIIT (::ffff:0:0:0/96), NAT64 (64:ff9b::/96) and other embeddings: IPv6.
  ['::ffff:0:198.18.0.1', '::ffff:0:c612:1'],
  ['::ffff:0:c612:1', '::ffff:0:c612:1'],
  ['64:ff9b::198.18.0.1', '64:ff9b::c612:1'],
  ['::1:ffff:198.18.0.1', '::1:ffff:c612:1'],
  ['1::ffff:198.18.0.1', '1::ffff:c612:1'],
  ['ffff::198.18.0.1', 'ffff::c612:1'],
  ['::ffff', '::ffff'],
  ['::ffff:0', '::ffff:0'],
  // Plain IPv6: RFC 5952.
  ['2001:DB8::1', '2001:db8::1'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
  ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ['::', '::'],
  ['::1', '::1'],
  // Not addresses.
  ['::ffff:198.018.0.1', null],
  ['::ffff:198.18.0.256', null],
  ['::198.18.0', null],
  ['198.18.0.1::', null],
  ['1::2::3', null],
  ['fe80::1%eth0', null],
  ['[2001:db8::1]', null],
  ['2001:db8::1/64', null],
  ['1:2:3:4:5:6:7:8:9', null],
  ['12345::1', null],
  ['::ffff:198.18.0.1:1', null],
  ['', null],
];

describe('canonicalIp', () => {
  it.each(SPELLINGS)('%s → %s', (raw, want) => {
    const c = canonicalIp(raw);
    expect(c === null ? null : c.ip).toBe(want);
    if (c !== null) expect(c.family).toBe(want!.includes(':') ? 6 : 4);
  });

  it('is idempotent and agrees with ipaddr.js on addresses without a dotted quad', () => {
    let seed = 7;
    const r = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / (1 << 24);
    for (let i = 0; i < 3000; i++) {
      const groups = Array.from({ length: 8 }, () => (r() < 0.4 ? 0 : Math.floor(r() * 65536)));
      const text = groups.map((g) => (r() < 0.5 ? g.toString(16).toUpperCase() : g.toString(16).padStart(4, '0'))).join(':');
      const c = canonicalIp(text);
      expect(c, text).not.toBeNull();
      const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
      if (mapped) {
        expect(c!.family).toBe(4);
      } else {
        expect(c!.ip, text).toBe(ipaddr.IPv6.parse(text).toRFC5952String());
        expect(canonicalIp(c!.ip)).toEqual(c);
      }
    }
  });

  it('parseCidr keeps IPv4-compatible networks IPv6', () => {
    expect(parseCidr('::198.18.0.0/120')).toEqual({ network: '::c612:0', prefix: 120, family: 6 });
    // A mapped network's prefix counts IPv6 bits (/120 is an IPv4 /24); below /96 it is refused
    // (test/unit/config/mapped-networks.test.ts). It used to be read as IPv4 bits.
    expect(parseCidr('::ffff:198.18.0.0/120')).toEqual({ network: '198.18.0.0', prefix: 24, family: 4 });
    expect(parseCidr('::ffff:198.18.0.0/24')).toBeNull();
  });
});

describe('the parser reads every spelling as canonicalIp does', () => {
  it.each(SPELLINGS)('%s', (raw, want) => {
    const p = createLineParser('auto');
    for (let i = 0; i < 3; i++) {
      // Repeated: the address table's cached road must give the same answer as its first miss.
      const o = p(line(raw));
      // A link-local address with its zone, as APR writes it, is the address without the zone (round 6).
      if (raw === 'fe80::1%eth0') {
        expect(isSkip(o) ? o : o.ip).toBe('fe80::1');
        continue;
      }
      if (want === null || raw === '' || nonClientReason(canonicalIp(raw)!) !== null) {
        expect(isSkip(o), raw).toBe(true);
      } else {
        expect(isSkip(o) ? o : o.ip).toBe(want);
      }
    }
  });

  it('an IPv4-compatible client and the IPv4 host it embeds stay two clients', () => {
    const p = createLineParser('apache-combined');
    expect(p(line('::198.18.0.38'))).toMatchObject({ ip: '::c612:26', family: 6 });
    expect(p(line('198.18.0.38'))).toMatchObject({ ip: '198.18.0.38', family: 4 });
    expect(p(line('::198.18.0.38'))).toMatchObject({ ip: '::c612:26', family: 6 });
    const v = createLineParser('apache-vhost-combined');
    expect(v(`www.example.org:443 ${line('::198.18.0.38')}`)).toMatchObject({ ip: '::c612:26', vhost: 'www.example.org' });
  });
});

describe('addresses that can never be a client', () => {
  const table: [string, ReturnType<typeof nonClientReason>][] = [
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['0.255.255.255', 'unspecified'],
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:0', 'unspecified'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['::ffff:224.0.0.251', 'multicast'],
    ['ff02::1', 'multicast'],
    ['FF05::1:3', 'multicast'],
    ['ff00::', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:255.255.255.255', 'broadcast'],
    ['1.0.0.0', null],
    ['198.18.0.1', null],
    ['223.255.255.255', null],
    ['240.0.0.1', null],
    ['255.255.255.254', null],
    ['127.0.0.1', null],
    ['::1', null],
    ['::ff00:1', null],
    ['fe80::1', null],
    ['fec0::1', null],
    ['f00::1', null],
    ['ff::1', null],
    ['2001:db8::1', null],
    ['::224.0.0.1', null],
    ['::c612:26', null],
  ];

  it.each(table)('%s: %s', (raw, why) => {
    const c = canonicalIp(raw)!;
    expect(c).not.toBeNull();
    expect(nonClientReason(c)).toBe(why);
    expect(canonicalClientIp(raw)).toEqual(why === null ? c : null);
  });

  it('canonicalClientIp rejects what canonicalIp rejects', () => {
    for (const raw of ['', 'host.example', '198.18.0.1/32', '1.2.3', '[::1]']) expect(canonicalClientIp(raw)).toBeNull();
  });

  it('the parser skips such first fields as not-client, counted, in every layout and wrapper', () => {
    const p = createLineParser('auto');
    for (const [raw, why] of table) {
      const l = line(raw);
      const want = why === null ? canonicalIp(raw)!.ip : 'not-client';
      const got = (o: ReturnType<typeof p>) => (isSkip(o) ? o : o.ip);
      expect(got(p(l)), raw).toBe(want);
      expect(got(p(`www.example.org:80 ${l}`)), raw).toBe(want);
      expect(got(p(`{"log":${JSON.stringify(`${l}\n`)},"stream":"stdout"}`)), raw).toBe(want);
      expect(got(p(`<30>Nov 23 09:35:48 web[1]: ${l}`)), raw).toBe(want);
      expect(got(createLineParser('apache-combined')(l)), raw).toBe(want);
      expect(got(createLineParser('nginx-combined')(l)), raw).toBe(want);
    }
  });
});
