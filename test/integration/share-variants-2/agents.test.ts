/**
 * Audit round 2 of issue 11 with the real Daemon wiring (pipeline, ban book, queue, group link) and a
 * recording enforcer for the kernel: hostile group messages naming what this replica allowlists
 * never reach its enforcer and never shield the address elsewhere; a manual ban's `--for` and a
 * scoped ban on a replica that is not in host mode. A real redis-server on a port in 46000–46999.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { createRedisShare } from '../../../src/share/share.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { hasRedisServer } from '../share/redis-server.js';
import { sleep, waitFor } from '../share/replica.js';
import { apacheTime } from '../agent/fixture.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;

interface Agent { daemon: Daemon; enforcer: RecordingEnforcer; emit(l: string): void }
const dirs: string[] = [];
const running: Daemon[] = [];

function agent(name: string, url: string, env: Record<string, string> = {}, hostAddresses: string[] = []): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h5-agents-'));
  dirs.push(dir);
  const config = loadConfig({ env: { BANHAMMER_INSTANCE: name, BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'h5', BANHAMMER_STATE_DIR: dir, ...env }, hostname: 'unit' });
  const share = createRedisShare({ url, group: 'h5', replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const daemon = new Daemon({ config, clock: systemClock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses, share });
  running.push(daemon);
  return { daemon, enforcer, emit: (l) => source.onLine(l, '/var/log/access.log') };
}

describe.skipIf(!hasRedisServer)('share round 2: what a replica allowlists, with the real agent wiring', () => {
  let child: ChildProcess | undefined;
  let dir = '';
  let url = '';
  let admin: ReturnType<typeof createClient>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bh-h5-redis-'));
    for (let attempt = 0; attempt < 8 && url === ''; attempt++) {
      const port = 46000 + Math.floor(Math.random() * 1000);
      const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
      const probe = createClient({ url: `redis://127.0.0.1:${port}`, disableClientInfo: true, socket: { reconnectStrategy: false } });
      probe.on('error', () => undefined);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && c.exitCode === null && url === '') {
        try {
          await probe.connect();
          await probe.ping();
          await probe.close();
          url = `redis://127.0.0.1:${port}`;
          child = c;
        } catch {
          await sleep(50);
        }
      }
      if (url === '' && c.exitCode === null) c.kill('SIGKILL');
    }
    if (url === '') throw new Error('no redis-server on a port in 46000–46999');
    admin = createClient({ url, disableClientInfo: true });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    await admin.flushAll();
  });
  afterAll(async () => {
    await admin?.close().catch(() => undefined);
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pub = (m: Record<string, unknown>) => {
    const now = Date.now();
    return admin.publish('banhammer:{h5}:events', JSON.stringify({ v: 1, t: 'ban', family: String(m['ip']).includes(':') ? 6 : 4, rule: 'manual', at: now, until: now + HOUR, origin: 'mallory', sent: now, ...m }));
  };

  it('group bans of this replica’s ignoreip, trusted proxy, own address, loopback, and networks covering them never reach its enforcer; the replica that banned keeps its ban, a third replica enforces it', async () => {
    const env = { BANHAMMER_IGNOREIP: '198.18.50.0/24,2001:db8:50::/48', BANHAMMER_TRUSTED_PROXIES: '198.18.51.7' };
    const a = agent('h5-a', url);
    const b = agent('h5-b', url, env, ['198.18.52.1', '2001:db8:52::1']);
    const c = agent('h5-c', url);
    for (const x of [a, b, c]) await x.daemon.start();
    const hostile = ['198.18.50.9', '2001:db8:50::9', '198.18.51.7', '198.18.52.1', '2001:db8:52::1', '127.0.0.1', '::1', '::ffff:198.18.50.9', '198.18.50.0/25', '198.18.0.0/16', '2001:db8::/32', '2001:db8:52::/64'];
    for (const ip of hostile) await pub({ ip, family: ip.includes(':') && !ip.startsWith('::ffff:') ? 6 : 4 });
    // a's own ban of an address b allowlists
    await a.daemon.ban('198.18.50.10', { forMs: HOUR });
    await pub({ ip: '198.18.53.1' }); // a valid one after them all
    await waitFor('the valid ban at b', () => b.enforcer.held.has('198.18.53.1'), 3000);
    await waitFor('a’s ban at c', () => c.enforcer.held.has('198.18.50.10'), 3000);
    await sleep(200);
    expect([...b.enforcer.held.keys()]).toEqual(['198.18.53.1']);
    expect(a.enforcer.held.has('198.18.50.10')).toBe(true);
    expect(b.daemon.status().health!.refused).toBe(0);
  });

  it('a manual ban with --for 90s reaches the others with the same until; a ban scoped to a container at a replica not in host mode is held host-wide there (never refused by its enforcer)', async () => {
    const a = agent('h5-d', url);
    const b = agent('h5-e', url);
    await a.daemon.start();
    await b.daemon.start();
    await a.daemon.ban('2001:db8:54::1', { forMs: 90_000 });
    await waitFor('the ban at b', () => b.enforcer.held.has('2001:db8:54::1'), 3000);
    const until = a.enforcer.held.get('2001:db8:54::1')!.until!;
    expect(b.enforcer.held.get('2001:db8:54::1')!.until).toBe(until);
    expect(Math.abs(until - (Date.now() + 90_000))).toBeLessThan(5000);
    await pub({ ip: '198.18.54.2', scope: 'a'.repeat(64) });
    await waitFor('the scoped ban at b', () => [...b.enforcer.held.keys()].some((k) => k.startsWith('198.18.54.2')), 3000);
    expect(b.daemon.status().health!.refused).toBe(0);
  });
  it('a repeat offender is a repeat offender for the group: after a ban made at one replica ends, the next ban of it at another is the second (bantime grown by the increment), and that reaches the first', async () => {
    const rules = mkdtempSync(join(tmpdir(), 'bh-h5-rules-'));
    dirs.push(rules);
    writeFileSync(join(rules, 'h5-repeat.yaml'), ['name: h5-repeat', 'description: h5 audit', 'enabled: true', 'match:', '  status: [401]', 'maxretry: 2', 'findtime: 1m', 'bantime: 2s', 'increment: { factor: 4, maxtime: 1h }', ''].join('\n'));
    const env = { BANHAMMER_RULES_DIR: rules };
    const a = agent('h5-f', url, env);
    const b = agent('h5-g', url, env);
    await a.daemon.start();
    await b.daemon.start();
    const ip = '198.18.55.1';
    const line = () => `${ip} - - ${apacheTime(Date.now())} "GET /h5 HTTP/1.1" 401 10 "-" "curl"`;
    a.emit(line());
    a.emit(line());
    await waitFor('the first ban at both', () => a.enforcer.held.has(ip) && b.enforcer.held.has(ip), 3000);
    const first = a.enforcer.held.get(ip)!.until! - Date.now();
    expect(first).toBeLessThanOrEqual(2000);
    // past the ban and the group's 5 s claim
    await waitFor('the first ban ended at both', () => !a.enforcer.held.has(ip) && !b.enforcer.held.has(ip), 6000);
    await sleep(5200);
    b.emit(line());
    b.emit(line());
    await waitFor('the second ban at both', () => a.enforcer.held.has(ip) && b.enforcer.held.has(ip), 3000);
    const second = b.enforcer.held.get(ip)!.until! - Date.now();
    expect(second).toBeGreaterThan(5000); // 4 × 2 s
    expect(a.enforcer.held.get(ip)!.until).toBe(b.enforcer.held.get(ip)!.until);
  }, 30_000);
});
