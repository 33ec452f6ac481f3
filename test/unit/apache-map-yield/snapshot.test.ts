/**
 * H30: a write that yields (apache-map's maps are built in slices, src/yielding.ts) renders
 * the list as it was when the write began, whatever changes meanwhile; the changes go to the next
 * write. Writes never overlap: calls made while one is in progress join exactly one more write
 * after it (MapFile.write), and SdbmMap.write runs its writes in the order they were asked for.
 */
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApacheMapEnforcer, SDBM_PAGE_BYTES, SdbmMap, buildSdbm, renderApacheMap } from '../../../src/enforce/apache-map.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import type { MapEntry } from '../../../src/enforce/map-file.js';
import { sortSteps, runSync, runYielding } from '../../../src/yielding.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { rng } from '../../support/random.js';

const v4 = (i: number): string => `198.${18 + ((i >>> 16) & 1)}.${(i >>> 8) & 255}.${i & 255}`;
const v6 = (i: number): string => `2001:db8:${(0x1000 + (i >>> 12)).toString(16)}:1:1:1:1:${(0x1000 + (i & 0xfff)).toString(16)}`;
const byIp = (a: MapEntry, b: MapEntry): number => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** What the maps' files hold now: the txt map, and the SDBM version's three files. */
async function filesOf(path: string): Promise<{ txt: string; dir: Buffer; pag: Buffer; overflow: string }> {
  const cur = join(`${path}.sdbm`, 'current');
  return {
    txt: await readFile(path, 'latin1'),
    dir: await readFile(join(cur, 'map.dir')),
    pag: await readFile(join(cur, 'map.pag')),
    overflow: await readFile(join(cur, 'overflow.map'), 'latin1'),
  };
}

/** What those files must hold for `entries` (sorted) written at `now`. */
function expectedFiles(entries: readonly MapEntry[], now: number): { txt: string; dir: Buffer; pag: Buffer; overflow: string } {
  const img = buildSdbm(entries);
  let top = -1;
  for (const n of img.pages.keys()) if (n > top) top = n;
  const pag = Buffer.alloc((top + 1) * SDBM_PAGE_BYTES);
  for (const [n, p] of img.pages) p.copy(pag, n * SDBM_PAGE_BYTES);
  return { txt: renderApacheMap(entries, now), dir: img.dir, pag, overflow: renderApacheMap(img.overflow, now) };
}

