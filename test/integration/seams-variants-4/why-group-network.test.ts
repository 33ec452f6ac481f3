/**
 * Leftover (2) of issue 10's round 4: `banhammer why ADDRESS` lists the group's bans this agent does
 * not hold (WhyReport.group). A group network ban covering the address, left out here (an enforcer
 * that holds no networks, or narrower than BANHAMMER_SHARE_MIN_PREFIX4), was missing: the address is
 * dropped by every other replica and `why` here said nothing about it. Real Daemons, real Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare, shareAclLine } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../share/redis-server.js';
import { waitFor } from '../share/replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const dirs: string[] = [];
const running: Daemon[] = [];

function agent(name: string, url: string, opts: { cidr?: boolean; env?: Record<string, string> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h1-why-'));
  dirs.push(dir);
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'shop', BANHAMMER_STATE_DIR: dir, ...opts.env }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'shop', replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
  const enforcer = new RecordingEnforcer();
  if (opts.cidr === false) enforcer.cidr = false;
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], share, ...(opts.env && { reloadConfig: () => config }) });
  running.push(daemon);
  return { daemon, enforcer };
}

describe.skipIf(!hasRedisServer)('why ADDRESS names the group network ban covering it that this agent does not hold', () => {
  let redis: RedisServer;
  let url: string;
  beforeAll(async () => {
    redis = await startRedisServer({ aclLines: [shareAclLine('shop', 'shop-secret')] });
    url = redis.url('shop', 'shop-secret');
  });
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('an enforcer without networks: why of the network and of an address inside it both name the group ban', async () => {
    const a = agent('replica-a', url);
    const c = agent('replica-c', url, { cidr: false });
    await a.daemon.start();
    await c.daemon.start();
    await a.daemon.ban('198.18.64.0/24', { forMs: 3600_000 });
    await waitFor('heard at c', () => (c.daemon.why('198.18.64.0/24').group ?? []).length > 0, 3000);
    expect(c.enforcer.held.size).toBe(0);
    // Control: asked by the network's own spelling (already worked).
    expect(c.daemon.why('198.18.64.0/24').group!.map((g) => g.ip)).toEqual(['198.18.64.0/24']);
    // The defect: an address inside it.
    expect(c.daemon.why('198.18.64.7').group!.map((g) => [g.ip, g.from])).toEqual([['198.18.64.0/24', 'replica-a']]);
    // An address outside it is not concerned.
    expect(c.daemon.why('198.18.65.7').group).toEqual([]);
  });

  it('held here (an enforcer with networks): the group list stays empty, the ban is under active', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url);
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban('198.18.66.0/24', { forMs: 3600_000 });
    await waitFor('held at b', () => b.enforcer.held.has('198.18.66.0/24'), 3000);
    const w = b.daemon.why('198.18.66.9');
    expect(w.active.map((x) => x.ip)).toEqual(['198.18.66.0/24']);
    expect(w.group).toEqual([]);
  });

  it('IPv6: a group /64 not held here shows for an address inside it', async () => {
    const a = agent('replica-a', url);
    const c = agent('replica-c', url, { cidr: false });
    await a.daemon.start();
    await c.daemon.start();
    await a.daemon.ban('2001:db8:7:1::/64', { forMs: 3600_000 });
    await waitFor('heard at c', () => (c.daemon.why('2001:db8:7:1::/64').group ?? []).length > 0, 3000);
    expect(c.daemon.why('2001:db8:7:1::abcd').group!.map((g) => g.ip)).toEqual(['2001:db8:7:1::/64']);
  });
});
