/**
 * Issue 11, round 6 (H12): hostile review of the group's clock (Redis TIME) on a real redis-server
 * (private port on 127.0.0.1, its own temp dir, stopped by pid). TIME answers can be delayed or
 * replaced by the test through a wrapper around node-redis's client (every other command goes to the
 * server), as in share-variants-5/hostile-time.test.ts.
 * - What is sent between "connected" and the first measurement went out in the host's own clock: an
 *   unban from a replica an hour behind lifted the group's stored ban, but the replica that made the
 *   ban took the unban (dated an hour back) for older than its ban and kept enforcing it; failures
 *   went into the group's window an hour back.
 * - One garbage TIME answer (the fastest of a measurement) set the first offset: a replica's bans
 *   were stored 20 hours in the past, ended for every other replica.
 * - Replicas 3 s, 90 s, 1 h and 23 h apart, both ways: bans, unbans and a restart from the state file
 *   agree (regression cover).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock, type Clock } from '../../../src/clock.js';
import { createRedisShare, type SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../share/redis-server.js';
import { eventsOf, sleep, waitFor, type Replica } from '../share/replica.js';

const hooks = vi.hoisted(() => ({ time: null as null | ((real: () => Promise<unknown>) => Promise<unknown>), asked: 0 }));

vi.mock('redis', async (importOriginal) => {
  const real = await importOriginal<typeof import('redis')>();
  const createClient = ((opts: Parameters<typeof real.createClient>[0]) => {
    const c = real.createClient(opts);
    const send = c.sendCommand.bind(c) as (...a: unknown[]) => Promise<unknown>;
    (c as unknown as { sendCommand: (...a: unknown[]) => Promise<unknown> }).sendCommand = (...a: unknown[]) => {
      const args = a[0];
      if (Array.isArray(args) && args[0] === 'TIME') {
        hooks.asked++;
        if (hooks.time !== null) return hooks.time(() => send(...a));
      }
      return send(...a);
    };
    return c;
  }) as typeof real.createClient;
  return { ...real, createClient, default: { ...real, createClient } };
});

const MIN = 60_000;
const HOUR = 60 * MIN;
const SLACK = 1_000;

describe.skipIf(!hasRedisServer)('share: the group clock at its edges (H12)', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const dirs: string[] = [];

  const skewed = (ms: number): Clock => ({ ...systemClock, now: () => Date.now() + ms });
  const make = (name: string, group: string, skew: number, dir?: string, own?: SharedBan[]): { r: Replica; started: Promise<void> } => {
    const d = dir ?? mkdtempSync(join(tmpdir(), 'bh-h12-'));
    if (dir === undefined) dirs.push(d);
    const logs: Replica['logs'] = [];
    const log = (level: string) => (obj: object, msg?: string) => void logs.push({ level, msg: msg ?? '', obj });
    const stage = createRedisShare(
      { url: redis.url(), group, replicaId: name, outboxPath: join(d, 'outbox.json'), maxBackoffMs: 300 },
      { clock: skewed(skew), log: { info: log('info'), warn: log('warn'), error: log('error') } },
    );
    const r: Replica = { name, stage, bans: [], unbans: [], offenses: [], statuses: [], logs, lags: [], outboxPath: join(d, 'outbox.json') };
    replicas.push(r);
    if (own !== undefined) stage.restored!({ own, adopted: [] });
    return { r, started: stage.start(eventsOf(r)) };
  };
  const mk = async (name: string, group: string, skew: number, dir?: string): Promise<Replica> => {
    const m = make(name, group, skew, dir);
    await m.started;
    return m.r;
  };
  const banAt = (r: Replica, ip: string, skew: number, len = 10 * MIN): SharedBan => {
    const at = Date.now() + skew;
    const ban: SharedBan = { ip, family: 4, rule: 'http-403', at, until: at + len, origin: r.name };
    r.stage.publishBan(ban);
    return ban;
  };
  const got = (r: Replica, ip: string) => r.bans.find((b) => b.ban.ip === ip)?.ban;
  const stored = async (group: string, ip: string) => admin.hGet(`banhammer:{${group}}:bans`, ip);

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = createClient({ url: redis.url(), disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterEach(() => {
    hooks.time = null;
  });
  afterAll(async () => {
    hooks.time = null;
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('an unban made while the first TIME measurement is on its way is not sent in the host\'s own clock (an hour behind: the replica that made the ban took it for older than its ban and kept it)', async () => {
    const b = await mk('w-b', 'w1', 0);
    banAt(b, '198.18.70.1', 0);
    await waitFor('stored', async () => (await stored('w1', '198.18.70.1')) !== null, 3000);
    await sleep(2_200);
    // A replica an hour behind Redis joins; its TIME answers take 300 ms each (a far Redis, a busy one).
    hooks.time = async (real) => {
      await sleep(300);
      return real();
    };
    const late = make('w-late', 'w1', -HOUR);
    await waitFor('connected', () => late.r.stage.connected, 5000);
    expect(late.r.stage.stats().groupClock).toBe(false);
    // The operator lifts the address at the replica that just connected.
    const res = await late.r.stage.publishUnban({ ip: '198.18.70.1', family: 4 });
    await late.started;
    expect(res).not.toBe('newer');
    expect(late.r.stage.stats().unbansStale).toBe(0);
    await waitFor('lifted in the group', async () => (await stored('w1', '198.18.70.1')) === null, 5000);
    await waitFor('lifted at the other replica', () => b.unbans.some((u) => u.ip === '198.18.70.1'), 3000);
    expect(b.stage.stats().unbansStale).toBe(0);
    // The tombstone is in the group's clock (Redis's), not an hour back.
    const tomb = Number(await admin.zScore('banhammer:{w1}:unbans', '198.18.70.1'));
    expect(Math.abs(tomb - Date.now())).toBeLessThan(5_000);
  }, 20_000);

  it('failures made while the first TIME measurement is on its way are not counted in the host\'s own clock', async () => {
    hooks.time = async (real) => {
      await sleep(300);
      return real();
    };
    const late = make('f-late', 'w2', -HOUR);
    await waitFor('connected', () => late.r.stage.connected, 5000);
    late.r.stage.failure({ ip: '198.18.70.2', family: 4, rule: 'http-403', time: Date.now() - HOUR, findtime: 60_000, maxretry: 5 });
    await late.started;
    await sleep(300);
    // Never stamped an hour back in the group's window (dropped, as when offline).
    const members = await admin.zRangeWithScores('banhammer:{w2}:fail:http-403:-:198.18.70.2', 0, -1);
    expect(members.filter((m) => m.score < Date.now() - 30 * MIN)).toEqual([]);
  }, 20_000);

  it('one garbage TIME answer (20 hours back, the fastest of the three) does not set the first offset: the replica\'s bans reach the others', async () => {
    let first = true;
    hooks.time = async (real) => {
      if (first) {
        first = false;
        const t = Date.now() - 20 * HOUR;
        return [String(Math.floor(t / 1000)), String((t % 1000) * 1000)];
      }
      await sleep(5);
      return real();
    };
    const a = await mk('g-a', 'w3', 0);
    hooks.time = null;
    expect(Math.abs(a.stage.stats().clockOffsetMs)).toBeLessThan(SLACK);
    expect(a.stage.stats().invalid.clock).toBeGreaterThan(0);
    const b = await mk('g-b', 'w3', 0);
    const ban = banAt(a, '198.18.70.3', 0);
    await waitFor('delivered', () => got(b, '198.18.70.3') !== undefined, 3000);
    expect(Math.abs(got(b, '198.18.70.3')!.until! - ban.until!)).toBeLessThan(SLACK);
    const s = JSON.parse((await stored('w3', '198.18.70.3'))!) as { until: number };
    expect(Math.abs(s.until - ban.until!)).toBeLessThan(SLACK);
  }, 20_000);

  describe('replicas apart by 3 s, 90 s, 1 h and 23 h, both ways', () => {
    const cases = [3_000, 90_000, HOUR, 23 * HOUR].flatMap((d) => [d, -d]);
    cases.forEach((skew, i) => {
      it(`one at ${skew / 1000} s, one on time: bans, unbans and a restart from the state file agree`, async () => {
        const g = `m${i}`;
        const ip = (n: number) => `198.18.${80 + i}.${n}`;
        const dirX = mkdtempSync(join(tmpdir(), 'bh-h12-'));
        dirs.push(dirX);
        const x = await mk(`x${i}`, g, skew, dirX);
        const y = await mk(`y${i}`, g, 0);
        expect(Math.abs(x.stage.stats().clockOffsetMs + skew)).toBeLessThan(SLACK);
        // A ban each way, read in the receiver's clock, lasting 10 minutes.
        const bx = banAt(x, ip(1), skew);
        const by = banAt(y, ip(2), 0);
        await waitFor('both delivered', () => got(y, ip(1)) !== undefined && got(x, ip(2)) !== undefined, 3000);
        expect(Math.abs(got(y, ip(1))!.at - (bx.at - skew))).toBeLessThan(SLACK);
        expect(Math.abs(got(y, ip(1))!.until! - (bx.until! - skew))).toBeLessThan(SLACK);
        expect(Math.abs(got(x, ip(2))!.until! - (by.until! + skew))).toBeLessThan(SLACK);
        // An unban each way lifts the other's ban, everywhere.
        expect(await y.stage.publishUnban({ ip: ip(1), family: 4 })).toBe('lifted');
        expect(await x.stage.publishUnban({ ip: ip(2), family: 4 })).toBe('lifted');
        await waitFor('both lifted', () => x.unbans.some((u) => u.ip === ip(1)) && y.unbans.some((u) => u.ip === ip(2)), 3000);
        expect(x.stage.stats().unbansStale + y.stage.stats().unbansStale).toBe(0);
        // x makes a ban, stops; y lifts it while x is down; x comes back from its state file (the ban
        // restored as its own, in its clock): lifted there too, and not published again.
        await sleep(2_100);
        const bz = banAt(x, ip(3), skew);
        await waitFor('delivered', () => got(y, ip(3)) !== undefined, 3000);
        await x.stage.stop();
        await sleep(2_100);
        expect(await y.stage.publishUnban({ ip: ip(3), family: 4 })).toBe('lifted');
        const x2 = make(`x${i}`, g, skew, dirX, [bz]);
        await x2.started;
        await waitFor('lifted at the restarted replica', () => x2.r.unbans.some((u) => u.ip === ip(3) && u.origin === 'group'), 3000);
        expect(await stored(g, ip(3))).toBeNull();
        // And a ban the restarted replica makes now stands at y, for 10 minutes in y's clock.
        await sleep(2_100);
        const bw = banAt(x2.r, ip(4), skew);
        await waitFor('delivered after the restart', () => got(y, ip(4)) !== undefined, 3000);
        expect(Math.abs(got(y, ip(4))!.until! - (bw.until! - skew))).toBeLessThan(SLACK);
      }, 30_000);
    });
  });
});
