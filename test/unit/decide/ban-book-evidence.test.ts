/**
 * Evidence and the history of ended bans in the ban book (issue 14): how each ban ends, the bounds on
 * what is remembered, and the state file's round trip, including hostile and older files.
 */
import { describe, expect, it } from 'vitest';
import { BanBook, DEFAULT_BAN_HISTORY, type Ban, type BanBookSnapshot } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { canonicalTarget } from '../../../src/parse/ip.js';
import type { Offense } from '../../../src/detect/offense.js';
import type { EvidenceLine } from '../../../src/decide/evidence.js';

const H = 3600_000;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const offense = (ip: string, at: number, rule = 'forbidden', scope?: string): Offense => ({ ip, family: ip.includes(':') ? 6 : 4, rule, at, failures: 5, scope });
const lines = (ip: string, n: number, at = T0, pad = 0): EvidenceLine[] =>
  Array.from({ length: n }, (_, i) => ({ line: `${ip} - - [02/Dec/2026:12:00:0${i} +0000] "GET /forbidden/ HTTP/1.1" 403 199 "-" "${'u'.repeat(pad)}"`, file: '/var/log/apache2/access.log', at: at - (n - i) * 1000 }));
const book = (allow: string[] = [], limits: { endedBans?: number; evidenceBytes?: number } = {}) => new BanBook({ ...PRESETS }, new Allowlist(allow), undefined, limits);
const target = (ip: string) => canonicalTarget(ip)!;
const roundTrip = (b: BanBook): BanBookSnapshot => JSON.parse(JSON.stringify(b.snapshot())) as BanBookSnapshot;

describe('BanBook evidence', () => {
  it('a detected ban carries the lines it was given, and how many failures have no line', () => {
    const b = book();
    const ban = b.consider(offense('198.18.0.7', T0), T0, undefined, { lines: lines('198.18.0.7', 3), omitted: 2 })!;
    expect(ban.evidence).toHaveLength(3);
    expect(ban.evidenceOmitted).toBe(2);
    expect(ban.groupCount).toBeUndefined();
    const g = b.consider(offense('198.18.0.8', T0), T0, undefined, { lines: [], omitted: 5, groupCount: true })!;
    expect(g.evidence).toBeUndefined();
    expect(g).toMatchObject({ evidenceOmitted: 5, groupCount: true });
    expect(b.banManually('198.18.0.9', { durationMs: H, now: T0 }).evidence).toBeUndefined();
  });
});

