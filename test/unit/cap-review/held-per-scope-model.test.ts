/**
 * Review H27: the ban book's per-container count (heldPerScope, the host-mode quarter of
 * BANHAMMER_MAX_BANS) against the truth, after random sequences of every operation that adds,
 * replaces or removes bans: detected (consider), manual, adopted (replacing a held ban or not),
 * escalated, restored over existing keys, unbanned (one scope, host-wide only, every scope, one
 * rule), unbanAll, expire, reconfigure (allowlisting), the evidence budget rewriting bans, and a cap
 * lowered and raised. The truth is counted from snapshot(). A drift would let one container exceed
 * its quarter (count too low) or starve it for good (count too high); the model also checks that
 * every refusal at the cap was owed (the truth was full) and every detected ban was allowed.
 */
import { describe, expect, it } from 'vitest';
import { BanBook, type Ban, type BanBookSnapshot } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { rng } from '../../support/random.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const SCOPES = [undefined, 'a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)] as const;
const RULES = ['forbidden', 'exploit-probes', 'not-found'] as const;
// A small pool, so that keys collide often (replacement, re-bans, unbans of held bans).
const IPS = [...Array.from({ length: 12 }, (_, i) => `198.18.0.${i + 1}`), ...Array.from({ length: 6 }, (_, i) => `2001:db8:1:2::${(i + 1).toString(16)}`)];


const perScopeOf = (book: BanBook): Map<string, number> => (book as unknown as { heldPerScope: Map<string, number> }).heldPerScope;
const maxOf = (book: BanBook): number => (book as unknown as { maxBans: number }).maxBans;

function truth(book: BanBook, inForceAt?: number): { total: number; perScope: Map<string, number> } {
  const bans = book.snapshot().bans.filter((b) => inForceAt === undefined || b.until === null || b.until > inForceAt);
  const perScope = new Map<string, number>();
  for (const b of bans) if (b.scope !== undefined) perScope.set(b.scope, (perScope.get(b.scope) ?? 0) + 1);
  return { total: bans.length, perScope };
}

const sorted = (m: Map<string, number>): [string, number][] => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

/** Cuts for a container's share seen over all runs (the model must reach them). */
let cutsSeen = 0;

