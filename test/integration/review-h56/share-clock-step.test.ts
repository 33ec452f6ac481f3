/**
 * Helper H56: the share stage when this host's wall clock is stepped (NTP setting right a clock that
 * ran 12 hours off, `date -s`). Review H55 moved the bans held with the step, but the share stage's
 * offset to the group's clock (Redis TIME) stayed what it was, and its next measurement was due at a
 * wall time: set back 12 hours, not for 12 hours. Every ban this replica shared meanwhile was stored
 * 12 hours in the past (ended for every other replica: the group never held them), set forward, 12
 * hours in the future (held that much longer everywhere). Real redis-server (private port, own temp
 * dir, stopped by pid), as share-variants-6.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../../src/clock.js';
import { createRedisShare, type SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../share/redis-server.js';
import { eventsOf, sleep, waitFor, type Replica } from '../share/replica.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const SLACK = 1_000;

describe.skipIf(!hasRedisServer)('review H56: a step of this host\'s clock moves its offset to the group\'s at once', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const dirs: string[] = [];

  /** A wall clock `skew` ms off, which the test steps; its monotonic clock is the system's. */
  const steppable = (skew: number): Clock & { step(ms: number): void } => {
    let off = skew;
    return { ...systemClock, now: () => Date.now() + off, step: (ms: number) => void (off += ms) };
  };
  const mk = async (name: string, group: string, clock: Clock): Promise<Replica> => {
    const d = mkdtempSync(join(tmpdir(), 'bh-h56-'));
    dirs.push(d);
    const logs: Replica['logs'] = [];
    const log = (level: string) => (obj: object, msg?: string) => void logs.push({ level, msg: msg ?? '', obj });
    const stage = createRedisShare(
      { url: redis.url(), group, replicaId: name, outboxPath: join(d, 'outbox.json'), maxBackoffMs: 300 },
      { clock, log: { info: log('info'), warn: log('warn'), error: log('error') } },
    );
    const r: Replica = { name, stage, bans: [], unbans: [], offenses: [], statuses: [], logs, lags: [], outboxPath: join(d, 'outbox.json') };
    replicas.push(r);
    await stage.start(eventsOf(r));
    return r;
  };
  const got = (r: Replica, ip: string) => r.bans.find((b) => b.ban.ip === ip)?.ban;

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = createClient({ url: redis.url(), disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a Redis that stops answering is noticed within hungAfterMs while the wall clock is set back an hour every 200 ms', async () => {
    const clock = steppable(0);
    const d = mkdtempSync(join(tmpdir(), 'bh-h56-'));
    dirs.push(d);
    const r: Replica = { name: 'h', stage: createRedisShare({ url: redis.url(), group: 'hung56', replicaId: 'h', outboxPath: join(d, 'outbox.json'), maxBackoffMs: 300, hungAfterMs: 1_500 }, { clock, log: { info: () => undefined, warn: () => undefined, error: () => undefined } }), bans: [], unbans: [], offenses: [], statuses: [], logs: [], lags: [], outboxPath: join(d, 'outbox.json') };
    replicas.push(r);
    await r.stage.start(eventsOf(r));
    expect(r.stage.connected).toBe(true);
    process.kill(redis.pid!, 'SIGSTOP');
    try {
      // (Before: the PING's age was read on the wall clock, negative after each step: never hung.)
      const t0 = Date.now();
      // Noticed in about 2.2 s here (a watchdog round every 500 ms); the bound leaves room for a loaded
      // CI, and the old code never noticed at all.
      while (r.stage.connected && Date.now() - t0 < 12_000) {
        await sleep(200);
        clock.step(-HOUR);
      }
      expect(r.stage.connected).toBe(false);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      process.kill(redis.pid!, 'SIGCONT');
    }
  }, 30_000);

  [12 * HOUR, -12 * HOUR, 10 * MIN, -10 * MIN].forEach((skew, i) => {
    it(`a replica ${skew / 1000} s off, set right: the ban it makes next reaches the other for 10 minutes, stored in the group's clock`, async () => {
      const g = `s${i}`;
      const ip = `198.18.90.${i + 1}`;
      const clock = steppable(skew);
      const x = await mk(`x${i}`, g, clock);
      const y = await mk(`y${i}`, g, systemClock);
      expect(Math.abs(x.stage.stats().clockOffsetMs + skew)).toBeLessThan(SLACK);
      // NTP sets x's clock right.
      clock.step(-skew);
      const at = clock.now();
      const ban: SharedBan = { ip, family: 4, rule: 'http-403', at, until: at + 10 * MIN, origin: x.name };
      x.stage.publishBan(ban);
      const stored = async (): Promise<string | null> => (await admin.hGet(`banhammer:{${g}}:bans`, ip)) ?? null;
      await waitFor('stored', async () => (await stored()) !== null, 3000).catch(() => undefined);
      await sleep(300);
      const s = await stored();
      expect(s).not.toBeNull();
      expect(Math.abs((JSON.parse(s!) as { until: number }).until - ban.until!)).toBeLessThan(SLACK);
      await waitFor('delivered', () => got(y, ip) !== undefined, 3000).catch(() => undefined);
      expect(got(y, ip)?.until).toBeDefined();
      expect(Math.abs(got(y, ip)!.until! - ban.until!)).toBeLessThan(SLACK);
      expect(Math.abs(x.stage.stats().clockOffsetMs)).toBeLessThan(SLACK);
    }, 20_000);
  });
});
