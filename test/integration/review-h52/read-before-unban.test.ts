/**
 * Review H52: a replica catching up reads the group's hash on its commands connection and hears the
 * channel on another. An unban made while the hash is being read can reach it on the channel before
 * the step of the read that still held the ban: that entry was then delivered after the unban, and
 * a ban made within the clocks' skew before its unban (2 s: no stale one by the address's last
 * unban) was adopted again, and held here until it ended, while the group had lifted it. Made
 * deterministic with a proxy that holds back the reply of the read until the unbans were heard.
 */
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { SCAN_SCRIPT } from '../../../src/share/lua.js';
import { encodeBan } from '../../../src/share/messages.js';
import type { ShareEvents } from '../../../src/share/share.js';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { eventsOf, makeReplica, sleep, waitFor } from '../share/replica.js';

const HOUR = 3_600_000;

/**
 * A TCP proxy to 127.0.0.1:target that, on the first connection that calls the hash-reading script,
 * holds back what Redis answers on it from then until release().
 */
async function readHoldingProxy(target: number): Promise<{ port: number; holding: () => boolean; release: () => void; close: () => Promise<void> }> {
  let holder: { client: Socket; queue: Buffer[] } | null = null;
  let released = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    sockets.add(client);
    sockets.add(upstream);
    const c = { client, queue: [] as Buffer[] };
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (d: Buffer) => {
      if (holder === null && !released && d.toString('latin1').includes(SCAN_SCRIPT.sha1)) holder = c;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (holder === c && !released) c.queue.push(d);
      else client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  if (typeof a !== 'object' || a === null) throw new Error('no proxy port');
  return {
    port: a.port,
    holding: () => holder !== null,
    release() {
      released = true;
      if (holder !== null) for (const d of holder.queue.splice(0)) holder.client.write(d);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.skipIf(!hasRedisServer)('share (review H52): an unban heard before the read that still held its ban', () => {
  const g = useRedisGroup();
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('the ban read before the unban is not adopted after it', async () => {
    const group = 'h52-read-before-unban';
    const N = 40;
    const ip = (i: number): string => `198.18.53.${i + 1}`;
    // B caught up once: Redis knows the reading script (one EVALSHA, held as it is answered).
    const b = await g.replica('b', { url: g.redis.url(), group });
    const madeAt = Date.now();
    const args: string[] = [];
    for (let i = 0; i < N; i++) args.push(ip(i), encodeBan({ ip: ip(i), family: 4, rule: 'forbidden', at: madeAt, until: madeAt + HOUR, origin: 'b' }, madeAt));
    await g.admin.hSet(`banhammer:{${group}}:bans`, args);
    const p = await readHoldingProxy(g.redis.port);
    closers.push(p.close);
    const a = makeReplica('a', { url: `redis://127.0.0.1:${p.port}`, group });
    g.replicas.push(a);
    const held = new Set<string>();
    let unbansHeard = 0;
    const events: ShareEvents = {
      ...eventsOf(a),
      onRemoteBan: (ban) => void held.add(ban.ip),
      onRemoteUnban: (u) => {
        unbansHeard++;
        held.delete(u.ip);
      },
    };
    const started = a.stage.start(events);
    await waitFor('A reading the hash', () => p.holding(), 10_000);
    // Within the skew of the bans' making: only the order of what A hears tells them apart.
    for (let i = 0; i < N; i++) expect(await b.stage.publishUnban({ ip: ip(i), family: 4 })).toBe('lifted');
    await waitFor('A heard the unbans', () => unbansHeard >= N, 10_000);
    p.release();
    await started;
    await waitFor('A caught up', () => a.stage.stats().connected, 10_000);
    await sleep(300);
    expect(await g.admin.hLen(`banhammer:{${group}}:bans`)).toBe(0);
    expect([...held]).toEqual([]);
  }, 60_000);
});
