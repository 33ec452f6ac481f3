/**
 * End-to-end: compose.examples/host-mode — one banhammer agent (banhammer:debian, IMAGE_MODE=host,
 * enforcer docker-user) for the containers of a Docker host, protecting two ordinary Apache containers
 * (shop = X, blog = Y) with published ports.
 *
 * The session's engine runs with --iptables=false and no bridge, so this file starts its own dockerd
 * in a network namespace (helpers/isolated-engine.ts; bridge and address pool in 198.19.200.0/22):
 * Docker builds its real FORWARD / DOCKER / DOCKER-USER chains and the DNAT of the published ports
 * there. The images are built in the session engine (banhammer:debian with the usual helpers, the
 * example's app image from its directory) and copied into the isolated one. An attacker, a second
 * attacker and a client live in namespaces joined to the engine's by veth pairs (198.19.204.0/24) and
 * connect to the published ports on their engine-side address. The engine's namespace has an
 * ufw-style `INPUT DROP` policy: published ports go through FORWARD, and so do the bans.
 *
 * Order (one agent, one state volume, so the tests build on each other): scoped ban at X only; the
 * engine restarts (Docker rebuilds its chains, the containers come back with new addresses) and the
 * ban is effective again within seconds; with --live-restore the engine restarts under the running
 * agent and the ban never lapses; BANHAMMER_BAN_SCOPE=host (the agent re-created) bans a second
 * attacker at X and Y; stopping the agent leaves DOCKER-USER as Docker made it and nothing of ours.
 * afterAll removes everything: the compose project, the engine (stopped by pid) with its directories
 * and namespace, the client namespaces, and the images this run built in the session engine.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { banLatency } from './helpers/ban-latency.js';
import { composeRun, findComposer, type ComposeRun, type Composer } from './helpers/compose.js';
import { RUN_TAG, poll } from './helpers/containers.js';
import { ensureDockerEngine } from './helpers/docker-engine.js';
import { IMAGE, ImageTracker, buildBaseImages, buildDirImage, buildImage } from './helpers/images.js';
import { IsolatedEngine, isolatedEngineMissing, type LinkedNetns } from './helpers/isolated-engine.js';

const missing = isolatedEngineMissing();
const engine = missing === null ? await ensureDockerEngine() : ({ ok: false, reason: missing } as const);
const composer: Composer | null = engine.ok ? await findComposer() : null;
const skipReason = !engine.ok ? engine.reason : composer === null ? 'neither `docker compose` nor docker-compose is installed' : '';

/** The default rule `forbidden`: 5 answers 403 within 60 s ban the address. */
const MAXRETRY = 5;
const SHOP_PORT = 8081;
const BLOG_PORT = 8082;
const INSTANCE = 'hostmode';
const APP_IMAGE = `${RUN_TAG}-hostmode-app:latest`;
const CHAIN = `BANHAMMER-${INSTANCE}`;

const images = new ImageTracker();
const figures: string[] = [];
let iso: IsolatedEngine | null = null;
let project: ComposeRun | null = null;
let projectName = '';
let attacker: LinkedNetns;
let attacker2: LinkedNetns;
let client: LinkedNetns;
/** `iptables -S DOCKER-USER` (v4) and whether ip6tables has DOCKER-USER, before the agent ran. */
let dockerUserBefore = '';
let dockerUser6Before = false;

const runs: ComposeRun[] = [];
/** The example as it is, plus (for the test only) a health probe of the agent every second. */
const OVERRIDE = 'services:\n  banhammer:\n    healthcheck:\n      interval: 1s\n      start_period: 60s\n';

function composeFor(scope: 'container' | 'host'): ComposeRun {
  const r = composeRun(composer!, 'host-mode', projectName, {
    ...iso!.env(),
    DOCKER_CONTAINERS_DIR: `${iso!.dataRoot}/containers`,
    APP_IMAGE,
    SHOP_PORT: String(SHOP_PORT),
    BLOG_PORT: String(BLOG_PORT),
    BANHAMMER_INSTANCE: INSTANCE,
    BANHAMMER_BAN_SCOPE: scope,
  }, OVERRIDE);
  runs.push(r);
  return r;
}

