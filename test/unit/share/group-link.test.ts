/**
 * The group link (issue 11): what comes from the group is hostile until the ban book accepts it, is
 * never published again (no echo), and a scope only means something to a host-mode agent.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { GROUP_ANSWER_MS, GroupLink } from '../../../src/share/group-link.js';
import type { GroupUnbanResult, SharedBan, ShareEvents, ShareStage, ShareStats } from '../../../src/share/share.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { cpuNow } from '../../support/cpu-time.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const X = 'ab'.repeat(32);

class FakeShare implements ShareStage {
  events!: ShareEvents;
  published: SharedBan[] = [];
  unpublished: { ip: string }[] = [];
  readonly connected = true;
  readonly replicaId = 'me';
  async start(e: ShareEvents) { this.events = e; }
  async stop() {}
  failure() {}
  publishBan(b: SharedBan) { this.published.push(b); }
  /** What the group answers to an unban (undefined: a stage that answers nothing). */
  unbanAnswer: (() => Promise<GroupUnbanResult>) | undefined;
  stored: SharedBan[] = [];
  heardOf: SharedBan[] = [];
  publishUnban(u: { ip: string; scope?: string }) { this.unpublished.push(u); return this.unbanAnswer?.(); }
  async snapshot() { return this.stored; }
  heard(ip: string) { return this.heardOf.filter((b) => b.ip === ip); }
  stats() { return {} as ShareStats; }
}

function setup(scoped: boolean, networks = true, minPrefix?: { 4: number; 6: number }, isContainer?: (id: string) => boolean) {
  const clock = new ManualClock(T0);
  const pipeline = new Pipeline({ config: loadConfig({ env: { BANHAMMER_IGNOREIP: '198.18.99.0/24' }, hostname: 'unit' }), mode: 'live' });
  const share = new FakeShare();
  const adopted: Ban[] = [];
  const lifted: Ban[] = [];
  const warned: string[] = [];
  const link = new GroupLink({ share, pipeline, clock, onAdopted: (b) => adopted.push(b), onLifted: (b) => lifted.push(...b), scoped, networks, ...(minPrefix ? { minPrefix } : {}), ...(isContainer ? { isContainer } : {}), log: { info() {}, warn: (_o: object, msg?: string) => warned.push(msg ?? '') } });
  return { clock, pipeline, share, link, adopted, lifted, warned };
}

const remote = (over: Partial<SharedBan> = {}): SharedBan => ({ ip: '198.18.30.1', family: 4, rule: 'forbidden', at: T0, until: T0 + 3600_000, origin: 'other', ...over });

