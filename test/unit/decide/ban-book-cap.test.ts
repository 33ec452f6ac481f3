/**
 * The ban book's cap (BANHAMMER_MAX_BANS): an IPv6 client has 2^64 addresses and a single-request
 * rule bans each, at about 0.7 KB of memory per ban (1 M bans: 723 MB of heap, measured), so bans
 * are held up to a cap; beyond it a new detected, escalated, adopted or restored ban is refused and
 * counted, as a full kernel set refuses new addresses, and `banhammer ban` is never refused. In host
 * mode one container holds at most a quarter of the cap, so one tenant's forged lines cannot take
 * every other container's room.
 */
import { describe, expect, it } from 'vitest';
import { BanBook, type Ban } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { LogEnforcer } from '../../../src/enforce/dry-run.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { cpuMs } from '../../support/cpu-time.js';

const H = 3600_000;
const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const offense = (ip: string, at: number, scope?: string) => ({ ip, family: (ip.includes(':') ? 6 : 4) as 4 | 6, rule: 'forbidden', at, failures: 5, ...(scope !== undefined ? { scope } : {}) });
const capped = (maxBans: number) => new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans });
const SCOPE_A = 'a'.repeat(64);
const SCOPE_B = 'b'.repeat(64);

describe('BanBook cap', () => {
  it('holds at most maxBans: the rest are refused and counted, and room comes back as bans end', () => {
    const b = capped(5);
    const made: (Ban | null)[] = [];
    for (let i = 1; i <= 7; i++) made.push(b.consider(offense(`198.18.0.${i}`, T0)));
    expect(made.filter((x) => x !== null)).toHaveLength(5);
    expect(made.slice(5)).toEqual([null, null]);
    expect(b.refusedAtCap).toBe(2);
    expect(b.expected(T0).map((x) => x.ip)).toHaveLength(5);
    // An unban makes room for one.
    b.unban('198.18.0.1');
    expect(b.consider(offense('198.18.0.6', T0 + 1))).not.toBeNull();
    expect(b.consider(offense('198.18.0.7', T0 + 1))).toBeNull();
    // Expired bans leave room once expired.
    expect(b.expire(T0 + 2 * H).length).toBe(5);
    expect(b.consider(offense('198.18.0.7', T0 + 2 * H))).not.toBeNull();
    expect(b.refusedAtCap).toBe(3);
  });

  it('a new ban under a key already held (an expired one not yet swept) takes no more room', () => {
    const b = capped(2);
    b.consider(offense('198.18.0.1', T0));
    b.consider(offense('198.18.0.2', T0));
    // 198.18.0.1's ban ended at T0 + 1 h but is still in the book: its next ban replaces it.
    expect(b.consider(offense('198.18.0.1', T0 + H + 1))).toMatchObject({ ip: '198.18.0.1', nth: 2 });
    expect(b.refusedAtCap).toBe(0);
  });

  it('never refuses `banhammer ban`', () => {
    const b = capped(2);
    b.consider(offense('198.18.0.1', T0));
    b.consider(offense('198.18.0.2', T0));
    expect(b.banManually('198.18.0.3', { durationMs: null, now: T0 }).ip).toBe('198.18.0.3');
    expect(b.banManually('2001:db8:1::/48', { durationMs: H, now: T0 }).ip).toBe('2001:db8:1::/48');
    expect(b.expected(T0)).toHaveLength(4);
    expect(b.consider(offense('198.18.0.4', T0))).toBeNull();
  });

  it("host mode: one container holds at most a quarter of the cap; the others and host-wide bans keep their room", () => {
    const b = capped(8);
    for (let i = 1; i <= 5; i++) b.consider(offense(`198.18.1.${i}`, T0, SCOPE_A));
    expect(b.expected(T0).filter((x) => x.scope === SCOPE_A)).toHaveLength(2);
    expect(b.refusedAtCap).toBe(3);
    expect(b.consider(offense('198.18.2.1', T0, SCOPE_B))).not.toBeNull();
    expect(b.consider(offense('198.18.3.1', T0))).not.toBeNull();
    // Room in A again once one of its bans is lifted.
    b.unban('198.18.1.1', undefined, SCOPE_A);
    expect(b.consider(offense('198.18.1.9', T0 + 1, SCOPE_A))).not.toBeNull();
  });

  it('refuses adopted group bans and escalations at the cap', () => {
    const b = capped(2);
    const v6 = ['2001:db8:1:2::a', '2001:db8:1:2::b'].map((ip) => b.consider(offense(ip, T0))!);
    expect(b.adopt({ ip: '198.18.0.9', rule: 'forbidden', at: T0, until: T0 + H, origin: 'replica-2' }, T0)).toBeNull();
    expect(b.escalate('2001:db8:1:2::/64', v6[1]!, [{ ip: '2001:db8:1:2::a', at: T0 }, { ip: '2001:db8:1:2::b', at: T0 }], T0)).toBeNull();
    expect(b.refusedAtCap).toBe(2);
    const roomy = capped(10);
    const w = ['2001:db8:1:2::a', '2001:db8:1:2::b'].map((ip) => roomy.consider(offense(ip, T0))!);
    expect(roomy.escalate('2001:db8:1:2::/64', w[1]!, [{ ip: '2001:db8:1:2::a', at: T0 }, { ip: '2001:db8:1:2::b', at: T0 }], T0)?.ip).toBe('2001:db8:1:2::/64');
  });

  it('a restore beyond the cap brings back every manual ban and the others up to the cap; the rest end as refused', () => {
    const src = capped(100);
    for (let i = 1; i <= 6; i++) src.consider(offense(`198.18.0.${i}`, T0));
    src.banManually('198.18.9.9', { durationMs: null, now: T0 });
    const snap = src.snapshot();
    const b = capped(3);
    const r = b.restore(snap, T0 + 1);
    expect(r.restored).toBe(4);
    expect(r.dropped).toBe(3);
    const held = b.expected(T0 + 1).map((x) => x.ip);
    expect(held).toContain('198.18.9.9');
    expect(held).toHaveLength(4);
    const refused = b.endedBans().filter((e) => e.ended.reason === 'refused');
    expect(refused).toHaveLength(3);
    expect(refused[0]!.ended.by).toContain('BANHAMMER_MAX_BANS');
    expect(b.refusedAtCap).toBe(3);
  });

  it('a flood of one million distinct offenders stays at the cap (bounded time)', () => {
    const b = capped(1000);
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const ms = cpuMs(() => {
      for (let i = 0; i < 1_000_000; i++) b.consider(offense(`2001:db8:${((i >>> 15) + 1).toString(16)}:${((i & 0x7fff) + 1).toString(16)}::1`, T0));
    });
    expect(b.expected(T0)).toHaveLength(1000);
    expect(b.refusedAtCap).toBe(999_000);
    expect(ms).toBeLessThan(30_000);
  });
});

