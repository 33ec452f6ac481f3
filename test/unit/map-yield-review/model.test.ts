/**
 * H32: hostile review of the sliced map writer (H30). A model-based random test: MapFile's list is
 * driven by update, updateYielding, write, check (with a ban book that differs from the list),
 * clear and touch, started while other calls are suspended between slices (every pause point
 * yields: sliceMs 0), and a reference list is updated at once. Once everything settled, a file
 * that MapFile does not call stale must hold exactly the reference's unexpired entries, and after
 * a check against the reference it must in any case (txt map, SDBM pages, nginx geo block).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('../../../src/yielding.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../../src/yielding.js')>();
  return { ...orig, runYielding: <T>(steps: Parameters<typeof orig.runYielding<T>>[0]) => orig.runYielding(steps, 0) };
});

const { ApacheMapEnforcer, SDBM_PAGE_BYTES, buildSdbm, apacheKeys, timeStamp } = await import('../../../src/enforce/apache-map.js');
const { NginxMapEnforcer, renderNginxGeo, renderNginxGeoParts } = await import('../../../src/enforce/nginx-map.js');
const { MapFile: MapFileClass } = await import('../../../src/enforce/map-file.js');
import type { EnforcerBan, EnforcerBatch } from '../../../src/enforce/enforcer.js';
import type { MapEntry, MapFile } from '../../../src/enforce/map-file.js';
import { clientAddress } from '../../../src/enforce/iptables-args.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { rng } from '../../support/random.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const byIp = (a: MapEntry, b: MapEntry): number => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);

/** The address universe: IPv4, IPv6, IPv4-compatible IPv6 (two keys in the Apache maps). */
function universe(n: number): { ip: string; family: 4 | 6 }[] {
  const out: { ip: string; family: 4 | 6 }[] = [];
  for (let i = 0; i < n; i++) {
    const raw = i % 3 === 0 ? `198.18.${(i >>> 8) & 255}.${i & 255}` : i % 3 === 1 ? `2001:db8:${(i >>> 4).toString(16)}::${(i & 15) + 1}` : `::c612:${(i & 0xffff).toString(16)}`;
    const c = clientAddress(raw);
    if ('reason' in c) throw new Error(raw);
    out.push(c);
  }
  return out;
}

type Ref = Map<string, { family: 4 | 6; until: number | null }>;

function expectedEntries(ref: Ref, now: number): MapEntry[] {
  const out: MapEntry[] = [];
  for (const [ip, v] of ref) if (v.until === null || v.until > now) out.push({ ip, family: v.family, until: v.until });
  return out.sort(byIp);
}

async function apacheContent(path: string): Promise<{ lines: string[]; dir: Buffer; pag: Buffer }> {
  const txt = await readFile(path, 'latin1');
  const cur = join(`${path}.sdbm`, 'current');
  return {
    lines: txt.split('\n').filter((l) => l !== '' && !l.startsWith('#')),
    dir: await readFile(join(cur, 'map.dir')),
    pag: await readFile(join(cur, 'map.pag')),
  };
}

function apacheWanted(entries: readonly MapEntry[]): { lines: string[]; dir: Buffer; pag: Buffer } {
  const lines: string[] = [];
  for (const e of entries) for (const k of apacheKeys(e)) lines.push(`${k} ${timeStamp(e.until)}`);
  const img = buildSdbm(entries);
  let top = -1;
  for (const n of img.pages.keys()) if (n > top) top = n;
  const pag = Buffer.alloc((top + 1) * SDBM_PAGE_BYTES);
  for (const [n, p] of img.pages) p.copy(pag, n * SDBM_PAGE_BYTES);
  return { lines, dir: img.dir, pag };
}

async function nginxContent(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => /^ {4}[0-9a-f:.]+\/\d+ 1;$/.test(l)).map((l) => l.trim());
}
const nginxWanted = (entries: readonly MapEntry[]): string[] => entries.map((e) => `${e.ip}/${e.family === 4 ? 32 : 128} 1;`);

