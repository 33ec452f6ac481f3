/**
 * Audit round 4 of issue 11: share messages were unsigned, so anyone who can write to the group's
 * keys (another client of a Redis without per-group ACL users, a leaked password) could ban any
 * address on every replica. With BANHAMMER_SHARE_KEY_FILE every ban and unban is signed
 * (src/share/signing.ts), and what is not signed with the group's key is refused and counted.
 * Against a real redis-server, the replicas logged in as the group's restricted ACL user.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { shareAclLine, type ShareSettings } from '../../../src/share/share.js';
import { createSigner } from '../../../src/share/signing.js';
import { makeReplica, eventsOf, removeReplicaDirs, sleep, waitFor, type Replica } from '../share/replica.js';
import { startR4Redis, type R4Redis } from './redis.js';

const HOUR = 3_600_000;
const KEY = 'k3y-of-the-shop-group-0123456789abcdef';

describe.skipIf(!hasRedisServer)('share: signed messages (BANHAMMER_SHARE_KEY_FILE)', () => {
  let srv: R4Redis | undefined;
  let admin: ReturnType<typeof createClient>;
  let dir = '';
  let keyFile = '';
  const replicas: Replica[] = [];
  const url = () => srv!.url('shop', 'shop-pw');
  const start = async (name: string, extra: Partial<ShareSettings> = {}): Promise<Replica> => {
    const r = makeReplica(name, { url: url(), group: 'shop', keyFile, ...extra });
    replicas.push(r);
    await r.stage.start(eventsOf(r));
    return r;
  };
  const ban = (ip: string, origin: string) => ({ ip, family: (ip.includes(':') ? 6 : 4) as 4 | 6, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin });
  const heard = (r: Replica, ip: string) => r.bans.some((b) => b.ban.ip === ip);
  const msg = (ip: string, over: Record<string, unknown> = {}) => JSON.stringify({ v: 1, t: 'ban', ip, family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'mallory', sent: Date.now(), ...over });

  beforeAll(async () => {
    srv = await startR4Redis({ aclLines: [shareAclLine('shop', 'shop-pw')] });
    admin = createClient({ url: srv.url(), disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
    dir = mkdtempSync('/tmp/h4/key-');
    keyFile = join(dir, 'share.key');
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await srv?.stop();
    removeReplicaDirs();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('replicas holding the key share bans and unbans as before, on the channel and through the hash (late joiner); the stored value is signed', async () => {
    const a = await start('a1');
    const b = await start('b1');
    a.stage.publishBan(ban('198.18.50.1', 'a1'));
    await waitFor('the ban at b', () => heard(b, '198.18.50.1'), 3000);
    const stored = await admin.hGet('banhammer:{shop}:bans', '198.18.50.1');
    expect(stored).toMatch(/,"mac":"[0-9a-f]{64}"\}$/);
    const late = await start('late1');
    await waitFor('the ban at the late joiner', () => heard(late, '198.18.50.1'), 3000);
    expect(await b.stage.publishUnban({ ip: '198.18.50.1', family: 4 })).toBe('lifted');
    await waitFor('the unban at a', () => a.unbans.some((u) => u.ip === '198.18.50.1'), 3000);
    expect(a.stage.stats().invalid.signature ?? 0).toBe(0);
  });

  it('unsigned, badly signed, signed with another key, or signed for another group: refused on the channel and counted; a signed ban after them arrives', async () => {
    const a = await start('a2');
    const other = createSigner(Buffer.from('another-key-0123456789abcdef'), 'shop');
    const otherGroup = createSigner(Buffer.from(KEY), 'shop2');
    const mine = createSigner(Buffer.from(KEY), 'shop');
    const forged = mine.sign(msg('198.18.51.4')).replace('198.18.51.4', '198.18.51.5');
    const badHex = msg('198.18.51.6').slice(0, -1) + `,"mac":"${'0'.repeat(64)}"}`;
    for (const m of [msg('198.18.51.1'), other.sign(msg('198.18.51.2')), otherGroup.sign(msg('198.18.51.3')), forged, badHex]) await admin.publish('banhammer:{shop}:events', m);
    // a valid signature over a message the validator refuses is still refused (for its own reason)
    await admin.publish('banhammer:{shop}:events', mine.sign(msg('0.0.0.0')));
    await admin.publish('banhammer:{shop}:events', mine.sign(msg('198.18.51.9')));
    await waitFor('the signed ban', () => heard(a, '198.18.51.9'), 3000);
    expect(a.bans.map((b) => b.ban.ip)).toEqual(['198.18.51.9']);
    expect(a.stage.stats().invalid.signature).toBe(5);
    expect(a.stage.stats().invalid.ip).toBe(1);
  });

  it('an unsigned ban planted in the hash is not adopted by a joining replica and is pruned; an unsigned unban lifts nothing', async () => {
    await admin.hSet('banhammer:{shop}:bans', '198.18.52.1', msg('198.18.52.1'));
    const a = await start('a3');
    const b = await start('b3');
    await sleep(300);
    expect(heard(a, '198.18.52.1')).toBe(false);
    expect(await admin.hExists('banhammer:{shop}:bans', '198.18.52.1')).toBe(0);
    a.stage.publishBan(ban('198.18.52.2', 'a3'));
    await waitFor('the ban at b', () => heard(b, '198.18.52.2'), 3000);
    await admin.publish('banhammer:{shop}:events', JSON.stringify({ v: 1, t: 'unban', ip: '198.18.52.2', family: 4, origin: 'mallory', at: Date.now(), sent: Date.now() }));
    await sleep(200);
    expect(b.unbans.some((u) => u.ip === '198.18.52.2')).toBe(false);
  });

  it('an unsigned value stored over an address does not keep a signed ban of it from being stored and published', async () => {
    const a = await start('a4');
    const b = await start('b4');
    await admin.hSet('banhammer:{shop}:bans', '198.18.53.1', msg('198.18.53.1', { until: null }));
    a.stage.publishBan(ban('198.18.53.1', 'a4'));
    await waitFor('the ban at b', () => heard(b, '198.18.53.1'), 3000);
    expect(b.bans.filter((x) => x.ban.ip === '198.18.53.1').map((x) => x.ban.origin)).toEqual(['a4']);
    expect(createSigner(Buffer.from(KEY), 'shop').verify((await admin.hGet('banhammer:{shop}:bans', '198.18.53.1'))!)).toBe(true);
  });

  it('a replica without the key (or with another) is no member: its bans are refused by the replicas that hold it', async () => {
    const a = await start('a5');
    const stranger = makeReplica('stranger5', { url: url(), group: 'shop' });
    replicas.push(stranger);
    await stranger.stage.start(eventsOf(stranger));
    stranger.stage.publishBan(ban('198.18.54.1', 'stranger5'));
    await waitFor('counted as unsigned', () => (a.stage.stats().invalid.signature ?? 0) >= 1, 3000);
    expect(heard(a, '198.18.54.1')).toBe(false);
  });

  it('a key file that is missing, or shorter than 16 bytes, stops start-up with a clear error', async () => {
    const short = join(dir, 'short.key');
    writeFileSync(short, 'tooshort\n');
    const r1 = makeReplica('x6', { url: url(), group: 'shop', keyFile: short });
    await expect(r1.stage.start(eventsOf(r1))).rejects.toThrow(/shorter than 16 bytes/);
    const r2 = makeReplica('y6', { url: url(), group: 'shop', keyFile: join(dir, 'missing.key') });
    await expect(r2.stage.start(eventsOf(r2))).rejects.toThrow(/cannot read the share key file/);
  });

  it('the signature is HMAC-SHA256 over the group and the message (documented wire format)', () => {
    const body = msg('198.18.55.1');
    const signed = createSigner(Buffer.from(KEY), 'shop').sign(body);
    const mac = createHmac('sha256', KEY).update(`banhammer-share-v1\nshop\n${body}`).digest('hex');
    expect(signed).toBe(`${body.slice(0, -1)},"mac":"${mac}"}`);
    expect(JSON.parse(signed).ip).toBe('198.18.55.1');
  });
});

describe.skipIf(!hasRedisServer)('share: signed messages replayed', () => {
  let srv: R4Redis | undefined;
  let admin: ReturnType<typeof createClient>;
  let dir = '';
  let keyFile = '';
  const replicas: Replica[] = [];
  beforeAll(async () => {
    srv = await startR4Redis();
    admin = createClient({ url: srv.url(), disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
    dir = mkdtempSync('/tmp/h4/key-');
    keyFile = join(dir, 'share.key');
    writeFileSync(keyFile, KEY, { mode: 0o600 });
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await srv?.stop();
    removeReplicaDirs();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('a signed ban recorded off the channel and published again a minute later (after an unban) is refused at a replica that never heard the unban', async () => {
    const a = makeReplica('a7', { url: srv!.url(), group: 'rp', keyFile });
    replicas.push(a);
    await a.stage.start(eventsOf(a));
    const signer = createSigner(Buffer.from(KEY), 'rp');
    const now = Date.now();
    // what the channel carried 2 minutes ago: a 1-hour ban, signed by a member
    const old = signer.sign(JSON.stringify({ v: 1, t: 'ban', ip: '198.18.56.1', family: 4, rule: 'http-403', at: now - 120_000, until: now + HOUR, origin: 'member', sent: now - 120_000 }));
    await admin.publish('banhammer:{rp}:events', old);
    // and a fresh one, for comparison
    const fresh = signer.sign(JSON.stringify({ v: 1, t: 'ban', ip: '198.18.56.2', family: 4, rule: 'http-403', at: now, until: now + HOUR, origin: 'member', sent: Date.now() }));
    await admin.publish('banhammer:{rp}:events', fresh);
    await waitFor('the fresh ban', () => a.bans.some((b) => b.ban.ip === '198.18.56.2'), 3000);
    expect(a.bans.some((b) => b.ban.ip === '198.18.56.1')).toBe(false);
    expect(a.stage.stats().invalid.replay).toBe(1);
  });

  it('a replica an hour ahead still shares bans with a keyed group (its messages are fresh by its own clock)', async () => {
    const { systemClock } = await import('../../../src/clock.js');
    const { createRedisShare } = await import('../../../src/share/share.js');
    const d = mkdtempSync('/tmp/h4/skewkey-');
    const r: Replica = { name: 'ahead8', stage: createRedisShare({ url: srv!.url(), group: 'rp8', replicaId: 'ahead8', keyFile, outboxPath: join(d, 'o.json'), maxBackoffMs: 300 }, { clock: { ...systemClock, now: () => Date.now() + HOUR }, log: { info() {}, warn() {}, error() {} } }), bans: [], unbans: [], offenses: [], statuses: [], logs: [], lags: [], outboxPath: join(d, 'o.json') };
    await r.stage.start(eventsOf(r));
    replicas.push(r);
    const b = makeReplica('b8', { url: srv!.url(), group: 'rp8', keyFile });
    replicas.push(b);
    await b.stage.start(eventsOf(b));
    const at = Date.now() + HOUR;
    r.stage.publishBan({ ip: '198.18.57.1', family: 4, rule: 'http-403', at, until: at + 600_000, origin: 'ahead8' });
    await waitFor('the ban at b', () => b.bans.some((x) => x.ban.ip === '198.18.57.1'), 3000);
    expect(b.bans[0]!.ban.until!).toBeLessThanOrEqual(Date.now() + 600_000 + 3_000);
    rmSync(d, { recursive: true, force: true });
  });
});
