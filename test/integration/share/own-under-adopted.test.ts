/**
 * A replica's own ban that its ban book replaced with a longer one adopted from the group (found by
 * h35's convergence test, seed 41). Replica a bans X for an hour; an older, permanent ban of X made
 * by b reaches the group after it (stored over a's, which it covers) and a's book adopts it in place
 * of its own. Then an unban of X dated between the two (replica c's, made while c was cut off, sent
 * from its outbox when it comes back) lifts b's older ban: the group must keep a's newer ban, at its
 * own length, everywhere.
 * Before the fix: with a restart of a in between, a's state file listed X only as adopted from b, so
 * a lifted X and nothing stored a's ban again (X unbanned in the whole group); without a restart, a
 * stored its ban again but kept b's lifted permanent ban in its own book and kernel (a banned X for
 * good, the others for an hour).
 * a is a live agent (the real Daemon wiring: ban book, group link, state file); b and c are share
 * stages; c reaches Redis through a proxy that can be cut.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { hasRedisServer } from './redis-server.js';
import { useRedisGroup } from './redis-group.js';
import { sleep, waitFor } from './replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
/** Beyond the 2 s the group allows between clocks: an unban and a ban this far apart are ordered. */
const APART = 2_600;

interface Agent {
  daemon: Daemon;
  enforcer: RecordingEnforcer;
  replicaId: string;
}

describe.skipIf(!hasRedisServer)(`an own ban under a longer adopted one survives an unban made between the two${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();
  const dirs: string[] = [];
  const running: Daemon[] = [];

  function agent(name: string, group: string, store: MemoryStore): Agent {
    const dir = mkdtempSync(join(tmpdir(), 'bh-under-'));
    dirs.push(dir);
    const url = g.redis.url();
    const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: group, BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
    const share = createRedisShare({ url, group, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
    const enforcer = new RecordingEnforcer();
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store, createSource, hostAddresses: [], share });
    running.push(daemon);
    return { daemon, enforcer, replicaId: share.replicaId };
  }

  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
  });
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /**
   * c's unban of `ip` waits in its outbox; APART later a bans `ip` for an hour; then b's permanent
   * ban of it, dated before the unban, reaches the group and a's book adopts it over its own.
   */
  async function setUp(group: string, ip: string): Promise<{ a: Agent; store: MemoryStore; releaseUnban: () => Promise<void>; ownUntil: number }> {
    const proxy = await g.proxy();
    const c = await g.replica(`${group}-c`, { url: `redis://127.0.0.1:${proxy.port}`, group });
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    proxy.cut();
    await waitFor('c offline', () => !c.stage.stats().connected, 3000);
    const unbannedAt = Date.now();
    expect(await c.stage.publishUnban({ ip, family: 4 })).toBe('queued');
    await sleep(APART);
    const store = new MemoryStore();
    const a = agent(`${group}-a`, group, store);
    await a.daemon.start();
    await a.daemon.ban(ip, { forMs: HOUR });
    expect(a.daemon.why(ip).active).toHaveLength(1);
    await waitFor("a's kernel holds its ban", () => a.enforcer.held.has(ip), 3000);
    const ownUntil = a.enforcer.held.get(ip)!.until!;
    expect(ownUntil).toBeGreaterThan(Date.now() + HOUR - 10_000);
    await waitFor('a ban stored', async () => Number(await g.admin.hExists(`banhammer:{${group}}:bans`, ip)) === 1, 3000);
    b.stage.publishBan({ ip, family: 4, rule: 'manual', at: unbannedAt - APART, until: null, origin: b.name });
    await waitFor("b's permanent ban adopted at a", () => a.enforcer.held.get(ip)?.until === null, 3000);
    const releaseUnban = async (): Promise<void> => {
      proxy.restore();
      await waitFor("c's unban sent from its outbox", () => c.stage.stats().connected && c.stage.stats().outboxDepth === 0, 5000);
    };
    return { a, store, releaseUnban, ownUntil };
  }

  /** a holds its own hour-long ban of `ip`, in its book and its kernel, and the group stores it. */
  async function expectOwnBanStands(group: string, a: Agent, ip: string, ownUntil: number): Promise<void> {
    const stored = async (): Promise<unknown> => JSON.parse((await g.admin.hGet(`banhammer:{${group}}:bans`, ip)) ?? 'null');
    await waitFor("the group stores a's ban of it", async () => ((await stored()) as { origin?: string } | null)?.origin === a.replicaId, 5000).catch(() => undefined);
    expect(await stored()).toMatchObject({ t: 'ban', ip, origin: a.replicaId });
    await waitFor("a's kernel holds its own hour-long ban", () => a.enforcer.held.get(ip)?.until != null, 3000);
    expect(Math.abs(a.enforcer.held.get(ip)!.until! - ownUntil)).toBeLessThan(1_000);
    const active = a.daemon.why(ip).active;
    expect(active).toHaveLength(1);
    expect(active[0]!.from ?? null).toBeNull();
    expect(Math.abs(Date.parse(String(active[0]!.until)) - ownUntil)).toBeLessThan(1_000);
    // A replica that joins now adopts the hour-long ban, not the permanent one the unban lifted.
    const late = await g.replica(`${group}-late`, { url: g.redis.url(), group });
    await waitFor('the late joiner adopts it', () => late.bans.some((x) => x.ban.ip === ip), 3000);
    const heard = late.bans.filter((x) => x.ban.ip === ip).map((x) => x.ban);
    expect(heard.at(-1)!.until).not.toBeNull();
  }

  it('after a restart of the replica, its state file keeps its own ban under the adopted one', async () => {
    const ip = '198.18.61.1';
    const { a, store, releaseUnban, ownUntil } = await setUp('under1', ip);
    await a.daemon.stop();
    running.splice(running.indexOf(a.daemon), 1);
    const a2 = agent('under1-a', 'under1', store);
    await a2.daemon.start();
    expect(a2.enforcer.held.get(ip)?.until).toBeNull();
    await releaseUnban();
    await expectOwnBanStands('under1', a2, ip, ownUntil);
    await sleep(300);
    expect(a2.enforcer.held.has(ip)).toBe(true);
  }, 20_000);

  it('without a restart, the replica goes back to its own ban: the group lifted the permanent one', async () => {
    const ip = '198.18.61.2';
    const { a, releaseUnban, ownUntil } = await setUp('under2', ip);
    await releaseUnban();
    await expectOwnBanStands('under2', a, ip, ownUntil);
  }, 20_000);

  it('an unban made after both lifts the address everywhere, the own ban under the adopted one too', async () => {
    const ip = '198.18.61.3';
    const { a, store } = await setUp('under3', ip);
    const b = g.replicas.find((r) => r.name === 'under3-b')!;
    await sleep(APART);
    expect(await b.stage.publishUnban({ ip, family: 4 })).toBe('lifted');
    await waitFor('lifted at a', () => !a.enforcer.held.has(ip), 3000);
    expect(a.daemon.why(ip).active).toEqual([]);
    // And it stays lifted across a restart (nothing of it left in the state file).
    await a.daemon.stop();
    running.splice(running.indexOf(a.daemon), 1);
    const a2 = agent('under3-a', 'under3', store);
    await a2.daemon.start();
    await sleep(500);
    expect(a2.enforcer.held.has(ip)).toBe(false);
    expect(Number(await g.admin.hExists('banhammer:{under3}:bans', ip))).toBe(0);
  }, 20_000);
});
