/**
 * Issue 5, round 3: "bad input in both modes gets a clear error and loses nothing: … a missing map
 * directory, an unwritable map file". A map path that is a directory (what Docker makes when a bind
 * mount's source file does not exist) was taken as an existing map at start, so the agent ran while
 * every ban failed with EISDIR and a hint about free space. It is refused at start, saying what it
 * is and what to do, for both map enforcers; a directory put there later is named as such too.
 */
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import { isBanhammerError } from '../../../src/errors.js';
import type { Runner } from '../../../src/exec/runner.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const okRunner: Runner = { run: async () => ({ stdout: '', stderr: '' }) } as unknown as Runner;

async function box(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bh-pv3-map-'));
  dirs.push(d);
  return d;
}

const makers = {
  'apache-map': (path: string) => new ApacheMapEnforcer({ path }),
  'nginx-map': (path: string) => new NginxMapEnforcer({ path, runner: okRunner }),
};

describe('a map path that is a directory', () => {
  for (const [name, make] of Object.entries(makers)) {
    it(`${name}: init refuses it with BH_ERR_FILE saying it is a directory`, async () => {
      const d = await box();
      const path = join(d, 'banned.map');
      await mkdir(path);
      const err = await make(path).init().then(() => null, (e: unknown) => e);
      expect(isBanhammerError(err), String(err)).toBe(true);
      if (!isBanhammerError(err)) return;
      expect(err.code).toBe('BH_ERR_FILE');
      expect(err.message).toMatch(/is a directory/);
      expect(err.hint ?? '').toMatch(/bind mount/);
    });

    it(`${name}: a directory put in the file's place later is named as one; the bans are written once it is gone`, async () => {
      const d = await box();
      const path = join(d, 'banned.map');
      const e = make(path);
      await e.init();
      await rename(path, join(d, 'old.map'));
      await mkdir(path);
      const err = await e.apply({ ban: [{ ip: '198.18.0.5', family: 4, until: null }], unban: [] }).then(() => null, (x: unknown) => x);
      expect(isBanhammerError(err) && err.message, String(err)).toMatch(/is a directory/);
      await rm(path, { recursive: true });
      await writeFile(path, '');
      expect(await e.check(() => [{ ip: '198.18.0.5', family: 4, until: null }])).not.toEqual([]);
      expect(await readFile(path, 'utf8')).toContain('198.18.0.5');
    });
  }
});
