/**
 * isBanned() answers from a per-address count of bans before it builds a rule's key (the detector
 * asks per request and per counting rule). This model test drives a book through random bans,
 * unbans, expiries, adoptions, reloads and restores, and after every step compares isBanned() for
 * every (address, rule, scope) with what active() holds.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { rng } from '../../support/random.js';

const M = 60_000;
const IPS = ['198.18.0.1', '198.18.0.2', '198.19.7.9', '2001:db8::1', '2001:db8::2'];
const NETS = ['198.18.0.0/24', '2001:db8::/64'];
const RULES = ['forbidden', 'not-found', 'request-flood', 'manual'];
const SCOPES = [undefined, 'c0ffee000001', 'c0ffee000002'];

describe('BanBook.isBanned against active()', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`agrees after every step of a random history (seed ${seed})`, () => {
      const r = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      const rules = { ...PRESETS };
      let book = new BanBook(rules, new Allowlist());
      let now = 0;
      for (let step = 0; step < 400; step++) {
        now += Math.floor(r() * 20 * M);
        const ip = pick(IPS);
        const scope = pick(SCOPES);
        const op = Math.floor(r() * 9);
        if (op <= 2) {
          book.consider({ ip, family: ip.includes(':') ? 6 : 4, rule: pick(RULES.slice(0, 3)), at: now, failures: 5, ...(scope !== undefined ? { scope } : {}) }, now);
        } else if (op === 3) {
          try {
            book.banManually(r() < 0.2 ? pick(NETS) : ip, { rule: r() < 0.5 ? 'manual' : 'forbidden', durationMs: r() < 0.3 ? null : Math.floor(r() * 90 * M), now, ...(scope !== undefined ? { scope } : {}) });
          } catch {
            // refused (an allowlisted or non-client target): nothing changes
          }
        } else if (op === 4) {
          book.unban(r() < 0.2 ? pick(NETS) : ip, r() < 0.5 ? undefined : pick(RULES), r() < 0.5 ? undefined : (scope ?? null));
        } else if (op === 5) {
          book.expire(now);
        } else if (op === 6) {
          book.adopt({ ip, rule: pick(RULES), at: now, until: r() < 0.2 ? null : now + Math.floor(r() * 60 * M), origin: 'replica-b', ...(scope !== undefined ? { scope } : {}) }, now);
        } else if (op === 7) {
          // A reload that allowlists one address (its bans go), or none.
          book.reconfigure(rules, new Allowlist(r() < 0.3 ? [ip] : []), now);
        } else {
          // A restart: the state file into a fresh book.
          const fresh = new BanBook(rules, new Allowlist());
          fresh.restore(JSON.parse(JSON.stringify(book.snapshot())) as ReturnType<BanBook['snapshot']>, now);
          book = fresh;
        }
        if (r() < 0.1) book.unbanAll();
        const held = book.active(now);
        for (const a of [...IPS, ...NETS]) {
          for (const rule of RULES) {
            for (const s of SCOPES) {
              const want = held.some((b) => b.ip === a && b.rule === rule && b.scope === s);
              expect(book.isBanned(a, rule, now, s), `seed ${seed} step ${step}: ${a} ${rule} ${s ?? '(host)'}`).toBe(want);
            }
          }
        }
      }
    });
  }

  it('agrees after a hostile state file: duplicated, respelled, foreign and malformed entries', () => {
    const rules = { ...PRESETS };
    const now = 10 * M;
    const src = new BanBook(rules, new Allowlist());
    src.consider({ ip: '198.18.0.1', family: 4, rule: 'forbidden', at: now, failures: 5 }, now);
    src.consider({ ip: '2001:db8::1', family: 6, rule: 'not-found', at: now, failures: 5, scope: 'c0ffee000001' }, now);
    const snap = JSON.parse(JSON.stringify(src.snapshot())) as { bans: Record<string, unknown>[]; history: unknown[] };
    const [v4, v6] = snap.bans as [Record<string, unknown>, Record<string, unknown>];
    snap.bans.push(
      { ...v4 }, // the same ban twice: one entry, and lifting it once must leave nothing behind
      { ...v6, ip: '2001:0db8:0:0:0:0:0:1' }, // another spelling of a held address
      { ...v4, ip: '198.018.0.1' }, // not an address
      { ...v4, ip: '198.18.0.2', rule: 'no-such-rule' }, // a rule this agent does not run
      { ...v4, ip: '198.18.0.3', until: 'soon' }, // a malformed expiry
      { ...v4, ip: '127.0.0.1' }, // never a client here
    );
    const book = new BanBook(rules, new Allowlist());
    book.restore(snap as unknown as ReturnType<BanBook['snapshot']>, now);
    const check = (label: string): void => {
      const held = book.active(now);
      for (const a of [...IPS, '198.18.0.3', '127.0.0.1', '2001:0db8:0:0:0:0:0:1']) {
        for (const rule of [...RULES, 'no-such-rule']) {
          for (const s of SCOPES) {
            const want = held.some((b) => b.ip === a && b.rule === rule && b.scope === s);
            expect(book.isBanned(a, rule, now, s), `${label}: ${a} ${rule} ${s ?? '(host)'}`).toBe(want);
          }
        }
      }
    };
    check('restored');
    expect(book.isBanned('198.18.0.1', 'forbidden', now)).toBe(true);
    expect(book.isBanned('2001:db8::1', 'not-found', now, 'c0ffee000001')).toBe(true);
    book.unban('198.18.0.1', 'forbidden');
    check('after the unban');
    expect(book.isBanned('198.18.0.1', 'forbidden', now)).toBe(false);
    // Banned again after the duplicate's removal: the count starts from nothing, not from a stale one.
    book.consider({ ip: '198.18.0.1', family: 4, rule: 'forbidden', at: now + 1, failures: 5 }, now + 1);
    expect(book.isBanned('198.18.0.1', 'forbidden', now + 1)).toBe(true);
    book.unban('198.18.0.1');
    expect(book.isBanned('198.18.0.1', 'forbidden', now + 1)).toBe(false);
  });
});
