/**
 * Whoever can write to the group's Redis can publish as many valid bans as share.max_bans allows
 * (default 100,000). Two things it must not get through them:
 * - the whole ban book: bans adopted from the group hold at most half of BANHAMMER_MAX_BANS, so this
 *   replica's own detections always find room (before, a writer filling the cap made every local
 *   attacker refused at the cap until those bans ended);
 * - the pressure: only bans made here (detected, escalated, by hand) press the book (half the cap),
 *   so adopted bans cannot make one local IPv6 offender take its /64 (before, with min_prefix6 128,
 *   "adopt no IPv6 network from the group", half the cap adopted did exactly that).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook, type Ban } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { GroupLink } from '../../../src/share/group-link.js';
import type { GroupUnbanResult, SharedBan, ShareEvents, ShareStage, ShareStats } from '../../../src/share/share.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const H = 3600_000;
const S = 1000;
const probe = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 10 "-" "curl"`;
const v4 = (i: number) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const v4b = (i: number) => `198.19.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/** Bans in the book (active() lists them). */
const held = (b: BanBook): number => b.active().length;

class FakeShare implements ShareStage {
  events!: ShareEvents;
  readonly connected = true;
  constructor(readonly replicaId: string) {}
  async start(e: ShareEvents) { this.events = e; }
  async stop() {}
  failure() {}
  publishBan(_b: SharedBan) {}
  publishUnban(): Promise<GroupUnbanResult> | undefined { return undefined; }
  async snapshot() { return []; }
  stats() { return {} as ShareStats; }
}

async function replica(env: Record<string, string>, minPrefix?: { 4: number; 6: number }) {
  const clock = new ManualClock(T0);
  const share = new FakeShare('r');
  const bans: Ban[] = [];
  const adopted: Ban[] = [];
  const pipeline = new Pipeline({ config: loadConfig({ env: { BANHAMMER_MAX_BANS: '1000', ...env }, hostname: 'unit' }), mode: 'live', networkBans: true, onBan: (b) => bans.push(b) });
  const link = new GroupLink({ share, pipeline, clock, onAdopted: (b) => adopted.push(b), onLifted: () => {}, scoped: false, networks: true, ...(minPrefix ? { minPrefix } : {}), log: { info() {}, warn() {} } });
  await link.start();
  const offer = (ip: string) => share.events.onRemoteBan({ ip, family: ip.includes(':') ? 6 : 4, rule: 'exploit-probes', at: clock.now(), until: clock.now() + H, origin: 'writer', nth: 1 } as SharedBan);
  const feed = (ip: string) => {
    const ev = pipeline.parse(probe(ip, clock.now()));
    if (ev) pipeline.observe(ev, clock.now());
  };
  return { clock, pipeline, link, bans, adopted, offer, feed };
}

