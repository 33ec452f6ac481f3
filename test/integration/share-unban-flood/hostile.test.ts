/**
 * A hostile or buggy publisher on the group's channel (helper h42). Without a share key anyone who
 * can publish is a member: it publishes unbans of many distinct addresses (every replica notes them),
 * then stale bans of all of them, again and again. Each stale ban made every replica send that unban
 * again (unbanAgain: once per 30 s per address, nothing across addresses): one PUBLISH, N unban
 * scripts, each published to N replicas (5,000 addresses a round, 3 rounds, 2 replicas: 18,000 unban
 * scripts from each, 12,000 of them in one second). The traffic each replica sends must stay within
 * its budget per second, and the event loop must not stall on it. With a key, an unsigned publisher costs
 * nothing: no command is sent for what it publishes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRedisServer } from '../share/redis-group.js';
import { hasRedisServer } from '../share/redis-server.js';
import { waitFor } from '../share/replica.js';
import { addresses, blockMeter, floodReplica, heapAfterGc, mostIn, pipeToRedis, publishPipe, removeFloodDirs, seeded, sleep, staleBan, unbanMessage, type FloodReplica } from './flood.js';

/**
 * The budget's contract: 500 unbans sent again a second by one replica, and one tick's burst of 50:
 * at most 1,050 in any 2 s (a window of 2 s leaves room for the proxy, on this process's event
 * loop, reading some of them late).
 */
const MOST_IN_2S = 1_200;

describe.skipIf(!hasRedisServer)('a publisher flooding the channel with stale bans', () => {
  const replicas: FloodReplica[] = [];
  const keyDir = mkdtempSync(join(tmpdir(), 'bh-h42-key-'));
  const server = useRedisServer({}, async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    for (const r of replicas) await r.proxy.close();
    removeFloodDirs();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('without a key: unbans of 5,000 fresh addresses, then stale bans of every address so far, three rounds: each replica stays within its budget, the event loop does not stall', async () => {
    const group = 'hostile-unsigned';
    const K = 5_000;
    const port = server.redis.port;
    const channel = `banhammer:{${group}}:events`;
    for (const [i, name] of ['a', 'b'].entries()) replicas.push(await floodReplica(name, port, group, { random: seeded(7 + i) }));
    const mine = replicas.slice(-2);
    const now = Date.now();
    // Built before measuring: the publisher is another process (redis-cli), its work is not ours.
    const rounds = [0, 1, 2].map((r) => {
      const fresh = addresses(K, 30_000 + r * K);
      const all = addresses((r + 1) * K, 30_000);
      return { unbans: publishPipe(channel, fresh.map((ip) => unbanMessage(ip, now))), stale: publishPipe(channel, all.map((ip) => staleBan(ip, now - 60_000, 'hostile', now).value)), n: (r + 1) * K };
    });
    const heap0 = heapAfterGc();
    const from = mine.map((r) => r.proxy.unbans.length);
    const meter = blockMeter();
    let staleSent = 0;
    for (const round of rounds) {
      await pipeToRedis(port, round.unbans);
      await waitFor('every unban heard', () => mine.every((r) => r.stage.stats().unbansIn >= round.n), 10_000);
      await pipeToRedis(port, round.stale);
      staleSent += round.n;
      await waitFor('every stale ban heard', () => mine.every((r) => r.stage.stats().bansStale >= staleSent), 10_000);
      await sleep(500);
    }
    await sleep(1_000);
    const longest = meter.stop();
    const heap = heapAfterGc() - heap0;
    const sent = mine.map((r, i) => r.proxy.unbans.slice(from[i]));
    const perSecond = sent.map((s) => mostIn(s, 1_000));
    const per2s = sent.map((s) => mostIn(s, 2_000));
    console.log(`h42 hostile: K=${K}x3; unbans sent again per replica ${sent.map((s) => s.length).join('/')}, most in 1 s ${perSecond.join('/')}, in 2 s ${per2s.join('/')}, both ${mostIn(sent.flat().sort((x, y) => x - y), 1_000)}; longest event-loop block ${Math.round(longest)} ms; heap retained +${Math.round(heap / 1e6)} MB`);
    for (const n of per2s) expect(n).toBeLessThanOrEqual(MOST_IN_2S);
    // Measured, and bounded loosely (another process on this machine's CPUs stretches it): what
    // blocks is receiving the bursts of messages (~10 µs each), the same with or without a budget.
    expect(longest).toBeLessThan(500);
  }, 39_000);

  it('with a key: an unsigned publisher\'s unbans and stale bans cost nothing (no command sent for them)', async () => {
    const group = 'hostile-keyed';
    const K = 2_000;
    const ips = addresses(K, 20_000);
    const keyFile = join(keyDir, 'key');
    writeFileSync(keyFile, 'h42-test-key-0123456789abcdef\n', { mode: 0o600 });
    const port = server.redis.port;
    const r = await floodReplica('k', port, group, { settings: { keyFile } });
    replicas.push(r);
    const before = new Map(r.proxy.commands);
    const now = Date.now();
    const channel = `banhammer:{${group}}:events`;
    await pipeToRedis(port, publishPipe(channel, ips.map((ip) => unbanMessage(ip, now))));
    await pipeToRedis(port, publishPipe(channel, ips.map((ip) => staleBan(ip, now - 60_000, 'hostile', now).value)));
    await waitFor('every message refused', () => (r.stage.stats().invalid.signature ?? 0) >= 2 * K, 10_000);
    await sleep(500);
    const st = r.stage.stats();
    expect(st.unbansIn + st.bansStale + st.bansIn).toBe(0);
    // What was sent meanwhile is the watchdog's (PING, GET, HGET, TIME): no script at all.
    const scripts = [...r.proxy.commands].filter(([k, n]) => k.startsWith('EVAL') && n !== (before.get(k) ?? 0));
    expect(scripts).toEqual([]);
  }, 39_000);
});
