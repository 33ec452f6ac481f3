/**
 * One file followed under two names is read once, and said once. Which of the two followers reads a
 * write first varies from write to write; the warning used to be kept per follower, so when the order
 * flipped the other follower warned as well (a race the tailer test met under load).
 */
import { appendFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { FileFollower, type DeliveredFiles } from '../../../src/source/file-follower.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('warns once per pair of names, whichever follower reads a write first', async () => {
  const d = mkdtempSync(join(tmpdir(), 'bh-shared-'));
  dirs.push(d);
  writeFileSync(join(d, 'real.log'), '');
  symlinkSync('real.log', join(d, 'alias.log'));
  const delivered: DeliveredFiles = new Map();
  const lines: string[] = [];
  const warnings: string[] = [];
  const counters = { lines: 0, rotations: 0, truncations: 0 };
  const follower = (path: string) =>
    new FileFollower({
      path,
      startAt: 'end',
      saved: [],
      onLine: (line) => lines.push(line),
      onError: (e) => {
        throw e;
      },
      onWarning: (m) => warnings.push(m),
      clock: systemClock,
      maxLineBytes: 65_536,
      rotateWaitMs: 5_000,
      counters,
      delivered,
    });
  const real = follower(join(d, 'real.log'));
  const alias = follower(join(d, 'alias.log'));
  await real.init();
  await alias.init();
  const read = async (first: FileFollower, second: FileFollower) => {
    first.poke();
    await first.idle();
    second.poke();
    await second.idle();
  };
  for (let i = 0; i < 6; i++) {
    appendFileSync(join(d, 'real.log'), `line ${i}\n`);
    // The order flips on every write.
    if (i % 2 === 0) await read(real, alias);
    else await read(alias, real);
  }
  await real.stop();
  await alias.stop();
  expect(lines).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  expect(warnings.filter((w) => /same file/.test(w))).toHaveLength(1);
});