describe('IPv6 network escalation under pressure', () => {
  it('with the book half full, a banned IPv6 address takes its /64 with it, escalation configured or not (never IPv4, never for an enforcer without networks)', () => {
    const run = (networkBans: boolean) => {
      const bans: Ban[] = [];
      const p = new Pipeline({ config: loadConfig({ env: { BANHAMMER_MAX_BANS: '1000' }, hostname: 'unit' }), mode: 'replay', onBan: (b) => bans.push(b), networkBans });
      const probe = (ip: string, t: number) => `${ip} - - [06/Dec/2026:09:00:${String(t % 60).padStart(2, '0')} +0000] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 10 "-" "curl"`;
      const feed = (ip: string, t: number) => {
        const ev = p.parse(probe(ip, t));
        if (ev) p.observe(ev, ev.time);
      };
      // Below half the cap: IPv6 addresses are banned one by one (escalation is off by default).
      for (let i = 1; i <= 3; i++) feed(`2001:db8:5:1::${i}`, i);
      for (let i = 0; i < 497; i++) feed(`198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`, i);
      expect(bans.filter((b) => b.ip.includes('/'))).toEqual([]);
      expect(p.book.pressed).toBe(true);
      for (let i = 1; i <= 3; i++) feed(`2001:db8:5:${i + 1}::1`, i);
      feed('198.18.9.1', 9);
      return bans.filter((b) => b.ip.includes('/')).map((b) => b.ip);
    };
    expect(run(true)).toEqual(['2001:db8:5:2::/64', '2001:db8:5:3::/64', '2001:db8:5:4::/64']);
    expect(run(false)).toEqual([]);
  });
});

