/**
 * Review H49: ipv6NetworkOf reads canonical IPv6 text (a ban's address: what escalation counts at a
 * restart or a reload, one per ban held) straight into groups instead of a full parse (2.5 s for
 * 100,000 bans at a reload, review H49). Its answer must be the full parse's: compared, for seeded
 * addresses in each range it treats apart (IPv4 forms, Teredo, zero runs), with the answer for the same
 * address spelled otherwise (upper case, leading zeros, no `::`, an embedded dotted quad), which the
 * fast reading refuses and the full parse answers.
 */
import { describe, expect, it } from 'vitest';
import { canonicalIp, ipv6NetworkOf } from '../../../src/parse/ip.js';
import { rng } from '../../support/random.js';

/** Eight groups as text: RFC 5952 or otherwise (`style`). */
function spell(g: number[], style: 'full' | 'upper' | 'padded'): string {
  const hex = g.map((x) => x.toString(16));
  if (style === 'full') return hex.join(':');
  if (style === 'upper') return (canonicalIp(hex.join(':'))?.ip ?? hex.join(':')).toUpperCase();
  return hex.map((h) => h.padStart(4, '0')).join(':');
}

describe('ipv6NetworkOf of canonical text answers as the full parse of another spelling (review H49)', () => {
  it('seeded addresses of every kind, at every prefix 32–128', () => {
    const r = rng(49);
    const word = (): number => (r() < 0.35 ? 0 : Math.floor(r() * 0x10000));
    const heads: (() => number[])[] = [
      () => [0x2001, 0xdb8, word(), word()],
      () => [0x2001, 0, word(), word()], // Teredo
      () => [0x64, 0xff9b, 0, 0], // NAT64
      () => [0x64, 0xff9b, 1, word()], // NAT64 local use
      () => [0, 0, 0, 0], // IPv4-mapped, -translated, -compatible below
      () => [word(), word(), word(), word()],
    ];
    let compared = 0;
    for (let i = 0; i < 3000; i++) {
      const head = heads[i % heads.length]!();
      const tail = i % heads.length === 4 ? [[0, 0xffff], [0xffff, 0], [0, 0], [0, 1]][Math.floor(r() * 4)]!.concat([word(), word()]) : [word(), word(), word(), word()];
      const g = [...head, ...tail];
      const canonical = canonicalIp(g.map((x) => x.toString(16)).join(':'));
      if (canonical === null) continue;
      const prefix = 32 + Math.floor(r() * 97);
      const got = ipv6NetworkOf(canonical.ip, prefix);
      for (const style of ['full', 'upper', 'padded'] as const) {
        const other = spell(g, style);
        if (other === canonical.ip) continue;
        expect(got, `${canonical.ip} /${prefix} vs ${other}`).toBe(ipv6NetworkOf(other, prefix));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(5000);
  });
});
