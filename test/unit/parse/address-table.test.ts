import { isIPv4 } from 'node:net';
import { describe, expect, it, vi } from 'vitest';

/** How many times the table validated a field (a miss), counted through the module it imports. */
const canonicalCalls = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../../src/parse/ip.js', async (importOriginal) => {
  const ip = await importOriginal<typeof import('../../../src/parse/ip.js')>();
  return {
    ...ip,
    canonicalIp: (s: string) => {
      canonicalCalls.count++;
      return ip.canonicalIp(s);
    },
  };
});
import { AddressTable, quadText } from '../../../src/parse/address-table.js';
import { canonicalIp, nonClientReason } from '../../../src/parse/ip.js';

describe('AddressTable.scanQuad', () => {
  it('accepts exactly what node:net isIPv4 accepts, up to the space', () => {
    const t = new AddressTable();
    const cases = ['198.18.0.1', '0.0.0.0', '255.255.255.255', '198.18.0.01', '198.18.0.256', '198.18.0', '198.18.0.1.2',
      '198.18..1', '.198.18.0.1', '198.18.0.1.', '1234.1.1.1', '198.18.0.1a', '00.0.0.0', '10.0.0.0', '198.18.255.254'];
    for (const c of cases) {
      const line = `${c} - - rest`;
      const got = t.scanQuad(line, 0, line.length);
      if (isIPv4(c)) {
        expect(got, c).toEqual({ ip: c, family: 4 });
        expect(t.end, c).toBe(c.length);
      } else {
        expect(got, c).toBeNull();
      }
    }
  });

  it('needs a space before the end', () => {
    const t = new AddressTable();
    expect(t.scanQuad('198.18.0.1', 0, 10)).toBeNull();
    expect(t.scanQuad('198.18.0.1 x', 0, 10)).toBeNull();
  });

  it('returns the right address for thousands of distinct quads (collisions are exact)', () => {
    const t = new AddressTable();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 40_000; i += 7) {
        const ip = `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
        const line = `${ip} - -`;
        expect(t.scanQuad(line, 0, line.length)?.ip).toBe(ip);
      }
    }
  });
});

describe('AddressTable.lookup', () => {
  it('canonicalises like canonicalIp, at an offset, repeatedly', () => {
    const t = new AddressTable();
    const raws = ['2001:DB8::1', '2001:0db8:0000::0001', '::ffff:198.18.0.9', '198.18.0.9', '::', 'ff02::1', '::ffff:0.0.0.0', '::198.18.0.9', 'fe80::1%eth0', 'host.example',
      '[2001:db8::1]', '198.18.0.9:80', '', 'x'.repeat(46), '2001:db8:0:1:0:0:0:1'];
    for (let round = 0; round < 3; round++) {
      for (const raw of raws) {
        const line = `vh:443 ${raw} - -`;
        const got = t.lookup(line, 7, 7 + raw.length);
        expect(got === null ? null : { ip: got.ip, family: got.family }, raw).toEqual(canonicalIp(raw));
        if (got !== null) expect(got.notClient, raw).toBe(nonClientReason(got) !== null);
      }
    }
  });

  it('never confuses two addresses that share their tail', () => {
    const t = new AddressTable();
    const a = '2001:db8:1::abcd';
    const b = '2001:db8:2::abcd';
    for (let i = 0; i < 3; i++) {
      expect(t.lookup(a, 0, a.length)?.ip).toBe(a);
      expect(t.lookup(b, 0, b.length)?.ip).toBe(b);
    }
  });
});

describe('AddressTable.exactQuad', () => {
  it('accepts exactly what node:net isIPv4 accepts, filling [start, end) whatever follows', () => {
    const t = new AddressTable();
    const cases = ['198.18.0.1', '0.0.0.0', '255.255.255.255', '198.18.0.01', '198.18.0.256', '198.18.0', '198.18.0.1.2',
      '198.18..1', '.198.18.0.1', '198.18.0.1.', '1234.1.1.1', '198.18.0.1a', '00.0.0.0', '198.18.0.1 ', ' 198.18.0.1', '1.2.3.4:80', ''];
    for (const c of cases) {
      for (const after of ['', ',', '"', ':443']) {
        const line = `x${c}${after}`;
        const ok = t.exactQuad(line, 1, 1 + c.length);
        expect(ok, JSON.stringify(line)).toBe(isIPv4(c));
        if (ok) expect(`${t.quad >>> 24}.${(t.quad >>> 16) & 255}.${(t.quad >>> 8) & 255}.${t.quad & 255}`).toBe(c);
      }
    }
  });
});

describe('quadText', () => {
  const value = (ip: string): number => ip.split('.').reduce((v, o) => (v << 8) | Number(o), 0);

  it('writes every value exactly, signed or unsigned, whatever shares its slot', () => {
    // 20,000 values against 4,096 slots: most share a slot with another, in both orders.
    const values: number[] = [0, -1, 0x7fffffff, 0x80000000, 0xffffffff];
    for (let i = 0; i < 20_000; i++) values.push((Math.imul(i, 0x2545f491) ^ (i << 7)) >>> 0);
    for (let round = 0; round < 2; round++) {
      for (const v of values) {
        const u = v >>> 0;
        const want = `${u >>> 24}.${(u >>> 16) & 255}.${(u >>> 8) & 255}.${u & 255}`;
        expect(quadText(v)).toBe(want);
        expect(quadText(v | 0)).toBe(want);
      }
    }
    expect(quadText(value('198.18.0.1'))).toBe('198.18.0.1');
    expect(quadText(0)).toBe('0.0.0.0');
  });
});

describe('AddressTable.lookup, addresses alike but for their middle', () => {
  it('keeps them apart: the second pass over 2,000 of them finds nearly all without validating again', () => {
    const t = new AddressTable();
    // The same last characters, the prefix varying in the middle: what a holder of a prefix can send.
    const fields = Array.from({ length: 2_000 }, (_, i) => (i % 2 === 0 ? `2001:db8:${i.toString(16)}:0:0:0:0:1` : `2001:db8:${i.toString(16)}:7::1`));
    const first = fields.map((f) => t.lookup(`${f} - -`, 0, f.length));
    canonicalCalls.count = 0;
    const second = fields.map((f) => t.lookup(`${f} - -`, 0, f.length));
    const misses = canonicalCalls.count;
    expect(second).toEqual(first);
    expect(first.every((v, i) => v !== null && v.ip === canonicalIp(fields[i]!)!.ip)).toBe(true);
    // 2,000 entries in 8,192 two-way buckets: some 16 buckets hold three or more, and each of those
    // misses all of its own on the second pass (~50); before every character was hashed, 1,992 did.
    expect(misses).toBeLessThan(200);
  });
});
