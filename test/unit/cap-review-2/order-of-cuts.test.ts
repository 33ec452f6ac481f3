/**
 * Review H31: the order of cuts (BanBook.madeInScope, host mode at BANHAMMER_MAX_BANS).
 *
 * Each container's list holds the key of each ban made there, pushed when the key is set anew. A key
 * that ends and is banned again (expiry, an unban, the group's unban then its count again) is pushed
 * again while its first entry stays: the compaction kept every entry whose key is held *now*, so it
 * kept all the stale copies of a key banned again, and
 * - the list grew without bound (one entry per re-ban, never dropped) and, once past its limit, was
 *   compacted (a pass over all of it) at every ban made in that container: quadratic time;
 * - the cut took a ban banned again a moment ago as if it were the container's oldest (its stale
 *   first entry came first), not the oldest ban held.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { cpuNow } from '../../support/cpu-time.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const H = 3600_000;
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const D = 'd'.repeat(64);
const E = 'e'.repeat(64);

type Order = Map<string, { keys: string[]; head: number }>;
const orderOf = (b: BanBook): Order => (b as unknown as { madeInScope: Order }).madeInScope;
const live = (b: BanBook, scope: string): number => {
  const o = orderOf(b).get(scope);
  return o === undefined ? 0 : o.keys.length - o.head;
};
const offense = (b: BanBook, ip: string, scope: string, at: number) => b.consider({ ip, family: 4, rule: 'exploit-probes', at, failures: 1, scope }, at);
const v4 = (i: number): string => `198.18.${i >> 8}.${i & 255}`;

describe('the order of cuts keeps one entry per ban held (BanBook.madeInScope)', () => {
  it('one address banned, unbanned and banned again 20,000 times in a container holding another ban: the list stays bounded, in bounded time', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: 1000 });
    let t = T0;
    expect(offense(b, '198.19.0.1', A, t)).not.toBeNull(); // keeps the container's order alive
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const started = cpuNow();
    for (let i = 0; i < 20_000; i++) {
      t += 1000;
      expect(offense(b, '198.18.0.1', A, t)).not.toBeNull();
      // What a group unban does (anyone holding the group's Redis password may send it), then the
      // group's count bans it again; or simply the ban expiring and the address offending again.
      b.unban('198.18.0.1', undefined, A, { at: t, by: 'group:r2' });
    }
    expect(b.active().length).toBe(1);
    // Two bans were ever held at once: the list's limit is 2 × held + 1024.
    expect(live(b, A)).toBeLessThanOrEqual(2 * 2 + 1024 + 1);
    expect(cpuNow() - started).toBeLessThan(5_000);
  });

  it('a tenant whose forged addresses end (bans of an hour) and are banned again, round after round: the list stays bounded', () => {
    const rules = { ...PRESETS, 'exploit-probes': { ...PRESETS['exploit-probes']!, bantime: H, increment: null } };
    const b = new BanBook(rules, new Allowlist([]), undefined, { maxBans: 4000 });
    let t = T0;
    for (let round = 0; round < 30; round++) {
      // The agent's tick sweeps each ban at its end; the next forged line bans the address again.
      for (let n = 0; n < 500; n++) {
        t += 10;
        b.expire(t);
        expect(offense(b, v4(n), A, t)).not.toBeNull();
      }
      t += H - 500 * 10 + 5; // the first of this round has just ended, the rest are still held
    }
    expect(live(b, A)).toBeLessThanOrEqual(2 * 500 + 1024 + 1);
  });

  it('the cut takes the oldest ban held, not one banned again a moment ago', () => {
    const rules = { ...PRESETS, 'exploit-probes': { ...PRESETS['exploit-probes']!, bantime: 24 * H, increment: null } };
    const CAP = 1000;
    const b = new BanBook(rules, new Allowlist([]), undefined, { maxBans: CAP });
    let t = T0;
    // A: the address it banned first is unbanned and banned again last.
    for (let n = 0; n < 250; n++) expect(offense(b, v4(n), A, (t += 10))).not.toBeNull();
    b.unban(v4(0), undefined, A, { at: (t += 10), by: 'control' });
    expect(offense(b, v4(0), A, (t += 10))).not.toBeNull();
    for (const [k, s] of [[1, B], [2, C], [3, D]] as const) for (let n = 0; n < 250; n++) expect(offense(b, v4(k * 256 + n), s, (t += 10))).not.toBeNull();
    expect(b.active().length).toBe(CAP);
    expect(offense(b, '198.19.0.1', E, (t += 10))).not.toBeNull();
    // A holds 250 as all do and comes first: its oldest ban held is v4(1); v4(0) was banned a moment ago.
    expect(b.takeCut().map((x) => x.ip)).toEqual([v4(1)]);
    expect(b.isBanned(v4(0), 'exploit-probes', t, A)).toBe(true);
  });
});
