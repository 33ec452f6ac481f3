/**
 * Model-based randomized tests of the detector's windows (hostile review of the run-length
 * SlidingWindows and the cached-newest DistinctWindows): every operation is applied to the real
 * class and to a naive reference model (a plain list of times / paths per address, a Map in exact
 * least-recently-failing order), and every answer must agree.
 *
 * The sequences are built to hit the edges: window edges exactly at findtime, late lines (up to and
 * beyond MAX_LATE_MS), far-future lines, repeated times (runs), tiny maxTracked (evictions on almost
 * every new address), reset / sweep / count / active interleaved with records.
 *
 * SlidingWindows semantics modelled: a record first drops the address's failures stamped more than
 * MAX_LATE_MS after the new line (a forged or skewed future), inserts the line, then drops for good
 * every failure at or before newest − findtime; the answer is what is left.
 * DistinctWindows semantics modelled (the previous implementation's, c5d6e5b): paths in first-seen
 * order, future paths dropped, the window measured from the newest non-future time (the new line's
 * included), a repeated path refreshing its time, a new path added only when inside the window, the
 * first-seen path going when maxPaths would be exceeded, an emptied window forgotten.
 */
import { describe, expect, it } from 'vitest';
import { futureLeadOf, MAX_LATE_MS, SlidingWindows } from '../../../src/detect/sliding-window.js';
import { DistinctWindows } from '../../../src/detect/distinct-window.js';
import { rng } from '../../support/random.js';


class LruModel<W> {
  readonly m = new Map<string, W>();
  evictions = 0;
  constructor(
    readonly maxTracked: number,
    private readonly newest: (w: W) => number,
  ) {}
  touch(ip: string, w: W): void {
    this.m.delete(ip);
    this.m.set(ip, w);
  }
  /** A new address at the cap evicts the least recently failing one; counted unless its newest failure is at or before `staleUpTo`. */
  insert(ip: string, w: W, staleUpTo: number): void {
    if (this.m.size >= this.maxTracked) {
      const oldest = this.m.keys().next().value as string;
      if (this.newest(this.m.get(oldest)!) > staleUpTo) this.evictions++;
      this.m.delete(oldest);
    }
    this.m.set(ip, w);
  }
}

class SlidingModel extends LruModel<number[]> {
  constructor(
    readonly findtime: number,
    maxTracked: number,
  ) {
    super(maxTracked, (w) => Math.max(...w));
  }
  record(ip: string, t: number): number {
    const w = this.m.get(ip);
    if (w === undefined) {
      // Stale: nothing newer than two findtimes before this failure (what the sweep drops).
      this.insert(ip, [t], t - 2 * this.findtime);
      return 1;
    }
    let next = w.filter((x) => x <= t + MAX_LATE_MS);
    // A failure stamped more than the lead after all the window holds (a jump ahead) removes only
    // what had left the window before it; it counts from its own time.
    const lead = futureLeadOf(this.findtime);
    const last = next.length > 0 ? Math.max(...next) : undefined;
    const jump = last !== undefined && t > last + lead;
    next.push(t);
    // The window ends at the newest failure not stamped after t + lead; later ones are kept, not counted.
    const soon = t + lead;
    const end = Math.max(...next.filter((x) => x <= soon));
    const cutoff = end - this.findtime;
    next = next.filter((x) => x > (jump ? last! - this.findtime : cutoff));
    this.touch(ip, next);
    return next.filter((x) => x <= soon && x > cutoff).length;
  }
  count(ip: string, now: number): number {
    return (this.m.get(ip) ?? []).filter((x) => x > now - this.findtime).length;
  }
  sweep(now: number): number {
    let n = 0;
    for (const [ip, w] of [...this.m]) {
      if (Math.max(...w) <= now - this.findtime) {
        this.m.delete(ip);
        n++;
      }
    }
    return n;
  }
  active(now: number): number {
    let n = 0;
    for (const w of this.m.values()) if (Math.max(...w) > now - this.findtime) n++;
    return n;
  }
}

interface PathAt {
  h: number;
  t: number;
}

