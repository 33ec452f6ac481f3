/**
 * A Map that holds at most `max` entries: setting one more forgets the one set longest ago (a key
 * set again counts as new), in constant time per operation (amortised). Iteration is in the order of
 * setting, oldest first, as a Map's.
 *
 * Why not a Map and `keys().next()`: V8 leaves a deleted entry's slot in place until the table is
 * rebuilt, and iteration starts at the first slot, so a Map deleted from its head over and over
 * makes every eviction scan past every slot deleted before it: at a bound of 100,000 each eviction
 * cost more than the last, until seconds went by per few thousand (the offender history, the share
 * stage's ban bookkeeping and its outbox, the enforcers' refused keys all evicted that way).
 */
export class BoundedMap<K, V> implements Iterable<[K, V]> {
  private readonly map = new Map<K, { value: V; seq: number }>();
  /** Keys in the order they were set, each with the stamp it was set with; stale ones are skipped. */
  private queue: { key: K; seq: number }[] = [];
  private head = 0;
  private seq = 0;

  constructor(
    private readonly max: number,
    /** Called for each entry forgotten at the bound (not for delete()). */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!(max >= 1)) throw new RangeError(`BoundedMap size must be ≥ 1, got ${max}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Sets `key` as the newest entry; beyond `max`, the oldest go. */
  set(key: K, value: V): this {
    const seq = ++this.seq;
    this.map.delete(key);
    this.map.set(key, { value, seq });
    this.queue.push({ key, seq });
    while (this.map.size > this.max) this.evictOldest();
    this.compact();
    return this;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.queue = [];
    this.head = 0;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, e] of this.map) yield [k, e.value];
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  *values(): IterableIterator<V> {
    for (const e of this.map.values()) yield e.value;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** The key set longest ago, or undefined when empty (for callers that choose what to forget themselves). */
  oldestKey(): K | undefined {
    while (this.head < this.queue.length) {
      const { key, seq } = this.queue[this.head]!;
      if (this.map.get(key)?.seq === seq) return key;
      this.head++;
    }
    return undefined;
  }

  private evictOldest(): void {
    const key = this.oldestKey();
    if (key === undefined) return;
    const value = this.map.get(key)!.value;
    this.map.delete(key);
    this.onEvict?.(key, value);
  }

  /** Drops queue items already read or no longer current once they outnumber the live entries. */
  private compact(): void {
    if (this.queue.length - this.head > 2 * this.map.size + 1024 || (this.head > 1024 && this.head * 2 > this.queue.length)) {
      this.queue = this.queue.slice(this.head).filter((x) => this.map.get(x.key)?.seq === x.seq);
      this.head = 0;
    }
  }
}
