/**
 * Review H49: a reload now checks the bans held only against the allowlist entries it adds (review
 * H47), on the invariant "no ban held is covered by the allowlist in force". Seeded sequences of
 * every way a ban comes in (detected, for a container or host-wide; `banhammer ban` of an address or
 * a network; adopted from the group, address or network, with an own ban kept under it and brought
 * back by the group's unban; a restart from the state file) mixed with reloads that add, remove and
 * add back entries (IPv4, IPv6, IPv4-mapped spellings, networks and addresses, the same Allowlist
 * object given again), and after every step the book is compared with a plain scan: no ban held is
 * allowlisted, and each reload lifted exactly what a scan of every ban lifts.
 */
import { describe, expect, it } from 'vitest';
import { BanBook, type Ban } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { isNetwork } from '../../../src/parse/ip.js';
import { rng } from '../../support/random.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const H = 3600_000;
const RULES = { ...PRESETS };

/** Candidate allowlist entries (as an operator may write them). */
const ENTRIES = ['198.18.1.0/24', '198.18.2.7', '::ffff:198.18.3.0/120', '::ffff:198.18.0.9', '198.18.0.0/22', '2001:db8:1::/48', '2001:db8:2:3::/64', '2001:db8:0:0:0:0:0:5', '2001:DB8:3::7', '198.18.4.0/23'];

const covered = (list: Allowlist, b: Ban): boolean => (isNetwork(b.ip) ? list.overlapping(b.ip) !== null : list.has(b.ip));
const keyOf = (b: Ban): string => `${b.rule} ${b.ip} ${b.scope ?? ''}`;

function run(seed: number): { lifted: number; steps: number } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const v4 = (): string => `198.18.${Math.floor(r() * 6)}.${Math.floor(r() * 16)}`;
  const v6 = (): string => `2001:db8:${Math.floor(r() * 4).toString(16)}:${Math.floor(r() * 4).toString(16)}::${Math.floor(r() * 8).toString(16)}`;
  const addr = (): string => (r() < 0.5 ? v4() : v6());
  const net = (): string => (r() < 0.5 ? `198.18.${Math.floor(r() * 6)}.${16 * Math.floor(r() * 4)}/28` : `2001:db8:${Math.floor(r() * 4).toString(16)}:${Math.floor(r() * 4).toString(16)}::/${pick([64, 96, 120])}`);
  let entries = ENTRIES.filter(() => r() < 0.3);
  let list = new Allowlist(entries);
  let book = new BanBook(RULES, list, 10_000, { maxBans: 10_000 });
  let now = T0;
  let lifted = 0;
  for (let step = 0; step < 400; step++) {
    now += 1000;
    const x = r();
    try {
      if (x < 0.25) {
        const ip = addr();
        book.consider({ ip, family: ip.includes(':') ? 6 : 4, rule: 'forbidden', at: now, failures: 5, ...(r() < 0.3 ? { scope: pick(['c1', 'c2']) } : {}) }, now);
      } else if (x < 0.4) {
        book.banManually(r() < 0.5 ? net() : addr(), { durationMs: r() < 0.5 ? null : H, now });
      } else if (x < 0.55) {
        const ip = r() < 0.7 ? addr() : net();
        book.adopt({ ip, rule: pick(['forbidden', 'manual']), at: now - Math.floor(r() * 5000), until: now + H, origin: 'replica-2' }, now);
      } else if (x < 0.6) {
        const held = book.active().filter((b) => b.from !== undefined);
        if (held.length > 0) {
          const b = pick(held);
          book.liftAdopted(b.ip, b.scope, now, now, { at: now, by: 'group:replica-2' });
        }
      } else if (x < 0.63) {
        // A restart on the state file, under the allowlist in force.
        const next = new BanBook(RULES, list, 10_000, { maxBans: 10_000 });
        next.restore(JSON.parse(JSON.stringify(book.snapshot())) as never, now, { scopes: true });
        book = next;
      } else {
        // A reload: entries added, removed, or added back; sometimes the same object again.
        if (r() < 0.15) {
          const again = book.reconfigure(RULES, list, now);
          expect(again, `seed ${seed} step ${step}: same allowlist`).toEqual([]);
        } else {
          const before = book.active();
          entries = r() < 0.5 ? [...new Set([...entries, pick(ENTRIES)])] : entries.filter(() => r() < 0.7);
          list = new Allowlist(entries);
          const want = before.filter((b) => covered(list, b)).map(keyOf).sort();
          const got = book.reconfigure(RULES, list, now).map(keyOf).sort();
          expect(got, `seed ${seed} step ${step}: lifted by [${entries.join(' ')}]`).toEqual(want);
          lifted += got.length;
        }
      }
    } catch (err) {
      // banManually refuses what it may not ban (allowlisted, overlapping): a refusal, not a ban.
      if (!(err instanceof Error) || !('code' in err)) throw err;
    }
    const wrong = book.active().filter((b) => covered(list, b));
    expect(wrong.map(keyOf), `seed ${seed} step ${step}: held while allowlisted`).toEqual([]);
  }
  return { lifted, steps: 400 };
}

describe('no ban is held while the allowlist in force covers it (review H49)', () => {
  it('seeds 1–15: every way in, reloads adding, removing and adding back entries', () => {
    let lifted = 0;
    for (let seed = 1; seed <= 15; seed++) lifted += run(seed).lifted;
    // Reloads did lift bans (the comparison is not empty).
    expect(lifted).toBeGreaterThan(15);
  });
});
