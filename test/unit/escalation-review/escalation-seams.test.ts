/**
 * Hostile review of IPv6 network escalation (helper H24): Redis sharing and notifications.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { GroupLink } from '../../../src/share/group-link.js';
import type { GroupUnbanResult, SharedBan, ShareEvents, ShareStage, ShareStats } from '../../../src/share/share.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { payloadOf, summaryOf, textOf } from '../../../src/notify/event.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const S = 1000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;
const WALKER = ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2::c'];

class FakeShare implements ShareStage {
  events!: ShareEvents;
  published: SharedBan[] = [];
  readonly connected = true;
  constructor(readonly replicaId: string) {}
  async start(e: ShareEvents) { this.events = e; }
  async stop() {}
  failure() {}
  publishBan(b: SharedBan) { this.published.push(b); }
  publishUnban(): Promise<GroupUnbanResult> | undefined { return undefined; }
  async snapshot() { return []; }
  stats() { return {} as ShareStats; }
}

function replica(id: string, env: Record<string, string>, minPrefix?: { 4: number; 6: number }) {
  const clock = new ManualClock(T0);
  const share = new FakeShare(id);
  const bans: Ban[] = [];
  const adopted: Ban[] = [];
  let link!: GroupLink;
  const pipeline = new Pipeline({ config: loadConfig({ env, hostname: 'unit' }), mode: 'live', onBan: (b) => { bans.push(b); link.published(b); } });
  link = new GroupLink({ share, pipeline, clock, onAdopted: (b) => adopted.push(b), onLifted: () => {}, scoped: false, networks: true, ...(minPrefix ? { minPrefix } : {}), log: { info() {}, warn() {} } });
  const walk = (ips: readonly string[]) => {
    for (const ip of ips) {
      for (let i = 0; i < 5; i++) {
        clock.advance(S);
        const ev = pipeline.parse(line(ip, clock.now()));
        if (ev) pipeline.observe(ev, clock.now());
      }
    }
  };
  return { clock, share, pipeline, link, bans, adopted, walk };
}

describe('escalation review: Redis sharing', () => {
  it('the network ban is published; a replica adopts it (min_prefix6 allowing), never counts adopted bans, and refuses it past min_prefix6', async () => {
    const env = { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' };
    const a = replica('a', env);
    await a.link.start();
    a.walk(WALKER);
    expect(a.share.published.map((b) => b.ip)).toEqual([...WALKER, '2001:db8:1:2::/64']);
    const net = a.share.published[3]!;
    expect(net).toMatchObject({ rule: 'forbidden', origin: 'a', family: 6 });

    const b = replica('b', env);
    await b.link.start();
    for (const g of a.share.published) b.share.events.onRemoteBan(g);
    expect(b.adopted.map((x) => x.ip)).toEqual([...WALKER, '2001:db8:1:2::/64']);
    expect(b.pipeline.book.isBanned('2001:db8:1:2::/64', 'forbidden', T0 + 60 * S)).toBe(true);

    // A replica that refuses IPv6 networks from the group adopts the addresses only, and those never
    // count toward a network of its own: its next two local bans in the /64 make none.
    const c = replica('c', env, { 4: 16, 6: 128 });
    await c.link.start();
    for (const g of a.share.published) c.share.events.onRemoteBan(g);
    expect(c.adopted.map((x) => x.ip)).toEqual(WALKER);
    c.walk(['2001:db8:1:2::d', '2001:db8:1:2::e']);
    expect(c.bans.map((x) => x.ip)).toEqual(['2001:db8:1:2::d', '2001:db8:1:2::e']);
    c.walk(['2001:db8:1:2::f']);
    expect(c.bans.map((x) => x.ip)).toEqual(['2001:db8:1:2::d', '2001:db8:1:2::e', '2001:db8:1:2::f', '2001:db8:1:2::/64']);
  });
});

describe('escalation review: bans made from the group\'s count', () => {
  // Whoever can write to the group's Redis can make the group's count of an address cross maxretry
  // after a single local failure. Such bans may grow into a network ban only as wide as the agent
  // adopts from the group directly (min_prefix6): otherwise that writer gets, through escalation, a
  // network ban the operator refuses from the group.
  const groupBan = (r: ReturnType<typeof replica>, ip: string): void => {
    r.clock.advance(S);
    r.share.events.onGroupOffense({ ip, family: 6, rule: 'forbidden', at: r.clock.now(), failures: 5 });
  };

  it('with min_prefix6 128 (no IPv6 network adopted from the group), group-count bans never make a /64 ban, configured or under pressure', async () => {
    for (const env of [{ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' }, { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '0', BANHAMMER_MAX_BANS: '1000' }] as Record<string, string>[]) {
      const r = replica('r', env, { 4: 16, 6: 128 });
      await r.link.start();
      if (env.BANHAMMER_MAX_BANS !== undefined) {
        // Half the book taken (by hand): pressed, so a banned IPv6 address's /64 would go at once.
        for (let i = 0; i < 500; i++) r.pipeline.banManually(`198.18.${i >> 8}.${i & 255}`, { forMs: null, now: r.clock.now() });
        expect(r.pipeline.book.pressed).toBe(true);
      }
      for (const ip of WALKER) groupBan(r, ip);
      expect(r.bans.filter((b) => b.ip.includes('/'))).toEqual([]);
      expect(r.bans.map((b) => b.ip)).toEqual(expect.arrayContaining([...WALKER]));
    }
  });

  it('with a min_prefix6 no wider than the escalation prefix (default 48 against /64), they count as local bans do; min_prefix6 80 against /64 refuses', async () => {
    const a = replica('a', { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' });
    await a.link.start();
    for (const ip of WALKER) groupBan(a, ip);
    expect(a.bans.map((b) => b.ip)).toEqual([...WALKER, '2001:db8:1:2::/64']);

    const b = replica('b', { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' }, { 4: 16, 6: 80 });
    await b.link.start();
    for (const ip of WALKER) groupBan(b, ip);
    expect(b.bans.map((x) => x.ip)).toEqual([...WALKER]);
    // Its own detections still escalate: the local walk makes the /64 ban.
    b.walk(['2001:db8:1:2::d', '2001:db8:1:2::e', '2001:db8:1:2::f']);
    expect(b.bans.map((x) => x.ip)).toContain('2001:db8:1:2::/64');
  });
});

describe('escalation review: notifications', () => {
  it('the network ban notice names the network (address field, family 6) and says it was made from banned addresses, not "3 failures"', () => {
    const env = { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' };
    const a = replica('a', env);
    a.walk(WALKER);
    const net = a.bans[3]!;
    expect(net.ip).toBe('2001:db8:1:2::/64');
    const agent = { instance: 'unit', host: 'h', version: '0' };
    const notice = { kind: 'ban' as const, ban: net, time: net.at };
    const payload = payloadOf(notice, agent, net.at) as unknown as Record<string, unknown>;
    expect(payload.address).toBe('2001:db8:1:2::/64');
    expect(payload.family).toBe(6);
    // 15 failures made it (5 per address); "after 3 failures" is untrue.
    expect(summaryOf(notice, agent)).not.toMatch(/after 3 failures/);
    expect(summaryOf(notice, agent)).toMatch(/3 banned addresses/);
    expect(textOf(notice, agent)).not.toMatch(/Failures: {2}3\n/);
  });
});