function run(seed: number, steps: number, logTime: boolean): void {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  let cap = 8 + Math.floor(r() * 12);
  // A tiny evidence budget: trimEvidence rewrites held bans (setBan over an existing key) all along.
  const book = new BanBook({ ...PRESETS }, new Allowlist([]), 50, { maxBans: cap, evidenceBytes: 400, endedBans: 20, logTime });
  let now = T0;
  const other = new BanBook({ ...PRESETS }, new Allowlist([]), 50, { maxBans: 1000 });
  const log: string[] = [];
  for (let step = 0; step < steps; step++) {
    now += Math.floor(r() * 20 * 60_000);
    const op = Math.floor(r() * 14);
    const ip = pick(IPS);
    const scope = pick(SCOPES);
    const rule = pick(RULES);
    const before = truth(book);
    const inForce = truth(book, now);
    log.push(`${op} ${ip} ${scope?.[0] ?? '-'} ${rule} @${now - T0}`);
    switch (op) {
      case 0:
      case 1:
      case 2: {
        const alreadyHeld = book.snapshot().bans.some((b) => b.ip === ip && b.rule === rule && b.scope === scope);
        const refusedBefore = book.refusedAtCap;
        const cutBefore = book.cutForShareTotal;
        const ban = book.consider({ ip, family: ip.includes(':') ? 6 : 4, rule, at: now, failures: 3, ...(scope !== undefined ? { scope } : {}) }, now, undefined, {
          lines: [{ line: `GET /x${step} ${'y'.repeat(Math.floor(r() * 120))}`, at: now }],
        });
        const quarter = Math.max(1, Math.floor(maxOf(book) / 4));
        const fullOf = (t: { total: number; perScope: Map<string, number> }) => t.total >= maxOf(book) || (scope !== undefined && (t.perScope.get(scope) ?? 0) >= quarter);
        const cut = book.takeCut();
        expect(cut.length).toBe(book.cutForShareTotal - cutBefore);
        cutsSeen += cut.length;
        if (cut.length > 0) {
          // A cut (host mode, the book full): at most one, for a detected ban of a container under its
          // share, of a non-manual ban of the container holding the most, which held more than its share.
          expect(cut.length, log.join('\n')).toBe(1);
          expect(ban, log.join('\n')).not.toBeNull();
          expect(scope, log.join('\n')).toBeDefined();
          const c = cut[0]!;
          expect(c.manual, log.join('\n')).toBe(false);
          // What the book held at the cut (after any sweep of ended bans): now, less the new ban, plus the cut one.
          const after = truth(book);
          const heldBefore = new Map(after.perScope);
          heldBefore.set(scope!, (heldBefore.get(scope!) ?? 0) - 1);
          if (heldBefore.get(scope!) === 0) heldBefore.delete(scope!);
          heldBefore.set(c.scope!, (heldBefore.get(c.scope!) ?? 0) + 1);
          const containers = heldBefore.size + (heldBefore.has(scope!) ? 0 : 1);
          const share = Math.floor(maxOf(book) / containers);
          expect(heldBefore.get(scope!) ?? 0, log.join('\n')).toBeLessThan(share);
          expect(c.scope, log.join('\n')).not.toBe(scope);
          expect(heldBefore.get(c.scope!)!, log.join('\n')).toBe(Math.max(...heldBefore.values()));
          expect(heldBefore.get(c.scope!)!, log.join('\n')).toBeGreaterThan(share);
          expect(after.total, log.join('\n')).toBeGreaterThanOrEqual(maxOf(book));
        }
        // A new ban: there was room among the bans in force (log time sweeps ended ones first), or a
        // ban of another container was cut for it.
        if (ban !== null && !alreadyHeld && cut.length === 0) expect(fullOf(inForce), `a new ban past the cap: ${log.join('\n')}`).toBe(false);
        // A refusal: the book (or the container) was full, counting what it held.
        if (book.refusedAtCap > refusedBefore) expect(fullOf(before), `refused without being full: ${log.join('\n')}`).toBe(true);
        break;
      }
      case 3:
        try {
          book.banManually(ip, { durationMs: r() < 0.5 ? null : 30 * 60_000, now, ...(scope !== undefined ? { scope } : {}), ...(r() < 0.5 ? { rule } : {}) });
        } catch {
          // allowlisted now: refused, nothing changes
        }
        break;
      case 4:
        book.adopt({ ip, rule, at: now, until: r() < 0.2 ? null : now + Math.floor(r() * 3) * 3600_000 + 60_000, origin: 'replica-2', ...(scope !== undefined ? { scope } : {}), nth: 2 }, now);
        break;
      case 5: {
        // Restore over keys held already: another book's bans (some the same keys), and our own snapshot.
        for (let i = 0; i < 4; i++) {
          const s = pick(SCOPES);
          other.consider({ ip: pick(IPS), family: 4, rule: pick(RULES), at: now, failures: 3, ...(s !== undefined ? { scope: s } : {}) }, now);
        }
        const snap: BanBookSnapshot = r() < 0.5 ? other.snapshot() : book.snapshot();
        book.restore(JSON.parse(JSON.stringify(snap)) as BanBookSnapshot, now, { scopes: r() < 0.8 });
        break;
      }
      case 6:
        book.unban(ip, r() < 0.3 ? rule : undefined, r() < 0.5 ? scope : r() < 0.5 ? null : undefined, { at: now, by: 'control' });
        break;
      case 7:
        if (r() < 0.15) book.unbanAll({ at: now, by: 'control-all' });
        break;
      case 8:
      case 9:
        book.expire(now);
        break;
      case 10: {
        const allow = IPS.filter(() => r() < 0.15);
        book.reconfigure({ ...PRESETS }, new Allowlist(allow), now);
        break;
      }
      case 11:
        cap = 4 + Math.floor(r() * 16);
        book.setMaxBans(cap);
        break;
      case 12: {
        // Escalation of a held IPv6 host-wide ban's /64.
        const v6 = book.snapshot().bans.find((b: Ban) => b.family === 6 && b.scope === undefined && !b.manual && !b.ip.includes('/'));
        if (v6 !== undefined) book.escalate('2001:db8:1:2::/64', v6, [{ ip: v6.ip, at: v6.at }], now);
        break;
      }
      case 13:
        book.changes(now);
        break;
    }
    const t = truth(book);
    expect(sorted(perScopeOf(book)), `seed ${seed} step ${step}:\n${log.slice(-12).join('\n')}`).toEqual(sorted(t.perScope));
    // hasRoom (what the group link asks before adopting a ban refused at the cap) agrees with the truth.
    const q = Math.max(1, Math.floor(maxOf(book) / 4));
    for (const s of SCOPES) expect(book.hasRoom(s)).toBe(t.total < maxOf(book) && (s === undefined || (t.perScope.get(s) ?? 0) < q));
  }
}

describe('BanBook heldPerScope against the truth (model-based)', () => {
  it('stays equal to the bans per container over random operation sequences (200 seeds × 300 steps, live and log time)', () => {
    const t = Date.now();
    for (let seed = 1; seed <= 200; seed++) run(seed, 300, seed % 2 === 0);
    expect(Date.now() - t).toBeLessThan(60_000);
    expect(cutsSeen).toBeGreaterThan(20);
  }, 60_000);
});
