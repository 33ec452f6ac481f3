/**
 * Replay's text and --json must agree on what is banned, and for how long: the text says "until …" or
 * "permanent" (and an incremented bantime shows in it), the JSON carried no end at all, so a script
 * could not tell a permanent ban from an hour's, nor compare replay with `why --json` (which has
 * `until`). Fails until /tmp/h1/replay-json-until.patch (src/cli.ts and README, not H1's) is applied.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { replayJson } from '../../../src/cli.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /p HTTP/1.1" 403 1 "-" "c"`;

async function replayed(env: Record<string, string>, yaml?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h1-rj-'));
  dirs.push(dir);
  const log = join(dir, 'access.log');
  const lines: string[] = [];
  for (const start of [0, 7200_000]) for (let i = 0; i < 5; i++) lines.push(line('198.18.61.1', T0 + start + i * 1000));
  writeFileSync(log, lines.join('\n') + '\n');
  if (yaml !== undefined) writeFileSync(join(dir, 'c.yaml'), yaml);
  const config = loadConfig({ env: { ...env, ...(yaml !== undefined ? { BANHAMMER_CONFIG: join(dir, 'c.yaml') } : {}) }, hostname: 'unit' });
  const report = await replayFile(log, config, { threads: 1 });
  return { report, json: JSON.parse(JSON.stringify(replayJson(report))) as { bans: Record<string, unknown>[] } };
}

describe('replay --json says when each ban ends, as the text does', () => {
  it('permanent (bantime -1): until null, as why --json', async () => {
    const { report, json } = await replayed({ BANHAMMER_RULE_FORBIDDEN_BANTIME: '-1' });
    expect(report.bans.map((b) => b.until)).toEqual([null]);
    expect(json.bans.map((b) => b.until)).toEqual([null]);
  });

  it('incremented bantime: the second ban is longer, and the JSON shows it', async () => {
    const { report, json } = await replayed({}, 'rules:\n  forbidden:\n    bantime: 10m\n    increment: { factor: 3, maxtime: 1d }\n');
    expect(report.bans.map((b) => (b.until! - b.at) / 60_000)).toEqual([10, 30]);
    expect(json.bans.map((b) => b.until)).toEqual(report.bans.map((b) => new Date(b.until!).toISOString()));
  });
});
