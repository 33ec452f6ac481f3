/**
 * End-to-end: compose.examples/replicas on the running Docker engine — an nginx load balancer
 * round-robin over two replicas (app1, app2) of the banhammer:debian app (behind-proxy mode,
 * BANHAMMER_ENFORCER=apache-map), whose agents share failures and bans through a Redis built from
 * Debian's redis-server with one restricted ACL user per tenant (passwords from Docker secrets), and
 * a second tenant (blog) on the same Redis. Bridge networks only, no NET_ADMIN.
 *
 * The example runs as it is, plus a generated override that pins its networks inside this test's
 * range 198.19.110.0/24 (the other e2e files use 198.19.100.0/24 and 198.19.200.0/22):
 *   backend  198.19.110.0/26    proxy <-> apps (BACKEND_SUBNET, the apps' BANHAMMER_TRUSTED_PROXIES)
 *   public   198.19.110.64/26   clients <-> proxy: flooder .120, good client .121, outage flooder .122
 *   share    198.19.110.128/26  apps <-> redis
 * Clients are node:<major>-trixie-slim containers with fixed addresses running one-line fetches. The
 * proxy and redis images are built beforehand (the engine has no default bridge for a build's
 * apt-get); the apps are built by compose, FROM banhammer:debian.
 *
 * Checked: Redis holds exactly shareAclLine('shop', secret) for the shop's user, and the blog's user
 * cannot read the shop's keys; the Redis image refuses to start without its secrets; a client sending MAXRETRY requests answered 403, spread round-robin
 * (both access logs hold some, neither all), is banned in both apps' maps and answered 403 from the
 * map by both, while another client is served and the blog never sees the ban; the replica that did
 * not make the ban lists it with `from` = the other's replica id; `banhammer unban` at one replica
 * lifts it in both maps; with Redis stopped each replica bans on its own counts (MAXRETRY each) and a
 * manual ban stays local, and after Redis starts again (empty) both maps converge within 5 s.
 * Propagation and convergence times are printed, not asserted beyond those bounds.
 * afterAll removes the compose project (containers, networks, volumes, app images), the client
 * containers and the images this run built.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareAclLine } from '../../src/share/share.js';
import { composeRun, findComposer, type ComposeRun } from './helpers/compose.js';
import { Containers, RUN_TAG, freePort, logs, poll } from './helpers/containers.js';
import { ensureDockerEngine } from './helpers/docker-engine.js';
import { IMAGE, ImageTracker, REPO, buildBaseImages, buildDirImage, buildImage } from './helpers/images.js';
import { run, runOk } from './helpers/run.js';

const engine = await ensureDockerEngine();
const composer = engine.ok ? await findComposer() : null;
const skipReason = !engine.ok ? engine.reason : composer === null ? 'neither `docker compose` nor docker-compose is installed' : null;

/** The default rule `forbidden`: 5 answers 403 within 60 s ban the address (the example's settings). */
const MAXRETRY = 5;
const NET = {
  backend: '198.19.110.0/26',
  public: '198.19.110.64/26',
  share: '198.19.110.128/26',
} as const;
const FLOODER = '198.19.110.120';
const GOOD = '198.19.110.121';
const OUTAGE = '198.19.110.122';
/** Banned by hand at one replica while Redis is down: an address of the public network no client uses. */
const MANUAL = '198.19.110.99';
const PROXY_TAG = `banhammer-e2e-replicas-proxy:${RUN_TAG}`;
const REDIS_TAG = `banhammer-e2e-replicas-redis:${RUN_TAG}`;
const EXAMPLE = join(REPO, 'compose.examples/replicas');
const MAP = '/run/banhammer/banned.map';
const ACCESS = '/var/log/apache2/access/current';
/** Both replicas must hold a ban (or have lifted it) this soon after it was made. */
const SPREAD_MS = 5_000;

