/**
 * Helper H44: shared bans with mixed modes. A host-mode replica (bans per container) and in-container
 * replicas (not in host mode) in one group. An in-container replica holds the group's ban for one
 * container host-wide (the scope is dropped on adoption; Ban.groupScope keeps which container it was
 * made for); the group's hash stores it under its own field, apart from that replica's own host-wide
 * ban of the address. A per-container unban lifts only what it lifted in the group.
 *
 * Found by H43 (its repro is the first case); every case here but the reverse ones failed on 3b79846.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare, type ShareStage } from '../../../src/share/share.js';
import { FakeSource, RestartStore } from '../../fakes/agent-io.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { containerConfig } from '../../unit/docker/container-fixtures.js';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { startReplica, waitFor } from '../share/replica.js';
import { bookOf, cleanup, makeAgent, quiet, restartAgent, startAgent, stopAgent, viewsOf, type Agent } from '../share-seams/harness.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const SHOP = 'a1'.repeat(32);
const CART = 'b2'.repeat(32);
const dirs: string[] = [];
afterAll(() => {
  cleanup();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Host {
  daemon: Daemon;
  enforcer: RecordingEnforcer;
  share: ShareStage;
}

describe.skipIf(!hasRedisServer)(`host mode and in-container replicas in one group${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();
  const running: Daemon[] = [];
  const agents: Agent[] = [];
  afterAll(async () => {
    for (const d of running) await d.stop().catch(() => undefined);
    for (const a of agents) await stopAgent(a).catch(() => undefined);
  });

  function hostAgent(group: string): Host {
    const dir = mkdtempSync(join(tmpdir(), 'bh-h44-host-'));
    dirs.push(dir);
    const root = join(dir, 'containers');
    for (const [id, name, v4] of [
      [SHOP, 'shop', '198.19.151.2'],
      [CART, 'cart', '198.19.151.3'],
    ] as const) {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4 } }));
    }
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'ban_scope: container\n');
    const url = g.redis.url();
    const config = loadConfig({ env: { BANHAMMER_CONFIG: file, BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_DOCKER_CONTAINERS_DIR: root, BANHAMMER_INSTANCE: 'host', BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: group, BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
    const share = createRedisShare({ url, group, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 200 }, { clock: systemClock, log: silent });
    const enforcer = new RecordingEnforcer();
    enforcer.cidr = false;
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new RestartStore(), createSource, hostAddresses: [], share });
    running.push(daemon);
    return { daemon, enforcer, share };
  }

  async function inContainer(name: string, group: string): Promise<Agent> {
    const a = makeAgent(name, group, g.redis.url(), { bantime: '10m', enabled: true });
    agents.push(a);
    await startAgent(a);
    await waitFor(`${name} connected`, () => a.share.stats().connected, 3000);
    return a;
  }

  async function setUp(group: string): Promise<{ host: Host; b: Agent }> {
    const host = hostAgent(group);
    await host.daemon.start();
    await waitFor('host connected', () => host.share.stats().connected, 3000);
    const b = await inContainer(`${group}-b`, group);
    return { host, b };
  }

  /** The group's hash: field (address, or `address container`) -> [origin, until]. */
  async function stored(group: string): Promise<Record<string, [string, number | null]>> {
    const raw = await g.admin.hGetAll(`banhammer:{${group}}:bans`);
    const out: Record<string, [string, number | null]> = {};
    for (const [field, v] of Object.entries(raw)) {
      const m = JSON.parse(v) as { origin: string; until: number | null };
      out[field] = [m.origin, m.until];
    }
    return out;
  }

  const heldUntil = (a: Agent, ip: string): number | null | undefined => a.enforcer.held.get(ip)?.until;
  /** Waits until `a`'s share stage counted `n` more unbans from the group than `before`, then until it is quiet. */
  async function unbansHeard(a: Agent, before: number, n = 1): Promise<void> {
    await waitFor(`${a.name} hears the unban`, () => a.share.stats().unbansIn >= before + n, 3000);
    await quiet([a]);
  }

  it("an unban for one container lifts, at an in-container replica, only the ban made for it: its own older ban, which the group still stores, is in force again (H43's repro)", async () => {
    const group = 'mixed1';
    const ip = '198.18.74.1';
    const { host, b } = await setUp(group);
    // b bans the address (host-wide, an hour); the host-mode replica holds it host-wide too.
    await b.daemon.ban(ip, { forMs: HOUR });
    const own = heldUntil(b, ip);
    await waitFor('held host-wide at the host', () => host.enforcer.held.has(ip), 3000);
    // The host bans it for its container shop, for longer: b adopts that host-wide (scope dropped),
    // replacing its own older ban.
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    await waitFor("b adopts the host's longer ban", () => (heldUntil(b, ip) ?? 0) > Date.now() + 2 * HOUR, 3000);
    const unbans = b.share.stats().unbansIn;
    expect(await host.daemon.unban(ip, { container: 'shop' })).toBe(1);
    await unbansHeard(b, unbans);
    // b holds exactly what the group stores for it: its own ban, for its own length.
    expect(Object.keys(await stored(group))).toEqual([ip]);
    expect(host.enforcer.held.has(ip)).toBe(true);
    expect(heldUntil(b, ip)).toBe(own);
    const why = b.daemon.why(ip).active;
    expect(why.map((x) => [x.from ?? 'own', x.until === null ? null : Date.parse(x.until)])).toEqual([['own', own]]);
    expect(await viewsOf(b, [ip])).toEqual([]);
    // A replica joining now adopts it (the group stores b's host-wide ban).
    const late = await startReplica(`${group}-late`, { url: g.redis.url(), group });
    g.replicas.push(late);
    await waitFor('the late joiner adopts it', () => late.bans.some((x) => x.ban.ip === ip && x.ban.scope === undefined), 3000);
    // And b after a restart holds what it held before.
    await stopAgent(b);
    await restartAgent(b, group);
    await quiet([b]);
    expect(heldUntil(b, ip)).toBe(own);
    expect(bookOf(b).active(Date.now()).map((x) => [x.from ?? 'own', x.until])).toEqual([['own', own]]);
  }, 20_000);

  it('an own ban made after the adopted one (kept under it) stands too', async () => {
    const group = 'mixed2';
    const ip = '198.18.74.2';
    const { host, b } = await setUp(group);
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    await waitFor('b adopts it host-wide', () => b.enforcer.held.has(ip), 3000);
    // Shorter, made after it: kept under the adopted ban (Ban.under), stored by the group under b's field.
    await b.daemon.ban(ip, { forMs: HOUR });
    await waitFor('stored', async () => (await stored(group))[ip] !== undefined, 3000);
    const own = bookOf(b).active(Date.now())[0]!.under!.until;
    const unbans = b.share.stats().unbansIn;
    expect(await host.daemon.unban(ip, { container: 'shop' })).toBe(1);
    await unbansHeard(b, unbans);
    expect(heldUntil(b, ip)).toBe(own);
    expect(b.daemon.why(ip).active.map((x) => x.from ?? 'own')).toEqual(['own']);
    expect(await viewsOf(b, [ip])).toEqual([]);
  }, 20_000);

  it("the group's other bans of the address (another container's, another replica's) stand at the in-container replica; a host-wide unban still lifts every one", async () => {
    const group = 'mixed3';
    const ip = '198.18.74.3';
    const { host, b } = await setUp(group);
    const c = await inContainer(`${group}-c`, group);
    // c's host-wide ban (90 min), the host's for cart (2 h), then for shop (3 h): b holds the longest host-wide.
    await c.daemon.ban(ip, { forMs: 1.5 * HOUR });
    await waitFor("b adopts c's ban", () => b.enforcer.held.has(ip), 3000);
    await host.daemon.ban(ip, { forMs: 2 * HOUR, container: 'cart' });
    const cart = host.enforcer.held.get(`${ip} ${CART}`)!.until!;
    await waitFor("b adopts cart's ban", () => heldUntil(b, ip) === cart, 3000);
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    const shop = host.enforcer.held.get(`${ip} ${SHOP}`)!.until!;
    await waitFor("b adopts shop's ban", () => heldUntil(b, ip) === shop, 3000);
    let unbans = b.share.stats().unbansIn;
    expect(await host.daemon.unban(ip, { container: 'shop' })).toBe(1);
    await unbansHeard(b, unbans);
    // cart's ban, which the group still stores, is what b holds now.
    expect(Object.keys(await stored(group)).sort()).toEqual([ip, `${ip} ${CART}`]);
    expect(heldUntil(b, ip)).toBe(cart);
    expect(await viewsOf(b, [ip])).toEqual([]);
    unbans = b.share.stats().unbansIn;
    expect(await host.daemon.unban(ip, { container: 'cart' })).toBe(1);
    await unbansHeard(b, unbans);
    // c's, the last the group stores.
    expect(Object.keys(await stored(group))).toEqual([ip]);
    expect(heldUntil(b, ip)).toBe(c.enforcer.held.get(ip)!.until);
    expect(b.daemon.why(ip).active.length).toBe(1);
    expect(await viewsOf(b, [ip])).toEqual([]);
    // The host-mode replica's unban without a container (host-wide) lifts every ban of it everywhere.
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    await b.daemon.ban(ip, { forMs: HOUR });
    await waitFor('b adopts it again', () => (heldUntil(b, ip) ?? 0) > Date.now() + 2.5 * HOUR, 3000);
    unbans = b.share.stats().unbansIn;
    await host.daemon.unban(ip);
    await unbansHeard(b, unbans);
    await quiet([c]);
    expect(await stored(group)).toEqual({});
    expect(b.enforcer.held.has(ip)).toBe(false);
    expect(c.enforcer.held.has(ip)).toBe(false);
    expect(host.enforcer.held.size).toBe(0);
    // And so does an in-container replica's `unban` (it sends the container's unban too).
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    await b.daemon.ban(ip, { forMs: HOUR });
    await waitFor('c adopts it', () => (heldUntil(c, ip) ?? 0) > Date.now() + 2.5 * HOUR, 3000);
    await waitFor('b adopts it', () => (heldUntil(b, ip) ?? 0) > Date.now() + 2.5 * HOUR, 3000);
    unbans = b.share.stats().unbansIn;
    await c.daemon.unban(ip);
    await unbansHeard(b, unbans, 2);
    await waitFor('the host lifts it', () => host.enforcer.held.size === 0, 3000);
    expect(await stored(group)).toEqual({});
    expect(b.enforcer.held.has(ip)).toBe(false);
    expect(b.daemon.why(ip).active).toEqual([]);
  }, 25_000);

  it('after a restart the adopted ban still knows its container (state file): the unban for it leaves the own ban in force', async () => {
    const group = 'mixed4';
    const ip = '198.18.74.4';
    const { host, b } = await setUp(group);
    await b.daemon.ban(ip, { forMs: HOUR });
    const own = heldUntil(b, ip);
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    await waitFor("b adopts the host's longer ban", () => (heldUntil(b, ip) ?? 0) > Date.now() + 2 * HOUR, 3000);
    const adopted = heldUntil(b, ip);
    await stopAgent(b);
    await restartAgent(b, group);
    await quiet([b]);
    expect(heldUntil(b, ip)).toBe(adopted);
    const unbans = b.share.stats().unbansIn;
    expect(await host.daemon.unban(ip, { container: 'shop' })).toBe(1);
    await unbansHeard(b, unbans);
    expect(heldUntil(b, ip)).toBe(own);
    expect(b.daemon.why(ip).active.length).toBe(1);
    expect(await viewsOf(b, [ip])).toEqual([]);
  }, 20_000);

  it('an unban for one container made while the in-container replica was down: at its restart it holds its own ban, not the lifted one', async () => {
    const group = 'mixed5';
    const ip = '198.18.74.5';
    const { host, b } = await setUp(group);
    await b.daemon.ban(ip, { forMs: HOUR });
    const own = heldUntil(b, ip);
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    await waitFor("b adopts the host's longer ban", () => (heldUntil(b, ip) ?? 0) > Date.now() + 2 * HOUR, 3000);
    await stopAgent(b);
    expect(await host.daemon.unban(ip, { container: 'shop' })).toBe(1);
    await restartAgent(b, group);
    await waitFor('b caught up', () => b.share.stats().connected, 3000);
    await waitFor('b holds its own ban', () => heldUntil(b, ip) === own, 3000).catch(() => undefined);
    await quiet([b]);
    expect(heldUntil(b, ip)).toBe(own);
    expect(b.daemon.why(ip).active.length).toBe(1);
    expect(await viewsOf(b, [ip])).toEqual([]);
  }, 20_000);

  // A guard for h41's rule (an own ban older than the adopted one is now kept under one made for a
  // container): passes on 3b79846 too. Not asserted: that the container's ban is never lifted
  // meanwhile. The host-wide unban the restored-ban check sends for b's own ban lifts every ban of the
  // address (as every host-wide unban does), and the catch-up adopts shop's again a moment later; on
  // 3b79846 the same happened, shop's ban being checked under the host-wide field (see the report).
  it("the own ban under a container's ban, lifted in the group while the in-container replica was down: after its restart it holds the container's ban only", async () => {
    const group = 'mixed7';
    const ip = '198.18.74.7';
    const { host, b } = await setUp(group);
    await b.daemon.ban(ip, { forMs: HOUR });
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    await waitFor("b adopts the host's longer ban", () => (heldUntil(b, ip) ?? 0) > Date.now() + 2 * HOUR, 3000);
    const adopted = heldUntil(b, ip);
    await stopAgent(b);
    // A replica that knows nothing of shop's ban lifts the address's host-wide field only (b's own ban).
    const r = await startReplica(`${group}-r`, { url: g.redis.url(), group });
    g.replicas.push(r);
    expect(await r.stage.publishUnban({ ip, family: 4 })).toBe('lifted');
    expect(Object.keys(await stored(group))).toEqual([`${ip} ${SHOP}`]);
    await restartAgent(b, group);
    await waitFor('b caught up', () => b.share.stats().connected, 3000);
    await waitFor('b holds shop\'s ban', () => heldUntil(b, ip) === adopted && bookOf(b).active(Date.now())[0]?.under === undefined, 3000).catch(() => undefined);
    await quiet([b]);
    expect(heldUntil(b, ip)).toBe(adopted);
    expect(bookOf(b).active(Date.now()).map((x) => [x.from === undefined ? 'own' : 'adopted', x.groupScope, x.under])).toEqual([['adopted', SHOP, undefined]]);
    expect(await viewsOf(b, [ip])).toEqual([]);
  }, 20_000);

  it("reverse: the host-mode replica holds an in-container replica's host-wide ban apart from its own per-container ban; a host-wide unban lifts only the host-wide one there", async () => {
    const group = 'mixed6';
    const ip = '198.18.74.6';
    const { host } = await setUp(group);
    // A plain replica (in-container, knowing nothing of the host's containers) bans and unbans the
    // address host-wide.
    const r = await startReplica(`${group}-r`, { url: g.redis.url(), group });
    g.replicas.push(r);
    await host.daemon.ban(ip, { forMs: 3 * HOUR, container: 'shop' });
    const shop = host.enforcer.held.get(`${ip} ${SHOP}`)!.until;
    r.stage.publishBan({ ip, family: 4, rule: 'manual', at: Date.now(), until: Date.now() + HOUR, origin: r.name });
    await waitFor('the host holds it host-wide', () => host.enforcer.held.has(ip), 3000);
    expect(host.enforcer.held.get(`${ip} ${SHOP}`)!.until).toBe(shop);
    const unbans = host.share.stats().unbansIn;
    expect(await r.stage.publishUnban({ ip, family: 4 })).toBe('lifted');
    await waitFor('the host hears it', () => host.share.stats().unbansIn > unbans, 3000);
    await waitFor('the host lifts its host-wide ban', () => !host.enforcer.held.has(ip), 3000);
    // Its own ban for shop stands, and the group still stores it.
    expect(host.enforcer.held.get(`${ip} ${SHOP}`)?.until).toBe(shop);
    expect(Object.keys(await stored(group))).toEqual([`${ip} ${SHOP}`]);
    expect(host.daemon.why(ip).active.map((x) => x.container)).toEqual(['shop']);
  }, 20_000);
});
