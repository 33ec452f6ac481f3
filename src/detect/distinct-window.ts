/**
 * Per-address windows that count distinct paths (`count: distinct-paths`), bounded in memory.
 *
 * Probing and crawling are about breadth: a scanner asks for many different paths, a client that
 * reloads one page asks for one. record(ip, t, pathHash) answers how many distinct paths (by a 32-bit
 * hash of the path without its query: a collision can only undercount) the address requested within
 * the window (t - findtime, t], a repeated path refreshing its time. Each window holds at most
 * `maxretry` paths (reaching maxretry is an offense and the detector resets the window; beyond that
 * the oldest path goes), and at most `maxTracked` addresses are held (least recently failing evicted,
 * counted), so memory is bounded by maxTracked × maxretry whatever the flood.
 *
 * Times are log times; as in SlidingWindows, a path stamped more than MAX_LATE_MS after the event
 * being recorded came from a skewed or forged clock and is dropped rather than shielding the address.
 */
import { MAX_LATE_MS } from './sliding-window.js';
import { LruOrder, type LruNode } from './lru-order.js';

/**
 * One address's paths: hashes and times side by side, in the order the paths were first seen (the
 * first is the one that goes when the window is full), with the newest and oldest time kept so the
 * common request (nothing to expire) is one scan of the hashes. The least recently failing window is
 * found by lru-order.ts.
 */
class Window implements LruNode {
  last = 0;
  older: LruNode | null = null;
  newer: LruNode | null = null;
  readonly h: number[];
  readonly ts: number[];
  newest: number;
  oldest: number;
  constructor(
    readonly key: string,
    hash: number,
    t: number,
  ) {
    this.h = [hash];
    this.ts = [t];
    this.newest = t;
    this.oldest = t;
  }
}

export class DistinctWindows {
  private readonly windows = new Map<string, Window>();
  private readonly lru = new LruOrder<Window>();
  /**
   * The window last recorded into, and its key: most lines follow one of the same client (57 % in a
   * public Apache log: a page and its assets), whose window is then found without a lookup.
   */
  private lastKey: string | undefined;
  private lastWindow: Window | undefined;
  evictions = 0;
  /** Whether the last record() added a path the window did not hold (a repeat only refreshes). */
  added = false;

  constructor(
    private readonly findtime: number,
    private readonly maxTracked: number,
    private readonly maxPaths: number,
  ) {
    if (!(maxTracked >= 1)) throw new RangeError(`maxTracked must be ≥ 1, got ${maxTracked}`);
    if (!(maxPaths >= 1)) throw new RangeError(`maxPaths must be ≥ 1, got ${maxPaths}`);
  }

  /** Records a request for a path (by hash); returns the distinct paths inside the window. */
  record(ip: string, t: number, pathHash: number): number {
    const w = ip === this.lastKey ? this.lastWindow : this.windows.get(ip);
    if (w === undefined) {
      if (this.windows.size >= this.maxTracked) this.evictOldest();
      const fresh = new Window(ip, pathHash, t);
      this.windows.set(ip, fresh);
      this.lru.add(fresh);
      this.lastKey = ip;
      this.lastWindow = fresh;
      this.added = true;
      return 1;
    }
    this.lastKey = ip;
    this.lastWindow = w;
    this.lru.touch(w);
    const { h, ts } = w;
    const late = t + MAX_LATE_MS;
    // The window is measured from its newest time that is not from the future.
    let newest = t;
    if (w.newest <= late) {
      if (w.newest > t) newest = w.newest;
    } else {
      for (let i = 0; i < ts.length; i++) if (ts[i]! <= late && ts[i]! > newest) newest = ts[i]!;
    }
    const cutoff = newest - this.findtime;
    if (w.newest <= late && w.oldest > cutoff) {
      // Nothing to drop (the common case): refresh the path in place, or add it.
      const at = h.indexOf(pathHash);
      if (at >= 0) {
        this.added = false;
        const was = ts[at]!;
        if (t > was) {
          ts[at] = t;
          if (t > w.newest) w.newest = t;
          if (was === w.oldest) w.oldest = minOf(ts);
        }
        return h.length;
      }
      this.added = t > cutoff;
      if (!this.added) return h.length;
      h.push(pathHash);
      ts.push(t);
      if (t > w.newest) w.newest = t;
      if (h.length > this.maxPaths) {
        h.shift();
        // The first-seen path may carry the newest time (a refresh): the window must not keep
        // measuring from a time nothing in it has any more.
        if (ts.shift() === w.newest) w.newest = maxOf(ts);
        w.oldest = minOf(ts);
      } else if (t < w.oldest) {
        w.oldest = t;
      }
      return h.length;
    }
    // Keep what is inside the window and not from the future; refresh the path if already there.
    let seen = false;
    let k = 0;
    for (let i = 0; i < h.length; i++) {
      const x = h[i]!;
      let at = ts[i]!;
      if (at > late || at <= cutoff) continue;
      if (x === pathHash) {
        seen = true;
        if (t > at) at = t;
      }
      h[k] = x;
      ts[k++] = at;
    }
    h.length = k;
    ts.length = k;
    this.added = !seen && t > cutoff;
    if (this.added) {
      if (k >= this.maxPaths) {
        h.shift();
        ts.shift();
      }
      h.push(pathHash);
      ts.push(t);
    }
    if (h.length === 0) {
      this.reset(ip);
      return 0;
    }
    w.newest = maxOf(ts);
    w.oldest = minOf(ts);
    return h.length;
  }

  reset(ip: string): void {
    const w = this.windows.get(ip);
    if (w === undefined) return;
    this.windows.delete(ip);
    this.lru.remove(w);
    this.forgetLast(w);
  }

  /** Distinct paths inside the window of `ip` as of `now`. */
  count(ip: string, now: number): number {
    const w = this.windows.get(ip);
    if (w === undefined) return 0;
    let n = 0;
    for (const at of w.ts) if (at > now - this.findtime) n++;
    return n;
  }

  sweep(now: number): number {
    const cutoff = now - this.findtime;
    let removed = 0;
    for (const [ip, w] of this.windows) {
      if (w.newest <= cutoff) {
        this.windows.delete(ip);
        this.lru.remove(w);
        this.forgetLast(w);
        removed++;
      }
    }
    this.lru.relax(this.windows.size, this.maxTracked);
    return removed;
  }

  active(now: number): number {
    const cutoff = now - this.findtime;
    let n = 0;
    for (const w of this.windows.values()) if (w.newest > cutoff) n++;
    return n;
  }

  get size(): number {
    return this.windows.size;
  }

  private evictOldest(): void {
    const w = this.lru.leastRecent(this.windows.values());
    if (w === null) return;
    this.windows.delete(w.key);
    this.lru.remove(w);
    this.forgetLast(w);
    this.evictions++;
  }

  private forgetLast(w: Window): void {
    if (this.lastWindow === w) {
      this.lastKey = undefined;
      this.lastWindow = undefined;
    }
  }
}

function minOf(a: readonly number[]): number {
  let n = Number.POSITIVE_INFINITY;
  for (let i = 0; i < a.length; i++) if (a[i]! < n) n = a[i]!;
  return n;
}

function maxOf(a: readonly number[]): number {
  let n = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < a.length; i++) if (a[i]! > n) n = a[i]!;
  return n;
}

/** FNV-1a over the UTF-16 code units of `s` (its first `end`): a 32-bit hash, allocation-free. */
export function hashPath(s: string, end: number = s.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
