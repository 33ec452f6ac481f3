/**
 * Per-address failure windows for one rule, bounded in memory.
 *
 * record(ip, t) adds a failure at log time t and answers how many failures of that address fall in
 * the window (ref - findtime, ref], where ref is the newest failure not stamped after t + the rule's
 * lead (futureLeadOf: half its findtime, at most MAX_LATE_MS). Events may arrive slightly out of
 * order (Apache stamps a request when it starts but writes it when it ends), so each window is kept
 * sorted, and a line a little late is counted with the newer failures around it. A failure stamped
 * further ahead of the one being recorded came from a skewed or forged clock: it is kept for when its
 * time comes but neither counted nor allowed to age the current failures out, so no future-dated
 * line, however near, can shield an address (measured from the newest failure, a line stamped a
 * findtime ahead pushed every current one out of the window). Failures more than MAX_LATE_MS ahead
 * are dropped, which bounds what a window keeps.
 * At most `maxTracked` addresses are held: adding one more evicts the least recently failing
 * address, and evictions of windows still in play are counted so the operator can see the cap was
 * reached (a stale one, which the sweep would have dropped, goes uncounted).
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

/**
 * How far after the failure being recorded another may be stamped and still count with it: half the
 * findtime, at most MAX_LATE_MS. A line that late (a slow request) counts with the newer failures
 * around it; beyond that a failure is from the future for this count. Under half the findtime, a
 * planted future line can move a window's end forward by less than half a window, and the failures
 * recorded after it count with it.
 */
export function futureLeadOf(findtime: number): number {
  return Math.min(Math.floor(findtime / 2), MAX_LATE_MS);
}

/**
 * Up to when a window's newest failure makes it stale as of a failure at `t` (the clock `now`, live;
 * replay's stand-in for it): two findtimes back, as the detector's sweep drops windows (a line may
 * be read up to a findtime late, and its window reaches a findtime further back). Only whether a
 * window let go at the cap is counted as an eviction depends on it (window-table.ts add).
 */
export function staleUpTo(t: number, now: number | undefined, findtime: number): number {
  return (now !== undefined && now > t ? now : t) - 2 * findtime;
}

/** Expired runs kept at the front of a window until there are this many (or half the window). */
const STALE_BATCH = 64;

export class SlidingWindows {
  private readonly table: WindowTable<Window>;
  private readonly lead: number;
  /**
   * The failures the window of the last record() holds, counted or from the future: it grows by at
   * most one per record (the evidence gate relies on that: pipeline.ts keepFrom).
   */
  held = 0;

  constructor(
    private readonly findtime: number,
    maxTracked: number,
  ) {
    this.table = new WindowTable<Window>(maxTracked, (w) => w.b[w.b.length - 2]!);
    this.lead = futureLeadOf(findtime);
  }

  /** Windows evicted at maxTracked while they held failures still in play (window-table.ts add), since start. */
  get evictions(): number {
    return this.table.evictions;
  }

  /** A new cap on the addresses held (a reload): the windows stay, the least recently failing go beyond it. */
  setMaxTracked(maxTracked: number): void {
    this.table.setMaxTracked(maxTracked);
  }

  /**
   * Records a failure and returns the number of failures inside its window (see the top of this file).
   * `now`: the agent's clock (live). A run is dropped as from the future only when it is stamped more
   * than MAX_LATE_MS after both this line and the clock: live, no failure is stamped ahead of the
   * clock, so what lies far after a line there is the address's own current failures and the line is
   * late (Apache logs a slow request, stamped when it began, when it ends): dropping them let one
   * late line of the client's own erase its window (audit: helper H3).
   */
  record(ip: string, t: number, now?: number): number {
    const w = this.table.use(ip);
    if (w === undefined) {
      this.table.add(new Window(ip, t), staleUpTo(t, now, this.findtime));
      this.held = 1;
      return 1;
    }
    const b = w.b;
    let end = b.length;
    // A window whose newest runs are stamped far after this line (and after the clock, when known)
    // came from a skewed or forged clock: those runs go, so one far-future line can never shield the
    // address.
    const horizon = (now !== undefined && now > t ? now : t) + MAX_LATE_MS;
    if (b[end - 2]! > horizon) {
      while (end > w.head && b[end - 2]! > horizon) {
        w.total -= b[end - 1]!;
        end -= 2;
      }
      b.length = end;
      if (end === w.head) {
        w.b = [t, 1];
        w.head = 0;
        w.total = 1;
        this.held = 1;
        return 1;
      }
    }
    const last = b[end - 2]!;
    // A failure stamped more than the lead after every one the window holds (a jump ahead: a client
    // back after a pause, or a line from a skewed or forged clock) counts from its own time, but
    // removes only the runs that had left the window before it: removing everything older than its
    // own findtime let one line stamped far ahead empty the window of the current failures, and
    // itself be dropped at the next line (replay, where no clock clamps it) (audit: helper H3).
    const jump = t > last + this.lead;
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
    // The window ends at the newest run not stamped after t + lead; later ones (the future) are
    // neither counted nor used to age the others out.
    const soon = t + this.lead;
    let ref = b.length - 2;
    let future = 0;
    while (b[ref]! > soon) {
      future += b[ref + 1]!;
      ref -= 2;
    }
    const cutoff = b[ref]! - this.findtime;
    // Live, a line stamped ahead of the clock (within the skew tolerance) removes nothing the clock
    // still holds inside the findtime: stepped forward so that none is a jump, two such lines erased
    // the address's current failures for good, and so shielded it whatever it did. What they do not
    // remove is only left out of their own count (stale, below).
    let removeUpTo = jump ? last - this.findtime : cutoff;
    if (now !== undefined && t > now && removeUpTo > now - this.findtime) removeUpTo = now - this.findtime;
    let head = w.head;
    if (b[head]! <= removeUpTo) {
      while (head < b.length && b[head]! <= removeUpTo) {
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
    this.held = w.total;
    if (!jump && removeUpTo >= cutoff) return w.total - future;
    // Kept but out of this failure's window: not counted.
    let stale = 0;
    for (let i = head; i < b.length && b[i]! <= cutoff; i += 2) stale += b[i + 1]!;
    return w.total - future - stale;
  }

  /** Forgets an address (after a ban its window starts empty). */
  reset(ip: string): void {
    this.table.delete(ip);
  }

  /** Forgets every address key for which `drop` holds (a reload allowlisted it); returns those keys. */
  forgetWhere(drop: (key: string) => boolean): string[] {
    return this.table.forgetWhere(drop);
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
