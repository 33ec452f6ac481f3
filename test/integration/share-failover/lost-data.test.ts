/**
 * Redis losing data without a failover (helper h39): a restart that loads an old dump (`SAVE`, then
 * SIGKILL and start: bans unbanned since come back, tombstones and bans made since are gone), and a
 * FLUSHALL, a FLUSHDB or the tombstones deleted (what an allkeys eviction does) while one replica is
 * away holding a ban the group unbanned meanwhile (it comes back and stores it again, no tombstone
 * refusing it). Same harness and model as failover.test.ts (group.ts).
 */
import { describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { fieldOf, sleep, useFailoverGroup, type Node, type Target } from './group.js';

describe.skipIf(!hasRedisServer)('shared bans when Redis restarts from an old dump or loses keys', () => {
  const { server, group, holds, until, agree, trace } = useFailoverGroup();

  it('Redis restarted from an old dump: a ban unbanned since stays lifted everywhere, a ban made since is stored again', async () => {
    const s = await server();
    const { w, ns } = await group('old-dump', ['a', 'b', 'c'], s.port);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.39.4', family: 4 };
    const y: Target = { ip: '198.18.39.5', family: 4 };
    a.ban(x);
    await until('x heard everywhere', () => holds(b, x) && holds(c, x));
    await s.admin.sendCommand(['SAVE']);
    w.vt += 2_300;
    expect(await b.unban(x)).toBe('lifted');
    c.ban(y);
    await until('the unban and y heard', () => !holds(a, x) && !holds(c, x) && holds(a, y) && holds(b, y));
    // y's maker is away while Redis restarts, and comes back once the others caught up.
    c.cut();
    await until('c offline', () => !c.stage!.connected);
    await s.kill();
    await s.restart();
    await until('a and b settled', () => a.settled() && b.settled());
    await sleep(500);
    c.restore();
    await agree(s, w, ns, [y], [x]);
    // y, made after the dump, was never lifted anywhere meanwhile.
    expect(w.trace.filter((l) => l.includes(`onRemoteUnban ${fieldOf(y)}`)), trace(w, ns)).toEqual([]);
  });

  it('Redis restarted without persistence after a ban\'s maker is gone (scaled down): the others keep it and store it again for late joiners', async () => {
    const s = await server();
    const { w, ns } = await group('empty-restart', ['a', 'b', 'c'], s.port);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.39.7', family: 4 };
    a.ban(x);
    await until('x heard everywhere', () => holds(b, x) && holds(c, x));
    await a.stop();
    await s.kill();
    await s.restart();
    await agree(s, w, [b, c], [x], []);
  });

  for (const loss of ['FLUSHALL', 'FLUSHDB', 'tombstones lost'] as const) {
    it(`${loss} while a replica is away holding a ban unbanned meanwhile: it comes back and the unban stands everywhere`, async () => {
      const s = await server();
      const g = `away-${loss.replace(/ /g, '-').toLowerCase()}`;
      const { w, ns } = await group(g, ['a', 'b', 'c'], s.port);
      const [a, b, c] = ns as [Node, Node, Node];
      const x: Target = { ip: '198.18.39.6', family: 4 };
      a.ban(x);
      await until('x heard everywhere', () => holds(b, x) && holds(c, x));
      a.cut();
      await until('a offline', () => !a.stage!.connected);
      w.vt += 2_300;
      expect(await b.unban(x)).toBe('lifted');
      await until('the unban heard', () => !holds(c, x));
      if (loss === 'tombstones lost') await s.admin.del(`banhammer:{${g}}:unbans`);
      else await s.admin.sendCommand([loss]);
      // The others notice the loss (the epoch) and catch up before a returns.
      await sleep(2_500);
      a.restore();
      await agree(s, w, ns, [], [x]);
    });
  }
});
