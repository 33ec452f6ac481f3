/**
 * What the Lua scripts decide on a stored value and what the agent's validator says of it must agree
 * (review, suspicion 4): Lua counts bytes where JavaScript counts UTF-16 units, and a script that
 * trusts a value the validator refuses lets one hostile HSET stop the group from sharing a ban or an
 * unban. Every byte of a value in Redis is hostile: non-ASCII, invalid UTF-8, oversized, or JSON that
 * Lua's cjson reads and JSON.parse refuses.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_CHARS } from '../../../src/share/messages.js';
import type { SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from './replica.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('share stage: stored values as the scripts and the validator read them', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const replica = async (...a: Parameters<typeof startReplica>): Promise<Replica> => {
    const r = await startReplica(...a);
    replicas.push(r);
    return r;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
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
  /** A valid ban message exactly `chars` characters long (ASCII padding in an unknown key). */
  const padded = (ip: string, chars: number, padChar = 'x'): string => {
    const base = msg(ip, { pad: '' });
    return msg(ip, { pad: padChar.repeat(chars - base.length) });
  };

  it('a stored value the validator refuses does not cover a ban: the ban is stored over it and published', async () => {
    const g = 'cover';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const key = `banhammer:{${g}}:bans`;
    const values: Array<[string, string]> = [
      // Permanent to Lua's cjson; no message to the validator (no version, type, address…).
      ['198.18.7.20', '{"until":null}'],
      // A permanent ban, of another address than its field.
      ['198.18.7.21', msg('198.18.7.99', { until: null })],
      // A permanent ban from an origin no replica can have.
      ['198.18.7.22', msg('198.18.7.22', { until: null, origin: 'a b' })],
      // A number cjson reads as infinity and JSON.parse as Infinity (not a time).
      ['198.18.7.23', msg('198.18.7.23', { until: 0 }).replace('"until":0', '"until":1e999')],
      // Permanent, but longer than any message (and no script should decode 4 MB on each ban).
      ['198.18.7.24', msg('198.18.7.24', { until: null, pad: 'x'.repeat(4 << 20) })],
      // Permanent, short in characters, longer in bytes, and not ASCII.
      ['198.18.7.25', msg('198.18.7.25', { until: null, pad: 'é'.repeat(1200) })],
      ['2001:db8::7:26', msg('2001:db8::7:26', { until: null, family: 4 })],
    ];
    for (const [f, v] of values) await admin.hSet(key, f, v);
    for (const [f] of values) a.stage.publishBan(ban(f));
    await waitFor('every ban at B', () => values.every(([f]) => b.bans.some((x) => x.ban.ip === f)), 3000);
    for (const [f] of values) expect(JSON.parse((await admin.hGet(key, f))!)).toMatchObject({ ip: f, origin: 'a' });
    expect(a.stage.stats().bansCovered).toBe(0);
    // A valid stored ban that covers it still does: no second message.
    a.stage.publishBan(ban('198.18.7.20', { until: Date.now() + HOUR - 1000 }));
    await waitFor('covered', () => a.stage.stats().bansCovered === 1);
  });

  it('a stored value the validator refuses does not stop an unban: it is published and the value removed', async () => {
    const g = 'lift';
    const [a, b] = [await replica('a', { url: redis.url(), group: g }), await replica('b', { url: redis.url(), group: g })];
    const key = `banhammer:{${g}}:bans`;
    const ips = ['198.18.7.30', '198.18.7.31', '198.18.7.32'];
    for (const ip of ips) a.stage.publishBan(ban(ip));
    await waitFor('bans at B', () => ips.every((ip) => b.bans.some((x) => x.ban.ip === ip)));
    // Made "after" the unban to come (within the clocks' skew): to Lua, a newer ban that stands.
    const soon = Date.now() + 1_500;
    await admin.hSet(key, '198.18.7.30', JSON.stringify({ at: soon }));
    await admin.hSet(key, '198.18.7.31', msg('198.18.7.31', { at: soon, origin: 'no way' }));
    await admin.hSet(key, '198.18.7.32', msg('198.18.7.32', { at: soon, pad: 'x'.repeat(MAX_MESSAGE_CHARS) }));
    for (const ip of ips) b.stage.publishUnban({ ip, family: 4 });
    await waitFor('every unban at A', () => ips.every((ip) => a.unbans.some((u) => u.ip === ip)), 3000);
    for (const ip of ips) expect(await admin.hExists(key, ip)).toBeFalsy();
    expect(b.stage.stats().unbansStale).toBe(0);
  });

  it('entries that are not ASCII are pruned, invalid UTF-8 too (JavaScript\'s string of them is not their bytes)', async () => {
    const g = 'bytes';
    const key = `banhammer:{${g}}:bans`;
    const expired = msg('198.18.7.41', { at: 1000, until: 2000, sent: 1000 });
    await admin.sendCommand(['HSET', key, '198.18.7.40', Buffer.from([0xff, 0xfe, 0x7b])]);
    await admin.sendCommand(['HSET', key, '198.18.7.41', Buffer.concat([Buffer.from(expired.slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])]);
    await admin.sendCommand(['HSET', key, Buffer.from([0x31, 0x39, 0x38, 0xff]), msg('198.18.7.42')]);
    await admin.hSet(key, '198.18.7.43', msg('198.18.7.43', { pad: 'ü' }));
    await admin.hSet(key, '198.18.7.44', msg('198.18.7.44', { origin: 'other' }));
    const r = await replica('a', { url: redis.url(), group: g });
    expect(r.bans.map((x) => x.ban.ip)).toEqual(['198.18.7.44']);
    await waitFor('pruned', async () => (await admin.hLen(key)) === 1, 3000);
    expect(r.stage.stats().invalid.encoding).toBe(4);
  });

  it('a value is valid, or not, the same on the channel and in the hash: bytes and characters agree at the length cap', async () => {
    const g = 'cap';
    const key = `banhammer:{${g}}:bans`;
    const channel = `banhammer:{${g}}:events`;
    const live = await replica('live', { url: redis.url(), group: g });
    const values: Array<[string, string]> = [
      ['198.18.7.50', padded('198.18.7.50', MAX_MESSAGE_CHARS)],
      ['198.18.7.51', padded('198.18.7.51', MAX_MESSAGE_CHARS + 1)],
      // Fewer characters than the cap, more bytes (UTF-8): Lua counted the bytes, JavaScript the characters.
      ['198.18.7.52', padded('198.18.7.52', MAX_MESSAGE_CHARS - 300, 'é')],
      ['198.18.7.53', padded('198.18.7.53', 200, '\u{1F600}')],
    ];
    for (const [f, v] of values) {
      await admin.hSet(key, f, v);
      await admin.publish(channel, v);
    }
    await sleep(150);
    const late = await replica('late', { url: redis.url(), group: g });
    expect(live.bans.map((x) => x.ban.ip)).toEqual(['198.18.7.50']);
    expect(late.bans.map((x) => x.ban.ip)).toEqual(['198.18.7.50']);
    // Refused for the same reason too: more bytes than the cap is too long, whatever the characters.
    expect(live.stage.stats().invalid).toEqual({ 'too-long': 2, encoding: 1 });
    expect(late.stage.stats().invalid).toEqual({ 'too-long': 2, encoding: 1 });
  });
});