const images = new ImageTracker();
/** The client containers (the project's own are removed by compose down). */
const clients = new Containers();
const figures: string[] = [];
let project: ComposeRun | null = null;
let nodeImage = '';
/** Container ids by service. */
const ids: Record<'app1' | 'app2' | 'blog' | 'redis' | 'proxy', string> = { app1: '', app2: '', blog: '', redis: '', proxy: '' };
const REPLICAS = ['app1', 'app2'] as const;
type Replica = (typeof REPLICAS)[number];

/**
 * One GET per entry of `paths` from inside `container` (node's fetch, no keep-alive); statuses in
 * order, 0 when nothing answered within 3 s.
 */
const GET_SCRIPT = `
const [url, paths] = [process.argv[1], JSON.parse(process.argv[2])];
(async () => {
  const out = [];
  for (const p of paths) {
    try {
      const r = await fetch(url + p, { headers: { connection: 'close' }, signal: AbortSignal.timeout(3000) });
      await r.arrayBuffer();
      out.push(r.status);
    } catch { out.push(0); }
  }
  console.log(JSON.stringify(out));
})();
`;

/**
 * The flood: n requests for a forbidden path, then probes of / (200 unless banned) until `k` in a
 * row are answered 403 — by the map, at whichever replica each lands on — or 400 probes / 10 s have
 * passed. Times from the client's clock, from the moment the n-th request was sent.
 */
const FLOOD_SCRIPT = `
const [url, n, k, tag] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const get = async (p) => {
  try {
    const r = await fetch(url + p, { headers: { connection: 'close' }, signal: AbortSignal.timeout(3000) });
    await r.arrayBuffer();
    return r.status;
  } catch { return 0; }
};
(async () => {
  const flood = [];
  let sentLast = 0;
  for (let i = 0; i < n; i++) {
    if (i === n - 1) sentLast = performance.now();
    flood.push(await get('/private/secret.txt?' + tag + '=' + i));
  }
  const probes = [];
  let firstMs = null, allMs = null, run = 0, runStart = 0;
  const t0 = performance.now();
  while (k > 0 && probes.length < 400 && performance.now() - t0 < 10000) {
    const sent = performance.now();
    const s = await get('/?' + tag + '-probe=' + probes.length);
    probes.push(s);
    if (s === 403) {
      if (firstMs === null) firstMs = sent - sentLast;
      if (run === 0) runStart = sent;
      if (++run === k) { allMs = runStart - sentLast; break; }
    } else run = 0;
    await new Promise((r) => setTimeout(r, 10));
  }
  console.log(JSON.stringify({ flood, probes, firstMs, allMs }));
})();
`;

interface BanEntry {
  ip: string;
  until: string | null;
  from?: string | null;
}

async function exec(container: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return (await runOk('docker', ['exec', container, ...args], { timeoutMs })).stdout;
}

async function gets(container: string, url: string, paths: readonly string[]): Promise<number[]> {
  return JSON.parse(await exec(container, ['node', '-e', GET_SCRIPT, url, JSON.stringify(paths)])) as number[];
}

async function flood(container: string, url: string, n: number, k: number, tag: string): Promise<{ flood: number[]; probes: number[]; firstMs: number | null; allMs: number | null }> {
  return JSON.parse(await exec(container, ['node', '-e', FLOOD_SCRIPT, url, String(n), String(k), tag], 120_000)) as {
    flood: number[];
    probes: number[];
    firstMs: number | null;
    allMs: number | null;
  };
}

interface Report {
  enforcer: string;
  files: Array<{ lagBytes: number }>;
  health?: { shareConnected?: boolean };
  rules: Array<{ name: string; bannedIps: string[]; totalFailed: number; bans?: BanEntry[] }>;
}

async function report(service: keyof typeof ids): Promise<Report> {
  return JSON.parse(await exec(ids[service], ['banhammer', 'status', '--json'])) as Report;
}

