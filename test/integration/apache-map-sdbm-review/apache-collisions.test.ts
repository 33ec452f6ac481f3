/**
 * H21: real Apache (apache2 -DFOREGROUND on 127.0.0.1:<free port>, the image's banhammer-map.conf
 * through test/support/apache-conf.ts, 127.0.0.1 the trusted proxy naming each client in
 * X-Forwarded-For, as test/integration/apache-map-dbm does) reading an SDBM map built at its full
 * depth from addresses crafted to collide: every banned one gets 403 (from a page at depth 24 of a
 * 16 GiB sparse .pag, or from overflow.map), every unbanned neighbour sharing the same hash bits
 * 200, and after the unbans all of them 200; and an agent whose umask is 027 still writes a map
 * that Apache's user (www-data) can read. No firewall is touched: no network namespace needed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { APACHE, APACHE_MODULES, apacheMapConf } from '../../support/apache-conf.js';
import { collidingKeys } from '../../unit/enforce-sdbm-review/colliding-keys.js';

const skip = !existsSync(APACHE)
  ? `${APACHE} not installed (apt-get install apache2)`
  : !['mod_rewrite.so', 'mod_remoteip.so', 'mod_mpm_event.so', 'mod_authz_core.so', 'mod_dir.so'].every((m) => existsSync(join(APACHE_MODULES, m)))
    ? `Apache modules missing in ${APACHE_MODULES}`
    : null;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

describe.skipIf(skip !== null)(`apache-map: crafted SDBM hash collisions, real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let port: number;
  let apache: ChildProcess | undefined;
  let stderr = '';
  let mapPath: string;
  let seq = 0;

  const get = (xff?: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: `/?n=${++seq}`, headers: { connection: 'close', ...(xff ? { 'x-forwarded-for': xff } : {}) }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-apache-sdbm-review-'));
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'www'), { mode: 0o755 });
    await writeFile(join(dir, 'www', 'index.html'), 'hello\n', { mode: 0o644 });
    mapPath = join(dir, 'banned.map');
    await new ApacheMapEnforcer({ path: mapPath }).init();
    port = await freePort();
    await writeFile(join(dir, 'httpd.conf'), apacheMapConf({ dir, port, mapPath, logFormat: '%h \\"%r\\" %>s' }));
    apache = spawn(APACHE, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
    apache.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    let exited: string | null = null;
    apache.once('exit', (code, sig) => (exited = `apache2 exited (${code ?? sig}): ${stderr}`));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited) throw new Error(exited);
      if (Date.now() > deadline) throw new Error(`apache2 did not answer: ${stderr}`);
      if (await get().then((s) => s === 200, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);

  afterAll(async () => {
    if (apache && apache.exitCode === null) {
      const gone = new Promise((r) => apache!.once('exit', r));
      apache.kill('SIGTERM');
      await gone;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(process.getuid?.() !== 0)('an agent running with umask 027 still writes a map Apache (www-data) can read', async () => {
    // A fresh map beside the one Apache reads: the umask must not reach the directories' modes.
    // Apache's own map is rebuilt under that umask: its .sdbm directory made anew, then a version.
    await rm(`${mapPath}.sdbm`, { recursive: true, force: true });
    const old = process.umask(0o027);
    try {
      const enf = new ApacheMapEnforcer({ path: mapPath });
      await enf.init();
      await enf.apply({ ban: [{ ip: '198.18.1.1', family: 4, until: Date.now() + 600_000 }], unban: [] });
    } finally {
      process.umask(old);
    }
    expect(await get('198.18.1.1')).toBe(403);
    expect(await get('198.18.1.2')).toBe(200);
    await new ApacheMapEnforcer({ path: mapPath }).shutdown();
    expect(await get('198.18.1.1')).toBe(200);
  });

  it('groups sharing all 20 page bits: every banned member 403, every unbanned neighbour 200', async () => {
    const enf = new ApacheMapEnforcer({ path: mapPath });
    await enf.init();
    // Two values 2^19 apart: the tree splits down to depth 20 (SDBM_MAX_DEPTH) to part them.
    const [a, b] = collidingKeys([0x3c3c3c, 0x3c3c3c ^ 0x080000], 60);
    const banned = [...a!.slice(0, 40), ...b!.slice(0, 40)];
    const neighbours = [...a!.slice(40), ...b!.slice(40)];
    expect(neighbours.length).toBeGreaterThan(20);
    await enf.apply({ ban: banned.map((ip) => ({ ip, family: 6 as const, until: Date.now() + 600_000 })), unban: [] });
    expect(enf.sdbm.overflow).toBe(2 * (40 - 18));
    const size = (await stat(`${enf.sdbm.readerPath}.pag`)).size;
    expect(size).toBeGreaterThan(2 ** 29); // pages at depth 20
    expect(size).toBeLessThanOrEqual(2 ** 30);
    for (const c of banned) expect(await get(c)).toBe(403);
    for (const c of neighbours) expect(await get(c)).toBe(200);
    // Unban every other one: the pages shrink, overflow.map with them.
    const lifted = banned.filter((_, i) => i % 2 === 1);
    await enf.apply({ ban: [], unban: lifted.map((ip) => ({ ip, family: 6 as const })) });
    expect(enf.sdbm.overflow).toBe(2 * (20 - 18));
    for (const c of banned) expect(await get(c)).toBe(lifted.includes(c) ? 200 : 403);
    await enf.apply({ ban: [], unban: banned.map((ip) => ({ ip, family: 6 as const })) });
    for (const c of banned) expect(await get(c)).toBe(200);
    expect(await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')).not.toMatch(/can't (open|access) DBM|can't open text RewriteMap/);
  }, 60_000);
});
