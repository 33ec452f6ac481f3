/**
 * A ban Redis lost (an eviction of its field, a failover to a replica that missed it), stored again
 * by its maker while another replica's catch-up reads the hash (helper h39). That replica hears the
 * ban again on the channel, the same ban it holds; the read, made before the ban was stored again,
 * does not return it. A ban heard during the read is not lifted for missing from it (h35), but the
 * same ban heard again was not counted as heard: the replica lifted it for good. Older than the day
 * tombstones are kept, so nothing else (the tombstones) keeps it (redis-share.ts, catchUp, step 4).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SCAN_SCRIPT } from '../../../src/share/lua.js';
import { hasRedisServer, type RedisServer } from '../share/redis-server.js';
import type { AdminClient } from '../share/redis-group.js';
import { waitFor as until } from '../share/replica.js';
import { fieldOf, HOUR, makeWorld, sleep, useConvergeServer, type Target } from '../share-converge/harness.js';

describe.skipIf(!hasRedisServer)('shared bans: the same ban heard again while a catch-up reads the hash', () => {
  const server = useConvergeServer();
  let redis: RedisServer;
  let admin: AdminClient;
  beforeAll(() => {
    ({ redis, admin } = server);
  });

  it('a permanent ban made two days ago, lost by Redis and stored again by its maker during another replica\'s read, stays in force there', async () => {
    const w = makeWorld(redis.port, 'heard-again');
    // a's watchdog looks for its own ban every second; c's waits 30 s for a held reply.
    const a = await server.node(w, 'a', { settings: { hungAfterMs: 3_000 } });
    const c = await server.node(w, 'c', { settings: { hungAfterMs: 30_000 } });
    const x: Target = { ip: '198.18.39.9', family: 4 };
    const key = `banhammer:{${w.group}}:bans`;
    a.ban(x, null);
    await until('c holds x', () => c.view.has(fieldOf(x)));
    w.vt += 49 * HOUR;
    // Redis loses the ban (its field evicted, a failover to a replica that missed it); c is away.
    c.cut();
    await until('c offline', () => !c.stage!.connected);
    await admin.hDel(key, fieldOf(x));
    // c comes back; Redis reads the hash for c's catch-up, and c gets the reply only after a stored
    // the ban again and c heard it (a big hash, a slow link).
    c.proxy.holdRepliesAfter(SCAN_SCRIPT.sha1);
    c.restore();
    await until('the hash read for c\'s catch-up', () => c.proxy.repliesHeld());
    await until('a stored its ban again', async () => Number(await admin.hExists(key, fieldOf(x))) === 1);
    await sleep(200);
    c.proxy.releaseReplies();
    await until('c settled', () => c.settled());
    await sleep(500);
    expect(c.view.has(fieldOf(x)), w.trace.join('\n')).toBe(true);
  });
});
