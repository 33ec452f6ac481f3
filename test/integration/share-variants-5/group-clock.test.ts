/**
 * Issue 11, round 5: one clock for the whole replica group (Redis TIME). Two share stages whose
 * clocks are faked 10 minutes behind and 10 minutes ahead of this host's (20 minutes apart), on a
 * real redis-server (private port on 127.0.0.1, its own temp dir, stopped by pid), each as the
 * group's restricted ACL user (shareAclLine): bans, unbans, failure windows and an outbox replay
 * agree as if their clocks were one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../../src/clock.js';
import { createRedisShare, shareAclLine, SHARE_ACL_COMMANDS } from '../../../src/share/share.js';
import { hasRedisServer, startProxy, startRedisServer, type CuttableProxy, type RedisServer } from '../share/redis-server.js';
import { eventsOf, sleep, waitFor, type Replica } from '../share/replica.js';

const MIN = 60_000;
const BEHIND = -10 * MIN;
const AHEAD = 10 * MIN;
/** Measurement error (a local TIME round trip: ms), the offset's hysteresis (250 ms), test slack. */
const SLACK = 1_000;
const PW = 'grp-secret';
const GROUPS = ['gc1', 'gc2', 'gc3', 'gc4', 'gc5', 'gc6', 'gc7', 'gc8'];

