/**
 * Audit round 4 of issue 11: a slow Redis never delays a local ban. Real Daemons (pipeline, ban book,
 * enforcement queue, group link) with a recording enforcer, sharing through a real redis-server that
 * is then frozen (SIGSTOP: connections open, nothing answered, as a swapped-out or wedged server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { apacheTime } from '../agent/fixture.js';
import { hasRedisServer } from '../share/redis-server.js';
import { waitFor } from '../share/replica.js';
import { startR4Redis, type R4Redis } from './redis.js';

const line = (ip: string) => `${ip} - - ${apacheTime(Date.now())} "GET /private HTTP/1.1" 403 10 "-" "curl"`;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const dirs: string[] = [];
const running: Daemon[] = [];

function agent(name: string, url: string) {
  const dir = mkdtempSync('/tmp/h4/agent-');
  dirs.push(dir);
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'slow', BANHAMMER_STATE_DIR: dir }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'slow', replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], share });
  running.push(daemon);
  return { daemon, enforcer, emit: (l: string) => source.onLine(l, '/var/log/access.log') };
}

describe.skipIf(!hasRedisServer)('share: a frozen Redis never delays a local ban', () => {
  let srv: R4Redis | undefined;
  let frozen = false;
  beforeAll(async () => {
    srv = await startR4Redis();
  });
  afterEach(async () => {
    if (frozen) process.kill(srv!.pid, 'SIGCONT');
    frozen = false;
    for (const d of running.splice(0)) await d.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  // "At once": well under what waiting on the frozen server would take (it never answers: a wait
  // lasts until the hang is noticed, 10 s, or the group's 3 s bound on an unban's answer), with room
  // for a loaded CI machine (a fixed 500 ms was a flake there, not a finding).
  const AT_ONCE_MS = 2_000;

  it('with Redis frozen under live connections: maxretry failures ban at once, a manual ban and an unban apply at once', async () => {
    const a = agent('slow-a', srv!.url());
    await a.daemon.start();
    await waitFor('connected', () => a.daemon.status().health!.shareConnected === true, 5000);
    process.kill(srv!.pid, 'SIGSTOP');
    frozen = true;
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) a.emit(line('198.18.60.1'));
    await waitFor('the local ban in the enforcer', () => a.enforcer.held.has('198.18.60.1'), AT_ONCE_MS);
    expect(performance.now() - t0).toBeLessThan(AT_ONCE_MS);
    const t1 = performance.now();
    await a.daemon.ban('198.18.60.2', { forMs: 600_000 });
    expect(a.enforcer.held.has('198.18.60.2')).toBe(true);
    expect(performance.now() - t1).toBeLessThan(AT_ONCE_MS);
    // the unban's answer may wait for the group (at most 3 s), the kernel's lift does not
    const t2 = performance.now();
    const answer = a.daemon.unban('198.18.60.2');
    await waitFor('lifted in the enforcer', () => !a.enforcer.held.has('198.18.60.2'), AT_ONCE_MS);
    expect(performance.now() - t2).toBeLessThan(AT_ONCE_MS);
    expect(await answer).toBe(1);
  });
});
