// A glob gaining and losing files under writes (containers created and removed), names reused
// for new content, inode numbers reused (ext4 hands a freed inode to the next file at once), and a
// rotation storm: each complete line once, the tailer still following afterwards.
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectExactlyOnce, follow, line, sleep, Writer, type Run } from './harness.js';

let dir: string;
let run: Run | null = null;
const writers: Writer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-hostile-glob-'));
});
afterEach(async () => {
  await run?.stop();
  run = null;
  for (const w of writers.splice(0)) w.close();
  await rm(dir, { recursive: true, force: true });
});

describe('glob gaining and losing files', () => {
  it('files appear, are written, lose their name (unlinked, late lines on the open descriptor), names come back with new content', async () => {
    run = await follow([join(dir, '*.log')]);
    const r = run;
    const want: string[] = [];
    let n = 0;
    const emit = (w: Writer, count: number): void => {
      const ls = Array.from({ length: count }, () => line(n++));
      w.write(ls.map((l) => `${l}\n`).join(''));
      want.push(...ls);
    };
    // 24 generations over 4 names: each name is deleted and made again (new inode, or a reused one).
    for (let gen = 0; gen < 24; gen++) {
      const p = join(dir, `c${gen % 4}.log`);
      const w = new Writer(p);
      emit(w, 10);
      await sleep(3);
      emit(w, 10);
      // Lines written before the file was ever read are nobody's to lose only once it was found.
      await r.until(() => r.got.length >= want.length, 3000);
      emit(w, 3);
      unlinkSync(p);
      emit(w, 2); // written after the unlink: only on the descriptor
      w.close();
      await sleep(gen % 3 === 0 ? 400 : 5); // sometimes past rotateWaitMs: the follower is dropped
    }
    await r.until(() => r.got.length >= want.length);
    await sleep(800); // rescans drop the followers of the names gone
    expectExactlyOnce(r, want);
    expect(r.tailer.stats().files).toBe(0);
    // Still following: a new match is read.
    const w = new Writer(join(dir, 'late.log'));
    writers.push(w);
    emit(w, 5);
    await r.until(() => r.got.length >= want.length);
    expectExactlyOnce(r, want);
  }, 20_000);

  it('rotation storm: 60 renames 5 ms apart under a steady writer, descriptors bounded, every line once', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    const r = run;
    const w = new Writer(p);
    writers.push(w);
    const want: string[] = [];
    let n = 0;
    for (let k = 1; k <= 60; k++) {
      const ls = Array.from({ length: 10 }, () => line(n++));
      w.write(ls.map((l) => `${l}\n`).join(''));
      want.push(...ls);
      renameSync(p, `${p}.${k}`);
      writeFileSync(p, '');
      w.reopen();
      await sleep(5);
    }
    await r.until(() => r.got.length >= want.length);
    await sleep(700); // drains end (rotateWaitMs 300): every rotated file closed
    expectExactlyOnce(r, want);
    expect(r.tailer.watched()[0]!.files).toEqual([{ path: p, unreadBytes: 0 }]);
    const more = Array.from({ length: 5 }, () => line(n++));
    w.write(more.map((l) => `${l}\n`).join(''));
    want.push(...more);
    await r.until(() => r.got.length >= want.length);
    expectExactlyOnce(r, want);
  });
});
