/**
 * Hostile review H45: a stale unban (made before a ban this replica holds of its own) makes the
 * replica store its ban again (onMessage, h35: the unban may have lifted an older stored ban that
 * covered ours, which then is stored nowhere). Before: one ban script per such message, limited only
 * to one in flight per address. Anyone who can publish on the channel (without a share key: anyone
 * holding the password; with one: a signed stale unban replayed for its 60 s) turned each PUBLISH into
 * a ban script of the victim's (the drip below: ~1 per message). Now an address is stored again at
 * most once per second; stale unbans heard meanwhile are answered by one more store at the end of the
 * second (never dropped: the last one heard may be the one that lifted a covering ban).
 */
import { describe, expect, it } from 'vitest';
import { banField } from '../../../src/share/keys.js';
import { UNBAN_SCRIPT } from '../../../src/share/lua.js';
import { encodeUnban } from '../../../src/share/messages.js';
import { pipeToRedis, publishPipe } from '../share-unban-flood/flood.js';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup, type AdminClient } from '../share/redis-group.js';
import { sleep, waitFor, type Replica } from '../share/replica.js';

const HOUR = 3_600_000;
const storedValue = async (admin: AdminClient, group: string, ip: string): Promise<string | null> => (await admin.hGet(`banhammer:{${group}}:bans`, banField(ip, undefined))) ?? null;
const scripts = (r: Replica): number => r.stage.stats().bansOut + r.stage.stats().bansCovered;
const staleUnban = (ip: string, at: number): string => encodeUnban({ ip, family: 4, origin: 'mallory', at }, Date.now());

describe.skipIf(!hasRedisServer)('stale unbans naming a replica\'s own ban, repeated by a hostile publisher', () => {
  const g = useRedisGroup();

  it('a drip of 300 stale unbans of one own ban over ~1.5 s: a handful of ban scripts, not one per message; the ban stays stored', async () => {
    const group = 'h45-drip';
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    const now = Date.now();
    const ip = '198.18.45.10';
    b.stage.publishBan({ ip, family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: b.name });
    await waitFor('stored', async () => (await storedValue(g.admin, group, ip)) !== null, 3_000);
    const before = scripts(b);
    const N = 300;
    const channel = `banhammer:{${group}}:events`;
    for (let i = 0; i < N; i++) {
      await g.admin.publish(channel, staleUnban(ip, now - 10_000));
      await sleep(5);
    }
    await waitFor('every stale unban counted', () => b.stage.stats().unbansStale >= N, 10_000);
    await sleep(1_300);
    const sent = scripts(b) - before;
    console.log(`h45 drip: ${N} stale unbans of one own ban -> ${sent} ban scripts`);
    expect(await storedValue(g.admin, group, ip)).not.toBeNull();
    expect(b.unbans).toHaveLength(0);
    // At most one a second, plus the one at the end of the last second.
    expect(sent).toBeLessThanOrEqual(6);
    expect(sent).toBeGreaterThanOrEqual(1);
  }, 20_000);

  it('20,000 stale unbans spread over 400 own bans: at most a few ban scripts per address, every ban still stored', async () => {
    const group = 'h45-spread';
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    const now = Date.now();
    const K = 400;
    const ips = Array.from({ length: K }, (_, i) => `198.18.${46 + (i >> 8)}.${i & 255}`);
    for (const ip of ips) b.stage.publishBan({ ip, family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: b.name });
    await waitFor('all stored', async () => Number(await g.admin.hLen(`banhammer:{${group}}:bans`)) === K, 5_000);
    const before = scripts(b);
    const N = 20_000;
    const msgs = Array.from({ length: N }, (_, i) => staleUnban(ips[i % K]!, now - 10_000));
    await pipeToRedis(g.redis.port, publishPipe(`banhammer:{${group}}:events`, msgs));
    await waitFor('every stale unban counted', () => b.stage.stats().unbansStale >= N, 15_000);
    await sleep(1_300);
    const sent = scripts(b) - before;
    console.log(`h45 spread: ${N} stale unbans over ${K} own bans -> ${sent} ban scripts`);
    expect(Number(await g.admin.hLen(`banhammer:{${group}}:bans`))).toBe(K);
    expect(b.unbans).toHaveLength(0);
    expect(sent).toBeLessThanOrEqual(3 * K);
  }, 25_000);

  it('right after a flood, the stale unban that lifts an older stored ban covering ours (h35): ours is stored again within the second', async () => {
    const group = 'h45-cover';
    const w = await g.replica(`${group}-w`, { url: g.redis.url(), group });
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    const ip = '198.18.45.20';
    const field = banField(ip, undefined);
    const t0 = Date.now();
    // w's permanent ban, stored first; b's own newer one (an hour) is covered by it, not stored.
    w.stage.publishBan({ ip, family: 4, rule: 'sshd', at: t0 - 20_000, until: null, origin: w.name });
    await waitFor('b adopted w\'s ban', () => b.bans.some((x) => x.ban.ip === ip), 3_000);
    b.stage.publishBan({ ip, family: 4, rule: 'http-403', at: t0, until: t0 + HOUR, origin: b.name });
    await waitFor('b\'s ban covered', () => b.stage.stats().bansCovered >= 1, 3_000);
    expect(await storedValue(g.admin, group, ip)).toContain(`"origin":"${w.name}"`);
    // A flood of stale unbans first (each older than w's ban too: lifts nothing), then the real one:
    // an unban made between the two bans (replayed from an outbox), which lifts w's stored ban.
    const channel = `banhammer:{${group}}:events`;
    for (let i = 0; i < 20; i++) await g.admin.publish(channel, staleUnban(ip, t0 - 30_000));
    await waitFor('flood heard', () => b.stage.stats().unbansStale >= 20, 3_000);
    const at = t0 - 10_000;
    const r = await g.admin.sendCommand(['EVAL', UNBAN_SCRIPT.source, '2', `banhammer:{${group}}:bans`, `banhammer:{${group}}:unbans`, field, encodeUnban({ ip, family: 4, origin: 'z', at }, Date.now()), channel, String(at), '100000', String(86_400_000), String(Date.now() + 2_000), '']);
    expect(Array.isArray(r) && r[0] === 1).toBe(true);
    await waitFor('b\'s own ban stored again', async () => (await storedValue(g.admin, group, ip))?.includes(`"origin":"${b.name}"`) === true, 2_500);
    const v = JSON.parse((await storedValue(g.admin, group, ip))!) as { at: number };
    expect(v.at).toBe(t0);
  }, 20_000);
});
