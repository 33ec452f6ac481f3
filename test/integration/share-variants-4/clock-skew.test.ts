/**
 * Audit round 4 of issue 11: replicas whose clocks are hours apart (a host without NTP, a VM resumed
 * from suspend). A ban lasts what its replica decided, in every replica: a clock ahead must not
 * stretch it, a clock behind must not drop it as already ended, and an unban made at a replica whose
 * clock is behind lifts the ban everywhere ("unban anywhere lifts it everywhere").
 * A real redis-server (test/integration/share-variants-4/redis.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { systemClock, type Clock } from '../../../src/clock.js';
import { createRedisShare } from '../../../src/share/share.js';
import { eventsOf, sleep, waitFor, type Replica } from '../share/replica.js';
import { startR4Redis, type R4Redis } from './redis.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** The share stage's allowance for clocks apart (redis-share.ts CLOCK_SKEW_MS) plus test slack. */
const SLACK = 2_000 + 1_000;

describe.skipIf(!hasRedisServer)('share: replicas whose clocks are hours apart', () => {
  let srv: R4Redis | undefined;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const dirs: string[] = [];

  const skewed = (ms: number): Clock => ({ ...systemClock, now: () => Date.now() + ms });
  const mk = async (name: string, group: string, skew: number): Promise<Replica> => {
    const dir = mkdtempSync('/tmp/h4/skew-');
    dirs.push(dir);
    const logs: Replica['logs'] = [];
    const log = (level: string) => (obj: object, msg?: string) => void logs.push({ level, msg: msg ?? '', obj });
    const stage = createRedisShare({ url: srv!.url(), group, replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: skewed(skew), log: { info: log('info'), warn: log('warn'), error: log('error') } });
    const r: Replica = { name, stage, bans: [], unbans: [], offenses: [], statuses: [], logs, lags: [], outboxPath: join(dir, 'outbox.json') };
    await stage.start(eventsOf(r));
    replicas.push(r);
    return r;
  };
  /** A 10-minute ban as replica `r` (clock `skew`) makes it: at its now, until its now + 10 min. */
  const banAt = (r: Replica, ip: string, skew: number): void => {
    const at = Date.now() + skew;
    r.stage.publishBan({ ip, family: 4, rule: 'http-403', at, until: at + 10 * MIN, origin: r.name });
  };
  const got = (r: Replica, ip: string) => r.bans.find((b) => b.ban.ip === ip)?.ban;

  beforeAll(async () => {
    srv = await startR4Redis();
    admin = createClient({ url: srv.url(), disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await srv?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a 10-minute ban made at a replica whose clock is an hour ahead lasts about 10 minutes at the others, not 70', async () => {
    const ahead = await mk('ahead1', 'sk1', HOUR);
    const b = await mk('b1', 'sk1', 0);
    banAt(ahead, '198.18.40.1', HOUR);
    await waitFor('the ban at b', () => got(b, '198.18.40.1') !== undefined, 3000);
    const ban = got(b, '198.18.40.1')!;
    expect(ban.until).not.toBeNull();
    expect(ban.until!).toBeLessThanOrEqual(Date.now() + 10 * MIN + SLACK);
    expect(ban.until!).toBeGreaterThan(Date.now() + 10 * MIN - SLACK);
  });

  it('a late joiner reading a ban that a replica an hour ahead stored holds it for about its 10 minutes', async () => {
    const ahead = await mk('ahead4', 'sk4', HOUR);
    banAt(ahead, '198.18.40.4', HOUR);
    await waitFor('the ban stored', async () => (await admin.hGet('banhammer:{sk4}:bans', '198.18.40.4')) != null, 3000);
    const late = await mk('late4', 'sk4', 0);
    await waitFor('the ban at the late joiner', () => got(late, '198.18.40.4') !== undefined, 3000);
    expect(got(late, '198.18.40.4')!.until!).toBeLessThanOrEqual(Date.now() + 10 * MIN + SLACK);
  });

  it('clocks 1.5 s apart: a ban is read in the receiver\'s clock (the group\'s, Redis TIME), made when it was, for its 10 minutes', async () => {
    const a = await mk('a5', 'sk5', 1_500);
    const b = await mk('b5', 'sk5', 0);
    const real = Date.now();
    const at = real + 1_500;
    a.stage.publishBan({ ip: '198.18.40.5', family: 4, rule: 'http-403', at, until: at + 10 * MIN, origin: 'a5' });
    await waitFor('the ban at b', () => got(b, '198.18.40.5') !== undefined, 3000);
    // (b's clock is this host's, and Redis's: within the group clock's 250 ms hysteresis, unshifted.)
    expect(Math.abs(got(b, '198.18.40.5')!.until! - (real + 10 * MIN))).toBeLessThan(300);
    expect(Math.abs(got(b, '198.18.40.5')!.at - real)).toBeLessThan(300);
  });

  it('a ban message sent an hour ago (recorded and published again), ended by now, is not made current again', async () => {
    const b = await mk('b6', 'sk6', 0);
    const t = Date.now() - HOUR;
    await admin.publish('banhammer:{sk6}:events', JSON.stringify({ v: 1, t: 'ban', ip: '198.18.40.6', family: 4, rule: 'http-403', at: t, until: t + 10 * MIN, origin: 'old6', sent: t }));
    // then a ban of its origin, now, to show the channel delivered (same origin: its clock is not behind)
    const now = Date.now();
    await admin.publish('banhammer:{sk6}:events', JSON.stringify({ v: 1, t: 'ban', ip: '198.18.40.7', family: 4, rule: 'http-403', at: now, until: now + 10 * MIN, origin: 'old6', sent: now }));
    await waitFor('the current ban', () => got(b, '198.18.40.7') !== undefined, 3000);
    expect(got(b, '198.18.40.6')).toBeUndefined();
  });
});
