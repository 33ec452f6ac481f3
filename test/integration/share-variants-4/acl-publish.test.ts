/**
 * Audit round 4 of issue 11: "A command Redis refuses while the connection stays up (an ACL being
 * edited …) fails only that operation: it waits in the outbox … and is tried again" (README). A user
 * that may store but not PUBLISH (an ACL line missing +publish, fixed later): the ban script stored the
 * ban, then failed at PUBLISH; the retry found the replica's own stored ban "covering" it and sent
 * nothing, so once the ACL was fixed the ban still never reached the other replicas (only at their
 * next reconnection). A real redis-server with ACL users.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { SHARE_ACL_COMMANDS, shareAclLine } from '../../../src/share/share.js';
import { removeReplicaDirs, startReplica, waitFor, type Replica } from '../share/replica.js';
import { startR4Redis, type R4Redis } from './redis.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('share: a ban refused half-way (PUBLISH not allowed) is published once the ACL allows it', () => {
  let srv: R4Redis | undefined;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  beforeAll(async () => {
    const noPublish = `user nopub on >nopub-pw resetkeys resetchannels ~banhammer:{acl}:* &banhammer:{acl}:* -@all ${SHARE_ACL_COMMANDS.filter((c) => c !== 'publish').map((c) => `+${c}`).join(' ')}`;
    srv = await startR4Redis({ aclLines: [shareAclLine('acl', 'acl-pw'), noPublish] });
    admin = createClient({ url: srv.url(), disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await srv?.stop();
    removeReplicaDirs();
  });

  it('the ban reaches the other replica after `ACL SETUSER … +publish`, without a reconnection', async () => {
    const a = await startReplica('a1', { url: srv!.url('nopub', 'nopub-pw'), group: 'acl', hungAfterMs: 1500 });
    replicas.push(a);
    const b = await startReplica('b1', { url: srv!.url('acl', 'acl-pw'), group: 'acl' });
    replicas.push(b);
    await waitFor('a connected', () => a.stage.connected, 5000);
    a.stage.publishBan({ ip: '198.18.61.1', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'a1' });
    await waitFor('the ban in the outbox', () => a.stage.stats().outboxDepth === 1, 3000);
    expect(b.bans).toHaveLength(0);
    await admin.sendCommand(['ACL', 'SETUSER', 'nopub', '+publish']);
    await waitFor('the ban at b', () => b.bans.some((x) => x.ban.ip === '198.18.61.1'), 8000);
    expect(a.stage.stats().outboxDepth).toBe(0);
  });

  it('an unban refused half-way the same way is published once the ACL allows it', async () => {
    await admin.sendCommand(['ACL', 'SETUSER', 'nopub', '-publish']);
    const a = await startReplica('a2', { url: srv!.url('nopub', 'nopub-pw'), group: 'acl', hungAfterMs: 1500 });
    replicas.push(a);
    const b = await startReplica('b2', { url: srv!.url('acl', 'acl-pw'), group: 'acl' });
    replicas.push(b);
    b.stage.publishBan({ ip: '198.18.61.2', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'b2' });
    await waitFor('the ban at a', () => a.bans.some((x) => x.ban.ip === '198.18.61.2'), 3000);
    void a.stage.publishUnban({ ip: '198.18.61.2', family: 4 });
    await waitFor('the unban in the outbox', () => a.stage.stats().outboxDepth === 1, 3000);
    await admin.sendCommand(['ACL', 'SETUSER', 'nopub', '+publish']);
    await waitFor('the unban at b', () => b.unbans.some((u) => u.ip === '198.18.61.2'), 8000);
  });
});
