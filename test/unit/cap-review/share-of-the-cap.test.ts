/**
 * Host mode, the ban book full (BANHAMMER_MAX_BANS): no tenant may fill the book for everyone.
 *
 * Each container may hold a quarter of the cap, so a tenant with four containers writing forged
 * addresses into their logs (one request each to exploit-probes, which bans at one) filled the book,
 * and every other tenant's attackers were refused until those bans ended (an hour and more). Now a
 * container holding less than its share (the cap over the containers holding bans) takes the room of
 * the oldest detected ban of the container holding the most, when that one holds more than its share.
 * Manual bans are never cut; outside host mode (no containers) the cap refuses as before.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { containerConfig } from '../docker/container-fixtures.js';
import { clf } from '../../support/clf.js';
import { formatWhy } from '../../../src/control/format-why.js';
import { payloadOf, summaryOf, textOf } from '../../../src/notify/event.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const CAP = 1000;
const ids = ['a', 'b', 'c', 'd', 'e'].map((c) => c.repeat(64));
const [A, B, C, D, E] = ids as [string, string, string, string, string];
/** The n-th forged address of a hostile tenant's container k (198.18.0.0/15, distinct for each). */
const forged = (k: number, n: number): string => `198.18.${k * 4 + (n >> 8)}.${n & 255}`;

function book(): BanBook {
  return new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: CAP });
}
const offense = (b: BanBook, ip: string, scope: string | undefined, at: number) =>
  b.consider({ ip, family: 4, rule: 'exploit-probes', at, failures: 1, ...(scope !== undefined ? { scope } : {}) }, at);

/** Four containers of one tenant fill the book, a quarter each. */
function filled(b: BanBook): number {
  let t = T0;
  for (let k = 0; k < 4; k++) for (let n = 0; n < CAP / 4; n++) expect(offense(b, forged(k, n), ids[k], (t += 10))).not.toBeNull();
  expect(b.active().length).toBe(CAP);
  return t;
}

