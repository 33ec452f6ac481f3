import { describe, expect, it } from 'vitest';
import { DistinctWindows, hashPath } from '../../../src/detect/distinct-window.js';
import { Detector } from '../../../src/detect/detector.js';
import { compileRule, type RuleSettings } from '../../../src/detect/rule.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import type { Offense } from '../../../src/detect/offense.js';
import { loadConfig } from '../../../src/config/load.js';
import { selectRules } from '../../../src/pipeline/pipeline.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const S = 1000;
const ev = (ip: string, t: number, path: string, status = 404): AccessEvent => ({ ip, family: 4, time: t, status, path, method: 'GET' });
const rule: RuleSettings = {
  enabled: true, description: '', match: { status: [404], paths: [], methods: [] },
  count: 'distinct-paths', maxretry: 3, findtime: 60 * S, bantime: 60 * S, increment: null,
};

describe('count: distinct-paths', () => {
  it('counts distinct paths, not repetitions (a reload loop is one path)', () => {
    const d = new Detector([compileRule('probe', rule)], { maxTracked: 100 });
    const out: Offense[] = [];
    for (let i = 0; i < 50; i++) d.observe(ev('198.18.0.1', i * S, '/favicon.ico'), (o) => out.push(o));
    expect(out).toEqual([]);
    d.observe(ev('198.18.0.1', 51 * S, '/a'), (o) => out.push(o));
    expect(out).toEqual([]);
    d.observe(ev('198.18.0.1', 52 * S, '/b?x=1'), (o) => out.push(o));
    expect(out.map((o) => [o.ip, o.failures])).toEqual([['198.18.0.1', 3]]);
  });
  it('the query does not make a path distinct', () => {
    const d = new Detector([compileRule('probe', rule)], { maxTracked: 100 });
    const out: Offense[] = [];
    for (let i = 0; i < 10; i++) d.observe(ev('198.18.0.2', i * S, `/search?q=${i}`), (o) => out.push(o));
    expect(out).toEqual([]);
  });
  it('tells the share stage of a failure only for a path new to the window', () => {
    const shared: string[] = [];
    const d = new Detector([compileRule('probe', { ...rule, maxretry: 10 })], { maxTracked: 100, onFailure: (e) => shared.push((e as AccessEvent).path) });
    for (const p of ['/a', '/a', '/b?x=1', '/b?x=2', '/c', '/a']) d.observe(ev('198.18.0.3', 0, p), () => {});
    expect(shared).toEqual(['/a', '/b?x=1', '/c']);
  });
  it('paths leave the window after findtime', () => {
    const w = new DistinctWindows(60 * S, 10, 5);
    expect(w.record('a', 0, hashPath('/1'))).toBe(1);
    expect(w.record('a', 30 * S, hashPath('/2'))).toBe(2);
    expect(w.record('a', 61 * S, hashPath('/3'))).toBe(2);
    // a repeated path refreshes its time
    expect(w.record('a', 80 * S, hashPath('/2'))).toBe(2);
    expect(w.record('a', 95 * S, hashPath('/4'))).toBe(3);
  });
  it('the window is (t - findtime, t], as for failures: a path exactly findtime older has left it, one a millisecond younger has not', () => {
    const w = new DistinctWindows(60 * S, 10, 5);
    expect(w.record('a', 0, hashPath('/1'))).toBe(1);
    expect(w.record('a', 60 * S, hashPath('/2'))).toBe(1);
    const v = new DistinctWindows(60 * S, 10, 5);
    expect(v.record('a', 1, hashPath('/1'))).toBe(1);
    expect(v.record('a', 60 * S, hashPath('/2'))).toBe(2);
  });
  it('agrees with a plain model of the window on random traffic (late, repeated and future-stamped paths)', () => {
    const findtime = 10 * S;
    const maxPaths = 5;
    const w = new DistinctWindows(findtime, 1000, maxPaths);
    const model = new Map<string, { h: number; at: number }[]>();
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    let clock = 0;
    for (let step = 0; step < 20_000; step++) {
      clock += rnd(4) * 500; // coarse: times often fall exactly on a window's edge
      const ip = `a${rnd(4)}`;
      const roll = rnd(20);
      const t = roll === 0 ? clock + 20 * 60 * S : roll === 1 ? clock - rnd(120) * 500 : clock;
      const h = rnd(8);
      const got = w.record(ip, t, h);
      // The model: the window ends at its newest time not after t + lead (half the findtime; or t);
      // paths stamped later are kept but not counted (dropped beyond 5 min, and first to go when the
      // window is full); refresh or add.
      const m = model.get(ip) ?? [];
      const late = t + 5 * 60 * S;
      const soon = t + findtime / 2;
      const newest = Math.max(t, ...m.filter((e) => e.at <= soon).map((e) => e.at));
      // A path more than the lead after all the window holds (a jump ahead) drops only what had left
      // the window before it.
      const last = Math.max(...m.filter((e) => e.at <= late).map((e) => e.at));
      const keepAfter = t > last + findtime / 2 ? Math.min(newest - findtime, last - findtime) : newest - findtime;
      const kept = m.filter((e) => e.at <= late && e.at > keepAfter);
      const same = kept.find((e) => e.h === h);
      if (same !== undefined) {
        if (t > same.at || same.at > soon) same.at = t;
      } else if (t > newest - findtime) {
        if (kept.length >= maxPaths) {
          const future = kept.findIndex((e) => e.at > soon);
          const stale = kept.findIndex((e) => e.at <= newest - findtime);
          kept.splice(future >= 0 ? future : stale >= 0 ? stale : 0, 1);
        }
        kept.push({ h, at: t });
      }
      expect(w.added).toBe(same === undefined && t > newest - findtime);
      if (kept.length === 0) model.delete(ip);
      else model.set(ip, kept);
      expect(got).toBe(kept.filter((e) => e.at <= soon && e.at > newest - findtime).length);
      // The times kept, seen through count() at a later instant.
      const probe = newest + rnd(20) * 500;
      expect(w.count(ip, probe)).toBe(kept.filter((e) => e.at > probe - findtime).length);
      if (got >= maxPaths) {
        w.reset(ip);
        model.delete(ip);
      }
    }
  });
  it('hashes a prefix as it hashes the prefix sliced off (the detector hashes the path inside the target)', () => {
    for (const t of ['/a/b?x=1', '/a/b', '?q', '', '/é/%2e?'])
      for (let end = 0; end <= t.length; end++) expect(hashPath(t, end)).toBe(hashPath(t.slice(0, end)));
  });
  it('is bounded: at most maxPaths per address and maxTracked addresses', () => {
    const w = new DistinctWindows(60 * S, 3, 4);
    for (let i = 0; i < 1000; i++) expect(w.record('a', i, i)).toBeLessThanOrEqual(4);
    for (let i = 0; i < 100; i++) w.record(`k${i}`, i, 1);
    expect(w.size).toBe(3);
    expect(w.evictions).toBe(98);
  });
  it('a far-future path does not shield the address', () => {
    const w = new DistinctWindows(60 * S, 10, 10);
    w.record('a', 10_000 * 60 * S, 1);
    expect(w.record('a', 0, 2)).toBe(1);
    expect(w.record('a', S, 3)).toBe(2);
  });
});

