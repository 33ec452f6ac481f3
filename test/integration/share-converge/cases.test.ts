/**
 * Deterministic convergence cases (helper h35), each a schedule the seeded randomized test
 * (random.test.ts) found or that its model led to, reduced to the fewest steps. Same harness: replicas
 * behind cuttable proxies, each replica's view as its ban book keeps it, virtual time moved between
 * operations (no TIME: harness.ts), a real redis-server.
 *
 * Each replica also holds FILLER bans of its own that never change: the watchdog looks up one own
 * ban per round (checkEpoch) and, finding one missing, has the replica store its bans again; with
 * many own bans that repair comes only after as many rounds, so a test that sees a view converge
 * within a few seconds sees the stage's own mechanisms, not that sampling.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer, type RedisServer } from '../share/redis-server.js';
import type { AdminClient } from '../share/redis-group.js';
import { SCAN_SCRIPT } from '../../../src/share/lua.js';
import { waitFor as until } from '../share/replica.js';
import { fieldOf, makeWorld, sleep, useConvergeServer, type Node, type Target, type World } from './harness.js';

const FILLER = 30;

describe.skipIf(!hasRedisServer)('shared bans converge: reduced schedules', () => {
  const server = useConvergeServer();
  let redis: RedisServer;
  let admin: AdminClient;
  beforeAll(() => {
    ({ redis, admin } = server);
  });

  const stored = async (w: World, t: Target): Promise<boolean> => Number(await admin.hExists(`banhammer:{${w.group}}:bans`, fieldOf(t))) === 1;

  /** `names.length` replicas of group `group`, started, each with FILLER own bans stored. */
  async function groupOf(group: string, names: string[], opts: { time?: boolean } = {}): Promise<{ w: World; ns: Node[] }> {
    const w = makeWorld(redis.port, group);
    const ns: Node[] = [];
    for (const name of names) ns.push(await server.node(w, name, { settings: opts }));
    ns.forEach((n, i) => {
      for (let k = 0; k < FILLER; k++) n.ban({ ip: `198.19.${i + 1}.${k + 1}`, family: 4 });
    });
    await until('the filler bans stored', async () => Number(await admin.hLen(`banhammer:{${group}}:bans`)) === FILLER * ns.length);
    await until('the filler bans heard', () => ns.every((n) => n.view.size === FILLER * ns.length));
    return { w, ns };
  }
  const holds = (n: Node, t: Target): boolean => n.view.has(fieldOf(t));
  const traceOf = (w: World): string => w.trace.filter((l) => !/198\.19\./.test(l)).join('\n');

  it('a ban replayed from the outbox and refused (unbanned since) does not lift the newer ban of that address the replica heard meanwhile', async () => {
    // (seed 69 of random.test.ts, reduced.)
    const { w, ns } = await groupOf('cases1', ['a', 'c']);
    const [a, c] = ns as [Node, Node];
    const x: Target = { ip: '198.18.1.1', family: 4 };
    a.cut();
    await until('a offline', () => !a.stage!.connected);
    // a's ban waits in its outbox.
    a.ban(x);
    w.vt += 2_600;
    // Lifted at c (nothing stored: a tombstone only)…
    expect(await c.unban(x)).toBe('none');
    c.cut();
    await until('c offline', () => !c.stage!.connected);
    w.vt += 2_600;
    // …and banned there again, in c's outbox.
    c.ban(x);
    // a comes back first, and hears the channel before its outbox is replayed (its catch-up is held
    // at the proxy, as a slow link or a busy Redis holds it); c comes back meanwhile and publishes.
    a.proxy.holdScripts();
    a.restore();
    await until('a connected (catch-up held)', () => a.stage!.connected);
    c.restore();
    await until('c\'s ban stored', () => stored(w, x));
    await until('a heard c\'s ban', () => holds(a, x));
    a.proxy.releaseScripts();
    await until('a settled', () => a.settled() && c.settled());
    await sleep(300);
    // The group's last word on x is c's ban, made after the unban: it stands everywhere.
    expect(await stored(w, x), traceOf(w)).toBe(true);
    expect(holds(c, x), traceOf(w)).toBe(true);
    expect(holds(a, x), traceOf(w)).toBe(true);
  });

  it('an unban replayed from an outbox lifts the stored ban that covered a newer one made elsewhere: the newer one is stored and heard again at once', async () => {
    const { w, ns } = await groupOf('cases2', ['a', 'b', 'c']);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.2.1', family: 4 };
    c.ban(x);
    await until('c\'s ban heard', () => holds(a, x) && holds(b, x));
    a.cut();
    await until('a offline', () => !a.stage!.connected);
    w.vt += 500;
    // a lifts it, offline: the unban waits in a's outbox.
    expect(await a.unban(x)).toBe('queued');
    w.vt += 2_500;
    // b bans it again (an operator, or its own detector): c's stored ban, 3 s older, covers it (the
    // group stores one ban per address and publishes none for a ban it covers).
    b.ban(x);
    await sleep(100);
    a.restore();
    await until('a settled', () => a.settled());
    // a's unban, older than b's ban by more than the clocks' skew, lifted c's stored ban: b's ban,
    // made after it, is the group's last word on x.
    await until('b\'s ban stored and held everywhere', async () => (await stored(w, x)) && [a, b, c].every((n) => holds(n, x)), 3_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; a ${holds(a, x)} b ${holds(b, x)} c ${holds(c, x)}\n${traceOf(w)}`);
    });
  });

  it('a replica away while an outbox\'s unban lifted the ban that covered its own newer one keeps its ban, and the group gets it', async () => {
    const { w, ns } = await groupOf('cases3', ['a', 'b', 'c']);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.3.1', family: 4 };
    c.ban(x);
    await until('c\'s ban heard', () => holds(a, x) && holds(b, x));
    a.cut();
    await until('a offline', () => !a.stage!.connected);
    w.vt += 500;
    expect(await a.unban(x)).toBe('queued');
    w.vt += 2_500;
    b.ban(x);
    await sleep(100);
    b.cut();
    await until('b offline', () => !b.stage!.connected);
    a.restore();
    await until('a settled', () => a.settled());
    b.restore();
    await until('b settled', () => b.settled());
    await until('b\'s ban stored and held everywhere', async () => (await stored(w, x)) && [a, b, c].every((n) => holds(n, x)), 3_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; a ${holds(a, x)} b ${holds(b, x)} c ${holds(c, x)}\n${traceOf(w)}`);
    });
  });

  it('a ban heard while the catch-up reads the group\'s hash is not lifted for missing from what that read returned', async () => {
    // (seed 161 of random.test.ts, reduced.)
    // Real time and the group's clock (Redis TIME): nothing here depends on time.
    const { w, ns } = await groupOf('cases4', ['b', 'c'], { time: true });
    const [b, c] = ns as [Node, Node];
    const x: Target = { ip: '198.18.4.1', family: 4 };
    c.cut();
    await until('c offline', () => !c.stage!.connected);
    // c comes back; Redis reads the hash for its catch-up before b's ban is stored, and c gets that
    // reply only after it heard b's ban on the channel (a slow link, a big hash).
    c.proxy.holdRepliesAfter(SCAN_SCRIPT.sha1);
    c.restore();
    await until('the hash read for c\'s catch-up', () => c.proxy.repliesHeld());
    b.ban(x);
    await until('c heard b\'s ban', () => holds(c, x));
    c.proxy.releaseReplies();
    await until('c settled', () => c.settled());
    await sleep(300);
    expect(await stored(w, x)).toBe(true);
    expect(holds(c, x), traceOf(w)).toBe(true);
  });

  it('an older ban of another replica heard after this replica\'s own newer one (covered by it) does not make an unban made between the two lift the newer one', async () => {
    // (seed 9 of random.test.ts, reduced.)
    const { w, ns } = await groupOf('cases6', ['a', 'b', 'c']);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.6.1', family: 4 };
    for (const n of ns) n.cut();
    await until('all offline', () => ns.every((n) => !n.stage!.connected));
    // Three operations made offline, each in its replica's outbox: a's ban, c's unban, b's ban.
    a.ban(x);
    w.vt += 2_300;
    await c.unban(x);
    w.vt += 2_300;
    b.ban(x);
    // a comes back first (its ban is stored); then b (its ban, 4.6 s newer, is covered by a's, and b
    // hears a's from the hash); then c (its unban lifts a's stored ban, and is published).
    a.restore();
    await until('a settled', () => a.settled());
    b.restore();
    await until('b settled', () => b.settled());
    await sleep(100);
    c.restore();
    await until('c settled', () => c.settled());
    // The last word on x is b's ban, made after c's unban: it stands everywhere.
    await until('b\'s ban stored and held everywhere', async () => (await stored(w, x)) && ns.every((n) => holds(n, x)), 3_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; a ${holds(a, x)} b ${holds(b, x)} c ${holds(c, x)}\n${traceOf(w)}`);
    });
  });

  it('a replica restarted keeps its own ban as its own when it reads it back from the group: an older, longer ban stored over it and then lifted by an unban between the two does not take it away', async () => {
    // (seed 104 of random.test.ts, reduced.)
    const { w, ns } = await groupOf('cases7', ['a', 'b', 'c']);
    const [a, b, c] = ns as [Node, Node, Node];
    const x: Target = { ip: '198.18.7.1', family: 4 };
    c.cut();
    a.cut();
    await until('a and c offline', () => !a.stage!.connected && !c.stage!.connected);
    // c's permanent ban, then a's unban, both waiting in outboxes; then b's hour ban, stored.
    c.ban(x, null);
    w.vt += 2_300;
    await a.unban(x);
    w.vt += 2_300;
    b.ban(x);
    await until('b\'s ban stored', () => stored(w, x));
    // b restarts (a new replica id; its ban comes back from its state file, and from the group's hash).
    await b.stop();
    await b.start();
    await until('b settled', () => b.settled());
    await sleep(200);
    // c's permanent ban is stored over b's (it lasts longer), then a's unban lifts it (it is older).
    c.restore();
    await until('c settled', () => c.settled());
    await sleep(100);
    a.restore();
    await until('a settled', () => a.settled());
    // The last word on x is b's ban, made after a's unban: it stands everywhere.
    await until('b\'s ban stored and held everywhere', async () => (await stored(w, x)) && ns.every((n) => holds(n, x)), 3_000).catch((e: unknown) => {
      throw new Error(`${String(e)}; a ${holds(a, x)} b ${holds(b, x)} c ${holds(c, x)}\n${traceOf(w)}`);
    });
  });

  for (const stored1st of ['a', 'b'] as const) {
    it(`two replicas ban one address (${stored1st}'s stored, the other's covered), one unbans it while the other is away: lifted at both once it is back`, async () => {
      const { w, ns } = await groupOf(`cases5${stored1st}`, ['a', 'b']);
      const [a, b] = ns as [Node, Node];
      const x: Target = { ip: '198.18.5.1', family: 4 };
      const [first, second] = stored1st === 'a' ? [a, b] : [b, a];
      first.ban(x);
      await until('the first ban heard', () => holds(second, x));
      w.vt += 2_300;
      second.ban(x);
      await sleep(100);
      b.cut();
      await until('b offline', () => !b.stage!.connected);
      w.vt += 2_300;
      await a.unban(x);
      b.restore();
      await until('b settled', () => b.settled());
      await until('lifted at b', () => !holds(b, x), 3_000).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${traceOf(w)}`);
      });
      await sleep(300);
      expect(await stored(w, x)).toBe(false);
      expect(holds(a, x) || holds(b, x), traceOf(w)).toBe(false);
    });
  }
});