class DistinctModel extends LruModel<PathAt[]> {
  added = false;
  constructor(
    readonly findtime: number,
    maxTracked: number,
    readonly maxPaths: number,
  ) {
    super(maxTracked, (w) => Math.max(...w.map((p) => p.t)));
  }
  record(ip: string, t: number, h: number): number {
    const w = this.m.get(ip);
    if (w === undefined) {
      this.insert(ip, [{ h, t }], t - 2 * this.findtime);
      this.added = true;
      return 1;
    }
    this.touch(ip, w);
    const late = t + MAX_LATE_MS;
    const soon = t + futureLeadOf(this.findtime);
    let keep = w.filter((p) => p.t <= late);
    // The window ends at its newest time not after t + lead (or t); later paths are kept, not counted.
    const end = Math.max(t, ...keep.filter((p) => p.t <= soon).map((p) => p.t));
    const cutoff = end - this.findtime;
    // A path stamped more than the lead after all the window holds (a jump ahead) drops only what had
    // left the window before it.
    const newest = keep.length > 0 ? Math.max(...keep.map((p) => p.t)) : Number.NEGATIVE_INFINITY;
    const keepAfter = t > newest + futureLeadOf(this.findtime) ? Math.min(cutoff, newest - this.findtime) : cutoff;
    keep = keep.filter((p) => p.t > keepAfter);
    const seen = keep.find((p) => p.h === h);
    this.added = false;
    if (seen !== undefined) {
      if (t > seen.t || seen.t > soon) seen.t = t;
    } else if (t > cutoff) {
      this.added = true;
      if (keep.length >= this.maxPaths) {
        // A path from the future goes first, then one from before this path's window, then the first.
        const future = keep.findIndex((p) => p.t > soon);
        const stale = keep.findIndex((p) => p.t <= cutoff);
        keep.splice(future >= 0 ? future : stale >= 0 ? stale : 0, 1);
      }
      keep.push({ h, t });
    }
    if (keep.length === 0) {
      this.m.delete(ip);
      return 0;
    }
    this.m.set(ip, keep);
    return keep.filter((p) => p.t <= soon && p.t > cutoff).length;
  }
  count(ip: string, now: number): number {
    return (this.m.get(ip) ?? []).filter((p) => p.t > now - this.findtime).length;
  }
  sweep(now: number): number {
    let n = 0;
    for (const [ip, w] of [...this.m]) {
      if (Math.max(...w.map((p) => p.t)) <= now - this.findtime) {
        this.m.delete(ip);
        n++;
      }
    }
    return n;
  }
  active(now: number): number {
    let n = 0;
    for (const w of this.m.values()) if (Math.max(...w.map((p) => p.t)) > now - this.findtime) n++;
    return n;
  }
}

const SEC = 1000;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);

/** A hostile stream of times: mostly forward in whole seconds, with exact-edge, late, very late and future lines. */
function timeSource(r: () => number, findtime: number): () => number {
  let clock = T0;
  return () => {
    const x = r();
    if (x < 0.45) clock += Math.floor(r() * 3) * SEC; // bursts: repeated seconds (runs)
    else if (x < 0.55) clock += findtime; // exactly one findtime later
    else if (x < 0.6) clock += findtime + (r() < 0.5 ? -SEC : SEC);
    else if (x < 0.68) return clock - findtime; // exactly at the edge of the window (expired)
    else if (x < 0.76) return clock - Math.floor(r() * (findtime / SEC + 2)) * SEC; // late, inside or just outside
    else if (x < 0.8) return clock - MAX_LATE_MS - (r() < 0.5 ? 0 : SEC); // as late as allowed / just beyond
    else if (x < 0.85) return clock + MAX_LATE_MS + (r() < 0.5 ? 0 : SEC); // future: at the limit / beyond
    else if (x < 0.88) return clock + 86_400_000 * (1 + Math.floor(r() * 3)); // far future (forged)
    else if (x < 0.9) clock += 3 * MAX_LATE_MS; // a real gap longer than MAX_LATE
    else clock += Math.floor(r() * 20) * SEC;
    return clock;
  };
}

const FINDTIMES = [1 * SEC, 5 * SEC, 60 * SEC, MAX_LATE_MS, 10 * 60 * SEC, 3600 * SEC];

