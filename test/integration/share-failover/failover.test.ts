/**
 * A failover to a replica that missed the last writes (helper h39): a primary and a `--replicaof`
 * replica, promoted with REPLICAOF NO ONE (what it holds then is what the failover keeps, the
 * primary's later writes are lost), and every replica of the group moved to it through its own
 * switchable proxy (the name a Sentinel or a cloud endpoint moves). The convergence harness's
 * replicas (share-converge/harness.ts: each keeps the view its ban book would; virtual time between
 * operations on one address; no TIME).
 *
 * The model after quiet (group.ts, agree): per address, the last ban or unban made anywhere; every
 * replica's view, the group's hash and a late joiner agree with it. An unban is not undone by what
 * Redis lost, and a ban Redis lost is not lost for the group (its maker may be gone: scaled down).
 */
import { describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { fieldOf, sleep, useFailoverGroup, type Node, type Target } from './group.js';
import { replicated, type SwitchProxy } from './servers.js';

describe.skipIf(!hasRedisServer)('shared bans when Redis fails over to a replica that missed the last writes', () => {
  const { pair, group, holds, until, switchAll, agree, trace } = useFailoverGroup();

  it('a failover to a replica that missed an unban: the unbanned address is banned nowhere, not in the hash, not at a late joiner', async () => {
    const { primary, replica } = await pair();
    const { w, ns } = await group('fo-unban', ['a', 'b', 'c'], primary.port);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.39.1', family: 4 };
    a.ban(x);
    await until('x heard everywhere', () => holds(b, x) && holds(c, x));
    await replicated(primary, replica);
    // The replica is cut off from here (what the failover keeps is what it holds now).
    await replica.admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    w.vt += 2_300;
    expect(await b.unban(x)).toBe('lifted');
    await until('the unban heard', () => !holds(a, x) && !holds(c, x));
    switchAll(ns, replica.port);
    await agree(replica, w, ns, [], [x]);
  });

  it('a failover to a replica that missed a ban whose maker is gone (scaled down): the others keep it, and it is stored again for late joiners', async () => {
    const { primary, replica } = await pair();
    const { w, ns } = await group('fo-ban', ['a', 'b', 'c'], primary.port);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.39.2', family: 4 };
    await replica.admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    a.ban(x);
    await until('x heard everywhere', () => holds(b, x) && holds(c, x));
    await a.stop();
    switchAll([b, c], replica.port);
    await agree(replica, w, [b, c], [x], []);
  });

  it('a failover to a replica that missed a ban whose maker is away at the time: the others never lift it, and its maker comes back to it', async () => {
    const { primary, replica } = await pair();
    const { w, ns } = await group('fo-ban2', ['a', 'b', 'c'], primary.port);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.39.3', family: 4 };
    await replica.admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    a.ban(x);
    await until('x heard everywhere', () => holds(b, x) && holds(c, x));
    a.cut();
    await until('a offline', () => !a.stage!.connected);
    switchAll([b, c], replica.port);
    await until('b and c settled on the new primary', () => b.settled() && c.settled());
    await sleep(500);
    (a.proxy as SwitchProxy).switchTo(replica.port);
    a.restore();
    await agree(replica, w, ns, [x], []);
    // Not lifted meanwhile either (the firewall would have let the address in until a came back).
    expect(w.trace.filter((l) => l.includes(`onRemoteUnban ${fieldOf(x)}`)), trace(w, ns)).toEqual([]);
  });
});