describe('bans adopted from the group', () => {
  it('hold at most half the cap: a writer publishing the whole cap leaves room for this replica\'s own bans', async () => {
    const r = await replica({});
    for (let i = 0; i < 1000; i++) r.offer(v4(i));
    expect(r.adopted.length).toBe(500);
    expect(held(r.pipeline.book)).toBe(500);
    for (let i = 0; i < 400; i++) r.feed(v4b(i));
    expect(r.bans.filter((b) => b.from === undefined).length).toBe(400);
    expect(r.pipeline.book.isBanned(v4b(399), 'exploit-probes', r.clock.now())).toBe(true);
  });

  it('those refused for that half wait and are adopted when adopted ones end (the 1 s tick), not when local room remains', async () => {
    const r = await replica({});
    for (let i = 0; i < 600; i++) r.offer(v4(i));
    expect(r.adopted.length).toBe(500);
    r.link.retryRefusedAtCap();
    expect(r.adopted.length).toBe(500);
    r.pipeline.unban(v4(0), undefined, { at: r.clock.now(), by: 'control' });
    r.link.retryRefusedAtCap();
    expect(r.adopted.length).toBe(501);
    expect(r.pipeline.book.isBanned(v4(500), 'exploit-probes', r.clock.now())).toBe(true);
  });

  it('do not press the book: with min_prefix6 128, half the cap adopted leaves a local IPv6 offender an address ban', async () => {
    const r = await replica({}, { 4: 16, 6: 128 });
    for (let i = 0; i < 500; i++) r.offer(v4(i));
    expect(r.adopted.length).toBe(500);
    expect(r.pipeline.book.pressed).toBe(false);
    r.feed('2001:db8:9:1::1');
    expect(r.bans.map((b) => b.ip)).toEqual(['2001:db8:9:1::1']);
  });

  it('a control: half the cap made here presses the book, and a local IPv6 offender takes its /64', async () => {
    const r = await replica({});
    for (let i = 0; i < 500; i++) r.feed(v4(i));
    expect(r.pipeline.book.pressed).toBe(true);
    r.feed('2001:db8:9:1::1');
    expect(r.bans.slice(500).map((b) => b.ip)).toEqual(['2001:db8:9:1::1', '2001:db8:9:1::/64']);
  });

  it('the count follows every way a ban goes: replaced by a local ban, unbanned, expired, unban --all', () => {
    const b = new BanBook({ 'exploit-probes': PRESETS['exploit-probes']! } as never, new Allowlist([]), 100, { maxBans: 1000 });
    const adopt = (ip: string, until = T0 + H) => b.adopt({ ip, rule: 'exploit-probes', at: T0, until, origin: 'w' }, T0);
    for (let i = 0; i < 500; i++) expect(adopt(v4(i))).not.toBeNull();
    expect(adopt(v4(500))).toBeNull();
    // A local ban of an adopted address under the same rule replaces it: the adopted half frees one.
    expect(b.banManually(v4(1), { rule: 'exploit-probes', durationMs: 2 * H, now: T0 })).not.toBeNull();
    expect(adopt(v4(500))).not.toBeNull();
    expect(adopt(v4(501))).toBeNull();
    b.unban(v4(2), undefined, undefined, { at: T0, by: 'control' });
    expect(adopt(v4(501))).not.toBeNull();
    expect(adopt(v4(502), T0 + 1)).toBeNull();
    b.unbanAll({ at: T0, by: 'control-all' });
    for (let i = 600; i < 1100; i++) expect(adopt(v4(i), T0 + S)).not.toBeNull();
    expect(adopt(v4(1100))).toBeNull();
    b.expire(T0 + 2 * S);
    expect(held(b)).toBe(0);
    expect(adopt(v4(1100))).not.toBeNull();
  });
});

describe('the cut at a full book (host mode) looks past a fullest container whose bans are all manual', () => {
  const CAP = 1000;
  const ids = ['a', 'b', 'c', 'd', 'e'].map((c) => c.repeat(64));
  const forged = (k: number, n: number): string => `198.18.${k * 4 + (n >> 8)}.${n & 255}`;

  it('another container as full gives the room, its oldest detected ban first', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: CAP });
    let t = T0;
    // Container a: a quarter of the cap, every ban made by hand (never cut).
    for (let n = 0; n < CAP / 4; n++) b.banManually(forged(0, n), { durationMs: H, now: (t += 10), scope: ids[0]! });
    // Containers b, c, d: a quarter each, detected.
    for (let k = 1; k < 4; k++) for (let n = 0; n < CAP / 4; n++) expect(b.consider({ ip: forged(k, n), family: 4, rule: 'exploit-probes', at: (t += 10), failures: 1, scope: ids[k]! }, t)).not.toBeNull();
    expect(b.active().length).toBe(CAP);
    const ban = b.consider({ ip: '198.19.0.1', family: 4, rule: 'exploit-probes', at: (t += 10), failures: 1, scope: ids[4]! }, t);
    expect(ban).not.toBeNull();
    expect(b.takeCut().map((x) => [x.ip, x.scope])).toEqual([[forged(1, 0), ids[1]]]);
    expect(b.refusedAtCap).toBe(0);
  });
});