describe('BanBook history of ended bans', () => {
  it('records how each ban ended: expired, unbanned by whom, allowlisted on reload, replaced', () => {
    const b = book();
    b.consider(offense('198.18.0.1', T0), T0, undefined, { lines: lines('198.18.0.1', 5) });
    b.consider(offense('198.18.0.2', T0), T0);
    b.consider(offense('198.18.0.3', T0), T0);
    b.consider(offense('198.18.0.4', T0), T0);
    b.banManually('198.18.0.5', { durationMs: H, now: T0 });
    b.consider(offense('198.18.0.6', T0), T0);

    expect(b.expire(T0 + H).map((x) => x.ip).sort()).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.5', '198.18.0.6']);
    // all six expired at their `until`
    expect(b.endedBans().map((e) => e.ended)).toEqual(Array(6).fill({ reason: 'expired', at: T0 + H }));
    expect(b.endedBans()[0]!.evidence).toHaveLength(5);

    const c = book();
    const now = T0 + 10;
    c.consider(offense('198.18.1.1', T0), T0);
    c.consider(offense('198.18.1.2', T0), T0);
    c.consider(offense('198.18.1.3', T0), T0);
    c.consider(offense('198.18.1.4', T0), T0);
    c.consider(offense('198.18.1.5', T0), T0);
    c.unban('198.18.1.1', undefined, undefined, { at: now, by: 'control' });
    c.banManually('198.18.1.2', { rule: 'forbidden', durationMs: 2 * H, now });
    c.adopt({ ip: '198.18.1.3', rule: 'forbidden', at: now, until: now + 5 * H, origin: 'replica-b' }, now);
    c.reconfigure({ ...PRESETS }, new Allowlist(['198.18.1.4']), now);
    c.unban('198.18.1.5', undefined, undefined, { at: now, by: 'group:replica-c' });
    c.unbanAll({ at: now + 1, by: 'control-all' });
    const ends = c.endedBans().map((e) => [e.ip, e.ended.reason, e.ended.by ?? null, e.ended.at]);
    expect(ends).toEqual([
      ['198.18.1.1', 'unbanned', 'control', now],
      ['198.18.1.2', 'replaced', 'ban', now],
      ['198.18.1.3', 'replaced', 'group:replica-b', now],
      ['198.18.1.4', 'allowlisted', 'reload', now],
      ['198.18.1.5', 'unbanned', 'group:replica-c', now],
      ['198.18.1.2', 'unbanned', 'control-all', now + 1],
      ['198.18.1.3', 'unbanned', 'control-all', now + 1],
    ]);
    // the replacing manual ban and the adopted one say where they came from
    expect(c.endedBans()[5]).toMatchObject({ manual: true, failures: 0 });
    expect(c.endedBans()[6]).toMatchObject({ from: 'replica-b' });
  });

  it('a new ban over one that expired but was not swept yet records the old one as expired at its until', () => {
    const b = book();
    b.consider(offense('198.18.0.20', T0), T0);
    b.consider(offense('198.18.0.20', T0 + H + 5), T0 + H + 5);
    expect(b.endedBans().map((e) => e.ended)).toEqual([{ reason: 'expired', at: T0 + H }]);
    expect(b.active(T0 + H + 5).map((x) => x.nth)).toEqual([2]);
  });

  it('remembers at most endedBans (oldest forgotten first); 0 keeps none; a smaller setting trims at once', () => {
    const b = book([], { endedBans: 10 });
    for (let i = 0; i < 25; i++) {
      b.consider(offense(`198.18.2.${i}`, T0), T0, undefined, { lines: lines(`198.18.2.${i}`, 2) });
      b.unban(`198.18.2.${i}`, undefined, undefined, { at: T0 + i, by: 'control' });
    }
    expect(b.endedBans().map((e) => e.ip)).toEqual(Array.from({ length: 10 }, (_, i) => `198.18.2.${i + 15}`));
    b.setEndedBans(3);
    expect(b.endedBans().map((e) => e.ip)).toEqual(['198.18.2.22', '198.18.2.23', '198.18.2.24']);
    expect(b.evidenceBytes).toBeGreaterThan(0);
    b.setEndedBans(0);
    expect(b.endedBans()).toEqual([]);
    expect(b.evidenceBytes).toBe(0); // forgotten history holds no lines
    expect(new BanBook({ ...PRESETS }, new Allowlist([]))['maxEnded' as keyof BanBook]).toBe(DEFAULT_BAN_HISTORY);
  });

  it('keeps the lines of active and ended bans within the byte budget: the oldest lose theirs first, counted', () => {
    const budget = 64 * 1024;
    const b = book([], { evidenceBytes: budget });
    for (let i = 0; i < 200; i++) {
      b.consider(offense(`2001:db8::${i.toString(16)}`, T0 + i), T0 + i, undefined, { lines: lines(`2001:db8::${i.toString(16)}`, 5, T0 + i, 900) });
      if (i % 2 === 1) b.unban(`2001:db8::${(i - 1).toString(16)}`, undefined, undefined, { at: T0 + i, by: 'control' });
      expect(b.evidenceBytes).toBeLessThanOrEqual(budget);
    }
    const active = b.active(T0 + 200);
    const newest = active.find((x) => x.ip === '2001:db8::c7')!;
    expect(newest.evidence).toHaveLength(5);
    const oldest = active.find((x) => x.ip === '2001:db8::1')!;
    expect(oldest.evidence).toBeUndefined();
    expect(oldest.evidenceOmitted).toBe(5);
    const oldEnded = b.endedBans()[0]!;
    expect(oldEnded.evidence).toBeUndefined();
    expect(oldEnded.evidenceOmitted).toBe(5);
  });

  it('about(): the bans of an address, the network bans covering it, and its ended bans newest first', () => {
    const b = book();
    b.consider(offense('198.18.3.7', T0), T0);
    b.banManually('198.18.3.0/24', { durationMs: H, now: T0 });
    b.consider(offense('198.18.4.7', T0), T0);
    b.consider(offense('198.18.3.7', T0, 'not-found'), T0);
    b.unban('198.18.3.7', 'not-found', undefined, { at: T0 + 1, by: 'control' });
    const a = b.about(target('198.18.3.7'), T0 + 2);
    expect(a.active.map((x) => x.ip).sort()).toEqual(['198.18.3.0/24', '198.18.3.7']);
    expect(a.ended.map((x) => [x.rule, x.ended.reason])).toEqual([['not-found', 'unbanned']]);
    expect(b.about(target('198.18.3.0/24'), T0 + 2).active.map((x) => x.ip)).toEqual(['198.18.3.0/24']);
    expect(b.about(target('198.18.9.9'), T0 + 2)).toEqual({ active: [], ended: [] });
  });
});

