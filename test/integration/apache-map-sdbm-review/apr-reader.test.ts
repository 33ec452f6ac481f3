/**
 * H21: apache-map's SDBM map read by APR itself. A tiny C program (compiled here against
 * libaprutil1-dev; the file is skipped, saying why, when gcc or the headers are missing) opens the
 * map as mod_rewrite does (apr_dbm_open_ex "sdbm", APR_DBM_READONLY, apr_dbm_fetch per key) and can
 * walk every key (apr_dbm_firstkey/nextkey). Every set below is written by SdbmMap.write into a
 * version directory, then every banned address must read back its stamp (from the SDBM map, or only
 * on its miss from overflow.map as the txt map lookup does) and no other address anything:
 * 0 and 1 bans; IPv4, ::/96 (both keys) and full-length IPv6 keys; keys whose hashes share the low
 * bits of a path split at every depth 1..24; groups sharing all 24 bits (the overflow) and all 32;
 * 100,000 bans; and unbans after the deepest splits.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdbmMap, apacheKeys, sdbmHash, timeStamp } from '../../../src/enforce/apache-map.js';
import type { MapEntry } from '../../../src/enforce/map-file.js';
import { collidingGroups, collidingKeys } from '../../unit/enforce-sdbm-review/colliding-keys.js';
import { APR_SKIP, buildAprReader } from './apr-oracle.js';



const skip = APR_SKIP;

const U = Date.now() + 3_600_000;
const v6 = (ip: string, until: number | null = U): MapEntry => ({ ip, family: 6, until });
const sorted = (es: MapEntry[]): MapEntry[] => es.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));

describe.skipIf(skip !== null)(`apache-map SDBM map read by APR's own sdbm${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let reader: string;
  let n = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-apr-'));
    reader = await buildAprReader(dir);
  }, 40_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** APR's answer for each key: the value, '-' for a miss, '!<error>' for a failed fetch. */
  function fetchAll(path: string, keys: readonly string[]): Map<string, string> {
    const out = execFileSync(reader, [path], { input: keys.join('\n') + '\n', maxBuffer: 1 << 28, timeout: 20_000 }).toString('latin1');
    const m = new Map<string, string>();
    for (const line of out.split('\n')) {
      if (line === '') continue;
      const i = line.lastIndexOf(' ');
      m.set(line.slice(0, i), line.slice(i + 1));
    }
    return m;
  }

  /**
   * Writes `entries` with a fresh (or the given) SdbmMap and checks every key of them and of `absent`
   * as Apache would look it up: the SDBM map, then on a miss overflow.map (first matching line).
   */
  async function writeAndCheck(entries: MapEntry[], absent: readonly string[], map?: SdbmMap): Promise<SdbmMap> {
    const m = map ?? new SdbmMap(join(dir, `m${++n}.map`));
    await m.write(sorted(entries), Date.now());
    const overflow = new Map<string, string>();
    for (const l of (await readFile(m.overflowPath, 'latin1')).split('\n')) {
      if (l === '' || l.startsWith('#')) continue;
      const [k, v] = l.split(' ');
      if (!overflow.has(k!)) overflow.set(k!, v!);
    }
    const want = new Map<string, string>();
    for (const e of entries) for (const k of apacheKeys(e)) want.set(k, timeStamp(e.until));
    const got = fetchAll(m.readerPath, [...want.keys(), ...absent]);
    const wrong: string[] = [];
    for (const [k, v] of want) {
      const s = got.get(k);
      const seen = s === '-' ? (overflow.get(k) ?? '-') : s;
      if (seen !== v) wrong.push(`${k}: ${String(s)} / ${String(overflow.get(k))}, want ${v}`);
    }
    for (const k of absent) if (want.has(k) === false && (got.get(k) !== '-' || overflow.has(k))) wrong.push(`${k} (not banned): ${String(got.get(k))}`);
    expect(wrong.slice(0, 5)).toEqual([]);
    // Walking the whole map (every page, as APR's firstkey/nextkey does) finds only our keys. The
    // walk reads every page up to the .pag file's apparent size, holes too: a tree split down to
    // depth 24 is a 16 GiB sparse file (20 s to walk, though a lookup reads one page), so only
    // smaller maps are walked. Nothing Apache does walks the map.
    if ((await stat(`${m.readerPath}.pag`)).size > 256 << 20) return m;
    const walked = execFileSync(reader, [m.readerPath, 'all'], { maxBuffer: 1 << 28, timeout: 20_000 }).toString('latin1').split('\n').filter((l) => l !== '');
    for (const l of walked) expect(want.get(l.slice(0, l.lastIndexOf(' ')))).toBe(l.slice(l.lastIndexOf(' ') + 1));
    expect(walked.length + overflow.size).toBeGreaterThanOrEqual(want.size);
    expect(m.overflow).toBe(entries.filter((e) => apacheKeys(e).some((k) => overflow.has(k))).length);
    return m;
  }

  it('0 bans, 1 ban, and every key form at its longest', async () => {
    await writeAndCheck([], ['198.18.0.1', '2001:db8::1']);
    await writeAndCheck([{ ip: '198.18.255.255', family: 4, until: null }], ['198.18.255.254', '::ffff:198.18.255.255', '2001:db8::1']);
    await writeAndCheck(
      [
        { ip: '198.19.255.255', family: 4, until: U },
        v6('2001:db8:ffff:ffff:ffff:ffff:ffff:fffe'),
        v6('::c613:ffff'), // ::198.19.255.255, IPv4-compatible: two keys
        v6('2001:db8::1', null),
      ],
      ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:c613:ffff', '198.19.255.254'],
    );
  });

  it('a path split at every depth 1..24 (keys sharing ever more low hash bits), then overflow at the bottom', async () => {
    const T = 0xabcdef;
    // Group d shares the low d bits with T and differs at bit d; the last group shares all 24.
    const targets = Array.from({ length: 24 }, (_, d) => (T ^ (1 << d)) & 0xffffff).concat([T]);
    const groups = collidingKeys(targets, 20);
    const keys = [...new Set(groups.flat())];
    expect(keys.length).toBeGreaterThan(24 * 18);
    const absent = collidingKeys([T, T ^ (1 << 23)], 240).flat().filter((k) => !keys.includes(k)).slice(0, 100);
    expect(absent.length).toBeGreaterThan(50);
    const m = await writeAndCheck(keys.map((k) => v6(k)), absent);
    expect(m.overflow).toBeGreaterThan(0);
  });

  it('groups sharing all 32 hash bits ban every member; an attacker fills overflow.map as he likes', async () => {
    // Full 32-bit collisions: the same table, other prefixes (one per prefix, about).
    const full: string[] = [];
    for (let p = 0; p < 400 && full.length < 30; p++) {
      const prefix = `2001:db8:1111:2222:3333:${(0x5000 + p).toString(16)}:`;
      for (const k of collidingKeys([0x00beef], 300, prefix)[0]!) if ((sdbmHash(Buffer.from(k)) >>> 0) === 0x2a00beef >>> 0) full.push(k);
    }
    // Whether or not 30 full collisions turn up, 40 groups of 60 sharing 24 bits do: 2,400 bans,
    // 1,680 of them in overflow.map, from a few seconds of arithmetic.
    const groups = collidingGroups(40, 60).flat();
    const m = await writeAndCheck([...new Set([...full, ...groups])].map((k) => v6(k)), ['2001:db8::dead']);
    expect(m.overflow).toBeGreaterThanOrEqual(40 * (60 - 18));
  }, 25_000);

  it('100,000 bans (IPv4 and IPv6 mixed), none missed and no false hit', async () => {
    const es: MapEntry[] = [];
    for (let i = 0; i < 50_000; i++) es.push({ ip: `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, family: 4, until: i % 3 ? U : null });
    for (let i = 0; i < 50_000; i++) es.push(v6(`2001:db8:${((i % 0xfffe) + 1).toString(16)}:${(0x1000 + (i >> 4)).toString(16)}::${((i * 7919) & 0xffff).toString(16)}`));
    const unique = [...new Map(es.map((e) => [e.ip, e])).values()];
    const absent = Array.from({ length: 2000 }, (_, i) => `198.19.${200 + (i >> 8)}.${i & 255}`);
    await writeAndCheck(unique, absent);
  }, 25_000);

  it('unbans after the deepest splits: removed addresses miss, kept ones still match', async () => {
    const groups = collidingGroups(30, 40);
    const all = [...new Set(groups.flat())];
    const m = await writeAndCheck(all.map((k) => v6(k)), []);
    // Every other address of each group unbanned: the pages shrink, overflow empties.
    const kept = all.filter((_, i) => i % 2 === 0);
    const gone = all.filter((_, i) => i % 2 === 1);
    await writeAndCheck(kept.map((k) => v6(k)), gone, m);
    await writeAndCheck([], all, m);
  }, 25_000);
});
