// The path comes to name again a file that was already read to its end and closed: a symlink
// switched back to its earlier target (blue/green deployments), a log moved away and moved back.
// Read again from its start, every line of it counted twice: each client there at half its rule's
// maxretry. It must be read on from where it was left.
import { renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectExactlyOnce, follow, line, sleep, Writer, type Run } from './harness.js';

let dir: string;
let run: Run | null = null;
const writers: Writer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-hostile-again-'));
});
afterEach(async () => {
  await run?.stop();
  run = null;
  for (const w of writers.splice(0)) w.close();
  await rm(dir, { recursive: true, force: true });
});

const write = (w: Writer, from: number, to: number, want: string[]): void => {
  const ls = Array.from({ length: to - from }, (_, i) => line(from + i));
  w.write(ls.map((l) => `${l}\n`).join(''));
  want.push(...ls);
};

describe('the path names a file already read and closed', () => {
  it('symlink switched to another file and, after rotateWaitMs, back', async () => {
    const blue = join(dir, 'blue.log');
    const green = join(dir, 'green.log');
    const p = join(dir, 'access.log');
    writeFileSync(blue, '');
    writeFileSync(green, '');
    symlinkSync(blue, p);
    run = await follow([p]);
    const b = new Writer(blue);
    const g = new Writer(green);
    writers.push(b, g);
    const want: string[] = [];
    write(b, 0, 100, want);
    await run.until(() => run!.got.length >= 100);
    symlinkSync(green, `${p}.tmp`);
    renameSync(`${p}.tmp`, p);
    await sleep(50);
    write(g, 100, 200, want);
    await sleep(600); // blue, not written, is closed after rotateWaitMs (300 ms)
    symlinkSync(blue, `${p}.tmp`);
    renameSync(`${p}.tmp`, p);
    await sleep(50);
    write(b, 200, 300, want);
    await run.until(() => run!.got.length >= 300);
    await sleep(400);
    expectExactlyOnce(run, want);
  });

  it('log moved away for longer than rotateWaitMs and moved back', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    const w = new Writer(p);
    writers.push(w);
    const want: string[] = [];
    write(w, 0, 100, want);
    await run.until(() => run!.got.length >= 100);
    renameSync(p, `${p}.moved`);
    await sleep(600);
    renameSync(`${p}.moved`, p);
    await sleep(50);
    write(w, 100, 200, want);
    await run.until(() => run!.got.length >= 200);
    await sleep(400);
    expectExactlyOnce(run, want);
  });

  it('a rotated name the glob matches too, found by a rescan after the drain ended (poll only): read on, not again', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([join(dir, '*.log')], { watchDir: null, pollIntervalMs: 100, rescanIntervalMs: 1500 });
    const w = new Writer(p);
    writers.push(w);
    const want: string[] = [];
    write(w, 0, 100, want);
    await run.until(() => run!.got.length >= 100);
    renameSync(p, join(dir, 'access-1.log')); // logrotate's `extension .log`
    writeFileSync(p, '');
    write(w, 100, 110, want); // late lines on the old descriptor
    w.reopen();
    write(w, 110, 200, want);
    await run.until(() => run!.got.length >= 200);
    await sleep(2000); // the rescan finds access-1.log after its drain (300 ms) ended
    expectExactlyOnce(run, want);
  });

  it('lines written while it was away are read when it comes back, once', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    const w = new Writer(p);
    writers.push(w);
    const want: string[] = [];
    write(w, 0, 100, want);
    await run.until(() => run!.got.length >= 100);
    renameSync(p, `${p}.moved`);
    await sleep(600);
    write(w, 100, 150, want); // closed by now: read when the path names it again
    renameSync(`${p}.moved`, p);
    await run.until(() => run!.got.length >= 150);
    await sleep(400);
    expectExactlyOnce(run, want);
  });

  it('control: a file closed and then truncated and written again (same first line) is read from its start', async () => {
    const blue = join(dir, 'blue.log');
    const green = join(dir, 'green.log');
    const p = join(dir, 'access.log');
    const header = '#Version: 1.0';
    writeFileSync(blue, `${header}\n`);
    writeFileSync(green, '');
    symlinkSync(blue, p);
    run = await follow([p]);
    const b = new Writer(blue);
    writers.push(b);
    const want: string[] = [];
    write(b, 0, 100, want);
    await run.until(() => run!.got.length >= 100);
    symlinkSync(green, `${p}.tmp`);
    renameSync(`${p}.tmp`, p);
    await sleep(600); // blue closed
    truncateSync(blue, 0);
    b.write(`${header}\n`);
    want.push(header);
    write(b, 1000, 1200, want); // longer than before: past the old end
    symlinkSync(blue, `${p}.tmp`);
    renameSync(`${p}.tmp`, p);
    await run.until(() => run!.got.length >= want.length);
    await sleep(400);
    expectExactlyOnce(run, want);
  });
});