interface Harness {
  readonly map: MapFile;
  content(): Promise<unknown>;
  wanted(entries: readonly MapEntry[]): unknown;
  /** The content without entries the reference has expired by `now` (an earlier write lists them: nginx cannot compare times). */
  dropExpired(got: unknown, ref: Ref, now: number): unknown;
  comparable(wanted: unknown): unknown;
  /** Called once every call settled (the failing disk has room again). */
  settled?(): void;
}

async function run(seed: number, h: Harness, clock: ManualClock, steps: number, failures = false): Promise<void> {
  const r = rng(seed);
  const U = universe(4000);
  const ref: Ref = new Map();
  const map = h.map;
  const pending = new Set<Promise<unknown>>();
  const errors: unknown[] = [];
  let yielding = 0;
  const track = (p: Promise<unknown>): void => {
    const q = p.catch((e: unknown) => void errors.push(e)).finally(() => pending.delete(q));
    pending.add(q);
  };
  const until = (): number | null => (r() < 0.2 ? null : clock.now() + Math.floor(r() * 4000) - 500);
  const batch = (size: number): EnforcerBatch => {
    const ban: EnforcerBan[] = [];
    const unban: { ip: string; family: 4 | 6 }[] = [];
    for (let i = 0; i < size; i++) {
      const a = U[Math.floor(r() * U.length)]!;
      if (r() < 0.3) unban.push({ ip: a.ip, family: a.family });
      else ban.push({ ip: a.ip, family: a.family, until: until() });
    }
    return { ban, unban } as EnforcerBatch;
  };
  const applyRef = (b: EnforcerBatch): void => {
    for (const u of b.unban) ref.delete(u.ip);
    for (const x of b.ban) ref.set(x.ip, { family: x.family, until: x.until });
  };
  /** The ban book: the reference, some entries dropped, some added, some expiries changed; it becomes the reference. */
  const book = (): EnforcerBan[] => {
    const out: EnforcerBan[] = [];
    for (const [ip, v] of ref) if (r() >= 0.05) out.push({ ip, family: v.family, until: r() < 0.05 ? until() : v.until } as EnforcerBan);
    for (let i = 0; i < 50; i++) {
      const a = U[Math.floor(r() * U.length)]!;
      out.push({ ip: a.ip, family: a.family, until: until() } as EnforcerBan);
    }
    const now = clock.now();
    ref.clear();
    for (const b of out) {
      if (b.until !== null && b.until <= now) continue;
      const prev = ref.get(b.ip);
      if (prev && (prev.until === null || (b.until !== null && prev.until >= b.until))) continue;
      ref.set(b.ip, { family: b.family, until: b.until });
    }
    return out;
  };

  // A big start, as at boot.
  const first = batch(3000);
  applyRef(first);
  map.update(first);
  await map.write().catch((e: unknown) => {
    if (!failures) throw e;
  });

  for (let s = 0; s < steps; s++) {
    const k = r();
    if (k < 0.25 && yielding === 0) {
      const b = batch(1 + Math.floor(r() * 2500));
      applyRef(b);
      yielding++;
      track(map.updateYielding(b).finally(() => yielding--));
    } else if (k < 0.35 && yielding === 0) {
      const b = batch(1 + Math.floor(r() * 20));
      applyRef(b);
      map.update(b);
    } else if (k < 0.6) track(map.write());
    else if (k < 0.75) track(map.check(r() < 0.5 ? book : undefined));
    else if (k < 0.8) track(map.touch());
    else if (k < 0.82 && yielding === 0) {
      ref.clear();
      track(map.clear());
    } else if (k < 0.9) clock.advance(Math.floor(r() * 300));
    const turns = Math.floor(r() * 4);
    for (let t = 0; t < turns; t++) await turn();
  }
  for (let i = 0; i < 10_000 && pending.size > 0; i++) await Promise.allSettled([...pending]);
  expect(pending.size).toBe(0);
  h.settled?.();
  if (failures) expect(errors.every((e) => (e as { code?: string }).code === 'BH_ERR_FILE')).toBe(true);
  else expect(errors).toEqual([]);
  // A file MapFile does not call stale holds the reference, but for entries that expired since it
  // was written (the write's time is not the clock's now): those are left out of the comparison.
  const stale = (map as unknown as { stale: boolean }).stale;
  if (!stale) {
    const now = clock.now();
    const got = await h.content();
    const want = h.wanted(expectedEntries(ref, now));
    expect(h.dropExpired(got, ref, now)).toEqual(h.comparable(want));
  }
  await map.check(() => [...ref].map(([ip, v]) => ({ ip, family: v.family, until: v.until }) as EnforcerBan));
  expect(await h.content()).toEqual(h.wanted(expectedEntries(ref, clock.now())));
}

