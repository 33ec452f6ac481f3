/**
 * H26: a new SDBM version must be durable before `current` names it: its files (data and the
 * mtimes set after writing), the version directory, and the root holding the version's entry and
 * the new link, each fsynced before the rename. The version directory was never fsynced (nor the
 * root before the rename): a power loss after the swap could leave `current` naming a directory
 * with missing or empty files. A failure of any of these fsyncs comes before the swap: the write
 * fails, the previous version stays served, the new one is removed. A file system that cannot fsync
 * a directory at all (EINVAL) does not fail the write.
 */
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MapEntry } from '../../../src/enforce/map-file.js';

/** What the module did, in order: `sync <path>`, `utimes <path>`, `rename <to>`. */
const events: string[] = [];
/** Paths whose fsync fails, with the error code. */
const failSync = new Map<string, string>();
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (path: string, flags?: string, mode?: number) => {
      const fh = await real.open(path, flags, mode);
      const sync = fh.sync.bind(fh);
      const datasync = fh.datasync.bind(fh);
      fh.sync = async () => {
        events.push(`sync ${String(path)}`);
        const code = failSync.get(String(path));
        if (code !== undefined) throw Object.assign(new Error(`${code}: fsync '${String(path)}'`), { code });
        return sync();
      };
      fh.datasync = async () => {
        events.push(`datasync ${String(path)}`);
        return datasync();
      };
      return fh;
    },
    utimes: async (path: string, a: number, m: number) => {
      events.push(`utimes ${String(path)}`);
      return real.utimes(path, a, m);
    },
    rename: async (from: string, to: string) => {
      events.push(`rename ${String(to)}`);
      return real.rename(from, to);
    },
  };
});

const { SdbmMap } = await import('../../../src/enforce/apache-map.js');
const ban = (ip: string): MapEntry => ({ ip, family: 6, until: null });
const FILES = ['map.dir', 'map.pag', 'overflow.map'];

describe('SdbmMap: the new version is fsynced before the swap', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h26-fsync-'));
    events.length = 0;
  });
  afterEach(async () => {
    failSync.clear();
    await rm(dir, { recursive: true, force: true });
  });

  it('files after their mtimes were set, then the version directory, then the root, all before the rename', async () => {
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    events.length = 0;
    await m.write([ban('2001:db8::1')], Date.now());
    const name = await readlink(join(m.root, 'current'));
    const vdir = join(m.root, name);
    const swap = events.indexOf(`rename ${join(m.root, 'current')}`);
    expect(swap).toBeGreaterThan(0);
    const before = events.slice(0, swap);
    for (const f of FILES) {
      const synced = before.lastIndexOf(`sync ${join(vdir, f)}`);
      expect(synced, f).toBeGreaterThan(before.lastIndexOf(`utimes ${join(vdir, f)}`));
    }
    const dirSync = before.lastIndexOf(`sync ${vdir}`);
    expect(dirSync).toBeGreaterThan(Math.max(...FILES.map((f) => before.lastIndexOf(`sync ${join(vdir, f)}`))));
    expect(before.lastIndexOf(`sync ${m.root}`)).toBeGreaterThan(dirSync);
    // and the root again after the rename, which makes the swap itself durable
    expect(events.slice(swap).includes(`sync ${m.root}`)).toBe(true);
  });

  for (const which of ['version directory', 'version file map.pag', 'root before the swap'] as const) {
    it(`an fsync of the ${which} failing (EIO): the write fails, the previous version stays served, the new one is removed`, async () => {
      const m = new SdbmMap(join(dir, 'banned.map'));
      await m.init();
      await m.write([ban('2001:db8::1')], Date.now());
      const previous = await readlink(join(m.root, 'current'));
      const overflowBefore = await readFile(join(m.root, previous, 'overflow.map'), 'latin1');
      const pagBefore = await readFile(join(m.root, previous, 'map.pag'));
      const versionsBefore = (await readdir(m.root)).filter((n) => n.startsWith('v-')).sort();
      // The next version's name is not known before the write: fail by a path prefix check instead.
      const realGet = failSync.get.bind(failSync);
      failSync.get = (path: string): string | undefined => {
        if (!path.startsWith(`${m.root}/v-`) && path !== m.root) return realGet(path);
        const inNew = path.startsWith(`${m.root}/v-`) && !path.startsWith(join(m.root, previous));
        if (which === 'version directory' && inNew && !FILES.some((f) => path.endsWith(`/${f}`))) return 'EIO';
        if (which === 'version file map.pag' && inNew && path.endsWith('/map.pag')) return 'EIO';
        if (which === 'root before the swap' && path === m.root) return 'EIO';
        return realGet(path);
      };
      await expect(m.write([ban('2001:db8::1'), ban('2001:db8::2')], Date.now())).rejects.toMatchObject({ code: 'EIO' });
      expect(await readlink(join(m.root, 'current'))).toBe(previous);
      expect(await readFile(join(m.root, previous, 'map.pag'))).toEqual(pagBefore);
      expect(await readFile(join(m.root, previous, 'overflow.map'), 'latin1')).toBe(overflowBefore);
      expect((await readdir(m.root)).filter((n) => n.startsWith('v-')).sort()).toEqual(versionsBefore);
      // no temp link left behind either
      expect((await readdir(m.root)).filter((n) => n.startsWith('.current.tmp-'))).toEqual([]);
      expect(await m.check()).toBeNull();
      // The next write, with the file system well again, succeeds.
      failSync.get = realGet;
      await m.write([ban('2001:db8::1'), ban('2001:db8::2')], Date.now());
      expect(await readlink(join(m.root, 'current'))).not.toBe(previous);
      expect(await m.check()).toBeNull();
    });
  }

  it('a file system that cannot fsync a directory (EINVAL) does not fail the write', async () => {
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    const previous = await readlink(join(m.root, 'current'));
    const realGet = failSync.get.bind(failSync);
    failSync.get = (path: string): string | undefined => (path === m.root || (path.startsWith(`${m.root}/v-`) && !FILES.some((f) => path.endsWith(`/${f}`))) ? 'EINVAL' : realGet(path));
    await m.write([ban('2001:db8::3')], Date.now());
    expect(await readlink(join(m.root, 'current'))).not.toBe(previous);
    expect(await m.check()).toBeNull();
  });
});
