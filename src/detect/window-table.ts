/**
 * The windows of one rule, by address key, bounded at maxTracked: what failure windows
 * (sliding-window.ts) and distinct-path windows (distinct-window.ts) share. Adding a window at the cap
 * evicts the least recently used one (lru-order.ts: exact, and free below the cap) and counts it; the
 * window used last is found again without a lookup (most lines follow one of the same client: 57 % in
 * a public Apache log, a page and its assets).
 */
import { LruOrder, type LruNode } from './lru-order.js';

export class WindowTable<W extends LruNode> {
  private readonly windows = new Map<string, W>();
  private readonly lru = new LruOrder<W>();
  private lastKey: string | undefined;
  private lastWindow: W | undefined;
  /** Windows evicted at the cap, since start. */
  evictions = 0;

  constructor(private maxTracked: number) {
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
      const old = this.lru.leastRecent(this.windows.values());
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

  /** A new window for its key, the most recently used; at the cap the least recently used goes first. */
  add(w: W): void {
    if (this.windows.size >= this.maxTracked) {
      const old = this.lru.leastRecent(this.windows.values());
      if (old !== null) {
        this.remove(old);
        this.evictions++;
      }
    }
    this.windows.set(w.key, w);
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

  private remove(w: W): void {
    this.windows.delete(w.key);
    this.lru.remove(w);
    if (this.lastWindow === w) {
      this.lastKey = undefined;
      this.lastWindow = undefined;
    }
  }
}
