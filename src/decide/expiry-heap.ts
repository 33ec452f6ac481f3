/**
 * The ban book's bans that end, by expiry, as a binary min-heap (BanBook.expire reads only the bans
 * due instead of every ban held). Ties go in the order they were pushed. Entries are not removed
 * when a ban ends early or is replaced: the book checks the top against what it holds and pops a
 * stale one (`keep` rebuilds from the live ones when they are outnumbered).
 *
 * Kept as three parallel arrays (key, ban, order) rather than an object per entry: at 1,000,000 bans
 * an entry object cost about 80 bytes a ban, these about 30.
 */
interface Ends {
  readonly until: number | null;
}

export class ExpiryHeap<B extends Ends> {
  private keys: string[] = [];
  private bans: B[] = [];
  private order: number[] = [];
  private pushed = 0;

  get size(): number {
    return this.keys.length;
  }

  /** The entry that ends first (undefined when empty). */
  topKey(): string | undefined {
    return this.keys[0];
  }
  topBan(): B | undefined {
    return this.bans[0];
  }

  /** Adds a ban that ends (`until` not null) under key `k`. */
  push(k: string, ban: B): void {
    const seq = ++this.pushed;
    let i = this.keys.length;
    this.keys.push(k);
    this.bans.push(ban);
    this.order.push(seq);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(ban, seq, parent)) break;
      this.move(parent, i);
      i = parent;
    }
    this.put(i, k, ban, seq);
  }

  /** Removes the top entry. */
  pop(): void {
    const k = this.keys.pop();
    const b = this.bans.pop();
    const s = this.order.pop();
    if (k === undefined || b === undefined || s === undefined || this.keys.length === 0) return;
    this.siftDown(0, k, b, s);
  }

  /** Keeps only the entries `live` accepts (the book's bans still held), in heap order again. */
  keep(live: (k: string, ban: B) => boolean): void {
    const keys: string[] = [];
    const bans: B[] = [];
    const order: number[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      if (!live(this.keys[i]!, this.bans[i]!)) continue;
      keys.push(this.keys[i]!);
      bans.push(this.bans[i]!);
      order.push(this.order[i]!);
    }
    this.keys = keys;
    this.bans = bans;
    this.order = order;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) this.siftDown(i, keys[i]!, bans[i]!, order[i]!);
  }

  /** Whether (ban, seq) ends before the entry at `j`. */
  private before(ban: B, seq: number, j: number): boolean {
    const a = ban.until!;
    const b = this.bans[j]!.until!;
    return a < b || (a === b && seq < this.order[j]!);
  }

  private move(from: number, to: number): void {
    this.keys[to] = this.keys[from]!;
    this.bans[to] = this.bans[from]!;
    this.order[to] = this.order[from]!;
  }

  private put(i: number, k: string, ban: B, seq: number): void {
    this.keys[i] = k;
    this.bans[i] = ban;
    this.order[i] = seq;
  }

  /** Places (k, ban, seq) at `i` or below, moving earlier-ending children up. */
  private siftDown(i: number, k: string, ban: B, seq: number): void {
    const n = this.keys.length;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(this.bans[c + 1]!, this.order[c + 1]!, c)) c++;
      if (!this.endsBefore(c, ban, seq)) break;
      this.move(c, i);
      i = c;
    }
    this.put(i, k, ban, seq);
  }

  /** Whether the entry at `j` ends before (ban, seq). */
  private endsBefore(j: number, ban: B, seq: number): boolean {
    const a = this.bans[j]!.until!;
    const b = ban.until!;
    return a < b || (a === b && this.order[j]! < seq);
  }
}
