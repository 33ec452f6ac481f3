/**
 * Entries kept in order of their `start` (a BigInt), as a list of short sorted chunks: an insert or a
 * delete moves at most a chunk's entries (and, when a chunk splits or empties, the chunk list), where
 * one sorted array moved every entry after the place. The network index kept one array per family and
 * spliced it: indexing n networks cost n², so a state file or a group of 100,000 network bans took
 * seconds to restore, and 100,000 of them ending in the same second blocked the agent's event loop
 * for 0.6 s per slice of 2,048 (13 s in all), every deletion near the front moving the whole array
 * (review H47). Ties (entries with the same start) are kept in any order.
 *
 * Chunks are never empty and hold at most 2 × CHUNK entries; a chunk's place is found by a binary
 * search of the chunks' last starts, then the entry's by a binary search inside it: an operation costs
 * about log n comparisons, CHUNK moves and n / CHUNK moves of chunk references.
 */
export interface Started {
  readonly start: bigint;
}

/** Entries a chunk holds after a split (it splits past twice this). */
const CHUNK = 256;

export class ChunkedStarts<E extends Started> {
  private readonly chunks: E[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `e` (after any entry of the same start it finds first: ties are in no order). */
  insert(e: E): void {
    const chunks = this.chunks;
    this.count++;
    if (chunks.length === 0) {
      chunks.push([e]);
      return;
    }
    // The first chunk whose last start is ≥ e.start, or the last chunk when e goes after every entry.
    const c = Math.min(this.chunkAtOrAfter(e.start), chunks.length - 1);
    const chunk = chunks[c]!;
    chunk.splice(firstAtOrAfter(chunk, e.start), 0, e);
    if (chunk.length > 2 * CHUNK) chunks.splice(c + 1, 0, chunk.splice(CHUNK));
  }

  /** Removes the entry `e` (the same object), if held; whether it was. */
  delete(e: E): boolean {
    const chunks = this.chunks;
    for (let c = this.chunkAtOrAfter(e.start); c < chunks.length; c++) {
      const chunk = chunks[c]!;
      for (let i = firstAtOrAfter(chunk, e.start); i < chunk.length; i++) {
        const x = chunk[i]!;
        if (x.start !== e.start) return false;
        if (x !== e) continue;
        chunk.splice(i, 1);
        if (chunk.length === 0) chunks.splice(c, 1);
        this.count--;
        return true;
      }
    }
    return false;
  }

  /**
   * Visits the entries whose start is ≥ `from`, in order of start, until `visit` returns true; the
   * entry it stopped at, or undefined.
   */
  find(from: bigint, visit: (e: E) => boolean): E | undefined {
    const chunks = this.chunks;
    for (let c = this.chunkAtOrAfter(from); c < chunks.length; c++) {
      const chunk = chunks[c]!;
      for (let i = firstAtOrAfter(chunk, from); i < chunk.length; i++) {
        const x = chunk[i]!;
        if (visit(x)) return x;
      }
    }
    return undefined;
  }

  /** Index of the first chunk whose last entry's start is ≥ `start` (chunks.length when none is). */
  private chunkAtOrAfter(start: bigint): number {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (chunk[chunk.length - 1]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Index of the first entry of a sorted chunk whose start is ≥ `start`. */
function firstAtOrAfter(list: readonly Started[], start: bigint): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.start < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
