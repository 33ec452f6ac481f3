/**
 * End-to-end: compose.examples/behind-proxy on the running Docker engine — an nginx reverse proxy in
 * front of the banhammer:debian app, bridge networks only, no NET_ADMIN, BANHAMMER_ENFORCER=apache-map.
 *
 * The example runs as it is, plus a generated override that pins its networks inside this test's
 * range 198.19.100.0/24 and adds one network the example does not have:
 *   backend  198.19.100.0/26    proxy <-> app (BACKEND_SUBNET, the app's BANHAMMER_TRUSTED_PROXIES)
 *   public   198.19.100.64/26   clients <-> proxy: the flooder .120 and a good client .121
 *   probe    198.19.100.128/26  test only: an untrusted peer .140 that talks to the app directly
 * Clients are node:<major>-trixie-slim containers with fixed addresses running one-line fetches.
 * The proxy image is built beforehand (the engine has no default bridge for a build's apt-get); the
 * app is built by compose, FROM banhammer:debian.
 *
 * Checked: the flooder is answered 403 by the map after MAXRETRY 403s and the agent lists it (its own
 * address, not the proxy's, not the good client's it forged in X-Forwarded-For); the good client
 * still gets 200 through the same proxy; the proxy's own 403s never ban it; a banned client's
 * rejected requests never reach the access log the agent reads, so its ban does not move; a forged
 * X-Forwarded-For sent straight to the app by an untrusted peer is ignored (the peer itself is banned).
 * The time from the MAXRETRY-th request to the first 403 from the map is printed, not asserted.
 * afterAll removes the compose project (containers, networks, volume, app image), the client
 * containers and the images this run built.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeRun, findComposer, type ComposeRun } from './helpers/compose.js';
import { Containers, RUN_TAG, freePort, httpStatus, logs, poll } from './helpers/containers.js';
import { ensureDockerEngine } from './helpers/docker-engine.js';
import { IMAGE, ImageTracker, REPO, buildBaseImages, buildDirImage, buildImage } from './helpers/images.js';
import { run, runOk } from './helpers/run.js';

const engine = await ensureDockerEngine();
const composer = engine.ok ? await findComposer() : null;
const skipReason = !engine.ok ? engine.reason : composer === null ? 'neither `docker compose` nor docker-compose is installed' : null;

/** The default rule `forbidden`: 5 answers 403 within 60 s ban the address (the example's settings). */
const MAXRETRY = 5;
const NET = {
  backend: '198.19.100.0/26',
  public: '198.19.100.64/26',
  probe: '198.19.100.128/26',
} as const;
const FLOODER = '198.19.100.120';
const GOOD = '198.19.100.121';
const FORGER = '198.19.100.140';
const PROXY_TAG = `banhammer-e2e-behind-proxy-proxy:${RUN_TAG}`;
const MAP = '/run/banhammer/banned.map';
const ACCESS = '/var/log/apache2/access/current';

const images = new ImageTracker();
/** The client containers (the project's own are removed by compose down). */
const clients = new Containers();
const figures: string[] = [];
let project: ComposeRun | null = null;
let nodeImage = '';
let app = '';
let proxy = '';
let proxyPublic = '';
let proxyBackend = '';
let appProbe = '';
let proxyPort = 0;

/**
 * One GET per entry of `paths` from inside `container` (node's fetch, no keep-alive), each with
 * `headers`; statuses in order, 0 when nothing answered within 3 s.
 */
const GET_SCRIPT = `
const [url, paths, headers] = [process.argv[1], JSON.parse(process.argv[2]), JSON.parse(process.argv[3])];
(async () => {
  const out = [];
  for (const p of paths) {
    try {
      const r = await fetch(url + p, { headers: { ...headers, connection: 'close' }, signal: AbortSignal.timeout(3000) });
      await r.arrayBuffer();
      out.push(r.status);
    } catch { out.push(0); }
  }
  console.log(JSON.stringify(out));
})();
`;

/**
 * The flood: MAXRETRY requests for a forbidden path, then probes of / (200 unless banned) until one
 * is answered 403 — by the map — or 400 probes / 10 s have passed. Times from the client's clock.
 */
