/**
 * H32: SdbmMap's writes run one after the other (write()), and a touch (new mtimes for the current
 * version: ApacheMapEnforcer.check, once a minute) must not run beside one either: a touch of the
 * version that a write replaces meanwhile, ending after it, made SdbmMap remember the old version as
 * the one it wrote (the next check called the map "changed from outside" and rewrote it), and both
 * set mtimes from the same last one (the new version could get the touched old one's mtime: Apache
 * would keep its cached answers, misses included, for the new version).
 */
import { mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/** utimes of files whose path contains this are slowed down (a busy disk). */
const slow = { part: '\0none' };
vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...orig,
    utimes: async (...args: Parameters<typeof orig.utimes>) => {
      if (String(args[0]).includes(slow.part)) await new Promise((r) => setTimeout(r, 60));
      return orig.utimes(...args);
    },
  };
});

const { SdbmMap } = await import('../../../src/enforce/apache-map.js');

describe('SdbmMap: a touch and a write asked for together', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h32-touch-'));
  });
  afterEach(async () => {
    slow.part = '\0none';
    await rm(dir, { recursive: true, force: true });
  });

  it('do not run beside each other: the new version is the one remembered, its mtime past the touched one', async () => {
    const sdbm = new SdbmMap(join(dir, 'banned.map'));
    await sdbm.init();
    const now = Date.now();
    await sdbm.write([{ ip: '198.18.0.1', family: 4, until: null }], now);
    const v1 = await readlink(join(sdbm.root, 'current'));
    slow.part = v1; // the touch of v1 is slow
    const touching = sdbm.touch();
    const writing = sdbm.write([{ ip: '198.18.0.2', family: 4, until: null }], now);
    await Promise.all([touching, writing]);
    const v2 = await readlink(join(sdbm.root, 'current'));
    expect(v2).not.toBe(v1);
    expect(await sdbm.check()).toBeNull();
    const mt = async (v: string): Promise<bigint> => {
      let m = 0n;
      for (const f of ['map.dir', 'map.pag']) {
        const st = await stat(join(sdbm.root, v, f), { bigint: true });
        if (st.mtimeNs / 1000n > m) m = st.mtimeNs / 1000n;
      }
      return m;
    };
    expect(await mt(v2)).toBeGreaterThan(await mt(v1));
  }, 15_000);
});
