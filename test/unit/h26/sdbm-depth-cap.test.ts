/**
 * H26: crafted SDBM hash collisions (19 addresses sharing the low 24 bits of their hash: one more
 * than a page holds) split the tree down to the cap; at a cap of 24 the .pag file was sparse up to
 * 2^24 pages (16 GiB apparent size). The cap is now 20: the apparent size stays within 2^20 pages,
 * whatever the collisions, and the .dir within 2^21 bits; the keys past the page are in overflow.map.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SDBM_MAX_DEPTH, SDBM_PAGE_BYTES, SdbmMap, buildSdbm, sdbmHash } from '../../../src/enforce/apache-map.js';
import type { MapEntry } from '../../../src/enforce/map-file.js';
import { collidingKeys } from '../enforce-sdbm-review/colliding-keys.js';

const ban = (ip: string): MapEntry => ({ ip, family: 6, until: null });
const sorted = (ks: string[]): MapEntry[] => [...new Set(ks)].sort().map(ban);
const MAX_PAG = 2 ** 20 * SDBM_PAGE_BYTES;
const MAX_DIR = 2 ** 21 / 8;

describe('SDBM depth cap under crafted collisions', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h26-sdbm-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('19 keys sharing the low 24 bits of the highest page number: .pag apparent size <= 2^20 pages', async () => {
    expect(SDBM_MAX_DEPTH).toBeLessThanOrEqual(20);
    const [g] = collidingKeys([0xffffff], 19);
    expect(g).toHaveLength(19);
    for (const k of g!) expect(sdbmHash(Buffer.from(k)) & 0xffffff).toBe(0xffffff);
    const m = new SdbmMap(join(dir, 'banned.map'));
    const t0 = performance.now();
    await m.write(sorted(g!), Date.now());
    const ms = performance.now() - t0;
    const pag = await stat(`${m.readerPath}.pag`);
    const dirf = await stat(`${m.readerPath}.dir`);
    console.log(`h26: 19 colliding keys: .pag apparent ${pag.size} B, ${pag.blocks} blocks; .dir ${dirf.size} B; overflow ${m.overflow}; ${ms.toFixed(0)} ms`);
    expect(pag.size).toBeLessThanOrEqual(MAX_PAG);
    expect(dirf.size).toBeLessThanOrEqual(MAX_DIR);
    // 38-byte keys: a page holds 18 of them; the 19th is in overflow.map, never lost.
    expect(m.overflow).toBe(1);
    const over = (await readFile(m.overflowPath, 'latin1')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(over).toHaveLength(1);
    expect(g).toContain(over[0]!.split(' ')[0]);
  });

  it('every shape of collision (one group per high bit, groups 2^19 and 2^23 apart, 200 groups): within the bounds', () => {
    const T = 0xfedcba;
    const targets = [0xffffff, T, T ^ 0x800000, T ^ 0x080000, ...Array.from({ length: 24 }, (_, d) => (0xffffff ^ (1 << d)) >>> 0)];
    const groups = collidingKeys(targets, 19);
    const spread = collidingKeys(Array.from({ length: 200 }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) >>> 8) | 0xf00000), 19);
    const entries = sorted([...groups.flat(), ...spread.flat()]);
    const img = buildSdbm(entries);
    const highest = Math.max(...img.pages.keys());
    expect(highest).toBeLessThan(2 ** 20);
    expect((highest + 1) * SDBM_PAGE_BYTES).toBeLessThanOrEqual(MAX_PAG);
    expect(img.dir.length).toBeLessThanOrEqual(MAX_DIR);
    // Nothing is dropped: every key is on a page or its entry is in overflow.
    const onPages = [...img.pages.values()].reduce((n, p) => n + (endianness() === 'LE' ? p.readUInt16LE(0) : p.readUInt16BE(0)) / 2, 0);
    const overKeys = img.overflow.length;
    expect(onPages + overKeys).toBe(entries.length);
  });
});
