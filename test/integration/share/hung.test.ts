/**
 * A Redis that keeps its sockets open but does not answer (SIGSTOPped, swapped out, wedged) is an
 * outage too: node-redis alone would wait for ever, the stage would say "connected", and bans would
 * be handed to a connection that never delivers them. The stage PINGs; unanswered for hungAfterMs, it
 * reports the outage, keeps bans in the outbox, is not reported connected again until Redis answers,
 * and delivers what waited once it does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SharedBan } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { eventsOf, makeReplica, removeReplicaDirs, sleep, startReplica, waitFor, type Replica } from './replica.js';

const HOUR = 3_600_000;

describe.skipIf(!hasRedisServer)('share stage with a Redis that stops answering', () => {
  let redis: RedisServer;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    if (redis?.pid !== undefined) process.kill(redis.pid, 'SIGCONT');
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await redis?.stop();
    removeReplicaDirs();
  });

  const ban = (ip: string): SharedBan => ({ ip, family: 4, rule: 'http-403', at: Date.now(), until: Date.now() + HOUR, origin: 'x' });

  it('is reported offline within hungAfterMs, keeps bans in the outbox, and delivers them when Redis answers again', async () => {
    const a = await startReplica('a', { url: redis.url(), group: 'hung', hungAfterMs: 1_500 });
    const b = await startReplica('b', { url: redis.url(), group: 'hung', hungAfterMs: 1_500 });
    replicas.push(a, b);
    expect(a.stage.connected && b.stage.connected).toBe(true);
    a.stage.publishBan(ban('198.18.7.1'));
    await waitFor('first ban at B', () => b.bans.length === 1);

    const pid = redis.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      const took = await waitFor('the hang noticed', () => !a.stage.connected && !b.stage.connected, 5_000);
      expect(took).toBeLessThan(4_000);
      const down = a.statuses.at(-1)!;
      expect(down.connected).toBe(false);
      expect(down.error).toMatch(/has not answered/);
      expect(a.logs.some((l) => /Redis does not answer; reconnecting/.test(l.msg))).toBe(true);
      // While it hangs: nothing blocks, the ban waits in the outbox.
      a.stage.publishBan(ban('198.18.7.2'));
      expect(a.stage.stats().outboxDepth).toBe(1);
      // New connections are accepted by the kernel while the server is stopped: the stage must not
      // take them for a working Redis (no "connected" until a PING is answered).
      await sleep(4_000);
      expect(a.stage.connected).toBe(false);
      expect(a.statuses.filter((s) => s.connected).length).toBe(1);
      expect(a.stage.stats().hung).toBeGreaterThanOrEqual(1);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('back', () => a.stage.connected && b.stage.connected, 8_000);
    await waitFor('the waiting ban at B', () => b.bans.some((x) => x.ban.ip === '198.18.7.2'), 5_000);
    expect(a.stage.stats().outboxDepth).toBe(0);
  }, 30_000);

  it('stops promptly while Redis hangs', async () => {
    const c = await startReplica('c', { url: redis.url(), group: 'hung-stop', hungAfterMs: 1_500 });
    const pid = redis.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      c.stage.publishBan(ban('198.18.7.3'));
      const t0 = performance.now();
      await c.stage.stop();
      // The stage's own bounds on stopping: 1 s for a catch-up under way, 1 s for each of its two
      // connections to close (3 s at most, which the old 3 s bound left no room above); one that
      // waited on the hung server would not return before SIGCONT (never, here).
      expect(performance.now() - t0).toBeLessThan(6_000);
      // The ban in flight on the cut connection is in the outbox file when stop() returns.
      expect(readFileSync(c.outboxPath, 'utf8')).toContain('198.18.7.3');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }, 15_000);

  it('stopped while it starts (a SIGTERM during start-up): no connection is left open', async () => {
    // Connections other than redis-cli's own (the other tests' replicas may still hold theirs).
    const open = (): number => spawnSync('redis-cli', ['-p', String(redis.port), 'client', 'list'], { timeout: 5_000 }).stdout.toString().split('\n').filter((l) => l.includes(' cmd=') && !l.includes(' cmd=client')).length;
    const before = open();
    const r = makeReplica('early', { url: redis.url(), group: 'early' });
    const started = r.stage.start(eventsOf(r));
    await r.stage.stop();
    await started;
    await sleep(500);
    expect(open()).toBe(before);
  });

  it('a server that accepts and drops every connection is not reconnected to dozens of times a second', async () => {
    // Answers each command (+PONG, the subscribe reply), then closes 30 ms later: node-redis alone
    // reconnects at once every time (~35 connections a second, for ever).
    let conns = 0;
    const srv = createServer((sock) => {
      conns++;
      sock.on('data', (d) => {
        const t = d.toString();
        if (/SUBSCRIBE/i.test(t)) {
          const ch = t.split('\r\n').filter((x) => x !== '' && !x.startsWith('*') && !x.startsWith('$')).at(-1)!;
          sock.write(`*3\r\n$9\r\nsubscribe\r\n$${ch.length}\r\n${ch}\r\n:1\r\n`);
        } else sock.write('+PONG\r\n');
        setTimeout(() => sock.destroy(), 30);
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const addr = srv.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const r = await startReplica('flap', { url: `redis://127.0.0.1:${port}`, group: 'flap', hungAfterMs: 3_000 });
    try {
      const c0 = conns;
      await sleep(5_000);
      expect(conns - c0).toBeLessThan(40);
      expect(r.logs.some((l) => /drops every connection/.test(l.msg))).toBe(true);
    } finally {
      await r.stage.stop();
      srv.close();
    }
  }, 20_000);

  it('a Redis that answers PING with an error while it loads its data (-LOADING) is connected to once it has loaded', async () => {
    // A restarted Redis with a data set accepts connections and answers -LOADING until it has read it:
    // the first PING fails with an answer, and the stage must ask again rather than wait for a reconnect.
    const dir = mkdtempSync(join(tmpdir(), 'bh-redis-load-'));
    const port: number = await new Promise((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
      });
    });
    const children: ChildProcess[] = [];
    const server = (extra: string[]): ChildProcess => {
      const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--enable-debug-command', 'local', '--logfile', join(dir, 'log'), ...extra], { stdio: 'ignore' });
      children.push(c);
      return c;
    };
    const cli = (...a: string[]): string => spawnSync('redis-cli', ['-p', String(port), ...a], { timeout: 10_000 }).stdout?.toString().trim() ?? '';
    try {
      let srv = server([]);
      await waitFor('redis up', () => cli('ping') === 'PONG', 5_000);
      cli('debug', 'populate', '60000');
      expect(cli('save')).toBe('OK');
      const a = await startReplica('load-a', { url: `redis://127.0.0.1:${port}`, group: 'load', hungAfterMs: 1_500 });
      replicas.push(a);
      expect(a.stage.connected).toBe(true);
      const exited = new Promise((r) => srv.once('exit', r));
      srv.kill('SIGKILL');
      await exited;
      await waitFor('outage noticed', () => !a.stage.connected, 5_000);
      // About 3 s of loading (50 µs per key).
      srv = server(['--key-load-delay', '50', '--loading-process-events-interval-bytes', '1024']);
      await waitFor('redis loading', () => cli('ping').startsWith('LOADING'), 5_000);
      a.stage.publishBan(ban('198.18.7.4'));
      await waitFor('redis loaded', () => cli('ping') === 'PONG', 20_000);
      await waitFor('connected after loading', () => a.stage.connected, 8_000);
      await waitFor('the waiting ban stored', () => cli('hexists', 'banhammer:{load}:bans', '198.18.7.4') === '1', 5_000);
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
