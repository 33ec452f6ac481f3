/**
 * The ban book's index of banned networks (src/decide/network-index.ts), against a plain scan with
 * cidrOverlaps; and what it is for: a group of thousands of network bans adopted without a scan per
 * ban (a replica froze for minutes: review: helper), and saved networks that overlap restored as one.
 */
import { describe, expect, it } from 'vitest';
import { NetworkIndex } from '../../../src/decide/network-index.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { canonicalTarget, cidrOverlaps } from '../../../src/parse/ip.js';
import { rng } from '../../support/random.js';

const cidrOf = (ip: string) => {
  const t = canonicalTarget(ip)!;
  return { network: t.ip.split('/')[0]!, prefix: t.prefix, family: t.family };
};

describe('NetworkIndex', () => {
  it('answers as a scan of every held network does, over random adds, deletes and queries (IPv4 and IPv6)', () => {
    const r = rng(4242);
    const index = new NetworkIndex();
    const held = new Set<string>();
    const off = new Set<string>();
    const randomNet = (): string => {
      if (r() < 0.5) {
        const prefix = 15 + Math.floor(r() * 17); // /15 … /31 inside 198.18.0.0/15
        const v = (0xc6120000 + Math.floor(r() * 0x20000)) >>> 0;
        return canonicalTarget(`${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${prefix}`)!.ip;
      }
      const prefix = 32 + Math.floor(r() * 33); // /32 … /64 inside 2001:db8::/32
      const g = () => Math.floor(r() * 4).toString(16);
      return canonicalTarget(`2001:db8:${g()}:${g()}::/${prefix}`)!.ip;
    };
    for (let step = 0; step < 4000; step++) {
      const n = randomNet();
      const t = canonicalTarget(n)!;
      const op = r();
      if (op < 0.45) {
        index.add(t);
        held.add(n);
      } else if (op < 0.6 && held.size > 0) {
        const victim = [...held][Math.floor(r() * held.size)]!;
        index.delete(victim);
        held.delete(victim);
      } else {
        if (r() < 0.2 && held.size > 0) off.add([...held][Math.floor(r() * held.size)]!);
        const holds = (x: string): boolean => !off.has(x);
        const got = index.overlapping(t, 1, holds);
        const expected = [...held].filter((h) => h !== n && holds(h) && cidrOverlaps(cidrOf(h), cidrOf(n)));
        if (expected.length === 0) expect(got, n).toBeNull();
        else expect(expected, `${n} → ${got}`).toContain(got);
      }
      if (step % 500 === 0) off.clear();
    }
    expect(index.size).toBe(held.size);
  });
});

describe('BanBook with many network bans', () => {
  const D = 86_400_000;
  it('adopts 20,000 IPv6 /48 networks from the group and refuses those inside them, without a scan per ban', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]));
    let adopted = 0;
    for (let i = 0; i < 20_000; i++) {
      if (b.adopt({ ip: `2001:db8:${i.toString(16)}::/48`, rule: 'manual', at: 0, until: 10 * D, origin: 'r2' }, 1) !== null) adopted++;
    }
    expect(adopted).toBe(20_000);
    // A repeated delivery is a no-op; a network inside (or around) one held is refused.
    expect(b.adopt({ ip: '2001:db8:7::/48', rule: 'manual', at: 0, until: 10 * D, origin: 'r2' }, 1)).toBeNull();
    expect(b.adopt({ ip: '2001:db8:7:1::/64', rule: 'manual', at: 0, until: 10 * D, origin: 'r3' }, 1)).toBeNull();
    expect(b.adopt({ ip: '2001:db8::/32', rule: 'manual', at: 0, until: 10 * D, origin: 'r3' }, 1)).toBeNull();
    expect(b.adopt({ ip: '2001:db9::/48', rule: 'manual', at: 0, until: 10 * D, origin: 'r3' }, 1)).not.toBeNull();
  }, 60_000);

  it('restores one of two saved networks that overlap (the wider), in any order, and ends the other', () => {
    for (const order of [0, 1]) {
      const saved = [
        { ip: '198.18.7.0/24', family: 4, rule: 'forbidden', at: 0, until: 2 * D, failures: 5, nth: 1, manual: false },
        { ip: '198.18.0.0/16', family: 4, rule: 'manual', at: 0, until: null, failures: 0, nth: 1, manual: true },
      ];
      if (order === 1) saved.reverse();
      const b = new BanBook({ ...PRESETS }, new Allowlist([]));
      expect(b.restore({ bans: saved } as never, 1)).toEqual({ restored: 1, dropped: 1 });
      const kernel = b.changes(1);
      expect(kernel.ban.map((x) => x.ip)).toEqual(['198.18.0.0/16']);
      expect(b.about(canonicalTarget('198.18.7.0/24')!, 1).ended[0]?.ended).toMatchObject({ reason: 'refused', by: 'restore: overlaps 198.18.0.0/16' });
    }
  });
});
