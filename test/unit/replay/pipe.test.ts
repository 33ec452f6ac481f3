/**
 * replay of a pipe: `banhammer replay <(zcat access.log.1.gz)` or `… | banhammer replay /dev/stdin`.
 * A pipe cannot be read at an offset (ESPIPE), so it failed with "cannot read /dev/fd/63: ESPIPE";
 * it is read in order, whole, with the same result as the file.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replayFile } from '../../../src/replay/replay.js';
import { loadConfig } from '../../../src/config/load.js';
import { replayJson } from '../../../src/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-replay-pipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Replays `file` through a FIFO another process writes into (as a shell's process substitution does). */
async function replayThroughFifo(file: string, opts: Parameters<typeof replayFile>[2] = {}) {
  const fifo = join(dir, `fifo-${Math.random().toString(36).slice(2)}`);
  execFileSync('mkfifo', [fifo]);
  const writer = spawn('cp', [file, fifo], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => writer.once('exit', r));
  try {
    return await replayFile(fifo, loadConfig({ env: {}, hostname: 'unit' }), opts);
  } finally {
    expect(await exited).toBe(0);
  }
}

describe('replay of a pipe', () => {
  const sample = new URL('../../../examples/access.log', import.meta.url).pathname;
  const config = loadConfig({ env: {}, hostname: 'unit' });

  it('reads it in order, with the bans of the file itself', async () => {
    const fromFile = await replayFile(sample, config);
    const fromPipe = await replayThroughFifo(sample);
    expect(fromPipe.lines).toBe(readFileSync(sample, 'latin1').split('\n').filter((l) => l !== '').length);
    expect(replayJson(fromPipe)).toEqual(replayJson(fromFile));
    expect(fromPipe.bans.length).toBeGreaterThan(0);
  });

  it('with several threads asked for, or --explain, too', async () => {
    const fromFile = await replayFile(sample, config, { explain: true });
    expect(replayJson(await replayThroughFifo(sample, { threads: 4 }))).toEqual(replayJson(await replayFile(sample, config)));
    const explained = await replayThroughFifo(sample, { explain: true });
    expect(explained.bans.map((b) => b.evidence!.map((l) => l.line))).toEqual(fromFile.bans.map((b) => b.evidence!.map((l) => l.line)));
  });
});
