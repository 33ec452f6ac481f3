/**
 * One stale ban, heard by every replica that knows its unban (helper h42): the first to send the
 * unban again is the only one. Every replica sent it (3 unban scripts, 3 messages to each of 3
 * replicas) although the others hear the first one's unban within a millisecond; now each waits a
 * random moment (its deps.random: seeded here, so which one goes first is known) and drops its own
 * once it hears another's. And a replica that loses its connection part-way through a long list of
 * unbans to send again sends the rest once it is back: the group converges.
 */
import { describe, expect, it } from 'vitest';
import { banField } from '../../../src/share/keys.js';
import { hasRedisServer } from '../share/redis-server.js';
import { waitFor } from '../share/replica.js';
import { useFloodServer, addresses, floodReplica, seeded, sleep, staleBan, type FloodReplica } from './flood.js';

describe.skipIf(!hasRedisServer)('an unban sent again once for the group', () => {
  const { server, replicas } = useFloodServer();

  it('a stale ban stored again and published, heard by 3 replicas that know its unban: one unban script in all, and the group converges', async () => {
    const group = 'first-resend';
    const port = server.redis.port;
    // First draws: b about 157 ms, a 3 ms, c 231 ms (a sends first).
    for (const [name, seed] of [['a', 7], ['b', 1], ['c', 4]] as const) replicas.push(await floodReplica(name, port, group, { random: seeded(seed) }));
    const [a, b, c] = replicas as [FloodReplica, FloodReplica, FloodReplica];
    const x = '198.18.42.1';
    const at0 = Date.now();
    expect(await b.stage.publishUnban({ ip: x, family: 4 })).toBe('none');
    await waitFor('a and c heard the unban', () => a.stage.stats().unbansIn === 1 && c.stage.stats().unbansIn === 1);
    // The tombstone is lost, and the ban's maker, back from an outage, stores its old ban again.
    const bans = `banhammer:{${group}}:bans`;
    const unbans = `banhammer:{${group}}:unbans`;
    const s = staleBan(x, at0 - 60_000, 'gone-replica', Date.now());
    await server.admin.del(unbans);
    const from = replicas.map((r) => r.proxy.unbans.length);
    await server.admin.hSet(bans, s.field, s.value);
    await server.admin.publish(`banhammer:{${group}}:events`, s.value);
    await waitFor('the stale ban lifted and its tombstone back', async () => (await server.admin.hLen(bans)) === 0 && (await server.admin.zScore(unbans, s.field)) !== null);
    // Past every replica's wait and a tick.
    await sleep(700);
    const sent = replicas.map((r, i) => r.proxy.unbans.length - from[i]!);
    expect(sent).toEqual([1, 0, 0]);
    for (const r of replicas) expect(r.bans.has(s.field), r.name).toBe(false);
    const late = await floodReplica('late', port, group);
    replicas.push(late);
    expect(late.stage.stats().bansIn).toBe(0);
  });

  it('a replica alone with 1,500 unbans to send again, cut off part-way: it sends the rest once back, and the hash holds none of the stale bans', async () => {
    const group = 'resend-cut';
    const port = server.redis.port;
    const K = 1_500;
    const ips = addresses(K, 50_000);
    const r = await floodReplica('solo', port, group, { random: seeded(99) });
    replicas.push(r);
    const at0 = Date.now();
    const results = await Promise.all(ips.map((ip) => r.stage.publishUnban({ ip, family: 4 })));
    expect(results.every((x) => x === 'none')).toBe(true);
    const bans = `banhammer:{${group}}:bans`;
    const unbans = `banhammer:{${group}}:unbans`;
    const hash: Record<string, string> = {};
    for (const ip of ips) {
      const s = staleBan(ip, at0 - 60_000);
      hash[s.field] = s.value;
    }
    await server.admin.del(unbans);
    await server.admin.hSet(bans, hash);
    r.proxy.drop();
    // Part-way (the budget is 500 a second): cut again, twice.
    await waitFor('some sent again', async () => (await server.admin.hLen(bans)) < K - 200, 10_000);
    r.proxy.drop();
    await waitFor('more sent again', async () => (await server.admin.hLen(bans)) < K / 2, 10_000);
    expect(await server.admin.hLen(bans)).toBeGreaterThan(0);
    r.proxy.drop();
    await waitFor('the hash holds none of the stale bans and every tombstone is back', async () => (await server.admin.hLen(bans)) === 0 && (await server.admin.zCard(unbans)) === K, 15_000);
    expect([...r.bans].filter((f) => ips.some((ip) => banField(ip, undefined) === f))).toEqual([]);
    const late = await floodReplica('late2', port, group);
    replicas.push(late);
    expect(late.stage.stats().bansIn).toBe(0);
  }, 39_000);
});
