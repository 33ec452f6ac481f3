/**
 * Unbans sent again in bulk (helper h42). Replicas that know many unbans (an operator lifted
 * thousands of addresses) meet a group hash holding stale bans of all of them, with their tombstones
 * gone (Redis restarted from an old dump). Each sends those unbans again (unbanAgain); without a
 * budget across addresses each replica sent all of them at once, and every replica sent every one:
 * 3 replicas, 2,000 addresses, 6,000 unban scripts in well under a second. Measured per replica
 * through a counting proxy; the group must still converge (the hash holds none of the stale bans,
 * their tombstones are back, a late joiner adopts none).
 */
import { describe, expect, it } from 'vitest';
import { banField } from '../../../src/share/keys.js';
import { hasRedisServer } from '../share/redis-server.js';
import { waitFor } from '../share/replica.js';
import { useFloodServer, addresses, blockMeter, floodReplica, mostIn, seeded, sleep, staleBan, type FloodReplica } from './flood.js';

/**
 * The budget's contract: 500 unbans sent again a second by one replica, and one tick's burst of 50:
 * at most 1,050 in any 2 s (a window of 2 s leaves room for the proxy, on this process's event
 * loop, reading some of them late).
 */
const MOST_IN_2S = 1_200;

describe.skipIf(!hasRedisServer)('unbans sent again after an old dump, in bulk', () => {
  const { server, replicas } = useFloodServer();

  it('3 replicas knowing 2,000 unbans: each sends at most its budget per second, the group sends each about once, and converges', async () => {
    const group = 'old-dump-bulk';
    const K = 2_000;
    const ips = addresses(K, 4_200);
    const port = server.redis.port;
    for (const [i, name] of ['a', 'b', 'c'].entries()) replicas.push(await floodReplica(name, port, group, { random: seeded(42 + i) }));
    const [a, b, c] = replicas as [FloodReplica, FloodReplica, FloodReplica];
    // The operator lifts K addresses at a; b and c hear every unban.
    const at0 = Date.now();
    const results = await Promise.all(ips.map((ip) => a.stage.publishUnban({ ip, family: 4 })));
    expect(results.every((r) => r === 'none')).toBe(true);
    await waitFor('b and c heard every unban', () => b.stage.stats().unbansIn >= K && c.stage.stats().unbansIn >= K, 10_000);
    // Redis restarts from a dump older than the unbans: the bans are back, the tombstones gone.
    const bans = `banhammer:{${group}}:bans`;
    const unbans = `banhammer:{${group}}:unbans`;
    const hash: Record<string, string> = {};
    for (const ip of ips) {
      const s = staleBan(ip, at0 - 60_000);
      hash[s.field] = s.value;
    }
    await server.admin.del(unbans);
    await server.admin.hSet(bans, hash);
    const trio = [a, b, c];
    const from = trio.map((r) => r.proxy.unbans.length);
    const meter = blockMeter();
    const t0 = performance.now();
    for (const r of trio) r.proxy.drop();
    // A replica that joins while they are at it adopts the stale bans not lifted yet, and lifts each
    // as it hears its unban.
    await waitFor('the first stale bans lifted', async () => (await server.admin.hLen(bans)) < K, 10_000);
    const mid = await floodReplica('mid', port, group);
    replicas.push(mid);
    const adopted = mid.stage.stats().bansIn;
    const took = await waitFor('the hash holds none of the stale bans and every tombstone is back', async () => (await server.admin.hLen(bans)) === 0 && (await server.admin.zCard(unbans)) === K, 20_000);
    await sleep(1_000);
    const longest = meter.stop();
    const sent = trio.map((r, i) => r.proxy.unbans.slice(from[i]));
    const perSecond = sent.map((s) => mostIn(s, 1_000));
    const per2s = sent.map((s) => mostIn(s, 2_000));
    const total = sent.reduce((n, s) => n + s.length, 0);
    console.log(`h42 old dump: K=${K}, converged in ${Math.round(took)} ms; unbans sent again per replica ${sent.map((s) => s.length).join('/')}, most in 1 s ${perSecond.join('/')}, in 2 s ${per2s.join('/')}, total ${total}, group most in 1 s ${mostIn(sent.flat().sort((x, y) => x - y), 1_000)}; a replica joining midway adopted ${adopted}; longest event-loop block ${Math.round(longest)} ms; first ${Math.round((sent.flat().sort((x, y) => x - y)[0] ?? t0) - t0)} ms after the drop`);
    for (const n of per2s) expect(n).toBeLessThanOrEqual(MOST_IN_2S);
    // Nor the rate: what one replica hears another send counts against its own budget.
    expect(mostIn(sent.flat().sort((x, y) => x - y), 2_000)).toBeLessThanOrEqual(2_000);
    // N replicas do not multiply it: a replica that hears another's unban of an address does not send its own.
    expect(total).toBeLessThanOrEqual(Math.ceil(K * 1.25));
    expect(adopted).toBeGreaterThan(0);
    // Nothing of it is in force anywhere (the one that joined midway included), nor at a late joiner.
    const late = await floodReplica('late', port, group);
    replicas.push(late);
    await sleep(300);
    for (const r of replicas) expect([...r.bans].filter((f) => ips.some((ip) => banField(ip, undefined) === f)).length, r.name).toBe(0);
    expect(late.stage.stats().bansIn).toBe(0);
  }, 39_000);
});
