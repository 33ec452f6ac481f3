/**
 * Redis under memory pressure with an allkeys eviction policy (helper h39): another tenant's keys
 * fill maxmemory and Redis evicts the group's hash, tombstones and epoch key (the group's keys are
 * the least recently used: written once, read rarely). A real eviction, not a DEL: maxmemory set just
 * above what the server holds, 24 MB of other keys written after. The replicas find the loss
 * (the epoch) and store their bans again; an address unbanned before stays unbanned; nothing loops.
 * Same harness and model as failover.test.ts (group.ts).
 */
import { describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { useFailoverGroup, type Node, type Target } from './group.js';

describe.skipIf(!hasRedisServer)('shared bans when Redis evicts the group\'s keys (maxmemory, allkeys-lru)', () => {
  const { server, group, holds, until, agree } = useFailoverGroup();

  it('every ban in force is stored again and held everywhere, an unbanned address stays unbanned, and the replicas go quiet', async () => {
    const s = await server();
    const g = 'evicted';
    const { w, ns } = await group(g, ['a', 'b', 'c'], s.port);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.39.20', family: 4 };
    const y: Target = { ip: '198.18.39.21', family: 4 };
    const z: Target = { ip: '2001:db8:39::21', family: 6 };
    a.ban(x);
    b.ban(y);
    c.ban(z);
    await until('every ban heard', () => ns.every((n) => holds(n, x) && holds(n, y) && holds(n, z)));
    w.vt += 2_300;
    expect(await c.unban(x)).toBe('lifted');
    await until('the unban heard', () => !holds(a, x) && !holds(b, x));
    const used = Number(/used_memory:(\d+)/.exec(String(await s.admin.sendCommand(['INFO', 'memory'])))?.[1]);
    await s.admin.sendCommand(['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru']);
    await s.admin.sendCommand(['CONFIG', 'SET', 'maxmemory', String(used + 2 * 1024 * 1024)]);
    const junk = 'j'.repeat(10_000);
    for (let i = 0; i < 2_400; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => s.admin.set(`other-tenant:${i + k}`, junk)));
    const left = Number(await s.admin.exists([`banhammer:{${g}}:bans`, `banhammer:{${g}}:unbans`, `banhammer:{${g}}:epoch`]));
    // (The test is only worth something if Redis did evict them.)
    expect(left).toBe(0);
    await agree(s, w, ns, [y, z], [x]);
  });
});
