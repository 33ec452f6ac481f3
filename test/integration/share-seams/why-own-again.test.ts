/**
 * The known disagreement the brief names: after the group lifted a longer ban adopted over this
 * replica's own one (an unban dated between the two, BanBook.liftAdopted), the own ban is in force
 * again, and `why` listed that same ban twice: in force, and ended, "replaced by group:<replica>".
 * A ban in force is not shown as ended: `why` leaves out of its history an ended entry that is the
 * very ban in force again (same rule, address, container, start and end, made here).
 * Set up as test/integration/share/own-under-adopted.test.ts: a is a live agent, b and c share stages,
 * c through a proxy that is cut.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { sleep, waitFor } from '../share/replica.js';
import { cleanup, makeAgent, quiet, restartAgent, startAgent, stopAgent, viewsOf, type Agent } from './harness.js';

const HOUR = 3_600_000;
afterAll(cleanup);

describe.skipIf(!hasRedisServer)(`why of an own ban in force again after the group lifted the adopted one${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();
  const agents: Agent[] = [];
  afterAll(async () => {
    for (const a of agents) await stopAgent(a).catch(() => undefined);
  });

  it('lists it in force, not also as replaced; the same after a restart', async () => {
    const group = 'whyagain';
    const ip = '198.18.72.1';
    const proxy = await g.proxy();
    const c = await g.replica(`${group}-c`, { url: `redis://127.0.0.1:${proxy.port}`, group });
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    proxy.cut();
    await waitFor('c offline', () => !c.stage.stats().connected, 3000);
    const unbannedAt = Date.now();
    expect(await c.stage.publishUnban({ ip, family: 4 })).toBe('queued');
    await sleep(2_600);
    const a = makeAgent(`${group}-a`, group, g.redis.url(), { bantime: '10m', enabled: true });
    agents.push(a);
    await startAgent(a);
    await waitFor('a connected', () => a.share.stats().connected, 3000);
    await a.daemon.ban(ip, { forMs: HOUR });
    await waitFor("a's ban stored", async () => Number(await g.admin.hExists(`banhammer:{${group}}:bans`, ip)) === 1, 3000);
    b.stage.publishBan({ ip, family: 4, rule: 'manual', at: unbannedAt - 2_600, until: null, origin: b.name });
    await waitFor("b's permanent ban adopted at a", () => a.enforcer.held.get(ip)?.until === null, 3000);
    proxy.restore();
    await waitFor("c's unban sent", () => c.stage.stats().connected && c.stage.stats().outboxDepth === 0, 5000);
    await waitFor("a's own ban in force again", () => a.enforcer.held.get(ip)?.until != null, 3000);
    await quiet([a]);
    const w = a.daemon.why(ip);
    expect(w.active).toHaveLength(1);
    expect(w.active[0]!.from).toBeNull();
    // The adopted ban, ended by c's unban, is history; the own ban in force is not.
    expect(w.ended.map((e) => `${e.from ?? 'own'} ${e.ended?.reason}`)).toEqual([`${b.name} unbanned`]);
    expect(await viewsOf(a, [ip])).toEqual([]);
    await stopAgent(a);
    await restartAgent(a, group);
    await quiet([a]);
    expect(a.daemon.why(ip).ended.map((e) => `${e.from ?? 'own'} ${e.ended?.reason}`)).toEqual([`${b.name} unbanned`]);
    expect(await viewsOf(a, [ip])).toEqual([]);
  }, 20_000);
});