async function containerName(service: string): Promise<string> {
  const id = await project!.id(service);
  return (await iso!.dockerOk(['inspect', '-f', '{{.Name}}', id])).stdout.trim().replace(/^\//, '');
}

async function agentLogs(): Promise<string> {
  const r = await iso!.docker(['logs', await containerName('banhammer')], { timeoutMs: 30_000 });
  return `${r.stdout}\n${r.stderr}`;
}

/** Resolves once the agent logged its n-th "banhammer started" (it follows the logs from then on). */
async function agentStarted(n: number): Promise<boolean> {
  return (await poll(async () => ((await agentLogs()).match(/"msg":"banhammer started"/g) ?? []).length >= n ? true : undefined, 240)) === true;
}

async function status(json: boolean): Promise<string> {
  const args = ['exec', await containerName('banhammer'), 'banhammer', 'status', 'forbidden', ...(json ? ['--json'] : [])];
  return (await iso!.dockerOk(args)).stdout;
}

interface BanJson {
  ip: string;
  container: string | null;
}
async function bansJson(): Promise<BanJson[]> {
  const r = JSON.parse(await status(true)) as { rules: Array<{ name: string; bans?: BanJson[] }> };
  return (r.rules.find((x) => x.name === 'forbidden')?.bans ?? []).map((b) => ({ ip: b.ip, container: b.container }));
}

/** Whether `ns` gets no answer from `port` (each probe a fresh connection). */
async function blockedNow(ns: LinkedNetns, port: number): Promise<boolean> {
  return (await ns.get(port, '/', 0.5)).status === null;
}

async function iptablesSave(family: 4 | 6): Promise<string> {
  const r = await iso!.inNetns(family === 4 ? 'iptables-save' : 'ip6tables-save', ['-t', 'filter']);
  return r.stdout;
}

/** Lines of ours in the engine's firewall: chain, jumps, sets (empty when clean). */
async function traces(): Promise<string[]> {
  const found: string[] = [];
  for (const f of [4, 6] as const) {
    for (const l of (await iptablesSave(f)).split('\n')) if (l.includes('BANHAMMER') || l.includes('banhammer')) found.push(`ip${f === 6 ? '6' : ''}tables: ${l}`);
  }
  const sets = await iso!.inNetns('ipset', ['list', '-n']);
  for (const s of sets.stdout.split('\n').map((x) => x.trim())) if (s.startsWith('bh-') || s.startsWith('bhc-')) found.push(`ipset: ${s}`);
  return found;
}

describe.skipIf(skipReason !== '')(`compose.examples/host-mode on an isolated Docker engine${skipReason === '' ? '' : ` (skipped: ${skipReason})`}`, () => {
  beforeAll(async () => {
    await images.snapshot();
    let t = performance.now();
    await buildBaseImages(images);
    await buildImage(images, 'Dockerfile.debian', IMAGE);
    await buildDirImage(images, 'compose.examples/host-mode/app', APP_IMAGE);
    figures.push(`images built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    t = performance.now();
    iso = await IsolatedEngine.start({
      tag: `${RUN_TAG}-hm`,
      bip: '198.19.200.1/24',
      addressPool: 'base=198.19.202.0/23,size=24',
      linkPrefix: '198.19.204',
    });
    await iso.loadImage(IMAGE);
    await iso.loadImage(APP_IMAGE);
    figures.push(`isolated engine up and images loaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    attacker = await iso.link('att', 0);
    client = await iso.link('cli', 1);
    attacker2 = await iso.link('att2', 2);
    // ufw-style: nothing reaches the engine's namespace through INPUT.
    for (const tool of ['iptables', 'ip6tables']) {
      const r = await iso.inNetns(tool, ['-w', '-P', 'INPUT', 'DROP']);
      expect(r.code, `${tool} -P INPUT DROP: ${r.stderr}`).toBe(0);
    }

    projectName = `${RUN_TAG}-hostmode`.replace(/[^a-z0-9-]/g, '');
    project = composeFor('container');
    await project.compose(['up', '-d', '--no-build', 'shop', 'blog']);
    for (const port of [SHOP_PORT, BLOG_PORT]) {
      const up = await poll(async () => ((await client.get(port, '/', 1)).status === 200 ? true : undefined), 120);
      expect(up, `app on published port ${port} answers the client`).toBe(true);
    }
    dockerUserBefore = (await iso.inNetns('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout;
    expect(dockerUserBefore, 'Docker made DOCKER-USER').toMatch(/^-N DOCKER-USER$/m);
    dockerUser6Before = (await iso.inNetns('ip6tables', ['-w', '-S', 'DOCKER-USER'])).code === 0;

    t = performance.now();
    await project.compose(['up', '-d', '--no-build', 'banhammer']);
    expect(await agentStarted(1), `agent started:\n${await agentLogs()}`).toBe(true);
    figures.push(`agent up in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }, 30 * 60_000);

  afterAll(async () => {
    const problems: string[] = [];
    for (const r of runs.reverse()) await r.down().catch((e: unknown) => problems.push(`compose down: ${String(e)}`));
    if (iso !== null) problems.push(...(await iso.destroy()));
    problems.push(...(await images.removeCreated()));
    if (engine.ok) await engine.stop();
    if (figures.length > 0) console.info(`host-mode e2e figures:\n  ${figures.join('\n  ')}`);
    if (problems.length > 0) throw new Error(`cleanup problems:\n${problems.join('\n')}`);
  }, 10 * 60_000);

  it('published ports work through FORWARD although INPUT drops everything; the agent hooks into DOCKER-USER', async () => {
    expect((await iso!.inNetns('iptables', ['-w', '-S', 'INPUT'])).stdout).toMatch(/^-P INPUT DROP$/m);
    expect(await client.get(SHOP_PORT, '/')).toEqual({ status: 200, app: 'shop' });
    expect(await client.get(BLOG_PORT, '/')).toEqual({ status: 200, app: 'blog' });
    expect(await attacker.get(SHOP_PORT, '/')).toEqual({ status: 200, app: 'shop' });
    const du = (await iso!.inNetns('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout.split('\n');
    expect(du[1], 'our jump first in DOCKER-USER').toBe(`-A DOCKER-USER -j ${CHAIN}`);
    expect((await iso!.inNetns('iptables', ['-w', '-S', 'FORWARD'])).stdout.match(/-j DOCKER-USER$/gm), 'one FORWARD jump (Docker\'s)').toHaveLength(1);
  });

  it('the agent container reports healthy (host mode: the agent answers, no Apache to ask)', async () => {
    const agent = await containerName('banhammer');
    const h = await poll(async () => {
      const r = JSON.parse((await iso!.dockerOk(['inspect', '-f', '{{json .State.Health}}', agent])).stdout) as { Status: string; Log: Array<{ Output: string }> | null };
      return r.Status === 'healthy' ? (r.Log?.at(-1)?.Output.trim() ?? '') : undefined;
    }, 120);
    expect(h).toBe(`healthy: host mode; agent ${INSTANCE} (enforcer docker-user) answers banhammer status`);
  }, 60_000);

  it('IMAGE_MODE=host with a setting the agent refuses: the container stops with the agent\'s status and its one-line reason', async () => {
    const r = await iso!.docker(['run', '--rm', '-e', 'IMAGE_MODE=host', '-e', 'BANHAMMER_BAN_SCOPE=everywhere', IMAGE], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/BANHAMMER_BAN_SCOPE/);
    expect(r.stderr).toMatch(/in host mode nothing else runs, so the container stops with that status/);
    expect(r.stderr).not.toMatch(/Apache/);
  }, 60_000);

  it(`${MAXRETRY} 403s from the attacker at X (shop) ban it at X only; the client still reaches X, the attacker still reaches Y`, async (ctx) => {
    const lat = await banLatency(attacker, SHOP_PORT, '/private/secret.txt', MAXRETRY, agentLogs);
    expect(lat, 'attacker blocked at X').not.toBeNull();
    const fig = `${MAXRETRY}th request → blocked at X: ${lat!.blockedMs} ms (agent logged the ban after ${lat!.agentMs ?? '?'} ms; ${lat!.extra403} further 403s answered before)`;
    figures.push(fig);
    await ctx.annotate(fig);
    expect(await blockedNow(attacker, SHOP_PORT), 'attacker blocked at X').toBe(true);
    expect(await attacker.get(BLOG_PORT, '/')).toEqual({ status: 200, app: 'blog' });
    expect(await client.get(SHOP_PORT, '/')).toEqual({ status: 200, app: 'shop' });

    const shop = await containerName('shop');
    const text = await status(false);
    expect(text).toMatch(new RegExp(`Banned IP list:\\t${attacker.clientAddr.replace(/\./g, '\\.')} \\(${shop}\\)\\n`));
    expect(await bansJson()).toEqual([{ ip: attacker.clientAddr, container: shop }]);
    // The ban lives in our chain, jumped to from DOCKER-USER, for X's address only.
    const shopAddr = (await iso!.dockerOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', await project!.id('shop')])).stdout.trim();
    const chain = (await iso!.inNetns('iptables', ['-w', '-S', CHAIN])).stdout;
    expect(chain).toContain(`-A ${CHAIN} -d ${shopAddr}/32 -p tcp -m set --match-set `);
    // First, the RETURN that leaves the replies to the containers' own connections alone.
    expect(chain.split('\n')[1]).toBe(`-A ${CHAIN} -m conntrack --ctdir REPLY -j RETURN`);
  }, 60_000);

  it('restarting the engine (Docker rebuilds its chains, X may come back with another address) leaves the ban effective within seconds', async () => {
    const addrOfShop = async () =>
      (await iso!.dockerOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', await project!.id('shop')])).stdout.trim();
    const addrBefore = await addrOfShop();
    const t0 = performance.now();
    await iso!.restart();
    const engineBack = performance.now();
    // X serves the client again, then the attacker is blocked again (the agent re-attached and
    // re-applied its bans for X's current address); measured from the engine answering again.
    const served = await poll(async () => ((await client.get(SHOP_PORT, '/', 1)).status === 200 ? true : undefined), 120);
    expect(served, 'X serves the client after the engine restart').toBe(true);
    const xBack = performance.now();
    const blocked = await poll(async () => ((await blockedNow(attacker, SHOP_PORT)) ? true : undefined), 30);
    expect(blocked, 'attacker blocked at X again after the restart').toBe(true);
    const blockedAt = performance.now();
    figures.push(
      `engine restart: stop+start ${((engineBack - t0) / 1000).toFixed(1)} s; X serving again after ${((xBack - engineBack) / 1000).toFixed(1)} s; ` +
        `attacker blocked at X again ${((blockedAt - xBack) / 1000).toFixed(1)} s after that; X's address ${addrBefore} -> ${await addrOfShop()}`,
    );
    expect(await agentStarted(2), 'the agent came back with the engine').toBe(true);
    // Stays blocked; the others are unaffected.
    await sleep(2500);
    expect(await blockedNow(attacker, SHOP_PORT), 'still blocked after the agent\'s next check').toBe(true);
    expect(await attacker.get(BLOG_PORT, '/')).toEqual({ status: 200, app: 'blog' });
    expect(await client.get(SHOP_PORT, '/')).toEqual({ status: 200, app: 'shop' });
    expect(await bansJson()).toEqual([{ ip: attacker.clientAddr, container: await containerName('shop') }]);
    const du = (await iso!.inNetns('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout.split('\n');
    expect(du[1]).toBe(`-A DOCKER-USER -j ${CHAIN}`);
  }, 5 * 60_000);

  it('with --live-restore the agent keeps running while Docker restarts and sets up its chains again: the ban never lapses', async () => {
    // Switching the engine to --live-restore is itself a full restart (the running engine has none).
    const starts = ((await agentLogs()).match(/"msg":"banhammer started"/g) ?? []).length;
    await iso!.restart(['--live-restore']);
    expect(await poll(async () => ((await client.get(SHOP_PORT, '/', 1)).status === 200 ? true : undefined), 120), 'X back').toBe(true);
    expect(await agentStarted(starts + 1), 'agent back').toBe(true);
    expect(await poll(async () => ((await blockedNow(attacker, SHOP_PORT)) ? true : undefined), 30), 'attacker blocked at X').toBe(true);

    // Now a restart that leaves the containers (and the agent) running: probe X from the attacker
    // all the while; not one probe may get an answer.
    let probing = true;
    let probes = 0;
    const answered: Array<number | null> = [];
    const prober = (async () => {
      while (probing && probes < 400) {
        probes++;
        const r = await attacker.get(SHOP_PORT, `/?during-restart=${probes}`, 0.3);
        if (r.status !== null) answered.push(r.status);
      }
    })();
    const t = performance.now();
    try {
      await iso!.restart();
    } finally {
      // A few more probes after Docker is back and has set up its chains.
      await sleep(3000);
      probing = false;
      await prober;
    }
    figures.push(`live-restore restart of the engine: ${((performance.now() - t) / 1000).toFixed(1)} s, ${probes} probes by the banned attacker, ${answered.length} answered`);
    expect(answered, 'answers X gave the banned attacker during the restart').toEqual([]);
    expect(((await agentLogs()).match(/"msg":"banhammer started"/g) ?? []).length, 'the agent kept running').toBe(starts + 1);
    const du = (await iso!.inNetns('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout.split('\n');
    expect(du[1]).toBe(`-A DOCKER-USER -j ${CHAIN}`);
    expect((await iso!.inNetns('iptables', ['-w', '-S', 'FORWARD'])).stdout.match(/-j DOCKER-USER$/gm)).toHaveLength(1);
    expect(await attacker.get(BLOG_PORT, '/')).toEqual({ status: 200, app: 'blog' });
    expect(await client.get(SHOP_PORT, '/')).toEqual({ status: 200, app: 'shop' });
  }, 5 * 60_000);

  it('with BANHAMMER_BAN_SCOPE=host (agent re-created) a ban from X\'s log covers Y too', async () => {
    const before = ((await agentLogs()).match(/"msg":"banhammer started"/g) ?? []).length;
    project = composeFor('host');
    await project.compose(['up', '-d', '--no-build', 'banhammer']);
    // A re-created container has fresh logs: its first start.
    expect(await agentStarted(1), `agent re-created (had started ${before} times before)`).toBe(true);
    expect(await attacker2.get(BLOG_PORT, '/')).toEqual({ status: 200, app: 'blog' });
    const lat = await banLatency(attacker2, SHOP_PORT, '/private/secret.txt', MAXRETRY, agentLogs);
    expect(lat, 'second attacker blocked at X').not.toBeNull();
    figures.push(`scope host: ${MAXRETRY}th request → blocked at X: ${lat!.blockedMs} ms`);
    expect(await blockedNow(attacker2, BLOG_PORT), 'second attacker blocked at Y too').toBe(true);
    expect(await client.get(SHOP_PORT, '/')).toEqual({ status: 200, app: 'shop' });
    expect(await client.get(BLOG_PORT, '/')).toEqual({ status: 200, app: 'blog' });
    const bans = await bansJson();
    expect(bans).toContainEqual({ ip: attacker2.clientAddr, container: null });
    figures.push(`scope host: bans after the switch: ${JSON.stringify(bans)}`);
    expect(await status(false)).toMatch(new RegExp(`Banned IP list:\\t.*\\b${attacker2.clientAddr.replace(/\./g, '\\.')}( |\\n)`));
  }, 5 * 60_000);

  it('stopping the agent leaves no chain, jump or set of ours and DOCKER-USER as Docker made it', async () => {
    const agent = await containerName('banhammer');
    await project!.compose(['stop', '-t', '20', 'banhammer'], 60_000);
    expect((await iso!.dockerOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', agent])).stdout.trim()).toBe('exited 0');
    expect(await traces()).toEqual([]);
    expect((await iso!.inNetns('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout).toBe(dockerUserBefore);
    expect((await iso!.inNetns('ip6tables', ['-w', '-S', 'DOCKER-USER'])).code === 0, 'ip6tables DOCKER-USER as before').toBe(dockerUser6Before);
    expect((await iso!.inNetns('iptables', ['-w', '-S', 'FORWARD'])).stdout.match(/-j DOCKER-USER$/gm)).toHaveLength(1);
    // Without the agent nothing is enforced (the bans stay in its state volume for its next start).
    expect(await attacker.get(SHOP_PORT, '/')).toEqual({ status: 200, app: 'shop' });
    expect(await attacker2.get(BLOG_PORT, '/')).toEqual({ status: 200, app: 'blog' });
  }, 120_000);
});
