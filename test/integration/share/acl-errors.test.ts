/**
 * A replica whose Redis user lacks a command its scripts call (a wrong ACL, an ACL line from an older
 * README), or a Redis that refuses a command for a while (MISCONF after a failed save, OOM, an ACL
 * being edited) while the connection stays up (review: helper).
 *
 * - A command refused inside a script is an error, not a "key of the wrong type": a script that
 *   deleted the key it could not read wiped the group's whole ban hash (and its tombstones) at every
 *   ban and every connection, and every other replica then lifted the group's bans on its next
 *   reconnection (absent from a complete scan of the same data set).
 * - What could not be done while connected is done once Redis accepts it again, without waiting for a
 *   reconnection that may never come: a ban that went to the outbox, a catch-up that failed.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareAclLine, type SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from './replica.js';

const HOUR = 3_600_000;

/** The ACL line of group `g`'s user `user`, without the commands in `without`. */
const aclWithout = (g: string, user: string, without: string[]): string => {
  let line = shareAclLine(g, 'pw').replace(`user ${g} `, `user ${user} `);
  for (const c of without) line = line.replace(` +${c} `, ' ').replace(new RegExp(` \\+${c}$`), '');
  return line;
};

describe.skipIf(!hasRedisServer)('share stage: commands refused by Redis while connected', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const replica = async (...a: Parameters<typeof startReplica>): Promise<Replica> => {
    const r = await startReplica(...a);
    replicas.push(r);
    return r;
  };
  const missing = ['hget', 'hscan', 'zscore'] as const;

  beforeAll(async () => {
    redis = await startRedisServer({
      aclLines: [
        shareAclLine('acl', 'pw'),
        ...missing.map((c) => aclWithout('acl', `no-${c}`, [c])),
        aclWithout('late', 'late', ['set']),
        shareAclLine('refused', 'pw'),
      ],
    });
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

  const ban = (ip: string, extra: Partial<SharedBan> = {}): SharedBan => ({
    ip,
    family: ip.includes(':') ? 6 : 4,
    rule: 'http-403',
    at: Date.now(),
    until: Date.now() + HOUR,
    origin: 'x',
    ...extra,
  });
  const msg = (ip: string, origin: string): string => {
    const now = Date.now();
    return JSON.stringify({ v: 1, t: 'ban', ip, family: 4, rule: 'http-403', at: now, until: now + HOUR, origin, sent: now });
  };

  it.each(missing)("a replica whose user lacks %s never deletes the group's bans or tombstones", async (cmd) => {
    const good = await replica(`good-${cmd}`, { url: redis.url('acl', 'pw'), group: 'acl' });
    good.stage.publishBan(ban('198.18.40.1'));
    await good.stage.publishUnban({ ip: '198.18.40.2', family: 4 });
    await waitFor('the ban stored', async () => (await admin.hExists('banhammer:{acl}:bans', '198.18.40.1')) === 1);
    expect(await admin.zScore('banhammer:{acl}:unbans', '198.18.40.2')).not.toBeNull();
    // Connects (a catch-up: a scan), bans and unbans: every script it runs.
    const wrong = await replica(`wrong-${cmd}`, { url: redis.url(`no-${cmd}`, 'pw'), group: 'acl' });
    wrong.stage.publishBan(ban('198.18.40.3'));
    await wrong.stage.publishUnban({ ip: '198.18.40.4', family: 4 });
    await sleep(200);
    expect(await admin.hExists('banhammer:{acl}:bans', '198.18.40.1')).toBe(1);
    expect(await admin.zScore('banhammer:{acl}:unbans', '198.18.40.2')).not.toBeNull();
    // What it could not do waits in its outbox (a ban, an unban) or is tried again (its catch-up).
    if (cmd === 'hscan') expect(wrong.logs.some((l) => /catching up with the group failed/.test(l.msg))).toBe(true);
    else expect(wrong.stage.stats().outboxDepth).toBeGreaterThan(0);
    await wrong.stage.stop();
    await good.stage.stop();
    await admin.del(['banhammer:{acl}:bans', 'banhammer:{acl}:unbans']);
  });

  it('a catch-up that failed (a command refused) is done once Redis accepts it, without a reconnection', async () => {
    // The group's epoch key is not set yet, and this user may not SET it: the first catch-up fails.
    await admin.hSet('banhammer:{late}:bans', '198.18.40.10', msg('198.18.40.10', 'other'));
    const r = await replica('late-a', { url: redis.url('late', 'pw'), group: 'late', hungAfterMs: 1_500 });
    expect(r.stage.connected).toBe(true);
    await sleep(300);
    expect(r.bans).toEqual([]);
    await admin.sendCommand(['ACL', 'SETUSER', 'late', '+set']);
    await waitFor('the stored ban delivered', () => r.bans.some((b) => b.ban.ip === '198.18.40.10'), 5_000);
  });

  it('a ban refused while connected (Redis refused the write) is stored once Redis accepts it, without a reconnection', async () => {
    const [a, b] = [await replica('refused-a', { url: redis.url('refused', 'pw'), group: 'refused', hungAfterMs: 1_500 }), await replica('refused-b', { url: redis.url('refused', 'pw'), group: 'refused' })];
    await admin.sendCommand(['ACL', 'SETUSER', 'refused', '-hset']);
    a.stage.publishBan(ban('198.18.40.20'));
    await waitFor('the ban in the outbox', () => a.stage.stats().outboxDepth === 1);
    expect(a.stage.connected).toBe(true);
    await admin.sendCommand(['ACL', 'SETUSER', 'refused', '+hset']);
    await waitFor('the ban at B', () => b.bans.some((x) => x.ban.ip === '198.18.40.20'), 5_000);
    expect(await admin.hExists('banhammer:{refused}:bans', '198.18.40.20')).toBe(1);
    expect(a.stage.stats().outboxDepth).toBe(0);
  });
});
