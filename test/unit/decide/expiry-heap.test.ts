/**
 * ExpiryHeap against a model (a list sorted by expiry, then by push order): random pushes, pops and
 * keeps of a live subset, with many equal expiries (the agent's bans made in one second end in one).
 */
import { describe, expect, it } from 'vitest';
import { ExpiryHeap } from '../../../src/decide/expiry-heap.js';
import { rng } from '../../support/random.js';

interface B {
  readonly until: number | null;
  readonly id: number;
}

describe('ExpiryHeap', () => {
  it('pops in expiry order, ties in push order, over random pushes, pops and keeps (300 seeds)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const heap = new ExpiryHeap<B>();
      let model: { k: string; b: B; seq: number }[] = [];
      let seq = 0;
      for (let step = 0; step < 400; step++) {
        const x = r();
        if (x < 0.55) {
          const b = { until: Math.floor(r() * 20), id: ++seq };
          heap.push(`k${b.id}`, b);
          model.push({ k: `k${b.id}`, b, seq });
          model.sort((p, q) => p.b.until! - q.b.until! || p.seq - q.seq);
        } else if (x < 0.95) {
          expect(heap.topKey()).toBe(model[0]?.k);
          expect(heap.topBan()).toBe(model[0]?.b);
          heap.pop();
          model.shift();
        } else {
          const odd = (b: B) => b.id % 3 !== 0;
          heap.keep((_k, b) => odd(b));
          model = model.filter((e) => odd(e.b));
        }
        expect(heap.size).toBe(model.length);
      }
      while (model.length > 0) {
        expect(heap.topKey()).toBe(model.shift()!.k);
        heap.pop();
      }
      expect(heap.size).toBe(0);
      expect(heap.topKey()).toBeUndefined();
      heap.pop(); // empty: nothing happens
      expect(heap.size).toBe(0);
    }
  });
});