describe('GroupLink', () => {
  it('adopts a remote ban once (a repeat is a no-op) and never publishes it again', async () => {
    const { share, link, adopted, pipeline } = setup(false);
    await link.start();
    share.events.onRemoteBan(remote());
    share.events.onRemoteBan(remote());
    expect(adopted.map((b) => [b.ip, b.from])).toEqual([['198.18.30.1', 'other']]);
    link.published(adopted[0]!);
    expect(share.published).toEqual([]);
    expect(pipeline.book.changes(T0).ban).toEqual([{ ip: '198.18.30.1', family: 4, until: T0 + 3600_000 }]);
  });

  it('refuses what cannot be banned here: allowlisted, non-client, ended, out of range, garbage', async () => {
    const { share, link, adopted } = setup(false);
    await link.start();
    for (const bad of [
      remote({ ip: '198.18.99.5' }),
      remote({ ip: '0.0.0.0' }),
      remote({ ip: 'ff02::1', family: 6 }),
      remote({ until: T0 - 1 }),
      remote({ until: 1e300 }),
      remote({ at: Number.NaN }),
      remote({ ip: '198.18.30.2; rm -rf /' }),
    ]) share.events.onRemoteBan(bad);
    expect(adopted).toEqual([]);
  });

  it('a rule this agent does not run becomes a manual ban; a prototype name is no rule', async () => {
    const { share, link, adopted } = setup(false);
    await link.start();
    share.events.onRemoteBan(remote({ rule: 'wp-scan' }));
    share.events.onRemoteBan(remote({ ip: '198.18.30.3', rule: 'constructor' }));
    expect(adopted.map((b) => b.rule)).toEqual(['manual', 'manual']);
  });

  it('host mode: a ban or group offense for a container this host does not run is refused (ids made up in Redis would each cost kernel sets); an unban is taken', async () => {
    const Y = 'cd'.repeat(32);
    const { share, link, adopted, pipeline, warned } = setup(true, true, undefined, (id) => id === X);
    await link.start();
    for (let i = 0; i < 50; i++) share.events.onRemoteBan(remote({ ip: `198.18.31.${i}`, scope: i.toString(16).padStart(2, '0').repeat(32) }));
    share.events.onRemoteBan(remote({ ip: '198.18.31.200', scope: Y }));
    share.events.onGroupOffense({ ip: '198.18.31.201', family: 4, rule: 'forbidden', at: T0, failures: 5, scope: Y });
    expect(adopted).toEqual([]);
    expect(pipeline.book.active()).toEqual([]);
    expect(warned.filter((w) => /does not run/.test(w))).toHaveLength(1);
    share.events.onRemoteBan(remote({ ip: '198.18.31.202', scope: X }));
    expect(adopted.map((b) => [b.ip, b.scope])).toEqual([['198.18.31.202', X]]);
    share.events.onRemoteUnban({ ip: '198.18.31.202', family: 4, scope: X, origin: 'other' });
    expect(pipeline.book.active()).toEqual([]);
  });

  it('a scope is dropped by an agent that is not scoped, and must be a container id in host mode', async () => {
    const plain = setup(false);
    await plain.link.start();
    plain.share.events.onRemoteBan(remote({ scope: X }));
    expect(plain.adopted.map((b) => b.scope)).toEqual([undefined]);
    const host = setup(true);
    await host.link.start();
    host.share.events.onRemoteBan(remote({ scope: 'not-a-container' }));
    host.share.events.onRemoteBan(remote({ ip: '198.18.30.4', scope: X }));
    expect(host.adopted.map((b) => [b.ip, b.scope])).toEqual([['198.18.30.4', X]]);
  });

  it('a remote unban lifts the ban here; own bans and unbans are published', async () => {
    const { share, link, lifted, pipeline, clock } = setup(false);
    await link.start();
    share.events.onRemoteBan(remote());
    share.events.onRemoteUnban({ ip: '198.18.30.1', family: 4, origin: 'other' });
    expect(lifted.map((b) => b.ip)).toEqual(['198.18.30.1']);
    const own = pipeline.banManually('198.18.30.5', { forMs: 60_000, now: clock.now() });
    link.published(own);
    link.unbanned([own, own]);
    expect(share.published.map((b) => [b.ip, b.origin, b.until])).toEqual([['198.18.30.5', 'me', T0 + 60_000]]);
    expect(share.unpublished.map((u) => u.ip)).toEqual(['198.18.30.5']);
  });

  it('an unban from the group of an address held nowhere here costs the same however many bans are held (a flood of them must not stall the agent)', async () => {
    // Baseline: an agent holding a few bans; then one holding 40,000 (adopted from the group, as
    // anyone on the channel can make it hold). Each is sent the same 2,000 unbans of addresses it
    // does not hold, which lift nothing.
    const time = async (held: number): Promise<number> => {
      const { share, link, pipeline, lifted } = setup(false);
      await link.start();
      for (let i = 0; i < held; i++) share.events.onRemoteBan(remote({ ip: `198.19.${i >> 8}.${i & 255}` }));
      expect(pipeline.book.active(T0)).toHaveLength(held);
      // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
      const t0 = cpuNow();
      for (let i = 0; i < 2000; i++) share.events.onRemoteUnban({ ip: `198.18.${100 + (i >> 8)}.${i & 255}`, family: 4, origin: 'mallory' });
      const took = cpuNow() - t0;
      expect(lifted).toEqual([]);
      // An unban of one it holds still lifts it, in any scope it is held in.
      share.events.onRemoteUnban({ ip: '198.19.0.1', family: 4, origin: 'other', scope: X });
      expect(lifted.map((b) => b.ip)).toEqual(['198.19.0.1']);
      return took;
    };
    // Interleaved, best of up to 3 each (measured again only while over the bound): a slow moment of
    // a loaded machine weighs on both sides or on neither; a pass over the book per unban is over every time.
    let base = Infinity;
    let big = Infinity;
    for (let k = 0; k < 3 && !(big < 4 * base + 25); k++) {
      base = Math.min(base, await time(4));
      big = Math.min(big, await time(40_000));
    }
    expect(big).toBeLessThan(4 * base + 25);
  });

  it('a hostile group offense frames nobody: a non-canonical spelling, a lying family, an allowlisted or non-client address', async () => {
    const { share, link, pipeline } = setup(false);
    await link.start();
    for (const o of [
      { ip: '::ffff:198.18.30.8', family: 6 as const },
      { ip: '198.18.30.9', family: 6 as const },
      { ip: '198.18.99.7', family: 4 as const },
      { ip: '0.0.0.0', family: 4 as const },
      { ip: 'ff02::1', family: 6 as const },
      { ip: '198.18.30.10 ', family: 4 as const },
    ]) share.events.onGroupOffense({ ...o, rule: 'forbidden', at: T0, failures: 5 });
    // Only the canonical, client, not-allowlisted address can be banned, and with its real family.
    expect(pipeline.book.active(T0).map((b) => [b.ip, b.family])).toEqual([['198.18.30.9', 4]]);
  });

  it('a group offense bans here like a local one (and that ban is published by the caller)', async () => {
    const { share, link, pipeline } = setup(false);
    await link.start();
    share.events.onGroupOffense({ ip: '198.18.30.6', family: 4, rule: 'forbidden', at: T0, failures: 5 });
    share.events.onGroupOffense({ ip: '198.18.30.7', family: 4, rule: 'toString', at: T0, failures: 5 });
    expect(pipeline.book.active(T0).map((b) => [b.ip, b.rule, b.until])).toEqual([['198.18.30.6', 'forbidden', T0 + 3600_000]]);
  });

  it('a manual network ban is published and unbanned group-wide, and one from the group is adopted only as this host would ban it', async () => {
    const { share, link, pipeline, adopted } = setup(false);
    await link.start();
    const own = pipeline.banManually('198.18.40.0/24', { forMs: null, now: T0 });
    link.published(own);
    link.unbanned([own]);
    expect(share.published.map((b) => [b.ip, b.rule, b.until])).toEqual([['198.18.40.0/24', 'manual', null]]);
    expect(share.unpublished.map((u) => u.ip)).toEqual(['198.18.40.0/24']);
    // From the group: a network this host's own `banhammer ban` would take is adopted…
    share.events.onRemoteBan(remote({ ip: '198.18.50.0/24', rule: 'manual', until: null }));
    // …one covering an address allowlisted here, too wide, or overlapping a banned network is not
    // (a scoped one never gets this far: messages.ts refuses it).
    for (const bad of [
      remote({ ip: '198.18.96.0/22', rule: 'manual' }),
      remote({ ip: '198.0.0.0/7', rule: 'manual' }),
      remote({ ip: '198.18.50.128/25', rule: 'manual' }),
    ]) share.events.onRemoteBan(bad);
    expect(adopted.map((b) => [b.ip, b.rule, b.until, b.from])).toEqual([['198.18.50.0/24', 'manual', null, 'other']]);
    // An unban from the group lifts it.
    share.events.onRemoteUnban({ ip: '198.18.50.0/24', family: 4, origin: 'other' });
    expect(pipeline.book.active(T0).map((b) => b.ip)).toEqual(['198.18.40.0/24']);
  });

  it('an agent whose enforcer cannot hold networks leaves a network ban from the group out', async () => {
    const { share, link, adopted, pipeline } = setup(false, false);
    await link.start();
    share.events.onRemoteBan(remote({ ip: '198.18.50.0/24', rule: 'manual', until: null }));
    share.events.onRemoteBan(remote({ ip: '198.18.30.1' }));
    expect(adopted.map((b) => b.ip)).toEqual(['198.18.30.1']);
    expect(pipeline.book.active(T0).map((b) => b.ip)).toEqual(['198.18.30.1']);
  });

  it('a network from the group wider than BANHAMMER_SHARE_MIN_PREFIX4/6 is refused (default /16 and /48), said once per origin', async () => {
    const { share, link, adopted, warned } = setup(false);
    await link.start();
    // A /8 or an IPv6 /32 is what a local `banhammer ban` may take, but from the group it would ban
    // millions on every replica on the word of whoever holds the group's password.
    for (const wide of [
      remote({ ip: '10.0.0.0/8', rule: 'manual' }),
      remote({ ip: '100.64.0.0/10', rule: 'manual' }),
      remote({ ip: '198.18.0.0/15', rule: 'manual' }),
      remote({ ip: '2001:db8::/32', family: 6, rule: 'manual' }),
      remote({ ip: '2001:db8::/47', family: 6, rule: 'manual' }),
      // The claimed family does not decide which limit applies: the network's own text does.
      remote({ ip: '2001:db8::/40', family: 4, rule: 'manual' }),
    ]) share.events.onRemoteBan(wide);
    expect(adopted).toEqual([]);
    expect(warned.filter((w) => w.includes('wider than'))).toHaveLength(1);
    share.events.onRemoteBan(remote({ ip: '198.19.0.0/16', rule: 'manual', origin: 'third' }));
    share.events.onRemoteBan(remote({ ip: '2001:db8:1::/48', family: 6, rule: 'manual', origin: 'third' }));
    expect(adopted.map((b) => b.ip)).toEqual(['198.19.0.0/16', '2001:db8:1::/48']);
  });

  it('the limit is the agent\'s own: 32 and 128 adopt no network from the group, addresses still pass', async () => {
    const { share, link, adopted } = setup(false, true, { 4: 32, 6: 128 });
    await link.start();
    share.events.onRemoteBan(remote({ ip: '198.18.50.0/24', rule: 'manual' }));
    share.events.onRemoteBan(remote({ ip: '198.18.50.4/31', rule: 'manual' }));
    share.events.onRemoteBan(remote({ ip: '2001:db8::/127', family: 6, rule: 'manual' }));
    share.events.onRemoteBan(remote({ ip: '198.18.30.1' }));
    expect(adopted.map((b) => b.ip)).toEqual(['198.18.30.1']);
  });

  describe('an operator unban here reaches the group, held here or not (review: suspicion 3)', () => {
    const answer = (r: GroupUnbanResult) => () => Promise.resolve(r);

    it('nothing held here: the unban is published, and the answer counts the ban the group lifted', async () => {
      const { share, link } = setup(false);
      share.unbanAnswer = answer('lifted');
      expect(await link.unban('198.18.30.20', undefined, [])).toBe(1);
      expect(share.unpublished).toEqual([{ ip: '198.18.30.20', family: 4 }]);
      share.unbanAnswer = answer('none');
      expect(await link.unban('2001:db8::20', undefined, [])).toBe(0);
      expect(share.unpublished.at(-1)).toEqual({ ip: '2001:db8::20', family: 6 });
      // A stage that answers nothing: as before, nothing more is claimed.
      share.unbanAnswer = undefined;
      expect(await link.unban('198.18.30.21', undefined, [])).toBe(0);
    });

    it('held here: published once, and the answer is the bans lifted here', async () => {
      const { share, link, pipeline, clock } = setup(false);
      share.unbanAnswer = answer('lifted');
      pipeline.banManually('198.18.30.22', { forMs: 60_000, now: clock.now() });
      const lifted = pipeline.unban('198.18.30.22', undefined);
      expect(await link.unban('198.18.30.22', undefined, lifted)).toBe(0);
      expect(share.unpublished.map((u) => u.ip)).toEqual(['198.18.30.22']);
    });

    it('nothing held here and the group\'s answer unknown (Redis unreachable or slow) or a newer ban standing: an error says so, never "not banned"', async () => {
      const { share, link, clock } = setup(false);
      share.unbanAnswer = answer('queued');
      await expect(link.unban('198.18.30.23', undefined, [])).rejects.toThrow(/not banned here, and Redis is unreachable/);
      share.unbanAnswer = answer('newer');
      await expect(link.unban('198.18.30.23', undefined, [])).rejects.toThrow(/made after this unban/);
      share.unbanAnswer = () => new Promise<GroupUnbanResult>(() => undefined);
      const slow = link.unban('198.18.30.23', undefined, []);
      const settled = expect(slow).rejects.toThrow(/has not answered within 3 s/);
      await Promise.resolve();
      clock.advance(GROUP_ANSWER_MS);
      await settled;
    });

    it('something lifted here (another container\'s ban): that is the answer, whatever the group says of the host-wide one', async () => {
      const { share, link, pipeline, clock } = setup(true);
      share.unbanAnswer = answer('queued');
      pipeline.banManually('198.18.30.27', { forMs: 60_000, now: clock.now(), scope: X });
      const lifted = pipeline.unban('198.18.30.27', undefined);
      expect(await link.unban('198.18.30.27', undefined, lifted)).toBe(0);
      expect(share.unpublished).toEqual([{ ip: '198.18.30.27', family: 4, scope: X }, { ip: '198.18.30.27', family: 4 }]);
    });

    it('a container\'s unban names its scope to the group', async () => {
      const { share, link } = setup(true);
      share.unbanAnswer = answer('lifted');
      expect(await link.unban('198.18.30.24', X, [])).toBe(1);
      expect(share.unpublished).toEqual([{ ip: '198.18.30.24', family: 4, scope: X }]);
    });

    it('unban --all also lifts the group\'s stored bans that were not held here', async () => {
      const { share, link, pipeline, clock } = setup(false);
      share.unbanAnswer = answer('lifted');
      pipeline.banManually('198.18.30.25', { forMs: 60_000, now: clock.now() });
      share.stored = [remote({ ip: '198.18.30.25', origin: 'me' }), remote({ ip: '198.18.99.9' }), remote({ ip: '198.18.40.0/24', rule: 'manual' })];
      const lifted = pipeline.book.unbanAll({ at: clock.now(), by: 'control-all' });
      expect(await link.unbanAll(lifted)).toBe(2);
      expect(share.unpublished.map((u) => u.ip)).toEqual(['198.18.30.25', '198.18.99.9', '198.18.40.0/24']);
    });

    it('an agent that is not scoped lifts the group\'s bans of the address for one container too (it held them host-wide)', async () => {
      const { share, link, adopted, pipeline } = setup(false);
      share.unbanAnswer = answer('lifted');
      await link.start();
      share.heardOf = [remote({ ip: '198.18.30.30', scope: X })];
      share.events.onRemoteBan(remote({ ip: '198.18.30.30', scope: X }));
      expect(adopted.map((b) => [b.ip, b.scope])).toEqual([['198.18.30.30', undefined]]);
      const lifted = pipeline.unban('198.18.30.30', undefined);
      expect(await link.unban('198.18.30.30', undefined, lifted)).toBe(0);
      expect(share.unpublished).toEqual([{ ip: '198.18.30.30', family: 4 }, { ip: '198.18.30.30', family: 4, scope: X }]);
      // Nothing held here: the same.
      share.unpublished = [];
      share.heardOf = [remote({ ip: '198.18.30.31', scope: X })];
      expect(await link.unban('198.18.30.31', undefined, [])).toBe(1);
      expect(share.unpublished).toEqual([{ ip: '198.18.30.31', family: 4, scope: X }, { ip: '198.18.30.31', family: 4 }]);
    });

    it('unban --all with a Redis that never answers the snapshot: an error within 3 s, the local unbans done', async () => {
      const { share, link, pipeline, clock } = setup(false);
      share.snapshot = () => new Promise<SharedBan[]>(() => undefined);
      pipeline.banManually('198.18.30.32', { forMs: 60_000, now: clock.now() });
      const lifted = pipeline.book.unbanAll({ at: clock.now(), by: 'control-all' });
      const all = link.unbanAll(lifted);
      const settled = expect(all).rejects.toThrow(/lifted 1 ban here; Redis has not answered within 3 s/);
      await Promise.resolve();
      clock.advance(GROUP_ANSWER_MS);
      await settled;
      expect(share.unpublished.map((u) => u.ip)).toEqual(['198.18.30.32']);
    });

    it('why: the group\'s bans of the address this agent does not hold', async () => {
      const { share, link, adopted } = setup(false);
      await link.start();
      share.heardOf = [remote({ ip: '198.18.99.8' }), remote({ ip: '198.18.30.26', scope: X })];
      share.events.onRemoteBan(remote({ ip: '198.18.30.26', scope: X }));
      expect(link.notHeld('198.18.99.8', []).map((b) => b.ip)).toEqual(['198.18.99.8']);
      // Adopted here (host-wide: this agent is not scoped): not the group's alone.
      expect(link.notHeld('198.18.30.26', adopted)).toEqual([]);
    });
  });
});
