/**
 * BoundedMap (src/bounded-map.ts): at most `max` entries, the one set longest ago forgotten first
 * (a key set again is new), iteration in setting order, and evictions that cost the same however
 * many came before (a Map evicted with keys().next() scanned past every slot deleted before).
 */
import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/bounded-map.js';
import { cpuMs } from '../support/cpu-time.js';

describe('BoundedMap', () => {
  it('forgets the entry set longest ago; a key set again counts as new; delete frees a place', () => {
    const evicted: string[] = [];
    const m = new BoundedMap<string, number>(3, (k) => evicted.push(k));
    m.set('a', 1).set('b', 2).set('c', 3);
    m.set('a', 10); // a is now the newest
    m.set('d', 4);
    expect(evicted).toEqual(['b']);
    expect([...m]).toEqual([['c', 3], ['a', 10], ['d', 4]]);
    expect(m.delete('c')).toBe(true);
    m.set('e', 5);
    expect(evicted).toEqual(['b']);
    expect([...m.keys()]).toEqual(['a', 'd', 'e']);
    expect([...m.values()]).toEqual([10, 4, 5]);
    expect(m.get('a')).toBe(10);
    expect(m.has('b')).toBe(false);
    m.clear();
    expect(m.size).toBe(0);
    m.set('f', 6);
    expect([...m]).toEqual([['f', 6]]);
  });

  it('matches a plain model over a long random run of sets and deletes', () => {
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const m = new BoundedMap<number, number>(50);
    const model = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      const k = rnd(200);
      if (rnd(4) === 0) {
        expect(m.delete(k)).toBe(model.delete(k));
      } else {
        m.set(k, i);
        model.delete(k);
        model.set(k, i);
        if (model.size > 50) model.delete(model.keys().next().value as number);
      }
      if (i % 997 === 0) expect([...m]).toEqual([...model]);
    }
    expect([...m]).toEqual([...model]);
  });

  it('evicts in constant time: a round of evicting sets costs a few times as many sets into a plain Map', () => {
    // Measured against the same machine's plain Map, not a wall-clock bound: here about 3-6 times
    // (20-38 ms against 6.5 for 40,000); a Map evicted with keys().next() took about 150 times.
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    let plain = Infinity;
    for (let r = 0; r < 3; r++) {
      const p = new Map<string, number>();
      plain = Math.min(plain, cpuMs(() => {
        for (let i = 0; i < 40_000; i++) p.set(`p${r}-${i}`, i);
      }));
    }
    const m = new BoundedMap<string, number>(50_000);
    for (let i = 0; i < 50_000; i++) m.set(`k${i}`, i);
    let n = 50_000;
    let worst = 0;
    for (let r = 0; r < 4; r++) {
      worst = Math.max(worst, cpuMs(() => {
        for (const end = n + 40_000; n < end; n++) m.set(`k${n}`, n);
      }));
    }
    expect(m.size).toBe(50_000);
    expect(worst).toBeLessThan(40 * plain + 50);
  });
});
