// copytruncate with the agent two rotations behind: the copy of the generation in between must be
// read whole, once. It was lost three ways, each leaving a flood's lines uncounted:
// - logrotate's `rotate N` deletes the oldest copy just before it makes the new one, and ext4 gives
//   the new copy the inode just freed; copies were known by device and inode alone, so the new copy
//   was taken for the one already read that it replaced, and never read;
// - two copies made within one tick of the file system's clock (4 ms on Linux ext4, a second or
//   two on some file systems) have the same modification time, and a copy was read whole only if
//   its time was later than ours;
// - the agent looked at the file just after a truncation, while it was still empty: with nothing
//   read, the next truncation had nothing to be recognised by, and a generation written, copied and
//   truncated before the next look was never read.
// Also: a copy of lines already read (an operator's backup) was read whole again (each line counted
// twice), a sibling log named after the log (access.log.ssl) was read as a copy (another file's
// lines), and our copy away from the listing at the truncation (logrotate shifting names meanwhile)
// had the rest of our generation lost.
// Passes are driven by hand (the follower reads only when poked): deterministic.
import { closeSync, copyFileSync, existsSync, openSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileFollower } from '../../../src/source/file-follower.js';
import { line, startFollower } from './scenario.js';

let dir: string;
let follower: FileFollower | null = null;
let fd: number | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h59-copy-'));
});
afterEach(async () => {
  await follower?.stop();
  follower = null;
  if (fd !== null) closeSync(fd);
  fd = null;
  await rm(dir, { recursive: true, force: true });
});

interface Log {
  p: string;
  got: string[];
  errors: string[];
  /** Lines first..last-1, appended by a writer holding its own descriptor (O_APPEND). */
  write(from: number, to: number): void;
  read(): Promise<void>;
}

async function start(): Promise<Log> {
  const p = join(dir, 'access.log');
  writeFileSync(p, '');
  const got: string[] = [];
  const errors: string[] = [];
  const f = await startFollower(p, [], got, errors);
  follower = f;
  fd = openSync(p, 'a');
  const w = fd;
  return {
    p,
    got,
    errors,
    write(from, to) {
      for (let i = from; i < to; i++) writeSync(w, `${line(i)}\n`);
    },
    async read() {
      f.poke();
      await f.idle();
    },
  };
}

/** logrotate `copytruncate`, `rotate keep`, numbered copies: returns the new copy's name. */
function copytruncateNumbered(p: string, keep: number): string {
  if (existsSync(`${p}.${keep}`)) rmSync(`${p}.${keep}`);
  for (let k = keep - 1; k >= 1; k--) if (existsSync(`${p}.${k}`)) renameSync(`${p}.${k}`, `${p}.${k + 1}`);
  copyFileSync(p, `${p}.1`);
  truncateSync(p, 0);
  return `${p}.1`;
}

/** logrotate `copytruncate` with `dateext` (one copy per rotation, named by its date and hour). */
function copytruncateDated(p: string, g: number): string {
  const name = `${p}-20261207${String(g).padStart(2, '0')}`;
  copyFileSync(p, name);
  truncateSync(p, 0);
  return name;
}

/** Every line of 0..n once, nothing else. */
function expectEachOnce(log: Log, n: number): void {
  const counts = new Map<string, number>();
  for (const l of log.got) counts.set(l, (counts.get(l) ?? 0) + 1);
  const want = Array.from({ length: n }, (_, i) => line(i));
  const missing = want.filter((l) => !counts.has(l));
  expect({
    missing: missing.length,
    firstMissing: missing[0],
    twice: [...counts.values()].filter((c) => c > 1).length,
    foreign: log.got.filter((l) => !want.includes(l)).length,
    errors: log.errors,
  }).toEqual({ missing: 0, firstMissing: undefined, twice: 0, foreign: 0, errors: [] });
}

