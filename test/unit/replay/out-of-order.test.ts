/**
 * A ban covers its own period only (review: helper). Replay's clock is each line's time, and a log's
 * lines are not always in order: a server clock that jumped a month ahead for one line, or rotated
 * files joined newest first. A ban dated after a line must not keep that line from counting: before,
 * one exploit probe stamped 30 days ahead shielded its address for the rest of the file (the live
 * agent, which clamps such a line to its clock, bans the later probe and the 403 flood), and of two
 * 403 bursts a day apart read newest first only the first was banned.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-out-of-order-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20, 10, 0, 0);
const access = (ip: string, t: number, status: number, path = '/private') => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl/8"`;
const built = new URL('../../../dist/replay/replay.js', import.meta.url);
const haveBuild = existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url));

function write(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const summary = (bans: readonly { rule: string; ip: string; at: number }[]) => bans.map((b) => `${b.rule} ${b.ip} +${Math.round((b.at - T0) / 3_600_000)}h`).sort();

describe('replay of lines out of time order', () => {
  const config = loadConfig({ env: {}, hostname: 't' });
  const X = '198.18.3.3';
  const Y = '198.18.3.4';
  const future = write('future.log', [
    // One probe stamped 30 days ahead, then on day 2 the same client probes again and floods 403s.
    access(X, T0 + 30 * DAY, 404, '/cgi-bin/../../etc/passwd'),
    access(X, T0 + 2 * DAY, 404, '/cgi-bin/../../etc/passwd'),
    ...Array.from({ length: 6 }, (_, i) => access(X, T0 + 2 * DAY + 10_000 + i * 1000, 403)),
  ]);
  const rotated = write('rotated.log', [
    // access.log (day 1) first, then access.log.1 (day 0): two bursts of five 403s.
    ...Array.from({ length: 5 }, (_, i) => access(Y, T0 + DAY + i * 1000, 403)),
    ...Array.from({ length: 5 }, (_, i) => access(Y, T0 + i * 1000, 403)),
  ]);
  const expected = {
    future: [`exploit-probes ${X} +720h`, `exploit-probes ${X} +48h`, `forbidden ${X} +48h`].sort(),
    rotated: [`forbidden ${Y} +0h`, `forbidden ${Y} +24h`].sort(),
  };

  it('a ban dated later than a line does not shield it', async () => {
    expect(summary((await replayFile(future, config, { threads: 1 })).bans)).toEqual(expected.future);
    expect(summary((await replayFile(rotated, config, { threads: 1 })).bans)).toEqual(expected.rotated);
  });

  it.skipIf(!haveBuild)('the same on several threads (built code)', async () => {
    const { replayFile: replayBuilt } = (await import(built.href)) as typeof import('../../../src/replay/replay.js');
    expect(summary((await replayBuilt(future, config, { threads: 3 })).bans)).toEqual(expected.future);
    expect(summary((await replayBuilt(rotated, config, { threads: 3 })).bans)).toEqual(expected.rotated);
  });
});
