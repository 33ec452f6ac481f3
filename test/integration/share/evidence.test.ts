/**
 * Evidence with replicas sharing through a real redis-server (issue 14): a ban made from the group's
 * count carries the lines of the replica that made it and says the rest were counted elsewhere; the
 * replica that adopted it says which replica made it and has no lines; an unban made at one replica
 * is in the other's history as `unbanned` by `group:<replica>`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare, shareAclLine } from '../../../src/share/share.js';
import { formatWhy } from '../../../src/control/format-why.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { apacheTime } from '../agent/fixture.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { waitFor } from './replica.js';

const line = (ip: string, path: string) => `${ip} - - ${apacheTime(Date.now())} "GET ${path} HTTP/1.1" 403 10 "-" "curl"`;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const dirs: string[] = [];
const running: Daemon[] = [];

function agent(name: string, url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'bh-share-ev-'));
  dirs.push(dir);
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'shop', BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'shop', replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], share });
  running.push(daemon);
  return { daemon, enforcer, emit: (l: string) => source.onLine(l, `/var/log/${name}/access.log`) };
}

describe.skipIf(!hasRedisServer)(`evidence with replicas sharing through Redis${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
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

  it("a group ban: the maker's lines and the adopter's `from`; an unban is in the other replica's history by group:<replica>", async () => {
    const ip = '198.18.21.1';
    const a = agent('replica-a', url);
    const b = agent('replica-b', url);
    await a.daemon.start();
    await b.daemon.start();
    const aLines = [0, 1, 2].map((i) => line(ip, `/a${i}`));
    const bLines = [0, 1].map((i) => line(ip, `/b${i}`));
    for (const l of aLines) a.emit(l);
    for (const l of bLines) b.emit(l);
    await waitFor('the ban at both replicas', () => a.enforcer.held.has(ip) && b.enforcer.held.has(ip), 5000);
    const wa = a.daemon.why(ip).active[0]!;
    const wb = b.daemon.why(ip).active[0]!;
    const [maker, adopter, makerLines] = wa.from === null ? [wa, wb, aLines] : [wb, wa, bLines];
    console.log(`----- why at the replica that made the ban\n${formatWhy(wa.from === null ? a.daemon.why(ip) : b.daemon.why(ip))}-----`);
    // The maker counted its own lines (and, from the group's count, the others' as not kept here).
    expect(['group-count', 'detected']).toContain(maker.source);
    expect(maker.evidence.map((l) => l.line)).toEqual(makerLines);
    expect(maker.evidence.length + maker.evidenceOmitted).toBe(maker.failures);
    expect(adopter).toMatchObject({ source: 'group', evidence: [], from: wa.from === null ? 'replica-a' : 'replica-b' });

    expect(await b.daemon.unban(ip)).toBe(1);
    await waitFor('the unban at a', () => !a.enforcer.held.has(ip), 3000);
    const ended = a.daemon.why(ip).ended;
    expect(ended).toHaveLength(1);
    expect(ended[0]!.ended).toMatchObject({ reason: 'unbanned', by: 'group:replica-b' });
    expect(formatWhy(a.daemon.why(ip))).toContain('unbanned by replica replica-b (shared through Redis)');
    expect(b.daemon.why(ip).ended[0]!.ended).toMatchObject({ reason: 'unbanned', by: 'control' });
  });
});
