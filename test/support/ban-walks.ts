/**
 * Counts the entries read from a ban book's own list of bans by any walk over it (iteration,
 * entries(), values()); a forEach over it throws. Tests that a read of the book does not go over
 * every ban held count with it (stall reviews H34 and H47): counted, not timed.
 */
import type { BanBook } from '../../src/decide/ban-book.js';

export function countWalks(book: BanBook): { read: number } {
  const counter = { read: 0 };
  const bans = (book as unknown as { bans: Map<string, unknown> }).bans;
  const wrap = <T>(it: IterableIterator<T>): IterableIterator<T> =>
    ({
      next() {
        const r = it.next();
        if (r.done !== true) counter.read++;
        return r;
      },
      [Symbol.iterator]() {
        return this;
      },
    }) as IterableIterator<T>;
  const own = bans as unknown as Record<string | symbol, unknown>;
  own[Symbol.iterator] = () => wrap(Map.prototype.entries.call(bans));
  own.entries = () => wrap(Map.prototype.entries.call(bans));
  own.values = () => wrap(Map.prototype.values.call(bans));
  own.forEach = () => {
    throw new Error('forEach over the bans');
  };
  return counter;
}
