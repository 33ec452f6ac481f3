// copytruncate landing while the follower is inside one read pass (a backlog larger than one read
// chunk), the file refilled past the offset the pass reads next before that read. The truncation
// check ran only once, before the first read of a pass; the following reads took bytes from the
// middle of the new content and joined them to the old content's held partial line: a line made of
// one client's address and another request's status (framing), the new content before that
// offset never read (a ban escaped) and the old content's unread end never read from its copy.
// Deterministic: the truncation is done from inside onLine, which runs between two reads of a pass.
import { appendFileSync, copyFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import type { BanhammerError } from '../../../src/errors.js';
import { FileFollower } from '../../../src/source/file-follower.js';

let dir: string;
let follower: FileFollower | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-hostile-midread-'));
});
afterEach(async () => {
  await follower?.stop();
  follower = null;
  await rm(dir, { recursive: true, force: true });
});

// Lines of different lengths: whatever the read chunk is, a chunk ends inside a line.
const oldLine = (i: number): string => `198.18.0.${i % 250} - - [06/Dec/2026:10:00:00 +0000] "GET /ok/${'x'.repeat(i % 37)}?old=${i} HTTP/1.1" 200 512 "-" "ua"`;
const newLine = (i: number): string => `198.18.1.${i % 250} - - [06/Dec/2026:10:00:01 +0000] "GET /wp-login.php?new=${i}${'y'.repeat(i % 29)} HTTP/1.1" 403 199 "-" "ua"`;

describe('copytruncate between two reads of one pass', () => {
  it('every old line once (its unread end from the copy), every new line once, no spliced line', async () => {
    const p = join(dir, 'access.log');
    const OLD = 3000; // ~400 KB: several read chunks in one pass
    const NEW = 6000; // the refill reaches well past what the pass has read
    writeFileSync(p, '');
    const got: string[] = [];
    const errors: BanhammerError[] = [];
    let rotated = false;
    follower = new FileFollower({
      path: p,
      startAt: 'start',
      saved: [],
      onLine: (l) => {
        got.push(l);
        // Inside the first chunk: logrotate copies and truncates, the server writes on.
        if (!rotated && got.length === 50) {
          rotated = true;
          copyFileSync(p, `${p}.1`);
          truncateSync(p, 0);
          appendFileSync(p, Array.from({ length: NEW }, (_, i) => `${newLine(i)}\n`).join(''));
        }
      },
      onError: (e) => errors.push(e),
      onWarning: () => undefined,
      clock: systemClock,
      maxLineBytes: 64 * 1024,
      rotateWaitMs: 60_000,
      counters: { lines: 0, rotations: 0, truncations: 0 },
    });
    await follower.init();
    appendFileSync(p, Array.from({ length: OLD }, (_, i) => `${oldLine(i)}\n`).join(''));
    for (let k = 0; k < 3; k++) {
      follower.poke();
      await follower.idle();
    }
    expect(rotated).toBe(true);
    const want = [...Array.from({ length: OLD }, (_, i) => oldLine(i)), ...Array.from({ length: NEW }, (_, i) => newLine(i))];
    const wantSet = new Set(want);
    const gotSet = new Set(got);
    const foreign = got.filter((l) => !wantSet.has(l));
    const missingOld = want.slice(0, OLD).filter((l) => !gotSet.has(l)).length;
    const missingNew = want.slice(OLD).filter((l) => !gotSet.has(l)).length;
    expect({ foreign: foreign.slice(0, 3), missingOld, missingNew, duplicates: got.length - gotSet.size }).toEqual({
      foreign: [],
      missingOld: 0,
      missingNew: 0,
      duplicates: 0,
    });
    expect(errors).toEqual([]);
  });
});