describe('apache-map: a yielding write renders the snapshot it began with', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h30-snap-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('bans added, removed, re-added and changed during the write are in the next write, not in this one', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
    const path = join(dir, 'banned.map');
    const e = new ApacheMapEnforcer({ path, clock });
    await e.init();
    const now = clock.now();
    const N = 150_000;
    const bans: EnforcerBan[] = [];
    for (let i = 0; i < N; i++) bans.push(i % 2 === 0 ? { ip: v4(i >>> 1), family: 4, until: now + 3_600_000 + i * 1000 } : { ip: v6(i >>> 1), family: 6, until: null });
    e.map.update({ ban: bans, unban: [] });
    // The model: what the list must hold after every update.
    const model = new Map<string, MapEntry>(bans.map((b) => [b.ip, { ip: b.ip, family: b.family, until: b.until }]));
    const snapshot = e.map.entries(now);
    expect(snapshot).toHaveLength(N);

    const rand = rng(30);
    const pick = (): string => bans[Math.floor(rand() * N)]!.ip;
    const removed: string[] = [];
    let fresh = 0;
    let done = false;
    let turns = 0;
    const write = e.map.write();
    void write.then(
      () => (done = true),
      () => (done = true),
    );
    // Bounded: at most 5,000 turns of the event loop while the write runs.
    while (!done && turns < 5_000) {
      await turn();
      if (done) break;
      turns++;
      const ban: EnforcerBan[] = [];
      const unban: EnforcerBan[] = [];
      const gone = pick(); // anywhere in the list: read already or not yet
      unban.push({ ip: gone, family: gone.includes(':') ? 6 : 4, until: null });
      removed.push(gone);
      const changed = pick();
      ban.push({ ip: changed, family: changed.includes(':') ? 6 : 4, until: now + 7_200_000 + turns });
      ban.push({ ip: v6(0x200000 + fresh++), family: 6, until: null }); // a new one, at the end of the list
      if (removed.length > 2) {
        const back = removed[removed.length - 3]!; // removed two turns ago, back with a new expiry
        ban.push({ ip: back, family: back.includes(':') ? 6 : 4, until: now + 9_000_000 });
      }
      e.map.update({ ban, unban });
      for (const u of unban) model.delete(u.ip);
      for (const b of ban) model.set(b.ip, { ip: b.ip, family: b.family, until: b.until });
    }
    await write;
    // The write yielded many times (the list changed at each of those turns).
    expect(turns).toBeGreaterThan(20);
    const want = expectedFiles(snapshot, now);
    const got = await filesOf(path);
    expect(got.txt === want.txt).toBe(true);
    expect(got.dir.equals(want.dir)).toBe(true);
    expect(got.pag.equals(want.pag)).toBe(true);
    expect(got.overflow).toBe(want.overflow);

    // The list itself has every change, and the next write holds it.
    const latest = [...model.values()].sort(byIp);
    expect(e.map.entries(now)).toEqual(latest);
    // A change made during a write leaves the map stale: the repair check would rewrite it.
    await e.map.write();
    const next = await filesOf(path);
    const want2 = expectedFiles(latest, now);
    expect(next.txt === want2.txt).toBe(true);
    expect(next.pag.equals(want2.pag)).toBe(true);
    expect(next.dir.equals(want2.dir)).toBe(true);
    expect(await e.check(() => latest)).toEqual([]);
  }, 20_000);

  it('a change during a write that nobody writes after it leaves the map stale, and check() rewrites it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
    const path = join(dir, 'banned.map');
    const e = new ApacheMapEnforcer({ path, clock });
    await e.init();
    const bans: EnforcerBan[] = Array.from({ length: 50_000 }, (_, i) => ({ ip: v4(i), family: 4, until: null }));
    e.map.update({ ban: bans, unban: [] });
    const write = e.map.write();
    await turn();
    e.map.update({ ban: [{ ip: '2001:db8::77', family: 6, until: null }], unban: [] });
    await write;
    expect((await filesOf(path)).txt).not.toContain('2001:db8::77 ');
    const repaired = await e.check(() => [...bans, { ip: '2001:db8::77', family: 6, until: null }]);
    expect(repaired.join('\n')).toMatch(/last write had failed or was pending/);
    expect((await filesOf(path)).txt).toContain('2001:db8::77 99991231235959\n');
  }, 20_000);
});

describe('apache-map: no write reads the list half-updated', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h30-batch-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a write or a check asked while a big batch is applied in slices waits for the whole batch', async () => {
    const path = join(dir, 'banned.map');
    const e = new ApacheMapEnforcer({ path });
    await e.init();
    const bans: EnforcerBan[] = Array.from({ length: 120_000 }, (_, i) => ({ ip: v6(i), family: 6, until: null }));
    const applied = e.apply({ ban: bans, unban: [] });
    await turn();
    // The batch is being applied (in slices) ...
    expect(e.map.size).toBeGreaterThan(0);
    expect(e.map.size).toBeLessThan(bans.length);
    // ... a write asked for now renders all of it, never part of it.
    const sizes: number[] = [];
    const real = e.sdbm.write.bind(e.sdbm);
    vi.spyOn(e.sdbm, 'write').mockImplementation(async (entries, now) => {
      sizes.push(entries.length);
      await real(entries, now);
    });
    const direct = e.map.write();
    const checked = e.check(() => bans);
    await Promise.all([applied, direct, checked]);
    expect(sizes.length).toBeGreaterThan(0);
    for (const n of sizes) expect(n).toBe(bans.length);
    const txt = await readFile(path, 'latin1');
    expect(txt.split('\n').length - 1).toBe(bans.length + 2);
    // Written whole: nothing left to repair.
    expect(await e.check(() => bans)).toEqual([]);
  }, 20_000);
});