const FLOOD_SCRIPT = `
const [url, n, headers] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3])];
const get = async (p) => {
  try {
    const r = await fetch(url + p, { headers: { ...headers, connection: 'close' }, signal: AbortSignal.timeout(3000) });
    await r.arrayBuffer();
    return r.status;
  } catch { return 0; }
};
(async () => {
  const flood = [];
  let sentLast = 0;
  for (let i = 0; i < n; i++) {
    if (i === n - 1) sentLast = performance.now();
    flood.push(await get('/private/secret.txt?flood=' + i));
  }
  const probes = [];
  let bannedAfterMs = null;
  const t0 = performance.now();
  while (probes.length < 400 && performance.now() - t0 < 10000) {
    const sent = performance.now();
    const s = await get('/?probe=' + probes.length);
    probes.push(s);
    if (s === 403) { bannedAfterMs = sent - sentLast; break; }
    await new Promise((r) => setTimeout(r, 10));
  }
  console.log(JSON.stringify({ flood, probes, bannedAfterMs }));
})();
`;

async function exec(container: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return (await runOk('docker', ['exec', container, ...args], { timeoutMs })).stdout;
}

async function gets(container: string, url: string, paths: readonly string[], headers: Record<string, string> = {}): Promise<number[]> {
  return JSON.parse(await exec(container, ['node', '-e', GET_SCRIPT, url, JSON.stringify(paths), JSON.stringify(headers)])) as number[];
}

async function status(): Promise<{ bannedIps: string[]; totalFailed: number; currentlyFailed: number }> {
  const r = JSON.parse(await exec(app, ['banhammer', 'status', 'forbidden', '--json'])) as {
    enforcer: string;
    rules: Array<{ name: string; bannedIps: string[]; totalFailed: number; currentlyFailed: number }>;
  };
  expect(r.enforcer).toBe('apache-map');
  const f = r.rules.find((x) => x.name === 'forbidden');
  expect(f).toBeDefined();
  return f!;
}

/** Resolves once the agent has read its access log to the end (every line so far is decided on). */
async function agentCaughtUp(): Promise<void> {
  const ok = await poll(async () => {
    const r = JSON.parse(await exec(app, ['banhammer', 'status', '--json'])) as { files: Array<{ lagBytes: number }> };
    return r.files.length > 0 && r.files.every((f) => f.lagBytes === 0) ? true : undefined;
  }, 80);
  expect(ok, 'the agent caught up with its access log').toBe(true);
}

/** The map file's `<address> <stamp>` lines (comments dropped). */
async function mapLines(): Promise<string[]> {
  return (await exec(app, ['cat', MAP])).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** The agent's "ban" log records (JSON lines on the app's stdout). */
async function banRecords(): Promise<Array<{ ip: string; until: string | null }>> {
  return (await logs(app)).stdout
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"msg":"ban"'))
    .map((l) => JSON.parse(l) as { ip: string; until: string | null });
}

