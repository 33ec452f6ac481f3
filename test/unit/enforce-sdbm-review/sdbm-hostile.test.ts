/**
 * H21: hostile review of apache-map's SDBM writer (src/enforce/apache-map.ts, SdbmMap/buildSdbm).
 * The SDBM hash is public and polynomial (n = c + 65599·n mod 2^32), so an attacker holding an IPv6
 * prefix computes, with a meet-in-the-middle table and no brute force, as many addresses as he likes
 * whose hashes share the low 24 bits (every bit a page number may use): each such group of more than
 * a page's worth of keys drives one path of the tree to the deepest split. Here:
 * - 20,000 such groups (380,000 bans, ~170,000 .dir bits): the map still builds (it once took the
 *   highest bit with Math.max(...bits), which throws RangeError past ~125,000 arguments: every write
 *   failed, no new ban reached Apache);
 * - a `<map>.sdbm` directory someone else can write (planted before the agent, or made group/world
 *   writable) is refused, not written into as root;
 * - a `current` that is a directory, and a temp link left by an earlier process with the same pid
 *   (a container's agent has the same pid at every start), do not make the writes fail.
 * - bans pushed into overflow.map (the txt map Apache reads line by line) are reported, with their
 *   number, every time it changes (they were counted, and nothing read the count).
 * The APR library itself reads the maps in test/integration/apache-map-sdbm-review.
 */
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer, SDBM_PAGE_BYTES, SdbmMap, buildSdbm, sdbmHash } from '../../../src/enforce/apache-map.js';
import type { MapEntry } from '../../../src/enforce/map-file.js';
import { collidingGroups } from './colliding-keys.js';


const ban = (ip: string): MapEntry => ({ ip, family: 6, until: null });
const sorted = (es: MapEntry[]): MapEntry[] => es.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));

describe('buildSdbm against crafted hash collisions', () => {
  it('the generator is right: each group shares the low 24 hash bits', () => {
    for (const g of collidingGroups(3, 20)) {
      expect(g).toHaveLength(20);
      expect(new Set(g.map((k) => sdbmHash(Buffer.from(k)) & 0xffffff)).size).toBe(1);
    }
  });

  it('20,000 groups driving paths to the deepest split (~170,000 .dir bits) still build', () => {
    const groups = collidingGroups(20_000, 19);
    const entries = sorted([...new Set(groups.flat())].map(ban));
    // At depth 24 (the cap before H26): ~170,000 .dir bits, more than a spread argument list takes.
    const img = buildSdbm(entries, 24);
    // 38-byte keys, 14-byte values: a page holds 18 of a group's 19; the 19th of each group overflows.
    expect(img.overflow).toHaveLength(20_000);
    expect(img.keys).toBe(entries.length);
    expect(img.dir.length).toBeGreaterThan(1 << 20);
    // At the default cap (SDBM_MAX_DEPTH, 20) the .dir stays within 2^21 bits (256 KiB).
    const capped = buildSdbm(entries);
    expect(capped.overflow).toHaveLength(20_000);
    expect(capped.dir.length).toBeLessThanOrEqual(1 << 18);
    expect([...img.pages.values()].every((p) => p.length === SDBM_PAGE_BYTES)).toBe(true);
  }, 60_000);
});

