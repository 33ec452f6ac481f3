/**
 * Two live agents (the real Daemon wiring: pipeline, ban book, enforcement queue, group link) sharing
 * through a real redis-server as a restricted ACL user, each with a recording enforcer standing for its
 * kernel set (issue 11): failures at both replicas add up to one ban that lands on both; a manual ban
 * and an unban made at one replica reach the other; status says which bans came from the group;
 * with Redis down both keep banning locally, and once it returns (empty) they converge.
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
import { apacheTime } from '../agent/fixture.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { waitFor } from './replica.js';


const line = (ip: string) => `${ip} - - ${apacheTime(Date.now())} "GET /private HTTP/1.1" 403 10 "-" "curl"`;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

interface Agent { daemon: Daemon; enforcer: RecordingEnforcer; emit(l: string): void }
const dirs: string[] = [];
const running: Daemon[] = [];

function agent(name: string, url: string, opts: { cidr?: boolean } = {}): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'bh-agents-'));
  dirs.push(dir);
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'shop', BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'shop', replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
  const enforcer = new RecordingEnforcer();
  if (opts.cidr === false) enforcer.cidr = false;
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], share });
  running.push(daemon);
  return { daemon, enforcer, emit: (l) => source.onLine(l, '/var/log/access.log') };
}

describe.skipIf(!hasRedisServer)(`replicas share failures and bans through Redis${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
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

  it('3 failures at one replica and 2 at the other make one ban, in both kernels; status names the group ban', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url);
    await a.daemon.start();
    await b.daemon.start();
    for (let i = 0; i < 3; i++) a.emit(line('198.18.20.1'));
    for (let i = 0; i < 2; i++) b.emit(line('198.18.20.1'));
    await waitFor('the ban in both enforcers', () => a.enforcer.held.has('198.18.20.1') && b.enforcer.held.has('198.18.20.1'), 5000);
    const bans = [a, b].map((x) => x.daemon.status('forbidden').rules[0]!.bans!);
    expect(bans.map((x) => x.length)).toEqual([1, 1]);
    // One replica made it, the other got it from the group: exactly one `from` is set.
    expect(bans.map((x) => x[0]!.from).filter((f) => f !== null)).toHaveLength(1);
    expect(bans.flatMap((x) => x.map((y) => y.from)).find((f) => f !== null)).toMatch(/^replica-[ab]$/);
  });

  it('a manual ban and an unban at one replica reach the other', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url);
    await a.daemon.start();
    await b.daemon.start();
    const t0 = performance.now();
    await a.daemon.ban('198.18.20.2', { forMs: 3600_000 });
    await waitFor('manual ban at b', () => b.enforcer.held.has('198.18.20.2'), 2000);
    console.log(`[share] manual ban at a → b's enforcer: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(b.enforcer.held.get('198.18.20.2')!.until).toBe(a.enforcer.held.get('198.18.20.2')!.until);
    expect(await b.daemon.unban('198.18.20.2')).toBe(1);
    await waitFor('unban at a', () => !a.enforcer.held.has('198.18.20.2'), 2000);
  });

  it('a network (CIDR) ban and its unban at one replica reach the other; a replica whose enforcer holds no networks leaves it out', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url);
    const c = agent('replica-c', url, { cidr: false });
    await a.daemon.start();
    await b.daemon.start();
    await c.daemon.start();
    await a.daemon.ban('198.18.64.0/24', { forMs: 3600_000 });
    await waitFor('network ban at b', () => b.enforcer.held.has('198.18.64.0/24'), 2000);
    expect(b.enforcer.held.get('198.18.64.0/24')!.until).toBe(a.enforcer.held.get('198.18.64.0/24')!.until);
    // c got it too (b has it, so it was published) and left it out: no network in its kernel, no refusal.
    await new Promise((r) => setTimeout(r, 200));
    expect(c.enforcer.held.has('198.18.64.0/24')).toBe(false);
    expect(c.daemon.why('198.18.64.0/24').active).toEqual([]);
    expect(c.daemon.status().health!.refused).toBe(0);
    expect(await b.daemon.unban('198.18.64.0/24')).toBe(1);
    await waitFor('network unban at a', () => !a.enforcer.held.has('198.18.64.0/24'), 2000);
    expect(b.daemon.why('198.18.64.0/24').active).toEqual([]);
  });

  it('with Redis down each replica bans on its own; when Redis returns empty they converge', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url);
    await a.daemon.start();
    await b.daemon.start();
    await redis.kill();
    for (let i = 0; i < 5; i++) a.emit(line('198.18.20.3'));
    await waitFor('local ban at a while Redis is down', () => a.enforcer.held.has('198.18.20.3'), 2000);
    expect(b.enforcer.held.has('198.18.20.3')).toBe(false);
    await redis.start();
    await waitFor('b converges after Redis returns', () => b.enforcer.held.has('198.18.20.3'), 5000);
  });
});
