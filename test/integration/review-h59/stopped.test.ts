// copytruncate while the agent was stopped (saved read positions handed to a new follower): the
// rest of our generation is in its copy, and every generation copied after it (more than one
// rotation while stopped: a long upgrade, a crash loop) is only in its own copy. Only the first was
// read: every line of the others was lost. And a writer without O_APPEND leaves each generation
// after the first a hole of NULs: its first bytes are the saved fingerprint's NULs, the file was
// taken for the one read before (not truncated) and read on from inside the hole (the copy's lines
// lost, the first new line delivered with NULs). Old code: 12 of these 14 failed. Passes are
// driven by hand: deterministic.
import { closeSync, copyFileSync, existsSync, openSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileFollower } from '../../../src/source/file-follower.js';
import type { FilePosition } from '../../../src/source/line-source.js';
import { line, startFollower } from './scenario.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h59-stop-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function copytruncateNumbered(p: string, keep: number, truncate = true): void {
  if (existsSync(`${p}.${keep}`)) rmSync(`${p}.${keep}`);
  for (let k = keep - 1; k >= 1; k--) if (existsSync(`${p}.${k}`)) renameSync(`${p}.${k}`, `${p}.${k + 1}`);
  copyFileSync(p, `${p}.1`);
  if (truncate) truncateSync(p, 0);
}

describe('copytruncate while the agent was stopped', () => {
  for (const before of [0, 1])
    for (const whileStopped of [1, 2, 3])
      for (const writer of ['append', 'nulgap'] as const)
        for (const copiedAtStart of before === 0 && whileStopped === 2 ? [false, true] : [false])
        it(`${before} rotation(s) before the stop, ${whileStopped} while stopped${copiedAtStart ? ' (the file copied, not truncated yet, at the start)' : ''}, writer ${writer === 'append' ? 'with' : 'without'} O_APPEND: every line once`, async () => {
          const p = join(dir, 'access.log');
          writeFileSync(p, '');
          const got: string[] = [];
          const errors: string[] = [];
          const make = (saved: FilePosition[]): Promise<FileFollower> => startFollower(p, saved, got, errors);
          const read = async (f: FileFollower): Promise<void> => {
            f.poke();
            await f.idle();
          };
          const fd = writer === 'nulgap' ? openSync(p, 'r+') : openSync(p, 'a');
          let pos = 0;
          let n = 0;
          const write = (count: number): void => {
            for (const end = n + count; n < end; n++) {
              const b = Buffer.from(`${line(n)}\n`);
              if (writer === 'nulgap') pos += writeSync(fd, b, 0, b.length, pos);
              else writeSync(fd, b);
            }
          };
          try {
            let f = await make([]);
            for (let r = 0; r < before; r++) {
              write(20);
              await read(f);
              copytruncateNumbered(p, 5);
              await read(f);
            }
            write(20);
            await read(f);
            const saved = f.positions();
            await f.stop();
            for (let r = 0; r < whileStopped; r++) {
              write(30);
              copytruncateNumbered(p, 5);
            }
            write(10);
            // logrotate copied the file but has not truncated it yet: that copy is what the file holds.
            if (copiedAtStart) copytruncateNumbered(p, 5, false);
            f = await make(saved);
            for (let k = 0; k < 3; k++) await read(f);
            await f.stop();
          } finally {
            closeSync(fd);
          }
          const want = Array.from({ length: n }, (_, i) => line(i));
          const counts = new Map<string, number>();
          for (const l of got) counts.set(l, (counts.get(l) ?? 0) + 1);
          expect({
            missing: want.filter((l) => !counts.has(l)).length,
            twice: [...counts.values()].filter((c) => c > 1).length,
            foreign: got.filter((l) => !want.includes(l)).length,
            errors,
          }).toEqual({ missing: 0, twice: 0, foreign: 0, errors: [] });
        });
});
