// copytruncate seen late: the follower must neither skip the lines written after the truncation
// (the file already grew past the old offset) nor lose the unread end of the old content when the
// copy is beside the file. Passes are driven by hand (poke + idle), so each case is deterministic.
import { appendFileSync, copyFileSync, existsSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import type { BanhammerError } from '../../../src/errors.js';
import { FileFollower } from '../../../src/source/file-follower.js';

let dir: string;
let followers: FileFollower[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-trunc-'));
  followers = [];
});
afterEach(async () => {
  for (const f of followers) await f.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  f: FileFollower;
  lines: string[];
  errors: BanhammerError[];
  warnings: string[];
  counters: { lines: number; rotations: number; truncations: number };
  pass(): Promise<void>;
}

async function follow(path: string): Promise<Run> {
  const r = { lines: [] as string[], errors: [] as BanhammerError[], warnings: [] as string[], counters: { lines: 0, rotations: 0, truncations: 0 } };
  const f = new FileFollower({
    path,
    startAt: 'start',
    saved: [],
    onLine: (l) => r.lines.push(l),
    onError: (e) => r.errors.push(e),
    onWarning: (m) => r.warnings.push(m),
    clock: systemClock,
    maxLineBytes: 64 * 1024,
    rotateWaitMs: 60_000,
    counters: r.counters,
  });
  followers.push(f);
  await f.init();
  const pass = async (): Promise<void> => {
    f.poke();
    await f.idle();
  };
  return { f, ...r, pass };
}

// Same-length lines, so "grew past the old offset" is exact arithmetic.
const range = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}-${String(from + i).padStart(4, '0')}`);
const append = (file: string, lines: string[]) => appendFileSync(file, lines.map((l) => l + '\n').join(''));

describe('FileFollower: copytruncate noticed late', () => {
  it('restarts at 0 when the file was truncated and has already grown past the old offset', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await follow(p);
    append(p, range('a', 0, 10));
    await r.pass();
    expect(r.lines).toEqual(range('a', 0, 10));
    // Truncated (no copy kept) and 30 new lines before the follower looks again: 3× the old size.
    truncateSync(p, 0);
    append(p, range('b', 0, 30));
    await r.pass();
    expect(r.lines).toEqual([...range('a', 0, 10), ...range('b', 0, 30)]);
    expect(r.counters.truncations).toBe(1);
    expect(r.errors).toEqual([]);
  });

  it('reads the unread end of the old content from the copy, then the truncated file from 0', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await follow(p);
    append(p, range('a', 0, 10));
    await r.pass();
    append(p, range('a', 10, 20)); // written, not read yet…
    copyFileSync(p, `${p}.1`); // …when logrotate copies…
    truncateSync(p, 0); // …and truncates
    append(p, range('b', 0, 5));
    await r.pass();
    expect(r.lines).toEqual([...range('a', 0, 20), ...range('b', 0, 5)]);
    expect(r.counters.truncations).toBe(1);
  });

  it('both at once: unread old lines from the copy, and the new file already past the old offset', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await follow(p);
    append(p, range('a', 0, 10));
    await r.pass();
    append(p, range('a', 10, 15));
    copyFileSync(p, `${p}-20261202`);
    truncateSync(p, 0);
    append(p, range('b', 0, 50));
    await r.pass();
    expect(r.lines).toEqual([...range('a', 0, 15), ...range('b', 0, 50)]);
  });

  it('a partial line at the copy is not delivered torn, and no line is read twice', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await follow(p);
    append(p, range('a', 0, 3));
    appendFileSync(p, 'a-00'); // a partial line, held
    await r.pass();
    expect(r.lines).toEqual(range('a', 0, 3));
    appendFileSync(p, '03\n');
    append(p, range('a', 4, 6));
    appendFileSync(p, 'a-0006-torn'); // partial at copy time
    copyFileSync(p, `${p}.1`);
    truncateSync(p, 0);
    append(p, range('b', 0, 2));
    await r.pass();
    expect(r.lines).toEqual([...range('a', 0, 6), ...range('b', 0, 2)]);
  });

  it('never reads a rotated file that is not the copy (other content), nor a compressed one', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(`${p}.1`, range('old', 0, 100).join('\n') + '\n');
    writeFileSync(`${p}.2.gz`, 'not text');
    writeFileSync(p, '');
    const r = await follow(p);
    append(p, range('a', 0, 10));
    await r.pass();
    append(p, range('a', 10, 12)); // lost: truncated with no copy
    truncateSync(p, 0);
    append(p, range('b', 0, 2));
    await r.pass();
    expect(r.lines).toEqual([...range('a', 0, 10), ...range('b', 0, 2)]);
    expect(r.counters.truncations).toBe(1);
  });

  it('plain appends are never mistaken for a truncation', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await follow(p);
    const want: string[] = [];
    for (let i = 0; i < 50; i++) {
      const batch = range(`c${i}`, 0, 1 + (i % 7));
      append(p, batch);
      want.push(...batch);
      if (i % 3 === 0) await r.pass();
    }
    await r.pass();
    expect(r.lines).toEqual(want);
    expect(r.counters.truncations).toBe(0);
  });
});

describe('FileFollower: more than one copytruncate between two looks', () => {
  const rotate = (p: string, keep: number): void => {
    for (let k = keep - 1; k >= 1; k--) if (existsSync(`${p}.${k}`)) renameSync(`${p}.${k}`, `${p}.${k + 1}`);
    copyFileSync(p, `${p}.1`);
    truncateSync(p, 0);
  };

  it('reads the rotations it never saw from their copies, oldest first, each line once', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await follow(p);
    append(p, range('a', 0, 10));
    await r.pass();
    append(p, range('a', 10, 12));
    rotate(p, 5); // a-0010.. unread, now in .1
    append(p, range('b', 0, 7));
    await sleep(5); // distinct modification times, as rotations minutes apart would have
    rotate(p, 5); // b entirely in .1, a in .2
    append(p, range('c', 0, 3));
    await sleep(5);
    rotate(p, 5); // c in .1, b in .2, a in .3
    append(p, range('d', 0, 2));
    await r.pass();
    expect(r.lines).toEqual([...range('a', 0, 12), ...range('b', 0, 7), ...range('c', 0, 3), ...range('d', 0, 2)]);
    // Later truncations: nothing is read twice.
    append(p, range('d', 2, 4));
    await r.pass();
    rotate(p, 5);
    append(p, range('e', 0, 2));
    await r.pass();
    expect(r.lines).toEqual([...range('a', 0, 12), ...range('b', 0, 7), ...range('c', 0, 3), ...range('d', 0, 4), ...range('e', 0, 2)]);
  });

  it('copies older than the first truncation it saw are history: never read', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(`${p}.2`, range('old', 0, 50).join('\n') + '\n');
    await sleep(5);
    writeFileSync(p, range('x', 0, 5).join('\n') + '\n');
    const r = await follow(p);
    await r.pass();
    await sleep(5);
    rotate(p, 1);
    append(p, range('y', 0, 2));
    await r.pass();
    expect(r.lines).toEqual([...range('x', 0, 5), ...range('y', 0, 2)]);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
