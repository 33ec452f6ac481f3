/**
 * Issue 11, unban races across an outage: an unban made at A while it was cut off from Redis, and a
 * ban of the same address made at B 2.5 s later (a fresh offense). Redis restarts empty; A replays its
 * unban while B is subscribed but has not yet stored its ban again. The scripts already say a ban made
 * after an unban stands (UNBAN_SCRIPT: "an unban replayed from an outbox must not lift a newer ban"),
 * but the replayed unban found nothing stored and was published, and B's stage handed it on
 * (RedisShare.onMessage compared it with no ban it held) and forgot the ban in `own`, so it was never
 * stored again: the newer ban was lost at B and in the group (found by an audit; fixed: an unban
 * received lifts only a ban made before it, give or take the clocks' skew).
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startProxy, startRedisServer, type RedisServer } from '../share/redis-server.js';
import { removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from '../share/replica.js';
import { startGatedProxy } from './gated-proxy.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('share: unban races', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient> | undefined;
  const replicas: Replica[] = [];
  const closers: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    for (const p of closers) await p.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    removeReplicaDirs();
  });

  it('does not lift a ban made after it (beyond the clocks\' skew) at the replica that made it, and the group keeps that ban', async () => {
    const g = 'old-unban';
    const pa = await startProxy(redis.port);
    const gb = await startGatedProxy(redis.port);
    closers.push(pa, gb);
    const a = await startReplica('a', { url: `redis://127.0.0.1:${pa.port}`, group: g });
    const b = await startReplica('b', { url: `redis://127.0.0.1:${gb.port}`, group: g });
    replicas.push(a, b);
    pa.cut();
    await waitFor('A offline', () => !a.stage.connected);
    expect(await a.stage.publishUnban({ ip: '198.18.9.1', family: 4 })).toBe('queued');
    await sleep(2_500);
    const ban: SharedBan = { ip: '198.18.9.1', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'b' };
    b.stage.publishBan(ban);
    await sleep(100);
    // Redis restarts empty; B reconnects and subscribes, its catch-up (script calls) held back.
    gb.hold();
    await redis.kill();
    await redis.start();
    await waitFor('B connected', () => b.stage.connected, 5_000);
    pa.restore();
    await waitFor('A back, its outbox replayed', () => a.stage.connected && a.stage.stats().outboxDepth === 0, 5_000);
    await sleep(200);
    gb.release();
    await sleep(1_000);
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
    expect(b.unbans.filter((u) => u.ip === '198.18.9.1')).toEqual([]);
    expect(await admin.hExists('banhammer:{old-unban}:bans', '198.18.9.1')).toBeTruthy();
    expect(a.bans.map((x) => x.ban.ip)).toContain('198.18.9.1');
  }, 30_000);
});
