/**
 * Stall review (H34): the ban book's periodic reads must not go over every ban held, or build a map
 * of them, each time the agent's tick or repair check runs (an attacker decides how many bans there
 * are, up to BANHAMMER_MAX_BANS = 500,000, and the agent is one event loop):
 *
 * - expire() with nothing due read every ban, every second (0.6 s of blocked loop per second at
 *   500,000): now it reads only the bans that are due (an expiry index), and lifts them earliest first.
 * - expected() (every repair check, 2 s) filled a map with an entry per ban: now none.
 *
 * Operations are counted (iterations of the book's own ban list, Map.set calls), not time.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { countWalks } from '../../support/ban-walks.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const v6 = (i: number) => `2001:db8::${((i >>> 16) + 1).toString(16)}:${(i & 0xffff).toString(16)}`;

/** A book of `n` bans (a third of them for containers, every tenth under a second rule), ending from T0 + 1 h on, one per ms. */
function bigBook(n: number): BanBook {
  const book = new BanBook({ ...PRESETS }, new Allowlist([]), 100_000, { maxBans: n + 10 });
  const bans = [];
  for (let i = 0; i < n; i++) {
    bans.push({ ip: v6(i), family: 6, rule: i % 10 === 0 ? 'manual' : 'forbidden', at: T0 - 1000, until: T0 + 3600_000 + i, failures: 5, nth: 1, manual: i % 10 === 0, ...(i % 3 === 0 ? { scope: `c${i % 7}` } : {}) });
  }
  // Two bans of one address under two rules, one permanent: expected() holds it once, permanently.
  bans.push({ ip: '198.18.0.9', family: 4, rule: 'forbidden', at: T0, until: T0 + 60_000, failures: 5, nth: 1, manual: false });
  bans.push({ ip: '198.18.0.9', family: 4, rule: 'manual', at: T0, until: null, failures: 0, nth: 1, manual: true });
  const r = book.restore({ bans, history: [] } as never, T0, { scopes: true });
  expect(r.restored).toBe(n + 2);
  book.changes(T0);
  return book;
}

afterEach(() => vi.restoreAllMocks());

describe('the ban book at scale (stall review)', () => {
  it('expire() with nothing due reads no ban, and with some due reads about those only', () => {
    const book = bigBook(30_000);
    const walks = countWalks(book);
    for (let s = 1; s <= 50; s++) expect(book.expire(T0 + s * 1000)).toEqual([]);
    expect(walks.read).toBe(0);
    // One minute later the first 198.18.0.9 ban (T0 + 60 s) is due, then at T0 + 1 h the first 1,000 of the big ones.
    const first = book.expire(T0 + 60_000);
    expect(first.map((b) => `${b.rule} ${b.ip}`)).toEqual(['forbidden 198.18.0.9']);
    const due = book.expire(T0 + 3600_000 + 999);
    expect(due).toHaveLength(1000);
    expect(due.map((b) => b.until)).toEqual([...Array(1000).keys()].map((i) => T0 + 3600_000 + i));
    expect(walks.read).toBe(0);
    // What the book says afterwards is unchanged by the index: the rest are held, the lifted ones not.
    expect(book.active().length).toBe(30_000 + 1 - 1000);
    expect(book.effectiveUntil(v6(999), T0 + 3600_000 + 999)).toBeUndefined();
    expect(book.effectiveUntil(v6(1000), T0 + 3600_000 + 999)).toBe(T0 + 3600_000 + 1000);
    expect(book.endedBans().slice(-1000).every((b) => b.ended.reason === 'expired' && b.ended.at === b.until)).toBe(true);
  });

  it('expire(now, limit) lifts at most `limit`, earliest first, and the next call goes on', () => {
    const book = bigBook(5000);
    const a = book.expire(T0 + 10 * 3600_000, 2048);
    const b = book.expire(T0 + 10 * 3600_000, 2048);
    const c = book.expire(T0 + 10 * 3600_000, 2048);
    expect([a.length, b.length, c.length]).toEqual([2048, 2048, 5001 - 4096]);
    const untils = [...a, ...b, ...c].map((x) => x.until!);
    expect(untils).toEqual([...untils].sort((x, y) => x - y));
    expect(book.active().map((x) => x.ip)).toEqual(['198.18.0.9']);
  });

  it('bans replaced, re-banned, unbanned or trimmed keep the index right (a stale entry never lifts the ban held now)', () => {
    const book = new BanBook({ ...PRESETS }, new Allowlist([]), 1000, { maxBans: 10_000 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 300; i++) book.banManually(`198.18.1.${i % 250}`, { durationMs: 1000 * (round + 1) + i, now: T0, rule: i < 250 ? 'manual' : 'forbidden' });
      book.unban('198.18.1.7');
    }
    // The held ban of each address is the last one: it ends at T0 + 5000 + i (or later), never at a stale entry's time.
    expect(book.expire(T0 + 4999)).toEqual([]);
    const all = book.expire(T0 + 6000);
    expect(all.length).toBe(book.endedBans().filter((e) => e.ended.reason === 'expired').length);
    expect(all.every((b) => b.until! >= T0 + 5000)).toBe(true);
    expect(book.active()).toEqual([]);
  });

  it('expected() builds no map of the bans, and says what it said before', () => {
    const book = bigBook(30_000);
    const sets = vi.spyOn(Map.prototype, 'set');
    const e = book.expected(T0 + 1);
    const maps = sets.mock.calls.length;
    sets.mockRestore();
    expect(maps).toBe(0);
    expect(e).toHaveLength(30_001);
    expect(e.find((x) => x.ip === '198.18.0.9')).toEqual({ ip: '198.18.0.9', family: 4, until: null });
    expect(e.find((x) => x.ip === v6(3))).toEqual({ ip: v6(3), family: 6, until: T0 + 3600_000 + 3, scope: 'c3' });
    expect(e.find((x) => x.ip === v6(1))).toEqual({ ip: v6(1), family: 6, until: T0 + 3600_000 + 1 });
    // Ended bans are left out.
    expect(book.expected(T0 + 3600_000 + 9).some((x) => x.ip === v6(9))).toBe(false);
  });
});
