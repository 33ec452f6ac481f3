/**
 * Review H41 of 2ad8f45 (Ban.under, BanBook.liftAdopted): catch-up step 4, the path where a ban the
 * group stored is gone from its hash while this replica holds an own ban of the address.
 *
 * Replica a bans X for an hour; b's older, permanent ban of X reaches the group after it (stored
 * over a's, which it covers) and a's book adopts it, keeping a's own ban under it. a is then cut off
 * from Redis, and b's permanent ban leaves the hash while a cannot hear it: c's unban dated between
 * the two (made while c was cut off, sent from its outbox), or Redis losing the field. When a comes
 * back, its catch-up must lift b's ban and leave a's own hour-long ban in force, in its book and
 * kernel, as the group (step 5 stores a's ban again) and every other replica hold it (or, for a
 * field Redis lost, hold whatever the group stores again).
 * Before the fix, step 4 told the book the unban happened "now": liftAdopted lifted b's ban and
 * dropped the own ban under it (made before "now"), while step 5 stored that own ban in the group
 * again: X banned for an hour everywhere but on the replica that banned it.
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
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { sleep, waitFor } from '../share/replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const APART = 2_600;

describe.skipIf(!hasRedisServer)(`review h41: catch-up with an own ban under an adopted one gone from the group${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();
  const dirs: string[] = [];
  const running: Daemon[] = [];

  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
  });
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function setUp(group: string, ip: string, withUnban: boolean) {
    const cProxy = await g.proxy();
    const c = await g.replica(`${group}-c`, { url: `redis://127.0.0.1:${cProxy.port}`, group });
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    cProxy.cut();
    await waitFor('c offline', () => !c.stage.stats().connected, 3000);
    const unbannedAt = Date.now();
    if (withUnban) expect(await c.stage.publishUnban({ ip, family: 4 })).toBe('queued');
    await sleep(APART);
    const aProxy = await g.proxy();
    const dir = mkdtempSync(join(tmpdir(), 'bh-h41-'));
    dirs.push(dir);
    const url = `redis://127.0.0.1:${aProxy.port}`;
    const config = loadConfig({ env: { BANHAMMER_INSTANCE: `${group}-a`, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: group, BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
    const share = createRedisShare({ url, group, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
    const enforcer = new RecordingEnforcer();
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], share });
    running.push(daemon);
    await daemon.start();
    await daemon.ban(ip, { forMs: HOUR });
    await waitFor("a's kernel holds its ban", () => enforcer.held.has(ip), 3000);
    const ownUntil = enforcer.held.get(ip)!.until!;
    await waitFor('a ban stored', async () => Number(await g.admin.hExists(`banhammer:{${group}}:bans`, ip)) === 1, 3000);
    b.stage.publishBan({ ip, family: 4, rule: 'manual', at: unbannedAt - APART, until: null, origin: b.name });
    await waitFor("b's permanent ban adopted at a", () => enforcer.held.get(ip)?.until === null, 3000);
    // a away: it hears nothing of what follows.
    aProxy.cut();
    await waitFor('a offline', () => !share.stats().connected, 3000);
    return { daemon, enforcer, share, ownUntil, aProxy, cProxy, c, replicaId: share.replicaId };
  }

  async function expectOwnBanStands(group: string, a: { daemon: Daemon; enforcer: RecordingEnforcer; replicaId: string }, ip: string, ownUntil: number): Promise<void> {
    const stored = async (): Promise<{ origin?: string } | null> => JSON.parse((await g.admin.hGet(`banhammer:{${group}}:bans`, ip)) ?? 'null');
    await waitFor("the group stores a's ban again", async () => (await stored())?.origin === a.replicaId, 5000);
    // (Whatever the catch-up did to the kernel is done once the group stores the ban again.)
    await sleep(300);
    expect(a.enforcer.held.has(ip), "a's kernel holds it").toBe(true);
    expect(Math.abs(a.enforcer.held.get(ip)!.until! - ownUntil)).toBeLessThan(1_000);
    const active = a.daemon.why(ip).active;
    expect(active).toHaveLength(1);
    expect(active[0]!.from ?? null).toBeNull();
  }

  it("c's unban, dated between b's ban and a's, lifts b's ban while a is away: a's own ban stands at a after its catch-up", async () => {
    const ip = '198.18.141.1';
    const a = await setUp('h41s4a', ip, true);
    a.cProxy.restore();
    await waitFor("c's unban sent from its outbox", () => a.c.stage.stats().connected && a.c.stage.stats().outboxDepth === 0, 5000);
    expect(Number(await g.admin.hExists('banhammer:{h41s4a}:bans', ip))).toBe(0);
    a.aProxy.restore();
    await expectOwnBanStands('h41s4a', a, ip, a.ownUntil);
  }, 20_000);

  it("Redis loses b's stored ban while a is away: after a's catch-up, a holds what the group stores", async () => {
    // (Whether the group then stores a's ban again or b's lost one is the share stage's choice;
    // either way a must hold the same, never nothing.)
    const ip = '198.18.141.2';
    const a = await setUp('h41s4b', ip, false);
    expect(Number(await g.admin.hDel('banhammer:{h41s4b}:bans', ip))).toBe(1);
    a.aProxy.restore();
    const stored = async (): Promise<{ origin?: string; until?: number | null } | null> => JSON.parse((await g.admin.hGet('banhammer:{h41s4b}:bans', ip)) ?? 'null');
    await waitFor('the group stores a ban of it again', async () => (await stored()) !== null, 5000);
    await sleep(500);
    const s = (await stored())!;
    expect(a.enforcer.held.has(ip), "a's kernel holds it").toBe(true);
    if (s.origin === a.replicaId) {
      expect(Math.abs(a.enforcer.held.get(ip)!.until! - a.ownUntil)).toBeLessThan(1_000);
      expect(a.daemon.why(ip).active.map((b) => b.from ?? null)).toEqual([null]);
    } else {
      expect(s.until).toBeNull();
      expect(a.enforcer.held.get(ip)!.until).toBeNull();
    }
  }, 20_000);

  it("an unban made after a's own ban, while a is away, lifts both at a after its catch-up", async () => {
    const ip = '198.18.141.3';
    const a = await setUp('h41s4c', ip, false);
    a.cProxy.restore();
    await waitFor('c connected', () => a.c.stage.stats().connected, 5000);
    await sleep(APART);
    expect(await a.c.stage.publishUnban({ ip, family: 4 })).toBe('lifted');
    a.aProxy.restore();
    await waitFor('a connected', () => a.share.stats().connected, 5000);
    await waitFor('lifted at a', () => !a.enforcer.held.has(ip), 5000);
    await sleep(500);
    expect(a.enforcer.held.has(ip)).toBe(false);
    expect(a.daemon.why(ip).active).toEqual([]);
    expect(Number(await g.admin.hExists('banhammer:{h41s4c}:bans', ip))).toBe(0);
  }, 20_000);
});
