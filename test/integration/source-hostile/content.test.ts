// Hostile content and write patterns with the real Tailer: a line written in many pieces (also across a
// rename rotation), a 10 MB line, NUL bytes, a file that never ends its line, a burst of 200,000
// lines. Each complete line once, no piece of a line as a line, memory bounded, the event loop
// never held for 100 ms.
import { renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockMonitor, expectExactlyOnce, follow, line, sleep, Writer, type Run } from './harness.js';

let dir: string;
let run: Run | null = null;
let writer: Writer | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-hostile-content-'));
});
afterEach(async () => {
  await run?.stop();
  run = null;
  writer?.close();
  writer = null;
  await rm(dir, { recursive: true, force: true });
});

/** Cuts s into pieces of 1 to 17 bytes (deterministic). */
function pieces(s: string, seed: number): string[] {
  const out: string[] = [];
  let x = seed;
  for (let i = 0; i < s.length; ) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (x % 17);
    out.push(s.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('write patterns', () => {
  it('each line written in many small pieces, a rename rotation in the middle of a line', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    writer = new Writer(p);
    const want: string[] = [];
    let k = 0;
    for (let i = 0; i < 300; i++) {
      const l = line(i);
      want.push(l);
      const ps = pieces(`${l}\n`, i);
      for (const [j, piece] of ps.entries()) {
        writer.write(piece);
        if (j % 4 === 0) await sleep(0);
        // Rotated mid-line: the server finishes the line on its old descriptor, reopens after.
        if (i % 40 === 20 && j === Math.floor(ps.length / 2)) {
          renameSync(p, `${p}.${++k}`);
          writeFileSync(p, '');
        }
      }
      if (i % 40 === 20) writer.reopen();
    }
    await run.until(() => run!.got.length >= want.length);
    await sleep(100);
    // Not in write order across the rotation: the line finished on the old descriptor can be read
    // after the first line of the new file (two files, read one after the other).
    expectExactlyOnce(run, want);
  });

  it('a 10 MB line among normal ones: delivered once as its head, memory bounded', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    writer = new Writer(p);
    // One buffer, written in 1 MB views: the test makes no garbage of its own to count.
    const big = Buffer.concat([Buffer.from(`${line(1000)} `), Buffer.alloc(10 * 1024 * 1024, 'A')]);
    const want = [line(0), line(1), line(2)];
    writer.write(`${line(0)}\n`);
    const before = process.memoryUsage();
    // The big line in 1 MB writes, the tailer reading as it comes.
    for (let off = 0; off < big.length; off += 1024 * 1024) {
      writer.write(big.subarray(off, off + 1024 * 1024));
      await sleep(5);
    }
    writer.write(`\n${line(1)}\n${line(2)}\n`);
    await run.until(() => run!.got.length >= 4);
    await sleep(100);
    const head = run.got.find((l) => l.startsWith(line(1000)));
    expect(head?.length).toBe(256 * 1024); // the default cap (maxLineBytes)
    run.got = run.got.filter((l) => l !== head);
    expectExactlyOnce(run, want);
    expect(run.tailer.stats().overlongLines).toBe(1);
    const after = process.memoryUsage();
    // The tailer holds the head (256 KiB), never the line.
    expect(after.external + after.arrayBuffers - (before.external + before.arrayBuffers)).toBeLessThan(8 * 1024 * 1024);
  });

  it('NUL bytes inside lines and between them are bytes like any other', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    writer = new Writer(p);
    const want = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? line(i) : `${line(i)}\0\0"\0`));
    writer.write(want.map((l) => `${l}\n`).join(''));
    await run.until(() => run!.got.length >= want.length);
    await sleep(100);
    expectExactlyOnce(run, want);
  });

  it('a file that never ends its line: nothing delivered, memory bounded, then lines are read again', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    writer = new Writer(p);
    writer.write(`${line(0)}\n`);
    const before = process.memoryUsage();
    const chunk = Buffer.from('B'.repeat(256 * 1024)); // one buffer: the test makes no garbage of its own
    for (let n = 0; n < 40; n++) {
      writer.write(chunk); // 10 MB in all, no newline
      await sleep(2);
    }
    await sleep(300);
    expect(run.got).toEqual([line(0)]);
    const mid = process.memoryUsage();
    expect(mid.external + mid.arrayBuffers - (before.external + before.arrayBuffers)).toBeLessThan(8 * 1024 * 1024);
    writer.write(`\n${line(1)}\n`);
    await run.until(() => run!.got.length >= 3);
    await sleep(100);
    expect(run.got.length).toBe(3);
    expect(run.got[1]).toBe('B'.repeat(256 * 1024));
    expect(run.got[2]).toBe(line(1));
  });

  it('a burst of 200,000 lines in one write: all once, the event loop never blocked 100 ms', async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    run = await follow([p]);
    writer = new Writer(p);
    const N = 200_000;
    const want = Array.from({ length: N }, (_, i) => line(i));
    writer.write(`${want.join('\n')}\n`);
    // The write itself (some 30 MB) is the test's own blocking: measure from here on.
    run.delay.reset();
    const t0 = Date.now();
    await run.until(() => run!.got.length >= N, 15_000);
    const ms = Date.now() - t0;
    await sleep(100);
    expectExactlyOnce(run, want);
    expect(ms).toBeLessThan(10_000);
  }, 20_000);

  it('control: the block monitor sees 150 ms of CPU without yielding, and not a 150 ms sleep', async () => {
    const m = new BlockMonitor();
    m.start();
    await sleep(150);
    expect(m.max).toBeLessThan(100);
    await sleep(20);
    // 150 ms of this process's CPU without yielding (wall time may be longer on a busy machine).
    const c0 = process.cpuUsage();
    for (let u = process.cpuUsage(c0); u.user + u.system < 150_000; u = process.cpuUsage(c0));
    await sleep(20);
    m.stop();
    expect(m.max).toBeGreaterThan(100);
  });
});