describe('SdbmMap in a hostile directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-hostile-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a <map>.sdbm directory that others can write (group or world)', async () => {
    for (const mode of [0o777, 0o775, 0o757, 0o1777]) {
      const root = join(dir, `m${mode.toString(8)}.map.sdbm`);
      await mkdir(root);
      await chmod(root, mode);
      const m = new SdbmMap(join(dir, `m${mode.toString(8)}.map`));
      await expect(m.init()).rejects.toMatchObject({ code: 'BH_ERR_FILE' });
      await expect(m.write([ban('2001:db8::1')], Date.now())).rejects.toMatchObject({ code: 'BH_ERR_FILE' });
      await expect(lstat(join(root, 'current'))).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a <map>.sdbm directory owned by another user (as root)', async () => {
    const root = join(dir, 'banned.map.sdbm');
    await mkdir(root, { mode: 0o755 });
    await chown(root, 65534, 65534);
    const m = new SdbmMap(join(dir, 'banned.map'));
    await expect(m.init()).rejects.toMatchObject({ code: 'BH_ERR_FILE' });
    await expect(lstat(join(root, 'current'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a `current` that is a directory (not our symlink) is replaced, and the write succeeds', async () => {
    const root = join(dir, 'banned.map.sdbm');
    await mkdir(join(root, 'current'), { recursive: true, mode: 0o755 });
    await writeFile(join(root, 'current', 'map.dir'), 'planted');
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    await m.write([ban('2001:db8::1')], Date.now());
    expect((await lstat(join(root, 'current'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(root, 'current'))).toMatch(/^v-/);
    expect((await stat(join(m.readerPath + '.pag'))).size).toBeGreaterThan(0);
    expect(await m.check()).toBeNull();
  });

  it('a `current` and versions pointing outside: nothing outside is written or removed', async () => {
    const outside = join(dir, 'outside');
    await mkdir(join(outside, 'sub'), { recursive: true });
    for (const f of ['map.dir', 'map.pag', 'overflow.map', 'sub/keep']) await writeFile(join(outside, f), 'precious');
    const root = join(dir, 'banned.map.sdbm');
    await mkdir(join(root, 'v-planted'), { recursive: true, mode: 0o755 });
    await chmod(root, 0o755);
    await symlink('../outside', join(root, 'current'));
    await symlink(outside, join(root, 'v-evil'));
    await symlink(join(outside, 'sub'), join(root, 'v-planted', 'inner'));
    await symlink(outside, join(root, `.current.tmp-1-1`));
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    // A `current` the agent did not make (not one of its version names) is not kept, even at start.
    expect(await readlink(join(root, 'current'))).toMatch(/^v-[0-9a-z]+-\d+-\d+$/);
    await m.write([ban('2001:db8::1')], Date.now());
    await m.write([ban('2001:db8::2')], Date.now());
    expect(await readlink(join(root, 'current'))).toMatch(/^v-[0-9a-z]+-\d+-\d+$/);
    for (const f of ['map.dir', 'map.pag', 'overflow.map', 'sub/keep']) expect(await readFile(join(outside, f), 'utf8')).toBe('precious');
    const left = (await readdir(root)).sort();
    expect(left.filter((n) => n.startsWith('v-'))).toHaveLength(2); // the current version and the one before
    expect(left).not.toContain('v-evil');
    expect(left).not.toContain('v-planted');
    expect(left).not.toContain('.current.tmp-1-1');
  });

  it('a temp link left by an earlier process with our pid does not fail a write', async () => {
    const root = join(dir, 'banned.map.sdbm');
    await mkdir(root, { mode: 0o755 });
    for (let seq = 1; seq <= 3; seq++) await symlink('v-gone', join(root, `.current.tmp-${process.pid}-${seq}`));
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    for (let i = 0; i < 3; i++) await m.write([ban(`2001:db8::${i + 1}`)], Date.now());
    expect(await m.check()).toBeNull();
  });
});

describe('overflow.map is reported', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-overflow-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('every change of the number of bans SDBM could not hold is told, with the count', async () => {
    const told: [number, string][] = [];
    const enf = new ApacheMapEnforcer({ path: join(dir, 'banned.map'), onOverflow: (n, msg) => told.push([n, msg]) });
    await enf.init();
    const group = collidingGroups(1, 30)[0]!;
    expect(group).toHaveLength(30);
    await enf.apply({ ban: group.map((ip) => ({ ip, family: 6 as const, until: null })), unban: [] });
    // 38-byte keys: a page holds 18 of them, so 12 are in overflow.map.
    expect(enf.overflowEntries).toBe(12);
    expect(told).toHaveLength(1);
    expect(told[0]![0]).toBe(12);
    expect(told[0]![1]).toContain('12 ban(s)');
    expect(told[0]![1]).toContain('overflow.map');
    // Unchanged: not told again.
    await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] });
    expect(told).toHaveLength(1);
    await enf.apply({ ban: [], unban: group.map((ip) => ({ ip, family: 6 as const })) });
    expect(enf.overflowEntries).toBe(0);
    expect(told.map(([n]) => n)).toEqual([12, 0]);
  });
});

describe('modes Apache needs, whatever the umask', () => {
  let dir: string;
  let umask: number;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-umask-'));
    umask = process.umask(0o077); // a hardened service manager's, say
  });
  afterEach(async () => {
    process.umask(umask);
    await rm(dir, { recursive: true, force: true });
  });

  it('the .sdbm directory and every version directory are 0755, the files 0644', async () => {
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    await m.write([ban('2001:db8::1')], Date.now());
    expect((await stat(m.root)).mode & 0o7777).toBe(0o755);
    const version = join(m.root, await readlink(join(m.root, 'current')));
    expect((await stat(version)).mode & 0o7777).toBe(0o755);
    for (const f of ['map.dir', 'map.pag', 'overflow.map']) expect((await stat(join(version, f))).mode & 0o7777).toBe(0o644);
    // and the next start accepts the directory it made
    await new SdbmMap(join(dir, 'banned.map')).init();
  });
});
