// Rename rotation twice between two looks at the path (Docker's json-file max-size filled by a
// flood faster than a busy agent reads, logrotate `size` under a burst): the generation in between
// was never opened, and every line of it was lost; only s6-log archives were looked for. Passes
// are driven by hand, so it is deterministic.
import { appendFileSync, copyFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { FileFollower } from '../../../src/source/file-follower.js';
import { line } from './harness.js';

let dir: string;
let follower: FileFollower | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-hostile-skip-'));
});
afterEach(async () => {
  await follower?.stop();
  follower = null;
  await rm(dir, { recursive: true, force: true });
});

const lines = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => line(from + i));
const append = (p: string, from: number, to: number): void => appendFileSync(p, lines(from, to).map((l) => `${l}\n`).join(''));
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 15)); // past the kernel's clock tick: distinct birth times

/** Docker's json-file rotation: <name>.(N-1) → <name>.N …, <name> → <name>.1, a new <name>. */
function dockerRotate(p: string, keep: number): void {
  for (let k = keep - 1; k >= 1; k--) if (existsSync(`${p}.${k}`)) renameSync(`${p}.${k}`, `${p}.${k + 1}`);
  renameSync(p, `${p}.1`);
  writeFileSync(p, '');
}

async function start(p: string): Promise<{ got: string[]; pass: () => Promise<void> }> {
  const got: string[] = [];
  follower = new FileFollower({
    path: p,
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
  });
  await follower.init();
  const f = follower;
  return {
    got,
    pass: async () => {
      f.poke();
      await f.idle();
    },
  };
}

describe('two rename rotations between two looks', () => {
  it('Docker json-file names (.1 shifted to .2): the generation in between is read, each line once', async () => {
    const p = join(dir, 'abc-json.log');
    writeFileSync(p, '');
    const r = await start(p);
    append(p, 0, 10);
    await r.pass();
    append(p, 10, 20); // not read yet
    await tick();
    dockerRotate(p, 5);
    append(p, 20, 30); // the generation never looked at
    await tick();
    dockerRotate(p, 5);
    append(p, 30, 40);
    await r.pass();
    await r.pass();
    expect(r.got).toEqual(lines(0, 40));
  });

  it("logrotate-style names, and an operator's copy of the old file in between is not read", async () => {
    const p = join(dir, 'access.log');
    writeFileSync(p, '');
    const r = await start(p);
    append(p, 0, 10);
    await r.pass();
    await tick();
    renameSync(p, `${p}.1`);
    copyFileSync(`${p}.1`, `${p}.7`); // a copy of lines already read, born in between
    writeFileSync(p, '');
    append(p, 10, 20);
    await tick();
    renameSync(p, `${p}.2`);
    writeFileSync(p, '');
    append(p, 20, 30);
    await r.pass();
    await r.pass();
    expect(r.got).toEqual(lines(0, 30));
  });
});
