/**
 * The repeat-offender history is bounded, and addresses can cost an attacker nothing (review: helper):
 * 100,000 one-request bans from addresses of one IPv6 /64 pushed a known offender's entry out, and its
 * next ban was a first one again (exploit-probes: a day instead of two). One /64 now holds at most 16
 * entries and one /48 at most 256; at the bound, addresses banned once go before repeat offenders.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { OffenderHistory, PER_48, PER_64 } from '../../../src/decide/offender-history.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { canonicalClientIp } from '../../../src/parse/ip.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const rules = { 'exploit-probes': PRESETS['exploit-probes']! };
const offense = (ip: string, at: number) => ({ ip, family: (ip.includes(':') ? 6 : 4) as 4 | 6, rule: 'exploit-probes', at, failures: 1 });
const v6 = (s: string): string => canonicalClientIp(s)!.ip;

describe('repeat-offender history under a flood of cheap addresses', () => {
  it("5,000 one-shot bans from one /64 (history bound 1,000) leave a known offender's count alone", () => {
    const book = new BanBook(rules, new Allowlist([]), 1000);
    const X = '198.18.7.7';
    const first = book.consider(offense(X, T0), T0)!;
    expect(first.nth).toBe(1);
    book.expire(T0 + DAY + 1);
    const t = T0 + DAY + 10;
    for (let i = 0; i < 5000; i++) book.consider(offense(v6(`2001:db8:0:1::${i.toString(16)}`), t), t);
    const again = book.consider(offense(X, t + 1), t + 1)!;
    expect(again.nth).toBe(2);
    expect(again.until! - again.at).toBe(2 * (first.until! - first.at));
  });

  it('a flood from many /48s (one address each) goes before repeat offenders', () => {
    const book = new BanBook(rules, new Allowlist([]), 1000);
    const X = '198.18.7.8';
    book.consider(offense(X, T0), T0);
    book.expire(T0 + DAY + 1);
    book.consider(offense(X, T0 + DAY + 2), T0 + DAY + 2); // X is a repeat offender now
    book.expire(T0 + 4 * DAY);
    const t = T0 + 4 * DAY + 10;
    for (let i = 0; i < 5000; i++) book.consider(offense(v6(`2001:db8:${i.toString(16)}::1`), t), t);
    expect(book.consider(offense(X, t + 1), t + 1)!.nth).toBe(3);
  });
});

describe('OffenderHistory', () => {
  const entry = (ip: string, count = 1, last = T0) => ({ ip, rule: 'r', count, last });

  it(`one /64 holds at most ${PER_64} entries and one /48 at most ${PER_48}, oldest first out; IPv4 and other networks are not touched`, () => {
    const h = new OffenderHistory(100_000);
    for (let i = 0; i < PER_64 + 5; i++) h.set(`r 2001:db8:1:2::${i}`, entry(v6(`2001:db8:1:2::${i}`)));
    expect(h.size).toBe(PER_64);
    expect(h.get('r 2001:db8:1:2::0')).toBeUndefined();
    expect(h.get(`r 2001:db8:1:2::${PER_64 + 4}`)).toBeDefined();
    for (let n = 0; n < 40; n++) for (let i = 0; i < 10; i++) h.set(`r 2001:db8:1:${(n + 100).toString(16)}::${i}`, entry(v6(`2001:db8:1:${(n + 100).toString(16)}::${i}`)));
    expect(h.size).toBe(PER_48);
    h.set('r 2001:db8:2::1', entry('2001:db8:2::1'));
    for (let i = 0; i < 300; i++) h.set(`r 198.18.0.${i % 256}-${i}`, entry(`198.18.0.${i % 256}`));
    expect(h.get('r 2001:db8:2::1')).toBeDefined();
    expect(h.size).toBe(PER_48 + 1 + 300);
  });

  it('at the bound, entries of addresses banned once go first; values() rebuilds the same table', () => {
    const h = new OffenderHistory(3);
    h.set('a', entry('198.18.0.1', 2));
    h.set('b', entry('198.18.0.2', 1));
    h.set('c', entry('198.18.0.3', 1));
    h.set('d', entry('198.18.0.4', 1));
    expect(h.get('a')?.count).toBe(2);
    expect(h.get('b')).toBeUndefined();
    const copy = new OffenderHistory(3);
    for (const e of h.values()) copy.set(`${e.ip}`, e);
    expect(copy.values()).toEqual(h.values());
    // A count that grows moves the entry to the repeat tier.
    h.set('c', entry('198.18.0.3', 2));
    h.set('e', entry('198.18.0.5', 1));
    h.set('f', entry('198.18.0.6', 1));
    expect(h.get('a')).toBeDefined();
    expect(h.get('c')).toBeDefined();
    expect(h.get('e')).toBeUndefined();
  });
});

describe('a ban adopted from the group brings its count (replicas act as one)', () => {
  it("this replica's next ban of the offender continues the group's sequence; a hostile count is capped", () => {
    const book = new BanBook(rules, new Allowlist([]), 1000);
    const X = '198.18.7.9';
    // Replica r2 banned X twice already (nth 2, two days); the ban reaches this replica.
    expect(book.adopt({ ip: X, rule: 'exploit-probes', at: T0, until: T0 + 2 * DAY, origin: 'r2', nth: 2 }, T0 + 1)).toMatchObject({ nth: 2 });
    book.expire(T0 + 2 * DAY + 1);
    const mine = book.consider(offense(X, T0 + 3 * DAY), T0 + 3 * DAY)!;
    expect(mine.nth).toBe(3);
    expect(mine.until! - mine.at).toBe(4 * DAY);
    const Y = '198.18.7.10';
    book.adopt({ ip: Y, rule: 'exploit-probes', at: T0, until: T0 + DAY, origin: 'r2', nth: Number.MAX_SAFE_INTEGER }, T0 + 1);
    book.expire(T0 + 30 * DAY + 1);
    const y = book.consider(offense(Y, T0 + 31 * DAY), T0 + 31 * DAY)!;
    expect(y.nth).toBe(65);
    expect(y.until! - y.at).toBe(PRESETS['exploit-probes']!.increment!.maxtime);
  });
});

describe('the per-network caps never take a repeat offender for a neighbour (review: helper)', () => {
  it("16 one-shot bans in a repeat offender's /64 leave its count", () => {
    const book = new BanBook(rules, new Allowlist([]), 1000);
    const X = v6('2001:db8:5:5::1');
    book.consider(offense(X, T0), T0);
    book.expire(T0 + DAY + 1);
    book.consider(offense(X, T0 + DAY + 2), T0 + DAY + 2);
    book.expire(T0 + 4 * DAY);
    const t = T0 + 4 * DAY + 10;
    for (let i = 2; i < 2 + 3 * PER_64; i++) book.consider(offense(v6(`2001:db8:5:5::${i.toString(16)}`), t), t);
    expect(book.consider(offense(X, t + 1), t + 1)!.nth).toBe(3);
  });

  it('IPv6 forms of IPv4 addresses (NAT64, mapped, compatible) are not grouped by /64', () => {
    for (const prefix of ['64:ff9b::', '64:ff9b:1::', '::ffff:0:']) {
      const book = new BanBook(rules, new Allowlist([]), 1000);
      const X = v6(`${prefix}198.18.7.7`);
      book.consider(offense(X, T0), T0);
      book.expire(T0 + DAY + 1);
      const t = T0 + DAY + 10;
      for (let i = 0; i < 3 * PER_64; i++) book.consider(offense(v6(`${prefix}198.19.0.${i}`), t), t);
      expect(book.consider(offense(X, t + 1), t + 1)!.nth, prefix).toBe(2);
    }
  });
});
