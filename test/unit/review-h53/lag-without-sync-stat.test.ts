/**
 * Review H53: the bytes a followed log holds that were not read yet (Tailer.lagBytes, progress,
 * watched) are asked for by every metrics sample and every `status`, on the event loop. They were
 * an fstatSync() per open file: on a log mount that hangs (an NFS hard mount whose server is gone, a
 * FUSE daemon that stopped answering) that call blocks, and with it the whole agent (ban expiry,
 * enforcement, the control socket) for as long as the mount hangs, while every read of the logs is
 * asynchronous for that very reason (tailer.ts). Counted here: no synchronous file-system call on
 * that path; and the lag still shows bytes written and not read (learned asynchronously).
 */
import * as fs from 'node:fs';
import { appendFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../fakes/manual-clock.js';
import { Tailer } from '../../../src/source/tailer.js';

/** Every synchronous call the source might make to learn a size, counted. */
const syncCalls = vi.hoisted(() => ({ n: 0, counting: false }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const counted = <F extends (...a: never[]) => unknown>(f: F): F =>
    ((...a: Parameters<F>) => {
      if (syncCalls.counting) syncCalls.n++;
      return f(...a);
    }) as F;
  const mocked = { ...real, fstatSync: counted(real.fstatSync), statSync: counted(real.statSync), lstatSync: counted(real.lstatSync), readSync: counted(real.readSync), openSync: counted(real.openSync) };
  return { ...mocked, default: mocked };
});

const WAIT = { timeout: 8000, interval: 10 };
const LINE = '198.18.0.7 - - [07/Dec/2026:11:04:51 +0000] "GET / HTTP/1.1" 404 1 "-" "-"\n';

let dir: string;
let tailer: Tailer | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h53-lag-'));
  syncCalls.n = 0;
  syncCalls.counting = false;
});
afterEach(async () => {
  syncCalls.counting = false;
  await tailer?.stop();
  tailer = null;
  await rm(dir, { recursive: true, force: true });
});

describe('the unread bytes of the followed logs', () => {
  it('are told without a synchronous file-system call (a hung mount cannot block the agent there)', async () => {
    const clock = new ManualClock();
    const files = [join(dir, 'a.log'), join(dir, 'b.log')];
    for (const f of files) writeFileSync(f, LINE);
    const lines: string[] = [];
    tailer = new Tailer({ paths: [...files, join(dir, '*.gz')], onLine: (l) => lines.push(l), watchDir: null, clock, rotateWaitMs: 1000 });
    await tailer.start();
    await tailer.settle();
    appendFileSync(files[0]!, LINE.repeat(3));
    syncCalls.counting = true;
    for (let i = 0; i < 5; i++) {
      tailer.lagBytes();
      tailer.progress();
      tailer.watched();
      tailer.stats();
      tailer.positions();
    }
    syncCalls.counting = false;
    expect(syncCalls.n).toBe(0);
    expect(fs.fstatSync).toBeTypeOf('function'); // the mock is the module the source imports
  });

  it('still show bytes written and not read yet, and none once they are read', async () => {
    const clock = new ManualClock();
    const file = join(dir, 'access.log');
    writeFileSync(file, LINE);
    const lines: string[] = [];
    tailer = new Tailer({ paths: [file], onLine: (l) => lines.push(l), watchDir: null, clock, pollIntervalMs: 1000 });
    await tailer.start();
    await tailer.settle();
    expect(tailer.lagBytes()).toBe(0);
    appendFileSync(file, LINE.repeat(4));
    // No poll has run (the clock stands still): nothing was read, and the lag says so.
    await vi.waitFor(() => expect(tailer!.lagBytes()).toBe(4 * LINE.length), WAIT);
    await vi.waitFor(() => expect(tailer!.progress()[0]!.unreadBytes).toBe(4 * LINE.length), WAIT);
    expect(lines).toEqual([]);
    clock.advance(1000);
    await vi.waitFor(() => expect(lines).toHaveLength(4), WAIT);
    await tailer.settle();
    await vi.waitFor(() => expect(tailer!.lagBytes()).toBe(0), WAIT);
    expect(tailer.watched()[0]!.files).toEqual([{ path: file, unreadBytes: 0 }]);
  });
});
