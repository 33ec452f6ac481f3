/**
 * Issues 5 and 10, round 6, against Debian's real nginx and the real agent (dist) in a network
 * namespace (../proxy-variants-5/servers.ts): the agent trusts a proxy that nginx does not (no
 * set_real_ip_from for it), and reads the client from nginx main's trailing "$http_x_forwarded_for".
 * The ban is made and the geo include holds it, but nginx looks it up by $remote_addr, the proxy: the
 * client is still served while `status` lists the ban as held. The agent now says so (one warning in
 * its log, health.forwardedClients in `status`, naming set_real_ip_from for the proxy); following
 * that advice (realip for the proxy, then a reload) makes the same ban hold.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import { ProcessRunner } from '../../../src/exec/runner.js';
import { A, createLab, distMissing, labUnavailable, type Lab } from '../proxy-variants-5/servers.js';

const skip = labUnavailable({ nginx: true }) ?? distMissing();
const PORT = 8082;
/** The proxy the agent trusts and nginx does not (the lab's nginx trusts 198.18.5.1 and .4 only). */
const PROXY = A.other4;
const CLIENT = '198.18.0.77';

/** A server of its own on PORT, logging nginx main (with the trailing X-Forwarded-For); `realip`: believe PROXY. */
const serverConf = (dir: string, realip: boolean): string =>
  [
    `log_format cs6main '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"';`,
    'server {',
    `    listen ${PORT};`,
    `    access_log ${dir}/cs6-main.log cs6main;`,
    ...(realip ? [`    set_real_ip_from ${PROXY};`, '    real_ip_header X-Forwarded-For;', '    real_ip_recursive on;'] : []),
    '    if ($banhammer_banned) { return 403; }',
    '    location /private { return 403; }',
    '    location / { return 200 "hello\\n"; }',
    '}',
    '',
  ].join('\n');

describe.skipIf(skip !== null)(`nginx-map with a proxy nginx does not believe, real nginx and agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;
  let geo: string;
  let reloadArgv: string[];
  const sh = new ProcessRunner({ timeoutMs: 20_000 });

  beforeAll(async () => {
    lab = await createLab();
    geo = join(lab.dir, 'banned.geo');
    await new NginxMapEnforcer({ path: geo, runner: new ProcessRunner() }).init(); // nginx refuses to start without the include
    await mkdir(join(lab.dir, 'nginx.d'), { recursive: true });
    await writeFile(join(lab.dir, 'nginx.d', 'cs6.conf'), serverConf(lab.dir, false));
    reloadArgv = await lab.startNginx(geo);
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 60_000);

  /** `n` answers to GET `path` via PROXY naming CLIENT, ~150 ms apart. */
  const probe = async (n: number, path = '/'): Promise<(number | null)[]> => {
    const out: (number | null)[] = [];
    for (let i = 0; i < n; i++) {
      out.push((await lab.get(PORT, { from: PROXY, xff: [CLIENT], path })).status);
      await sleep(150);
    }
    return out;
  };

  it('the ban is listed but never matches; the agent says so and names set_real_ip_from; following it makes the ban hold', async () => {
    const env = {
      BANHAMMER_INSTANCE: `cs6${lab.ns.slice(5, 11)}`,
      BANHAMMER_ENFORCER: 'nginx-map',
      BANHAMMER_MAP_FILE: geo,
      BANHAMMER_NGINX_RELOAD: reloadArgv.join(' '),
      BANHAMMER_LOG_PATH: join(lab.dir, 'cs6-main.log'),
      BANHAMMER_LOG_FORMAT: 'nginx-main',
      BANHAMMER_RULES: 'forbidden',
      BANHAMMER_STATE_DIR: join(lab.dir, 'agent-state-cs6'),
      BANHAMMER_SOCKET: join(lab.dir, 'agent-cs6.sock'),
      BANHAMMER_TRUSTED_PROXIES: PROXY,
      BANHAMMER_LOG_LEVEL: 'info',
    };
    const agent = await lab.startAgent(env);
    try {
      expect(await probe(5, '/private')).toEqual([403, 403, 403, 403, 403]);
      type Report = { health?: { forwardedClients?: { lines: number; note: string } }; rules: { bans?: { ip: string; firewall: string }[] }[] };
      let report: Report | null = null;
      for (let i = 0; i < 100; i++) {
        report = JSON.parse((await lab.cli(env, ['status', '--json'])).stdout) as Report;
        if (report.rules.some((r) => (r.bans ?? []).some((b) => b.ip === CLIENT && b.firewall === 'held'))) break;
        await sleep(100);
      }
      // What the agent read: nginx logged the proxy first and the client in the trailing field.
      const logged = await readFile(join(lab.dir, 'cs6-main.log'), 'utf8');
      expect(logged.split('\n')[0]).toMatch(new RegExp(`^${PROXY.replace(/\./g, '\\.')} - - \\[.*" 403 .* "${CLIENT.replace(/\./g, '\\.')}"$`));
      expect(report?.rules.flatMap((r) => r.bans ?? []).find((b) => b.ip === CLIENT)?.firewall).toBe('held');
      expect(await readFile(geo, 'utf8')).toContain(CLIENT);
      // The defect: the geo list holds the client, nginx looks up $remote_addr (the proxy): served.
      await sleep(1500); // the reload has landed (at most once a second, old workers idle)
      expect(await probe(3)).toEqual([200, 200, 200]);
      // What the agent says about it, once in its log and in status.
      const f = report?.health?.forwardedClients;
      expect(f?.lines).toBe(5);
      expect(f?.note).toContain(`set_real_ip_from ${PROXY}`);
      expect(f?.note).toContain('$remote_addr');
      const warned = agent.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('X-Forwarded-For past a trusted proxy'));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ level: 'warn', enforcer: 'nginx-map', client: CLIENT });

      // Following the advice: nginx believes the proxy, $remote_addr is the client, the ban holds.
      await writeFile(join(lab.dir, 'nginx.d', 'cs6.conf'), serverConf(lab.dir, true));
      await sh.run('ip', ['netns', 'exec', lab.ns, ...reloadArgv]);
      let last: (number | null)[] = [];
      for (let i = 0; i < 50; i++) {
        last = await probe(2);
        if (last.every((s) => s === 403)) break;
      }
      expect(last).toEqual([403, 403]);
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
