/**
 * The share stage against a real redis-server on a private port: shared counting, propagation
 * (latency measured), unban, no echo, late joiners, ACL isolation, poisoned keys and channel.
 * (Outage and restart-empty are in outage.test.ts, with their own server.)
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURES_SCRIPT } from '../../../src/share/lua.js';
import { shareAclLine, type SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { percentile, removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from './replica.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('share stage with a real redis-server', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const replica = async (...a: Parameters<typeof startReplica>): Promise<Replica> => {
    const r = await startReplica(...a);
    replicas.push(r);
    return r;
  };

  beforeAll(async () => {
    redis = await startRedisServer({ aclLines: [shareAclLine('shop', 'shop-secret'), shareAclLine('blog', 'blog-secret')] });
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  });

  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    removeReplicaDirs();
  });

  const ban = (ip: string, origin: string, extra: Partial<SharedBan> = {}): SharedBan => ({
    ip,
    family: ip.includes(':') ? 6 : 4,
    rule: 'http-403',
    at: Date.now(),
    until: Date.now() + HOUR,
    origin,
    ...extra,
  });

  it('3 failures at A and 2 at B within findtime make exactly one group offense', async () => {
    const g = 'count';
    const [a, b, c] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g }), await replica('c', { url: redis.url(), group: g })];
    expect(a.stage.connected && b.stage.connected && c.stage.connected).toBe(true);
    const t0 = Date.UTC(2026, 0, 1, 12);
    const f = (r: Replica, dt: number): void => r.stage.failure({ ip: '198.19.113.7', family: 4, rule: 'http-403', time: t0 + dt, findtime: 60_000, maxretry: 5 });
    f(a, 0);
    f(b, 1000);
    f(a, 2000);
    f(b, 3000);
    await sleep(100);
    expect([...a.offenses, ...b.offenses, ...c.offenses]).toEqual([]);
    f(a, 4000);
    await waitFor('the offense', () => a.offenses.length + b.offenses.length > 0);
    await sleep(100);
    const all = [...a.offenses, ...b.offenses, ...c.offenses];
    expect(all).toEqual([{ ip: '198.19.113.7', family: 4, rule: 'http-403', at: t0 + 4000, failures: 5 }]);
    expect(a.offenses).toHaveLength(1);
    // The window and claim keys live under the group's hash tag.
    const keys = await admin.keys('*');
    expect(keys.every((k) => k.startsWith('banhammer:{count}:'))).toBe(true);
  });

  it('keeps the window exact in log time (newest - findtime, newest], shared by replicas and rules apart', async () => {
    const g = 'window';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const t0 = Date.UTC(2026, 0, 1, 12);
    const f = (r: Replica, dt: number, rule = 'http-403', ip = '2001:db8::1'): void => r.stage.failure({ ip, family: 6, rule, time: t0 + dt, findtime: 60_000, maxretry: 5 });
    f(a, 0);
    f(b, 1000);
    f(a, 2000);
    f(b, 3000);
    f(a, 3500, 'other-rule');
    f(b, 3600, 'http-403', '2001:db8::2');
    await sleep(50);
    f(b, 60_000); // window (0, 60000]: 1000, 2000, 3000, 60000 (the failure at exactly newest - findtime is out)
    await sleep(100);
    expect(a.offenses.length + b.offenses.length).toBe(0);
    f(a, 60_500, 'http-403', '2001:0db8:0:0::1'); // another spelling of the same address
    await waitFor('the offense', () => a.offenses.length + b.offenses.length === 1);
    expect(a.offenses[0]).toMatchObject({ ip: '2001:db8::1', family: 6, failures: 5, at: t0 + 60_500 });
  });

  it('N replicas crossing at once raise one offense, not a storm', async () => {
    const g = 'storm';
    const rs = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g }), await replica('c', { url: redis.url(), group: g })];
    const t0 = Date.UTC(2026, 0, 1, 12);
    for (let i = 0; i < 10; i++) for (const r of rs) r.stage.failure({ ip: '198.19.51.9', family: 4, rule: 'http-403', time: t0 + i, findtime: 60_000, maxretry: 5 });
    await sleep(300);
    expect(rs.reduce((n, r) => n + r.offenses.length, 0)).toBe(1);
  });

  it('bans reach the other replicas within 100 ms at p99, never echo, and unbans follow', async () => {
    const g = 'propagate';
    const [a, b, c] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g }), await replica('c', { url: redis.url(), group: g })];
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const ip = `198.18.${100 + (i >> 8)}.${i & 255}`;
      const got = new Promise<number>((resolve) => {
        b.onBan = (x) => {
          if (x.ip === ip) resolve(performance.now());
        };
      });
      const t = performance.now();
      a.stage.publishBan(ban(ip, 'ignored-origin', { nth: 1 }));
      lat.push((await got) - t);
    }
    await waitFor('all at C', () => c.bans.length === 200);
    lat.sort((x, y) => x - y);
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    console.log(`share propagation A→B over 200 bans: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${lat[lat.length - 1]!.toFixed(2)} ms`);
    expect(p99).toBeLessThan(100);
    expect(b.lags).toHaveLength(200);
    expect(b.lags.every((ms) => ms >= 0 && ms < 1_000)).toBe(true);
    await waitFor('own messages back at A', () => a.stage.stats().echoes === 200);
    expect(a.bans).toHaveLength(0); // no echo
    expect(b.bans[0]!.ban).toMatchObject({ ip: '198.18.100.0', family: 4, rule: 'http-403', origin: 'a', nth: 1 });
    expect((await c.stage.snapshot(Date.now())).length).toBe(200);

    // Publishing the same ban again (another replica's book banning the same attacker a moment later,
    // so with an expiry a few ms later) is covered: no message. A longer ban (next bantime step) is not.
    a.stage.publishBan(ban('198.18.100.0', 'a', { until: Date.now() + 60_000 }));
    await sleep(5);
    b.stage.publishBan(ban('198.18.100.0', 'b', { until: Date.now() + HOUR + 50 }));
    await sleep(100);
    expect(b.bans.filter((x) => x.ban.ip === '198.18.100.0')).toHaveLength(1);
    expect(a.bans).toHaveLength(0);
    expect(a.stage.stats().bansCovered + b.stage.stats().bansCovered).toBe(2);
    b.stage.publishBan(ban('198.18.100.0', 'b', { until: Date.now() + 2 * HOUR, nth: 2 }));
    await waitFor('the longer ban at A', () => a.bans.length === 1);
    expect(a.bans[0]!.ban).toMatchObject({ ip: '198.18.100.0', origin: 'b', nth: 2 });

    b.stage.publishUnban({ ip: '198.18.100.5', family: 4 });
    await waitFor('unban at A and C', () => a.unbans.length === 1 && c.unbans.length === 1);
    expect(a.unbans[0]).toEqual({ ip: '198.18.100.5', family: 4, origin: 'b', at: expect.any(Number) });
    expect(b.unbans).toHaveLength(0);
    const snap = await a.stage.snapshot(Date.now());
    expect(snap.some((x) => x.ip === '198.18.100.5')).toBe(false);
    expect(snap).toHaveLength(199);
    // A fresh ban right after the unban (the attacker is back) is not taken for a stale re-publication.
    a.stage.publishBan(ban('198.18.100.5', 'a'));
    await waitFor('fresh ban at C', () => c.bans.filter((x) => x.ban.ip === '198.18.100.5').length === 2);
    expect(b.bans.filter((x) => x.ban.ip === '198.18.100.5')).toHaveLength(2);
  });

  it('a late joiner receives the stored bans on connection; expired ones are pruned', async () => {
    const g = 'late';
    const a = await replica('a', { url: redis.url(), group: g });
    a.stage.publishBan(ban('198.19.2.1', 'a'));
    a.stage.publishBan(ban('198.19.2.2', 'a', { scope: 'c0ffee', until: null }));
    await waitFor('stored', async () => (await admin.hLen('banhammer:{late}:bans')) === 2);
    // An expired entry written by a replica long gone.
    await admin.hSet('banhammer:{late}:bans', '198.19.2.3', JSON.stringify({ v: 1, t: 'ban', ip: '198.19.2.3', family: 4, rule: 'x', at: 1000, until: 2000, origin: 'old', sent: 1000 }));
    const d = await replica('d', { url: redis.url(), group: g });
    expect(d.bans.map((x) => x.ban.ip).sort()).toEqual(['198.19.2.1', '198.19.2.2']);
    expect(d.bans.find((x) => x.ban.ip === '198.19.2.2')!.ban).toMatchObject({ scope: 'c0ffee', until: null });
    await waitFor('pruned', async () => !(await admin.hExists('banhammer:{late}:bans', '198.19.2.3')));
  });

  it('a restricted ACL user works fully in its own group and cannot touch another group', async () => {
    const shopUrl = redis.url('shop', 'shop-secret');
    const [a, b] = [await replica('shop-a', { url: shopUrl, group: 'shop' }), await replica('shop-b', { url: shopUrl, group: 'shop' })];
    expect(a.stage.connected && b.stage.connected).toBe(true);
    const t0 = Date.UTC(2026, 0, 1, 12);
    for (let i = 0; i < 3; i++) a.stage.failure({ ip: '198.19.113.50', family: 4, rule: 'http-403', time: t0 + i, findtime: 60_000, maxretry: 5 });
    for (let i = 3; i < 5; i++) b.stage.failure({ ip: '198.19.113.50', family: 4, rule: 'http-403', time: t0 + i, findtime: 60_000, maxretry: 5 });
    await waitFor('offense', () => a.offenses.length + b.offenses.length === 1);
    a.stage.publishBan(ban('198.19.113.50', 'shop-a'));
    await waitFor('ban at B', () => b.bans.length === 1);
    b.stage.publishUnban({ ip: '198.19.113.50', family: 4 });
    await waitFor('unban at A', () => a.unbans.length === 1);
    expect(await a.stage.snapshot(Date.now())).toEqual([]);
    expect(a.logs.filter((l) => l.level !== 'info')).toEqual([]);

    // The blog tenant's data, and what user shop may do to it: nothing.
    await admin.hSet('banhammer:{blog}:bans', '198.19.2.77', JSON.stringify({ v: 1, t: 'ban', ip: '198.19.2.77', family: 4, rule: 'x', at: Date.now(), until: null, origin: 'blog-a', sent: Date.now() }));
    const shop = createClient({ url: shopUrl, disableClientInfo: true, maintNotifications: 'disabled' });
    shop.on('error', () => undefined);
    await shop.connect();
    try {
      await expect(shop.hGetAll('banhammer:{blog}:bans')).rejects.toThrow(/NOPERM/);
      await expect(shop.hDel('banhammer:{blog}:bans', '198.19.2.77')).rejects.toThrow(/NOPERM/);
      await expect(shop.publish('banhammer:{blog}:events', '{}')).rejects.toThrow(/NOPERM/);
      await expect(shop.keys('*')).rejects.toThrow(/NOPERM/);
      await expect(shop.sendCommand(['EVAL', "return redis.call('HGET', 'banhammer:{blog}:bans', '198.19.2.77')", '0'])).rejects.toThrow(/can't access/);
      await expect(shop.sendCommand(['EVAL', "return redis.call('HDEL', KEYS[1], '198.19.2.77')", '1', 'banhammer:{blog}:bans'])).rejects.toThrow(/NOPERM/);
      await expect(shop.sendCommand(['EVAL', "return redis.call('PUBLISH', 'banhammer:{blog}:events', '{}')", '0'])).rejects.toThrow(/can't publish/);
    } finally {
      await shop.close();
    }
    // A replica configured with user shop but group blog stays offline, never throws, never writes.
    const intruder = await replica('intruder', { url: shopUrl, group: 'blog' });
    expect(intruder.stage.connected).toBe(false);
    expect(() => intruder.stage.publishBan(ban('198.19.2.78', 'intruder'))).not.toThrow();
    expect(() => intruder.stage.failure({ ip: '198.19.2.78', family: 4, rule: 'x', time: t0, findtime: 1000, maxretry: 1 })).not.toThrow();
    expect(await intruder.stage.snapshot(Date.now())).toEqual([]);
    expect(intruder.statuses).toEqual([{ connected: false, error: expect.stringMatching(/NOPERM|permission/i) }]);
    expect(await admin.hKeys('banhammer:{blog}:bans')).toEqual(['198.19.2.77']);
    // The blog user, in its own group, sees its ban.
    const blog = await replica('blog-b', { url: redis.url('blog', 'blog-secret'), group: 'blog' });
    expect(blog.bans.map((x) => x.ban.ip)).toEqual(['198.19.2.77']);
  });

  it('reads the password from a file (Docker secret, trailing newline)', async () => {
    const pwFile = join(redis.dir, 'shop.secret');
    await writeFile(pwFile, 'shop-secret\n');
    const r = await replica('pw', { url: `redis://shop@127.0.0.1:${redis.port}`, passwordFile: pwFile, group: 'shop' });
    expect(r.stage.connected).toBe(true);
  });

  it('ignores hostile values in the hash and on the channel, never crashes, keeps working', async () => {
    const g = 'hostile';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const now = Date.now();
    const good = { v: 1, t: 'ban', ip: '198.19.2.10', family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: 'x', sent: now };
    const poison: Array<[string, string]> = [
      ['198.19.2.11', 'not json'],
      ['198.19.2.12', JSON.stringify({ ...good, ip: '198.19.2.12; rm -rf /' })],
      ['198.19.2.13', JSON.stringify({ ...good, ip: '198.19.2.13', family: 6 })],
      ['198.19.2.14', JSON.stringify({ ...good, ip: '198.19.2.99' })], // field and address disagree
      ['198.19.2.15', JSON.stringify({ ...good, ip: '198.19.2.15', until: 1e300 })],
      ['198.19.2.16', JSON.stringify({ ...good, ip: '198.19.2.16', at: 'yesterday' })],
      ['198.19.2.17', JSON.stringify({ ...good, ip: '198.19.2.17', rule: 'x'.repeat(500) })],
      ['198.19.2.18', 'x'.repeat(100_000)],
      ['__proto__', JSON.stringify({ ...good, ip: '__proto__' })],
      ['224.0.0.1', JSON.stringify({ ...good, ip: '224.0.0.1' })],
      ['198.19.2.19', JSON.stringify([1, 2, 3])],
      ['198.19.2.20', JSON.stringify({ ...good, ip: '198.19.2.20', origin: 'a b\n' })],
      ['198.19.2.21', JSON.stringify({ ...good, ip: '198.19.2.21', nth: -1 })],
      ['198.19.2.10', JSON.stringify(good)],
    ];
    for (const [f, v] of poison) await admin.hSet('banhammer:{hostile}:bans', f, v);
    // On the channel, the entry whose field disagrees is a valid message (there is no field): left out.
    const channelPoison = poison.filter(([f]) => f !== '198.19.2.14' && f !== '198.19.2.10');
    for (const [, v] of channelPoison) await admin.publish('banhammer:{hostile}:events', v);
    await admin.publish('banhammer:{hostile}:events', JSON.stringify({ ...good, t: 'unban', ip: '::ffff:198.19.1.4', family: 6 }));
    await sleep(100);
    expect(a.bans.map((x) => x.ban)).toEqual([]);
    expect(a.unbans).toHaveLength(0);
    const invalidA = Object.values(a.stage.stats().invalid).reduce((x, y) => x + y, 0);
    expect(invalidA).toBe(channelPoison.length + 1);
    const snap = await b.stage.snapshot(Date.now());
    expect(snap.map((x) => x.ip)).toEqual(['198.19.2.10']);
    // Invalid and oversized entries were removed while reading; the good one stays.
    await waitFor('pruned', async () => (await admin.hLen('banhammer:{hostile}:bans')) === 1);

    // Wrong types under the group's keys: errors are contained, the window key is replaced.
    await admin.set('banhammer:{hostile}:fail:http-403:-:198.19.2.30', 'poison');
    a.stage.failure({ ip: '198.19.2.30', family: 4, rule: 'http-403', time: now, findtime: 60_000, maxretry: 1 });
    await waitFor('offense despite the poisoned window', () => a.offenses.length === 1);
    await admin.del('banhammer:{hostile}:bans');
    await admin.set('banhammer:{hostile}:bans', 'not a hash');
    expect(() => a.stage.publishBan({ ...good, ip: '198.19.2.31', family: 4, origin: 'a', until: now + HOUR })).not.toThrow();
    // The wrong-typed hash is replaced (it held no ban), so the ban is stored after all.
    await waitFor('the ban stored over the poisoned hash', async () => (await a.stage.snapshot(Date.now())).map((x) => x.ip).join() === '198.19.2.31');
    await admin.del('banhammer:{hostile}:bans');
    // Still working.
    a.stage.publishBan({ ip: '198.19.2.32', family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: 'a' });
    await waitFor('ban at B', () => b.bans.some((x) => x.ban.ip === '198.19.2.32'));
    expect(a.stage.connected && b.stage.connected).toBe(true);
  });

  it('holds at most maxBans: a flooded hash is read up to the cap and new bans are refused', async () => {
    const g = 'flood';
    const now = Date.now();
    const entries: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) {
      const ip = `198.18.${120 + (i >> 8)}.${i & 255}`;
      entries[ip] = JSON.stringify({ v: 1, t: 'ban', ip, family: 4, rule: 'r', at: now, until: now + HOUR, origin: 'flooder', sent: now });
    }
    await admin.hSet('banhammer:{flood}:bans', entries);
    const r = await replica('a', { url: redis.url(), group: g, maxBans: 1000 });
    expect(r.bans).toHaveLength(1000);
    expect(r.logs.some((l) => /more than 1000 bans/.test(l.msg))).toBe(true);
    r.stage.publishBan(ban('198.19.2.200', 'a'));
    await waitFor('refused', () => r.stage.stats().bansRefusedFull === 1);
    expect(await admin.hExists('banhammer:{flood}:bans', '198.19.2.200')).toBeFalsy();
  });

  it('a new replica loads 100,000 shared bans (measured)', async () => {
    const g = 'load';
    const now = Date.now();
    for (let c = 0; c < 100; c++) {
      const entries: Record<string, string> = {};
      for (let i = 0; i < 1000; i++) {
        const n = c * 1000 + i;
        const ip = `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
        entries[ip] = JSON.stringify({ v: 1, t: 'ban', ip, family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: 'other', sent: now, nth: 1 });
      }
      await admin.hSet('banhammer:{load}:bans', entries);
    }
    const t = performance.now();
    const r = await replica('a', { url: redis.url(), group: g });
    await waitFor('all delivered', () => r.bans.length === 100_000, 20_000);
    const ms = performance.now() - t;
    console.log(`share: a new replica connected and received 100,000 shared bans in ${ms.toFixed(0)} ms`);
    expect(r.bans).toHaveLength(100_000);
    expect(ms).toBeLessThan(10_000);
    const t2 = performance.now();
    expect(await r.stage.snapshot(Date.now())).toHaveLength(100_000);
    console.log(`share: snapshot() of 100,000 shared bans in ${(performance.now() - t2).toFixed(0)} ms`);
  }, 60_000);

  it('measures the round trip of counting one failure', async () => {
    const g = 'cost';
    const a = await replica('a', { url: redis.url(), group: g });
    const t0 = Date.UTC(2026, 0, 1, 12);
    // Sequential: the stage's script, one call at a time, waiting for each reply (an idle agent).
    const before = a.stage.stats().failuresSent;
    const seq = 500;
    let start = performance.now();
    for (let i = 0; i < seq; i++) {
      const k = `banhammer:{cost}:fail:http-403:-:198.18.${200 + (i >> 8)}.${i & 255}`;
      await admin.sendCommand(['EVAL', FAILURES_SCRIPT.source, '2', k, `${k}:claim`, '300000', '5000', String(Date.now() + 62_000), String(t0 + i), '60000', '1000', `m${i}`, '400000']);
    }
    const seqMs = (performance.now() - start) / seq;
    // Pipelined: a burst from one agent (node-redis pipelines commands issued in one tick).
    const burst = 20_000;
    start = performance.now();
    for (let i = 0; i < burst; i++) a.stage.failure({ ip: `198.19.${128 + (i >> 8)}.${i & 255}`, family: 4, rule: 'http-403', time: t0 + i, findtime: 60_000, maxretry: 1_000 });
    await waitFor('burst counted', async () => (await admin.dbSize()) >= seq + Math.min(burst, 65_536) - 10, 30_000);
    const burstMs = performance.now() - start;
    console.log(
      `share count cost: ${seqMs.toFixed(3)} ms per failure one at a time (EVAL round trip), ${((burst / burstMs) * 1000).toFixed(0)} failures/s pipelined from one agent (${burst} in ${burstMs.toFixed(0)} ms)`,
    );
    expect(a.stage.stats().failuresSent - before).toBe(burst);
    expect(a.stage.stats().failuresDropped).toBe(0);

    // Three agents at once, each a burst of failures from 1,000 addresses (windows that fill up, trim and claim).
    const rs = [a, await replica('b', { url: redis.url(), group: g }), await replica('c', { url: redis.url(), group: g })];
    const per = 20_000;
    const offensesBefore = rs.reduce((n, r) => n + r.offenses.length, 0);
    start = performance.now();
    rs.forEach((r, k) => {
      for (let i = 0; i < per; i++) r.stage.failure({ ip: `198.19.${(i % 1000) >> 8}.${(i % 1000) & 255}`, family: 4, rule: 'http-403', time: t0 + 1_000_000 + i * 3 + k, findtime: 600_000, maxretry: 20 });
    });
    await waitFor('3 agents counted', () => rs.reduce((n, r) => n + r.stage.stats().failuresSent, 0) >= 3 * per + burst && rs.every((r) => r.stage.stats().inFlight === 0), 60_000);
    const threeMs = performance.now() - start;
    const offenses = rs.reduce((n, r) => n + r.offenses.length, 0) - offensesBefore;
    console.log(`share count throughput: ${((3 * per) / threeMs * 1000).toFixed(0)} failures/s from 3 agents into one Redis (${3 * per} in ${threeMs.toFixed(0)} ms; ${offenses} group offenses for 1,000 addresses)`);
    expect(offenses).toBe(1000);
  });
});
