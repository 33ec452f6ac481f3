/**
 * H21: a failure after the `current` symlink was swapped (the directory fsync that makes the rename
 * durable) must not remove the version Apache now reads. It once did: the write's error path
 * removed the new version directory, leaving `current` dangling, so every lookup missed (every
 * banned client served) until a later write succeeded. Here the directory fsync fails (EIO) once.
 */
import { lstat, mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MapEntry } from '../../../src/enforce/map-file.js';

/** Directories whose next open() for reading (the fsync's) fails with EIO. */
const failOpen = new Set<string>();
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (path: string, flags?: string, mode?: number) => {
      if (failOpen.has(String(path)) && flags === 'r') {
        failOpen.delete(String(path));
        throw Object.assign(new Error(`EIO: i/o error, open '${String(path)}'`), { code: 'EIO' });
      }
      return real.open(path, flags, mode);
    },
  };
});

const { SdbmMap } = await import('../../../src/enforce/apache-map.js');
const ban = (ip: string): MapEntry => ({ ip, family: 6, until: null });

describe('SdbmMap: the swap done, a later failure keeps the new version', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-fsync-'));
  });
  afterEach(async () => {
    failOpen.clear();
    await rm(dir, { recursive: true, force: true });
  });

  it('current resolves to a complete version after the directory fsync fails', async () => {
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.init();
    failOpen.add(m.root);
    await m.write([ban('2001:db8::1')], Date.now()).catch(() => undefined);
    const name = await readlink(join(m.root, 'current'));
    for (const f of ['map.dir', 'map.pag', 'overflow.map']) expect((await stat(join(m.root, name, f))).isFile()).toBe(true);
    expect((await lstat(join(m.root, name))).isDirectory()).toBe(true);
    // and the object knows it is the current version: nothing to repair, the next write prunes the rest
    expect(await m.check()).toBeNull();
    await m.write([ban('2001:db8::2')], Date.now());
    expect(await m.check()).toBeNull();
  });
});
