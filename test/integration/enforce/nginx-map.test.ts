/**
 * NginxMapEnforcer against Debian's real nginx, in network namespaces this test creates:
 *   server  bh-t-<id>-ngs  198.19.101.1/24  2001:db8:100:101::1/64   nginx on port 8080
 *   client  bh-t-<id>-ngc  198.19.101.2, 198.19.101.3 (/24)  2001:db8:100:101::2, ::3 (/64)
 * joined by a veth pair. nginx (its own config, pid file, logs in a temp dir) includes the geo file
 * the enforcer writes and answers `if ($banhammer_banned) { return 403; }`; the enforcer reloads it
 * with the real command (`nginx -p DIR -c DIR/nginx.conf -s reload`, an argv, no shell). Clients are
 * curl from the client namespace with a chosen source address. A reload takes effect when nginx's
 * master has re-read the file, shortly after the signal, and the old worker (which keeps accepting
 * with the old map until told to quit) is gone, so each check polls (bounded) for the expected
 * answer and for the old worker's exit instead of asserting on timing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnforcerBan, EnforcerBatch } from '../../../src/enforce/enforcer.js';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import { ProcessRunner } from '../../../src/exec/runner.js';
import { netnsUnavailable } from '../netns.js';

const NGINX = '/usr/sbin/nginx';
const sh = new ProcessRunner({ timeoutMs: 20_000 });
const skip = !existsSync(NGINX)
  ? `${NGINX} not installed (apt-get install nginx)`
  : (await netnsUnavailable()) ?? (existsSync('/usr/bin/curl') ? null : 'curl not installed');

const SERVER = { v4: '198.19.101.1', v6: '2001:db8:100:101::1' };
const CLIENT = { a4: '198.19.101.2', b4: '198.19.101.3', a6: '2001:db8:100:101::2', b6: '2001:db8:100:101::3' };
const PORT = 8080;

describe.skipIf(skip !== null)(`NginxMapEnforcer with a real nginx${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const id = randomBytes(3).toString('hex');
  const serverNs = `bh-t-${id}-ngs`;
  const clientNs = `bh-t-${id}-ngc`;
  const namespaces: string[] = [];
  let dir: string;
  let nginx: ChildProcess | undefined;
  let stderr = '';
  let enf: NginxMapEnforcer;
  let geo: string;
  // The ban book's view for check(expected): every ban applied through apply() below.
  const book = new Map<string, EnforcerBan>();
  const expected = () => [...book.values()];
  const apply = (batch: EnforcerBatch) => {
    for (const u of batch.unban) book.delete(u.ip);
    for (const b of batch.ban) book.set(b.ip, b);
    return enf.apply(batch);
  };

  /** One GET from the client namespace with source `from` to the server's address of the same family. */
  async function get(from: string): Promise<number | null> {
    const to = from.includes(':') ? `[${SERVER.v6}]` : SERVER.v4;
    const r = await sh
      .run('ip', ['netns', 'exec', clientNs, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', '--interface', from, `http://${to}:${PORT}/`], { timeoutMs: 10_000 })
      .catch(() => null);
    const code = Number.parseInt(r?.stdout.trim() ?? '', 10);
    return Number.isFinite(code) && code > 0 ? code : null;
  }

  /**
   * Waits (at most ~10 s) until nginx runs as a master and one worker again. During a reload the
   * old worker keeps accepting connections, with the old map, until the master has told it to quit,
   * so one answer from a new worker does not mean the next request cannot reach an old one.
   */
  async function oldWorkersGone(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const r = await sh.run('ip', ['netns', 'pids', serverNs]);
      if (r.stdout.split('\n').filter((l) => l.trim() !== '').length <= 2) return;
      await sleep(100);
    }
  }

  /**
   * Polls (at most ~10 s) until `from` gets `want` once the reload has settled (the old worker gone);
   * returns the last answer.
   */
  async function answers(from: string, want: number): Promise<number | null> {
    let last: number | null = null;
    for (let i = 0; i < 100; i++) {
      last = await get(from);
      if (last === want) {
        await oldWorkersGone();
        last = await get(from);
        if (last === want) break;
      }
      await sleep(100);
    }
    return last;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-nginx-'));
    await chmod(dir, 0o755);
    for (const ns of [serverNs, clientNs]) {
      await sh.run('ip', ['netns', 'add', ns]);
      namespaces.push(ns);
    }
    const vs = `bhn${id}s`;
    const vc = `bhn${id}c`;
    await sh.run('ip', ['link', 'add', vs, 'netns', serverNs, 'type', 'veth', 'peer', 'name', vc, 'netns', clientNs]);
    const inNs = (ns: string, args: string[]) => sh.run('ip', ['netns', 'exec', ns, 'ip', ...args]);
    await inNs(serverNs, ['addr', 'add', `${SERVER.v4}/24`, 'dev', vs]);
    await inNs(serverNs, ['-6', 'addr', 'add', `${SERVER.v6}/64`, 'dev', vs, 'nodad']);
    await inNs(clientNs, ['addr', 'add', `${CLIENT.a4}/24`, 'dev', vc]);
    await inNs(clientNs, ['addr', 'add', `${CLIENT.b4}/24`, 'dev', vc]);
    await inNs(clientNs, ['-6', 'addr', 'add', `${CLIENT.a6}/64`, 'dev', vc, 'nodad']);
    await inNs(clientNs, ['-6', 'addr', 'add', `${CLIENT.b6}/64`, 'dev', vc, 'nodad']);
    for (const [ns, dev] of [[serverNs, vs], [clientNs, vc]] as const) {
      await inNs(ns, ['link', 'set', 'lo', 'up']);
      await inNs(ns, ['link', 'set', dev, 'up']);
    }

    geo = join(dir, 'banned.geo');
    const conf = join(dir, 'nginx.conf');
    enf = new NginxMapEnforcer({ path: geo, runner: new ProcessRunner({ timeoutMs: 10_000 }), reloadCommand: [NGINX, '-p', `${dir}/`, '-c', conf, '-s', 'reload'] });
    await enf.init(); // nginx refuses to start without the include
    await writeFile(
      conf,
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log warn;`,
        'events { worker_connections 64; }',
        'http {',
        `    access_log ${dir}/access.log;`,
        `    client_body_temp_path ${dir}/body;`,
        `    proxy_temp_path ${dir}/proxy;`,
        `    fastcgi_temp_path ${dir}/fastcgi;`,
        `    uwsgi_temp_path ${dir}/uwsgi;`,
        `    scgi_temp_path ${dir}/scgi;`,
        `    include ${geo};`,
        '    server {',
        `        listen ${SERVER.v4}:${PORT};`,
        `        listen [${SERVER.v6}]:${PORT};`,
        '        if ($banhammer_banned) { return 403; }',
        '        location / { return 200 "hello\\n"; }',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
    nginx = spawn('ip', ['netns', 'exec', serverNs, NGINX, '-p', `${dir}/`, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    let exited: string | null = null;
    nginx.once('exit', (code, sig) => (exited = `nginx exited (${code ?? sig}): ${stderr}`));
    for (let i = 0; ; i++) {
      if (exited) throw new Error(exited);
      if ((await get(CLIENT.a4)) === 200) break;
      if (i > 100) throw new Error(`nginx does not answer: ${stderr}${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`);
      await sleep(100);
    }
  }, 60_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      const gone = new Promise((r) => nginx!.once('exit', r));
      // `ip netns exec` execs nginx, so this pid is nginx's master: SIGQUIT is its graceful stop.
      nginx.kill('SIGQUIT');
      await Promise.race([gone, sleep(10_000)]);
      if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGKILL');
    }
    for (const ns of namespaces) {
      // Leftover workers of a master that died: started by this test inside its own namespace.
      const pids = await sh.run('ip', ['netns', 'pids', ns]).then((r) => r.stdout.split('\n').map((l) => Number(l.trim())).filter((p) => p > 1), () => []);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('a banned client gets 403 once the enforcer has reloaded nginx; another client still gets 200', async () => {
    expect(await get(CLIENT.a4)).toBe(200);
    const before = enf.reloads;
    await apply({ ban: [{ ip: CLIENT.a4, family: 4, until: Date.now() + 600_000 }], unban: [] });
    expect(enf.reloads).toBe(before + 1);
    expect(await readFile(geo, 'utf8')).toContain(`    ${CLIENT.a4}/32 1;`);
    expect(await answers(CLIENT.a4, 403)).toBe(403);
    expect(await get(CLIENT.b4)).toBe(200);
    expect(await get(CLIENT.a6)).toBe(200);
  });

  it('bans IPv6 clients by their /128 only', async () => {
    await apply({ ban: [{ ip: CLIENT.b6, family: 6, until: null }], unban: [] });
    expect(await answers(CLIENT.b6, 403)).toBe(403);
    expect(await get(CLIENT.a6)).toBe(200);
    expect(await get(CLIENT.b4)).toBe(200);
  });

  it('unban lifts a ban; the others stay', async () => {
    await apply({ ban: [], unban: [{ ip: CLIENT.b6, family: 6 }] });
    expect(await answers(CLIENT.b6, 200)).toBe(200);
    expect(await get(CLIENT.a4)).toBe(403);
  });

  it('an expired ban is left out of the next write and lifted by its reload', async () => {
    await apply({ ban: [{ ip: CLIENT.b4, family: 4, until: Date.now() + 1500 }], unban: [] });
    expect(await answers(CLIENT.b4, 403)).toBe(403);
    await sleep(1600);
    // The daemon unbans expired addresses every second; any write drops what has expired.
    await apply({ ban: [], unban: [] });
    expect(await readFile(geo, 'utf8')).not.toContain(CLIENT.b4);
    expect(await answers(CLIENT.b4, 200)).toBe(200);
    expect(await get(CLIENT.a4)).toBe(403);
  });

  it('a reload that fails rejects with a clear error and leaves nginx as it was; check() retries it', async () => {
    // A second writer whose reload command names a configuration that does not exist yet.
    const late = join(dir, 'late.conf');
    const second = new NginxMapEnforcer({ path: geo, runner: new ProcessRunner({ timeoutMs: 10_000 }), reloadCommand: [NGINX, '-p', `${dir}/`, '-c', late, '-s', 'reload'] });
    await expect(second.apply({ ban: [{ ip: CLIENT.b4, family: 4, until: null }], unban: [] })).rejects.toThrow(
      /^nginx-map: the map file was written but nginx was not reloaded: /,
    );
    expect(await readFile(geo, 'utf8')).toContain(`    ${CLIENT.b4}/32 1;`);
    expect(await get(CLIENT.b4)).toBe(200); // written, but nginx only reads it on a reload
    await symlink(join(dir, 'nginx.conf'), late);
    expect(await second.check(() => [{ ip: CLIENT.b4, family: 4, until: null }])).toEqual([]);
    expect(await answers(CLIENT.b4, 403)).toBe(403);
    // The first writer notices the file is no longer its own, rewrites its list and reloads.
    expect(await enf.check(expected)).toEqual([`map file ${geo} was changed from outside and was rewritten`]);
    expect(await answers(CLIENT.b4, 200)).toBe(200);
    expect(await get(CLIENT.a4)).toBe(403);
  });

  it('check(expected) makes the map hold what the ban book expects, and reloads nginx for it', async () => {
    await sleep(1000); // past the reload coalescing interval
    book.set(CLIENT.b6, { ip: CLIENT.b6, family: 6, until: null }); // e.g. a batch that never reached the map
    book.set('0.0.0.0', { ip: '0.0.0.0', family: 4, until: null }); // never written
    expect(await enf.check(expected)).toEqual([`map file ${geo}: 1 missing ban(s) re-added`]);
    expect(await answers(CLIENT.b6, 403)).toBe(403);
    expect(await readFile(geo, 'utf8')).not.toContain('0.0.0.0');
    book.delete(CLIENT.b6);
    book.delete('0.0.0.0');
    await sleep(1000);
    expect(await enf.check(expected)).toEqual([`map file ${geo}: 1 entry nobody banned removed`]);
    expect(await answers(CLIENT.b6, 200)).toBe(200);
    expect(await get(CLIENT.a4)).toBe(403);
    expect(await enf.check(expected)).toEqual([]);
  });

  it('shutdown writes an empty block and reloads: nginx keeps serving everyone', async () => {
    await enf.shutdown();
    expect((await readFile(geo, 'utf8')).split('\n').filter((l) => /^\s+\S+\/\d+ 1;$/.test(l))).toEqual([]);
    expect(await answers(CLIENT.a4, 200)).toBe(200);
    expect(await get(CLIENT.b6)).toBe(200);
    expect(stderr).not.toMatch(/emerg/);
  });
});