describe('the ban book at the cap, per container share (BanBook)', () => {
  it("a fifth container's attacker is banned: the oldest ban of the container holding the most ends, and why says so", () => {
    const b = book();
    let t = filled(b);
    const ban = offense(b, '198.19.0.1', E, (t += 10));
    expect(ban).not.toBeNull();
    const cut = b.takeCut();
    expect(cut.map((x) => [x.ip, x.scope])).toEqual([[forged(0, 0), A]]); // A holds 250 (as do all): the first of the most, its oldest
    expect(b.takeCut()).toEqual([]);
    expect(b.active().length).toBe(CAP);
    expect(b.refusedAtCap).toBe(0);
    expect(b.cutForShareTotal).toBe(1);
    const ended = b.endedBans().find((x) => x.ip === forged(0, 0))!;
    expect(ended.ended.reason).toBe('refused');
    expect(ended.ended.by).toMatch(/^cap: container .* held 250 of the 1000 bans .*share of 200/);
    expect(b.isBanned(forged(0, 0), 'exploit-probes', t, A)).toBe(false);
    expect(b.isBanned('198.19.0.1', 'exploit-probes', t, E)).toBe(true);
    // A notification of its end says what happened in words, and keeps the label in the payload.
    const agent = { instance: 'unit', host: 'h', version: '0' };
    const notice = { kind: 'unban' as const, ban: cut[0]!, reason: 'cap' as const, time: t };
    expect(summaryOf(notice, agent)).toMatch(/unbanned \(cut short: the ban book was full \(BANHAMMER_MAX_BANS\)/);
    expect(textOf(notice, agent)).toMatch(/Ended: {5}cut short: the ban book was full/);
    expect((payloadOf(notice, agent, t) as unknown as { reason: string }).reason).toBe('cap');
  });

  it('the five converge on equal shares: the newcomer grows to its share (200) and is refused past it; no container is cut below its share', () => {
    const b = book();
    let t = filled(b);
    let banned = 0;
    for (let n = 0; n < 400; n++) if (offense(b, `198.19.${n >> 8}.${n & 255}`, E, (t += 10)) !== null) banned++;
    expect(banned).toBe(200);
    expect(b.cutForShareTotal).toBe(200);
    expect(b.refusedAtCap).toBe(200);
    const per = new Map<string, number>();
    for (const x of b.active()) per.set(x.scope!, (per.get(x.scope!) ?? 0) + 1);
    expect([...per.values()].sort()).toEqual([200, 200, 200, 200, 200]);
    // A hostile container under its share again cannot cut another below the share either.
    expect(offense(b, forged(0, 999), A, (t += 10))).toBeNull();
    expect(b.cutForShareTotal).toBe(200);
  });

  it('manual bans are never cut: a container holding only manual bans keeps them, and the newcomer is refused', () => {
    const b = book();
    const t = T0;
    for (let k = 0; k < 4; k++) for (let n = 0; n < CAP / 4; n++) b.banManually(forged(k, n), { durationMs: null, now: t, scope: ids[k]! });
    expect(offense(b, '198.19.0.1', E, t + 10)).toBeNull();
    expect(b.takeCut()).toEqual([]);
    expect(b.refusedAtCap).toBe(1);
    expect(b.active().length).toBe(CAP);
  });

  it('outside host mode (host-wide bans only) the cap refuses as before; a host-wide ban never cuts a container\'s', () => {
    const b = book();
    let t = T0;
    for (let n = 0; n < CAP; n++) expect(offense(b, forged(n >> 8, n & 255), undefined, (t += 10))).not.toBeNull();
    expect(offense(b, '198.19.0.1', undefined, (t += 10))).toBeNull();
    expect(b.takeCut()).toEqual([]);
    expect(b.refusedAtCap).toBe(1);

    const h = book();
    t = filled(h);
    expect(offense(h, '198.19.0.1', undefined, (t += 10))).toBeNull();
    expect(h.takeCut()).toEqual([]);
  });

  it('the order of cuts stays bounded in memory under churn (bans made and ended again and again in one container)', () => {
    const b = book();
    let t = T0;
    // One ban that never ends keeps the container's order alive across rounds.
    b.banManually('198.19.9.9', { durationMs: null, now: t, scope: A });
    for (let round = 0; round < 50; round++) {
      for (let n = 0; n < 200; n++) offense(b, forged(0, n), A, (t += 10));
      b.unban(forged(0, 0), undefined, A, { at: t, by: 'control' });
      b.expire(t + 10 * 24 * 3600_000);
      t += 10 * 24 * 3600_000;
    }
    const order = (b as unknown as { madeInScope: Map<string, { keys: string[]; head: number }> }).madeInScope;
    expect(order.has(A)).toBe(true);
    for (const o of order.values()) expect(o.keys.length - o.head).toBeLessThanOrEqual(2 * 201 + 1024 + 1);
  });
});

describe('the live agent and replay lift a cut ban alike', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });

  const probe = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 10 "-" "curl"`;
  const jsonLine = (ip: string, t: number) => JSON.stringify({ log: `${probe(ip, t)}\n`, stream: 'stdout', time: new Date(t).toISOString() });

  it('the agent (host mode, bans per container) lifts the cut ban from the enforcer, counts it as unbans{reason="cap"} and warns once', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bh-share-cap-'));
    roots.push(root);
    ids.forEach((id, i) => {
      mkdirSync(join(root, id));
      writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, `web-${i}`, { bridge: { v4: `198.19.151.${i + 2}` } }));
    });
    const clock = new ManualClock(T0);
    const enforcer = new RecordingEnforcer();
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const config = loadConfig({
      env: { BANHAMMER_ENFORCER: 'nftables', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_INSTANCE: 'host', BANHAMMER_BAN_SCOPE: 'container', BANHAMMER_MAX_BANS: String(CAP) },
      hostname: 'unit',
    });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (_o: object, m?: string) => void warnings.push(m ?? ''), error() {} };
    const unbans: string[] = [];
    const metrics = new Proxy({}, { get: (_t, name) => (name === 'unbanned' ? (rule: string, reason: string) => unbans.push(`${rule} ${reason}`) : () => undefined) });
    const daemon = new Daemon({ config, clock, logger, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], metrics: metrics as never });
    await daemon.start();
    try {
      for (let k = 0; k < 4; k++) {
        for (let n = 0; n < CAP / 4; n++) {
          clock.advance(10);
          source.onLine(jsonLine(forged(k, n), clock.now()), join(root, ids[k]!, `${ids[k]}-json.log`));
        }
      }
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(enforcer.held.size).toBe(CAP);
      for (let n = 0; n < 3; n++) {
        clock.advance(10);
        source.onLine(jsonLine(`198.19.0.${n + 1}`, clock.now()), join(root, E, `${E}-json.log`));
      }
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(enforcer.held.has(`198.19.0.1 ${E}`)).toBe(true);
      expect(enforcer.held.has(`198.19.0.3 ${E}`)).toBe(true);
      expect(enforcer.held.has(`${forged(0, 0)} ${A}`)).toBe(false);
      expect(enforcer.held.size).toBe(CAP);
      expect(unbans.filter((u) => u.endsWith(' cap'))).toEqual(['exploit-probes cap', 'exploit-probes cap', 'exploit-probes cap']);
      expect(warnings.filter((w) => w.includes('BANHAMMER_MAX_BANS'))).toHaveLength(1);
      // why says how it ended, in words.
      expect(formatWhy(daemon.why(forged(0, 0)))).toMatch(/ended early to make room: container web-0 held 250 of the 1000 bans/);
    } finally {
      await daemon.stop();
    }
  });

  it('a replay pipeline makes the same cut, and its onCut says when the ban ended', () => {
    const config = loadConfig({ env: { BANHAMMER_MAX_BANS: String(CAP) }, hostname: 'unit' });
    const cuts: { ip: string; scope: string | undefined; at: number }[] = [];
    const p = new Pipeline({ config, mode: 'replay', onCut: (bans, at) => bans.forEach((b) => cuts.push({ ip: b.ip, scope: b.scope, at })) });
    let t = T0;
    for (let k = 0; k < 4; k++) {
      for (let n = 0; n < CAP / 4; n++) {
        const ev = p.parse(probe(forged(k, n), (t += 1000)))!;
        p.observe(ev, ev.time, ids[k]);
      }
    }
    const ev = p.parse(probe('198.19.0.1', (t += 1000)))!;
    p.observe(ev, ev.time, E);
    expect(cuts).toEqual([{ ip: forged(0, 0), scope: A, at: ev.time }]);
  });
});
