/**
 * Issue 11's demands tried with hostile and edge variants (values planted by anyone holding the
 * group's password, IPv6 spellings, skewed clocks, races, restarts with an outbox). Each passes today
 * and is kept as a cheap regression test.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startProxy, type RedisServer } from '../share/redis-server.js';
import { useRedisGroup, type AdminClient } from '../share/redis-group.js';
import { eventsOf, makeReplica, sleep, waitFor } from '../share/replica.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe.skipIf(!hasRedisServer)('share: hostile and edge variants of issue 11', () => {
  const g = useRedisGroup();
  const { proxies, replica } = g;
  let redis: RedisServer;
  let admin: AdminClient;
  beforeAll(() => {
    redis = g.redis;
    admin = g.admin;
  });
  const ban = (ip: string, extra: Partial<SharedBan> = {}): SharedBan => ({ ip, family: ip.includes(':') ? 6 : 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'x', ...extra });
  const msg = (ip: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Date.now();
    return { v: 1, t: 'ban', ip, family: ip.includes(':') ? 6 : 4, rule: 'http-403', at: now, until: now + HOUR, origin: 'mallory', sent: now, ...extra };
  };
  const pub = (g: string, m: Record<string, unknown> | string): Promise<number> => admin.publish(`banhammer:{${g}}:events`, typeof m === 'string' ? m : JSON.stringify(m));

  it('channel: wrong types, NaN/Infinity, negative, far-past and far-future times, oversize values are dropped and counted; a valid ban after them arrives', async () => {
    const g = 'chan-types';
    const b = await replica('b', { url: redis.url(), group: g });
    const ip = '198.18.10.1';
    const now = Date.now();
    const bad: Array<Record<string, unknown> | string> = [
      msg(ip, { v: '1' }), msg(ip, { v: 2 }), msg(ip, { t: 'BAN' }), msg(ip, { family: '4' }), msg(ip, { family: 6 }),
      msg(ip, { at: -1 }), msg(ip, { at: 1.5 }), msg(ip, { at: now + 2 * DAY }), msg(ip, { at: 253_402_300_800_000 }),
      msg(ip, { until: -5 }), msg(ip, { until: now - 1 }), msg(ip, { at: now, until: now }), msg(ip, { at: 0, until: 3652 * DAY }),
      msg(ip, { nth: 0 }), msg(ip, { nth: 1.5 }), msg(ip, { nth: 2_000_000 }), msg(ip, { nth: '3' }),
      msg(ip, { rule: 'HTTP' }), msg(ip, { rule: '' }), msg(ip, { rule: 'a:b' }), msg(ip, { rule: 'x'.repeat(65) }),
      msg(ip, { origin: '' }), msg(ip, { origin: 'a b' }), msg(ip, { origin: 7 }), msg(ip, { scope: '' }), msg(ip, { scope: 'a:b' }), msg(ip, { scope: 1 }),
      msg(ip, { sent: -1 }), msg(ip, { sent: 'now' }), msg(ip, { ip: 3232235777 }), msg(ip, { ip: ['198.18.10.1'] }),
      JSON.stringify(msg(ip)).replace(/"until":\d+/, '"until":1e400'), JSON.stringify(msg(ip)).replace(/"at":\d+/, '"at":-0.0e-5'),
      JSON.stringify(msg(ip)).replace(/"until":\d+/, '"until":NaN'), '[]', 'null', '1', '"x"', '{', '',
      JSON.stringify({ ...msg(ip), pad: 'x'.repeat(3000) }), 'x'.repeat(4 * 1024 * 1024), Buffer.from([0xff, 0xfe, 0x7b]).toString('latin1'),
      JSON.stringify(msg(ip, { rule: 'constructor' })).replace('"v":1', '"__proto__":{"v":1}'),
    ];
    for (const m of bad) await pub(g, m);
    await pub(g, msg('198.18.10.2', { until: null, at: 0, extra: { deep: [1, 2] }, unknown: true }));
    await waitFor('the valid one', () => b.bans.some((x) => x.ban.ip === '198.18.10.2'));
    expect(b.bans.map((x) => x.ban.ip)).toEqual(['198.18.10.2']);
    const invalid = Object.values(b.stage.stats().invalid).reduce((s, n) => s + n, 0);
    expect(invalid).toBe(bad.length);
  });

  it('channel: IPv6 spellings are canonicalised; zones, ports, brackets, link-local, wrong families and /0 networks are refused', async () => {
    const g = 'chan-v6';
    const b = await replica('b', { url: redis.url(), group: g });
    const cases: Array<[string, 4 | 6]> = [
      ['2001:DB8:0::1', 6], ['2001:db8:0:0:0:0:0:a', 6], ['::ffff:198.18.11.1', 4], ['::ffff:198.18.11.2', 6], ['2001:db8::2%eth0', 6], ['fe80::1', 6], ['febf::1', 6],
      ['169.254.169.254', 4], ['198.018.11.3', 4], ['0xc6.18.11.4', 4], [' 198.18.11.5', 4], ['198.18.11.6\n', 4], ['[2001:db8::b]', 6], ['198.18.11.7:80', 4],
      ['2001:db8::3/128', 6], ['198.18.11.8/32', 4], ['::/0', 6], ['0.0.0.0/0', 4], ['169.254.0.0/15', 4], ['fe80::/9', 6], ['::1', 6], ['127.0.0.1', 4], ['224.0.0.1', 4], ['ff02::1', 6],
    ];
    for (const [ip, family] of cases) await pub(g, msg(ip, { family }));
    await pub(g, msg('198.18.11.99'));
    await waitFor('the last one', () => b.bans.some((x) => x.ban.ip === '198.18.11.99'));
    const got = b.bans.map((x) => x.ban.ip);
    expect(got).toContain('2001:db8::1');
    expect(got).toContain('2001:db8::a');
    expect(got).toContain('198.18.11.1');
    // Loopback (127.0.0.1, ::1) passes the stage; every ban book allowlists it (not adopted).
    for (const ip of got) expect(ip).toMatch(/^(198\.18\.11\.(1|99)|2001:db8::(1|a)|127\.0\.0\.1|::1)$/);
  });

  it('hash: a stored `until` cjson reads as infinity, or a duplicated `until` key, covers nothing the validator would not: the new ban is stored and published', async () => {
    const g = 'stored-odd';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const now = Date.now();
    await admin.hSet(`banhammer:{${g}}:bans`, '198.18.12.1', JSON.stringify(msg('198.18.12.1')).replace(/"until":\d+/, '"until":1e400'));
    await admin.hSet(`banhammer:{${g}}:bans`, '198.18.12.2', `{"until":null,"v":1,"t":"ban","ip":"198.18.12.2","family":4,"rule":"http-403","at":${now},"until":${now + HOUR},"origin":"mallory","sent":${now}}`);
    a.stage.publishBan(ban('198.18.12.1'));
    a.stage.publishBan(ban('198.18.12.2', { rule: 'manual', until: null }));
    await waitFor('both at B', () => ['198.18.12.1', '198.18.12.2'].every((ip) => b.bans.some((x) => x.ban.ip === ip && x.ban.origin === 'a')));
    expect(a.stage.stats().bansOut).toBe(2);
    expect(JSON.parse((await admin.hGet(`banhammer:{${g}}:bans`, '198.18.12.2'))!).until).toBeNull();
  });

  it('failure window: members scored ±inf and a claim of the wrong type without expiry neither stop nor repeat the group offense', async () => {
    const g = 'win-odd';
    const a = await replica('a', { url: redis.url(), group: g });
    await admin.zAdd(`banhammer:{${g}}:fail:http-403:-:198.18.13.1`, [{ score: Infinity, value: 'p1' }, { score: -Infinity, value: 'p2' }]);
    await admin.hSet(`banhammer:{${g}}:claim:http-403:-:198.18.13.1`, 'x', 'y');
    await admin.set(`banhammer:{${g}}:fail:http-403:-:198.18.13.2`, 'poison');
    await admin.lPush(`banhammer:{${g}}:claim:http-403:-:198.18.13.2`, 'poison');
    const t = Date.now();
    for (const ip of ['198.18.13.1', '198.18.13.2']) for (let i = 0; i < 4; i++) a.stage.failure({ ip, family: 4, rule: 'http-403', time: t + i, findtime: 60_000, maxretry: 3 });
    await waitFor('two offenses', () => a.offenses.length === 2);
    await sleep(100);
    expect(a.offenses.map((o) => o.ip).sort()).toEqual(['198.18.13.1', '198.18.13.2']);
    expect(a.stage.stats().failuresDropped).toBe(0);
  });

  it('five replicas each sending maxretry failures for one address at once raise one group offense', async () => {
    const g = 'five';
    const rs = await Promise.all([1, 2, 3, 4, 5].map((i) => replica(`r${i}`, { url: redis.url(), group: g })));
    const t = Date.now();
    for (let i = 0; i < 5; i++) for (const r of rs) r.stage.failure({ ip: '2001:db8::13', family: 6, rule: 'http-403', time: t + i, findtime: 60_000, maxretry: 5 });
    await waitFor('an offense', () => rs.some((r) => r.offenses.length > 0));
    await sleep(300);
    expect(rs.reduce((s, r) => s + r.offenses.length, 0)).toBe(1);
  });

  it('epoch planted as a hash or an oversize string: the replica connects and shares', async () => {
    for (const [g, plant] of [
      ['epoch-hash', () => admin.hSet('banhammer:{epoch-hash}:epoch', 'x', 'y')],
      ['epoch-big', () => admin.set('banhammer:{epoch-big}:epoch', 'e'.repeat(100_000))],
    ] as const) {
      await plant();
      const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
      a.stage.publishBan(ban('198.18.14.1'));
      await waitFor(`ban at B (${g})`, () => b.bans.length === 1);
      expect((await admin.get(`banhammer:{${g}}:epoch`))!.length).toBeLessThanOrEqual(64);
    }
  });

  it('a replica stopped while cut off, with a ban and an unban in its outbox, delivers both after a restart under a new id', async () => {
    const g = 'outbox-restart';
    const p = await startProxy(redis.port);
    proxies.push(p);
    const b = await replica('b', { url: redis.url(), group: g });
    b.stage.publishBan(ban('198.18.17.2', { origin: 'b' }));
    const a = await replica('a', { url: `redis://127.0.0.1:${p.port}`, group: g });
    await waitFor('A adopted', () => a.bans.length === 1);
    p.cut();
    await waitFor('A offline', () => !a.stage.connected);
    a.stage.publishBan(ban('198.18.17.1'));
    expect(await a.stage.publishUnban({ ip: '198.18.17.2', family: 4 })).toBe('queued');
    await a.stage.stop();
    p.restore();
    const a2 = await replica('a2', { url: `redis://127.0.0.1:${p.port}`, group: g, outboxPath: a.outboxPath });
    await waitFor('ban and unban at B', () => b.bans.some((x) => x.ban.ip === '198.18.17.1') && b.unbans.some((u) => u.ip === '198.18.17.2'), 5_000);
    expect(a2.stage.stats().outboxDepth).toBe(0);
    expect(await admin.hExists(`banhammer:{${g}}:bans`, '198.18.17.2')).toBeFalsy();
  });
});
