// copytruncate under a writer without O_APPEND (it writes on at its own offset, so after each
// truncation the file is a hole of NULs up to there, then its new lines), with the follower more
// than one rotation behind (a loaded machine: the follower did not run between two rotations).
// Every generation after the first then starts with the same bytes (NULs), and the copy was
// picked, and a copy told from the live file, by those first bytes alone: the newest copy was taken
// for ours (its bytes where we read last did not match, so ours was never read on), ours and every
// copy in between were taken for "what the live file still holds" (it starts with NULs too) and
// skipped. On the old code the first case below lost 101 of 400 lines, delivered 50 twice and 2
// that were never written (junk); on a loaded machine test/integration/source-hostile/rotations.test.ts
// lost 210 and 378 lines of 1,200 this way. Deterministic here: the follower reads only when poked.
import { closeSync, copyFileSync, openSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import type { BanhammerError } from '../../../src/errors.js';
import { FileFollower } from '../../../src/source/file-follower.js';
import { rng } from '../../support/random.js';

let dir: string;
let follower: FileFollower | null = null;
let fd: number | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h58-nulgap-'));
});
afterEach(async () => {
  await follower?.stop();
  follower = null;
  if (fd !== null) closeSync(fd);
  fd = null;
  await rm(dir, { recursive: true, force: true });
});

const line = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255} - - [06/Dec/2026:10:00:00 +0000] "GET /wp-login.php?n=${i} HTTP/1.1" 403 199 "-" "curl/8.0"`;

/**
 * One scenario: `gens` generations of `per` lines each, copied to access.log.<k> and truncated;
 * the follower reads after the lines of the generations listed in `readAfter` (0-based: after
 * generation g's lines were written, before its copy), and at the end. Returns what is missing and
 * what came twice.
 */
async function scenario(gens: number, per: number, readAfter: ReadonlySet<number>, midRead: ReadonlySet<number>): Promise<{ missing: number; firstMissing: string[]; twice: number; foreign: number; errors: string[] }> {
  const p = join(dir, 'access.log');
  writeFileSync(p, '');
  const got: string[] = [];
  const errors: BanhammerError[] = [];
  const f = new FileFollower({
    path: p,
    startAt: 'start',
    saved: [],
    onLine: (l) => got.push(l),
    onError: (e) => errors.push(e),
    onWarning: () => undefined,
    clock: systemClock,
    maxLineBytes: 64 * 1024,
    rotateWaitMs: 60_000,
    counters: { lines: 0, rotations: 0, truncations: 0 },
  });
  follower = f;
  await f.init();
  const read = async (): Promise<void> => {
    f.poke();
    await f.idle();
  };
  // Writes at its own offset, which a truncation does not move.
  fd = openSync(p, 'r+');
  let pos = 0;
  const want: string[] = [];
  let i = 0;
  for (let g = 0; g < gens; g++) {
    for (let j = 0; j < per; j++, i++) {
      const b = Buffer.from(`${line(i)}\n`);
      pos += writeSync(fd, b, 0, b.length, pos);
      want.push(line(i));
      if (midRead.has(g) && j === per >> 1) await read();
    }
    if (readAfter.has(g)) await read();
    copyFileSync(p, `${p}.${g + 1}`);
    truncateSync(p, 0);
  }
  for (let k = 0; k < 3; k++) await read();
  const counts = new Map<string, number>();
  for (const l of got) counts.set(l, (counts.get(l) ?? 0) + 1);
  const wantSet = new Set(want);
  const missing = want.filter((l) => !counts.has(l));
  return {
    missing: missing.length,
    firstMissing: missing.slice(0, 2),
    twice: [...counts.values()].filter((n) => n > 1).length,
    foreign: got.filter((l) => !wantSet.has(l)).length,
    errors: errors.map((e) => e.message),
  };
}

const clean = { missing: 0, firstMissing: [], twice: 0, foreign: 0, errors: [] };

describe('copytruncate of a NUL-gap file with the follower behind', () => {
  it('two rotations between two reads: the rest of ours and the whole copy after it are read, once', async () => {
    // Generation 0 read in part, 1 read in part, then 2 and 3 rotated before the next read.
    expect(await scenario(4, 100, new Set([0]), new Set([1]))).toEqual(clean);
  });

  it('one rotation between two reads (worked before): still each line once', async () => {
    expect(await scenario(4, 100, new Set([0, 1, 2]), new Set([1, 2, 3]))).toEqual(clean);
  });

  it('seeded variants: random reads, random sizes, up to four rotations between two reads', async () => {
    const rnd = rng(58);
    for (let run = 0; run < 12; run++) {
      const gens = 3 + Math.floor(rnd() * 5);
      const per = 20 + Math.floor(rnd() * 200);
      const readAfter = new Set<number>();
      const midRead = new Set<number>();
      for (let g = 0; g < gens; g++) {
        if (rnd() < 0.4) readAfter.add(g);
        if (rnd() < 0.5) midRead.add(g);
      }
      midRead.add(0); // something read before the first truncation
      const r = await scenario(gens, per, readAfter, midRead);
      expect({ run, gens, per, readAfter: [...readAfter], midRead: [...midRead], ...r }).toEqual({ run, gens, per, readAfter: [...readAfter], midRead: [...midRead], ...clean });
      await follower?.stop();
      follower = null;
      if (fd !== null) closeSync(fd);
      fd = null;
      await rm(dir, { recursive: true, force: true });
      dir = await mkdtemp(join(tmpdir(), 'bh-h58-nulgap-'));
    }
  });
});
