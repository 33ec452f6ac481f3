/**
 * ApacheMapEnforcer against a real Apache (apache2 -DFOREGROUND on 127.0.0.1:<free port>, its own
 * config, pid file, logs and document root in a temp dir) with docker/apache/banhammer-map.conf
 * included as the image would: 127.0.0.1 is the trusted proxy, 127.0.0.2 an untrusted peer. Apache
 * is never reloaded: bans take effect because mod_rewrite re-reads a map (the SDBM map and its
 * overflow txt map, apache-map.ts) when its mtime changes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { APACHE, APACHE_MODULES, apacheMapConf } from '../../support/apache-conf.js';

const MODULES = APACHE_MODULES;
const skip = !existsSync(APACHE)
  ? `${APACHE} not installed (apt-get install apache2)`
  : !['mod_rewrite.so', 'mod_remoteip.so', 'mod_mpm_event.so', 'mod_authz_core.so', 'mod_dir.so'].every((m) => existsSync(join(MODULES, m)))
    ? `Apache modules missing in ${MODULES}`
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

describe.skipIf(skip !== null)(`ApacheMapEnforcer with a real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let port: number;
  let apache: ChildProcess | undefined;
  let stderr = '';
  let mapPath: string;
  let enf: ApacheMapEnforcer;
  let seq = 0;

  /** GET /?n=<unique> from `from` (local address), optionally with X-Forwarded-For; the status and the path. */
  const get = (opts: { xff?: string; from?: string } = {}): Promise<{ status: number; path: string }> => {
    const path = `/?n=${++seq}`;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path,
          localAddress: opts.from ?? '127.0.0.1',
          headers: { connection: 'close', ...(opts.xff ? { 'x-forwarded-for': opts.xff } : {}) },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, path }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-apache-'));
    await chmod(dir, 0o755); // Apache's worker user reads the document root and the map
    await mkdir(join(dir, 'www'), { mode: 0o755 });
    await writeFile(join(dir, 'www', 'index.html'), 'hello\n', { mode: 0o644 });
    mapPath = join(dir, 'banned.map');
    enf = new ApacheMapEnforcer({ path: mapPath });
    await enf.init(); // Apache refuses to start without the map file
    port = await freePort();
    const conf = apacheMapConf({ dir, port, mapPath, logFormat: '%h \\"%r\\" %>s' });
    await writeFile(join(dir, 'httpd.conf'), conf);
    apache = spawn(APACHE, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
    apache.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    let exited: string | null = null;
    apache.once('exit', (code, sig) => (exited = `apache2 exited (${code ?? sig}): ${stderr}`));
    for (;;) {
      if (exited) throw new Error(exited);
      const ok = await get().then((r) => r.status === 200, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (apache && apache.exitCode === null) {
      const gone = new Promise((r) => apache!.once('exit', r));
      apache.kill('SIGTERM'); // graceful-stop of the parent we started; it ends its own workers
      await gone;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('bans the forwarded client without a reload, nobody else, and lifts the ban', async () => {
    expect((await get({ xff: '198.18.0.9' })).status).toBe(200);
    await enf.apply({ ban: [{ ip: '198.18.0.9', family: 4, until: Date.now() + 600_000 }], unban: [] });
    expect((await get({ xff: '198.18.0.9' })).status).toBe(403);
    expect((await get({ xff: '198.18.0.10' })).status).toBe(200);
    // From the trusted proxy itself (no header) and from an untrusted peer forging the header.
    expect((await get()).status).toBe(200);
    expect((await get({ from: '127.0.0.2', xff: '198.18.0.10' })).status).toBe(200);
    await enf.apply({ ban: [], unban: [{ ip: '198.18.0.9', family: 4 }] });
    expect((await get({ xff: '198.18.0.9' })).status).toBe(200);
  });

  it('an untrusted peer cannot shift its own ban onto a forged client address', async () => {
    await enf.apply({ ban: [{ ip: '127.0.0.2', family: 4, until: null }], unban: [] });
    expect((await get({ from: '127.0.0.2', xff: '198.18.0.10' })).status).toBe(403);
    expect((await get({ xff: '198.18.0.10' })).status).toBe(200);
    await enf.apply({ ban: [], unban: [{ ip: '127.0.0.2', family: 4 }] });
  });

  it('matches IPv6 clients whatever their spelling in the header', async () => {
    await enf.apply({ ban: [{ ip: '2001:db8::9', family: 6, until: null }], unban: [] });
    expect((await get({ xff: '2001:DB8:0:0:0:0:0:9' })).status).toBe(403);
    expect((await get({ xff: '2001:db8::a' })).status).toBe(200);
    await enf.apply({ ban: [], unban: [{ ip: '2001:db8::9', family: 6 }] });
    expect((await get({ xff: '2001:db8::9' })).status).toBe(200);
  });

  it('an entry whose expiry has passed stops matching with no agent to remove it', async () => {
    // An agent whose clock is an hour behind writes a ban that ended 30 minutes ago in real time.
    const late = new ApacheMapEnforcer({ path: mapPath, clock: new ManualClock(Date.now() - 3600_000) });
    await late.apply({ ban: [{ ip: '198.18.0.20', family: 4, until: Date.now() - 1800_000 }, { ip: '198.18.0.21', family: 4, until: null }], unban: [] });
    expect(await readFile(mapPath, 'utf8')).toContain('198.18.0.20 ');
    expect((await get({ xff: '198.18.0.20' })).status).toBe(200);
    expect((await get({ xff: '198.18.0.21' })).status).toBe(403);
    await enf.apply({ ban: [], unban: [] }); // back to this test's own (empty) list
    expect((await get({ xff: '198.18.0.21' })).status).toBe(200);
  });

  it('keeps banned requests out of the access log and marks them on stderr', async () => {
    await enf.apply({ ban: [{ ip: '198.18.0.30', family: 4, until: null }], unban: [] });
    const banned = await get({ xff: '198.18.0.30' });
    expect(banned.status).toBe(403);
    const allowed = await get({ xff: '198.18.0.31' });
    expect(allowed.status).toBe(200);
    // Both logs of one request are written in one log_transaction, access log first. Apache points
    // its stderr at ErrorLog once started (in the image both are docker logs).
    const marked = `banhammer-banned 198.18.0.30 127.0.0.1 [`;
    let errors = '';
    while (!errors.split('\n').some((l) => l.startsWith(marked) && l.includes(`"GET ${banned.path} HTTP/1.1" 403`))) {
      errors = stderr + (await readFile(join(dir, 'error.log'), 'utf8').catch(() => ''));
      await new Promise((r) => setTimeout(r, 50));
    }
    let log = '';
    while (!log.includes(`GET ${allowed.path} `)) {
      log = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(log).not.toContain(`GET ${banned.path} `);
    // With mod_remoteip, %h is the forwarded client: what the agent's parser reads.
    expect(log).toContain(`198.18.0.31 "GET ${allowed.path} HTTP/1.1" 200`);
    await enf.apply({ ban: [], unban: [{ ip: '198.18.0.30', family: 4 }] });
  });

  it('refuses non-client addresses without holding back the batch; check(expected) restores what the ban book says', async () => {
    const r = await enf.apply({
      ban: [
        { ip: '0.0.0.0', family: 4, until: null },
        { ip: '198.18.0.40', family: 4, until: null },
        { ip: 'ff02::1', family: 6, until: null },
      ],
      unban: [],
    });
    expect(r.refused.map((x) => x.ip)).toEqual(['0.0.0.0', 'ff02::1']);
    expect((await get({ xff: '198.18.0.40' })).status).toBe(403);
    expect(await readFile(mapPath, 'utf8')).not.toMatch(/^(0\.0\.0\.0|ff02::1) /m);
    // Someone removes the maps Apache reads (a cleanup of /run, an rm -r): the ban is gone from
    // Apache's view (mod_rewrite logs that it cannot open them and answers a miss).
    await rm(`${mapPath}.sdbm`, { recursive: true, force: true });
    expect((await get({ xff: '198.18.0.40' })).status).toBe(200);
    const book = [
      { ip: '198.18.0.40', family: 4 as const, until: null },
      { ip: '198.18.0.41', family: 4 as const, until: Date.now() + 600_000 },
      { ip: '0.0.0.0', family: 4 as const, until: null },
    ];
    expect(await enf.check(() => book)).toEqual([`SDBM map ${mapPath}.sdbm/current/map was missing and was re-created`, `map file ${mapPath}: 1 missing ban(s) re-added`]);
    expect((await get({ xff: '198.18.0.40' })).status).toBe(403);
    expect((await get({ xff: '198.18.0.41' })).status).toBe(403);
    expect((await get({ xff: '198.18.0.42' })).status).toBe(200);
    expect(await enf.check(() => book)).toEqual([]);
    await enf.apply({ ban: [], unban: [{ ip: '198.18.0.40', family: 4 }, { ip: '198.18.0.41', family: 4 }] });
  });
});
