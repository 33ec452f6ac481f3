/**
 * Review H52: an agent that is not scoped holds the group's bans of an address for any container
 * host-wide (Ban.groupScope). When the group lifts the one for the container held here, every other
 * ban of the address it heard of was sorted and offered to the ban book again. Anyone on the channel
 * can publish bans of one address for 100,000 made-up container ids (share.max_bans), then unban the
 * one held, then the next: 0.35 s of blocked event loop per unban, one after another. Only the
 * longest per rule can take the lifted one's place; that is what is offered now. The book must end
 * the same as when every one is offered (differential over seeded random sets), and the book is
 * asked a handful of times per unban, not once per heard ban.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { GroupLink } from '../../../src/share/group-link.js';
import type { SharedBan, ShareEvents, ShareStage, ShareStats } from '../../../src/share/share.js';
import { CLOCK_SKEW_MS } from '../../../src/share/share.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { intRng } from '../../support/random.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const HOUR = 3_600_000;

/** A share stage whose heard() answers what the test says the group holds (as RedisShare keeps it: by address). */
class HeardShare implements ShareStage {
  events!: ShareEvents;
  readonly connected = true;
  readonly replicaId = 'me';
  readonly byIp = new Map<string, SharedBan[]>();
  async start(e: ShareEvents) {
    this.events = e;
  }
  async stop() {}
  failure() {}
  publishBan() {}
  publishUnban() {
    return undefined;
  }
  async snapshot() {
    return [];
  }
  heard(ip: string, now: number) {
    return (this.byIp.get(ip) ?? []).filter((b) => b.until === null || b.until > now);
  }
  stats() {
    return {} as ShareStats;
  }
}

function setup() {
  const clock = new ManualClock(T0);
  const pipeline = new Pipeline({ config: loadConfig({ env: {}, hostname: 'unit' }), mode: 'live' });
  const share = new HeardShare();
  const link = new GroupLink({ share, pipeline, clock, onAdopted: () => {}, onLifted: () => {}, scoped: false, networks: true, log: { info() {}, warn() {} } });
  return { clock, pipeline, share, link };
}

/** The ban book's bans of `ip`, as comparable values. */
const held = (p: Pipeline, ip: string) =>
  p.book
    .active(T0)
    .filter((b) => b.ip === ip)
    .map((b) => ({ rule: b.rule, at: b.at, until: b.until, from: b.from, groupScope: b.groupScope }))
    .sort((x, y) => (x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0));

describe('GroupLink (review H52): the group lifts one container\'s ban of an address held host-wide', () => {
  it('asks the book about a handful of bans per unban, not each one heard of the address', async () => {
    const { pipeline, share, link } = setup();
    await link.start();
    const ip = '198.18.52.1';
    const N = 3_000;
    const list: SharedBan[] = [];
    for (let i = 0; i < N; i++) list.push({ ip, family: 4, rule: 'forbidden', at: T0, until: T0 + HOUR + i * 10, origin: 'mallory', scope: `c${i}` });
    share.byIp.set(ip, list);
    for (const b of list) share.events.onRemoteBan(b);
    const adopt = pipeline.book.adopt.bind(pipeline.book);
    let asked = 0;
    pipeline.book.adopt = (g, now) => {
      asked++;
      return adopt(g, now);
    };
    for (let k = 0; k < 5; k++) {
      // The group lifts the one held here (the longest); the stage forgets it before it says so.
      const top = list.pop()!;
      asked = 0;
      share.events.onRemoteUnban({ ip, family: 4, scope: top.scope, origin: 'mallory', at: T0 + 1_000 });
      expect(asked).toBeLessThanOrEqual(2);
      expect(held(pipeline, ip)).toEqual([{ rule: 'forbidden', at: T0, until: list.at(-1)!.until, from: 'mallory', groupScope: list.at(-1)!.scope }]);
    }
  });

  it('ends with the book the old way (every ban offered, longest first) ends with: seeded random sets', async () => {
    const rules = ['forbidden', 'not-found', 'wp-scan', 'manual', 'constructor'];
    for (let seed = 1; seed <= 60; seed++) {
      const r = intRng(seed);
      const ip = `198.18.52.${seed}`;
      const n = 1 + r(12);
      const list: SharedBan[] = [];
      for (let i = 0; i < n; i++) {
        list.push({
          ip,
          family: 4,
          rule: rules[r(rules.length)]!,
          at: T0 - r(3) * 60_000,
          until: r(5) === 0 ? null : T0 + (1 + r(4)) * HOUR,
          origin: ['o1', 'o2'][r(2)]!,
          scope: `c${r(4)}`,
        });
      }
      // The ban that the book holds for scope c0 is the one the group lifts.
      const lifted: SharedBan = { ip, family: 4, rule: rules[r(rules.length)]!, at: T0 - 120_000, until: null, origin: 'o1', scope: 'c0' };
      const run = async (reference: boolean) => {
        const s = setup();
        await s.link.start();
        s.share.events.onRemoteBan(lifted);
        for (const b of list) s.share.events.onRemoteBan(b);
        const unban = { ip, family: 4 as const, scope: 'c0', origin: 'o1', at: T0 };
        const rest = list.filter((b) => !(b.scope === 'c0' && b.at <= unban.at + CLOCK_SKEW_MS));
        s.share.byIp.set(ip, [lifted, ...list].filter((b) => b.scope !== 'c0'));
        if (!reference) {
          s.share.events.onRemoteUnban(unban);
        } else {
          // What liftForContainer did before: lift, then offer every other ban heard, longest first.
          s.share.byIp.set(ip, []);
          s.share.events.onRemoteUnban(unban);
          const longest = (x: SharedBan): number => (x.until === null ? Infinity : x.until);
          for (const g of rest.sort((x, y) => longest(y) - longest(x))) s.share.events.onRemoteBan(g);
        }
        return held(s.pipeline, ip);
      };
      const fresh = await run(false);
      const reference = await run(true);
      expect(fresh, `seed ${seed}`).toEqual(reference);
    }
  });
});