describe.skipIf(!hasRedisServer)('share: one clock for the group (Redis TIME), replicas 20 minutes apart', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const replicas: Replica[] = [];
  const dirs: string[] = [];
  const proxies: CuttableProxy[] = [];

  const skewed = (ms: number): Clock => ({ ...systemClock, now: () => Date.now() + ms });
  const mk = async (name: string, group: string, skew: number, url?: string): Promise<Replica> => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-h11-'));
    dirs.push(dir);
    const logs: Replica['logs'] = [];
    const log = (level: string) => (obj: object, msg?: string) => void logs.push({ level, msg: msg ?? '', obj });
    const stage = createRedisShare(
      { url: url ?? redis.url(group, PW), group, replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 },
      { clock: skewed(skew), log: { info: log('info'), warn: log('warn'), error: log('error') } },
    );
    const r: Replica = { name, stage, bans: [], unbans: [], offenses: [], statuses: [], logs, lags: [], outboxPath: join(dir, 'outbox.json') };
    await stage.start(eventsOf(r));
    replicas.push(r);
    return r;
  };
  /** A 10-minute ban as replica `r` (clock `skew`) makes it: at its now, until its now + 10 min. */
  const banAt = (r: Replica, ip: string, skew: number): number => {
    const at = Date.now() + skew;
    r.stage.publishBan({ ip, family: 4, rule: 'http-403', at, until: at + 10 * MIN, origin: r.name });
    return at - skew;
  };
  const got = (r: Replica, ip: string) => r.bans.find((b) => b.ban.ip === ip)?.ban;

  beforeAll(async () => {
    redis = await startRedisServer({ aclLines: GROUPS.map((g) => shareAclLine(g, PW)).concat(
      // The ACL of an older release: every command but TIME.
      `user old on >${PW} resetkeys resetchannels ~banhammer:{gc9}:* &banhammer:{gc9}:* -@all ${SHARE_ACL_COMMANDS.filter((c) => c !== 'time').map((c) => `+${c}`).join(' ')}`,
    ) });
    admin = createClient({ url: redis.url(), disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    for (const p of proxies) await p.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('each replica measures its offset to the group\'s clock, says it in the log and stats', async () => {
    const behind = await mk('behind0', 'gc1', BEHIND);
    const ahead = await mk('ahead0', 'gc1', AHEAD);
    const sb = behind.stage.stats();
    const sa = ahead.stage.stats();
    expect(sb.groupClock).toBe(true);
    expect(Math.abs(sb.clockOffsetMs - 10 * MIN)).toBeLessThan(SLACK);
    expect(Math.abs(sa.clockOffsetMs + 10 * MIN)).toBeLessThan(SLACK);
    expect(behind.logs.some((l) => l.level === 'warn' && /600 s behind the group's/.test(l.msg))).toBe(true);
    expect(ahead.logs.some((l) => l.level === 'warn' && /600 s ahead of the group's/.test(l.msg))).toBe(true);
  });

  it('a 10-minute ban made at either replica lasts 10 minutes at the other, live and for a late joiner', async () => {
    const behind = await mk('behind1', 'gc2', BEHIND);
    const ahead = await mk('ahead1', 'gc2', AHEAD);
    const t1 = banAt(behind, '198.18.50.1', BEHIND);
    const t2 = banAt(ahead, '198.18.50.2', AHEAD);
    await waitFor('the ban of the replica behind at the one ahead', () => got(ahead, '198.18.50.1') !== undefined, 3000);
    await waitFor('the ban of the replica ahead at the one behind', () => got(behind, '198.18.50.2') !== undefined, 3000);
    // In each receiver's own clock: made when it was made, ending 10 minutes later.
    const b1 = got(ahead, '198.18.50.1')!;
    expect(Math.abs(b1.at - (t1 + AHEAD))).toBeLessThan(SLACK);
    expect(Math.abs(b1.until! - (t1 + AHEAD + 10 * MIN))).toBeLessThan(SLACK);
    const b2 = got(behind, '198.18.50.2')!;
    expect(Math.abs(b2.at - (t2 + BEHIND))).toBeLessThan(SLACK);
    expect(Math.abs(b2.until! - (t2 + BEHIND + 10 * MIN))).toBeLessThan(SLACK);
    // Stored in the group's clock (this host's, where Redis runs).
    const stored = JSON.parse((await admin.hGet('banhammer:{gc2}:bans', '198.18.50.1'))!) as { at: number; until: number };
    expect(Math.abs(stored.until - (t1 + 10 * MIN))).toBeLessThan(SLACK);
    // A late joiner whose clock is behind again reads both for their 10 minutes.
    const late = await mk('late1', 'gc2', BEHIND);
    await waitFor('both at the late joiner', () => got(late, '198.18.50.1') !== undefined && got(late, '198.18.50.2') !== undefined, 3000);
    expect(Math.abs(got(late, '198.18.50.2')!.until! - (t2 + BEHIND + 10 * MIN))).toBeLessThan(SLACK);
    expect(Math.abs(got(late, '198.18.50.1')!.until! - (t1 + BEHIND + 10 * MIN))).toBeLessThan(SLACK);
  });

  it('an unban at either replica lifts the other\'s ban there and in the group', async () => {
    const behind = await mk('behind2', 'gc3', BEHIND);
    const ahead = await mk('ahead2', 'gc3', AHEAD);
    banAt(ahead, '198.18.51.1', AHEAD);
    banAt(behind, '198.18.51.2', BEHIND);
    await waitFor('both bans stored', async () => Number(await admin.hLen('banhammer:{gc3}:bans')) === 2, 3000);
    await waitFor('both delivered', () => got(behind, '198.18.51.1') !== undefined && got(ahead, '198.18.51.2') !== undefined, 3000);
    await sleep(50);
    // The replica behind lifts the ban the one ahead made (and holds as its own).
    expect(await behind.stage.publishUnban({ ip: '198.18.51.1', family: 4 })).toBe('lifted');
    await waitFor('lifted at the replica ahead', () => ahead.unbans.some((u) => u.ip === '198.18.51.1'), 3000);
    // The replica ahead lifts the ban the one behind made.
    expect(await ahead.stage.publishUnban({ ip: '198.18.51.2', family: 4 })).toBe('lifted');
    await waitFor('lifted at the replica behind', () => behind.unbans.some((u) => u.ip === '198.18.51.2'), 3000);
    expect(Number(await admin.hLen('banhammer:{gc3}:bans'))).toBe(0);
    expect(behind.stage.stats().unbansStale + ahead.stage.stats().unbansStale).toBe(0);
  });

  it('a fresh ban at one replica right after an unban at the other stands everywhere', async () => {
    const behind = await mk('behind3', 'gc4', BEHIND);
    const ahead = await mk('ahead3', 'gc4', AHEAD);
    // Unbanned at the replica ahead, then banned at the one behind a moment later (and the other way).
    await ahead.stage.publishUnban({ ip: '198.18.52.1', family: 4 });
    await behind.stage.publishUnban({ ip: '198.18.52.2', family: 4 });
    await sleep(SLACK + 2_100);
    banAt(behind, '198.18.52.1', BEHIND);
    banAt(ahead, '198.18.52.2', AHEAD);
    await waitFor('the ban of the replica behind at the one ahead', () => got(ahead, '198.18.52.1') !== undefined, 3000);
    await waitFor('the ban of the replica ahead at the one behind', () => got(behind, '198.18.52.2') !== undefined, 3000);
    expect(Number(await admin.hLen('banhammer:{gc4}:bans'))).toBe(2);
    expect(behind.stage.stats().bansUnbannedSince + ahead.stage.stats().bansUnbannedSince).toBe(0);
  });

  it('failures counted at both replicas add up in one window: one offense at maxretry', async () => {
    const behind = await mk('behind4', 'gc5', BEHIND);
    const ahead = await mk('ahead4', 'gc5', AHEAD);
    const f = (r: Replica, skew: number, i: number) => r.stage.failure({ ip: '198.18.53.1', family: 4, rule: 'http-403', time: Date.now() + skew + i, findtime: 60_000, maxretry: 5 });
    for (let i = 0; i < 3; i++) f(behind, BEHIND, i);
    await sleep(200);
    for (let i = 0; i < 1; i++) f(ahead, AHEAD, i);
    await sleep(200);
    expect([...behind.offenses, ...ahead.offenses]).toEqual([]);
    expect(Number(await admin.zCard('banhammer:{gc5}:fail:http-403:-:198.18.53.1'))).toBe(4);
    f(ahead, AHEAD, 1);
    await waitFor('the group offense', () => behind.offenses.length + ahead.offenses.length === 1, 3000);
    const o = ahead.offenses[0]!;
    expect(o.failures).toBe(5);
    // Reported in the clock of the replica that claimed it.
    expect(Math.abs(o.at - (Date.now() + AHEAD))).toBeLessThan(SLACK);
    await sleep(200);
    expect(behind.offenses.length + ahead.offenses.length).toBe(1);
  });

  it('an old ban replayed from an outbox after an outage never revives a ban lifted later, whichever clock is ahead', async () => {
    for (const [group, offSkew, onSkew, ip] of [
      ['gc6', AHEAD, BEHIND, '198.18.54.1'],
      ['gc7', BEHIND, AHEAD, '198.18.54.2'],
    ] as const) {
      const p = await startProxy(redis.port);
      proxies.push(p);
      const away = await mk(`away-${group}`, group, offSkew, `redis://${group}:${PW}@127.0.0.1:${p.port}`);
      const here = await mk(`here-${group}`, group, onSkew);
      expect(away.stage.stats().groupClock).toBe(true);
      p.cut();
      await waitFor('offline', () => !away.stage.connected, 5000);
      // Banned at the replica that cannot reach Redis (kept in its outbox, in its own clock) ...
      banAt(away, ip, offSkew);
      await sleep(2_500);
      // ... and unbanned later at the other one.
      await here.stage.publishUnban({ ip, family: 4 });
      p.restore();
      await waitFor('back online', () => away.stage.connected, 8000);
      await waitFor('the outbox replayed', () => away.stage.stats().outboxDepth === 0, 5000);
      await sleep(300);
      expect(await admin.hExists(`banhammer:{${group}}:bans`, ip)).toBe(0);
      expect(got(here, ip)).toBeUndefined();
      // The replica that made it learns it was lifted since.
      expect(away.unbans.some((u) => u.ip === ip && u.origin === 'group')).toBe(true);
      expect(away.stage.stats().bansUnbannedSince).toBe(1);
    }
  }, 40_000);

  it('a user without +time (an older ACL): said once in the log, the replica shares with its own clock', async () => {
    const a = await mk('old-a', 'gc9', 0, redis.url('old', PW));
    const b = await mk('old-b', 'gc9', 0, redis.url('old', PW));
    expect(a.stage.stats().groupClock).toBe(false);
    expect(a.logs.filter((l) => /refuses TIME/.test(l.msg))).toHaveLength(1);
    const t = banAt(a, '198.18.55.1', 0);
    await waitFor('delivered', () => got(b, '198.18.55.1') !== undefined, 3000);
    expect(got(b, '198.18.55.1')!.until).toBe(t + 10 * MIN);
    // Without the group's clock, a replica an hour ahead is still read in the others' clocks from
    // the messages it sends (the correction kept for this case and for older replicas).
    const c = await mk('old-c', 'gc9', 60 * MIN, redis.url('old', PW));
    const t2 = banAt(c, '198.18.55.2', 60 * MIN);
    await waitFor('delivered from the replica ahead', () => got(b, '198.18.55.2') !== undefined, 3000);
    expect(Math.abs(got(b, '198.18.55.2')!.until! - (t2 + 10 * MIN))).toBeLessThan(SLACK + 2_000);
  });
});
