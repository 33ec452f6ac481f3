/**
 * H19: apache-map's SDBM map (src/enforce/apache-map.ts): the bytes buildSdbm lays out, read back
 * the way apr-util's sdbm.c reads them (below: getpage's walk of the .dir bitmap, read_from's
 * "a short read is a block of zeros", the page's pair offsets), and SdbmMap's versions: the
 * `current` symlink swapped by one rename, every version's mtimes past the one before (mod_rewrite's
 * cache is keyed by them), old versions removed, modes, init/check. The real Apache reads them in
 * test/integration/apache-map-dbm.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer, SDBM_PAGE_BYTES, SdbmMap, buildSdbm, sdbmHash, timeStamp } from '../../../src/enforce/apache-map.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import type { MapEntry } from '../../../src/enforce/map-file.js';

/** apr_sdbm_fetch on the two files' bytes, as sdbm.c does it; null for a miss. */
function sdbmFetch(dir: Buffer, pag: Buffer, key: string): string | null {
  const k = Buffer.from(key, 'latin1');
  const hash = sdbmHash(k);
  const maxbno = dir.length * 8;
  const getdbit = (dbit: number): boolean => {
    const c = Math.floor(dbit / 8);
    const block = dir.subarray(Math.floor(c / 4096) * 4096, Math.floor(c / 4096) * 4096 + 4096);
    if (block.length < 4096) return false; // read_from: EOF inside the block reads as zeros
    return (block[c % 4096]! & (1 << dbit % 8)) !== 0;
  };
  let dbit = 0;
  let hbit = 0;
  while (dbit < maxbno && getdbit(dbit)) dbit = 2 * dbit + ((hash >>> hbit++) & 1 ? 2 : 1);
  const pagb = hash % 2 ** hbit;
  const page = pag.subarray(pagb * SDBM_PAGE_BYTES, (pagb + 1) * SDBM_PAGE_BYTES);
  if (page.length < SDBM_PAGE_BYTES) return null;
  const short = (i: number): number => (endianness() === 'LE' ? page.readInt16LE(2 * i) : page.readInt16BE(2 * i));
  const n = short(0);
  // chkpage
  expect(n >= 0 && n <= SDBM_PAGE_BYTES / 2).toBe(true);
  let off = SDBM_PAGE_BYTES;
  for (let i = 1; i < n; i += 2) {
    const ko = short(i);
    const vo = short(i + 1);
    expect(ko <= off && vo <= off && vo <= ko).toBe(true);
    if (page.subarray(ko, off).equals(k)) return page.subarray(vo, ko).toString('latin1');
    off = vo;
  }
  return null;
}

const v6 = (i: number): string => `2001:db8:${(i >>> 16).toString(16)}::${(i & 0xffff).toString(16)}`;
const entriesOf = (n: number, until: number | null): MapEntry[] =>
  Array.from({ length: n }, (_, i) => ({ ip: v6(i), family: 6 as const, until })).sort((a, b) => (a.ip < b.ip ? -1 : 1));

