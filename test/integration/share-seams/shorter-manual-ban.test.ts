/**
 * Found by H43's differential (seed 3): `banhammer ban X --for 3h` at replica b, while b holds a's
 * permanent ban of X adopted from the group (same rule: manual), replaced the adopted ban with its own
 * shorter one. b's firewall then let X through after 3 h while a (and every other replica, and a late
 * joiner: the group's hash keeps the longer ban) dropped it for good, and after a restart b went back
 * to the permanent ban: b's `status`/`why` and its ban reply (heldUntil) said "until +3h" of an
 * address the group bans for good. README (`banhammer ban`): "a shorter manual ban never shortens a
 * longer one". The own ban is kept under the adopted one (Ban.under), as when a longer group ban
 * arrives after an own one: an unban older than it lifting the adopted ban brings it back.
 * Seed 18, 13: the same with the replica's own longer ban (`ban X --for 3h`, then `ban X --for 10m`
 * of the same rule at the same replica): the group keeps the 3-hour ban (its hash stores the longest,
 * the other replicas refuse a shorter one), so the replica that shortened it let X through after 10
 * minutes while the others dropped it, and after a restart adopted its own 3-hour ban back from the
 * group. Sharing, the shorter ban does not shorten it (unban first, then ban, to shorten it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { waitFor } from '../share/replica.js';
import { bookOf, cleanup, makeAgent, quiet, restartAgent, startAgent, stopAgent, viewsOf, type Agent } from './harness.js';

const HOUR = 3_600_000;
afterAll(cleanup);

describe.skipIf(!hasRedisServer)(`a shorter manual ban of an address the group bans for longer${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();
  const agents: Agent[] = [];
  afterAll(async () => {
    for (const a of agents) await stopAgent(a).catch(() => undefined);
  });

  it("at a replica that adopted the longer ban: its firewall keeps the group's ban, before and after a restart", async () => {
    const group = 'shorter1';
    const ip = '198.18.71.1';
    const [a, b] = ['a', 'b'].map((n) => makeAgent(`${group}-${n}`, group, g.redis.url(), { bantime: '10m', enabled: true }));
    agents.push(a!, b!);
    await startAgent(a!);
    await startAgent(b!);
    await waitFor('connected', () => a!.share.stats().connected && b!.share.stats().connected, 5000);
    await a!.daemon.ban(ip, { forMs: null });
    await waitFor("b adopts a's permanent ban", () => b!.enforcer.held.get(ip)?.until === null, 3000);
    const reply = await b!.daemon.ban(ip, { forMs: 3 * HOUR });
    // The answer says until when the firewall holds it: for good, as the group does.
    expect(reply.heldUntil).toBeNull();
    await quiet([a!, b!]);
    expect(b!.enforcer.held.get(ip)?.until).toBeNull();
    expect(a!.enforcer.held.get(ip)?.until).toBeNull();
    expect(b!.daemon.why(ip).active.some((x) => x.until === null)).toBe(true);
    expect(await viewsOf(b!, [ip])).toEqual([]);
    // b's own 3-hour ban is kept under the adopted one: the state file says the same after a restart.
    expect(bookOf(b!).active(Date.now()).find((x) => x.ip === ip)?.under?.until).toBeGreaterThan(Date.now() + 3 * HOUR - 60_000);
    await stopAgent(b!);
    await restartAgent(b!, group);
    await quiet([a!, b!]);
    expect(b!.enforcer.held.get(ip)?.until).toBeNull();
    expect(await viewsOf(b!, [ip])).toEqual([]);
  }, 20_000);

  it('at the replica that made the longer ban: its firewall keeps it, as the group does, before and after a restart', async () => {
    const group = 'shorter2';
    const ip = '198.18.71.2';
    const [a, b] = ['a', 'b'].map((n) => makeAgent(`${group}-${n}`, group, g.redis.url(), { bantime: '10m', enabled: true }));
    agents.push(a!, b!);
    await startAgent(a!);
    await startAgent(b!);
    await waitFor('connected', () => a!.share.stats().connected && b!.share.stats().connected, 5000);
    await a!.daemon.ban(ip, { forMs: 3 * HOUR, rule: 'forbidden' });
    await waitFor("b adopts a's ban", () => b!.enforcer.held.has(ip), 3000);
    const longer = b!.enforcer.held.get(ip)!.until!;
    const reply = await a!.daemon.ban(ip, { forMs: 600_000, rule: 'forbidden' });
    expect(reply.heldUntil).toBe(longer);
    await quiet([a!, b!]);
    expect(a!.enforcer.held.get(ip)?.until).toBe(longer);
    expect(b!.enforcer.held.get(ip)?.until).toBe(longer);
    expect(await viewsOf(a!, [ip])).toEqual([]);
    await stopAgent(a!);
    await restartAgent(a!, group);
    await quiet([a!, b!]);
    expect(a!.enforcer.held.get(ip)?.until).toBe(longer);
    expect(await viewsOf(a!, [ip])).toEqual([]);
    // To shorten it everywhere: unban, then ban again.
    expect(await a!.daemon.unban(ip)).toBe(1);
    await new Promise((r) => setTimeout(r, 2_100));
    await a!.daemon.ban(ip, { forMs: 600_000, rule: 'forbidden' });
    await waitFor('the shorter ban everywhere', () => a!.enforcer.held.get(ip)?.until === b!.enforcer.held.get(ip)?.until && (a!.enforcer.held.get(ip)?.until ?? 0) < longer, 3000);
  }, 20_000);
});
