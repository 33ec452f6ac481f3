/**
 * Review H47: the network index kept each family's networks in one sorted array, spliced at every add
 * and delete, so n adds or deletes near its front cost n² moves. A state file or a group of 100,000
 * network bans restored in 2–5 s, and the same bans ending in one second blocked the agent's event
 * loop for 0.6–0.7 s per slice of 2,048 (11–13 s in all; IPv4 /30 and IPv6 /64 alike).
 *
 * Measured as growth: the same work on 8 times as many networks must cost about 8 times as much
 * (12–15x here with GC and caches), not 64 times (86–114x with the sorted array). Each side
 * interleaved, the best of three, and a wide bound.
 */
import { describe, expect, it } from 'vitest';
import { NetworkIndex, type IndexedNetwork } from '../../../src/decide/network-index.js';
import { canonicalTarget, cidrOverlaps } from '../../../src/parse/ip.js';
import { rng } from '../../support/random.js';
import { cpuNow } from '../../support/cpu-time.js';

const v6 = (i: number): IndexedNetwork => ({ ip: `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`, family: 6, prefix: 64 });
const v4 = (i: number): IndexedNetwork => ({ ip: `198.${18 + (i >> 14)}.${(i >> 6) & 255}.${(i & 63) << 2}/30`, family: 4, prefix: 30 });

/** ms to add `n` networks last first (each at the front), then delete them first first (each from the front). */
function frontCost(n: number, net: (i: number) => IndexedNetwork): number {
  const nets = Array.from({ length: n }, (_, i) => net(i));
  const index = new NetworkIndex();
  // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
  const t0 = cpuNow();
  for (let i = n - 1; i >= 0; i--) index.add(nets[i]!);
  expect(index.size).toBe(n);
  for (let i = 0; i < n; i++) index.delete(nets[i]!.ip);
  const ms = cpuNow() - t0;
  expect(index.size).toBe(0);
  return ms;
}

describe('the network index under many adds and deletes (review H47)', () => {
  for (const [family, net] of [['IPv6 /64', v6], ['IPv4 /30', v4]] as const) {
    it(`${family}: 8 times the networks cost about 8 times as much, not 64`, () => {
      const n = 4000;
      frontCost(n, net); // warm-up
      let small = Infinity;
      let big = Infinity;
      for (let r = 0; r < 3; r++) {
        small = Math.min(small, frontCost(n, net));
        big = Math.min(big, frontCost(8 * n, net));
      }
      expect(big).toBeLessThan(32 * small + 100);
    });
  }

  it('answers as a scan does over random adds, deletes and overlap queries with many ties and chunk splits', () => {
    const r = rng(4747);
    const index = new NetworkIndex();
    const held = new Map<string, { network: string; prefix: number; family: 4 | 6 }>();
    // Few distinct starts, many prefixes: ties (one start, several prefixes) across chunk boundaries.
    const randomNet = (): string => {
      const prefix = 16 + Math.floor(r() * 15);
      const v = (0xc6120000 + (Math.floor(r() * 256) << 9)) >>> 0;
      return canonicalTarget(`${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${prefix}`)!.ip;
    };
    const cidr = (ip: string) => {
      const t = canonicalTarget(ip)!;
      return { network: t.ip.split('/')[0]!, prefix: t.prefix, family: t.family };
    };
    for (let step = 0; step < 6000; step++) {
      const n = randomNet();
      const op = r();
      if (op < 0.55) {
        index.add(canonicalTarget(n)!);
        held.set(n, cidr(n));
      } else if (op < 0.8 && held.size > 0) {
        const victim = [...held.keys()][Math.floor(r() * held.size)]!;
        index.delete(victim);
        held.delete(victim);
      } else {
        const c = cidr(n);
        const got = index.overlapping(canonicalTarget(n)!, 1, () => true);
        const expected = [...held].filter(([h, x]) => h !== n && cidrOverlaps(x, c)).map(([h]) => h);
        if (expected.length === 0) expect(got, n).toBeNull();
        else expect(expected, `${n} → ${got}`).toContain(got);
      }
      expect(index.size).toBe(held.size);
    }
  });
});
