/**
 * Review H53 (found by test/integration/source-hostile/rotations.test.ts under load: 103 lines
 * missing): the follower closes its file once the path has been missing, or not a regular file,
 * for rotateWaitMs. A log that is then created, written and rotated away (renamed to `<name>.N`)
 * before the follower's next look (a busy agent, a flood filling Docker's max-size) was never read:
 * the generations rotated between two looks were searched for (findSkipped) only while a file was
 * still open, so every line of that generation was lost, a ban escape. Passes are driven by hand.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FileFollower } from '../../../src/source/file-follower.js';

let dir: string;
let followers: FileFollower[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h53-away-'));
  followers = [];
});
afterEach(async () => {
  for (const f of followers) await f.stop();
  await rm(dir, { recursive: true, force: true });
});

const ROTATE_WAIT = 1000;
const range = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const append = (file: string, lines: string[]): void => appendFileSync(file, lines.map((l) => `${l}\n`).join(''));
/** Past the kernel's clock tick: files made after this have a later birth time. */
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 15));

async function follow(path: string) {
  const clock = new ManualClock();
  const lines: string[] = [];
  const f = new FileFollower({
    path,
    startAt: 'start',
    saved: [],
    onLine: (l) => lines.push(l),
    onError: (e) => lines.push(`error: ${e.message}`),
    onWarning: () => undefined,
    clock,
    maxLineBytes: 64 * 1024,
    rotateWaitMs: ROTATE_WAIT,
    counters: { lines: 0, rotations: 0, truncations: 0 },
  });
  followers.push(f);
  await f.init();
  const pass = async (): Promise<void> => {
    f.poke();
    await f.idle();
  };
  return { f, clock, lines, pass };
}

describe('a generation created and rotated away while the follower had no file open', () => {
  for (const away of ['missing', 'a directory', 'a FIFO'] as const) {
    it(`the path ${away} longer than rotateWaitMs, then a file written and renamed to .N before the next look: read, each line once`, async () => {
      const p = join(dir, 'access.log');
      writeFileSync(p, '');
      const r = await follow(p);
      append(p, range('first', 5));
      await r.pass();
      // Rotation by rename; the path stays away for longer than rotateWaitMs.
      renameSync(p, `${p}.1`);
      if (away === 'a directory') mkdirSync(p);
      if (away === 'a FIFO') execFileSync('mkfifo', [p]);
      await r.pass();
      r.clock.advance(ROTATE_WAIT);
      await r.pass(); // the old file is finished and closed: nothing open any more
      expect(r.f.isFollowing()).toBe(false);
      expect(r.f.hasDraining()).toBe(false);
      if (away !== 'missing') rmSync(p, { recursive: true });
      await tick();
      // The writer reopens: a new file, written, and rotated away again before the follower looks.
      append(p, range('between', 7));
      renameSync(`${p}.1`, `${p}.2`);
      renameSync(p, `${p}.1`);
      await tick();
      append(p, range('after', 3));
      await r.pass();
      await r.pass();
      r.clock.advance(ROTATE_WAIT);
      await r.pass();
      expect(r.lines).toEqual([...range('first', 5), ...range('between', 7), ...range('after', 3)]);
    });
  }

  it('control: an operator copy (not a rotation name) and the old generation (read before) are not read again', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await follow(p);
    append(p, range('first', 5));
    await r.pass();
    renameSync(p, `${p}.1`);
    await r.pass();
    r.clock.advance(ROTATE_WAIT);
    await r.pass();
    await tick();
    append(p, range('between', 4));
    renameSync(p, `${p}.save`); // not a rotation name
    await tick();
    append(p, range('after', 2));
    await r.pass();
    r.clock.advance(ROTATE_WAIT);
    await r.pass();
    expect(r.lines).toEqual([...range('first', 5), ...range('after', 2)]);
  });
});
