/**
 * Issue 11: "a group holds at most a configurable number of shared bans (default 100,000)".
 * Variants found by an audit (fixed): the cap counted what is not a ban in force (expired bans, junk
 * values), so a long-lived group, or anyone holding its password, stopped new bans from being shared;
 * and the cap was not configurable (BANHAMMER_SHARE_MAX_BANS).
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../../src/config/schema.js';
import type { SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../share/redis-server.js';
import { removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from '../share/replica.js';

const HOUR = 3_600_000;

describe('share: the group cap on shared bans is a setting', () => {
  it('an operator can set the most shared bans a group holds (env and YAML), default 100,000', () => {
    const share = Object.values(SETTINGS).filter((s) => /^BANHAMMER_(SHARE|REDIS)_/.test(String((s as { env?: string }).env)));
    const cap = share.find((s) => /MAX/.test(String((s as { env?: string }).env)) && /BAN/.test(String((s as { env?: string }).env)));
    expect(cap, `share settings: ${share.map((s) => (s as { env?: string }).env).join(', ')}`).toBeDefined();
  });
});

describe.skipIf(!hasRedisServer)('share: what counts against maxBans while connected', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const replica = async (...a: Parameters<typeof startReplica>): Promise<Replica> => {
    const r = await startReplica(...a);
    replicas.push(r);
    return r;
  };
  beforeAll(async () => {
    redis = await startRedisServer();
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    removeReplicaDirs();
  });
  const ban = (ip: string, extra: Partial<SharedBan> = {}): SharedBan => ({ ip, family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'x', ...extra });

  it('expired bans left in the hash do not count: after maxBans distinct bans have ended, a new ban is still shared', async () => {
    // Bans expire at each replica by its own clock and nothing removes them from the hash while the
    // connection stays up, so BAN_SCRIPT's HLEN (lua.ts) reaches maxBans after maxBans distinct
    // addresses were ever banned, and every later ban is refused as "full".
    const g = 'expired-cap';
    const [a, b] = [await replica('a', { url: redis.url(), group: g, maxBans: 3 }), await replica('b', { url: redis.url(), group: g, maxBans: 3 })];
    for (let i = 1; i <= 3; i++) a.stage.publishBan(ban(`198.18.1.${i}`, { until: Date.now() + 200 }));
    await waitFor('3 short bans at B', () => b.bans.length === 3);
    await sleep(400); // all three ended
    a.stage.publishBan(ban('198.18.1.9'));
    // Polled, not a fixed 500 ms (a loaded machine took longer): refused, it never arrives.
    await waitFor('the new ban at B', () => b.bans.some((x) => x.ban.ip === '198.18.1.9'), 5_000).catch(() => undefined);
    expect(a.stage.stats().bansRefusedFull).toBe(0);
    expect(b.bans.map((x) => x.ban.ip)).toContain('198.18.1.9');
  });

  it('junk values planted in the hash do not count: they never stop the group from sharing a new ban', async () => {
    const g = 'junk-cap';
    const [a, b] = [await replica('a', { url: redis.url(), group: g, maxBans: 3 }), await replica('b', { url: redis.url(), group: g, maxBans: 3 })];
    // Planted after both replicas connected (their catch-up scan would have pruned them).
    await admin.hSet('banhammer:{junk-cap}:bans', { j1: 'x', j2: '{"v":1}', '198.18.2.1': 'not json' });
    a.stage.publishBan(ban('198.18.2.9'));
    await waitFor('the new ban at B', () => b.bans.some((x) => x.ban.ip === '198.18.2.9'), 5_000).catch(() => undefined);
    expect(a.stage.stats().bansRefusedFull).toBe(0);
    expect(b.bans.map((x) => x.ban.ip)).toContain('198.18.2.9');
  });
});
