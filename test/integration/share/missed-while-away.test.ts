/**
 * What a replica misses on the channel while its connections are down, about its OWN bans. The
 * catch-up after a reconnection reads the group's hash; a remote ban gone from it was unbanned and is
 * lifted there. An own ban gone from it is either unbanned by another replica (a tombstone says so)
 * or lost by Redis (no tombstone). Before the fix the catch-up looked at neither: the unban reached
 * the replica only when the watchdog's sampling of one own ban per round (every hungAfter / 3) came
 * to that ban, so with many own bans a lifted ban stayed in force there for minutes or hours (found
 * as a flaky CLIENT KILL test in share-variants-2/hostile.test.ts). Now the catch-up settles every
 * own ban missing from the hash at once: lifted if a tombstone names an unban after it, stored again
 * otherwise.
 * A real redis-server on a private port; replica b reaches it through a proxy that can be cut, so it
 * surely misses what is published meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { hasRedisServer, type CuttableProxy } from './redis-server.js';
import { useRedisGroup, type AdminClient } from './redis-group.js';
import { waitFor, type Replica } from './replica.js';

const HOUR = 3_600_000;
const OWN = 40;
/** Whether the group's hash stores a ban under `ip` (HEXISTS answers 0 or 1). */
const stored = async (admin: AdminClient, group: string, ip: string): Promise<boolean> => Number(await admin.hExists(`banhammer:{${group}}:bans`, ip)) === 1;

describe.skipIf(!hasRedisServer)(`a replica catching up settles its own bans the group no longer stores${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();

  /** a connects directly, b through a proxy; b has made OWN bans, which a has heard. */
  async function pair(group: string): Promise<{ a: Replica; b: Replica; proxy: CuttableProxy; ips: string[] }> {
    const proxy = await g.proxy();
    const a = await g.replica(`${group}-a`, { url: g.redis.url(), group });
    const b = await g.replica(`${group}-b`, { url: `redis://127.0.0.1:${proxy.port}`, group });
    const ips = Array.from({ length: OWN }, (_, i) => `198.18.${30 + Math.floor(i / 200)}.${(i % 200) + 1}`);
    const now = Date.now();
    for (const ip of ips) b.stage.publishBan({ ip, family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: b.name });
    await waitFor('a has heard every ban of b', () => ips.every((ip) => a.bans.some((x) => x.ban.ip === ip)), 5000);
    return { a, b, proxy, ips };
  }

  it('an unban of one of its bans made elsewhere while it was away is applied at its reconnection', async () => {
    const { a, b, proxy, ips } = await pair('away1');
    // The one the watchdog's sampling would come to last.
    const victim = ips[ips.length - 1]!;
    proxy.cut();
    await waitFor('b offline', () => !b.stage.stats().connected, 3000);
    expect(await a.stage.publishUnban({ ip: victim, family: 4 })).not.toBe('queued');
    expect(await stored(g.admin, 'away1', victim)).toBe(false);
    expect(b.unbans).toHaveLength(0);
    proxy.restore();
    await waitFor('b online again', () => b.stage.stats().connected, 5000);
    await waitFor('the unban made while b was away, at b', () => b.unbans.some((u) => u.ip === victim), 3000);
    expect(b.unbans.map((u) => u.ip)).toEqual([victim]);
    // Not published again by b: the group still does not store it, and a did not hear it again.
    const heardAtA = a.bans.filter((x) => x.ban.ip === victim).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(await stored(g.admin, 'away1', victim)).toBe(false);
    expect(a.bans.filter((x) => x.ban.ip === victim)).toHaveLength(heardAtA);
    expect(await g.admin.hLen(`banhammer:{away1}:bans`)).toBe(OWN - 1);
  });

  it('an own ban Redis lost (deleted, no unban) while it was away is stored again at its reconnection, and lifted nowhere', async () => {
    const { a, b, proxy, ips } = await pair('away2');
    const lost = ips[ips.length - 1]!;
    proxy.cut();
    await waitFor('b offline', () => !b.stage.stats().connected, 3000);
    // Lost without an unban: no tombstone, nothing published.
    expect(await g.admin.hDel(`banhammer:{away2}:bans`, lost)).toBe(1);
    proxy.restore();
    await waitFor('b online again', () => b.stage.stats().connected, 5000);
    await waitFor('the lost ban stored again', async () => await stored(g.admin, 'away2', lost), 3000);
    expect(b.unbans).toHaveLength(0);
    expect(a.unbans).toHaveLength(0);
  });

  it('connected all along, its own bans gone from the hash (the watchdog finds one): the one an unban tombstone came after is lifted, the other stored again', async () => {
    const group = 'away3';
    const a = await g.replica(`${group}-a`, { url: g.redis.url(), group });
    // Rounds of 200 ms: the watchdog samples one own ban per round.
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group, hungAfterMs: 600 });
    const now = Date.now();
    const [unbanned, lost] = ['198.18.40.1', '198.18.40.2'];
    for (const ip of [unbanned!, lost!]) b.stage.publishBan({ ip, family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: b.name });
    await waitFor('a has heard both', () => [unbanned, lost].every((ip) => a.bans.some((x) => x.ban.ip === ip)), 5000);
    // Written by hand, without a message (as a lost message would leave it): an unban of one, a
    // tombstone dated after its ban; the other only deleted (Redis lost it).
    await g.admin.zAdd(`banhammer:{${group}}:unbans`, { score: Date.now() + 500, value: unbanned! });
    expect(await g.admin.hDel(`banhammer:{${group}}:bans`, [unbanned!, lost!])).toBe(2);
    await waitFor('the unbanned one lifted at b', () => b.unbans.some((u) => u.ip === unbanned), 5000);
    await waitFor('the lost one stored again', async () => await stored(g.admin, group, lost!), 5000);
    expect(await stored(g.admin, group, unbanned!)).toBe(false);
    expect(b.unbans.map((u) => u.ip)).toEqual([unbanned]);
  });

  it('a flood of stale unbans naming one of its own bans (a replay, or a writer with the password): the ban stays, stored, and each is no more than one ban script in flight', async () => {
    const group = 'away4';
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    const now = Date.now();
    const ip = '198.18.41.1';
    b.stage.publishBan({ ip, family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: b.name });
    await waitFor('stored', async () => await stored(g.admin, group, ip), 3000);
    const before = b.stage.stats();
    const sentBefore = before.bansOut + before.bansCovered;
    // Older than the ban by more than the skew: each is stale, and makes b store its ban again.
    const stale = JSON.stringify({ v: 1, t: 'unban', ip, family: 4, origin: 'mallory', at: now - 10_000, sent: Date.now() });
    const N = 5000;
    for (let i = 0; i < N; i += 1000) {
      const multi = g.admin.multi();
      for (let j = i; j < i + 1000; j++) multi.publish(`banhammer:{${group}}:events`, stale);
      await multi.execAsPipeline();
    }
    await waitFor('every stale unban counted', () => b.stage.stats().unbansStale >= N, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    const after = b.stage.stats();
    expect(b.unbans).toHaveLength(0);
    expect(await stored(g.admin, group, ip)).toBe(true);
    expect(after.connected).toBe(true);
    // One store at a time per address: far fewer than one per message.
    expect(after.bansOut + after.bansCovered - sentBefore).toBeLessThan(N / 10);
  });
});
