import { describe, expect, it } from 'vitest';
import { futureLeadOf, SlidingWindows } from '../../../src/detect/sliding-window.js';

const S = 1000;

describe('SlidingWindows', () => {
  it('counts failures inside (t - findtime, t]', () => {
    const w = new SlidingWindows(60 * S, 10);
    expect(w.record('a', 0)).toBe(1);
    expect(w.record('a', 30 * S)).toBe(2);
    expect(w.record('a', 59 * S)).toBe(3);
    // exactly findtime after the first failure: the first one has left the window
    expect(w.record('a', 60 * S)).toBe(3);
    expect(w.record('a', 200 * S)).toBe(1);
  });

  it('keeps addresses apart', () => {
    const w = new SlidingWindows(60 * S, 10);
    w.record('a', 0);
    w.record('a', 1);
    expect(w.record('b', 2)).toBe(1);
    expect(w.count('a', 2)).toBe(2);
  });

  it('accepts events slightly out of order: a line late by less than the lead counts with the newer ones', () => {
    // findtime 10 s: the lead is 5 s.
    const w = new SlidingWindows(10 * S, 10);
    w.record('a', 20 * S);
    w.record('a', 25 * S);
    expect(w.record('a', 21 * S)).toBe(3); // 4 s late: the window is (15, 25]
    // 13 s late: its own window (2, 12] holds only itself; the newer failures are not lost.
    expect(w.record('a', 12 * S)).toBe(1);
    expect(w.count('a', 25 * S)).toBe(3);
    expect(w.record('a', 26 * S)).toBe(4); // (16, 26]: 20, 21, 25, 26
  });

  it('a failure stamped ahead (by more than the lead) neither counts nor ages the current ones out', () => {
    for (const findtime of [10 * S, 60 * S, 3600 * S]) {
      // Ahead of every one of the five current failures by more than the lead.
      for (const ahead of [futureLeadOf(findtime) + 6 * S, findtime, 2 * findtime, 4 * 60 * S].filter((a) => a > futureLeadOf(findtime) + 5 * S)) {
        const w = new SlidingWindows(findtime, 10);
        w.record('a', 1000 * S + ahead);
        for (let i = 1; i <= 5; i++) expect(w.record('a', 1000 * S + i * S), `findtime ${findtime}, ahead ${ahead}`).toBe(i);
      }
    }
    // When its time comes it counts with the failures around it.
    const w = new SlidingWindows(10 * S, 10);
    w.record('a', 30 * S);
    for (let t = 20; t < 25; t++) expect(w.record('a', t * S)).toBe(t - 19); // 30 s is ahead of each
    expect(w.record('a', 29 * S)).toBe(6); // 30 s is within the lead: (20, 30] holds 21–24, 29 and 30
  });

  it('a lower cap (reload) keeps the most recently failing windows and counts the others as evicted', () => {
    const w = new SlidingWindows(60 * S, 10);
    for (const [ip, t] of [['a', 1], ['b', 2], ['c', 3], ['a', 4], ['d', 5]] as const) w.record(ip, t * S);
    // Least recently failing first: b, c, a, d.
    w.setMaxTracked(2);
    expect(w.size).toBe(2);
    expect(w.evictions).toBe(2);
    expect(['a', 'b', 'c', 'd'].map((ip) => w.count(ip, 5 * S))).toEqual([2, 0, 0, 1]);
    expect(w.record('a', 6 * S)).toBe(3);
    w.setMaxTracked(5); // a higher cap keeps everything
    expect(w.size).toBe(2);
    expect(w.evictions).toBe(2);
  });

  it('reset empties one address', () => {
    const w = new SlidingWindows(60 * S, 10);
    w.record('a', 0);
    w.reset('a');
    expect(w.count('a', 0)).toBe(0);
    expect(w.record('a', 1)).toBe(1);
  });

  it('evicts the least recently failing address at the cap and counts it', () => {
    const w = new SlidingWindows(60 * S, 3);
    w.record('a', 0);
    w.record('b', 1);
    w.record('c', 2);
    w.record('a', 3); // a becomes most recent
    w.record('d', 4); // evicts b
    expect(w.size).toBe(3);
    expect(w.evictions).toBe(1);
    expect(w.count('b', 4)).toBe(0);
    expect(w.count('a', 4)).toBe(2);
  });

  it('stays bounded under a flood of distinct addresses', () => {
    const w = new SlidingWindows(60 * S, 1000);
    for (let i = 0; i < 50_000; i++) w.record(`198.18.${i >> 8}.${i & 255}`, i);
    expect(w.size).toBe(1000);
    expect(w.evictions).toBe(49_000);
  });

  it('sweep drops stale windows and active counts only live ones', () => {
    const w = new SlidingWindows(60 * S, 10);
    w.record('a', 0);
    w.record('b', 50 * S);
    expect(w.active(70 * S)).toBe(1);
    expect(w.sweep(70 * S)).toBe(1);
    expect(w.size).toBe(1);
  });

  it('evicts in exact least-recently-failing order through many evictions and updates (model check)', () => {
    const cap = 50;
    const w = new SlidingWindows(1e12, cap);
    const model: string[] = []; // oldest first
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let t = 0; t < 20_000; t++) {
      const ip = `198.18.0.${Math.floor(rnd() * 120)}`;
      const i = model.indexOf(ip);
      if (i >= 0) model.splice(i, 1);
      else if (model.length >= cap) model.shift();
      model.push(ip);
      w.record(ip, t);
    }
    expect(w.size).toBe(cap);
    for (const ip of model) expect(w.count(ip, 20_000)).toBeGreaterThan(0);
  });

  it('single failures (stored bare) and longer windows count like a naive model, out of order included', () => {
    const findtime = 10 * S;
    const w = new SlidingWindows(findtime, 1000);
    const model = new Map<string, number[]>();
    let seed = 777;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let clock = 0;
    for (let i = 0; i < 20_000; i++) {
      clock += Math.floor(rnd() * 3) * S; // whole seconds: window edges are hit exactly, often
      // Up to 12 s late: sometimes inside the window, sometimes already outside it.
      const t = clock - Math.floor(rnd() * 12) * S;
      const ip = `198.18.1.${Math.floor(rnd() * 40)}`;
      // The failures the window holds: the window ends at the newest one not after t + lead (5 s
      // here) and lets go of those before it; a line later than the lead counts with what is left.
      const soon = t + futureLeadOf(findtime);
      const before = model.get(ip) ?? [];
      // A failure more than the lead after all the window holds (a jump ahead) lets go only of what
      // had left the window before it.
      const last = before.length > 0 ? Math.max(...before) : undefined;
      const jump = last !== undefined && t > last + futureLeadOf(findtime);
      const held = [...before, t];
      const end = Math.max(...held.filter((x) => x <= soon));
      const times = held.filter((x) => x > (jump ? last! - findtime : end - findtime));
      model.set(ip, times);
      expect(w.record(ip, t)).toBe(times.filter((x) => x <= soon && x > end - findtime).length);
      const newest = Math.max(...times);
      expect(w.count(ip, newest)).toBe(times.filter((x) => x > newest - findtime).length);
    }
  });

  it('evicts in exact least-recently-failing order after sweeps let the order go and evictions take it up again (model check)', () => {
    const cap = 40;
    const findtime = 100;
    const w = new SlidingWindows(findtime, cap);
    const model = new Map<string, number>(); // ip → time of its last failure (insertion order = LRU order)
    let seed = 99;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    let t = 0;
    for (let step = 0; step < 30_000; step++) {
      t += rnd(3);
      if (rnd(500) === 0) {
        // A sweep: every window whose newest failure is out of the window goes.
        w.sweep(t);
        for (const [ip, last] of model) if (last <= t - findtime) model.delete(ip);
        continue;
      }
      const ip = `198.18.2.${rnd(90)}`;
      if (model.has(ip)) model.delete(ip);
      else if (model.size >= cap) model.delete(model.keys().next().value!);
      model.set(ip, t);
      w.record(ip, t);
      if (step % 97 === 0) {
        expect(w.size).toBe(model.size);
        // Held: its last failure counts as of that failure's time.
        for (const [ip2, last] of model) expect(w.count(ip2, last)).toBeGreaterThan(0);
      }
    }
    expect(w.size).toBe(model.size);
    // Exactly the model's addresses are held (an address not held counts nothing, as of any time).
    for (let i = 0; i < 90; i++) {
      const ip = `198.18.2.${i}`;
      if (model.has(ip)) expect(w.count(ip, model.get(ip)!)).toBeGreaterThan(0);
      else expect(w.count(ip, Number.NEGATIVE_INFINITY)).toBe(0);
    }
  });
});
