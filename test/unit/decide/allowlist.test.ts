import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { cpuMs } from '../../support/cpu-time.js';

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

describe('Allowlist against node:net BlockList (model check)', () => {
  it('agrees on random addresses near random networks of both families, prefixes 0 to full', async () => {
    const { BlockList } = await import('node:net');
    let seed = 4242;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const v4 = () => `198.${18 + rnd(2)}.${rnd(256)}.${rnd(256)}`;
    const v6 = () => `2001:db8:${rnd(4).toString(16)}:${rnd(65536).toString(16)}::${rnd(65536).toString(16)}`;
    const cidrs = [`${v4()}/${rnd(33)}`, `${v4()}/${8 + rnd(25)}`, `${v6()}/${rnd(129)}`, `${v6()}/${16 + rnd(113)}`, v4(), v6()];
    const a = new Allowlist(cidrs);
    const b = new BlockList();
    for (const c of a.cidrs()) {
      const [net, p] = c.split('/');
      b.addSubnet(net!, Number(p), net!.includes(':') ? 'ipv6' : 'ipv4');
    }
    for (let i = 0; i < 5000; i++) {
      const ip = rnd(2) ? v4() : v6();
      expect(a.has(ip), `${ip} vs ${cidrs.join(' ')}`).toBe(b.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4'));
    }
  });

  it('reads only canonical dotted quads directly; other spellings go through canonicalisation', async () => {
    const { dottedQuadValue } = await import('../../../src/decide/allowlist.js');
    expect(dottedQuadValue('198.18.0.1')).toBe(((198 * 256 + 18) * 256 + 0) * 256 + 1);
    expect(dottedQuadValue('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '256.1.1.1', '1.2.3.4 ', 'a.b.c.d', '1.2.3.'])
      expect(dottedQuadValue(bad), bad).toBe(-1);
    const a = new Allowlist(['198.18.0.0/16']);
    expect(a.has('::ffff:198.18.3.4')).toBe(true);
    expect(a.has('01.2.3.4')).toBe(false);
  });
});

describe('Allowlist at scale (issue 9: a 100,000-entry ignoreip was scanned per failing line)', () => {
  // Math.imul keeps the LCG exact, and its high bits are used: low bits of an LCG cycle quickly, which
  // made the probes repeat the entries.
  let seed = 99;
  const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000) * n);
  const v4 = () => `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
  const v6 = () => `2001:db8:${rnd(3).toString(16)}:${rnd(8).toString(16)}:${rnd(65536).toString(16)}::${rnd(65536).toString(16)}`;

  it('agrees with node:net BlockList over 10,000 overlapping, nested and adjacent entries, and after later add()s', async () => {
    const { BlockList } = await import('node:net');
    const cidrs: string[] = [];
    for (let i = 0; i < 5_000; i++) cidrs.push(rnd(4) === 0 ? v4() : `${v4()}/${8 + rnd(25)}`);
    // Prefixes ≥ 16: BlockList also matches IPv4 against an IPv6 network holding ::ffff:0:0/96 (e.g. ::/0);
    // the allowlist keeps the families apart (an IPv4 client is allowlisted by IPv4 entries).
    for (let i = 0; i < 5_000; i++) cidrs.push(rnd(4) === 0 ? v6() : `${v6()}/${16 + rnd(113)}`);
    cidrs.push('198.18.0.0/24', '198.18.1.0/24', '10.0.0.0/8', '10.1.0.0/16', '0.0.0.0/1', '2001:db8:ffff::/48', '2001:db8:ffff:1::/64');
    const a = new Allowlist(cidrs);
    const model = new BlockList();
    const addModel = (c: string) => {
      const [net, p] = c.split('/');
      const family = net!.includes(':') ? 'ipv6' : 'ipv4';
      model.addSubnet(net!, p === undefined ? (family === 'ipv4' ? 32 : 128) : Number(p), family);
    };
    for (const c of a.cidrs()) addModel(c);
    const probe = () => {
      for (let i = 0; i < 10_000; i++) {
        const ip = rnd(2) ? v4() : v6();
        expect(a.has(ip), ip).toBe(model.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4'));
      }
      for (const ip of ['198.18.0.255', '198.18.1.0', '198.18.2.0', '127.255.255.255', '128.0.0.0', '127.0.0.0', '::1', '::2', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'])
        expect(a.has(ip), ip).toBe(model.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4'));
    };
    probe();
    for (const c of ['198.19.113.0/24', '2001:db8:2::/48', '255.255.255.255']) {
      a.add(c);
      addModel(c);
    }
    expect(a.has('198.19.113.9')).toBe(true);
    expect(a.has('2001:db8:2:1::1')).toBe(true);
    expect(a.has('255.255.255.255')).toBe(true);
    probe();
  });

  it('answers 20,000 lookups against 100,000 entries in well under a second (was 10 s)', () => {
    const cidrs: string[] = [];
    for (let i = 0; i < 100_000; i++) cidrs.push(i % 10 === 0 ? `${v6()}/${64 + rnd(65)}` : `${v4()}/${24 + rnd(9)}`);
    const probes: string[] = [];
    for (let i = 0; i < 20_000; i++) probes.push(i % 10 === 0 ? v6() : v4());
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    let a = new Allowlist([]);
    const buildMs = cpuMs(() => {
      a = new Allowlist(cidrs);
      a.has('198.18.0.1'); // sorts the tables
    });
    let hits = 0;
    const lookupMs = cpuMs(() => {
      for (const ip of probes) if (a.has(ip)) hits++;
    });
    expect(hits).toBeLessThan(probes.length / 2); // mostly misses: each one searched the whole list before
    expect(lookupMs).toBeLessThan(300);
    expect(buildMs).toBeLessThan(3000); // parsing and sorting 100,000 entries, once
  });
});