describe('SlidingWindows against a plain-list model', () => {
  it('agrees on every answer over many random hostile sequences', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const findtime = FINDTIMES[seed % FINDTIMES.length]!;
      const maxTracked = 1 + (seed % 4);
      const real = new SlidingWindows(findtime, maxTracked);
      const model = new SlidingModel(findtime, maxTracked);
      const next = timeSource(r, findtime);
      const ips = ['198.18.0.1', '198.18.0.2', '198.18.0.3', '2001:db8::1', '2001:db8::2'].slice(0, 2 + (seed % 4));
      const ops = 300 + (seed % 5) * 150;
      let last = T0;
      for (let op = 0; op < ops; op++) {
        const ip = ips[Math.floor(r() * r() * ips.length)]!; // skewed: one address fails most
        const x = r();
        const where = `seed ${seed} op ${op}`;
        if (x < 0.85) {
          const t = next();
          last = Math.max(last, t);
          expect(real.record(ip, t), `${where} record ${ip} ${t - T0}`).toBe(model.record(ip, t));
        } else if (x < 0.88) {
          real.reset(ip);
          model.m.delete(ip);
        } else if (x < 0.93) {
          const now = last + Math.floor((r() - 0.3) * 2 * findtime / SEC) * SEC;
          expect(real.count(ip, now), `${where} count`).toBe(model.count(ip, now));
        } else if (x < 0.96) {
          const now = last + Math.floor(r() * 2 * findtime / SEC) * SEC;
          expect(real.active(now), `${where} active`).toBe(model.active(now));
        } else {
          const now = last + Math.floor(r() * 2 * findtime / SEC) * SEC;
          expect(real.sweep(now), `${where} sweep`).toBe(model.sweep(now));
        }
        expect(real.size, `${where} size`).toBe(model.m.size);
        expect(real.evictions, `${where} evictions`).toBe(model.evictions);
      }
      // The LRU order, observed through eviction: fill with fresh addresses one at a time; the
      // survivors must be exactly the model's most recent ones.
      for (const ip of ips) expect(real.count(ip, last), `seed ${seed} final ${ip}`).toBe(model.count(ip, last));
      for (let i = 0; i < maxTracked; i++) {
        const fresh = `198.19.0.${i}`;
        real.record(fresh, last);
        model.record(fresh, last);
        for (const ip of ips) expect(real.count(ip, last), `seed ${seed} evict ${i} ${ip}`).toBe(model.count(ip, last));
      }
    }
  });

  it('long floods of one address (stale-run batches, late lines into old runs) stay exact', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(1000 + seed);
      const findtime = [10 * SEC, 60 * SEC, MAX_LATE_MS][seed % 3]!;
      const real = new SlidingWindows(findtime, 2);
      const model = new SlidingModel(findtime, 2);
      let clock = T0;
      for (let op = 0; op < 3000; op++) {
        if (r() < 0.3) clock += SEC;
        let t = clock;
        const x = r();
        if (x < 0.1) t = clock - Math.floor(r() * (findtime / SEC + 3)) * SEC;
        else if (x < 0.11) t = clock + MAX_LATE_MS + SEC; // forged future
        else if (x < 0.115) clock += findtime;
        expect(real.record('198.18.1.1', t), `seed ${seed} op ${op}`).toBe(model.record('198.18.1.1', t));
        if (op % 97 === 0) expect(real.count('198.18.1.1', clock)).toBe(model.count('198.18.1.1', clock));
      }
    }
  });

  it('a forged far-future line does not shield the failures that follow it', () => {
    const w = new SlidingWindows(60 * SEC, 10);
    const ip = '198.18.0.9';
    expect(w.record(ip, T0 + 86_400_000)).toBe(1);
    for (let i = 1; i <= 5; i++) expect(w.record(ip, T0 + i * SEC)).toBe(i);
  });
});

describe('DistinctWindows against a list-of-paths model', () => {
  const run = (seed: number, ops: number): void => {
    const r = rng(seed);
    const findtime = FINDTIMES[seed % FINDTIMES.length]!;
    const maxTracked = 1 + (seed % 3);
    const maxPaths = 1 + (seed % 5);
    const real = new DistinctWindows(findtime, maxTracked, maxPaths);
    const model = new DistinctModel(findtime, maxTracked, maxPaths);
    const next = timeSource(r, findtime);
    const ips = ['198.18.0.1', '198.18.0.2', '2001:db8::7'].slice(0, 1 + (seed % 3));
    let last = T0;
    for (let op = 0; op < ops; op++) {
      const ip = ips[Math.floor(r() * r() * ips.length)]!;
      const x = r();
      const where = `seed ${seed} op ${op} (findtime ${findtime}, maxTracked ${maxTracked}, maxPaths ${maxPaths})`;
      if (x < 0.85) {
        const t = next();
        last = Math.max(last, t);
        const h = Math.floor(r() * (maxPaths + 3)); // few paths: repeats refresh
        expect(real.record(ip, t, h), `${where} record ${ip} ${t - T0} #${h}`).toBe(model.record(ip, t, h));
        expect(real.added, `${where} added`).toBe(model.added);
      } else if (x < 0.88) {
        real.reset(ip);
        model.m.delete(ip);
      } else if (x < 0.93) {
        const now = last + Math.floor((r() - 0.3) * 2 * findtime / SEC) * SEC;
        expect(real.count(ip, now), `${where} count`).toBe(model.count(ip, now));
      } else if (x < 0.96) {
        const now = last + Math.floor(r() * 2 * findtime / SEC) * SEC;
        expect(real.active(now), `${where} active`).toBe(model.active(now));
      } else {
        const now = last + Math.floor(r() * 2 * findtime / SEC) * SEC;
        expect(real.sweep(now), `${where} sweep`).toBe(model.sweep(now));
      }
      expect(real.size, `${where} size`).toBe(model.m.size);
      expect(real.evictions, `${where} evictions`).toBe(model.evictions);
    }
  };

  it('agrees on every answer over many random hostile sequences', () => {
    for (let seed = 1; seed <= 300; seed++) run(seed, 400);
  });

  it('the newest time is forgotten with the path that carried it when a full window drops its first path', () => {
    // Bug found by the model (fixed): the fast path dropped the first-seen path of a full window but
    // kept its time as the window's newest, so the window went on measuring from a time nothing in
    // it had any more (late paths refused, sweep keeping the address).
    const w = new DistinctWindows(30 * SEC, 5, 2);
    const ip = '198.18.0.5';
    expect(w.record(ip, T0 + 10 * SEC, 1)).toBe(1); // A
    expect(w.record(ip, T0 + 5 * SEC, 2)).toBe(2); // B, late
    expect(w.record(ip, T0 + 20 * SEC, 1)).toBe(2); // A refreshed: the newest time is 20 s
    expect(w.record(ip, T0 + 12 * SEC, 3)).toBe(2); // C, late: the window is full, A (20 s) goes
    // B@5 s and C@12 s are left: the window is (-18 s, 12 s]; a line at -2 s (late by less than the
    // lead, half the findtime) is inside it.
    expect(w.record(ip, T0 - 2 * SEC, 4)).toBe(2);
    expect(w.added).toBe(true);
    // Nothing in it is newer than 12 s: a sweep at 12 s + findtime forgets the address.
    expect(w.sweep(T0 + 42 * SEC)).toBe(1);
  });
});

