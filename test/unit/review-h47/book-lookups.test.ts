/**
 * Review H47: `banhammer why ADDRESS` and a reload went over every ban held, parsing each network ban:
 * with 100,000 IPv6 /64 bans held (a state file, the group's values, or escalation storms), each
 * `why` blocked the agent's event loop for 0.2 s and each reload for 0.7–0.8 s. Now `why` reads the
 * address's own keys and the network index; a reload reads no ban when its allowlist adds no entry,
 * and finds the network bans an added entry covers in the index (Allowlist.overlapping, a parse per
 * network ban, is no longer asked per ban).
 *
 * Counted, not timed: the entries read from the book's own list of bans, and the allowlist's
 * overlapping() calls; and each answer compared with a plain scan of the book.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BanBook, type Ban } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { canonicalTarget, cidrOverlaps, isNetwork } from '../../../src/parse/ip.js';
import { rng } from '../../support/random.js';
import { countWalks } from '../../support/ban-walks.js';
import { cpuNow } from '../../support/cpu-time.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const H = 3600_000;

const cidrOf = (ip: string) => {
  const t = canonicalTarget(ip)!;
  return { network: t.ip.split('/')[0]!, prefix: t.prefix, family: t.family };
};

/**
 * A book of `n` IPv6 /64 network bans (2001:db8:i::/64 … some ended already) plus, seeded, addresses
 * (host-wide and for containers, under two rules) and wider and narrower networks of both families.
 */
function book(n: number, seed: number): { book: BanBook; probes: string[] } {
  const r = rng(seed);
  const bans: object[] = [];
  for (let i = 0; i < n; i++) bans.push({ ip: `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`, family: 6, rule: 'forbidden', at: T0 - 1000, until: i % 5 === 0 ? T0 + 10 : T0 + H, failures: 5, nth: 1, manual: false });
  const probes: string[] = [];
  for (let i = 0; i < 150; i++) {
    const v4 = `198.18.${Math.floor(r() * 4)}.${Math.floor(r() * 256)}`;
    const v6 = `2001:db8:${Math.floor(r() * 3).toString(16)}:${Math.floor(r() * 3).toString(16)}::${Math.floor(r() * 16).toString(16)}`;
    const ip = r() < 0.5 ? v4 : v6;
    probes.push(ip);
    const scope = r() < 0.4 ? `c${Math.floor(r() * 5)}` : undefined;
    bans.push({ ip, family: ip.includes(':') ? 6 : 4, rule: r() < 0.5 ? 'forbidden' : 'manual', at: T0 - 1000, until: r() < 0.2 ? T0 + 10 : T0 + H, failures: 5, nth: 1, manual: false, ...(scope !== undefined ? { scope } : {}) });
  }
  // IPv4 networks of several widths (overlapping ones are refused at restore, as banManually would).
  for (let i = 0; i < 40; i++) {
    const p = 26 + Math.floor(r() * 6);
    const net = canonicalTarget(`198.18.${Math.floor(r() * 4)}.${Math.floor(r() * 256)}/${p}`)!.ip;
    bans.push({ ip: net, family: 4, rule: 'manual', at: T0 - 1000, until: r() < 0.2 ? T0 + 10 : null, failures: 0, nth: 1, manual: true });
  }
  const b = new BanBook({ ...PRESETS }, new Allowlist([]), 100_000, { maxBans: n + 10_000 });
  b.restore({ bans, history: [] } as never, T0, { scopes: true });
  b.expire(T0 + 10); // the ended ones into the history of ended bans
  for (let i = 0; i < 30; i++) probes.push(`2001:db8:0:${Math.floor(r() * (n & 0xffff)).toString(16)}::${Math.floor(r() * 99)}`, canonicalTarget(`198.18.${Math.floor(r() * 4)}.0/${22 + Math.floor(r() * 10)}`)!.ip);
  return { book: b, probes };
}

/**
 * about() as a plain scan of every ban (its answer before the index), each ban's network read once:
 * the target's own bans and those of every wider network holding it (an address's, or, since review
 * H51, a network's: a /24 inside a banned /16 is dropped whole).
 */
function scanner(b: BanBook, now: number): (target: string) => { active: Ban[]; ended: Ban[] } {
  const withCidr = (x: Ban) => ({ ban: x, cidr: isNetwork(x.ip) ? cidrOf(x.ip) : null });
  const active = b.active(now).map(withCidr);
  const ended = b.endedBans().map(withCidr);
  return (target) => {
    const t = canonicalTarget(target)!;
    const c = cidrOf(t.ip);
    const concerns = (x: { ban: Ban; cidr: ReturnType<typeof cidrOf> | null }): boolean =>
      x.ban.ip === t.ip || (x.cidr !== null && x.ban.family === t.family && x.cidr.prefix < c.prefix && cidrOverlaps(c, x.cidr));
    return { active: active.filter(concerns).map((x) => x.ban), ended: ended.filter(concerns).map((x) => x.ban).reverse() };
  };
}

