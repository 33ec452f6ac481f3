/**
 * An agent restarted with its state file (review: helper): the bans it restores and the group must
 * agree. A ban lifted by the group while the agent was down (an operator's `banhammer unban` at
 * another replica) is lifted here too when it comes back, whether this agent made the ban or had
 * adopted it from the group; and a ban this agent made is in the group again after a Redis that
 * lost its data while the agent was down (share.ts: "Call publishBan at start-up too for the local
 * bans restored from state").
 * Live agents (the real Daemon wiring) as a restricted ACL user, as in agents.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare, shareAclLine } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { sleep, waitFor } from './replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const BANS = 'banhammer:{shop}:bans';
const HOUR = 3_600_000;

interface Agent { daemon: Daemon; enforcer: RecordingEnforcer }
const dirs: string[] = [];
const running: Daemon[] = [];

/** An agent named `name`, keeping its state in `store` (the same store: the same state file after a restart). */
function agent(name: string, url: string, store: MemoryStore): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'bh-restart-'));
  dirs.push(dir);
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'shop', BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'shop', outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
  const enforcer = new RecordingEnforcer();
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store, createSource, hostAddresses: [], share });
  running.push(daemon);
  return { daemon, enforcer };
}

describe.skipIf(!hasRedisServer)(`an agent restarted with its state agrees with the group${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  let redis: RedisServer;
  let url: string;
  let admin: ReturnType<typeof createClient>;
  const connect = async (): Promise<void> => {
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  };
  beforeAll(async () => {
    redis = await startRedisServer({ aclLines: [shareAclLine('shop', 'shop-secret')] });
    url = redis.url('shop', 'shop-secret');
    await connect();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    await admin.flushAll();
  });
  afterAll(async () => {
    await admin?.close().catch(() => undefined);
    await redis?.stop();
  });

  /** Stops `x` (its state saved in its store) and starts it again from that store. */
  async function restarted(name: string, store: MemoryStore, x: Agent, meanwhile: () => Promise<void>): Promise<Agent> {
    await x.daemon.stop();
    running.splice(running.indexOf(x.daemon), 1);
    await meanwhile();
    const again = agent(name, url, store);
    await again.daemon.start();
    return again;
  }

  it('a ban it had adopted from the group, lifted by the group while it was down, is lifted when it comes back', async () => {
    const a = agent('replica-a', url, new MemoryStore());
    const bStore = new MemoryStore();
    const b = agent('replica-b', url, bStore);
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban('198.18.50.1', { forMs: HOUR });
    await waitFor('the ban adopted at b', () => b.enforcer.held.has('198.18.50.1'), 2000);
    const b2 = await restarted('replica-b', bStore, b, async () => {
      expect(await a.daemon.unban('198.18.50.1')).toBe(1);
    });
    await waitFor('the ban lifted at b after its restart', () => !b2.enforcer.held.has('198.18.50.1'), 5000);
    expect(b2.daemon.why('198.18.50.1').active).toEqual([]);
  });

  it('a ban it made, lifted by the group while it was down, is lifted when it comes back (and not stored again)', async () => {
    const a = agent('replica-a', url, new MemoryStore());
    const bStore = new MemoryStore();
    const b = agent('replica-b', url, bStore);
    await a.daemon.start();
    await b.daemon.start();
    await b.daemon.ban('198.18.50.2', { forMs: HOUR });
    await waitFor('the ban adopted at a', () => a.enforcer.held.has('198.18.50.2'), 2000);
    const b2 = await restarted('replica-b', bStore, b, async () => {
      expect(await a.daemon.unban('198.18.50.2')).toBe(1);
    });
    await waitFor('the ban lifted at b after its restart', () => !b2.enforcer.held.has('198.18.50.2'), 5000);
    await sleep(200);
    expect(await admin.hExists(BANS, '198.18.50.2')).toBe(0);
    expect(a.enforcer.held.has('198.18.50.2')).toBe(false);
  });

  it('a tombstone dated in the future, or older than the ban, lifts no restored ban', async () => {
    const bStore = new MemoryStore();
    const b = agent('replica-b', url, bStore);
    await b.daemon.start();
    await b.daemon.ban('198.18.50.4', { forMs: HOUR });
    await b.daemon.ban('198.18.50.5', { forMs: HOUR });
    await waitFor('the bans stored', async () => (await admin.hLen(BANS)) === 2, 2000);
    const b2 = await restarted('replica-b', bStore, b, async () => {
      // Removed from the group's hash by a hostile member, with tombstones that are no unban of them.
      await admin.hDel(BANS, ['198.18.50.4', '198.18.50.5']);
      await admin.zAdd('banhammer:{shop}:unbans', [
        { score: Date.now() + HOUR, value: '198.18.50.4' },
        { score: Date.now() - HOUR, value: '198.18.50.5' },
      ]);
    });
    await sleep(300);
    expect(b2.enforcer.held.has('198.18.50.4')).toBe(true);
    expect(b2.enforcer.held.has('198.18.50.5')).toBe(true);
    // And they are the group's again.
    await waitFor('stored again', async () => (await admin.hLen(BANS)) === 2, 2000);
  });

  it('a ban it made is stored in the group again when Redis lost its data while it was down; a ban still held by the group stays', async () => {
    const bStore = new MemoryStore();
    const b = agent('replica-b', url, bStore);
    await b.daemon.start();
    await b.daemon.ban('198.18.50.3', { forMs: HOUR });
    await waitFor('the ban stored', async () => (await admin.hExists(BANS, '198.18.50.3')) === 1, 2000);
    const b2 = await restarted('replica-b', bStore, b, async () => {
      await admin.close().catch(() => undefined);
      await redis.kill();
      await redis.start();
      await connect();
    });
    await waitFor('the ban stored again', async () => (await admin.hExists(BANS, '198.18.50.3')) === 1, 5000);
    expect(b2.enforcer.held.has('198.18.50.3')).toBe(true);
    // A replica that starts now adopts it.
    const c = agent('replica-c', url, new MemoryStore());
    await c.daemon.start();
    await waitFor('the ban adopted at c', () => c.enforcer.held.has('198.18.50.3'), 2000);
  });
});
