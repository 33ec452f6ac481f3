/**
 * Hostile review H45 of 3b79846: BanBook.banManually's keepLonger (sharing: a manual ban never
 * shortens a ban in force) and the kept-under path for adopted bans, on the paths the commit's tests
 * did not take: a network (CIDR) ban, a container's ban (host mode), `--for permanent` over finite
 * bans, an ended ban still in the book, a detected ban of the rule, and the state file round trip.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const H = 3_600_000;
const T = 1_800_000_000_000;
const book = (): BanBook => new BanBook({ ...PRESETS }, new Allowlist([]));
const RULE = Object.keys(PRESETS)[0]!;

describe('banManually keepLonger and adopted bans', () => {
  it('a network: an adopted permanent ban stays, the shorter manual one is kept under it; an own longer one stays with keepLonger only', () => {
    const b = book();
    const net = '198.18.80.0/24';
    b.adopt({ ip: net, rule: 'manual', at: T, until: null, origin: 'a' }, T + 1_000);
    const m = b.banManually(net, { durationMs: H, now: T + 2_000, keepLonger: true });
    expect(b.holds(m)).toBe(true);
    const held = b.active(T + 3_000).find((x) => x.ip === net)!;
    expect(held).toMatchObject({ from: 'a', until: null, under: { until: T + 2_000 + H } });
    expect(b.effectiveUntil(net, T + 3_000)).toBeNull();

    const c = book();
    const net2 = '198.18.81.0/24';
    c.banManually(net2, { durationMs: 3 * H, now: T });
    const short = c.banManually(net2, { durationMs: 600_000, now: T + 1_000, keepLonger: true });
    expect(c.holds(short)).toBe(false);
    expect(c.active(T + 2_000).find((x) => x.ip === net2)?.until).toBe(T + 3 * H);
    // Without sharing, banning again sets its length.
    const again = c.banManually(net2, { durationMs: 600_000, now: T + 2_000 });
    expect(c.holds(again)).toBe(true);
    expect(c.active(T + 3_000).find((x) => x.ip === net2)?.until).toBe(T + 2_000 + 600_000);
  });

  it('a container\'s ban (host mode): only that container\'s ban of the rule is kept; a host-wide one is another ban', () => {
    const b = book();
    const ip = '198.18.80.5';
    const scope = 'a'.repeat(64);
    b.banManually(ip, { durationMs: 3 * H, now: T, scope });
    const host = b.banManually(ip, { durationMs: 600_000, now: T + 1_000, keepLonger: true });
    expect(b.holds(host)).toBe(true);
    const scoped = b.banManually(ip, { durationMs: 600_000, now: T + 2_000, scope, keepLonger: true });
    expect(b.holds(scoped)).toBe(false);
    expect(b.active(T + 3_000).filter((x) => x.ip === ip).map((x) => [x.scope ?? null, x.until])).toEqual(
      expect.arrayContaining([
        [null, T + 1_000 + 600_000],
        [scope, T + 3 * H],
      ]),
    );
  });

  it('`--for permanent` over a finite own ban and over a finite adopted one lengthens it; permanent over permanent makes nothing new', () => {
    const b = book();
    const ip1 = '198.18.80.10';
    const ip2 = '198.18.80.11';
    b.banManually(ip1, { durationMs: H, now: T });
    b.adopt({ ip: ip2, rule: 'manual', at: T, until: T + H, origin: 'a' }, T + 1);
    const p1 = b.banManually(ip1, { durationMs: null, now: T + 1_000, keepLonger: true });
    const p2 = b.banManually(ip2, { durationMs: null, now: T + 1_000, keepLonger: true });
    expect(b.holds(p1) && b.holds(p2)).toBe(true);
    expect(b.effectiveUntil(ip1, T + 2_000)).toBeNull();
    expect(b.effectiveUntil(ip2, T + 2_000)).toBeNull();
    expect(b.active(T + 2_000).find((x) => x.ip === ip2)?.from).toBeUndefined();
    const p3 = b.banManually(ip1, { durationMs: null, now: T + 3_000, keepLonger: true });
    expect(b.holds(p3)).toBe(false);
  });

  it('a held ban that has ended (not expired from the book yet) does not keep a new one out', () => {
    const b = book();
    const ip = '198.18.80.20';
    b.banManually(ip, { durationMs: H, now: T });
    const m = b.banManually(ip, { durationMs: 600_000, now: T + H + 1, keepLonger: true });
    expect(b.holds(m)).toBe(true);
    expect(b.effectiveUntil(ip, T + H + 2)).toBe(T + H + 1 + 600_000);
  });

  it('a detected ban: a longer manual ban of its rule is not shortened by it (consider is no manual ban), and keepLonger keeps a longer detected ban', () => {
    const b = book();
    const ip = '198.18.80.30';
    const d = b.consider({ ip, family: 4, rule: RULE, at: T, failures: 3 }, T)!;
    expect(d).not.toBeNull();
    const longer = b.banManually(ip, { rule: RULE, durationMs: 30 * 24 * H, now: T + 1_000, keepLonger: true });
    expect(b.holds(longer)).toBe(true);
    const shorter = b.banManually(ip, { rule: RULE, durationMs: 60_000, now: T + 2_000, keepLonger: true });
    expect(b.holds(shorter)).toBe(false);
    expect(b.effectiveUntil(ip, T + 3_000)).toBe(T + 1_000 + 30 * 24 * H);
  });

  it('the state file keeps a manual ban kept under an adopted one, and a later older-unban brings it back', () => {
    const b = book();
    const ip = '198.18.80.40';
    b.adopt({ ip, rule: 'manual', at: T, until: null, origin: 'a' }, T + 1);
    const m = b.banManually(ip, { durationMs: 3 * H, now: T + 10_000, keepLonger: true });
    expect(b.holds(m)).toBe(true);
    const s = JSON.parse(JSON.stringify(b.snapshot())) as ReturnType<BanBook['snapshot']>;
    const r = book();
    r.restore(s, T + 20_000);
    expect(r.active(T + 20_000).find((x) => x.ip === ip)).toMatchObject({ from: 'a', until: null, under: { at: T + 10_000, until: T + 10_000 + 3 * H, manual: true } });
    const lifted = r.liftAdopted(ip, undefined, T + 5_000, T + 30_000, { at: T + 30_000, by: 'group:c' });
    expect(lifted.restored.map((x) => x.until)).toEqual([T + 10_000 + 3 * H]);
    expect(r.effectiveUntil(ip, T + 31_000)).toBe(T + 10_000 + 3 * H);
  });

  it('a manual ban kept out by a longer one is no served ban: the next detected ban of the rule is not made longer by it', () => {
    const settings = { ...PRESETS[RULE]!, bantime: H, increment: { factor: 2, maxtime: 64 * H } };
    const b = new BanBook({ ...PRESETS, [RULE]: settings }, new Allowlist([]));
    const ip = '198.18.80.50';
    const first = b.consider({ ip, family: 4, rule: RULE, at: T, failures: 3 }, T)!;
    expect(first).toMatchObject({ nth: 1, until: T + H });
    // While it is in force, shorter manual bans of the rule are refused (a group keeps the longer):
    // nothing is banned, so nothing is counted.
    for (let k = 1; k <= 3; k++) expect(b.holds(b.banManually(ip, { rule: RULE, durationMs: 60_000, now: T + k * 1_000, keepLonger: true }))).toBe(false);
    // After it, the address's second detected ban of the rule lasts twice the first, not 2^4 times.
    const second = b.consider({ ip, family: 4, rule: RULE, at: T + 2 * H, failures: 3 }, T + 2 * H)!;
    expect(second).toMatchObject({ nth: 2, until: T + 2 * H + 2 * H });
  });
});
