/**
 * The ban book against a simple model, over seeded random sequences of operations: every way a ban is
 * set, replaced or removed (detected with evidence over a small budget, so that trims replace bans;
 * manual, of addresses and networks, in scopes; adopted from the group, under unknown rules and
 * longer; unban in every rule and scope mode; unban --all; expiry; a reload that allowlists; a restart
 * from a snapshot). After each step what the book answers (isBanned, effectiveUntil, expected, about)
 * is recomputed from active(), the book's own indexes are checked against its bans, the enforcer
 * (a model kernel) is told each change exactly once and ends up holding expected(), and the snapshot
 * read back by a fresh book says the same as the book that wrote it.
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook, type Ban } from '../../../src/decide/ban-book.js';
import { evidenceBytes } from '../../../src/decide/evidence.js';
import { canonicalTarget, isNetwork } from '../../../src/parse/ip.js';
import { M, RULES, ADDRESSES, NETWORKS, C1, C2, SCOPES, ALL_RULES, rng, live, norm, kernelOf, checkIndexes, checkAnswers, Kernel } from './ban-book-model-support.js';

function run(seed: number, steps: number, logTime: boolean): void {
  const r = rng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const limits = { evidenceBytes: 3_000, endedBans: 25, logTime };
  let book = new BanBook(RULES, new Allowlist([]), 1000, limits);
  let kernel = new Kernel();
  let now = 1_000_000;
  const cause = (): { at: number; by: string } => ({ at: now, by: 'control' });
  const trace: string[] = [];
  for (let step = 0; step < steps; step++) {
    const op = Math.floor(r() * 16);
    const ip = pick(ADDRESSES);
    const scope = isNetwork(ip) ? undefined : pick(SCOPES);
    try {
      switch (op) {
        case 0:
        case 1:
        case 2: {
          const rule = pick(['forbidden', 'not-found', 'forever']);
          const n = Math.floor(r() * 6);
          const lines = Array.from({ length: n }, (_, i) => ({ line: `${ip} "GET /${step}/${i}" 403 ${'x'.repeat(Math.floor(r() * 300))}`, at: now - i }));
          // Log time: an offense may be dated before or after the book's last line.
          const at = logTime ? now + Math.floor((r() - 0.5) * 20 * M) : now;
          trace.push(`consider ${ip} ${rule} ${scope ?? ''} at ${at}`);
          book.consider({ ip, family: ip.includes(':') ? 6 : 4, rule, at, failures: 5, ...(scope !== undefined ? { scope } : {}) }, logTime ? at : now, undefined, { lines, omitted: 0 });
          break;
        }
        case 3:
        case 4: {
          const target = r() < 0.4 ? pick(NETWORKS) : ip;
          const rule = pick(['manual', 'forbidden', 'not-found']);
          const durationMs = pick([null, 'rule', 5 * M, 30 * M, 1] as const);
          const sc = isNetwork(target) ? undefined : scope;
          trace.push(`banManually ${target} ${rule} ${String(durationMs)} ${sc ?? ''}`);
          book.banManually(target, { rule, durationMs, now, ...(sc !== undefined ? { scope: sc } : {}) });
          break;
        }
        case 5:
        case 6: {
          const target = r() < 0.3 ? pick(NETWORKS) : ip;
          const sc = isNetwork(target) ? undefined : scope;
          const until = pick([null, now + 3 * M, now + 40 * M, now - 1, now + 15 * M]);
          const rule = pick(['forbidden', 'never-configured', 'manual', 'forever']);
          trace.push(`adopt ${target} ${rule} ${String(until)} ${sc ?? ''}`);
          book.adopt({ ip: target, rule, at: now - M, until, origin: 'replica-2', nth: 1 + Math.floor(r() * 3), ...(sc !== undefined ? { scope: sc } : {}) }, now);
          break;
        }
        case 7:
        case 8: {
          const target = r() < 0.3 ? pick(NETWORKS) : ip;
          const rule = r() < 0.5 ? undefined : pick(ALL_RULES);
          const sc = pick([undefined, null, C1, C2] as const);
          trace.push(`unban ${target} ${rule ?? '*'} ${sc === undefined ? 'every scope' : sc === null ? 'host-wide' : sc}`);
          const before = book.active().filter((b) => b.ip === canonicalTarget(target)!.ip && (rule === undefined || b.rule === rule) && (sc === undefined || (b.scope ?? null) === sc));
          const removed = book.unban(target, rule, sc, cause());
          expect(removed.map(norm).sort(), trace.slice(-1)[0]).toEqual(before.map(norm).sort());
          break;
        }
        case 9:
          trace.push('expire');
          for (const b of book.expire(now)) expect(b.until !== null && b.until <= now).toBe(true);
          break;
        case 10: {
          // Sometimes exactly to a ban's end: at its expiry a ban no longer holds.
          const ends = book.active(now).flatMap((b) => (b.until === null ? [] : [b.until]));
          now = ends.length > 0 && r() < 0.4 ? pick(ends) : now + Math.floor(r() * 12 * M);
          trace.push(`now ${now}`);
          break;
        }
        case 11: {
          if (r() < 0.15) {
            trace.push('unbanAll');
            book.unbanAll(cause());
          } else {
            // A reload that allowlists one address (or a network covering it), then one that does not.
            const allow = pick([ip, '198.18.1.0/28', '2001:db8:1::/64']);
            trace.push(`reload allowlisting ${allow}`);
            const lifted = book.reconfigure(RULES, new Allowlist([allow]), now);
            for (const b of lifted) expect(isNetwork(b.ip) || new Allowlist([allow]).has(b.ip)).toBe(true);
            checkAnswers(book, now, logTime);
            book.reconfigure(RULES, new Allowlist([]), now);
          }
          break;
        }
        case 12: {
          // Restart: the snapshot, as the state file holds it, read back by a fresh book.
          trace.push('restart');
          const snap = JSON.parse(JSON.stringify(book.snapshot())) as { bans: unknown[] };
          // In any order (a file written by hand or by another version).
          if (r() < 0.5) snap.bans.sort(() => r() - 0.5);
          const next = new BanBook(RULES, new Allowlist([]), 1000, limits);
          next.restore(snap as never, now, { networks: true, scopes: true });
          const strip = (b: Ban): string => norm(b);
          expect(next.active(now).map(strip).sort(), 'bans after a restart').toEqual(book.active(now).map(strip).sort());
          expect(kernelOf(next.expected(now)), 'kernel view after a restart').toEqual(kernelOf(book.expected(now)));
          expect(JSON.stringify(next.snapshot().history), 'history after a restart').toBe(JSON.stringify(book.snapshot().history));
          book = next;
          // The enforcer starts from empty sets.
          kernel = new Kernel();
          break;
        }
        case 13: {
          // A batch the enforcer refused: given back, sent again by the next changes().
          trace.push('failed batch');
          const d = book.changes(now);
          kernel.failed(d);
          book.requeue(d);
          break;
        }
        case 14: {
          // The enforcer lost its sets: everything is sent again.
          trace.push('touchAll');
          kernel.failed({ ban: book.active().map((b) => ({ ip: b.ip, family: b.family, until: b.until, ...(b.scope !== undefined ? { scope: b.scope } : {}) })), unban: [] });
          book.touchAll();
          break;
        }
        default: {
          // Several operations before the enforcer hears of them.
          trace.push('(no diff this step)');
          checkIndexes(book);
          checkAnswers(book, now, logTime);
          continue;
        }
      }
    } catch (e) {
      // The book refuses some of these (overlapping networks, allowlisted): refusing must leave it unchanged.
      if (!(e instanceof Error) || !('code' in e)) throw e;
    }
    const ctx = `seed ${seed} step ${step}: ${trace.slice(-6).join(' | ')}`;
    try {
      checkIndexes(book);
      checkAnswers(book, now, logTime);
      kernel.apply(book.changes(now), now);
      expect(kernel.dropping(now), 'the enforcer holds expected()').toEqual(kernelOf(book.expected(now)));
      expect(book.hasChanges).toBe(false);
    } catch (e) {
      (e as Error).message = `${ctx}\n${(e as Error).message}`;
      throw e;
    }
  }
}

describe('the ban book against a model (seeded random operations)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: live`, () => run(seed, 400, false));
  }
  for (const seed of [11, 12, 13]) {
    it(`seed ${seed}: log time (replay)`, () => run(seed, 400, true));
  }
});

describe('a hostile state file read back', () => {
  it('duplicates, other spellings of one address, many rules and scopes: the indexes agree with the bans, the enforcer holds expected()', () => {
    const now = 1_000_000;
    const ban = (ip: string, rule: string, until: number | null, extra: object = {}): object => ({ ip, family: ip.includes(':') ? 6 : 4, rule, at: 0, until, failures: 5, nth: 1, manual: false, ...extra });
    const lines = [{ line: 'x'.repeat(900), at: 1 }];
    const saved = [
      ban('198.18.0.1', 'forbidden', now + 5 * M, { evidence: lines }),
      ban('198.18.0.1/32', 'forbidden', now + 2 * M),
      ban('2001:DB8::1', 'not-found', now + 3 * M, { evidence: lines }),
      ban('2001:db8:0::1', 'not-found', now + 9 * M),
      ban('2001:db8::1', 'no-such-rule', null, { scope: C1 }),
      ban('198.18.0.1', 'forbidden', now - 1, { scope: C1, evidence: lines }),
      ...Array.from({ length: 50 }, (_, i) => ban('198.18.0.2', `rule-${i}`, now + i * M, { evidence: lines, ...(i % 3 === 0 ? { scope: C2 } : {}) })),
      ban('198.18.1.0/24', 'manual', null),
      ban('198.18.1.0/24', 'forbidden', now + M),
      ban('198.18.1.0/25', 'manual', null),
    ];
    const book = new BanBook(RULES, new Allowlist([]), 1000, { evidenceBytes: 20_000, endedBans: 10 });
    book.restore({ bans: saved, history: [] } as never, now, { networks: true, scopes: true });
    checkIndexes(book);
    checkAnswers(book, now, false);
    const kernel = new Kernel();
    kernel.apply(book.changes(now), now);
    expect(kernel.dropping(now)).toEqual(kernelOf(book.expected(now)));
    // Of two entries of one key, the one read last is held (and only one is): a `/32` spelling is
    // read with the networks, before every address.
    expect(book.active(now).filter((b) => b.ip === '198.18.0.1' && b.scope === undefined)).toHaveLength(1);
    expect(book.effectiveUntil('198.18.0.1', now)).toBe(now + 5 * M);
    expect(book.effectiveUntil('2001:db8::1', now)).toBe(now + 9 * M);
    expect(book.isBanned('2001:db8::1', 'no-such-rule', now, C1)).toBe(true);
    // Every ban's end, one at a time, reaches the enforcer once.
    for (let t = now; t <= now + 60 * M; t += M) {
      book.expire(t);
      checkIndexes(book);
      checkAnswers(book, t, false);
      kernel.apply(book.changes(t), t);
      expect(kernel.dropping(t)).toEqual(kernelOf(book.expected(t)));
    }
    for (const ip of ['198.18.0.2', '198.18.1.0/24', '2001:db8::1']) book.unban(ip, undefined, undefined, { at: now, by: 'control' });
    checkIndexes(book);
    kernel.apply(book.changes(now + 61 * M), now + 61 * M);
    expect(kernel.dropping(now + 61 * M)).toEqual(kernelOf(book.expected(now + 61 * M)));
    expect(book.active()).toEqual([]);
  });
});
