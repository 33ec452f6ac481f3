/**
 * Hostile review H45: a replica's operations on one address reach Redis in the order they were
 * made. An EVALSHA answered NOSCRIPT (the first use of a script after Redis forgot its scripts: a
 * restart, a failover, SCRIPT FLUSH) was sent again as EVAL, after whatever was sent meanwhile: a ban
 * then its unban, made in one moment, ran unban-then-ban in Redis, and the unbanned ban was stored
 * and published after its unban (too close to it to be taken for stale): every other replica and
 * every late joiner banned an address this replica had unbanned.
 */
import { describe, expect, it } from 'vitest';
import { BAN_SCRIPT, UNBAN_SCRIPT } from '../../../src/share/lua.js';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { sleep, waitFor } from '../share/replica.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('operations on one address in the order they were made', () => {
  const g = useRedisGroup();

  it('after SCRIPT FLUSH with only the unban script loaded again: a ban and its unban at once leave the address banned nowhere', async () => {
    const group = 'h45-order';
    const a = await g.replica(`${group}-a`, { url: g.redis.url(), group });
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    await g.admin.sendCommand(['SCRIPT', 'FLUSH']);
    // An unban of another address loads the unban script again, not the ban script.
    await a.stage.publishUnban({ ip: '198.18.73.200', family: 4 });
    expect(((await g.admin.sendCommand(['SCRIPT', 'EXISTS', BAN_SCRIPT.sha1, UNBAN_SCRIPT.sha1])) as number[]).join()).toBe('0,1');
    const ip = '198.18.73.1';
    const now = Date.now();
    a.stage.publishBan({ ip, family: 4, rule: 'sshd', at: now, until: now + HOUR, origin: a.name });
    const r = a.stage.publishUnban({ ip, family: 4 });
    await r;
    await waitFor('b heard both', () => b.unbans.some((u) => u.ip === ip), 3_000);
    await sleep(300);
    expect(await g.admin.hGet(`banhammer:{${group}}:bans`, ip)).toBeNull();
    const late = await g.replica(`${group}-late`, { url: g.redis.url(), group });
    expect(late.bans.map((x) => x.ban.ip)).not.toContain(ip);
    // b heard the ban, then its unban (in the order made): it holds nothing.
    expect(b.stage.heard?.(ip, Date.now()) ?? []).toEqual([]);
  }, 20_000);
});
