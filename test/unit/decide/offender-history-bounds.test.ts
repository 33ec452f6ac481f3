/**
 * The repeat-offender history's eviction at its bound.
 *
 * OffenderHistory forgot its oldest entry with `map.keys().next()` on a Map that is deleted from
 * the head over and over: V8 leaves the deleted slots in place, and every eviction scanned past all
 * of them. Once the history was full (100,000 entries by default), a flood of distinct addresses,
 * each banned once, made every new ban cost more than the last: 200,000 bans took over 10 s of CPU
 * on the event loop, growing without bound.
 */
import { describe, expect, it } from 'vitest';
import { OffenderHistory } from '../../../src/decide/offender-history.js';
import { cpuMs } from '../../support/cpu-time.js';

const ip = (i: number): string => `198.${18 + ((i >>> 16) & 1)}.${(i >>> 8) & 255}.${i & 255}`;

describe('OffenderHistory at its bound', () => {
  it('evicting keeps a linear cost under a flood of distinct one-time offenders', () => {
    const max = 50_000;
    const h = new OffenderHistory(max);
    for (let i = 0; i < max; i++) h.set(`r ${ip(i)}`, { ip: ip(i), rule: 'r', count: 1, last: i });
    // Measured against the same machine's plain Map of entries like these, not a wall-clock bound:
    // 150,000 evicting sets cost a few times 150,000 plain sets; the head scan took about 3 s.
    let plain = Infinity;
    for (let r = 0; r < 3; r++) {
      const p = new Map<string, { ip: string; rule: string; count: number; last: number }>();
      // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
      plain = Math.min(plain, cpuMs(() => {
        for (let i = 0; i < 150_000; i++) p.set(`p${r} ${i}`, { ip: ip(i % 131072), rule: 'r', count: 1, last: i });
      }));
    }
    const took = cpuMs(() => {
      for (let i = max; i < max + 150_000; i++) h.set(`r ${i}`, { ip: ip(i % 131072), rule: 'r', count: 1, last: i });
    });
    expect(h.size).toBe(max);
    expect(took).toBeLessThan(40 * plain + 100);
  });

  it('still forgets the oldest one-time offender first, and repeat offenders last', () => {
    const h = new OffenderHistory(3);
    h.set('a', { ip: '198.18.0.1', rule: 'r', count: 2, last: 1 });
    h.set('b', { ip: '198.18.0.2', rule: 'r', count: 1, last: 2 });
    h.set('c', { ip: '198.18.0.3', rule: 'r', count: 1, last: 3 });
    h.set('b', { ip: '198.18.0.2', rule: 'r', count: 1, last: 4 }); // b is now newer than c
    h.set('d', { ip: '198.18.0.4', rule: 'r', count: 1, last: 5 });
    expect(h.get('c')).toBeUndefined();
    expect(h.values().map((e) => e.ip)).toEqual(['198.18.0.2', '198.18.0.4', '198.18.0.1']);
    for (let i = 10; i < 2000; i++) h.set(`x${i}`, { ip: `198.18.1.${i % 250}`, rule: 'r', count: 1, last: i });
    expect(h.get('a')?.count).toBe(2);
    expect(h.size).toBe(3);
  });
});