describe('buildSdbm', () => {
  it('matches APR sdbm_hash', () => {
    // n = c + 65599 * n (mod 2^32), computed here with BigInt.
    for (const s of ['', 'a', '198.18.0.9', '2001:db8::9', '::198.18.0.9']) {
      let n = 0n;
      for (const c of Buffer.from(s)) n = (BigInt(c) + 65599n * n) % 2n ** 32n;
      expect(sdbmHash(Buffer.from(s))).toBe(Number(n));
      expect(sdbmHash(s)).toBe(Number(n)); // the string form the builder uses: the same bytes
    }
  });

  it('every key of 30,000 bans is found with its stamp, in whole .dir blocks; others miss', () => {
    const until = Date.now() + 3600_000;
    const img = buildSdbm(entriesOf(30_000, until));
    expect(img.overflow).toEqual([]);
    expect(img.dir.length % 4096).toBe(0); // SDBM reads a short block as zeros: every split would vanish
    expect(img.dir.length).toBeGreaterThan(0);
    const pag = Buffer.alloc((Math.max(...img.pages.keys()) + 1) * SDBM_PAGE_BYTES);
    for (const [n, p] of img.pages) p.copy(pag, n * SDBM_PAGE_BYTES);
    for (let i = 0; i < 30_000; i++) expect(sdbmFetch(img.dir, pag, v6(i))).toBe(timeStamp(until));
    for (let i = 30_000; i < 31_000; i++) expect(sdbmFetch(img.dir, pag, v6(i))).toBeNull();
    expect(sdbmFetch(img.dir, pag, '198.18.0.9')).toBeNull();
  });

  it('an empty list is an empty map; IPv4 and ::/96 keys as APR prints them', () => {
    const empty = buildSdbm([]);
    expect(empty.dir.length).toBe(0);
    expect(empty.pages.size).toBe(0);
    const img = buildSdbm([
      { ip: '198.18.0.9', family: 4, until: null },
      { ip: '::c612:9', family: 6, until: null },
    ]);
    const pag = img.pages.get(0)!;
    expect(sdbmFetch(img.dir, pag, '198.18.0.9')).toBe('99991231235959');
    expect(sdbmFetch(img.dir, pag, '::c612:9')).toBe('99991231235959');
    expect(sdbmFetch(img.dir, pag, '::198.18.0.9')).toBe('99991231235959');
    expect(sdbmFetch(img.dir, pag, '::ffff:198.18.0.9')).toBeNull();
  });

  it('keys no page can hold at the deepest split go to overflow, never lost', () => {
    const all = entriesOf(2000, null);
    const img = buildSdbm(all, 3); // at most 8 pages
    expect(img.overflow.length).toBeGreaterThan(1000);
    const pag = Buffer.alloc(8 * SDBM_PAGE_BYTES);
    for (const [n, p] of img.pages) p.copy(pag, n * SDBM_PAGE_BYTES);
    const over = new Set(img.overflow.map((e) => e.ip));
    for (const e of all) expect(sdbmFetch(img.dir, pag, e.ip) !== null || over.has(e.ip)).toBe(true);
  });
});