describe('path hashes are seeded (review: helper)', () => {
  // Nine spellings of webshell probes that all hashed alike under the previous, fixed FNV-1a (found
  // by a meet-in-the-middle search a prober can run offline): counted as one path, they never banned.
  const FNV_COLLIDING = ['/c99.php', '/nny3abp/../r57.php', '/u5wabf4/../wso.php', '/cmf9ams/../b374k.php', '/2mojavd/../alfa.php', '/k2axd2u/../shell.php', '/2yo8cfm/../mini.php', '/phgub67/../xleet.php', '/c3uhbru/../priv8.php'];

  it('the same path hashes alike under one seed, and the hashes change with the seed', () => {
    expect(hashPath('/a/b.php', 8, 1234)).toBe(hashPath('/a/b.php', 8, 1234));
    const seeds = [1, 2, 0x7fffffff, -5];
    const sets = seeds.map((seed) => FNV_COLLIDING.map((p) => hashPath(p, p.length, seed)).join(','));
    expect(new Set(sets).size).toBe(seeds.length);
  });

  it('paths built to collide under a known hash are distinct paths, for any seed', () => {
    for (const seed of [0, 1, 0x811c9dc5 | 0, 42, -1]) expect(new Set(FNV_COLLIDING.map((p) => hashPath(p, p.length, seed))).size).toBe(FNV_COLLIDING.length);
  });

  it('so webshell-probes bans a prober sending them', () => {
    const rules = selectRules(loadConfig({ env: { BANHAMMER_RULES: 'webshell-probes' }, hostname: 'x' }));
    const det = new Detector(rules, { maxTracked: 1000 });
    const parse = createLineParser('auto');
    const offenses: Offense[] = [];
    FNV_COLLIDING.forEach((p, i) => {
      const ev = parse(`198.18.0.1 - - [02/Dec/2026:10:00:${String(i).padStart(2, '0')} +0000] "GET ${p} HTTP/1.1" 404 10 "-" "Mozilla/5.0"`);
      if (typeof ev !== 'string') det.observe(ev, (o) => offenses.push(o));
    });
    expect(offenses.length).toBeGreaterThan(0);
  });
});