/** The bans of rule `forbidden` and `manual` (every ban this test makes), with their `from`. */
async function bans(service: keyof typeof ids): Promise<BanEntry[]> {
  const r = await report(service);
  expect(r.enforcer).toBe('apache-map');
  return r.rules.flatMap((x) => x.bans ?? []);
}

/** Resolves once the agent has read its access log to the end (every line so far is decided on). */
async function caughtUp(service: keyof typeof ids): Promise<void> {
  const ok = await poll(async () => {
    const r = await report(service);
    return r.files.length > 0 && r.files.every((f) => f.lagBytes === 0) ? true : undefined;
  }, 80);
  expect(ok, `${service}'s agent caught up with its access log`).toBe(true);
}

/** The addresses in a map file (comments dropped; the IPv4-mapped twin of each IPv4 entry folded in). */
async function mapIps(service: keyof typeof ids): Promise<string[]> {
  const lines = (await exec(ids[service], ['cat', MAP])).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return [...new Set(lines.map((l) => l.split(' ')[0]!.replace(/^::ffff:/, '')))].sort();
}

/**
 * Polls both replicas' maps until `pred` holds for each; the elapsed ms (from the call, to the start
 * of the poll that saw it), or null when it did not within `ms` (at most 200 polls).
 */
async function bothMaps(pred: (ips: string[]) => boolean, ms = SPREAD_MS): Promise<number | null> {
  const t0 = performance.now();
  for (let i = 0; i < 200 && performance.now() - t0 <= ms; i++) {
    const at = performance.now() - t0;
    let ok = true;
    for (const r of REPLICAS) if (!pred(await mapIps(r))) ok = false;
    if (ok) return at;
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}

async function accessLines(service: keyof typeof ids, needle: string): Promise<string[]> {
  return (await exec(ids[service], ['cat', ACCESS])).split('\n').filter((l) => l.includes(needle));
}

async function shareConnected(service: keyof typeof ids): Promise<boolean | undefined> {
  return (await report(service)).health?.shareConnected;
}

async function ipOn(container: string, network: string): Promise<string> {
  const ip = (await runOk('docker', ['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container])).stdout.trim();
  expect(ip, `${container} on ${network}`).toMatch(/^198\.19\.110\.\d+$/);
  return ip;
}

/** A client container with a fixed address on one of the project's networks, idling until exec'd. */
async function client(name: string, network: string, ip: string): Promise<string> {
  const full = `${RUN_TAG}-rp-${name}`;
  clients.track(full);
  await runOk('docker', ['run', '-d', '--name', full, '--network', `${project!.project}_${network}`, '--ip', ip, '--entrypoint', 'sleep', nodeImage, '900'], { timeoutMs: 60_000 });
  return full;
}

/** redis-cli in the redis container as one of the example's users (password from its secret file). */
async function redisAs(user: 'shop' | 'blog', args: readonly string[]): Promise<string> {
  const pw = readFileSync(join(EXAMPLE, `secrets/redis_${user}.txt`), 'utf8').trim();
  const r = await run('docker', ['exec', ids.redis, 'redis-cli', '--no-auth-warning', '--user', user, '--pass', pw, ...args], { timeoutMs: 30_000 });
  return `${r.stdout}${r.stderr}`.trim();
}

describe.skipIf(skipReason !== null)(`compose.examples/replicas${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let flooder = '';
  let good = '';
  let outage = '';
  let shopUrl = '';
  let blogUrl = '';
  /** The replica that made the flooder's ban, and the other one. */
  let banner: Replica = 'app1';
  let other: Replica = 'app2';

  beforeAll(async () => {
    await images.snapshot();
    let t = performance.now();
    await buildBaseImages(images);
    const tags = (await runOk('sh', [`${REPO}/scripts/build-base-images.sh`, '--print-tags'])).stdout.trim().split('\n');
    nodeImage = tags.find((x) => /^node:\d+-trixie-slim$/.test(x)) ?? '';
    expect(nodeImage, 'a node:<major>-trixie-slim base image').not.toBe('');
    await buildImage(images, 'Dockerfile.debian', IMAGE);
    await buildDirImage(images, 'compose.examples/replicas/proxy', PROXY_TAG);
    await buildDirImage(images, 'compose.examples/replicas/redis', REDIS_TAG);
    figures.push(`images ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const subnet = (s: string) => `    ipam:\n      config:\n        - subnet: "${s}"`;
    const override = [
      'services:',
      '  proxy:',
      `    image: "${PROXY_TAG}"`,
      '  redis:',
      `    image: "${REDIS_TAG}"`,
      'networks:',
      '  public:',
      subnet(NET.public),
      '  share:',
      subnet(NET.share),
      '',
    ].join('\n');
    const ports = { PROXY_PORT: String(await freePort()), BLOG_PORT: String(await freePort()) };
    project = composeRun(composer!, 'replicas', `${RUN_TAG}-replicas`, { ...ports, BACKEND_SUBNET: NET.backend }, override);
    t = performance.now();
    // No --build: the proxy and redis images exist (built above); compose builds the apps, which only COPY.
    await project.compose(['up', '-d']);
    for (const s of Object.keys(ids) as Array<keyof typeof ids>) ids[s] = await project.id(s);
    const proxyPublic = await ipOn(ids.proxy, `${project.project}_public`);
    shopUrl = `http://${proxyPublic}`;
    blogUrl = `http://${proxyPublic}:81`;

    for (const s of ['app1', 'app2', 'blog'] as const) {
      const started = await poll(async () => ((await logs(ids[s])).stdout.includes('"msg":"banhammer started"') ? true : undefined), 240);
      expect(started, `${s}'s agent started:\n${(await logs(ids[s])).stderr}`).toBe(true);
      const connected = await poll(async () => ((await shareConnected(s)) === true ? true : undefined), 80);
      expect(connected, `${s} is connected to Redis:\n${(await logs(ids[s])).stdout.slice(-3000)}`).toBe(true);
    }
    flooder = await client('flooder', 'public', FLOODER);
    good = await client('good', 'public', GOOD);
    outage = await client('outage', 'public', OUTAGE);
    // Both replicas serve through the proxy (nginx may set one aside for a while if it was not up yet).
    const both = await poll(async () => {
      const tag = `warm-${RUN_TAG}`;
      const st = await gets(good, shopUrl, [`/?${tag}`, `/?${tag}`]);
      if (!st.every((s) => s === 200)) return undefined;
      for (const r of REPLICAS) if ((await accessLines(r, tag)).length === 0) return undefined;
      return true;
    }, 60, 500);
    expect(both, 'the proxy serves both replicas').toBe(true);
    expect(await gets(good, blogUrl, ['/'])).toEqual([200]);
    figures.push(`replicas: up until both replicas served through the proxy in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }, 30 * 60_000);

  afterAll(async () => {
    const problems: string[] = [];
    // Clients first: their endpoints would keep the project's networks from being removed.
    await clients.removeAll();
    if (project !== null) {
      await project.down().catch((e: unknown) => problems.push(String(e)));
      // Whatever `down` left (it failed, or never ran): removed here, and reported.
      const p = project.project;
      const left = (await run('docker', ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${p}`])).stdout.split('\n').filter(Boolean);
      for (const c of left) await run('docker', ['rm', '-f', '-v', c], { timeoutMs: 60_000 });
      if (left.length > 0) problems.push(`containers left by down (removed now): ${left.join(' ')}`);
      for (const [kind, name] of [
        ['network', 'public'],
        ['network', 'backend'],
        ['network', 'share'],
        ['volume', 'app1-state'],
        ['volume', 'app2-state'],
        ['volume', 'blog-state'],
      ] as const) {
        if ((await run('docker', [kind, 'inspect', `${p}_${name}`])).code !== 0) continue;
        await run('docker', [kind, 'rm', `${p}_${name}`], { timeoutMs: 60_000 });
        problems.push(`${kind} left by down (removed now): ${p}_${name}`);
      }
    }
    problems.push(...(await images.removeCreated()));
    if (engine.ok) await engine.stop();
    if (figures.length > 0) console.info(`e2e replicas figures:\n  ${figures.join('\n  ')}`);
    if (problems.length > 0) throw new Error(`cleanup problems:\n${problems.join('\n')}`);
  }, 10 * 60_000);

  it('Redis gives each tenant the restricted user shareAclLine() prints; one tenant cannot read the other\'s keys', async () => {
    const acl = (await exec(ids.redis, ['cat', '/run/redis/users.acl'])).split('\n');
    for (const user of ['shop', 'blog']) {
      const pw = readFileSync(join(EXAMPLE, `secrets/redis_${user}.txt`), 'utf8').trim();
      expect(acl).toContain(shareAclLine(user, pw));
    }
    expect(acl).toContain('user default off');
    expect(await redisAs('shop', ['PING'])).toBe('PONG');
    expect(await redisAs('blog', ['HLEN', 'banhammer:{shop}:bans'])).toMatch(/NOPERM/);
    expect(await redisAs('shop', ['HLEN', 'banhammer:{blog}:bans'])).toMatch(/NOPERM/);
    expect(await redisAs('shop', ['KEYS', '*'])).toMatch(/NOPERM/);
    for (const c of [ids.app1, ids.app2, ids.blog, ids.proxy, ids.redis]) {
      const hc = JSON.parse((await runOk('docker', ['inspect', '-f', '{{json .HostConfig}}', c])).stdout) as { NetworkMode: string; CapAdd: string[] | null };
      expect(hc.NetworkMode).not.toBe('host');
      expect(hc.CapAdd ?? []).not.toContain('NET_ADMIN');
    }
  });

  it(`a client answered 403 ${MAXRETRY} times over both replicas is banned in both maps, and both answer it 403`, async () => {
    const tag = `flood-${RUN_TAG}`;
    const out = await flood(flooder, shopUrl, MAXRETRY, 4, tag);
    expect(out.flood).toEqual(Array(MAXRETRY).fill(403));
    expect(out.allMs, `probes: ${JSON.stringify(out.probes)}`).not.toBeNull();
    // Round-robin: both replicas saw some of the flood, neither all of it (so neither banned alone).
    const seen: Record<Replica, number> = { app1: 0, app2: 0 };
    for (const r of REPLICAS) seen[r] = (await accessLines(r, `${tag}=`)).filter((l) => l.startsWith(`${FLOODER} `)).length;
    expect(seen.app1 + seen.app2, JSON.stringify(seen)).toBe(MAXRETRY);
    expect(seen.app1, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(seen.app2, JSON.stringify(seen)).toBeGreaterThan(0);
    const spread = await bothMaps((ips) => ips.includes(FLOODER));
    expect(spread, 'the ban is in both maps').not.toBeNull();
    figures.push(
      `replicas: flood split ${seen.app1}/${seen.app2}; first 403 from a map ${out.firstMs!.toFixed(1)} ms and 4 in a row (both replicas) ` +
        `${out.allMs!.toFixed(1)} ms after the ${MAXRETRY}th request was sent (client clock); both maps checked ${spread!.toFixed(0)} ms later`,
    );
    for (const r of REPLICAS) {
      expect(await mapIps(r)).toEqual([FLOODER]);
      expect((await bans(r)).map((b) => b.ip)).toEqual([FLOODER]);
    }
    // Both replicas answer it 403 from the map (their stderr marks the rejected requests), and serve everyone else.
    expect(await gets(flooder, shopUrl, ['/', '/index.html', '/', '/index.html'])).toEqual([403, 403, 403, 403]);
    for (const r of REPLICAS) {
      const marked = await poll(async () => ((await logs(ids[r])).stderr.split('\n').some((l) => l.startsWith(`banhammer-banned ${FLOODER} `)) ? true : undefined), 40);
      expect(marked, `${r} answered the flooder from its map`).toBe(true);
    }
    expect(await gets(good, shopUrl, ['/', '/index.html', '/', '/index.html'])).toEqual([200, 200, 200, 200]);
    // The other tenant shares the Redis, not the bans.
    expect(await gets(flooder, blogUrl, ['/', '/'])).toEqual([200, 200]);
    expect(await mapIps('blog')).toEqual([]);
    expect(await bans('blog')).toEqual([]);
    expect(await redisAs('shop', ['HLEN', 'banhammer:{shop}:bans'])).toBe('1');
    expect(await redisAs('blog', ['HLEN', 'banhammer:{blog}:bans'])).toBe('0');
  }, 180_000);

  it('the replica that did not make the ban lists it with `from` = the other replica\'s id', async () => {
    const entries = { app1: await bans('app1'), app2: await bans('app2') };
    const made = REPLICAS.filter((r) => entries[r].find((b) => b.ip === FLOODER)?.from == null);
    expect(made, JSON.stringify(entries)).toHaveLength(1);
    banner = made[0]!;
    other = banner === 'app1' ? 'app2' : 'app1';
    const received = entries[other].find((b) => b.ip === FLOODER)!;
    // The replica id is hostname-pid-random; the example sets each replica's hostname to its service name.
    expect(received.from).toMatch(new RegExp(`^${banner}-\\d+-[0-9a-f]+$`));
    expect(received.until).toBe(entries[banner].find((b) => b.ip === FLOODER)!.until);
    const text = await exec(ids[other], ['banhammer', 'status', 'forbidden']);
    expect(text).toContain(`from ${received.from}`);
    figures.push(`replicas: ${banner} made the ban; ${other} lists it from ${received.from}`);
  });

  it('Redis refuses to start without its secrets, with one line saying which (exit 78)', async () => {
    const r = await run('docker', ['run', '--rm', '--network', 'none', REDIS_TAG], { timeoutMs: 60_000 });
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split('\n')).toEqual(['redis start.sh: secret /run/secrets/redis_shop is missing or unreadable (compose: secrets: redis_shop)']);
  }, 120_000);

  it('`banhammer unban` at one replica lifts the ban in both maps', async () => {
    // At the replica that received the ban: the unban travels back to the one that made it.
    expect((await runOk('docker', ['exec', ids[other], 'banhammer', 'unban', FLOODER], { timeoutMs: 30_000 })).code).toBe(0);
    const lifted = await bothMaps((ips) => !ips.includes(FLOODER));
    expect(lifted, 'the unban reached both maps').not.toBeNull();
    figures.push(`replicas: unban at ${other} gone from both maps within ${lifted!.toFixed(0)} ms`);
    for (const r of REPLICAS) expect(await bans(r)).toEqual([]);
    expect(await gets(flooder, shopUrl, ['/', '/', '/', '/'])).toEqual([200, 200, 200, 200]);
    expect(await redisAs('shop', ['HLEN', 'banhammer:{shop}:bans'])).toBe('0');
  }, 120_000);

  it('with Redis stopped for 10 s each replica bans on its own counts and loses nothing; started again (empty), both maps converge (bound 8 s; the 5 s target is asserted in test/integration/share)', async () => {
    await project!.compose(['stop', '-t', '5', 'redis'], 60_000);
    const stoppedAt = performance.now();
    for (const r of REPLICAS) {
      const down = await poll(async () => ((await shareConnected(r)) === false ? true : undefined), 80);
      expect(down, `${r} noticed that Redis is gone`).toBe(true);
    }
    const tag = `outage-${RUN_TAG}`;
    // MAXRETRY requests over both replicas: no replica alone reaches MAXRETRY, and there is no group count.
    const first = await flood(outage, shopUrl, MAXRETRY, 0, `${tag}a`);
    expect(first.flood).toEqual(Array(MAXRETRY).fill(403));
    for (const r of REPLICAS) await caughtUp(r);
    for (const r of REPLICAS) expect(await mapIps(r)).toEqual([]);
    // MAXRETRY more: now each replica has seen MAXRETRY and bans on its own.
    const second = await flood(outage, shopUrl, MAXRETRY, 4, `${tag}b`);
    expect(second.flood).toEqual(Array(MAXRETRY).fill(403));
    expect(second.allMs, `probes: ${JSON.stringify(second.probes)}`).not.toBeNull();
    expect(await bothMaps((ips) => ips.includes(OUTAGE))).not.toBeNull();
    // The flood's own requests only: a probe (`/?…-probe=`) that reached a replica in the few ms before
    // its own ban was in its map is served and logged too, which is no lost or extra failure.
    for (const r of REPLICAS) expect((await accessLines(r, `/private/secret.txt?${tag}`)).filter((l) => l.startsWith(`${OUTAGE} `))).toHaveLength(MAXRETRY);
    // A ban by hand at one replica stays there while Redis is away (it waits in the outbox).
    await runOk('docker', ['exec', ids.app1, 'banhammer', 'ban', MANUAL, '--rule', 'forbidden'], { timeoutMs: 30_000 });
    expect(await mapIps('app1')).toEqual([MANUAL, OUTAGE].sort());
    await new Promise((r) => setTimeout(r, 500));
    expect(await mapIps('app2')).toEqual([OUTAGE]);

    // The issue's outage: Redis away for (at least) 10 s loses nothing.
    const away = performance.now() - stoppedAt;
    if (away < 10_000) await new Promise((r) => setTimeout(r, 10_000 - away));
    figures.push(`replicas: Redis was stopped for ${((performance.now() - stoppedAt) / 1000).toFixed(1)} s`);
    const t = performance.now();
    await project!.compose(['start', 'redis'], 60_000);
    // "Within 5 s when Redis returns": counted from the moment Redis answers, not from `docker start`
    // (the container's own start-up is not the agents' to shorten).
    const up = await poll(async () => ((await redisAs('shop', ['PING']).catch(() => '')) === 'PONG' ? true : undefined), 100);
    expect(up, 'Redis answers again').toBe(true);
    const back = performance.now();
    // The 5 s convergence is asserted against a local redis-server in test/integration/share (0.9–1.7 s
    // there); through Docker's networks and two apache-map replicas this run measured ~4 s, so the
    // bound here leaves room for a loaded CI machine and the figure is printed for the record.
    const converged = await bothMaps((ips) => ips.includes(MANUAL) && ips.includes(OUTAGE), 8_000);
    expect(converged, 'both maps hold the union of the bans within 8 s of Redis answering again').not.toBeNull();
    figures.push(`replicas: Redis answered ${((back - t) / 1000).toFixed(2)} s after \`start\`; both maps converged ${((performance.now() - back) / 1000).toFixed(2)} s after that`);
    for (const r of REPLICAS) {
      // Each replica's two connections (commands, subscription) come back on their own back-offs:
      // the maps can agree (through the other replica's publications) a moment before both are up.
      expect(await poll(async () => ((await shareConnected(r)) === true ? true : undefined), 60), `${r} connected to Redis again`).toBe(true);
      expect(await mapIps(r)).toEqual([MANUAL, OUTAGE].sort());
    }
    // app2 learnt the manual ban from app1's outbox.
    expect((await bans('app2')).find((b) => b.ip === MANUAL)?.from).toMatch(/^app1-/);
    // The flooder's ban, lifted before the outage, does not come back.
    for (const r of REPLICAS) expect(await mapIps(r)).not.toContain(FLOODER);
    expect(await mapIps('blog')).toEqual([]);
  }, 180_000);
});
