/**
 * Review H41 of 2ad8f45 (Ban.under): an own ban kept under an adopted ban made AFTER it.
 *
 * Replica a bans X for an hour; while a is away c unbans X (the group lifts a's ban, a does not hear
 * it), then b bans X for good. When a is back its catch-up delivers b's newer ban, which the share
 * stage takes over a's (deliverBan: a's own ban is no longer its own there), and the ban book adopts
 * it over a's hour-long ban, which it kept under it: an own ban the group had lifted, which no unban
 * can ever bring back (liftAdopted restores an own ban only when it is newer than the adopted one).
 * At a's next restart the group link handed it to the share stage as a's own; the first catch-up
 * published it again, the group's tombstone answered "unbanned since", and the share stage lifted X
 * for the group: b's permanent ban, made after that unban and stored in the group, was lifted at a
 * (its kernel unbanned X) until the catch-up's read adopted it again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { sleep, waitFor } from '../share/replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const APART = 2_600;

describe.skipIf(!hasRedisServer)(`review h41: an own ban the group lifted, under a newer adopted ban${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();
  const dirs: string[] = [];
  const running: Daemon[] = [];

  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
  });
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function agent(group: string, url: string, store: MemoryStore, dir: string) {
    const config = loadConfig({ env: { BANHAMMER_INSTANCE: `${group}-a`, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: group, BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
    const share = createRedisShare({ url, group, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
    const enforcer = new RecordingEnforcer();
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store, createSource, hostAddresses: [], share });
    running.push(daemon);
    return { daemon, enforcer, share };
  }

  it('after a restart, b\'s permanent ban stays in force at a throughout: never lifted, not for a moment', async () => {
    const group = 'h41su';
    const ip = '198.18.143.1';
    const b = await g.replica(`${group}-b`, { url: g.redis.url(), group });
    const c = await g.replica(`${group}-c`, { url: g.redis.url(), group });
    const proxy = await g.proxy();
    const dir = mkdtempSync(join(tmpdir(), 'bh-h41-'));
    dirs.push(dir);
    const url = `redis://127.0.0.1:${proxy.port}`;
    const store = new MemoryStore();
    const a = agent(group, url, store, dir);
    await a.daemon.start();
    await a.daemon.ban(ip, { forMs: HOUR });
    await waitFor("a's ban stored", async () => Number(await g.admin.hExists(`banhammer:{${group}}:bans`, ip)) === 1, 3000);
    proxy.cut();
    await waitFor('a offline', () => !a.share.stats().connected, 3000);
    await sleep(APART);
    expect(await c.stage.publishUnban({ ip, family: 4 })).toBe('lifted');
    await sleep(APART);
    b.stage.publishBan({ ip, family: 4, rule: 'manual', at: Date.now(), until: null, origin: b.name });
    await waitFor("b's ban stored", async () => Number(await g.admin.hExists(`banhammer:{${group}}:bans`, ip)) === 1, 3000);
    proxy.restore();
    await waitFor("b's permanent ban adopted at a", () => a.enforcer.held.get(ip)?.until === null, 5000);
    await sleep(300);
    await a.daemon.stop();
    running.splice(running.indexOf(a.daemon), 1);

    const a2 = agent(group, url, store, dir);
    await a2.daemon.start();
    await waitFor('a connected again', () => a2.share.stats().connected, 5000);
    await sleep(1_000);
    const unbanned = a2.enforcer.batches.filter((x) => x.unban.some((u) => u.ip === ip));
    expect(unbanned, 'batches unbanning X at a after its restart').toEqual([]);
    expect(a2.enforcer.held.get(ip)?.until).toBeNull();
    expect(a2.daemon.why(ip).active.map((x) => x.from ?? null)).toEqual([b.name]);
  }, 20_000);
});
