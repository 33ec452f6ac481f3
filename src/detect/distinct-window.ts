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
 * Times are log times; as in SlidingWindows, the window ends at the newest time not stamped more than
 * the rule's lead after the request being recorded: a path stamped later came from a skewed or forged
 * clock and neither counts nor shields the address's current paths (it is dropped beyond MAX_LATE_MS,
 * and goes first when the window is full).
 */
import { randomBytes } from 'node:crypto';
import { futureLeadOf, MAX_LATE_MS, staleUpTo } from './sliding-window.js';
import type { LruNode } from './lru-order.js';
import { WindowTable } from './window-table.js';

/**
 * One address's paths: hashes and times side by side, in the order the paths were first seen (the
 * first is the one that goes when the window is full), with the newest and oldest time kept so the
 * common request (nothing to expire) is one scan of the hashes. The least recently failing window is
 * found by window-table.ts.
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
  private readonly table: WindowTable<Window>;
  /** Whether the last record() added a path the window did not hold (a repeat only refreshes). */
  added = false;
  /** The paths the window of the last record() holds, counted or from the future (grows by at most one per record). */
  held = 0;
  /** How far after a request another may be stamped and count with it (sliding-window.ts futureLeadOf). */
  private readonly lead: number;

  constructor(
    private readonly findtime: number,
    maxTracked: number,
    private readonly maxPaths: number,
  ) {
    this.table = new WindowTable<Window>(maxTracked, (w) => w.newest);
    this.lead = futureLeadOf(findtime);
    if (!(maxPaths >= 1)) throw new RangeError(`maxPaths must be ≥ 1, got ${maxPaths}`);
  }

  /** Windows evicted at maxTracked while they held paths still in play (window-table.ts add), since start. */
  get evictions(): number {
    return this.table.evictions;
  }

  /** A new cap on the addresses held (a reload): the windows stay, the least recently failing go beyond it. */
  setMaxTracked(maxTracked: number): void {
    this.table.setMaxTracked(maxTracked);
  }

  /** Records a request for a path (by hash); returns the distinct paths inside the window. */
  record(ip: string, t: number, pathHash: number, now?: number): number {
    const w = this.table.use(ip);
    if (w === undefined) {
      this.table.add(new Window(ip, pathHash, t), staleUpTo(t, now, this.findtime));
      this.added = true;
      this.held = 1;
      return 1;
    }
    const { h, ts } = w;
    const soon = t + this.lead;
    if (w.newest <= soon) {
      // Nothing stamped after t + lead: the window ends at its newest time (or t).
      const cutoff = (w.newest > t ? w.newest : t) - this.findtime;
      if (w.oldest > cutoff) {
        // Nothing to drop either (the common case): refresh the path in place, or add it.
        const at = h.indexOf(pathHash);
        if (at >= 0) {
          this.added = false;
          const was = ts[at]!;
          if (t > was) {
            ts[at] = t;
            if (t > w.newest) w.newest = t;
            if (was === w.oldest) w.oldest = minOf(ts);
          }
          this.held = h.length;
          return h.length;
        }
        this.added = t > cutoff;
        this.held = h.length;
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
        this.held = h.length;
        return h.length;
      }
    }
    // The window ends at its newest time not after t + lead (or t): later paths (the future) are
    // kept for when their time comes, neither counted nor used to age the others out; paths stamped
    // more than MAX_LATE_MS ahead are dropped. A path requested now that the window holds only in
    // the future is requested now.
    // `now` (live): the agent's clock. A path is from the future only when stamped after it too: live,
    // nothing is stamped ahead of the clock, and what lies far after a late line (a slow request,
    // stamped when it began) is the address's own current paths (see SlidingWindows.record).
    const late = (now !== undefined && now > t ? now : t) + MAX_LATE_MS;
    let ref = t;
    let kept = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < ts.length; i++) {
      const at = ts[i]!;
      if (at <= soon && at > ref) ref = at;
      if (at <= late && at > kept) kept = at;
    }
    const cutoff = ref - this.findtime;
    // A path stamped more than the lead after everything the window holds (a jump ahead: a client
    // back after a pause, or a line from a skewed or forged clock) counts from its own time, but
    // drops only what had left the window before it: otherwise one line stamped far ahead emptied
    // the window of the current paths, and dropped itself at the next line (see SlidingWindows).
    let keepAfter = t > kept + this.lead ? Math.min(cutoff, kept - this.findtime) : cutoff;
    // Live, a path stamped ahead of the clock drops nothing the clock still holds inside the findtime
    // (only left out of its own count): stepped forward, such lines erased the current paths (see
    // SlidingWindows.record).
    if (now !== undefined && t > now && keepAfter > now - this.findtime) keepAfter = now - this.findtime;
    let seen = false;
    let k = 0;
    for (let i = 0; i < h.length; i++) {
      const x = h[i]!;
      let at = ts[i]!;
      if (at > late || at <= keepAfter) continue;
      if (x === pathHash) {
        seen = true;
        if (t > at || at > soon) at = t;
      }
      h[k] = x;
      ts[k++] = at;
    }
    h.length = k;
    ts.length = k;
    this.added = !seen && t > cutoff;
    if (this.added) {
      if (k >= this.maxPaths) {
        // Full: a path from the future goes first, so planted ones never push current paths out;
        // then one kept from before this path's window (after a jump ahead), then the first.
        let drop = -1;
        for (let i = 0; i < k; i++) {
          if (ts[i]! > soon) {
            drop = i;
            break;
          }
        }
        if (drop < 0) {
          drop = 0;
          for (let i = 0; i < k; i++) {
            if (ts[i]! <= cutoff) {
              drop = i;
              break;
            }
          }
        }
        h.splice(drop, 1);
        ts.splice(drop, 1);
      }
      h.push(pathHash);
      ts.push(t);
    }
    this.held = h.length;
    if (h.length === 0) {
      this.reset(ip);
      return 0;
    }
    w.newest = maxOf(ts);
    w.oldest = minOf(ts);
    let n = 0;
    for (let i = 0; i < ts.length; i++) if (ts[i]! <= soon && ts[i]! > cutoff) n++;
    return n;
  }

  reset(ip: string): void {
    this.table.delete(ip);
  }

  /** Forgets every address key for which `drop` holds (a reload allowlisted it); returns those keys. */
  forgetWhere(drop: (key: string) => boolean): string[] {
    return this.table.forgetWhere(drop);
  }

  /** Distinct paths inside the window of `ip` as of `now`. */
  count(ip: string, now: number): number {
    const w = this.table.peek(ip);
    if (w === undefined) return 0;
    let n = 0;
    for (const at of w.ts) if (at > now - this.findtime) n++;
    return n;
  }

  sweep(now: number): number {
    const cutoff = now - this.findtime;
    return this.table.sweep((w) => w.newest <= cutoff);
  }

  active(now: number): number {
    const cutoff = now - this.findtime;
    let n = 0;
    for (const w of this.table.values()) if (w.newest > cutoff) n++;
    return n;
  }

  get size(): number {
    return this.table.size;
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

/**
 * The seed of this process's path hashes: random, so that which paths share a hash cannot be worked
 * out ahead of time. With a fixed, public hash (FNV-1a, before), a prober could find spellings of its
 * probes that all hash alike (`/nny3abp/../r57.php` like `/c99.php`) and be counted as one path.
 */
export const PATH_HASH_SEED: number = randomBytes(4).readInt32LE(0);

/**
 * A seeded 32-bit hash of the UTF-16 code units of `s` (its first `end`), allocation-free: a
 * multiply and a shift per unit, then a final avalanche (Murmur3's finaliser). Only equal hashes
 * under one seed are comparable: a replay hands its seed to its parse threads.
 */
export function hashPath(s: string, end: number = s.length, seed: number = PATH_HASH_SEED): number {
  let h = seed ^ end;
  for (let i = 0; i < end; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 13;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