const live = (ref: Ref, ip: string, now: number): boolean => {
  const v = ref.get(ip);
  return v === undefined || v.until === null || v.until > now;
};
const nginxDrop = (got: unknown, ref: Ref, now: number): unknown => (got as string[]).filter((l) => live(ref, l.slice(0, l.indexOf('/')), now));
/** Apache: txt lines only (SDBM pages compared after the check); an expired stamp is harmless there. */
const apacheDrop = (got: unknown, ref: Ref, now: number): unknown => {
  const g = got as { lines: string[] };
  return g.lines.filter((l) => {
    const key = l.slice(0, l.indexOf(' '));
    const c = clientAddress(key);
    return 'reason' in c ? true : live(ref, c.ip, now);
  });
};

describe('map writer under interleaved calls (model-based)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h32-model-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`nginx-map, seed ${seed}: the file ends as the reference`, async () => {
      const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
      const path = join(dir, 'geo.conf');
      const e = new NginxMapEnforcer({ path, clock, runner: { run: async () => ({ stdout: '', stderr: '' }) } as never });
      await e.init();
      await run(seed, { map: e.map, content: () => nginxContent(path), wanted: nginxWanted, dropExpired: nginxDrop, comparable: (w) => w }, clock, 300);
    }, 15_000);
  }
  for (const seed of [11, 12, 13, 14]) {
    it(`apache-map, seed ${seed}: the txt map and the SDBM map end as the reference`, async () => {
      const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
      const path = join(dir, 'banned.map');
      const e = new ApacheMapEnforcer({ path, clock });
      await e.init();
      await run(seed, { map: e.map, content: () => apacheContent(path), wanted: apacheWanted, dropExpired: apacheDrop, comparable: (w) => (w as { lines: string[] }).lines }, clock, 150);
    }, 15_000);
  }

  for (const seed of [21, 22, 23, 24]) {
    it(`failing writes (companion, seed ${seed}): the file and the companion end as the reference once writes succeed`, async () => {
      const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
      const path = join(dir, 'geo.conf');
      const r = rng(seed * 7);
      let failing = true;
      let companionHas: string[] = [];
      const companion = {
        write: async (entries: readonly MapEntry[]): Promise<void> => {
          await turn();
          if (failing && r() < 0.4) throw Object.assign(new Error('no space left'), { code: 'ENOSPC' });
          companionHas = nginxWanted(entries);
        },
        check: async (): Promise<string | null> => null,
      };
      const map = new MapFileClass({ path, clock, owner: 'test', render: (e) => renderNginxGeo(e), renderParts: (e) => renderNginxGeoParts(e), companion });
      await map.init().catch(() => undefined);
      const content = async (): Promise<unknown> => ({ file: await nginxContent(path), companion: companionHas });
      await run(seed, {
        map,
        content,
        settled: () => {
          failing = false;
        },
        wanted: (e) => ({ file: nginxWanted(e), companion: nginxWanted(e) }),
        dropExpired: (got, ref, now) => {
          const g = got as { file: string[]; companion: string[] };
          return { file: nginxDrop(g.file, ref, now), companion: nginxDrop(g.companion, ref, now) };
        },
        comparable: (w) => w,
      }, clock, 300, true);
    }, 15_000);
  }
});
