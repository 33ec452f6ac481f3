import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';

describe('Allowlist.overlapping (does any allowlisted address fall inside this network?)', () => {
  const a = new Allowlist(['198.18.4.0/22', '198.19.1.1', '2001:db8:a::/48', '2001:db8:ff::7']);

  it('names the allowlisted entry a network covers, and null for a network clear of every entry', () => {
    expect(a.overlapping('198.18.0.0/16')).toBe('198.18.4.0/22');
    expect(a.overlapping('198.18.5.0/24')).toBe('198.18.4.0/22'); // inside an allowlisted network
    expect(a.overlapping('198.19.1.0/24')).toBe('198.19.1.1'); // a single address, shown bare
    expect(a.overlapping('198.19.1.1')).toBe('198.19.1.1');
    expect(a.overlapping('198.18.0.0/22')).toBeNull(); // ends right before 198.18.4.0
    expect(a.overlapping('198.18.8.0/24')).toBeNull(); // starts right after 198.18.7.255
    expect(a.overlapping('198.19.1.2/31')).toBeNull();
    expect(a.overlapping('127.0.0.0/24')).toBe('127.0.0.0/8');
    expect(a.overlapping('126.0.0.0/7')).toBe('127.0.0.0/8');
  });

  it('works for IPv6, whatever the spelling', () => {
    expect(a.overlapping('2001:DB8:A:1::/64')).toBe('2001:db8:a::/48');
    expect(a.overlapping('2001:db8::/32')).toBe('2001:db8:a::/48');
    expect(a.overlapping('2001:db8:ff::/64')).toBe('2001:db8:ff::7');
    expect(a.overlapping('2001:db8:b::/48')).toBeNull();
    expect(a.overlapping('2001:db8:ff::8/125')).toBeNull();
    expect(a.overlapping('::/127')).toBe('::1');
    expect(a.overlapping('2001:db8:ff::7/128')).toBe('2001:db8:ff::7');
  });

  it('sees entries added later, and answers null for garbage', () => {
    const b = new Allowlist();
    expect(b.overlapping('198.18.0.0/24')).toBeNull();
    b.add('198.18.0.1');
    expect(b.overlapping('198.18.0.0/24')).toBe('198.18.0.1');
    expect(b.overlapping('not a network')).toBeNull();
    expect(b.overlapping('198.18.0.0/33')).toBeNull();
  });

  it('agrees with a brute-force scan over many random networks', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const entries = Array.from({ length: 40 }, () => `198.${18 + rnd(2)}.${rnd(256)}.${rnd(256)}/${20 + rnd(13)}`);
    const list = new Allowlist(entries);
    const toInt = (s: string) => s.split('.').reduce((v, o) => v * 256 + Number(o), 0);
    const range = (c: string): [number, number] => {
      const [ip, p] = c.split('/');
      const size = 2 ** (32 - Number(p));
      const start = Math.floor(toInt(ip!) / size) * size;
      return [start, start + size - 1];
    };
    const ranges = [...entries, '127.0.0.0/8'].map(range);
    for (let i = 0; i < 2000; i++) {
      const q = `198.${18 + rnd(2)}.${rnd(256)}.${rnd(256)}/${16 + rnd(17)}`;
      const [s, e] = range(q);
      const want = ranges.some(([a, b]) => a <= e && b >= s);
      expect(list.overlapping(q) !== null, q).toBe(want);
    }
  });
});