describe('MapFile: a repair check that yields', () => {
  it('keeps what update() changed meanwhile (the newer word) and makes the rest equal the book', () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
    const e = new ApacheMapEnforcer({ path: '/nonexistent-h30/banned.map', clock });
    const book: EnforcerBan[] = Array.from({ length: 20_000 }, (_, i) => ({ ip: v4(i), family: 4, until: null }));
    e.map.update({ ban: book.slice(1), unban: [] }); // the first one missing: the check re-adds it
    e.map.update({ ban: [{ ip: '2001:db8::5', family: 6, until: null }], unban: [] }); // stray: the check removes it
    const steps = (e.map as unknown as { reconcileSteps(x: readonly EnforcerBan[], now: number): Generator<void, string | null> }).reconcileSteps(book, clock.now());
    expect(steps.next().done).toBe(false); // paused
    // Meanwhile: a new ban, and an unban of one the book still holds.
    e.map.update({ ban: [{ ip: '2001:db8::9', family: 6, until: null }], unban: [{ ip: v4(7), family: 4 }] });
    let r = steps.next();
    for (let i = 0; i < 10_000 && r.done !== true; i++) r = steps.next();
    expect(r.done).toBe(true);
    expect(r.value).toMatch(/1 missing ban\(s\) re-added, 1 entry nobody banned removed/);
    const ips = new Set(e.map.entries().map((x) => x.ip));
    expect(ips.has(v4(0))).toBe(true);
    expect(ips.has('2001:db8::5')).toBe(false);
    expect(ips.has('2001:db8::9')).toBe(true);
    expect(ips.has(v4(7))).toBe(false);
    expect(ips.size).toBe(20_000 - 1 + 1);
  });
});

describe('apache-map: writes never overlap', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h30-serial-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('calls made while a write is in progress join exactly one more write after it', async () => {
    const path = join(dir, 'banned.map');
    const e = new ApacheMapEnforcer({ path });
    await e.init();
    e.map.update({ ban: Array.from({ length: 50_000 }, (_, i) => ({ ip: v4(i), family: 4 as const, until: null })), unban: [] });
    let running = 0;
    let most = 0;
    const written: number[] = [];
    const real = e.sdbm.write.bind(e.sdbm);
    vi.spyOn(e.sdbm, 'write').mockImplementation(async (entries, now) => {
      running++;
      most = Math.max(most, running);
      try {
        await real(entries, now);
        written.push(entries.length);
      } finally {
        running--;
      }
    });
    const first = e.map.write();
    const later: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) {
      await turn();
      e.map.update({ ban: [{ ip: v6(i), family: 6, until: null }], unban: [] });
      later.push(e.map.write());
    }
    await Promise.all([first, ...later]);
    expect(most).toBe(1);
    // The first write, then one for the four changes made meanwhile.
    expect(written).toEqual([50_000, 50_004]);
    const txt = await readFile(path, 'latin1');
    for (let i = 0; i < 4; i++) expect(txt).toContain(`${v6(i)} 99991231235959\n`);
    // And the enforcer's apply, as the queue calls it, one batch after another, still writes each.
    await e.apply({ ban: [{ ip: '2001:db8::99', family: 6, until: null }], unban: [] });
    expect(written).toHaveLength(3);
  }, 20_000);

  it('SdbmMap: a later, small write is never overtaken by an earlier, big one', async () => {
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    const big: MapEntry[] = Array.from({ length: 100_000 }, (_, i) => ({ ip: v6(i), family: 6 as const, until: null })).sort(byIp);
    const small: MapEntry[] = [{ ip: '198.18.0.1', family: 4, until: null }];
    const a = m.write(big, Date.now());
    const b = m.write(small, Date.now());
    await Promise.all([a, b]);
    const want = buildSdbm(small);
    const cur = join(m.root, await readlink(join(m.root, 'current')));
    expect((await readFile(join(cur, 'map.pag'))).equals(want.pages.get(0)!)).toBe(true);
  }, 20_000);
});

describe('sortSteps', () => {
  it('sorts as Array.prototype.sort does, run by run and merged, in slices or at once', async () => {
    const rand = rng(3030);
    for (const n of [0, 1, 2, 1023, 1024, 1025, 2048, 3000, 4097, 20_000]) {
      const items = Array.from({ length: n }, () => Math.floor(rand() * 5000).toString(36));
      const want = [...items].sort();
      const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
      expect(runSync(sortSteps([...items], cmp))).toEqual(want);
      expect(await runYielding(sortSteps([...items], cmp), 0)).toEqual(want);
    }
  });

  it('is stable, as Array.prototype.sort is', () => {
    const rand = rng(77);
    const items = Array.from({ length: 10_000 }, (_, i) => ({ k: Math.floor(rand() * 50), i }));
    const out = runSync(sortSteps([...items], (a, b) => a.k - b.k));
    expect(out).toEqual([...items].sort((a, b) => a.k - b.k));
  });
});
