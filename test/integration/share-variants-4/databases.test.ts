/**
 * Audit round 4 of issue 11: two services on one Redis, kept apart by database number
 * (redis://…/0 and redis://…/1) and both calling their group "web". Keys live in a database, but
 * Redis pub/sub does not (a message published from any database reaches every subscriber of the
 * channel), so each service's bans reached the other's replicas, with a ban in their kernels.
 * A real redis-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from '../share/replica.js';
import { startR4Redis, type R4Redis } from './redis.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('share: one group name in two databases of one Redis', () => {
  let srv: R4Redis | undefined;
  const replicas: Replica[] = [];
  beforeAll(async () => {
    srv = await startR4Redis();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await srv?.stop();
    removeReplicaDirs();
  });

  it('a ban in database 0 reaches the replicas of database 0 only, and one in database 1 those of database 1 only', async () => {
    const a0 = await startReplica('a0', { url: `${srv!.url()}/0`, group: 'web' });
    const b0 = await startReplica('b0', { url: `${srv!.url()}/0`, group: 'web' });
    const a1 = await startReplica('a1', { url: `${srv!.url()}/1`, group: 'web' });
    const b1 = await startReplica('b1', { url: `${srv!.url()}/1`, group: 'web' });
    replicas.push(a0, b0, a1, b1);
    a0.stage.publishBan({ ip: '198.18.63.1', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'a0' });
    a1.stage.publishBan({ ip: '198.18.63.2', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'a1' });
    await waitFor('database 0’s ban at b0', () => b0.bans.some((x) => x.ban.ip === '198.18.63.1'), 3000);
    await waitFor('database 1’s ban at b1', () => b1.bans.some((x) => x.ban.ip === '198.18.63.2'), 3000);
    await sleep(200);
    expect(b0.bans.map((x) => x.ban.ip)).toEqual(['198.18.63.1']);
    expect(a0.bans.map((x) => x.ban.ip)).toEqual([]);
    expect(b1.bans.map((x) => x.ban.ip)).toEqual(['198.18.63.2']);
    expect(a1.bans.map((x) => x.ban.ip)).toEqual([]);
    // and an unban in one database lifts nothing in the other
    a1.stage.publishBan({ ip: '198.18.63.1', family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'a1' });
    await waitFor('b1 has it too', () => b1.bans.some((x) => x.ban.ip === '198.18.63.1'), 3000);
    await a0.stage.publishUnban({ ip: '198.18.63.1', family: 4 });
    await waitFor('the unban at b0', () => b0.unbans.some((u) => u.ip === '198.18.63.1'), 3000);
    await sleep(200);
    expect(b1.unbans).toEqual([]);
  });
});