describe('copytruncate, two rotations behind: the copy in between is read', () => {
  it('`rotate 2`: the new copy made in the inode of the deleted one already read', async () => {
    const log = await start();
    const per = 40;
    // Steady state, one rotation behind (every copy found as ours, so known as read), distinct
    // modification times (one second apart) so only the identity is in question.
    const t0 = Math.floor(Date.now() / 1000) - 100;
    const inodes: number[] = [];
    for (let g = 0; g < 5; g++) {
      log.write(g * per, g * per + per / 2);
      await log.read();
      log.write(g * per + per / 2, (g + 1) * per);
      const c = copytruncateNumbered(log.p, 2);
      utimesSync(c, t0 + g, t0 + g);
      inodes.push(statSync(c).ino);
    }
    // Generation 5 is never looked at before its copy: two rotations between two reads.
    log.write(5 * per, 6 * per);
    const c5 = copytruncateNumbered(log.p, 2);
    utimesSync(c5, t0 + 5, t0 + 5);
    log.write(6 * per, 7 * per);
    await log.read();
    await log.read();
    // ext4 gives each new copy the inode the deleted oldest one had (what made this lose the
    // generation): say so if this file system did not, where the test cannot show the defect.
    const reused = inodes.includes(statSync(`${log.p}.1`).ino);
    expect.soft(reused, 'this file system did not reuse a deleted copy\'s inode: the scenario is weaker here').toBe(true);
    expectEachOnce(log, 7 * per);
  });

  for (const naming of ['numbered', 'dateext'] as const) {
    it(`every copy with one modification time (a file system with coarse timestamps, a rotation storm), ${naming} names`, async () => {
      const log = await start();
      const per = 40;
      const t = Math.floor(Date.now() / 1000) - 100;
      const copy = (g: number): void => utimesSync(naming === 'numbered' ? copytruncateNumbered(log.p, 9) : copytruncateDated(log.p, g), t, t);
      // One rotation behind first (ours found each time), then generations 2 and 3 copied between two reads.
      log.write(0, per / 2);
      await log.read();
      log.write(per / 2, per);
      copy(0);
      log.write(per, per + per / 2);
      await log.read();
      log.write(per + per / 2, 2 * per);
      copy(1);
      log.write(2 * per, 2 * per + per / 2);
      await log.read();
      log.write(2 * per + per / 2, 3 * per);
      copy(2);
      log.write(3 * per, 4 * per); // never looked at before its copy
      copy(3);
      log.write(4 * per, 5 * per);
      await log.read();
      await log.read();
      expectEachOnce(log, 5 * per);
    });
  }

  it('copies with one modification time at the first truncation seen: the later one is read', async () => {
    const log = await start();
    const per = 40;
    const t = Math.floor(Date.now() / 1000) - 100;
    log.write(0, per / 2);
    await log.read();
    log.write(per / 2, per);
    const c0 = copytruncateDated(log.p, 0);
    log.write(per, 2 * per); // never looked at before its copy
    const c1 = copytruncateDated(log.p, 1);
    utimesSync(c0, t, t);
    utimesSync(c1, t, t);
    log.write(2 * per, 3 * per);
    await log.read();
    await log.read();
    expectEachOnce(log, 3 * per);
  });
});

