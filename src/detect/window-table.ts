/**
 * The windows of one rule, by address key, bounded at maxTracked: what failure windows
 * (sliding-window.ts) and distinct-path windows (distinct-window.ts) share. Adding a window at the cap
 * evicts the least recently used one (lru-order.ts: exact, and free below the cap) and counts it; the
 * window used last is found again without a lookup (most lines follow one of the same client: 57 % in
 * a public Apache log, a page and its assets).
 *
 * In host mode a key names a scope too (scoped-key.ts: a container, or '' for host-wide), and each
 * tenant writes whatever lines it likes: a tenant printing a new forged address with every line would
 * make every other container's windows the least recently used, and evict them before their clients
 * reach maxretry. So the window evicted at the cap is the least recently used one of a scope holding at
 * least its share of the table (held / scopes): a window of a smaller scope met on the way is spared
 * (moved to the recent end; each is passed over once, so an eviction costs O(1) amortized). With one
 * scope this is plain LRU.
 */
import { scopeOfKey } from '../decide/scoped-key.js';
import { LruOrder, type LruNode } from './lru-order.js';

export class WindowTable<W extends LruNode> {
  private readonly windows = new Map<string, W>();
  private readonly lru = new LruOrder<W>();
  private lastKey: string | undefined;
  private lastWindow: W | undefined;
  /** Windows held per scope ('' host-wide), for the choice of a window to evict. */
  private readonly perScope = new Map<string, number>();
  /** Windows evicted at the cap while they still held failures in play (see add), since start. */
  evictions = 0;

  /** `newestOf`: the time of a window's newest failure (what tells a stale window from a live one in add()). */
  constructor(
    private maxTracked: number,
    private readonly newestOf: (w: W) => number,
  ) {
    if (!(maxTracked >= 1)) throw new RangeError(`maxTracked must be ≥ 1, got ${maxTracked}`);
  }

  /**
   * A new cap (a reload): the windows are kept, and when more than `maxTracked` are held the least
   * recently used go (counted as evictions), as they would have at the cap.
   */
  setMaxTracked(maxTracked: number): void {
    if (!(maxTracked >= 1)) throw new RangeError(`maxTracked must be ≥ 1, got ${maxTracked}`);
    this.maxTracked = maxTracked;
    while (this.windows.size > maxTracked) {
      const old = this.victim();
      if (old === null) break;
      this.remove(old);
      this.evictions++;
    }
    this.lru.relax(this.windows.size, maxTracked);
  }

  /** The window of `key`, now the most recently used, or undefined. */
  use(key: string): W | undefined {
    const w = key === this.lastKey ? this.lastWindow : this.windows.get(key);
    if (w !== undefined) {
      this.lastKey = key;
      this.lastWindow = w;
      this.lru.touch(w);
    }
    return w;
  }

  /** The window of `key`, without using it (reads that are not failures). */
  peek(key: string): W | undefined {
    return this.windows.get(key);
  }

  /**
   * A new window for its key, the most recently used; at the cap the least recently used goes first.
   * `staleUpTo`: a window whose newest failure (`newestOf`) is not after it holds nothing any line
   * can still count with (what the periodic sweep drops: detector.ts sweep), so letting it go at the
   * cap is not counted as an eviction: the count, and the "raise max_tracked" it makes status and
   * replay print, is of windows that held failures still in play. (Replay does not sweep, and a
   * long log of many addresses, each failing once, was reported as evicting thousands.)
   */
  add(w: W, staleUpTo: number = Number.NEGATIVE_INFINITY): void {
    if (this.windows.size >= this.maxTracked) {
      const old = this.victim();
      if (old !== null) {
        this.remove(old);
        if (!(this.newestOf(old) <= staleUpTo)) this.evictions++;
      }
    }
    this.windows.set(w.key, w);
    this.count(w.key, 1);
    this.lru.add(w);
    this.lastKey = w.key;
    this.lastWindow = w;
  }

  /** Forgets the window of `key`. */
  delete(key: string): void {
    const w = this.windows.get(key);
    if (w !== undefined) this.remove(w);
  }

  /** Drops the windows for which `stale` holds; returns how many. */
  sweep(stale: (w: W) => boolean): number {
    let removed = 0;
    for (const w of this.windows.values()) {
      if (stale(w)) {
        this.remove(w);
        removed++;
      }
    }
    this.lru.relax(this.windows.size, this.maxTracked);
    return removed;
  }

  /** Forgets every window whose key `drop` holds for; returns those keys. */
  forgetWhere(drop: (key: string) => boolean): string[] {
    const gone: string[] = [];
    this.sweep((w) => drop(w.key) && gone.push(w.key) > 0);
    return gone;
  }

  values(): IterableIterator<W> {
    return this.windows.values();
  }

  get size(): number {
    return this.windows.size;
  }

  /**
   * The window to evict at the cap: the least recently used of a scope holding at least its share
   * (one always does: not every scope holds less than the average). Windows of smaller scopes met
   * first are moved to the recent end.
   */
  private victim(): W | null {
    let n = this.lru.leastRecent(this.windows.values());
    if (this.perScope.size <= 1) return n;
    const share = this.windows.size / this.perScope.size;
    for (let i = 0; n !== null && i < this.windows.size; i++) {
      if ((this.perScope.get(scopeOfKey(n.key)) ?? 0) >= share) return n;
      this.lru.touch(n);
      n = this.lru.leastRecent(this.windows.values());
    }
    return n;
  }

  private count(key: string, by: number): void {
    const scope = scopeOfKey(key);
    const n = (this.perScope.get(scope) ?? 0) + by;
    if (n > 0) this.perScope.set(scope, n);
    else this.perScope.delete(scope);
  }

  private remove(w: W): void {
    this.windows.delete(w.key);
    this.count(w.key, -1);
    this.lru.remove(w);
    if (this.lastWindow === w) {
      this.lastKey = undefined;
      this.lastWindow = undefined;
    }
  }
}
