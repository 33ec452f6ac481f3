/**
 * Per-address failure windows for one rule, bounded in memory.
 *
 * record(ip, t) adds a failure at log time t and answers how many failures of that address fall in
 * the window (t - findtime, t]. Events may arrive slightly out of order (Apache stamps a request when
 * it starts but writes it when it ends), so each window is kept sorted and measured from its newest
 * event. A line can only be so late, though: an event more than MAX_LATE_MS older than the window's
 * newest means the newest was stamped in the future (a skewed or forged clock), and those future
 * events are dropped, so one far-future line can never shield an address from its current failures.
 * At most `maxTracked` addresses are held: adding one more evicts the least recently failing
 * address, and evictions are counted so the operator can see the cap was reached.
 */
/**
 * One address's failures, oldest first. Most addresses fail once and are never seen again (a scan,
 * a flood of distinct sources), so a single failure is stored as the bare timestamp: no array per
 * address, which matters when a million distinct addresses pass through the LRU.
 */
type Window = number | number[];

/** How late a line may arrive (Apache stamps a request when it starts and logs it when it ends). */
export const MAX_LATE_MS = 5 * 60_000;

/** Expired failures kept at the front of a window until there are this many (or half the window). */
const STALE_BATCH = 64;

const newest = (w: Window): number => (typeof w === 'number' ? w : w[w.length - 1]!);

export class SlidingWindows {
  /** Insertion order of a Map is our LRU order: an updated key is deleted and re-set. */
  private readonly windows = new Map<string, Window>();
  /**
   * Kept across evictions: a fresh keys() iterator would have to step over every entry deleted from
   * the front since V8 last rehashed the table, which made a flood of distinct addresses quadratic.
   * Everything before its position has been deleted, so its next live key is always the oldest.
   */
  private evictCursor: Iterator<string> | null = null;
  /** The key last moved to (or set at) the most-recent end of the LRU order. */
  private newestKey: string | undefined;
  evictions = 0;

  constructor(
    private readonly findtime: number,
    private readonly maxTracked: number,
  ) {
    if (!(maxTracked >= 1)) throw new RangeError(`maxTracked must be ≥ 1, got ${maxTracked}`);
  }

  /** Records a failure and returns the number of failures inside the window ending at the newest one. */
  record(ip: string, t: number): number {
    const w = this.windows.get(ip);
    if (w === undefined) {
      if (this.windows.size >= this.maxTracked) this.evictOldest();
      this.windows.set(ip, t);
      this.newestKey = ip;
      return 1;
    }
    // Move to the most-recent end of the LRU order (already there when the last record was this address's:
    // page loads come in bursts). A window held as a bare number is replaced, so it is set once with its
    // new value (the move and the update in one delete + set).
    const move = ip !== this.newestKey;
    if (move) {
      this.windows.delete(ip);
      this.newestKey = ip;
    }
    if (typeof w === 'number') {
      let next: Window;
      let n: number;
      if (w > t + MAX_LATE_MS) {
        next = t;
        n = 1;
      } else {
        const lo = t >= w ? w : t;
        const hi = t >= w ? t : w;
        if (lo <= hi - this.findtime) {
          next = hi;
          n = 1;
        } else {
          next = [lo, hi];
          n = 2;
        }
      }
      if (move || next !== w) this.windows.set(ip, next);
      return n;
    }
    if (move) this.windows.set(ip, w);
    if (w[w.length - 1]! > t + MAX_LATE_MS) {
      let keep = w.length;
      while (keep > 0 && w[keep - 1]! > t + MAX_LATE_MS) keep--;
      w.length = keep;
      if (keep === 0) {
        this.windows.set(ip, t);
        return 1;
      }
    }
    const last = w[w.length - 1]!;
    if (t >= last) {
      w.push(t);
    } else {
      let i = w.length - 1;
      while (i > 0 && w[i - 1]! > t) i--;
      w.splice(i, 0, t);
    }
    const cutoff = w[w.length - 1]! - this.findtime;
    // The window is sorted: the first failure inside it by binary search (a long window, such as
    // request-flood's 600, no longer steps over its stale front on every request).
    let drop = 0;
    for (let hi = w.length; drop < hi; ) {
      const mid = (drop + hi) >>> 1;
      if (w[mid]! <= cutoff) drop = mid + 1;
      else hi = mid;
    }
    // Expired failures at the front are removed in batches: shifting a long window (request-flood
    // keeps up to 600) on every request was most of its cost. Until then they are skipped here, and
    // count()/active() read from the newest end.
    if (drop >= STALE_BATCH || drop * 2 >= w.length) w.splice(0, drop);
    else return w.length - drop;
    return w.length;
  }

  /** Forgets an address (after a ban its window starts empty). */
  reset(ip: string): void {
    this.windows.delete(ip);
    if (ip === this.newestKey) this.newestKey = undefined;
  }

  /** Failures currently inside the window of `ip` as of time `now`. */
  count(ip: string, now: number): number {
    const w = this.windows.get(ip);
    if (w === undefined) return 0;
    const cutoff = now - this.findtime;
    if (typeof w === 'number') return w > cutoff ? 1 : 0;
    let n = 0;
    for (let i = w.length - 1; i >= 0 && w[i]! > cutoff; i--) n++;
    return n;
  }

  /** Drops windows whose newest failure left the window before `now`; returns how many. */
  sweep(now: number): number {
    const cutoff = now - this.findtime;
    let removed = 0;
    for (const [ip, w] of this.windows) {
      if (newest(w) <= cutoff) {
        this.windows.delete(ip);
        removed++;
      }
    }
    return removed;
  }

  /** Addresses with at least one failure inside the window as of `now` (fail2ban's "currently failed"). */
  active(now: number): number {
    const cutoff = now - this.findtime;
    let n = 0;
    for (const w of this.windows.values()) if (newest(w) > cutoff) n++;
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