describe('BanBook state with evidence', () => {
  it('round-trips evidence, omitted counts and ended bans through JSON', () => {
    const a = book();
    a.consider(offense('198.18.5.1', T0), T0, undefined, { lines: lines('198.18.5.1', 5), omitted: 1 });
    a.consider(offense('198.18.5.2', T0), T0, undefined, { lines: lines('198.18.5.2', 5) });
    a.unban('198.18.5.2', undefined, undefined, { at: T0 + 5, by: 'control' });
    const b = book();
    expect(b.restore(roundTrip(a), T0 + 10)).toEqual({ restored: 1, dropped: 0 });
    expect(b.active(T0 + 10)).toEqual(a.active(T0 + 10));
    expect(b.endedBans()).toEqual(a.endedBans());
  });

  it('a ban that expired while the agent was down, or is allowlisted now, is in the history after restore', () => {
    const a = book();
    a.consider(offense('198.18.6.1', T0), T0, undefined, { lines: lines('198.18.6.1', 5) });
    a.consider(offense('198.18.6.2', T0), T0);
    const b = book(['198.18.6.2']);
    expect(b.restore(roundTrip(a), T0 + 2 * H)).toEqual({ restored: 0, dropped: 2 });
    expect(b.endedBans().map((e) => [e.ip, e.ended])).toEqual([
      ['198.18.6.1', { reason: 'expired', at: T0 + H }],
      ['198.18.6.2', { reason: 'allowlisted', at: T0 + 2 * H, by: 'restore' }],
    ]);
    expect(b.endedBans()[0]!.evidence).toHaveLength(5);
  });

  it('loads a state file written before evidence (no evidence, no ended)', () => {
    const old = { bans: [{ ip: '198.18.7.1', family: 4, rule: 'forbidden', at: T0, until: T0 + H, failures: 5, nth: 1, manual: false }], history: [] };
    const b = book();
    expect(b.restore(old as unknown as BanBookSnapshot, T0 + 1)).toEqual({ restored: 1, dropped: 0 });
    const ban = b.active(T0 + 1)[0]!;
    expect(ban.evidence).toBeUndefined();
    expect(b.endedBans()).toEqual([]);
  });

  it('hostile state: every evidence and history field is checked, sizes are capped, nothing throws', () => {
    const ok: Partial<Ban> = { ip: '198.18.8.1', family: 4, rule: 'forbidden', at: T0, until: T0 + H, failures: 5, nth: 1, manual: false };
    const hostile = {
      bans: [
        { ...ok, evidence: 'not a list', evidenceOmitted: -3, groupCount: 'yes' },
        { ...ok, ip: '198.18.8.2', evidence: Array.from({ length: 100_000 }, (_, i) => ({ line: `l${i}\x1b[31m`, at: T0, file: '/f' })) },
        { ...ok, ip: '198.18.8.3', evidence: [{ line: 'x'.repeat(10 << 20), at: T0 }, { line: {}, at: T0 }, { at: T0 }, null, 7] },
        { ...ok, ip: '198.18.8.4', evidence: [{ line: 'ok', at: 'yesterday' }, { line: 'ok2', at: T0, file: { evil: 1 } }] },
      ],
      history: [],
      ended: [
        { ...ok, ip: '198.18.8.9', ended: { reason: 'exploded', at: T0 } },
        { ...ok, ip: '198.18.8.10', ended: { reason: 'unbanned', at: Number.NaN } },
        { ...ok, ip: '198.18.8.11', ended: null },
        { ...ok, ip: 'not an ip', ended: { reason: 'expired', at: T0 } },
        { ...ok, ip: '198.18.8.12', rule: '__proto__', ended: { reason: 'expired', at: T0 } },
        { ...ok, ip: '198.18.8.13', ended: { reason: 'unbanned', at: T0, by: `control\x1b]0;x\x07${'b'.repeat(5000)}` } },
        ...Array.from({ length: 5000 }, (_, i) => ({ ...ok, ip: `198.19.${i >> 8}.${i & 255}`, ended: { reason: 'expired', at: T0 } })),
      ],
    };
    const b = book([], { endedBans: 100 });
    const r = b.restore(hostile as unknown as BanBookSnapshot, T0 + 1);
    expect(r).toEqual({ restored: 4, dropped: 0 });
    const byIp = new Map(b.active(T0 + 1).map((x) => [x.ip, x]));
    expect(byIp.get('198.18.8.1')!.evidence).toBeUndefined();
    expect(byIp.get('198.18.8.1')!.evidenceOmitted).toBeUndefined();
    expect(byIp.get('198.18.8.1')!.groupCount).toBeUndefined();
    const many = byIp.get('198.18.8.2')!.evidence!;
    expect(many.length).toBeLessThanOrEqual(23);
    expect(many.at(-1)!.line).toBe('l99999\\x1b[31m');
    const cut = byIp.get('198.18.8.3')!.evidence!;
    expect(cut).toHaveLength(1);
    expect(cut[0]!.line.length).toBeLessThan(1100);
    expect(byIp.get('198.18.8.4')!.evidence).toEqual([{ line: 'ok2', at: T0 }]);
    // history: only well-formed entries, at most endedBans of them, by texts cut and escaped
    const ended = b.endedBans();
    expect(ended).toHaveLength(100);
    expect(ended.some((e) => ['198.18.8.9', '198.18.8.10', '198.18.8.11', '198.18.8.12'].includes(e.ip))).toBe(false);
    const b2 = book([], { endedBans: 10_000 });
    b2.restore(hostile as unknown as BanBookSnapshot, T0 + 1);
    const by = b2.endedBans().find((e) => e.ip === '198.18.8.13')!.ended.by!;
    expect(by.startsWith('control\\x1b]0;x\\x07')).toBe(true);
    expect(by.length).toBeLessThan(260);
    expect(b2.evidenceBytes).toBeLessThan(1 << 20);
  });
});