describe('the least-recently-failing order across its lazy phases (many addresses, caps of 4–12, sweeps that empty half)', () => {
  // Windows stamp records and build the exact order only at the first eviction, keep it while near
  // the cap and drop it again after sweeps: these sequences cross those phases again and again.
  let evicted = 0;
  let swept = 0;
  const drive = (seed: number, distinct: boolean): void => {
    const r = rng(5000 + seed);
    const findtime = [5 * SEC, 60 * SEC][seed % 2]!;
    const maxTracked = 4 + (seed % 9);
    const real = distinct ? new DistinctWindows(findtime, maxTracked, 3) : new SlidingWindows(findtime, maxTracked);
    const model = distinct ? new DistinctModel(findtime, maxTracked, 3) : new SlidingModel(findtime, maxTracked);
    const ips = Array.from({ length: maxTracked * 2 + 3 }, (_, i) => (i % 5 === 4 ? `2001:db8::${i}` : `198.18.2.${i}`));
    let clock = T0;
    for (let op = 0; op < 1500; op++) {
      const where = `seed ${seed} op ${op} (maxTracked ${maxTracked})`;
      const x = r();
      if (x < 0.8) {
        if (r() < 0.3) clock += SEC;
        // Bursts of one address (the last-window shortcut), then others.
        const ip = ips[r() < 0.5 ? Math.floor(r() * 3) : Math.floor(r() * ips.length)]!;
        const t = r() < 0.1 ? clock - Math.floor(r() * 10) * SEC : clock;
        const h = Math.floor(r() * 5);
        const a = distinct ? (real as DistinctWindows).record(ip, t, h) : (real as SlidingWindows).record(ip, t);
        const b = distinct ? (model as DistinctModel).record(ip, t, h) : (model as SlidingModel).record(ip, t);
        expect(a, `${where} record ${ip}`).toBe(b);
      } else if (x < 0.85) {
        const ip = ips[Math.floor(r() * ips.length)]!;
        real.reset(ip);
        model.m.delete(ip);
      } else if (x < 0.9) {
        // A sweep that forgets about half of the addresses (those idle for a while).
        clock += Math.floor(r() * 3) * findtime;
        const n = model.sweep(clock - Math.floor(findtime / 2));
        swept += n;
        expect(real.sweep(clock - Math.floor(findtime / 2)), `${where} sweep`).toBe(n);
      } else {
        const ip = ips[Math.floor(r() * ips.length)]!;
        expect(real.count(ip, clock), `${where} count`).toBe(model.count(ip, clock));
        expect(real.active(clock), `${where} active`).toBe(model.active(clock));
      }
      expect(real.size, `${where} size`).toBe(model.m.size);
      expect(real.evictions, `${where} evictions`).toBe(model.evictions);
    }
    evicted += model.evictions;
  };

  it('SlidingWindows', () => {
    evicted = swept = 0;
    for (let seed = 1; seed <= 60; seed++) drive(seed, false);
    expect(evicted).toBeGreaterThan(1000);
    expect(swept).toBeGreaterThan(1000);
  });

  it('DistinctWindows', () => {
    evicted = swept = 0;
    for (let seed = 1; seed <= 60; seed++) drive(seed, true);
    expect(evicted).toBeGreaterThan(1000);
    expect(swept).toBeGreaterThan(1000);
  });
});
