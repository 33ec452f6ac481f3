/**
 * Hostile review H45 of 3b79846 (keepLonger): with shared bans a manual ban never shortens a ban in
 * force; README's way to shorten one is `banhammer unban`, then ban. An operator does that at once
 * (a script, two commands a few ms apart): the shorter ban must be what every replica holds, and
 * what the group's hash stores. Found: when the unban's script ran after the ban's (its EVALSHA
 * answered NOSCRIPT, as the first unban after Redis forgot its scripts is, and sent again as EVAL
 * after the ban's EVALSHA), the new ban was "covered" by the old one the unban then lifted, and it
 * was stored nowhere: the other replicas lost the address, and so did late joiners. And a permanent manual ban over a finite one still lengthens it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BAN_SCRIPT, UNBAN_SCRIPT } from '../../../src/share/lua.js';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { waitFor } from '../share/replica.js';
import { cleanup, makeAgent, quiet, startAgent, stopAgent, viewsOf, type Agent } from '../share-seams/harness.js';

const HOUR = 3_600_000;
afterAll(cleanup);

describe.skipIf(!hasRedisServer)('shortening a shared ban: unban, then ban at once', () => {
  const g = useRedisGroup();
  const agents: Agent[] = [];
  afterAll(async () => {
    for (const a of agents) await stopAgent(a).catch(() => undefined);
  });

  async function pair(group: string): Promise<[Agent, Agent]> {
    const [a, b] = ['a', 'b'].map((n) => makeAgent(`${group}-${n}`, group, g.redis.url(), { bantime: '10m', enabled: true })) as [Agent, Agent];
    agents.push(a, b);
    await startAgent(a);
    await startAgent(b);
    await waitFor('connected', () => a.share.stats().connected && b.share.stats().connected, 5_000);
    return [a, b];
  }

  /**
   * Redis forgot its scripts (a restart, a failover, SCRIPT FLUSH) and a ban made since loaded the
   * ban script again, not yet the unban script (as on a fresh server before its first unban): an
   * unban's EVALSHA is answered NOSCRIPT and sent again as EVAL, after a ban's EVALSHA sent meanwhile.
   */
  async function forgetUnbanScript(x: Agent, other: string): Promise<void> {
    await g.admin.sendCommand(['SCRIPT', 'FLUSH']);
    await x.daemon.ban(other, { forMs: HOUR });
    await waitFor('the ban script loaded again', async () => ((await g.admin.sendCommand(['SCRIPT', 'EXISTS', BAN_SCRIPT.sha1, UNBAN_SCRIPT.sha1])) as number[]).join() === '1,0', 3_000);
  }

  it('at the replica that made the longer ban: unban then ban 10 minutes, no pause: both replicas and the hash hold the 10-minute ban', async () => {
    const group = 'h45-short1';
    const ip = '198.18.72.1';
    const [a, b] = await pair(group);
    await a.daemon.ban(ip, { forMs: 3 * HOUR, rule: 'forbidden' });
    await waitFor("b adopts a's ban", () => b.enforcer.held.has(ip), 3_000);
    const longer = a.enforcer.held.get(ip)!.until!;
    await forgetUnbanScript(a, '198.18.72.100');
    expect(await a.daemon.unban(ip)).toBe(1);
    const reply = await a.daemon.ban(ip, { forMs: 600_000, rule: 'forbidden' });
    expect(reply.until).toBeLessThan(longer);
    await quiet([a, b]);
    await waitFor('the shorter ban everywhere', () => a.enforcer.held.get(ip)?.until === reply.until && b.enforcer.held.get(ip)?.until === reply.until, 3_000);
    const stored = JSON.parse((await g.admin.hGet(`banhammer:{${group}}:bans`, ip))!) as { until: number };
    expect(stored.until).toBe(reply.until);
    expect(await viewsOf(a, [ip])).toEqual([]);
    expect(await viewsOf(b, [ip])).toEqual([]);
  }, 20_000);

  it('at a replica holding the longer ban adopted from the group: unban then ban 10 minutes, no pause', async () => {
    const [a, b] = await pair('h45-short2');
    const ip = '198.18.72.2';
    await a.daemon.ban(ip, { forMs: null });
    await waitFor("b adopts a's permanent ban", () => b.enforcer.held.get(ip)?.until === null, 3_000);
    await forgetUnbanScript(b, '198.18.72.101');
    expect(await b.daemon.unban(ip)).toBe(1);
    const reply = await b.daemon.ban(ip, { forMs: 600_000 });
    expect(reply.heldUntil ?? reply.until).toBe(reply.until);
    await quiet([a, b]);
    await waitFor('the shorter ban everywhere', () => a.enforcer.held.get(ip)?.until === reply.until && b.enforcer.held.get(ip)?.until === reply.until, 3_000);
    expect(await viewsOf(a, [ip])).toEqual([]);
    expect(await viewsOf(b, [ip])).toEqual([]);
  }, 20_000);

  it('`ban --for permanent` over a finite own ban, and over a finite adopted one, lengthens it everywhere', async () => {
    const [a, b] = await pair('h45-perm');
    const ip1 = '198.18.72.3';
    const ip2 = '198.18.72.4';
    await a.daemon.ban(ip1, { forMs: HOUR, rule: 'forbidden' });
    await a.daemon.ban(ip2, { forMs: HOUR, rule: 'forbidden' });
    await waitFor('b adopts both', () => b.enforcer.held.has(ip1) && b.enforcer.held.has(ip2), 3_000);
    const r1 = await a.daemon.ban(ip1, { forMs: null, permanent: true, rule: 'forbidden' });
    const r2 = await b.daemon.ban(ip2, { forMs: null, permanent: true, rule: 'forbidden' });
    expect(r1.until).toBeNull();
    expect(r2.until).toBeNull();
    await quiet([a, b]);
    await waitFor('permanent everywhere', () => [a, b].every((x) => x.enforcer.held.get(ip1)?.until === null && x.enforcer.held.get(ip2)?.until === null), 3_000);
    expect(await viewsOf(a, [ip1, ip2])).toEqual([]);
    expect(await viewsOf(b, [ip1, ip2])).toEqual([]);
  }, 20_000);
});
