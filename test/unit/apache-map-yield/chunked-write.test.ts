/**
 * H30: apache-map's txt map is written as Buffers made a MiB at a time (src/fs/atomic-write.ts,
 * encodeChunks), not as one string: the same file, byte for byte, with writeFileAtomic's guarantees
 * (mode 0644 whatever the umask, temp file removed when the write fails, BH_ERR_FILE naming the map).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer, renderApacheMap } from '../../../src/enforce/apache-map.js';
import { writeFileAtomic } from '../../../src/fs/atomic-write.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { encodeChunks } from '../../../src/yielding.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const v6 = (i: number): string => `2001:db8:${(0x1000 + (i >>> 12)).toString(16)}:1:1:1:1:${(0x1000 + (i & 0xfff)).toString(16)}`;

describe('apache-map: the txt map written in chunks', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h30-chunks-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the text renderApacheMap gives, byte for byte, over many chunks; mode 0644 under umask 077', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
    const path = join(dir, 'banned.map');
    const e = new ApacheMapEnforcer({ path, clock });
    const old = process.umask(0o077);
    try {
      await e.init();
      // 60,000 lines of 42 bytes: 2.5 MB, three chunks of a MiB.
      const bans: EnforcerBan[] = Array.from({ length: 60_000 }, (_, i) => ({ ip: v6(i), family: 6, until: clock.now() + i * 1000 }));
      await e.apply({ ban: bans, unban: [] });
    } finally {
      process.umask(old);
    }
    const want = renderApacheMap(e.map.entries(), clock.now());
    expect(want.length).toBeGreaterThan(2 << 20);
    expect((await readFile(path)).equals(Buffer.from(want, 'utf8'))).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o644);
  });

  it('a write that fails removes its temp file and is a BH_ERR_FILE; the next one succeeds', async () => {
    const path = join(dir, 'banned.map');
    const e = new ApacheMapEnforcer({ path });
    await e.init();
    await rm(path);
    await mkdir(path); // the map's place taken by a directory: the rename over it fails
    await expect(e.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] })).rejects.toMatchObject({ code: 'BH_ERR_FILE' });
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    await rm(path, { recursive: true });
    await e.map.write();
    expect(await readFile(path, 'latin1')).toContain('198.18.0.1 99991231235959\n');
  });

  it('writeFileAtomic reads the chunks lazily, one after the write of the one before', async () => {
    const path = join(dir, 'f');
    const made: number[] = [];
    function* chunks(): Generator<Buffer> {
      for (let i = 0; i < 5; i++) {
        made.push(i);
        yield Buffer.from(`${i}\n`.repeat(10));
      }
    }
    await writeFileAtomic(path, chunks(), { tmp: join(dir, '.f.tmp'), mode: 0o640 });
    expect(made).toEqual([0, 1, 2, 3, 4]);
    expect(await readFile(path, 'latin1')).toBe([0, 1, 2, 3, 4].map((i) => `${i}\n`.repeat(10)).join(''));
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    // encodeChunks: about `bytes` per chunk, the parts' text in order.
    const parts = Array.from({ length: 100 }, (_, i) => `${i}`.padStart(100, '.'));
    const out = [...encodeChunks(parts, 'latin1', 1000)];
    expect(out.length).toBe(10);
    expect(Buffer.concat(out).toString('latin1')).toBe(parts.join(''));
  });
});
