/**
 * A replica whose catch-up is delayed while it already hears the group's channel (helper h39).
 *
 * A ban Redis lost (an eviction of its field, a failover to a replica that missed it) while its maker
 * restarts: until the restarted replica's first catch-up has checked the bans it restored from its
 * state file, they are in its ban book but not yet the stage's own; an older unban heard then (one
 * replayed from another replica's outbox: with the ban lost, the group stores nothing it is older
 * than, so it is published) lifted the restored ban in the book, while the stage stored and
 * published it again to every other replica (redis-share.ts, onMessage).
 *
 * A first catch-up cut off before it ended: the next one is a first one again, and a first catch-up
 * lifted no ban missing from the group's hash, so a ban heard on the channel before the cut and
 * unbanned while the replica was away stayed in force there for good (catchUp, step 4; seed 73 of
 * share-converge/random.test.ts, which failed now and then under load).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer, type RedisServer } from '../share/redis-server.js';
import type { AdminClient } from '../share/redis-group.js';
import { waitFor as until } from '../share/replica.js';
import { fieldOf, makeWorld, sleep, useConvergeServer, type Target } from '../share-converge/harness.js';

describe.skipIf(!hasRedisServer)('shared bans: a replica\'s catch-up delayed (a restart, a first connection) while it hears the channel', () => {
  const server = useConvergeServer();
  let redis: RedisServer;
  let admin: AdminClient;
  beforeAll(() => {
    ({ redis, admin } = server);
  });

  it('the restarted replica keeps its restored ban, made after that unban, in force, and the group stores it again', async () => {
    const w = makeWorld(redis.port, 'restart-window');
    const a = await server.node(w, 'a');
    const c = await server.node(w, 'c');
    const x: Target = { ip: '198.18.39.10', family: 4 };
    const key = `banhammer:{${w.group}}:bans`;
    // c, cut off, unbans x (in its outbox); then a bans it, and the group stores a's ban.
    c.cut();
    await until('c offline', () => !c.stage!.connected);
    w.vt += 2_300;
    expect(await c.unban(x)).toBe('queued');
    w.vt += 2_300;
    a.ban(x);
    await until('a\'s ban stored', async () => Number(await admin.hExists(key, fieldOf(x))) === 1);
    // Redis loses it; a restarts, and its first catch-up waits (a slow link) while it hears the channel.
    await admin.hDel(key, fieldOf(x));
    await a.stop();
    a.proxy.holdScripts();
    const starting = a.start();
    await until('a connected', () => a.stage!.connected);
    // c comes back: its unban, older than a's ban, finds nothing stored and is published.
    c.restore();
    await until('c settled', () => c.settled());
    await sleep(300);
    a.proxy.releaseScripts();
    await starting;
    await until('a settled', () => a.settled());
    await sleep(500);
    // The last word on x is a's ban: in force at a and c, and stored.
    expect(Number(await admin.hExists(key, fieldOf(x)))).toBe(1);
    expect([a.view.has(fieldOf(x)), c.view.has(fieldOf(x))], w.trace.join('\n')).toEqual([true, true]);
  });

  it('a replica whose first catch-up was cut off lifts, at the next one, a ban it heard meanwhile that the group unbanned while it was away', async () => {
    // (seed 73 of share-converge/random.test.ts, which fails now and then under load, reduced.)
    const w = makeWorld(redis.port, 'first-cut');
    const c = await server.node(w, 'c');
    const a = await server.node(w, 'a', { start: false });
    // a's first catch-up waits (a slow link, a big hash) while a hears the channel.
    a.proxy.holdScripts();
    await a.start();
    await until('a connected', () => a.stage!.connected);
    const x: Target = { ip: '198.18.39.11', family: 4 };
    c.ban(x);
    await until('a heard x', () => a.view.has(fieldOf(x)));
    // a is cut off before its first catch-up ends; x is unbanned meanwhile.
    a.cut();
    await until('a offline', () => !a.stage!.connected);
    a.proxy.releaseScripts();
    w.vt += 2_300;
    expect(await c.unban(x)).toBe('lifted');
    a.restore();
    await until('a settled', () => a.settled());
    await sleep(1_000);
    expect(a.view.has(fieldOf(x)), w.trace.join('\n')).toBe(false);
  });
});