describe('copytruncate: a generation written, copied and truncated while nothing of the file was read', () => {
  for (const naming of ['numbered', 'dateext'] as const) {
    for (const writer of ['append', 'nulgap'] as const) {
      it(`looked at while empty after a truncation, ${naming} names, writer ${writer === 'append' ? 'with' : 'without'} O_APPEND`, async () => {
        const log = await start();
        if (writer === 'nulgap') {
          // Writes at its own offset, which a truncation does not move: NULs up to there after each.
          closeSync(fd!);
          fd = openSync(log.p, 'r+');
          const w = fd;
          let pos = 0;
          log.write = (from, to) => {
            for (let i = from; i < to; i++) {
              const b = Buffer.from(`${line(i)}\n`);
              pos += writeSync(w, b, 0, b.length, pos);
            }
          };
        }
        const per = 40;
        let g = 0;
        const copy = (): string => (naming === 'numbered' ? copytruncateNumbered(log.p, 5) : copytruncateDated(log.p, g++));
        log.write(0, per / 2);
        await log.read();
        log.write(per / 2, per);
        copy();
        await log.read(); // the truncation seen, the rest read from its copy; the file is empty now
        log.write(per, 2 * per); // a whole generation before the next look
        copy();
        await log.read(); // empty again: nothing tells that it was ever written
        log.write(2 * per, 3 * per);
        await log.read();
        await log.read();
        expectEachOnce(log, 3 * per);
      });
    }
  }

  it('an idle empty file is not listed again at every look (only when its times change)', async () => {
    const log = await start();
    log.write(0, 10);
    await log.read();
    copytruncateNumbered(log.p, 5);
    await log.read();
    // A copy made now, of lines written elsewhere, while the empty file's times do not change: not
    // looked for (every look would list the directory), and not read.
    writeFileSync(`${log.p}.9`, `${line(99)}\n`);
    for (let k = 0; k < 3; k++) await log.read();
    expect(log.got).toEqual(Array.from({ length: 10 }, (_, i) => line(i)));
  });
});

describe('copytruncate: files beside the log that are no copy of a generation we missed', () => {
  it('an operator\'s dated backup of the log made between two rotations is not read again', async () => {
    const log = await start();
    const per = 40;
    const t = Math.floor(Date.now() / 1000) - 100;
    log.write(0, per);
    await log.read();
    utimesSync(copytruncateNumbered(log.p, 5), t - 20, t - 20);
    log.write(per, per + per / 2);
    await log.read(); // the first truncation seen; half of generation 1 read
    // `cp access.log access.log-2026120712` before a change: a name like a dated copy, of lines read.
    copyFileSync(log.p, `${log.p}-2026120712`);
    utimesSync(`${log.p}-2026120712`, t - 10, t - 10);
    log.write(per + per / 2, 2 * per);
    utimesSync(copytruncateNumbered(log.p, 5), t, t);
    log.write(2 * per, 3 * per);
    await log.read();
    await log.read();
    expectEachOnce(log, 3 * per);
  });

  it('a busy sibling log named after it (access.log.ssl) is never read as a copy', async () => {
    const log = await start();
    const per = 40;
    const ssl = `${log.p}.ssl`;
    const other = (i: number): string => line(i).replace('/wp-login.php', '/ssl-vhost');
    writeFileSync(ssl, '');
    log.write(0, per / 2);
    await log.read();
    log.write(per / 2, per);
    const t = Math.floor(Date.now() / 1000) - 100;
    utimesSync(copytruncateNumbered(log.p, 5), t, t);
    for (let i = 0; i < 10; i++) writeFileSync(ssl, `${other(i)}\n`, { flag: 'a' }); // written after the copy: the newest file
    log.write(per, 2 * per);
    await log.read();
    await log.read();
    expectEachOnce(log, 2 * per);
  });
});

describe('copytruncate: our copy away from the listing at the truncation (logrotate shifting names meanwhile)', () => {
  it('found at a later truncation: read on from where delivery stopped, once (not lost, not read whole)', async () => {
    const log = await start();
    const per = 40;
    const t = Math.floor(Date.now() / 1000) - 100;
    log.write(0, per / 2);
    await log.read();
    log.write(per / 2, per);
    const c0 = copytruncateNumbered(log.p, 5);
    utimesSync(c0, t - 10, t - 10);
    // Between two names while we list (a rename under way): no copy name holds it.
    renameSync(c0, join(dir, 'shifting.tmp'));
    log.write(per, per + per / 2);
    await log.read(); // the truncation seen, ours not there
    renameSync(join(dir, 'shifting.tmp'), `${log.p}.2`);
    log.write(per + per / 2, 2 * per);
    utimesSync(copytruncateNumbered(log.p, 5), t, t);
    log.write(2 * per, 3 * per);
    await log.read();
    await log.read();
    expectEachOnce(log, 3 * per);
  });
});
