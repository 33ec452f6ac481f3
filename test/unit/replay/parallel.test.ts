import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeLogFile } from '../../../bench/generate-log.js';
import { loadConfig } from '../../../src/config/load.js';

// Workers run the built JavaScript, so this compares the built replay with itself on 1 and on
// several threads (npm test builds first).
const built = new URL('../../../dist/replay/replay.js', import.meta.url);
const haveBuild = existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bh-parallel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveBuild)('parallel replay (needs npm run build)', () => {
  it('gives exactly the single-threaded result, for any number of spans', async () => {
    const file = join(dir, 'access.log');
    writeLogFile(file, { lines: 60_000, seed: 7 });
    const { replayFile, splitSpans } = (await import(built.href)) as typeof import('../../../src/replay/replay.js');
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden,not-found,sensitive-paths' }, hostname: 't' });
    const one = await replayFile(file, config, { threads: 1 });
    expect(one.bans.length).toBeGreaterThan(0);
    for (const threads of [2, 3, 7]) {
      expect(splitSpans(file, threads).length).toBe(threads);
      const many = await replayFile(file, config, { threads });
      expect(many).toEqual(one);
    }
  });

  it('spans start at line starts and cover the file without gaps', async () => {
    const file = join(dir, 'spans.log');
    writeLogFile(file, { lines: 5_000, seed: 3 });
    const { splitSpans } = (await import(built.href)) as typeof import('../../../src/replay/replay.js');
    const spans = splitSpans(file, 4);
    expect(spans[0]!.from).toBe(0);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.from).toBe(spans[i - 1]!.to);
  });
});
