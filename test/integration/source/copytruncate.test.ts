// copytruncate every 100 ms under a steady writer, with the real Tailer (inotify + poll), real files.
// The copy and the truncation happen in one synchronous step here, so no line is written between
// them: that window is logrotate's own race (lines written there are in neither file, for any
// reader) and is documented in the README. Everything else must arrive exactly once: lines the
// tailer had not read yet when the file was truncated come from the copy, a truncation noticed only
// after the file grew past the old offset again is still seen as one, and whole rotations missed by a
// tailer that fell behind are read from their copies (10 kept, like logrotate's `rotate 10`).
import { appendFileSync, copyFileSync, existsSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BanhammerError } from '../../../src/errors.js';
import { Tailer } from '../../../src/source/tailer.js';

let dir: string;
let tailer: Tailer | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-copytrunc-'));
});
afterEach(async () => {
  await tailer?.stop();
  tailer = null;
  await rm(dir, { recursive: true, force: true });
});

const KEEP = 10; // copies kept, like logrotate's `rotate 10`
const TOTAL = 1500;
const BURST = 8; // lines per writer tick
const TICK_MS = 5;
const ROTATE_MS = 100;
const DEADLINE_MS = 15_000;

const line = (i: number): string =>
  `198.18.${(i >> 8) & 255}.${i & 255} - - [02/Dec/2026:06:00:00 +0000] "GET /wp-login.php?n=${String(i).padStart(5, '0')} HTTP/1.1" 403 199 "-" "curl/8.0"`;

describe('copytruncate every 100 ms', () => {
  it(`delivers all ${TOTAL} offenders' lines exactly once`, async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const got: string[] = [];
    const errors: BanhammerError[] = [];
    tailer = new Tailer({ paths: [f], onLine: (l) => got.push(l), onError: (e) => errors.push(e), rotateWaitMs: 500 });
    await tailer.start();

    const started = Date.now();
    let written = 0;
    let rotations = 0;
    let lastRotation = Date.now();
    await new Promise<void>((done) => {
      const tick = (): void => {
        const n = Math.min(BURST, TOTAL - written);
        appendFileSync(f, Array.from({ length: n }, (_, k) => `${line(written + k)}\n`).join(''));
        written += n;
        // Right after a burst, so the tailer has usually not read it yet when the file is truncated.
        if (Date.now() - lastRotation >= ROTATE_MS) {
          for (let k = KEEP - 1; k >= 1; k--) if (existsSync(`${f}.${k}`)) renameSync(`${f}.${k}`, `${f}.${k + 1}`);
          copyFileSync(f, `${f}.1`);
          truncateSync(f, 0);
          rotations++;
          lastRotation = Date.now();
        }
        if (written >= TOTAL || Date.now() - started > DEADLINE_MS) done();
        else setTimeout(tick, TICK_MS);
      };
      tick();
    });
    expect(written).toBe(TOTAL);
    expect(rotations).toBeGreaterThanOrEqual(5);

    // Bounded wait: until every line is in, or the deadline.
    while (got.length < TOTAL && Date.now() - started < DEADLINE_MS) await new Promise((r) => setTimeout(r, 20));
    await tailer.settle();
    const want = Array.from({ length: TOTAL }, (_, i) => line(i));
    const gotSet = new Set(got);
    const missing = want.filter((l) => !gotSet.has(l)).length;
    expect({ missing, duplicates: got.length - gotSet.size, foreign: got.filter((l) => !want.includes(l)) }).toEqual({ missing: 0, duplicates: 0, foreign: [] });
    // Exactly once; in file order too, except that a rotation happening while the tailer is reading
    // the previous copy delivers that generation after the next one (a busy machine).
    expect([...got].sort()).toEqual([...want].sort());
    expect(errors).toEqual([]);
    expect(tailer.stats().truncations).toBeGreaterThan(0);
  }, 30_000);
});
