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

/** Directories whose open() for reading (the fsync's) fails with EIO once, after as many more as given succeed. */
const failOpen = new Map<string, number>();
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (path: string, flags?: string, mode?: number) => {
      const skip = failOpen.get(String(path));
      if (skip !== undefined && flags === 'r') {
        if (skip > 0) failOpen.set(String(path), skip - 1);
        else {
          failOpen.delete(String(path));
          throw Object.assign(new Error(`EIO: i/o error, open '${String(path)}'`), { code: 'EIO' });
        }
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
    const previous = await readlink(join(m.root, 'current'));
    // The root's second fsync of the write: the one after the rename (the first, before it, makes
    // the new version's entry durable; a failure there leaves the previous version served).
    failOpen.set(m.root, 1);
    await m.write([ban('2001:db8::1')], Date.now()).catch(() => undefined);
    expect(failOpen.has(m.root)).toBe(false); // the failure did happen
    const name = await readlink(join(m.root, 'current'));
    expect(name).not.toBe(previous); // after the swap
    for (const f of ['map.dir', 'map.pag', 'overflow.map']) expect((await stat(join(m.root, name, f))).isFile()).toBe(true);
    expect((await lstat(join(m.root, name))).isDirectory()).toBe(true);
    // and the object knows it is the current version: nothing to repair, the next write prunes the rest
    expect(await m.check()).toBeNull();
    await m.write([ban('2001:db8::2')], Date.now());
    expect(await m.check()).toBeNull();
  });
});
