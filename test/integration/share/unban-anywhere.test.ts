/**
 * An operator's unban at any replica lifts the group's ban, also at a replica that does not hold it
 * (review, suspicion 3): one that refused to adopt it (its enforcer holds no networks, it allowlists
 * the address), or whose clock ended it earlier. The unban is published, the group's stored ban is
 * removed (a replica started later does not adopt it), and the answer (what `banhammer unban`
 * prints) says a ban was lifted, never "not banned" while the group still bans the address. With
 * Redis unreachable the answer says the unban waits for it; it is applied when Redis returns.
 * Live agents (the real Daemon wiring) as a restricted ACL user, as in agents.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { main } from '../../../src/cli.js';
import { startControlServer } from '../../../src/control/server.js';
import { formatWhy, whyKnowsAnything } from '../../../src/control/format-why.js';
import { createRedisShare, shareAclLine } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { hasRedisServer, startProxy, startRedisServer, type CuttableProxy, type RedisServer } from './redis-server.js';
import { sleep, waitFor } from './replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const BANS = 'banhammer:{shop}:bans';
const MIN = 60_000;

interface Agent { daemon: Daemon; enforcer: RecordingEnforcer; dir: string }
const dirs: string[] = [];
const running: Daemon[] = [];

function agent(name: string, url: string, opts: { cidr?: boolean; env?: Record<string, string>; clock?: Clock } = {}): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'bh-unban-'));
  dirs.push(dir);
  const clock = opts.clock ?? systemClock;
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'shop', BANHAMMER_STATE_DIR: dir, ...opts.env }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'shop', replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock, log: silent });
  const enforcer = new RecordingEnforcer();
  if (opts.cidr === false) enforcer.cidr = false;
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const daemon = new Daemon({ config, clock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], share });
  running.push(daemon);
  return { daemon, enforcer, dir };
}

/** The clock of a host running `ms` ahead. */
const ahead = (ms: number): Clock => ({ ...systemClock, now: () => Date.now() + ms });

