/**
 * A hostile member of the group (anyone holding the group's password, or a compromised replica)
 * writes one value into the group's keys or channel. None of them may make a replica lift its own
 * bans, stop adopting or sharing bans, or grow without bound.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startProxy, type RedisServer } from './redis-server.js';
import { useRedisGroup, type AdminClient } from './redis-group.js';
import { sleep, waitFor } from './replica.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('share stage: one hostile value in the group', () => {
  const g = useRedisGroup();
  const { proxies, replica } = g;
  let redis: RedisServer;
  let admin: AdminClient;
  beforeAll(() => {
    redis = g.redis;
    admin = g.admin;
  });

  const ban = (ip: string, extra: Partial<SharedBan> = {}): SharedBan => ({
    ip,
    family: ip.includes(':') ? 6 : 4,
    rule: 'http-403',
    at: Date.now(),
    until: Date.now() + HOUR,
    origin: 'x',
    ...extra,
  });
  const msg = (ip: string, extra: Record<string, unknown> = {}): string => {
    const now = Date.now();
    return JSON.stringify({ v: 1, t: 'ban', ip, family: ip.includes(':') ? 6 : 4, rule: 'http-403', at: now, until: now + HOUR, origin: 'mallory', sent: now, ...extra });
  };

  it('a tombstone dated in the future does not make the address immune: its bans are stored and not lifted', async () => {
    const g = 'tomb';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    // Far in the future (never pruned by age), and just beyond a day (the channel's own future limit).
    await admin.zAdd('banhammer:{tomb}:unbans', [
      { score: 253_402_300_799_999, value: '198.18.7.1' },
      { score: Date.now() + 20 * HOUR, value: '2001:db8::7' },
    ]);
    a.stage.publishBan(ban('198.18.7.1'));
    a.stage.publishBan(ban('2001:db8::7'));
    await waitFor('bans at B', () => b.bans.length === 2);
    await sleep(100);
    expect(a.unbans).toEqual([]); // A's own ban was not lifted
    expect(a.stage.stats().bansUnbannedSince).toBe(0);
    expect(await admin.hExists('banhammer:{tomb}:bans', '198.18.7.1')).toBeTruthy();
  });

  it('an unban dated in the future on the channel does not make a replica ignore later bans of the address', async () => {
    const g = 'future-unban';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const now = Date.now();
    await admin.publish('banhammer:{future-unban}:events', JSON.stringify({ v: 1, t: 'unban', ip: '198.18.7.2', family: 4, origin: 'mallory', at: now + 23 * HOUR, sent: now }));
    await waitFor('the unban at B', () => b.unbans.length === 1);
    await sleep(50);
    a.stage.publishBan(ban('198.18.7.2', { at: Date.now() + 100 }));
    await waitFor('the later ban adopted at B', () => b.bans.some((x) => x.ban.ip === '198.18.7.2'));
    expect(b.stage.stats().bansStale).toBe(0);
  });

  it('a ban stamped ahead (a clock running ahead, or a hostile member) is lifted group-wide by an unban made now', async () => {
    const g = 'ahead';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    // Stored and published as a replica whose clock runs ten minutes ahead would: made in B's future.
    const value = msg('198.18.7.9', { at: Date.now() + 10 * 60_000 });
    await admin.hSet('banhammer:{ahead}:bans', '198.18.7.9', value);
    await admin.publish('banhammer:{ahead}:events', value);
    await waitFor('the ban at A and B', () => [a, b].every((r) => r.bans.some((x) => x.ban.ip === '198.18.7.9')));
    b.stage.publishUnban({ ip: '198.18.7.9', family: 4 });
    await waitFor('the unban at A', () => a.unbans.some((u) => u.ip === '198.18.7.9'));
    expect(await admin.hExists('banhammer:{ahead}:bans', '198.18.7.9')).toBeFalsy();
    expect(b.stage.stats().unbansOut).toBe(1);
    expect(b.stage.stats().unbansStale).toBe(0);
    // A replica starting later does not adopt it from the group's hash.
    const c = await replica('c', { url: redis.url(), group: g });
    await sleep(300);
    expect(c.bans.some((x) => x.ban.ip === '198.18.7.9')).toBe(false);
  });

  it('keys of the wrong type under the group (bans, unbans) are replaced: sharing keeps working', async () => {
    const g = 'wrongtype';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    await admin.set('banhammer:{wrongtype}:unbans', 'poison');
    a.stage.publishBan(ban('198.18.7.3'));
    await waitFor('ban at B despite a poisoned tombstone set', () => b.bans.some((x) => x.ban.ip === '198.18.7.3'));
    await admin.del('banhammer:{wrongtype}:bans');
    await admin.set('banhammer:{wrongtype}:bans', 'poison');
    a.stage.publishBan(ban('198.18.7.4'));
    await waitFor('ban at B despite a poisoned bans hash', () => b.bans.some((x) => x.ban.ip === '198.18.7.4'));
    b.stage.publishUnban({ ip: '198.18.7.4', family: 4 });
    await waitFor('unban at A', () => a.unbans.some((u) => u.ip === '198.18.7.4'));
    await admin.set('banhammer:{wrongtype}:bans', 'poison');
    await admin.set('banhammer:{wrongtype}:unbans', 'poison');
    b.stage.publishUnban({ ip: '198.18.7.3', family: 4 });
    await waitFor('unban at A despite both poisoned', () => a.unbans.some((u) => u.ip === '198.18.7.3'));
    expect(a.stage.stats().outboxDepth + b.stage.stats().outboxDepth).toBe(0);
  });

  it('bans published straight onto the channel are adopted at most maxBans at a time', async () => {
    const g = 'chflood';
    const r = await replica('a', { url: redis.url(), group: g, maxBans: 10 });
    for (let i = 0; i < 40; i++) await admin.publish('banhammer:{chflood}:events', msg(`198.18.8.${i}`));
    await waitFor('some adopted', () => r.bans.length >= 10);
    await sleep(200);
    expect(r.bans.length).toBe(10);
    // An unban frees a place.
    await admin.publish('banhammer:{chflood}:events', JSON.stringify({ v: 1, t: 'unban', ip: '198.18.8.0', family: 4, origin: 'mallory', at: Date.now(), sent: Date.now() }));
    await admin.publish('banhammer:{chflood}:events', msg('198.18.8.100'));
    await waitFor('adopted after the unban', () => r.bans.some((x) => x.ban.ip === '198.18.8.100'));
  });

  it('a claim planted without expiry does not stop the group from reporting that offense', async () => {
    const g = 'claim';
    const a = await replica('a', { url: redis.url(), group: g });
    await admin.set('banhammer:{claim}:claim:http-403:-:198.18.7.5', 'x');
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) a.stage.failure({ ip: '198.18.7.5', family: 4, rule: 'http-403', time: t0 + i, findtime: 60_000, maxretry: 3 });
    await waitFor('the offense', () => a.offenses.length === 1);
    expect(await admin.pTTL('banhammer:{claim}:claim:http-403:-:198.18.7.5')).toBeGreaterThan(0);
  });

  it("a failure planted minutes ahead in the group's window does not keep the group's count from reaching maxretry", async () => {
    const g = 'ahead-failure';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const key = 'banhammer:{ahead-failure}:fail:http-403:-:198.18.7.6';
    // Less than the 5 minutes a log line may be late (MAX_LATE_MS), more than the minute a live log
    // time may be ahead of the agent's clock: no replica sends that.
    await admin.zAdd(key, { score: Date.now() + 4 * 60_000, value: 'mallory:1' });
    const t0 = Date.now();
    for (let i = 0; i < 2; i++) a.stage.failure({ ip: '198.18.7.6', family: 4, rule: 'http-403', time: t0 + i, findtime: 60_000, maxretry: 3 });
    b.stage.failure({ ip: '198.18.7.6', family: 4, rule: 'http-403', time: t0 + 2, findtime: 60_000, maxretry: 3 });
    await waitFor('the offense', () => a.offenses.length + b.offenses.length === 1);
    expect([...a.offenses, ...b.offenses][0]!.failures).toBe(3);
  });

  it("a failure stamped ahead by less than a live line may be (but more than the rule's window) does not shield the group's count", async () => {
    // findtime 10 s: a member 50 s ahead (within the minute a live log time may run ahead of the
    // agent's clock), then three current failures.
    const g = 'ahead-window';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const key = 'banhammer:{ahead-window}:fail:http-403:-:198.18.7.7';
    const t0 = Date.now();
    await admin.zAdd(key, { score: t0 + 50_000, value: 'mallory:1' });
    for (let i = 0; i < 2; i++) a.stage.failure({ ip: '198.18.7.7', family: 4, rule: 'http-403', time: t0 + i * 1000, findtime: 10_000, maxretry: 3 });
    b.stage.failure({ ip: '198.18.7.7', family: 4, rule: 'http-403', time: t0 + 2000, findtime: 10_000, maxretry: 3 });
    await waitFor('the offense', () => a.offenses.length + b.offenses.length === 1);
    expect([...a.offenses, ...b.offenses][0]!.failures).toBe(3);
  });

  it('failures planted ahead, however many, are not counted: they neither frame the address nor stop it from being counted', async () => {
    const g = 'ahead-flood';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const key = 'banhammer:{ahead-flood}:fail:http-403:-:198.18.7.8';
    const t0 = Date.now();
    // 80 members 15–55 s ahead: more than a window keeps ahead (MAX_FUTURE_MEMBERS).
    for (let i = 0; i < 80; i++) await admin.zAdd(key, { score: t0 + 15_000 + i * 500, value: `mallory:${i}` });
    for (let i = 0; i < 2; i++) a.stage.failure({ ip: '198.18.7.8', family: 4, rule: 'http-403', time: t0 + i * 1000, findtime: 10_000, maxretry: 3 });
    await sleep(500);
    expect(a.offenses.length + b.offenses.length).toBe(0);
    b.stage.failure({ ip: '198.18.7.8', family: 4, rule: 'http-403', time: t0 + 2000, findtime: 10_000, maxretry: 3 });
    await waitFor('the offense', () => a.offenses.length + b.offenses.length === 1);
    expect([...a.offenses, ...b.offenses][0]!.failures).toBe(3);
  });

  it('a message stamped as sent decades ago does not make the propagation histogram a lie (its sum)', async () => {
    const g = 'lag';
    const a = await replica('a', { url: redis.url(), group: g });
    await admin.publish('banhammer:{lag}:events', msg('198.18.7.7', { sent: 0 }));
    await waitFor('the ban at A', () => a.bans.length === 1);
    // At most a minute per message: the largest bucket is 5 s; beyond it, it only says the clocks are apart.
    expect(a.lags).toHaveLength(1);
    expect(a.lags[0]).toBeLessThanOrEqual(60_000);
  });

  it('a hash flooded with junk past what a replica reads does not lift the bans it did not get to on a reconnection', async () => {
    const g = 'scanflood';
    const p = await startProxy(redis.port);
    proxies.push(p);
    const good: Record<string, string> = {};
    for (let i = 0; i < 5; i++) good[`198.18.9.${i}`] = msg(`198.18.9.${i}`, { origin: 'other' });
    await admin.hSet('banhammer:{scanflood}:bans', good);
    const r = await replica('a', { url: `redis://127.0.0.1:${p.port}`, group: g, maxBans: 5 });
    expect(r.bans.map((x) => x.ban.ip).sort()).toEqual(['198.18.9.0', '198.18.9.1', '198.18.9.2', '198.18.9.3', '198.18.9.4']);
    const flood: Record<string, string> = {};
    for (let i = 0; i < 20_000; i++) flood[`198.19.${i >> 8}.${i & 255}`] = 'not json';
    await admin.hSet('banhammer:{scanflood}:bans', flood);
    p.cut();
    await waitFor('offline', () => !r.stage.connected);
    p.restore();
    await waitFor('back', () => r.stage.connected, 5_000);
    await waitFor('the junk read', () => (r.stage.stats().invalid.json ?? 0) > 5010, 10_000);
    await sleep(300);
    expect(r.unbans).toEqual([]);
  });
});