describe('SdbmMap', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const versionMtimesUs = async (m: SdbmMap): Promise<bigint[]> =>
    Promise.all(['map.dir', 'map.pag', 'overflow.map'].map(async (f) => (await stat(join(m.root, 'current', f), { bigint: true })).mtimeNs / 1000n));

  it('each write is a new version behind one symlink, its files past every earlier mtime even within one millisecond; two versions kept', async () => {
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    let before = await versionMtimesUs(m);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      await m.write(entriesOf(50 + i, null), Date.now());
      const now = await versionMtimesUs(m);
      const oldest = now.reduce((a, b) => (a < b ? a : b));
      expect(oldest > before.reduce((a, b) => (a > b ? a : b))).toBe(true);
      before = now;
      const cur = await readlink(join(m.root, 'current'));
      expect(cur).toMatch(/^v-/);
      expect(seen.has(cur)).toBe(false);
      seen.add(cur);
      expect((await readdir(m.root)).filter((n) => n.startsWith('v-')).length).toBeLessThanOrEqual(2);
      expect((await readdir(m.root)).filter((n) => !n.startsWith('v-') && n !== 'current')).toEqual([]);
    }
    expect((await stat(m.root)).mode & 0o777).toBe(0o755);
    for (const f of ['map.dir', 'map.pag', 'overflow.map']) expect((await stat(join(m.root, 'current', f))).mode & 0o777).toBe(0o644);
    expect((await lstat(join(m.root, 'current'))).isSymbolicLink()).toBe(true);
    // touch(): the same version, later mtimes.
    const cur = await readlink(join(m.root, 'current'));
    await m.touch();
    expect(await readlink(join(m.root, 'current'))).toBe(cur);
    const touched = await versionMtimesUs(m);
    expect(touched.every((t) => t > before.reduce((a, b) => (a > b ? a : b)))).toBe(true);
    expect(await m.check()).toBeNull();
  });

  it('check() reports a version replaced or removed from outside', async () => {
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    expect(await m.check()).toBeNull();
    await mkdir(join(m.root, 'v-other'));
    await symlink('v-other', join(m.root, 'x'));
    await (await import('node:fs/promises')).rename(join(m.root, 'x'), join(m.root, 'current'));
    expect(await m.check()).toMatch(/changed from outside/);
    await m.write([], Date.now());
    expect(await m.check()).toBeNull();
    await rm(m.root, { recursive: true });
    expect(await m.check()).toMatch(/missing/);
  });

  it('init() keeps a current version (a crashed agent\'s bans), writes one when there is none, and clears leftovers', async () => {
    const path = join(dir, 'banned.map');
    const first = new SdbmMap(path);
    await first.init();
    await first.write(entriesOf(10, null), Date.now());
    const cur = await readlink(join(first.root, 'current'));
    await mkdir(join(first.root, 'v-leftover'));
    await symlink('v-leftover', join(first.root, '.current.tmp-999999-1'));
    const second = new SdbmMap(path);
    await second.init();
    expect(await readlink(join(second.root, 'current'))).toBe(cur);
    expect((await readdir(second.root)).sort()).toEqual([cur, 'current'].sort());
    // Its next version is still later than the one it adopted.
    const adopted = (await stat(join(second.root, 'current', 'map.pag'), { bigint: true })).mtimeNs;
    await second.write([], Date.now());
    expect((await stat(join(second.root, 'current', 'map.pag'), { bigint: true })).mtimeNs / 1000n > adopted / 1000n).toBe(true);
  });

  it('something other than a directory in its place is a BH_ERR_FILE; nothing is written through a symlink', async () => {
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
    await symlink(elsewhere, join(dir, 'banned.map.sdbm'));
    const m = new SdbmMap(join(dir, 'banned.map'));
    const e = await m.init().then(() => null, (x: unknown) => x as { code?: string; message?: string });
    expect(e?.code).toBe('BH_ERR_FILE');
    expect(e?.message).toContain('symbolic link');
    expect(await readdir(elsewhere)).toEqual([]);
    await rm(join(dir, 'banned.map.sdbm'));
    await writeFile(join(dir, 'banned.map.sdbm'), 'x');
    const f = await new SdbmMap(join(dir, 'banned.map')).init().then(() => null, (x: unknown) => x as { code?: string });
    expect(f?.code).toBe('BH_ERR_FILE');
    expect(await readFile(join(dir, 'banned.map.sdbm'), 'utf8')).toBe('x');
  });

  it('the enforcer gives the maps Apache reads new mtimes once refreshMs passes with no change (each child drops its cache)', async () => {
    const clock = new ManualClock(Date.now());
    const enf = new ApacheMapEnforcer({ path: join(dir, 'banned.map'), clock, refreshMs: 60_000 });
    await enf.init();
    await enf.apply({ ban: [{ ip: '198.18.0.9', family: 4, until: null }], unban: [] });
    const expected = () => [{ ip: '198.18.0.9', family: 4 as const, until: null }];
    const cur = await readlink(join(enf.sdbm.root, 'current'));
    const before = await versionMtimesUs(enf.sdbm);
    clock.advance(30_000);
    expect(await enf.check(expected)).toEqual([]);
    expect(await versionMtimesUs(enf.sdbm)).toEqual(before);
    clock.advance(30_000);
    expect(await enf.check(expected)).toEqual([]);
    const after = await versionMtimesUs(enf.sdbm);
    expect(after.every((t) => t > before.reduce((a, b) => (a > b ? a : b)))).toBe(true);
    expect(await readlink(join(enf.sdbm.root, 'current'))).toBe(cur); // same content, same version
  });
});
