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

/** Interleaved [hash, time, hash, time, …], oldest first. */
type Window = number[];

export class DistinctWindows {
  private readonly windows = new Map<string, Window>();
  private evictCursor: Iterator<string> | null = null;
  /** The key last placed at the most-recent end of the LRU order (no move needed for it). */
  private newestKey: string | undefined;
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
    const w = this.windows.get(ip);
    if (w === undefined) {
      if (this.windows.size >= this.maxTracked) this.evictOldest();
      this.windows.set(ip, [pathHash, t]);
      this.newestKey = ip;
      this.added = true;
      return 1;
    }
    if (ip !== this.newestKey) {
      this.windows.delete(ip);
      this.windows.set(ip, w);
      this.newestKey = ip;
    }
    const late = t + MAX_LATE_MS;
    let newest = t;
    // Also noted on the way: the oldest time, whether some time is from the future, where the path is.
    let oldest = Number.POSITIVE_INFINITY;
    let future = false;
    let at = -1;
    for (let i = 0; i < w.length; i += 2) {
      const x = w[i + 1]!;
      if (x > late) {
        future = true;
        continue;
      }
      if (x > newest) newest = x;
      if (x < oldest) oldest = x;
      if (w[i] === pathHash) at = i;
    }
    const cutoff = newest - this.findtime;
    if (!future && oldest > cutoff) {
      // Nothing to drop (the common case): refresh the path in place, or add it.
      this.added = at < 0 && t > cutoff;
      if (at >= 0) {
        if (t > w[at + 1]!) w[at + 1] = t;
      } else if (t > cutoff) {
        if (w.length / 2 >= this.maxPaths) w.splice(0, 2);
        w.push(pathHash, t);
      }
      if (w.length === 0) {
        this.reset(ip);
        return 0;
      }
      return w.length / 2;
    }
    // Keep what is inside the window and not from the future; refresh the path if already there.
    let seen = false;
    let k = 0;
    for (let i = 0; i < w.length; i += 2) {
      const h = w[i]!;
      let at = w[i + 1]!;
      if (at > t + MAX_LATE_MS || at <= cutoff) continue;
      if (h === pathHash) {
        seen = true;
        if (t > at) at = t;
      }
      w[k++] = h;
      w[k++] = at;
    }
    w.length = k;
    this.added = !seen && t > cutoff;
    if (!seen && t > cutoff) {
      if (k / 2 >= this.maxPaths) w.splice(0, 2);
      w.push(pathHash, t);
    }
    if (w.length === 0) {
      this.reset(ip);
      return 0;
    }
    return w.length / 2;
  }

  reset(ip: string): void {
    this.windows.delete(ip);
    if (ip === this.newestKey) this.newestKey = undefined;
  }

  /** Distinct paths inside the window of `ip` as of `now`. */
  count(ip: string, now: number): number {
    const w = this.windows.get(ip);
    if (w === undefined) return 0;
    let n = 0;
    for (let i = 1; i < w.length; i += 2) if (w[i]! > now - this.findtime) n++;
    return n;
  }

  sweep(now: number): number {
    const cutoff = now - this.findtime;
    let removed = 0;
    for (const [ip, w] of this.windows) {
      if (newestOf(w) <= cutoff) {
        this.windows.delete(ip);
        removed++;
      }
    }
    return removed;
  }

  active(now: number): number {
    const cutoff = now - this.findtime;
    let n = 0;
    for (const w of this.windows.values()) if (newestOf(w) > cutoff) n++;
    return n;
  }

  get size(): number {
    return this.windows.size;
  }

  private evictOldest(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      this.evictCursor ??= this.windows.keys();
      const oldest = this.evictCursor.next();
      if (!oldest.done) {
        this.windows.delete(oldest.value);
        this.evictions++;
        return;
      }
      this.evictCursor = null;
    }
  }
}

function newestOf(w: Window): number {
  let n = Number.NEGATIVE_INFINITY;
  for (let i = 1; i < w.length; i += 2) if (w[i]! > n) n = w[i]!;
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
