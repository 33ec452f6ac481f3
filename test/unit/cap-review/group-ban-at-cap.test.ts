/**
 * Review H27: a ban from the group (Redis sharing) that arrives while this replica's ban book is at
 * its cap (BANHAMMER_MAX_BANS) is refused, as a detected one is. The README says the agent "bans again
 * as soon as bans end"; a detected offender comes back by offending again, but a group ban is
 * delivered once: the share stage remembers it as delivered (adopted here or not) and neither the
 * channel nor a catch-up hands it over again, so it stays unenforced here for its whole length
 * (a day, a permanent manual ban: for ever) however much room comes back.
 *
 * Real redis-server (skipped when not installed), two live agents (the Daemon wiring), recording
 * enforcers standing for their kernel sets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { createRedisShare, shareAclLine } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../../integration/share/redis-server.js';
import { waitFor } from '../../integration/share/replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const dirs: string[] = [];
const running: Daemon[] = [];

function agent(name: string, url: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h27-share-'));
  dirs.push(dir);
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'shop', BANHAMMER_STATE_DIR: dir, ...env }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'shop', replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], share });
  running.push(daemon);
  const pipeline = (daemon as unknown as { pipeline: Pipeline }).pipeline;
  return { daemon, enforcer, pipeline, emit: (l: string) => source.onLine(l, '/var/log/access.log') };
}

/** B's book filled to its cap of 1000 with its own bans (made straight in the book: nothing published). The group's stored bans of an earlier test may be held already. */
function fill(p: Pipeline, now: number): void {
  for (let i = 0; i < 2000 && p.book.active(now).length < 1000; i++) {
    p.book.consider({ ip: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`, family: 4, rule: 'exploit-probes', at: now, failures: 1 }, now);
  }
  expect(p.book.active(now)).toHaveLength(1000);
}

describe.skipIf(!hasRedisServer)(`a group ban refused at the cap${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
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

  it('is adopted once room comes back, as a detected offender is banned again', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url, { BANHAMMER_MAX_BANS: '1000' });
    await a.daemon.start();
    await b.daemon.start();
    const now = Date.now();
    fill(b.pipeline, now);
    const base = b.pipeline.book.refusedAtCap;
    // A bans an address for a day: B, at its cap, refuses it.
    await a.daemon.ban('198.18.50.1', { forMs: 24 * 3600_000 });
    await waitFor('B refusing the group ban', () => b.pipeline.book.refusedAtCap === base + 1, 5000);
    expect(b.pipeline.book.active(Date.now()).map((x) => x.ip)).not.toContain('198.18.50.1');
    // Room comes back at B (one of its bans lifted).
    b.pipeline.book.unban('198.18.0.1');
    // The group's ban, a day long and still in force, should now be held at B too.
    await waitFor('B adopting the group ban once it has room', () => b.pipeline.book.active(Date.now()).some((x) => x.ip === '198.18.50.1'), 5000);
    await waitFor('B enforcing it', () => b.enforcer.held.has('198.18.50.1'), 5000);
    expect(b.pipeline.book.refusedAtCap).toBe(base + 1);
  }, 20_000);

  it('waits without counting more refusals, and is not adopted once the group has unbanned it', async () => {
    const a = agent('replica-a', url);
    const b = agent('replica-b', url, { BANHAMMER_MAX_BANS: '1000' });
    await a.daemon.start();
    await b.daemon.start();
    const now = Date.now();
    fill(b.pipeline, now);
    const base = b.pipeline.book.refusedAtCap;
    await a.daemon.ban('198.18.50.2', { forMs: 24 * 3600_000 });
    await waitFor('B refusing the group ban', () => b.pipeline.book.refusedAtCap === base + 1, 5000);
    // Two of the agent's 1 s ticks at the cap: the waiting ban is not counted again.
    await new Promise((r) => setTimeout(r, 2200));
    expect(b.pipeline.book.refusedAtCap).toBe(base + 1);
    // The group unbans it; then room comes back at B: nothing to adopt.
    await a.daemon.unban('198.18.50.2');
    await waitFor('A lifting it', () => !a.enforcer.held.has('198.18.50.2'), 5000);
    await new Promise((r) => setTimeout(r, 300));
    b.pipeline.book.unban('198.18.0.1');
    await new Promise((r) => setTimeout(r, 2200));
    expect(b.pipeline.book.active(Date.now()).map((x) => x.ip)).not.toContain('198.18.50.2');
    expect(b.enforcer.held.has('198.18.50.2')).toBe(false);
  }, 20_000);
});
