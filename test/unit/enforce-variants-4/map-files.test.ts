/**
 * Round 4 (H5): the Apache/nginx map files against a hostile or unlucky file system and hostile
 * addresses: the map path replaced by a symlink (to a file the agent must never write through) or
 * by a directory after start, temp names planted by someone else, addresses carrying newlines,
 * spaces, zone ids or a CR, and a 100,000-entry map.
 */
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import type { Runner } from '../../../src/exec/runner.js';
import { ManualClock } from '../../fakes/manual-clock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h5-map-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
const okRunner: Runner = { run: async () => ({ stdout: '', stderr: '', code: 0 }) } as unknown as Runner;

describe('map files, round 4', () => {
  it('the map replaced by a symlink to another file: check() puts a regular file back and never writes through the link', async () => {
    const path = join(dir, 'banned.map');
    const victim = join(dir, 'victim.conf');
    await writeFile(victim, 'precious\n');
    const e = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await e.init();
    const book: EnforcerBan[] = [{ ip: '198.18.0.1', family: 4, until: null }];
    await e.apply({ ban: book, unban: [] });
    await unlink(path);
    await symlink(victim, path);
    expect((await e.check(() => book)).join('\n')).toMatch(/changed from outside|re-created/);
    expect((await lstat(path)).isSymbolicLink()).toBe(false);
    expect(await readFile(path, 'utf8')).toMatch(/^198\.18\.0\.1 /m);
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
  });

  it('a planted symlink at the next temp name is never followed (the victim stays); the write fails cleanly and the next one succeeds', async () => {
    const path = join(dir, 'banned.map');
    const victim = join(dir, 'victim.conf');
    await writeFile(victim, 'precious\n');
    const e = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await e.init();
    // The next two temp names this process would use.
    for (let n = 1; n <= 40; n++) await symlink(victim, join(dir, `.banned.map.tmp-${process.pid}-${n}`)).catch(() => undefined);
    let failures = 0;
    for (let i = 0; i < 3; i++) {
      await e.apply({ ban: [{ ip: `198.18.0.${i + 1}`, family: 4, until: null }], unban: [] }).catch(() => failures++);
    }
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    for (const n of await readdir(dir)) if (n.startsWith('.banned.map.tmp-')) await unlink(join(dir, n));
    await e.check(() => [1, 2, 3].map((i) => ({ ip: `198.18.0.${i}`, family: 4 as const, until: null })));
    expect((await readFile(path, 'utf8')).match(/^198\.18\.0\.\d /gm)).toHaveLength(3);
  });

  it('the map replaced by a directory after start: check() fails with a clear BH_ERR_FILE naming it a directory; nothing is left behind', async () => {
    const path = join(dir, 'banned.map');
    const e = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await e.init();
    await unlink(path);
    await mkdir(path);
    await writeFile(join(path, 'x'), '');
    const err = await e.check(() => [{ ip: '198.18.0.1', family: 4, until: null }]).then(() => null, (x: unknown) => x as { code?: string; message?: string });
    expect(err?.code).toBe('BH_ERR_FILE');
    expect(err?.message).toMatch(/directory/);
    expect((await readdir(dir)).sort()).toEqual(['banned.map', 'banned.map.sdbm']); // and the SDBM map Apache reads (apache-map.ts)
  });

  it('hostile addresses (newline, space, CR, tab, zone id, a second address, a NUL) are refused and never reach either file', async () => {
    const hostile = ['198.18.0.1\n198.18.0.2', '198.18.0.1 1', '198.18.0.1\r', '198.18.0.1\t', '2001:db8::1%lo', '198.18.0.1,198.18.0.2', '198.18.0.1\0', ' 198.18.0.1', '198.18.0.1;'];
    for (const make of [
      (path: string) => new ApacheMapEnforcer({ path, clock: new ManualClock() }),
      (path: string) => new NginxMapEnforcer({ path, clock: new ManualClock(), runner: okRunner }),
    ]) {
      const path = join(dir, `m-${Math.random().toString(16).slice(2)}`);
      const e = make(path);
      await e.init();
      const r = await e.apply({ ban: hostile.map((ip) => ({ ip, family: 4 as const, until: null })), unban: [] });
      expect(r.refused.map((x) => x.ip).sort()).toEqual([...hostile].sort());
      const text = await readFile(path, 'utf8');
      expect(text).not.toMatch(/198\.18\.0\.[12]|2001:db8::1|\r|\t|\0/);
      await e.shutdown();
    }
  });

  it('a 100,000-entry Apache map is written whole and atomically in well under a few seconds; each entry has its line', async () => {
    const path = join(dir, 'banned.map');
    const clock = new ManualClock();
    const e = new ApacheMapEnforcer({ path, clock });
    await e.init();
    const bans: EnforcerBan[] = [];
    for (let i = 0; i < 100_000; i++) bans.push({ ip: `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${(i & 255) + 0}`, family: 4, until: clock.now() + 3_600_000 });
    const usable = bans.filter((b) => !b.ip.endsWith('.0') && !b.ip.endsWith('.255'));
    const t = performance.now();
    expect((await e.apply({ ban: usable, unban: [] })).refused).toEqual([]);
    const ms = performance.now() - t;
    const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toHaveLength(usable.length); // one line per IPv4 ban (APR never looks up ::ffff:a.b.c.d)
    expect(ms).toBeLessThan(5000);
  });
});