async function ipOn(container: string, network: string): Promise<string> {
  const ip = (await runOk('docker', ['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container])).stdout.trim();
  expect(ip, `${container} on ${network}`).toMatch(/^198\.19\.100\.\d+$/);
  return ip;
}

/** A client container with a fixed address on one of the project's networks, idling until exec'd. */
async function client(name: string, network: string, ip: string): Promise<string> {
  const full = `${RUN_TAG}-bp-${name}`;
  clients.track(full);
  await runOk('docker', ['run', '-d', '--name', full, '--network', `${project!.project}_${network}`, '--ip', ip, '--entrypoint', 'sleep', nodeImage, '900'], { timeoutMs: 60_000 });
  return full;
}

describe.skipIf(skipReason !== null)(`compose.examples/behind-proxy${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let flooder = '';
  let good = '';
  let forger = '';
  let proxyUrl = '';

  beforeAll(async () => {
    await images.snapshot();
    let t = performance.now();
    await buildBaseImages(images);
    const tags = (await runOk('sh', [`${REPO}/scripts/build-base-images.sh`, '--print-tags'])).stdout.trim().split('\n');
    nodeImage = tags.find((x) => /^node:\d+-trixie-slim$/.test(x)) ?? '';
    expect(nodeImage, 'a node:<major>-trixie-slim base image').not.toBe('');
    await buildImage(images, 'Dockerfile.debian', IMAGE);
    await buildDirImage(images, 'compose.examples/behind-proxy/proxy', PROXY_TAG);
    figures.push(`images ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    proxyPort = await freePort();
    const subnet = (s: string) => `    ipam:\n      config:\n        - subnet: "${s}"\n`;
    const override = [
      'services:',
      '  proxy:',
      `    image: "${PROXY_TAG}"`,
      '  app:',
      '    networks:',
      '      backend: {}',
      '      probe: {}',
      'networks:',
      '  public:',
      subnet(NET.public).trimEnd(),
      '  probe:',
      subnet(NET.probe).trimEnd(),
      '',
    ].join('\n');
    project = composeRun(composer!, 'behind-proxy', `${RUN_TAG}-behind-proxy`, { PROXY_PORT: String(proxyPort), BACKEND_SUBNET: NET.backend }, override);
    t = performance.now();
    // No --build: the proxy image exists (built above); compose builds the app, which only COPYs.
    await project.compose(['up', '-d']);
    app = await project.id('app');
    proxy = await project.id('proxy');
    proxyPublic = await ipOn(proxy, `${project.project}_public`);
    proxyBackend = await ipOn(proxy, `${project.project}_backend`);
    appProbe = await ipOn(app, `${project.project}_probe`);
    proxyUrl = `http://${proxyPublic}`;

    const started = await poll(async () => ((await logs(app)).stdout.includes('"msg":"banhammer started"') ? true : undefined), 240);
    expect(started, `the agent started:\n${(await logs(app)).stderr}`).toBe(true);
    flooder = await client('flooder', 'public', FLOODER);
    good = await client('good', 'public', GOOD);
    forger = await client('forger', 'probe', FORGER);
    const served = await poll(async () => ((await gets(good, proxyUrl, ['/']))[0] === 200 ? true : undefined), 120);
    expect(served, 'the proxy serves the app').toBe(true);
    figures.push(`behind-proxy: up until served through the proxy in ${((performance.now() - t) / 1000).toFixed(1)} s`);
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
      for (const [kind, name] of [['network', 'public'], ['network', 'backend'], ['network', 'probe'], ['volume', 'banhammer-state']] as const) {
        if ((await run('docker', [kind, 'inspect', `${p}_${name}`])).code !== 0) continue;
        await run('docker', [kind, 'rm', `${p}_${name}`], { timeoutMs: 60_000 });
        problems.push(`${kind} left by down (removed now): ${p}_${name}`);
      }
    }
    problems.push(...(await images.removeCreated()));
    if (engine.ok) await engine.stop();
    if (figures.length > 0) console.info(`e2e behind-proxy figures:\n  ${figures.join('\n  ')}`);
    if (problems.length > 0) throw new Error(`cleanup problems:\n${problems.join('\n')}`);
  }, 10 * 60_000);

  it('runs without host networking or NET_ADMIN; Apache logs the client the proxy names', async () => {
    for (const c of [app, proxy]) {
      const hc = JSON.parse((await runOk('docker', ['inspect', '-f', '{{json .HostConfig}}', c])).stdout) as { NetworkMode: string; CapAdd: string[] | null };
      expect(hc.NetworkMode).not.toBe('host');
      expect(hc.CapAdd ?? []).not.toContain('NET_ADMIN');
    }
    const tag = `/?tag=${RUN_TAG}-good`;
    expect(await gets(good, proxyUrl, [tag])).toEqual([200]);
    const line = await poll(async () => (await exec(app, ['cat', ACCESS])).split('\n').find((l) => l.includes(tag)), 40);
    expect(line, 'the access line').toBeDefined();
    expect(line!.split(' ')[0]).toBe(GOOD);
    // Through the published port too (docker-proxy connects from the public network's gateway).
    expect(await httpStatus(proxyPort, '/')).toBe(200);
  });

  it(`the flooder gets 403 from the map after ${MAXRETRY} 403s; the agent bans its address, not the proxy's or the one it forged`, async () => {
    // The flooder also forges X-Forwarded-For naming the good client: nginx appends the real peer,
    // and Apache takes only the entry its trusted proxy added.
    const out = JSON.parse(
      await exec(flooder, ['node', '-e', FLOOD_SCRIPT, proxyUrl, String(MAXRETRY), JSON.stringify({ 'x-forwarded-for': GOOD })]),
    ) as { flood: number[]; probes: number[]; bannedAfterMs: number | null };
    expect(out.flood).toEqual(Array(MAXRETRY).fill(403));
    expect(out.bannedAfterMs, `probes: ${JSON.stringify(out.probes)}`).not.toBeNull();
    expect(out.probes.slice(0, -1).every((s) => s === 200)).toBe(true);
    figures.push(
      `behind-proxy: the first request answered 403 by the map was sent ${out.bannedAfterMs!.toFixed(1)} ms after the ${MAXRETRY}th 403 request was sent ` +
        `(client clock; includes that request's round trip; ${out.probes.length - 1} probe(s) answered 200 before)`,
    );
    const st = await status();
    expect(st.bannedIps).toEqual([FLOODER]);
    expect(await mapLines()).toEqual([expect.stringMatching(new RegExp(`^${FLOODER.replace(/\./g, '\\.')} \\d{14}$`))]);
    // Same proxy, other client: served.
    expect(await gets(good, proxyUrl, ['/', '/index.html'])).toEqual([200, 200]);
    expect(await gets(flooder, proxyUrl, ['/', '/index.html'])).toEqual([403, 403]);
  }, 120_000);

  it("a banned client's rejected requests never reach the agent's log: its ban does not move", async () => {
    const stamp = await mapLines();
    const records = await banRecords();
    expect(records.filter((r) => r.ip === FLOODER)).toHaveLength(1);
    const before = await status();
    const tag = `selfext-${RUN_TAG}`;
    const paths = Array.from({ length: 2 * MAXRETRY }, (_, i) => (i % 2 === 0 ? `/private/secret.txt?${tag}=${i}` : `/?${tag}=${i}`));
    expect(await gets(flooder, proxyUrl, paths)).toEqual(paths.map(() => 403));
    // They were answered and logged — to stderr, marked — so a wait for the last one is enough.
    const last = paths.at(-1)!;
    const marked = await poll(async () => ((await logs(app)).stderr.split('\n').some((l) => l.startsWith(`banhammer-banned ${FLOODER} `) && l.includes(last)) ? true : undefined), 80);
    expect(marked, 'the banned requests are in docker logs with the marker').toBe(true);
    // A request after them that does reach the log: once it is read, the banned ones would have been.
    const after = `/?${tag}-after`;
    expect(await gets(good, proxyUrl, [after])).toEqual([200]);
    const access = await poll(async () => {
      const text = await exec(app, ['cat', ACCESS]);
      return text.includes(after) ? text : undefined;
    }, 40);
    expect(access).toBeDefined();
    expect(access!.split('\n').filter((l) => l.includes(tag) && !l.includes(after))).toEqual([]);
    await agentCaughtUp();
    expect((await status()).totalFailed).toBe(before.totalFailed);
    expect(await mapLines()).toEqual(stamp);
    expect((await banRecords()).filter((r) => r.ip === FLOODER)).toEqual(records.filter((r) => r.ip === FLOODER));
  }, 120_000);

  it("the proxy's own address is never banned, even when it gets 403s itself", async () => {
    // From inside the proxy's network namespace, straight to the app: the app sees the proxy's address.
    const r = await runOk(
      'docker',
      ['run', '--rm', '--network', `container:${proxy}`, '--entrypoint', 'node', nodeImage, '-e', GET_SCRIPT, `http://${await ipOn(app, `${project!.project}_backend`)}`,
        JSON.stringify(Array.from({ length: 2 * MAXRETRY }, (_, i) => `/private/secret.txt?proxy=${i}`)), '{}'],
      { timeoutMs: 120_000 },
    );
    expect(JSON.parse(r.stdout)).toEqual(Array(2 * MAXRETRY).fill(403));
    const lines = await poll(async () => {
      const l = (await exec(app, ['cat', ACCESS])).split('\n').filter((x) => x.includes(`proxy=${2 * MAXRETRY - 1}`));
      return l.length > 0 ? l : undefined;
    }, 40);
    expect(lines?.[0]?.split(' ')[0]).toBe(proxyBackend);
    await agentCaughtUp(); // every one of those lines has been decided on
    const st = await status();
    expect(st.bannedIps).not.toContain(proxyBackend);
    expect(st.bannedIps).not.toContain(proxyPublic);
    expect(await gets(good, proxyUrl, ['/'])).toEqual([200]);
  }, 180_000);

  it('a forged X-Forwarded-For straight to the app from an untrusted peer is ignored', async () => {
    const url = `http://${appProbe}`;
    const paths = Array.from({ length: MAXRETRY }, (_, i) => `/private/secret.txt?forged=${i}`);
    expect(await gets(forger, url, paths, { 'x-forwarded-for': GOOD })).toEqual(paths.map(() => 403));
    const line = await poll(async () => (await exec(app, ['cat', ACCESS])).split('\n').find((l) => l.includes(`forged=${MAXRETRY - 1}`)), 40);
    expect(line?.split(' ')[0]).toBe(FORGER);
    const banned = await poll(async () => ((await status()).bannedIps.includes(FORGER) ? true : undefined), 40);
    expect(banned, 'the forger itself is banned').toBe(true);
    expect((await status()).bannedIps.sort()).toEqual([FLOODER, FORGER].sort());
    expect(await gets(forger, url, ['/'], { 'x-forwarded-for': GOOD })).toEqual([403]);
    expect(await gets(good, proxyUrl, ['/'])).toEqual([200]);
  }, 120_000);

  it('with another enforcer (log) mod_remoteip is configured as well: the access log names the client', async () => {
    const name = `${RUN_TAG}-bp-logenf`;
    clients.track(name);
    await runOk('docker', ['run', '-d', '--name', name, '--network', `${project!.project}_backend`, '-e', 'BANHAMMER_ENFORCER=log', '-e', `BANHAMMER_TRUSTED_PROXIES=${NET.backend}`, IMAGE], { timeoutMs: 60_000 });
    const url = `http://${await ipOn(name, `${project!.project}_backend`)}`;
    const tag = `/?tag=${RUN_TAG}-logenf`;
    // From the proxy's network namespace (a trusted peer), naming a client in X-Forwarded-For.
    const fromProxy = (path: string) =>
      runOk('docker', ['run', '--rm', '--network', `container:${proxy}`, '--entrypoint', 'node', nodeImage, '-e', GET_SCRIPT, url, JSON.stringify([path]), JSON.stringify({ 'x-forwarded-for': '198.19.100.99' })], { timeoutMs: 60_000 }).then(
        (r) => (JSON.parse(r.stdout) as number[])[0],
      );
    expect(await poll(async () => ((await fromProxy('/')) === 200 ? true : undefined), 60), 'the second app serves').toBe(true);
    expect(await fromProxy(tag)).toBe(200);
    const line = await poll(async () => (await exec(name, ['cat', ACCESS])).split('\n').find((l) => l.includes(tag)), 40);
    expect(line?.split(' ')[0]).toBe('198.19.100.99');
    expect(await exec(name, ['cat', '/run/banhammer/apache.conf'])).not.toContain('BANHAMMER_MAP_FILE /');
  }, 180_000);

  it.each([
    [
      'an invalid trusted-proxy list',
      ['-e', 'BANHAMMER_TRUSTED_PROXIES=198.19.100.0/26, proxy.example'],
      'banhammer-entrypoint: invalid configuration: trusted_proxies[1] = "proxy.example" (env BANHAMMER_TRUSTED_PROXIES): not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)',
    ],
    [
      'a missing map directory',
      ['-e', 'BANHAMMER_ENFORCER=apache-map', '-e', 'BANHAMMER_MAP_FILE=/maps/banned.map'],
      'banhammer-entrypoint: apache-map: cannot write map file /maps/banned.map: directory /maps does not exist (',
    ],
    [
      'a read-only map directory',
      ['--tmpfs', '/maps:ro', '-e', 'BANHAMMER_ENFORCER=apache-map', '-e', 'BANHAMMER_MAP_FILE=/maps/banned.map'],
      'banhammer-entrypoint: apache-map: cannot write map file /maps/banned.map: directory /maps is not writable (EROFS) (',
    ],
  ])('%s stops the container at start with one line saying so (exit 78)', async (_what, args, first) => {
    const r = await run('docker', ['run', '--rm', '--network', 'none', ...args, IMAGE], { timeoutMs: 60_000 });
    expect(r.code).toBe(78);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]!.startsWith(first), r.stderr).toBe(true);
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^  hint: /)]);
  }, 120_000);
});
