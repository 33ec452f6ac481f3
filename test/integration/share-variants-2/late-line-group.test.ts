/**
 * The group's failure window (lua.ts FAILURES_SCRIPT) and a late line: Apache stamps a request when
 * it begins and logs it when it ends, so a client's own slow request arrives stamped minutes before
 * its current failures. Dropping the members stamped far after it (as from a forged future clock)
 * let that one line erase the client's window in the group, as it did in the local detector
 * (audit: helper H3). Members after the caller's `latest` (planted) still go.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURES_SCRIPT } from '../../../src/share/lua.js';
import { MAX_LATE_MS } from '../../../src/detect/sliding-window.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../share/redis-server.js';

describe.skipIf(!hasRedisServer)('group window: a late line', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  beforeAll(async () => {
    redis = await startRedisServer({});
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.quit().catch(() => undefined);
    await redis?.stop();
  });

  const FINDTIME = 10 * 60_000;
  let n = 0;
  /** One failure through the script, as a replica whose clock reads `now` sends it; returns the count. */
  const fail = async (key: string, t: number, now: number, maxretry: number): Promise<number> => {
    const latest = now + 2_000 + 2_000;
    const r = (await admin.sendCommand(['EVAL', FAILURES_SCRIPT.source, '2', key, `${key}:claim`, String(MAX_LATE_MS), '5000', String(latest), String(t), String(FINDTIME), String(maxretry), `m${++n}`, String(FINDTIME + MAX_LATE_MS + 60_000)])) as number[];
    return Number(r[0]);
  };

  it("a line stamped 6 minutes back (findtime 10 min) keeps the client's current failures, and the next one makes the offense", async () => {
    const key = 'banhammer:{late}:fail:forbidden:-:198.18.77.1';
    const now = Date.now();
    for (let i = 0; i < 4; i++) expect(await fail(key, now - 4_000 + i * 1_000, now, 6)).toBe(i + 1);
    // The slow request, begun 6 minutes ago, logged now: its own window ends half a findtime after
    // it, so the current failures are its future (kept, not counted), and none is erased...
    expect(await fail(key, now - 6 * 60_000, now, 6)).toBe(1);
    expect(await admin.zCard(key)).toBe(5);
    // ...and the next current failure counts all six.
    expect(await fail(key, now + 500, now + 1_000, 6)).toBe(6);
  });

  it('a member planted after the latest any replica sends is still dropped, and never counted', async () => {
    const key = 'banhammer:{late}:fail:forbidden:-:198.18.77.2';
    const now = Date.now();
    await admin.zAdd(key, { score: now + 60 * 60_000, value: 'planted' });
    expect(await fail(key, now, now, 6)).toBe(1);
    expect(await admin.zScore(key, 'planted')).toBeNull();
  });
});
