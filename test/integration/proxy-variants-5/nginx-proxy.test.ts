/**
 * Issue 5, round 5: the nginx-map enforcer behind a reverse proxy, against Debian's real nginx
 * (ngx_http_realip_module: set_real_ip_from the trusted proxies, real_ip_header X-Forwarded-For,
 * real_ip_recursive on; the agent's geo include; `if ($banhammer_banned) { return 403; }`) in a
 * network namespace of its own (servers.ts). geo compares numbers, not text, so every spelling of one
 * client matches its entry; the tests here are about what realip believes, network bans, and how a
 * reload that fails (a broken include elsewhere, nginx not running) is reported.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { clientAddress } from '../../../src/enforce/iptables-args.js';
import { NginxMapEnforcer, nginxDiagnosis } from '../../../src/enforce/nginx-map.js';
import { BanhammerError } from '../../../src/errors.js';
import { ProcessRunner } from '../../../src/exec/runner.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { A, NGINX_PORT, TRUSTED, createLab, distMissing, labUnavailable, type Lab } from './servers.js';

const skip = labUnavailable({ nginx: true });

describe('nginx-map: why a reload failed, from nginx\'s own words', () => {
  // nginx -s reload prints `[notice] signal process started` before the reason; the first line alone
  // said nothing about nginx not running.
  const NOT_RUNNING = [
    '2026/12/05 11:01:26 [notice] 21956#21956: signal process started',
    '2026/12/05 11:01:26 [error] 21956#21956: open() "/run/nginx.pid" failed (2: No such file or directory)',
    '',
  ].join('\n');
  const STALE = '2026/12/05 11:01:26 [notice] 21958#21958: signal process started\n2026/12/05 11:01:26 [alert] 21958#21958: kill(999999, 1) failed (3: No such process)\n';
  const NOT_ROOT = 'nginx: [warn] the "user" directive makes sense only if the master process runs with super-user privileges, ignored in /etc/nginx/nginx.conf:1\nnginx: [emerg] unexpected "}" in /etc/nginx/conf.d/site.conf:9\n';

  it('keeps the lines at level error or worse, without timestamps and pids', () => {
    expect(nginxDiagnosis(NOT_RUNNING)).toBe('[error] open() "/run/nginx.pid" failed (2: No such file or directory)');
    expect(nginxDiagnosis(STALE)).toBe('[alert] kill(999999, 1) failed (3: No such process)');
    expect(nginxDiagnosis(NOT_ROOT)).toBe('[emerg] unexpected "}" in /etc/nginx/conf.d/site.conf:9');
    expect(nginxDiagnosis('2026/12/05 11:01:26 [notice] 1#1: signal process started\n')).toBeNull();
    // Bounded, one line each, control characters blanked.
    const hostile = `nginx: [emerg] ${'x'.repeat(10_000)}\u001b[31m\n`.repeat(10);
    const d = nginxDiagnosis(hostile)!;
    expect(d.split('; ')).toHaveLength(3);
    expect(d.length).toBeLessThan(1000);
    expect(d).not.toMatch(/[\u0000-\u001f]/);
  });

  it.each([
    ['not running', NOT_RUNNING, 'open() "/run/nginx.pid" failed (2: No such file or directory)', /nginx is not running/],
    ['a stale pid file', STALE, 'kill(999999, 1) failed (3: No such process)', /nginx is not running/],
    ['a broken configuration, not run as root', NOT_ROOT, 'unexpected "}" in /etc/nginx/conf.d/site.conf:9', /configuration is valid \(nginx -t\)/],
  ])('apply() after a failed reload (%s) names the reason and what to do', async (_what, stderr, reason, hint) => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'bh-p5-diag-'));
    try {
      const runner = new RecordingRunner().on('nginx -s reload', { code: 1, stderr }, 1);
      const enf = new NginxMapEnforcer({ path: join(dir, 'banned.geo'), runner, clock: new ManualClock() });
      const e = (await enf.apply({ ban: [{ ip: '198.18.0.5', family: 4, until: null }], unban: [] }).catch((x: unknown) => x)) as BanhammerError;
      expect(e).toBeInstanceOf(BanhammerError);
      expect(e.code).toBe('BH_ERR_EXEC');
      expect(e.message).toBe(`nginx-map: the map file was written but nginx was not reloaded: nginx -s reload exited with code 1: [${/kill/.test(reason) ? 'alert' : /unexpected/.test(reason) ? 'emerg' : 'error'}] ${reason}`);
      expect(e.hint).toMatch(hint);
      expect(e.hint).toContain('retried on the next apply or check');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(skip !== null)(`nginx-map behind a proxy, real nginx${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;
  let geo: string;
  let enf: NginxMapEnforcer;
  let reloadArgv: string[];
  const book = new Map<string, EnforcerBan>();
  const expected = () => [...book.values()];

  /** Polls (bounded) until `xff` via the proxy gets `want`: a reload lands when nginx's old workers are gone. */
  async function answers(opts: { xff?: string[]; from?: string }, want: number): Promise<number | null> {
    let last: number | null = null;
    for (let i = 0; i < 100; i++) {
      last = (await lab.get(NGINX_PORT, opts)).status;
      if (last === want) {
        await sleep(150);
        last = (await lab.get(NGINX_PORT, opts)).status;
        if (last === want) return last;
      }
      await sleep(100);
    }
    return last;
  }

  beforeAll(async () => {
    lab = await createLab();
    geo = join(lab.dir, 'banned.geo');
    const first = new NginxMapEnforcer({ path: geo, runner: new ProcessRunner() });
    await first.init(); // nginx refuses to start without the include
    reloadArgv = await lab.startNginx(geo);
    enf = new NginxMapEnforcer({ path: geo, runner: new ProcessRunner({ timeoutMs: 20_000 }), reloadCommand: reloadArgv });
    await enf.init();
  }, 60_000);

  /** A test that stopped nginx and failed before starting it again leaves it running for the next one. */
  afterEach(async () => {
    if (lab && !lab.nginxRunning()) {
      await rm(join(lab.dir, 'nginx.pid'), { force: true });
      await lab.startNginx(geo);
    }
  }, 30_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 60_000);

  it('every spelling realip accepts from a trusted proxy matches the ban of what nginx logged', async () => {
    const spellings: { xff: string[]; from?: string }[] = [
      { xff: ['198.18.0.5'] },
      { xff: ['::ffff:198.18.0.6'] }, // $remote_addr stays ::ffff:198.18.0.6; geo looks IPv4-mapped clients up as IPv4
      { xff: ['2001:DB8:0:0:0:0:0:A'] },
      { xff: ['::198.18.0.8'] },
      { xff: ['198.18.0.9:4711'] }, // realip drops a port (mod_remoteip does not: apache-proxy.test.ts)
      { xff: ['[2001:db8::b]:443'] },
      { xff: ['198.18.0.31', '198.18.0.12'] }, // several headers: the proxy's, last, names the client
      { xff: [`198.18.0.13, ${A.hop4}`] }, // two trusted hops (real_ip_recursive on)
      { xff: [`198.18.0.14, ${A.hop6}`], from: A.proxy6 },
    ];
    const logged: string[] = [];
    for (const s of spellings) {
      const r = await lab.get(NGINX_PORT, s);
      expect(r.status).toBe(200);
      logged.push(await lab.loggedClient(lab.nginxLog, r.path));
    }
    expect(logged).toEqual(['198.18.0.5', '::ffff:198.18.0.6', '2001:db8::a', '::198.18.0.8', '198.18.0.9', '2001:db8::b', '198.18.0.12', '198.18.0.13', '198.18.0.14']);
    const bans = logged.map((l) => {
      const c = clientAddress(l);
      if ('reason' in c) throw new Error(l);
      return { ip: c.ip, family: c.family, until: null };
    });
    for (const b of bans) book.set(b.ip, b);
    expect((await enf.apply({ ban: bans, unban: [] })).refused).toEqual([]);
    for (const s of spellings) expect({ s, status: await answers(s, 403) }).toEqual({ s, status: 403 });
    // Neither the proxies nor another client, nor a forger that is not a trusted proxy.
    expect((await lab.get(NGINX_PORT, {})).status).toBe(200);
    expect((await lab.get(NGINX_PORT, { xff: ['198.18.0.99'] })).status).toBe(200);
    expect((await lab.get(NGINX_PORT, { from: A.other4, xff: ['198.18.0.5'] })).status).toBe(200);
    expect((await lab.get(NGINX_PORT, { xff: ['198.18.0.5', '198.18.0.99'] })).status).toBe(200);
    await enf.apply({ ban: [], unban: bans.map((b) => ({ ip: b.ip, family: b.family })) });
    book.clear();
    expect(await answers({ xff: ['198.18.0.5'] }, 200)).toBe(200);
  }, 60_000);

  it('a network ban is refused with a reason and never written', async () => {
    await sleep(1000);
    const r = await enf.apply({ ban: [{ ip: '198.18.0.0/24', family: 4, until: null }], unban: [] });
    expect(r.refused.map((x) => `${x.ip}: ${x.reason}`)).toEqual(['198.18.0.0/24: a network (CIDR) ban is not supported by this enforcer']);
    expect(await readFile(geo, 'utf8')).not.toContain('198.18.0.0/24');
    expect((await lab.get(NGINX_PORT, { xff: ['198.18.0.50'] })).status).toBe(200);
  });

  it('a broken include elsewhere: apply() rejects with nginx\'s reason, nginx keeps the old list; check() reloads once it is fixed', async () => {
    await sleep(1000);
    const broken = join(lab.dir, 'nginx.d', 'broken.conf');
    await writeFile(broken, 'server { listen 8082; location / { return 200 }\n');
    try {
      book.set('198.18.0.60', { ip: '198.18.0.60', family: 4, until: null });
      const e = (await enf.apply({ ban: [book.get('198.18.0.60')!], unban: [] }).catch((x: unknown) => x)) as BanhammerError;
      expect(e).toBeInstanceOf(BanhammerError);
      expect(e.message).toMatch(/^nginx-map: the map file was written but nginx was not reloaded: .* exited with code 1: \[emerg\] unexpected "}" in \/.*\/nginx\.d\/broken\.conf:1$/);
      expect(e.hint).toContain('nginx -t');
      expect((await lab.get(NGINX_PORT, { xff: ['198.18.0.60'] })).status).toBe(200);
      await sleep(1000);
      await expect(enf.check(expected)).rejects.toThrow(/broken\.conf:1/);
    } finally {
      await rm(broken, { force: true });
    }
    await sleep(1000);
    expect(await enf.check(expected)).toEqual([]);
    expect(await answers({ xff: ['198.18.0.60'] }, 403)).toBe(403);
  }, 30_000);

  it('nginx not running: apply() says so (not "signal process started"); the ban holds once nginx is back', async () => {
    await lab.stopNginx();
    await sleep(1000);
    book.set('198.18.0.61', { ip: '198.18.0.61', family: 4, until: null });
    const e = (await enf.apply({ ban: [book.get('198.18.0.61')!], unban: [] }).catch((x: unknown) => x)) as BanhammerError;
    expect(e).toBeInstanceOf(BanhammerError);
    expect(e.message).toContain(`[error] open() "${lab.dir}/nginx.pid" failed (2: No such file or directory)`);
    expect(e.message).not.toContain('signal process started');
    expect(e.hint).toMatch(/^nginx is not running/);
    // A pid file left behind names a process that is gone.
    await writeFile(join(lab.dir, 'nginx.pid'), '4194304\n');
    await sleep(1000);
    await expect(enf.check(expected)).rejects.toThrow(/\[alert\] kill\(4194304, 1\) failed \(3: No such process\)/);
    await rm(join(lab.dir, 'nginx.pid'));
    await lab.startNginx(geo); // reads the map as it starts
    expect(await answers({ xff: ['198.18.0.61'] }, 403)).toBe(403);
    await sleep(1000);
    expect(await enf.check(expected)).toEqual([]);
    expect((await lab.get(NGINX_PORT, { xff: ['198.18.0.60'] })).status).toBe(403);
  }, 40_000);

  describe.skipIf(distMissing() !== null)('with the real agent', () => {
    it('while nginx is down a ban shows as retrying in status and the log says why; it holds once nginx is back', async () => {
      await sleep(1000);
      await enf.apply({ ban: [], unban: [...book.values()].map((b) => ({ ip: b.ip, family: b.family })) });
      book.clear();
      const env = {
        BANHAMMER_INSTANCE: `p5n${lab.ns.slice(5, 11)}`,
        BANHAMMER_ENFORCER: 'nginx-map',
        BANHAMMER_MAP_FILE: geo,
        BANHAMMER_NGINX_RELOAD: reloadArgv.join(' '),
        BANHAMMER_LOG_PATH: lab.nginxLog,
        BANHAMMER_STATE_DIR: join(lab.dir, 'agent-state-n'),
        BANHAMMER_SOCKET: join(lab.dir, 'agent-n.sock'),
        BANHAMMER_TRUSTED_PROXIES: TRUSTED.join(','),
        BANHAMMER_LOG_LEVEL: 'info',
      };
      const agent = await lab.startAgent(env);
      try {
        await lab.stopNginx();
        const ban = await lab.cli(env, ['ban', '198.18.0.70']);
        expect(ban.code).toBe(0);
        type Report = { health?: { enforceFailing: number }; rules: { bans?: { ip: string; firewall: string }[] }[] };
        let report: Report | null = null;
        for (let i = 0; i < 50; i++) {
          const st = await lab.cli(env, ['status', '--json']);
          report = JSON.parse(st.stdout) as Report;
          if ((report?.health?.enforceFailing ?? 0) > 0) break;
          await sleep(100);
        }
        expect(report?.health?.enforceFailing).toBeGreaterThan(0);
        expect(report?.rules.flatMap((r) => r.bans ?? []).find((b) => b.ip === '198.18.0.70')?.firewall).toBe('retrying');
        const failed = agent.logs.find((l) => l.msg === 'enforcement failed; will retry');
        expect(JSON.stringify(failed)).toContain('nginx.pid\\" failed (2: No such file or directory)');
        await lab.startNginx(geo);
        expect(await answers({ xff: ['198.18.0.70'] }, 403)).toBe(403);
        let firewall: string | undefined;
        for (let i = 0; i < 50 && firewall !== 'held'; i++) {
          const st = await lab.cli(env, ['status', '--json']);
          const r = JSON.parse(st.stdout) as Report;
          firewall = r.rules.flatMap((x) => x.bans ?? []).find((b) => b.ip === '198.18.0.70')?.firewall;
          if (firewall !== 'held') await sleep(200);
        }
        expect(firewall).toBe('held');
      } finally {
        await agent.stop();
      }
    }, 90_000);
  });
});
