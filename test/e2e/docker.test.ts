/**
 * End-to-end tier: the real banhammer:debian image, real Apache, real Docker, the host's firewall.
 *
 * One file on purpose: it starts (and afterwards stops) dockerd when none runs, and builds the images
 * once; vitest runs files in parallel, so a second file would race for both. Skips, saying why, when
 * not root or when no engine can be started. Everything created is removed in afterAll, even after a
 * failure: containers, volumes, images that did not exist before (base images come back from
 * .cache/ in seconds), namespaces, and any chain, jump or set of the instances used here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { Containers, RUN_TAG, freePort, httpStatus, logs, poll, state } from './helpers/containers.js';
import { ensureDockerEngine } from './helpers/docker-engine.js';
import { firewallTraces, removeFirewallTraces } from './helpers/host-firewall.js';
import { IMAGE, ImageTracker, REPO, buildBaseImages, buildImage } from './helpers/images.js';
import { ClientNetns } from './helpers/netns.js';
import { run, runOk, which } from './helpers/run.js';

const engine = await ensureDockerEngine();
const skipReason = engine.ok ? '' : ` (skipped: ${engine.reason})`;

const images = new ImageTracker();
const containers = new Containers();
const instances: string[] = [];
const namespaces: ClientNetns[] = [];
let agentHasRun = false;

const ACCESS_LINE = /^(\S+) \S+ \S+ \[[^\]]+\] "([A-Z]+) (\S+) HTTP\/1\.[01]" (\d{3}) \S+ "[^"]*" "[^"]*"$/;

async function waitServing(port: number, tries = 80): Promise<number | undefined> {
  return poll(async () => {
    const s = await httpStatus(port, '/');
    return s === null ? undefined : s;
  }, tries);
}

function instanceName(suffix: string): string {
  const name = `${RUN_TAG}-${suffix}`;
  instances.push(name);
  return name;
}

describe.skipIf(!engine.ok)(`banhammer:debian image${skipReason}`, () => {
  beforeAll(async () => {
    await images.snapshot();
    await buildBaseImages(images);
    await buildImage(images, 'Dockerfile.debian', IMAGE);
    const help = await run('docker', ['run', '--rm', '--network', 'host', '--entrypoint', 'banhammer', IMAGE, 'help']);
    agentHasRun = /^\s+run\b/m.test(help.stdout + help.stderr);
  }, 30 * 60_000);

  afterAll(async () => {
    await containers.removeAll();
    for (const ns of namespaces) await ns.remove();
    for (const i of instances) await removeFirewallTraces(i);
    const problems = await images.removeCreated();
    if (engine.ok) await engine.stop();
    if (problems.length > 0) throw new Error(`could not remove images:\n${problems.join('\n')}`);
  }, 10 * 60_000);

  it('holds node, the banhammer CLI on PATH, s6, Apache, ipset and both iptables backends', async () => {
    const r = await runOk('docker', [
      'run', '--rm', '--network', 'host', '--entrypoint', 'sh', IMAGE, '-c',
      'banhammer version && node --version && iptables-legacy --version && iptables-nft --version && ipset --version | head -n 1 && command -v s6-svscan s6-log && banhammer-apache -v | head -n 1',
    ]);
    expect(r.stdout).toMatch(/^v26\./m);
    expect(r.stdout).toMatch(/iptables v1\.8\.\d+ \(legacy\)/);
    expect(r.stdout).toMatch(/iptables v1\.8\.\d+ \(nf_tables\)/);
    expect(r.stdout).toMatch(/ipset v\d/);
    expect(r.stdout).toMatch(/Server version: Apache\/2\.4/);
    const cfg = JSON.parse((await runOk('docker', ['image', 'inspect', '-f', '{{json .Config}}', IMAGE])).stdout) as {
      Entrypoint: string[];
      Healthcheck: { Test: string[] };
    };
    expect(cfg.Entrypoint).toEqual(['banhammer-entrypoint']);
    expect(cfg.Healthcheck.Test).toEqual(['CMD', 'banhammer-healthcheck']);
  });

  it('serves on HTTP_PORT with host networking; each access line is in the file and in docker logs', async () => {
    const port = await freePort();
    const c = await containers.start({ name: 'serve', env: { HTTP_PORT: String(port), BANHAMMER_INSTANCE: instanceName('serve') } });
    expect(await waitServing(port)).toBe(200);
    const marker = `/e2e-${RUN_TAG}-marker`;
    expect(await httpStatus(port, marker)).toBe(404);

    const inLogs = await poll(async () => ((await logs(c)).stdout.includes(marker) ? true : undefined), 40);
    expect(inLogs).toBe(true);
    const line = (await logs(c)).stdout.split('\n').find((l) => l.includes(marker)) ?? '';
    expect(line).toMatch(ACCESS_LINE);
    expect(ACCESS_LINE.exec(line)?.[4]).toBe('404');

    const file = await runOk('docker', ['exec', c, 'cat', '/var/log/apache2/access/current']);
    expect(file.stdout.split('\n').filter((l) => l.includes(marker))).toEqual([line]);
    const viaLink = await runOk('docker', ['exec', c, 'cat', '/var/log/apache2/access.log']);
    expect(viaLink.stdout).toContain(marker);

    // docker exec finds the CLI on PATH.
    const v = await run('docker', ['exec', c, 'banhammer', 'version']);
    expect(v.code).toBe(0);
    // The healthcheck sees Apache answer; its verdict on the agent depends on `banhammer run`.
    const hc = await run('docker', ['exec', c, 'banhammer-healthcheck']);
    expect(hc.stdout + hc.stderr).not.toMatch(/does not answer/);
    if (agentHasRun) expect(hc.code).toBe(0);
    else expect(hc.stderr).toMatch(/agent is not running/);
  });

  it('rotates the access log by size without losing or splitting a line', async () => {
    const port = await freePort();
    const c = await containers.start({
      name: 'rotate',
      env: { HTTP_PORT: String(port), ACCESS_LOG_ROTATE_SIZE: '4K', ACCESS_LOG_ROTATE_KEEP: '50', BANHAMMER_INSTANCE: instanceName('rotate') },
    });
    expect(await waitServing(port)).toBe(200);
    const paths = Array.from({ length: 150 }, (_, i) => `/rot-${RUN_TAG}-${String(i).padStart(4, '0')}`);
    for (const p of paths) expect(await httpStatus(port, p)).toBe(404);

    const files = await poll(async () => {
      const ls = (await runOk('docker', ['exec', c, 'ls', '/var/log/apache2/access'])).stdout.split('\n').filter((f) => /^@[0-9a-f]+\.s$/.test(f));
      const all = (await runOk('docker', ['exec', c, 'sh', '-c', 'cat /var/log/apache2/access/@*.s /var/log/apache2/access/current'])).stdout;
      return all.includes(paths.at(-1)!) ? { rotated: ls, all } : undefined;
    }, 40);
    expect(files).toBeDefined();
    expect(files!.rotated.length).toBeGreaterThanOrEqual(2);
    const ours = files!.all.split('\n').filter((l) => l.includes(`/rot-${RUN_TAG}-`));
    for (const l of ours) expect(l).toMatch(ACCESS_LINE);
    expect(ours.map((l) => ACCESS_LINE.exec(l)?.[3])).toEqual(paths);
  });

  it('stops the whole container, with Apache\'s status, when Apache dies', async () => {
    const port = await freePort();
    const c = await containers.start({ name: 'apache-dies', env: { HTTP_PORT: String(port), BANHAMMER_INSTANCE: instanceName('dies') } });
    expect(await waitServing(port)).toBe(200);
    await runOk('docker', ['exec', c, 'sh', '-c', 'kill -KILL "$(cat /run/banhammer/apache.pgid)"']);
    const w = await run('docker', ['wait', c], { timeoutMs: 30_000 });
    expect(w.stdout.trim()).toBe('137');
    expect((await state(c)).status).toBe('exited');
    expect((await logs(c)).stderr).toMatch(/Apache exited \(killed by signal 9\); stopping the container with status 137/);
    expect(await httpStatus(port, '/')).toBeNull();
  });

  it('stops cleanly on SIGTERM: agent first, then Apache, exit 0 before docker stop would SIGKILL', async () => {
    const port = await freePort();
    const c = await containers.start({ name: 'sigterm', env: { HTTP_PORT: String(port), BANHAMMER_INSTANCE: instanceName('sigterm') } });
    expect(await waitServing(port)).toBe(200);
    // docker stop sends SIGTERM and SIGKILLs after -t seconds; exit code 0 means it was not needed.
    await runOk('docker', ['stop', '-t', '8', c], { timeoutMs: 60_000 });
    const st = await state(c);
    expect(st).toEqual({ status: 'exited', exitCode: 0 });
    const err = (await logs(c)).stderr;
    const agent = err.indexOf('stopping the banhammer agent');
    const apache = err.indexOf('stopping Apache');
    expect(agent).toBeGreaterThanOrEqual(0);
    expect(apache).toBeGreaterThan(agent);
    expect(await httpStatus(port, '/')).toBeNull();
  });

  it('refuses a bad HTTP_PORT with a message naming it', async () => {
    const r = await run('docker', ['run', '--rm', '--network', 'host', '-e', 'HTTP_PORT=80x', IMAGE]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/HTTP_PORT='80x' is not a TCP port/);
  });

  describe('compose examples run unchanged', () => {
    const composers: Array<{ label: string; cmd: string; pre: string[] }> = [];
    beforeAll(async () => {
      if ((await run('docker', ['compose', 'version'])).code === 0) composers.push({ label: 'docker compose', cmd: 'docker', pre: ['compose'] });
      if (which('docker-compose') !== null) composers.push({ label: 'docker-compose', cmd: 'docker-compose', pre: [] });
    });

    for (const example of ['host-network', 'two-tenants'] as const) {
      it(`${example}: up --build serves every tenant, down removes it all`, async (ctx) => {
        if (composers.length === 0) ctx.skip('neither `docker compose` nor docker-compose is installed');
        for (const composer of composers) {
          const dir = join(REPO, 'compose.examples', example);
          const project = `${RUN_TAG}-${example}`.replace(/[^a-z0-9-]/g, '');
          const ports = [await freePort(), await freePort()];
          const env = {
            ...process.env,
            HTTP_PORT: String(ports[0]),
            TENANT_A_PORT: String(ports[0]),
            TENANT_B_PORT: String(ports[1]),
            BANHAMMER_INSTANCE: instanceName(`${example}-web`),
            TENANT_A_INSTANCE: instanceName(`${example}-a`),
            TENANT_B_INSTANCE: instanceName(`${example}-b`),
          };
          const compose = (args: string[], timeoutMs = 10 * 60_000) =>
            runOk(composer.cmd, [...composer.pre, '-p', project, ...args], { cwd: dir, env, timeoutMs });
          try {
            await compose(['up', '--build', '-d']);
            const served = example === 'two-tenants' ? ports : [ports[0]!];
            for (const p of served) {
              expect(await waitServing(p), `${composer.label} ${example} port ${p}`).toBe(200);
              expect(await httpStatus(p, '/private/')).toBe(403);
            }
            const page = await fetch(`http://127.0.0.1:${served[0]}/`).then((r) => r.text());
            const site = example === 'two-tenants' ? 'tenant-a/site/index.html' : 'site/index.html';
            expect(page).toBe(readFileSync(join(dir, site), 'utf8'));
          } finally {
            await compose(['down', '-v', '--rmi', 'local', '-t', '15']);
          }
          const left = await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '-q']);
          expect(left.stdout.trim()).toBe('');
        }
      }, 15 * 60_000);
    }
  });

  describe('bans through the host firewall (needs `banhammer run`)', () => {
    let attacker: ClientNetns;
    let client: ClientNetns;
    let portA = 0;
    let portB = 0;
    let a = '';
    let b = '';
    const instA = instanceName('tenant-a');
    const instB = instanceName('tenant-b');

    const skipUnlessAgent = (ctx: TestContext) => {
      if (!agentHasRun) ctx.skip('the image\'s CLI has no `banhammer run` command yet (docker/s6/banhammer/run execs it)');
    };

    beforeAll(async () => {
      if (!agentHasRun) return;
      attacker = await ClientNetns.create(`${RUN_TAG}-att`, `${RUN_TAG.slice(-6)}att`, 100);
      namespaces.push(attacker);
      client = await ClientNetns.create(`${RUN_TAG}-cli`, `${RUN_TAG.slice(-6)}cli`, 101);
      namespaces.push(client);
      portA = await freePort();
      portB = await freePort();
      a = await containers.start({ name: 'tenant-a', env: { HTTP_PORT: String(portA), BANHAMMER_INSTANCE: instA }, volumes: { 'state-a': '/var/lib/banhammer' } });
      b = await containers.start({ name: 'tenant-b', env: { HTTP_PORT: String(portB), BANHAMMER_INSTANCE: instB }, volumes: { 'state-b': '/var/lib/banhammer' } });
      expect(await waitServing(portA)).toBe(200);
      expect(await waitServing(portB)).toBe(200);
      // The agents are ready once their chains are in the host firewall.
      for (const inst of [instA, instB]) {
        const ready = await poll(async () => ((await firewallTraces(inst)).some((t) => t.includes('-N BANHAMMER-')) ? true : undefined), 120);
        expect(ready, `agent ${inst} created its chain`).toBe(true);
      }
    }, 5 * 60_000);

    it('six 403s from the attacker get it banned at A, while A serves others and B serves the attacker', async (ctx) => {
      skipUnlessAgent(ctx);
      for (let i = 0; i < 5; i++) expect((await attacker.get(portA, `/.htpasswd?try=${i}`)).status).toBe(403);
      await attacker.get(portA, '/.htpasswd?try=5', 1);
      const t0 = Date.now();
      const banned = await poll(async () => ((await attacker.get(portA, '/', 0.3)).status === null ? true : undefined), 20, 0);
      const latency = Date.now() - t0;
      expect(banned, 'attacker blocked at A').toBe(true);
      await ctx.annotate(`ban effective ${latency} ms after the sixth 403 (goal: < 1000 ms)`);
      expect((await client.get(portA, '/')).status).toBe(200);
      expect((await attacker.get(portB, '/')).status).toBe(200);
    }, 60_000);

    it('keeps the ban across docker restart (state on a volume)', async (ctx) => {
      skipUnlessAgent(ctx);
      await runOk('docker', ['restart', '-t', '15', a], { timeoutMs: 60_000 });
      expect(await poll(async () => ((await client.get(portA, '/', 1)).status === 200 ? true : undefined), 80)).toBe(true);
      const still = await poll(async () => ((await attacker.get(portA, '/', 0.3)).status === null ? true : undefined), 40);
      expect(still, 'attacker still blocked at A after restart').toBe(true);
    }, 120_000);

    it('docker stop leaves no chain, jump or set of A (and B keeps its own)', async (ctx) => {
      skipUnlessAgent(ctx);
      await runOk('docker', ['stop', '-t', '15', a], { timeoutMs: 60_000 });
      expect((await state(a)).exitCode).toBe(0);
      expect(await firewallTraces(instA)).toEqual([]);
      expect((await firewallTraces(instB)).length).toBeGreaterThan(0);
      await runOk('docker', ['stop', '-t', '15', b], { timeoutMs: 60_000 });
      expect(await firewallTraces(instB)).toEqual([]);
    }, 120_000);

    it('without NET_ADMIN the container keeps serving and logs one clear error', async (ctx) => {
      skipUnlessAgent(ctx);
      const port = await freePort();
      const c = await containers.start({ name: 'no-cap', netAdmin: false, env: { HTTP_PORT: String(port), BANHAMMER_INSTANCE: instanceName('no-cap') } });
      expect(await waitServing(port)).toBe(200);
      const said = await poll(async () => (/NET_ADMIN/.test((await logs(c)).stderr) ? true : undefined), 120);
      expect(said, 'the agent names the missing capability').toBe(true);
      // Long enough for a restart loop to show (the back-off starts at 1 s).
      await sleep(3000);
      const errLines = (await logs(c)).stderr.split('\n').filter((l) => /NET_ADMIN/.test(l));
      expect(errLines).toHaveLength(1);
      expect((await state(c)).status).toBe('running');
      expect(await httpStatus(port, '/')).toBe(200);
    }, 120_000);
  });
});
