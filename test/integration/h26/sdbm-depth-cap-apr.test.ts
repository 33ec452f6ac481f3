/**
 * H26: the SDBM depth cap (20) read by APR's own sdbm (the C reader of
 * test/integration/apache-map-sdbm-review/apr-reader.test.ts, compiled here against libaprutil1-dev;
 * skipped, saying why, without gcc or the headers): crafted collisions that used to split the tree
 * down to depth 24 (a 16 GiB sparse .pag) now stop at 20; every banned address reads back its stamp
 * (from the SDBM map, or on its miss from overflow.map), no unbanned neighbour sharing the same hash
 * bits reads anything, the .pag's apparent size is at most 2^20 pages, and APR's walk of the whole
 * map (every page up to the apparent size, holes too) finds only our keys, in bounded time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SDBM_PAGE_BYTES, SdbmMap, apacheKeys, timeStamp } from '../../../src/enforce/apache-map.js';
import type { MapEntry } from '../../../src/enforce/map-file.js';
import { collidingKeys } from '../../unit/enforce-sdbm-review/colliding-keys.js';
import { APR_SKIP, buildAprReader } from '../apache-map-sdbm-review/apr-oracle.js';



const skip = APR_SKIP;
const U = Date.now() + 3_600_000;

describe.skipIf(skip !== null)(`SDBM depth cap read by APR${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let reader: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h26-apr-'));
    reader = await buildAprReader(dir);
  }, 40_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('collisions on the highest page numbers, at every high bit and 2^19 / 2^23 apart: no miss, no false hit, .pag <= 2^20 pages', async () => {
    const T = 0xfedcba;
    const targets = [0xffffff, T, T ^ 0x800000, T ^ 0x080000, ...Array.from({ length: 24 }, (_, d) => (0xffffff ^ (1 << d)) >>> 0)];
    const groups = collidingKeys(targets, 40);
    const banned = new Set<string>();
    const absent: string[] = [];
    for (const g of groups) {
      expect(g.length).toBe(40);
      for (const k of g.slice(0, 20)) banned.add(k);
      for (const k of g.slice(20)) absent.push(k);
    }
    const entries: MapEntry[] = [...banned].sort().map((ip, i) => ({ ip, family: 6, until: i % 2 ? U : null }));
    const m = new SdbmMap(join(dir, 'banned.map'));
    await m.write(entries, Date.now());
    const pag = await stat(`${m.readerPath}.pag`);
    console.log(`h26 APR: ${entries.length} colliding bans: .pag apparent ${pag.size} B (${pag.blocks} blocks), overflow ${m.overflow}`);
    expect(pag.size).toBeLessThanOrEqual(2 ** 20 * SDBM_PAGE_BYTES);
    expect(m.overflow).toBeGreaterThan(0);

    const overflow = new Map<string, string>();
    for (const l of (await readFile(m.overflowPath, 'latin1')).split('\n')) {
      if (l === '' || l.startsWith('#')) continue;
      const [k, v] = l.split(' ');
      if (!overflow.has(k!)) overflow.set(k!, v!);
    }
    const want = new Map<string, string>();
    for (const e of entries) for (const k of apacheKeys(e)) want.set(k, timeStamp(e.until));
    const out = execFileSync(reader, [m.readerPath], { input: [...want.keys(), ...absent].join('\n') + '\n', maxBuffer: 1 << 26, timeout: 20_000 }).toString('latin1');
    const got = new Map<string, string>();
    for (const line of out.split('\n')) if (line !== '') got.set(line.slice(0, line.lastIndexOf(' ')), line.slice(line.lastIndexOf(' ') + 1));
    const wrong: string[] = [];
    for (const [k, v] of want) {
      const s = got.get(k);
      const seen = s === '-' ? (overflow.get(k) ?? '-') : s;
      if (seen !== v) wrong.push(`${k}: ${String(s)} / ${String(overflow.get(k))}, want ${v}`);
    }
    for (const k of absent) if (got.get(k) !== '-' || overflow.has(k)) wrong.push(`${k} (not banned): ${String(got.get(k))}`);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(overflow.size).toBe(m.overflow);

    // APR's walk reads every page up to the apparent size (holes too): bounded now.
    const t0 = performance.now();
    const walked = execFileSync(reader, [m.readerPath, 'all'], { maxBuffer: 1 << 26, timeout: 30_000 }).toString('latin1').split('\n').filter((l) => l !== '');
    const ms = performance.now() - t0;
    console.log(`h26 APR: walk of the whole map ${ms.toFixed(0)} ms`);
    for (const l of walked) expect(want.get(l.slice(0, l.lastIndexOf(' ')))).toBe(l.slice(l.lastIndexOf(' ') + 1));
    expect(walked.length + overflow.size).toBe(want.size);
  }, 60_000);
});
