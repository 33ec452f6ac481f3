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
 * One address's failures as runs: `b` holds [time, count, time, count, …] sorted by time, the live
 * runs from `head` on, and `total` is their count. Access-log times have one-second resolution, so a
 * flood of one address is one growing run per second (an increment, no push): request-flood's 600
 * failures in a minute are at most 60 runs. The least recently failing window is found by
 * window-table.ts.
 */
class Window implements LruNode {
  last = 0;
  older: LruNode | null = null;
  newer: LruNode | null = null;
  b: number[];
  head = 0;
  total = 1;
  constructor(
    readonly key: string,
    t: number,
  ) {
    this.b = [t, 1];
  }
}

import type { LruNode } from './lru-order.js';
import { WindowTable } from './window-table.js';

/** How late a line may arrive (Apache stamps a request when it starts and logs it when it ends). */
export const MAX_LATE_MS = 5 * 60_000;

/** Expired runs kept at the front of a window until there are this many (or half the window). */
const STALE_BATCH = 64;

export class SlidingWindows {
  private readonly table: WindowTable<Window>;

  constructor(
    private readonly findtime: number,
    maxTracked: number,
  ) {
    this.table = new WindowTable(maxTracked);
  }

  /** Windows evicted at maxTracked, since start. */
  get evictions(): number {
    return this.table.evictions;
  }

  /** Records a failure and returns the number of failures inside the window ending at the newest one. */
  record(ip: string, t: number): number {
    const w = this.table.use(ip);
    if (w === undefined) {
      this.table.add(new Window(ip, t));
      return 1;
    }
    const b = w.b;
    let end = b.length;
    // A window whose newest runs are stamped far after this line came from a skewed or forged
    // clock: those runs go, so one far-future line can never shield the address.
    if (b[end - 2]! > t + MAX_LATE_MS) {
      while (end > w.head && b[end - 2]! > t + MAX_LATE_MS) {
        w.total -= b[end - 1]!;
        end -= 2;
      }
      b.length = end;
      if (end === w.head) {
        w.b = [t, 1];
        w.head = 0;
        w.total = 1;
        return 1;
      }
    }
    const last = b[end - 2]!;
    if (t === last) b[end - 1]!++;
    else if (t > last) b.push(t, 1);
    else {
      // Late (Apache logs a request when it ends): its run, or a new one in time order.
      let i = end - 2;
      while (i > w.head && b[i - 2]! >= t) i -= 2;
      if (b[i] === t) b[i + 1]!++;
      else b.splice(b[i]! < t ? i + 2 : i, 0, t, 1);
    }
    w.total++;
    const cutoff = b[b.length - 2]! - this.findtime;
    let head = w.head;
    if (b[head]! <= cutoff) {
      while (head < b.length && b[head]! <= cutoff) {
        w.total -= b[head + 1]!;
        head += 2;
      }
      // Expired runs at the front are removed in batches; until then they are skipped.
      if (head >= STALE_BATCH || head * 2 >= b.length) {
        b.splice(0, head);
        head = 0;
      }
      w.head = head;
    }
    return w.total;
  }

  /** Forgets an address (after a ban its window starts empty). */
  reset(ip: string): void {
    this.table.delete(ip);
  }

  /** Failures currently inside the window of `ip` as of time `now`. */
  count(ip: string, now: number): number {
    const w = this.table.peek(ip);
    if (w === undefined) return 0;
    const cutoff = now - this.findtime;
    const b = w.b;
    let n = 0;
    for (let i = b.length - 2; i >= w.head && b[i]! > cutoff; i -= 2) n += b[i + 1]!;
    return n;
  }

  /** Drops windows whose newest failure left the window before `now`; returns how many. */
  sweep(now: number): number {
    const cutoff = now - this.findtime;
    return this.table.sweep((w) => w.b[w.b.length - 2]! <= cutoff);
  }

  /** Addresses with at least one failure inside the window as of `now` (fail2ban's "currently failed"). */
  active(now: number): number {
    const cutoff = now - this.findtime;
    let n = 0;
    for (const w of this.table.values()) if (w.b[w.b.length - 2]! > cutoff) n++;
    return n;
  }

  get size(): number {
    return this.table.size;
  }
}
