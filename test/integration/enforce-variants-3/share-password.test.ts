/**
 * Round 3 (H5): a replica given the wrong group password (or a user that does not exist). Issue 11:
 * Redis is never a single point of failure (the replica works alone, keeps its bans in the outbox),
 * the outage is logged once, reconnects back off; nothing of the password reaches the log. Once the
 * operator fixes the user's password on the Redis side, the replica delivers what it kept. And an ACL
 * user lacking the group's channel (`&banhammer:{group}:*`) while its connections stay up: README
 * "a command Redis refuses while the connection stays up (an ACL being edited …) fails only that
 * operation … tried again from one watchdog round": the subscription was never tried again (no
 * 'ready' comes on a connection that stays up), so the replica stayed offline, receiving nothing,
 * after the ACL was fixed.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareAclLine, type SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../share/redis-server.js';
import { removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from '../share/replica.js';

describe.skipIf(!hasRedisServer)('share: a replica with the wrong password', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    redis = await startRedisServer({ aclLines: [shareAclLine('h5', 'right-secret-h5')] });
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

  it.each([
    ['a wrong password', 'h5', 'wrong-secret-h5'],
    ['a user Redis does not know', 'nobody-h5', 'wrong-secret-h5'],
  ])('%s: start() returns, the replica works alone and says so once (no password in the log), retries sparingly, and delivers its ban once the password is right', async (_, user, pw) => {
    const good = await startReplica('good', { url: redis.url('h5', 'right-secret-h5'), group: 'h5' });
    replicas.push(good);
    const t0 = Date.now();
    const bad = await startReplica('bad', { url: redis.url(user, pw), group: 'h5', maxBackoffMs: 1000 });
    replicas.push(bad);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(bad.stage.connected).toBe(false);
    const ban: SharedBan = { ip: '198.18.77.7', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + 3_600_000, origin: 'bad' };
    bad.stage.publishBan(ban);
    const before = Number(/total_connections_received:(\d+)/.exec(String(await admin.sendCommand(['INFO', 'stats'])))?.[1]);
    await sleep(3000);
    const after = Number(/total_connections_received:(\d+)/.exec(String(await admin.sendCommand(['INFO', 'stats'])))?.[1]);
    // Two connections per attempt (commands and subscriber); backing off to 1 s: a handful in 3 s, not hundreds.
    expect(after - before).toBeLessThan(30);
    const logged = JSON.stringify(bad.logs);
    expect(logged).not.toContain(pw);
    expect(bad.logs.filter((l) => /unreachable/.test(l.msg))).toHaveLength(1);
    expect(bad.statuses.at(-1)?.connected).toBe(false);
    expect(good.bans).toHaveLength(0);
    // The operator fixes it on the Redis side: the user now has the password the replica holds.
    if (user === 'h5') await admin.sendCommand(['ACL', 'SETUSER', 'h5', `>${pw}`]);
    else await admin.sendCommand(['ACL', 'SETUSER', user, 'on', `>${pw}`, 'resetkeys', 'resetchannels', '~banhammer:{h5}:*', '&banhammer:{h5}:*', '+@all']);
    await waitFor('the kept ban reaches the good replica', () => good.bans.some((b) => b.ban.ip === '198.18.77.7'), 10_000);
    expect(bad.stage.connected).toBe(true);
    await bad.stage.stop();
    await good.stage.stop();
    await admin.sendCommand(['ACL', 'DELUSER', 'nobody-h5']);
    await admin.sendCommand(['ACL', 'SETUSER', 'h5', 'resetpass', '>right-secret-h5']);
    await admin.sendCommand(['FLUSHALL']);
  }, 60_000);

  it('an ACL user without the group channel: offline and said so; once the ACL is fixed live it subscribes without a reconnection and gets the group’s bans', async () => {
    await admin.sendCommand(['ACL', 'SETUSER', 'h5nochan', 'on', '>pw-nochan', 'resetkeys', 'resetchannels', '~banhammer:{h5}:*', '+@all']);
    const good = await startReplica('good2', { url: redis.url('h5', 'right-secret-h5'), group: 'h5' });
    replicas.push(good);
    const bad = await startReplica('nochan', { url: redis.url('h5nochan', 'pw-nochan'), group: 'h5', hungAfterMs: 1500 });
    replicas.push(bad);
    await sleep(1000);
    expect(bad.stage.connected).toBe(false);
    expect(JSON.stringify(bad.logs)).toMatch(/cannot subscribe to the group channel/);
    const conns = async () => Number(/total_connections_received:(\d+)/.exec(String(await admin.sendCommand(['INFO', 'stats'])))?.[1]);
    const before = await conns();
    await admin.sendCommand(['ACL', 'SETUSER', 'h5nochan', '&banhammer:{h5}:*']);
    await waitFor('the replica subscribes once the ACL has the channel', () => bad.stage.connected, 10_000);
    good.stage.publishBan({ ip: '198.18.66.6', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + 3_600_000, origin: 'good2' });
    await waitFor('the ban reaches it', () => bad.bans.some((b) => b.ban.ip === '198.18.66.6'), 5_000);
    // Without a reconnection (the connections stayed up).
    expect((await conns()) - before).toBe(0);
    expect(bad.statuses.at(-1)?.connected).toBe(true);
    await bad.stage.stop();
    await good.stage.stop();
    await admin.sendCommand(['ACL', 'DELUSER', 'h5nochan']);
    await admin.sendCommand(['FLUSHALL']);
  }, 60_000);
});
