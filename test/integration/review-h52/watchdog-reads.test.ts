/**
 * Review H52: what the watchdog reads from Redis every round (about every 3 s) is hostile like every
 * other value. It read the group's epoch with a plain GET and one own ban's field with a plain HGET:
 * whoever can write to the group's keys (SET, HSET are in its ACL) planted megabytes there, and every
 * replica downloaded and decoded them every round for as long as they stayed (an own ban's field is
 * never read by a catch-up, which would prune it, unless a loss is seen); and a value that is no ban
 * in place of an own ban passed for the ban being stored, so the group (late joiners) never got it
 * back. The reads now go through one script that ships at most a short epoch and a ban-sized value.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SharedBan } from '../../../src/share/share.js';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { sleep, waitFor } from '../share/replica.js';

const HOUR = 3_600_000;

/** A TCP proxy to 127.0.0.1:target that counts the bytes Redis sends back through it. */
async function countingProxy(target: number): Promise<{ port: number; bytesDown: () => number; close: () => Promise<void> }> {
  let down = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.on('data', (d: Buffer) => {
      down += d.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  if (typeof a !== 'object' || a === null) throw new Error('no proxy port');
  return {
    port: a.port,
    bytesDown: () => down,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.skipIf(!hasRedisServer)('share (review H52): the watchdog reads bounded values', () => {
  const g = useRedisGroup();
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });
  const ban = (ip: string, origin: string): SharedBan => ({ ip, family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin });
  const BIG = 4 * 1024 * 1024;

  it('a multi-megabyte value planted in place of an own ban is not downloaded every round', async () => {
    const group = 'h52-big-field';
    const p = await countingProxy(g.redis.port);
    closers.push(p.close);
    // A watchdog round every 200 ms (hungAfterMs / 3): ten rounds in two seconds.
    const a = await g.replica('a', { url: `redis://127.0.0.1:${p.port}`, group, hungAfterMs: 600 });
    a.stage.publishBan(ban('198.18.52.1', 'a'));
    await waitFor('the ban stored', async () => (await g.admin.hGet(`banhammer:{${group}}:bans`, '198.18.52.1')) !== null);
    await g.admin.hSet(`banhammer:{${group}}:bans`, '198.18.52.1', 'x'.repeat(BIG));
    const before = p.bytesDown();
    await sleep(2_000);
    // At most one read of it (the catch-up's scan deletes it unread): far less than ten.
    expect(p.bytesDown() - before).toBeLessThan(2 * BIG);
  });

  it('a multi-megabyte epoch planted again and again is not downloaded every round', async () => {
    const group = 'h52-big-epoch';
    const p = await countingProxy(g.redis.port);
    closers.push(p.close);
    const a = await g.replica('a', { url: `redis://127.0.0.1:${p.port}`, group, hungAfterMs: 600 });
    await waitFor('the epoch set', async () => (await g.admin.get(`banhammer:{${group}}:epoch`)) !== null);
    await sleep(300);
    const before = p.bytesDown();
    // Planted again every 100 ms for two seconds (bounded: 20 writes).
    for (let i = 0; i < 20; i++) {
      await g.admin.set(`banhammer:{${group}}:epoch`, 'e'.repeat(BIG));
      await sleep(100);
    }
    expect(a.stage.connected).toBe(true);
    expect(p.bytesDown() - before).toBeLessThan(2 * BIG);
  });

  it('a value that is no ban in place of an own ban is taken as lost: the ban is stored again and a late joiner gets it', async () => {
    // (Each in a group of its own: a replica catches up for lost data at most once per 30 s.)
    for (const [i, junk] of ['x', '{"v":1,"t":"ban","until":null}', 'y'.repeat(3000)].entries()) {
      const group = `h52-junk-${i}`;
      const ip = `198.18.52.${10 + i}`;
      const a = await g.replica('a', { url: g.redis.url(), group, hungAfterMs: 600 });
      a.stage.publishBan(ban(ip, 'a'));
      await waitFor('the ban stored', async () => (await g.admin.hGet(`banhammer:{${group}}:bans`, ip)) !== null);
      await g.admin.hSet(`banhammer:{${group}}:bans`, ip, junk);
      await waitFor(`the ban stored again over ${junk.slice(0, 40)}`, async () => {
        const v = await g.admin.hGet(`banhammer:{${group}}:bans`, ip);
        return v !== null && v.includes('"origin":"a"');
      }, 10_000);
      const late = await g.replica('late', { url: g.redis.url(), group });
      await waitFor('the late joiner has it', () => late.bans.some((x) => x.ban.ip === ip));
    }
  }, 60_000);

  it('with a group key, an unsigned ban written over an own ban is taken as lost too', async () => {
    const group = 'h52-junk-signed';
    const ip = '198.18.52.20';
    const dir = mkdtempSync(join(tmpdir(), 'bh-h52-key-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const keyFile = join(dir, 'share.key');
    writeFileSync(keyFile, `${'k'.repeat(32)}\n`, { mode: 0o600 });
    const a = await g.replica('a', { url: g.redis.url(), group, keyFile, hungAfterMs: 600 });
    a.stage.publishBan(ban(ip, 'a'));
    await waitFor('the ban stored', async () => (await g.admin.hGet(`banhammer:{${group}}:bans`, ip)) !== null);
    // The ban as it was stored, without its signature: a ban to the validator, none to the group.
    const stored = (await g.admin.hGet(`banhammer:{${group}}:bans`, ip))!;
    const unsigned = stored.replace(/,"mac":"[^"]*"\}$/, '}');
    expect(unsigned).not.toBe(stored);
    await g.admin.hSet(`banhammer:{${group}}:bans`, ip, unsigned);
    await waitFor('the signed ban stored again', async () => (await g.admin.hGet(`banhammer:{${group}}:bans`, ip))?.includes('"mac":') === true, 10_000);
  });
});