const sortKey = (x: Ban): string => `${x.rule} ${x.ip} ${x.scope ?? ''}`;

afterEach(() => vi.restoreAllMocks());

describe('why and reload with many network bans held (review H47)', () => {
  it('why of an address or a network reads no ban from the book’s list, and answers as a scan does', () => {
    const { book: b, probes } = book(3000, 47);
    const now = T0 + 20;
    const scan = scanner(b, now);
    const expected = probes.map(scan);
    const walks = countWalks(b);
    const got = probes.map((p) => b.about(canonicalTarget(p)!, now));
    expect(walks.read).toBe(0);
    for (let i = 0; i < probes.length; i++) {
      expect(got[i]!.active.map(sortKey).sort(), probes[i]).toEqual(expected[i]!.active.map(sortKey).sort());
      expect(got[i]!.ended, probes[i]).toEqual(expected[i]!.ended);
    }
    // Some answers hold a network ban of each family, and some ended ones.
    expect(got.some((a) => a.active.some((x) => x.family === 6 && isNetwork(x.ip)))).toBe(true);
    expect(got.some((a) => a.active.some((x) => x.family === 4 && isNetwork(x.ip)))).toBe(true);
    expect(got.some((a) => a.ended.some((x) => isNetwork(x.ip)))).toBe(true);
  });

  it('a reload adding no allowlist entry reads no ban; one adding entries asks the allowlist about no network ban, and lifts what a scan lifts', () => {
    const seedBook = () => book(3000, 4747).book;
    const now = T0 + 20;
    const allow = ['198.18.1.0/24', '2001:db8:0:2a::/64', '2001:db8:1::/48', '2001:db8:0:1::7'];

    const a = seedBook();
    a.reconfigure({ ...PRESETS }, new Allowlist(allow), now);
    const walks = countWalks(a);
    expect(a.reconfigure({ ...PRESETS }, new Allowlist([...allow].reverse()), now)).toEqual([]);
    expect(walks.read).toBe(0);

    const b = seedBook();
    const list = new Allowlist(allow);
    const scan = b.active().filter((x) => (isNetwork(x.ip) ? list.overlapping(x.ip) !== null : list.has(x.ip)));
    expect(scan.some((x) => isNetwork(x.ip) && x.family === 4)).toBe(true);
    expect(scan.some((x) => isNetwork(x.ip) && x.family === 6)).toBe(true);
    const asked = vi.spyOn(Allowlist.prototype, 'overlapping');
    const lifted = b.reconfigure({ ...PRESETS }, list, now);
    expect(asked.mock.calls.length).toBeLessThan(100);
    expect(lifted.map(sortKey).sort()).toEqual(scan.map(sortKey).sort());
    expect(b.active().filter((x) => (isNetwork(x.ip) ? list.overlapping(x.ip) !== null : list.has(x.ip)))).toEqual([]);
  });

  it('why of an address with 50,000 ended network bans costs about what it costs with as many ended address bans', () => {
    // The history of ended bans holds up to BANHAMMER_BAN_HISTORY = 100,000: each `why` parsed every
    // ended network there (0.25–0.5 s with 100,000 ended IPv6 /64s); now it compares texts.
    const n = 50_000;
    const endedBook = (net: boolean): BanBook => {
      const b = new BanBook({ ...PRESETS }, new Allowlist([]), 1000, { endedBans: n, maxBans: 1000 });
      const ended = Array.from({ length: n }, (_, i) => ({
        ip: net ? `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64` : `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`,
        family: 6, rule: 'forbidden', at: T0 - 2000, until: T0 - 1000, failures: 5, nth: 1, manual: false, ended: { reason: 'expired', at: T0 - 1000 },
      }));
      b.restore({ bans: [], history: [], ended } as never, T0);
      expect(b.endedBans()).toHaveLength(n);
      return b;
    };
    const nets = endedBook(true);
    const addrs = endedBook(false);
    const target = canonicalTarget('2001:db8:0:7::1')!;
    // The answers: the /64 holding it, or the address itself.
    expect(nets.about(target, T0).ended.map((e) => e.ip)).toEqual(['2001:db8:0:7::/64']);
    expect(addrs.about(target, T0).ended.map((e) => e.ip)).toEqual(['2001:db8:0:7::1']);
    const cost = (b: BanBook): number => {
      // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
      const t0 = cpuNow();
      for (let i = 0; i < 3; i++) b.about(target, T0);
      return cpuNow() - t0;
    };
    let withNets = Infinity;
    let withAddrs = Infinity;
    for (let r = 0; r < 3; r++) {
      withAddrs = Math.min(withAddrs, cost(addrs));
      withNets = Math.min(withNets, cost(nets));
    }
    // About the same now (1.1–1.4x here); a parse per ended network made it 4.7–8.4 times the cost.
    expect(withNets).toBeLessThan(2 * withAddrs + 20);
  });
});
