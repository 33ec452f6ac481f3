/**
 * Review H49: the network index's chunked sorted list (chunked-starts.ts, review H47) against a plain
 * array, over seeded sequences of inserts, deletes (of held entries and of entries never held) and
 * walks from a start: chunks split and empty at their edges, runs of equal starts spread over several
 * chunks (a few distinct starts among thousands of entries), and IPv6-sized BigInt starts.
 * Every walk must visit exactly the model's entries at or after its start, in order of start.
 */
import { describe, expect, it } from 'vitest';
import { ChunkedStarts } from '../../../src/decide/chunked-starts.js';
import { rng } from '../../support/random.js';

interface E {
  readonly start: bigint;
  readonly id: number;
}

function check(seed: number): { size: number; chunks: number } {
  const r = rng(seed);
  const list = new ChunkedStarts<E>();
  const model: E[] = [];
  const spread = [3, 20, 1000, 1_000_000][seed % 4]!;
  const base = seed % 2 === 0 ? 1n << 100n : 0n;
  const start = (): bigint => base + BigInt(Math.floor(r() * spread));
  let id = 0;
  for (let op = 0; op < 5000; op++) {
    // Grow for 1,250 operations, then shrink for as many, twice: chunks split, then empty.
    const growing = Math.floor(op / 1250) % 2 === 0;
    const x = r();
    if (model.length === 0 || x < (growing ? 0.7 : 0.25)) {
      const e = { start: start(), id: id++ };
      list.insert(e);
      model.push(e);
    } else if (x < 0.9) {
      if (r() < 0.9) {
        const i = Math.floor(r() * model.length);
        expect(list.delete(model[i]!), `seed ${seed} op ${op}`).toBe(true);
        model.splice(i, 1);
      } else {
        expect(list.delete({ start: start(), id: -1 }), `seed ${seed} op ${op}: never held`).toBe(false);
      }
    } else {
      const from = start();
      const seen: E[] = [];
      list.find(from, (e) => void seen.push(e) === undefined && false);
      let ordered = true;
      for (let k = 1; k < seen.length; k++) if (seen[k]!.start < seen[k - 1]!.start) ordered = false;
      expect(ordered, `seed ${seed} op ${op}: order`).toBe(true);
      const want = model.filter((e) => e.start >= from).map((e) => e.id).sort((a, b) => a - b);
      // Compared as text (a deep equality of thousands of numbers per walk is slow).
      expect(seen.map((e) => e.id).sort((a, b) => a - b).join(','), `seed ${seed} op ${op}: from ${from}`).toBe(want.join(','));
      // A walk stopped by its visitor stops there.
      if (want.length > 1) {
        let n = 0;
        const hit = list.find(from, () => ++n === 2);
        expect(hit).toBe(seen[1]);
      }
    }
    if (list.size !== model.length) expect(list.size, `seed ${seed} op ${op}: size`).toBe(model.length);
  }
  return { size: model.length, chunks: (list as unknown as { chunks: E[][] }).chunks.length };
}

describe('ChunkedStarts against a sorted array (review H49)', () => {
  it('seeds 1–12: inserts, deletes and walks agree with the model', () => {
    let split = 0;
    for (let seed = 1; seed <= 12; seed++) if (check(seed).chunks > 1) split++;
    // The sequences grew past a chunk (512) and split, most of them.
    expect(split).toBeGreaterThan(6);
  });
});