describe('BANHAMMER_MAX_BANS in the agent', () => {
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const clf = (ms: number): string => {
    const d = new Date(ms);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  };
  const probe = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 10 "-" "curl"`;
  async function value(m: Metrics, series: string): Promise<number | null> {
    for (const l of (await m.render()).split('\n')) if (l.startsWith(`${series} `)) return Number(l.slice(series.length + 1));
    return null;
  }

  it('refuses new bans at the cap, says so at most once a minute, and counts them in banhammer_bans_refused_total; a reload raises it', async () => {
    const clock = new ManualClock(T0);
    const metrics = createMetrics({ rules: ['forbidden', 'exploit-probes'], enforcer: 'log' });
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (o: object, m?: string) => warnings.push({ obj: o as Record<string, unknown>, msg: m ?? '' }) };
    let env: Record<string, string> = { BANHAMMER_MAX_BANS: '1000' };
    const daemon = new Daemon({
      config: loadConfig({ env, hostname: 'unit' }), clock, logger, enforcer: new LogEnforcer(() => {}, clock), store: new MemoryStore(), createSource, hostAddresses: [], metrics,
      reloadConfig: () => loadConfig({ env, hostname: 'unit' }),
    });
    await daemon.start();
    expect(await value(metrics, 'banhammer_bans_refused_total')).toBe(0);
    // IPv4 offenders: an IPv6 address would take its /64 with it once the book is half full (below).
    for (let i = 0; i < 1010; i++) source.onLine(probe(`198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`, clock.now()), '/var/log/access.log');
    const capWarnings = () => warnings.filter((w) => w.msg.includes('BANHAMMER_MAX_BANS'));
    for (let s = 0; s < 3; s++) {
      clock.advance(1000);
      await new Promise((r) => setImmediate(r));
    }
    expect(daemon.status('exploit-probes').rules[0]!.bannedIps).toHaveLength(1000);
    expect(capWarnings()).toHaveLength(1);
    expect(capWarnings()[0]!.obj).toMatchObject({ refused: 10, maxBans: 1000 });
    expect(await value(metrics, 'banhammer_bans_refused_total')).toBe(10);
    // More refusals within the minute: no second warning until a minute has passed.
    const tick = async (ms: number) => {
      await new Promise((r) => setImmediate(r));
      clock.advance(ms);
      await new Promise((r) => setImmediate(r));
    };
    source.onLine(probe('198.18.8.1', clock.now()), '/var/log/access.log');
    await tick(1000);
    expect(capWarnings()).toHaveLength(1);
    await tick(60_000);
    expect(capWarnings()).toHaveLength(2);
    expect(capWarnings()[1]!.obj).toMatchObject({ refused: 1 });
    // A reload with a higher cap: the next offender is banned.
    env = { BANHAMMER_MAX_BANS: '2000' };
    daemon.reload();
    source.onLine(probe('198.18.9.1', clock.now()), '/var/log/access.log');
    await tick(1000);
    expect(daemon.status('exploit-probes').rules[0]!.bannedIps).toHaveLength(1001);
    await daemon.stop();
  });
});
