/**
 * Hostile review H45 of 19ca0ed (unbans sent again, queued). A queued unban is dropped when an
 * unban of the field, as recent, is heard first: taken for another replica's resend, which the
 * group's script published. With a share key, a signed message is accepted for 60 s (a replay
 * window): anyone who can publish on the channel, without the key, replays the unban the group
 * published a moment ago, and every replica that queued the unban of a stale ban (stored again from
 * an old dump) drops it. Nothing sent it: the stale ban stays in the hash, and late joiners and
 * restarted replicas adopt a ban the group lifted. A message sent before the unban was queued is no
 * resend of it and must not cancel it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { banField, groupKeys } from '../../../src/share/keys.js';
import { encodeBan } from '../../../src/share/messages.js';
import { createSigner } from '../../../src/share/signing.js';
import { floodReplica, removeFloodDirs, sleep, type FloodReplica } from '../share-unban-flood/flood.js';
import { useRedisServer } from '../share/redis-group.js';
import { hasRedisServer } from '../share/redis-server.js';
import { waitFor } from '../share/replica.js';

const KEY = 'h45-test-key-0123456789abcdef';

describe.skipIf(!hasRedisServer)('a replayed signed unban and the queue of unbans sent again', () => {
  const replicas: FloodReplica[] = [];
  const keyDir = mkdtempSync(join(tmpdir(), 'bh-h45-key-'));
  const server = useRedisServer({}, async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    for (const r of replicas) await r.proxy.close();
    removeFloodDirs();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('a stale ban stored again, then the group\'s earlier unban replayed off the channel: the unban is still sent again and the hash drops the stale ban', async () => {
    const group = 'h45-replay';
    const keyFile = join(keyDir, 'key');
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    const port = server.redis.port;
    const channel = `banhammer:{${group}}:events`;
    const bans = `banhammer:{${group}}:bans`;
    const unbans = `banhammer:{${group}}:unbans`;
    // The recorder: what the attacker reads off the channel.
    const heard: string[] = [];
    const sub = server.admin.duplicate();
    await sub.connect();
    await sub.subscribe(channel, (m) => heard.push(m));
    try {
      // r waits ~225 ms before its first resend (a constant draw): time for the replay to arrive.
      const r = await floodReplica('r', port, group, { random: () => 0.9, settings: { keyFile } });
      const op = await floodReplica('op', port, group, { settings: { keyFile } });
      replicas.push(r, op);
      const x = '198.18.45.1';
      const field = banField(x, undefined);
      const at0 = Date.now();
      expect(await op.stage.publishUnban({ ip: x, family: 4 })).toBe('none');
      await waitFor('r heard the unban', () => r.stage.stats().unbansIn === 1);
      await waitFor('the unban recorded', () => heard.length === 1);
      const replay = heard[0]!;
      // Some seconds later (past the clocks' allowed skew of 2 s; the replay window is 60 s).
      await sleep(2_500);
      // The operator's replica goes away (it would send the unban again itself).
      await op.stage.stop();
      // An old dump: the tombstone is gone, a genuine ban made before the unban is stored again
      // and published by its maker.
      const signer = createSigner(Buffer.from(KEY, 'utf8'), groupKeys(group, 0).group);
      const stale = signer.sign(encodeBan({ ip: x, family: 4, rule: 'sshd', at: at0 - 30_000, until: Date.now() + 3_600_000, origin: 'gone-replica' }, Date.now()));
      await server.admin.del(unbans);
      const from = r.proxy.unbans.length;
      await server.admin.hSet(bans, field, stale);
      await server.admin.publish(channel, stale);
      // The attacker replays the unban it recorded (signed, seconds old: within the 60 s accepted).
      await server.admin.publish(channel, replay);
      await waitFor('r heard the stale ban and the replay', () => r.stage.stats().bansStale === 1 && r.stage.stats().unbansIn + r.stage.stats().unbansStale >= 2, 5_000);
      // Past r's wait and a few ticks.
      await sleep(1_000);
      expect(r.proxy.unbans.length - from).toBe(1);
      expect(Boolean(await server.admin.hExists(bans, field))).toBe(false);
      expect(await server.admin.zScore(unbans, field)).not.toBeNull();
      // A late joiner does not adopt the lifted ban.
      const late = await floodReplica('late', port, group, { settings: { keyFile } });
      replicas.push(late);
      expect(late.bans.has(field)).toBe(false);
    } finally {
      await sub.unsubscribe().catch(() => undefined);
      await sub.quit().catch(() => undefined);
    }
  }, 20_000);
});
