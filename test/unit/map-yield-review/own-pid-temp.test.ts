/**
 * H32: a container's agent has the same pid at every start, so a temp file that a killed agent left
 * mid-write (`.<map>.tmp-<pid>-<n>`) carries the new agent's pid. init() left it (it removed only
 * other pids' temps), and the write that reached the same number failed (the temp is created
 * exclusively: EEXIST): a batch of bans refused once, and the stray file kept for good.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import { ManualClock } from '../../fakes/manual-clock.js';

describe('map file: a temp file of an earlier agent with our pid', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h32-tmp-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is removed at init, and the writes that follow succeed', async () => {
    const path = join(dir, 'geo.conf');
    await writeFile(path, '# an earlier agent\ngeo $banhammer_banned {\n    default 0;\n}\n');
    for (let n = 1; n <= 3; n++) await writeFile(join(dir, `.geo.conf.tmp-${process.pid}-${n}`), 'half a map');
    const e = new NginxMapEnforcer({ path, clock: new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0)), runner: { run: async () => ({ stdout: '', stderr: '' }) } as never });
    await e.init();
    for (let i = 1; i <= 3; i++) {
      e.map.update({ ban: [{ ip: `198.18.0.${i}`, family: 4, until: null }], unban: [] } as never);
      await e.map.write();
    }
    expect(await readFile(path, 'utf8')).toContain('198.18.0.3/32');
    expect((await readdir(dir)).sort()).toEqual(['geo.conf']);
  });
});
