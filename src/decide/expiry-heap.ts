/**
 * The ban book's bans that end, by expiry, as a binary min-heap (BanBook.expire reads only the bans
 * due instead of every ban held). Ties go in the order they were pushed. Entries are not removed
 * when a ban ends early or is replaced: the book checks the top against what it holds and pops a
 * stale one (`keep` rebuilds from the live ones when they are outnumbered).
 *
 * Kept as parallel arrays (key, ban, expiry, order) rather than an object per entry: an entry object
 * cost about 80 bytes a ban held, these about 40; and comparing two entries reads no ban object (at
 * 100,000 bans restored, reading `until` off the bans cost about 1 µs a push).
 */
interface Ends {
  readonly until: number | null;
}

export class ExpiryHeap<B extends Ends> {
  private keys: string[] = [];
  private bans: B[] = [];
  /** Each entry's expiry, beside it (a double array: no ban object is read to compare two entries). */
  private untils: number[] = [];
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
    const until = ban.until!;
    let i = this.keys.length;
    this.keys.push(k);
    this.bans.push(ban);
    this.untils.push(until);
    this.order.push(seq);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(until, seq, parent)) break;
      this.move(parent, i);
      i = parent;
    }
    this.put(i, k, ban, until, seq);
  }

  /** Removes the top entry. */
  pop(): void {
    const k = this.keys.pop();
    const b = this.bans.pop();
    const u = this.untils.pop();
    const s = this.order.pop();
    if (k === undefined || b === undefined || u === undefined || s === undefined || this.keys.length === 0) return;
    this.siftDown(0, k, b, u, s);
  }

  /**
   * Every entry's expiry moved by `ms` (the book moved every ban that ends by as much: the order holds,
   * stale entries included, which stay stale).
   */
  shiftAll(ms: number): void {
    const u = this.untils;
    for (let i = 0; i < u.length; i++) u[i] = u[i]! + ms;
  }

  /**
   * Keeps only the entries `live` accepts (the book's bans still held), in heap order again.
   * `reread`: each entry's expiry is read again from its ban (the book moved bans' ends in place:
   * BanBook.shiftMade).
   */
  keep(live: (k: string, ban: B) => boolean, reread = false): void {
    const keys: string[] = [];
    const bans: B[] = [];
    const untils: number[] = [];
    const order: number[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      if (!live(this.keys[i]!, this.bans[i]!)) continue;
      keys.push(this.keys[i]!);
      bans.push(this.bans[i]!);
      untils.push(reread ? this.bans[i]!.until! : this.untils[i]!);
      order.push(this.order[i]!);
    }
    this.keys = keys;
    this.bans = bans;
    this.untils = untils;
    this.order = order;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) this.siftDown(i, keys[i]!, bans[i]!, untils[i]!, order[i]!);
  }

  /** Whether (until, seq) ends before the entry at `j`. */
  private before(until: number, seq: number, j: number): boolean {
    const b = this.untils[j]!;
    return until < b || (until === b && seq < this.order[j]!);
  }

  private move(from: number, to: number): void {
    this.keys[to] = this.keys[from]!;
    this.bans[to] = this.bans[from]!;
    this.untils[to] = this.untils[from]!;
    this.order[to] = this.order[from]!;
  }

  private put(i: number, k: string, ban: B, until: number, seq: number): void {
    this.keys[i] = k;
    this.bans[i] = ban;
    this.untils[i] = until;
    this.order[i] = seq;
  }

  /** Places (k, ban, until, seq) at `i` or below, moving earlier-ending children up. */
  private siftDown(i: number, k: string, ban: B, until: number, seq: number): void {
    const n = this.keys.length;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(this.untils[c + 1]!, this.order[c + 1]!, c)) c++;
      if (!this.endsBefore(c, until, seq)) break;
      this.move(c, i);
      i = c;
    }
    this.put(i, k, ban, until, seq);
  }

  /** Whether the entry at `j` ends before (until, seq). */
  private endsBefore(j: number, until: number, seq: number): boolean {
    const a = this.untils[j]!;
    return a < until || (a === until && this.order[j]! < seq);
  }
}
