/**
 * Least-recently-used order for the windows of a rule (sliding-window.ts, distinct-window.ts), kept
 * only when it is needed.
 *
 * The order matters only to evict, which happens only at maxTracked. Below that, touching a window
 * just stamps it with a sequence number: no list to update, so a record reads no other window (with
 * tens of thousands of addresses, each neighbour read is a cache miss). At the first eviction the
 * windows are sorted by stamp into a doubly linked list, which is then kept exactly (a touch moves
 * its window to the newest end) until sweeps bring the count under half of maxTracked. Evictions
 * are therefore always of the least recently touched window, as with an eager list.
 */
export interface LruNode {
  readonly key: string;
  /** Sequence number of the last touch. */
  last: number;
  older: LruNode | null;
  newer: LruNode | null;
}

export class LruOrder<N extends LruNode> {
  private oldest: N | null = null;
  private newest: N | null = null;
  private seq = 0;
  /** Whether the linked list is kept (the links of nodes are stale while it is not). */
  private ordered = false;

  /** A new node, the most recently used. */
  add(n: N): void {
    n.last = ++this.seq;
    if (this.ordered) this.append(n);
  }

  /** `n` was used: it becomes the most recently used. */
  touch(n: N): void {
    n.last = ++this.seq;
    if (this.ordered && n !== this.newest) {
      this.unlink(n);
      this.append(n);
    }
  }

  /** `n` is gone from the windows. */
  remove(n: N): void {
    if (this.ordered) this.unlink(n);
  }

  /** The least recently used of `all` (every node held), ordering the list first if it is not. */
  leastRecent(all: Iterable<N>): N | null {
    if (!this.ordered) {
      const nodes = Array.from(all).sort((a, b) => a.last - b.last);
      this.oldest = null;
      this.newest = null;
      for (const n of nodes) {
        n.older = null;
        n.newer = null;
        this.append(n);
      }
      this.ordered = true;
    }
    return this.oldest;
  }

  /** After windows were dropped: with `size` of `max` held, stop keeping the list below half. */
  relax(size: number, max: number): void {
    if (this.ordered && size < max / 2) {
      this.ordered = false;
      this.oldest = null;
      this.newest = null;
    }
  }

  private unlink(n: N): void {
    if (n.older !== null) n.older.newer = n.newer;
    else this.oldest = n.newer as N | null;
    if (n.newer !== null) n.newer.older = n.older;
    else this.newest = n.older as N | null;
    n.older = null;
    n.newer = null;
  }

  private append(n: N): void {
    n.older = this.newest;
    if (this.newest !== null) this.newest.newer = n;
    else this.oldest = n;
    this.newest = n;
  }
}
