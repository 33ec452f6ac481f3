// One file followed under two names (a symlink and its target, both configured) is read once
// (README); copytruncate is survived with the unread end read from the copy (README). Both at once:
// each name's follower read the copy's unread end on its own, every one of those lines delivered
// twice (each of those clients at half its rule's maxretry). Passes are driven by hand.
import { appendFileSync, copyFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { FileFollower, type DeliveredFiles } from '../../../src/source/file-follower.js';
import { line } from './harness.js';

let dir: string;
let followers: FileFollower[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-hostile-2names-'));
});
afterEach(async () => {
  for (const f of followers) await f.stop();
  followers = [];
  await rm(dir, { recursive: true, force: true });
});

const append = (p: string, from: number, to: number): void =>
  appendFileSync(p, Array.from({ length: to - from }, (_, i) => `${line(from + i)}\n`).join(''));

describe('one file under two names, copytruncate with lines unread', () => {
  for (const order of ['target first', 'link first'] as const) {
    it(`each line once (${order} notices the truncation)`, async () => {
      const real = join(dir, 'access.log');
      const link = join(dir, 'current.log');
      writeFileSync(real, '');
      symlinkSync(real, link);
      const got: string[] = [];
      const delivered: DeliveredFiles = new Map();
      const make = (path: string): FileFollower =>
        new FileFollower({
          path,
          startAt: 'start',
          saved: [],
          onLine: (l) => got.push(l),
          onError: (e) => {
            throw e;
          },
          onWarning: () => undefined,
          clock: systemClock,
          maxLineBytes: 64 * 1024,
          rotateWaitMs: 60_000,
          counters: { lines: 0, rotations: 0, truncations: 0 },
          delivered,
        });
      const a = make(real);
      const b = make(link);
      followers.push(a, b);
      await a.init();
      await b.init();
      const pass = async (f: FileFollower): Promise<void> => {
        f.poke();
        await f.idle();
      };
      const both = order === 'target first' ? [a, b] : [b, a];
      append(real, 0, 10);
      for (const f of both) await pass(f);
      append(real, 10, 20); // read by one name only before the rotation
      await pass(both[0]!);
      append(real, 20, 30); // read by neither: only in the copy after the truncation
      copyFileSync(real, `${real}.1`);
      truncateSync(real, 0);
      append(real, 30, 35);
      for (const f of both) await pass(f);
      for (const f of both) await pass(f);
      const want = Array.from({ length: 35 }, (_, i) => line(i));
      expect([...got].sort()).toEqual([...want].sort());
    });
  }
});