describe.skipIf(!hasRedisServer)(`an unban at any replica lifts the group's ban${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  let redis: RedisServer;
  let url: string;
  let admin: ReturnType<typeof createClient>;
  const proxies: CuttableProxy[] = [];
  beforeAll(async () => {
    redis = await startRedisServer({ aclLines: [shareAclLine('shop', 'shop-secret')] });
    url = redis.url('shop', 'shop-secret');
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
    for (const p of proxies.splice(0)) await p.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    await admin.flushAll();
  });
  afterAll(async () => {
    await admin?.close().catch(() => undefined);
    await redis?.stop();
  });

  /** Replica a bans `net` and the group stores it; replica b, whose enforcer holds no networks, refuses it. */
  async function networkBannedByA(net: string): Promise<{ a: Agent; b: Agent }> {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url, { cidr: false });
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban(net, { forMs: 3600_000 });
    await waitFor('the stored ban', async () => (await admin.hExists(BANS, net)) === 1, 2000);
    await sleep(100);
    return { a, b };
  }

  it('at a replica whose enforcer could not adopt the network ban: lifted everywhere, the stored ban removed, the answer counts it', async () => {
    const net = '198.18.64.0/24';
    const { a, b } = await networkBannedByA(net);
    expect(b.enforcer.held.has(net)).toBe(false);
    expect(await b.daemon.unban(net)).toBe(1);
    await waitFor('lifted at a', () => !a.enforcer.held.has(net), 2000);
    expect(await admin.hExists(BANS, net)).toBe(0);
    // A replica starting now does not adopt it from the group's hash.
    const c = agent('replica-c', url);
    await c.daemon.start();
    await sleep(200);
    expect(c.enforcer.held.has(net)).toBe(false);
    // Banned nowhere now: the answer is "not banned" again.
    expect(await b.daemon.unban(net)).toBe(0);
  });

  it('at a replica that allowlists the address: `banhammer unban` there says it lifted a ban, and it is lifted at the replica that made it', async () => {
    const ip = '198.18.70.7';
    const a = agent('replica-a', url);
    const b = agent('replica-b', url, { env: { BANHAMMER_IGNOREIP: '198.18.70.0/28' } });
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban(ip, { forMs: 3600_000 });
    await waitFor('the stored ban', async () => (await admin.hExists(BANS, ip)) === 1, 2000);
    await sleep(100);
    expect(b.enforcer.held.has(ip)).toBe(false);
    const socketPath = join(b.dir, 'control.sock');
    const server = await startControlServer({ socketPath, handler: b.daemon });
    try {
      const out: string[] = [];
      const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void out.push(s), env: { BANHAMMER_SOCKET: socketPath }, hostname: 'unit' };
      expect(await main(['unban', ip], io)).toBe(0);
      expect(out.join('')).toBe(`lifted 1 ban of ${ip}\n`);
      await waitFor('lifted at a', () => !a.enforcer.held.has(ip), 2000);
      expect(await admin.hExists(BANS, ip)).toBe(0);
      out.length = 0;
      expect(await main(['unban', ip], io)).toBe(1);
      expect(out.join('')).toBe(`${ip} was not banned\n`);
    } finally {
      await server.close();
    }
  });

  it('at a replica whose clock is 20 minutes ahead: it holds the 10-minute ban (the group\'s clock), and its unban lifts it at the replica that made it', async () => {
    const ip = '2001:db8:70::8';
    const a = agent('replica-a', url);
    const b = agent('replica-b', url, { clock: ahead(20 * MIN) });
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban(ip, { forMs: 10 * MIN });
    await waitFor('the stored ban', async () => (await admin.hExists(BANS, ip)) === 1, 2000);
    // Before the group's clock (Redis TIME) its clock ended the ban at once: held nowhere but at a.
    await waitFor('the ban at b', () => b.enforcer.held.has(ip), 2000);
    expect(await b.daemon.unban(ip)).toBe(1);
    await waitFor('lifted at a', () => !a.enforcer.held.has(ip), 2000);
    expect(await admin.hExists(BANS, ip)).toBe(0);
  });

  it('with Redis unreachable from that replica: the answer says the unban waits for Redis (not "not banned"); it lifts the ban when Redis returns', async () => {
    const net = '198.18.66.0/24';
    const p = await startProxy(redis.port);
    proxies.push(p);
    const a = agent('replica-a', url);
    const b = agent('replica-b', `redis://shop:shop-secret@127.0.0.1:${p.port}`, { cidr: false });
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban(net, { forMs: 3600_000 });
    await waitFor('the stored ban', async () => (await admin.hExists(BANS, net)) === 1, 2000);
    p.cut();
    await waitFor('b offline', () => b.daemon.status().health!.shareConnected === false, 5000);
    await expect(b.daemon.unban(net)).rejects.toThrow(/not banned here.*Redis is unreachable/);
    expect(a.enforcer.held.has(net)).toBe(true);
    p.restore();
    await waitFor('lifted at a once Redis is reachable again', () => !a.enforcer.held.has(net), 5000);
    expect(await admin.hExists(BANS, net)).toBe(0);
  });

  it('`unban --all` at a replica also lifts the group bans it never adopted', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url, { cidr: false, env: { BANHAMMER_IGNOREIP: '198.18.71.0/28' } });
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban('198.18.67.0/24', { forMs: 3600_000 });
    await a.daemon.ban('198.18.71.1', { forMs: 3600_000 });
    await b.daemon.ban('198.18.72.1', { forMs: 3600_000 });
    await waitFor('the stored bans', async () => (await admin.hLen(BANS)) === 3, 2000);
    await waitFor('b\'s ban at a', () => a.enforcer.held.has('198.18.72.1'), 2000);
    expect(await b.daemon.unbanAll()).toBe(3);
    await waitFor('all lifted at a', () => a.enforcer.held.size === 0, 2000);
    expect(await admin.hLen(BANS)).toBe(0);
  });

  it('`banhammer why` at a replica that did not adopt the group\'s ban says the group bans it (not "not banned")', async () => {
    const net = '198.18.68.0/24';
    const { a, b } = await networkBannedByA(net);
    const r = await b.daemon.why(net);
    expect(r.active).toEqual([]);
    expect(r.group).toMatchObject([{ ip: net, from: 'replica-a', rule: 'manual' }]);
    expect(whyKnowsAnything(r)).toBe(true);
    const text = formatWhy(r);
    expect(text).not.toMatch(/not banned/);
    expect(text).toMatch(/replica-a/);
    // Lifted (anywhere): no longer reported.
    expect(await a.daemon.unban(net)).toBe(1);
    await waitFor('the unban at b', async () => ((await b.daemon.why(net)).group ?? []).length === 0, 2000);
  });
});
