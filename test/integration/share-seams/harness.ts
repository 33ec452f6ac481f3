/**
 * Helper H43: a seeded differential of the seams with SHARED bans. Each seed runs a small random
 * scenario on 3 live agents (the real Daemon wiring: pipeline, ban book, enforcement queue, group
 * link, state file in memory) sharing through a real redis-server, replica c through a cuttable
 * proxy: detected bans at different replicas with different bantimes, manual bans and unbans through
 * the control API (the Daemon's handler), a replica restarted mid-stream (a new replica id, as
 * run.ts makes one per process; ops at the others while it is away), a reload changing rules, c cut
 * off with ops waiting in its outbox. After quiet, per replica:
 *
 *   enforcer (RecordingEnforcer: the kernel set) == ban book's kernel view == `status` == `status
 *   RULE` == `why IP` (active, and "banned" iff the kernel holds it) == the active-bans gauge,
 *
 * across replicas (no cut): the same addresses banned everywhere, and a late joiner's view of the
 * group's hash (a replica starting now would ban exactly those), and at a restart: the book restored
 * from the state file == the book before the stop (when nothing happened meanwhile).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { canonicalTarget } from '../../../src/parse/ip.js';
import { createRedisShare, type ShareStage } from '../../../src/share/share.js';
import { FakeSource, RestartStore } from '../../fakes/agent-io.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { rng } from '../../support/random.js';
import { clf } from '../../support/clf.js';
import type { CuttableProxy } from '../share/redis-server.js';
import type { RedisGroup } from '../share/redis-group.js';
import { sleep, startReplica, waitFor } from '../share/replica.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const MIN = 60_000;
const HOUR = 60 * MIN;

const dirs: string[] = [];
export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export const line = (ip: string, t = Date.now()): string => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`;

export interface RuleKnobs {
  bantime: string;
  enabled: boolean;
}

function yamlOf(k: RuleKnobs): string {
  return ['rules:', `  forbidden: { maxretry: 2, findtime: 10m, bantime: ${k.bantime}, enabled: ${k.enabled} }`, ''].join('\n');
}

export interface Agent {
  readonly name: string;
  daemon: Daemon;
  enforcer: RecordingEnforcer;
  share: ShareStage;
  metrics: Metrics;
  store: RestartStore;
  dir: string;
  knobs: RuleKnobs;
  config: Config;
  url: string;
  running: boolean;
  emit(l: string): void;
}

export const bookOf = (a: Agent) => (a.daemon as unknown as { pipeline: Pipeline }).pipeline.book;

export function makeAgent(name: string, group: string, url: string, knobs: RuleKnobs): Agent {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h43-'));
  dirs.push(dir);
  const a = { name, store: new RestartStore(), dir, knobs, url, running: false } as Agent;
  a.config = configOf(a, group);
  build(a, group);
  return a;
}

function configOf(a: Agent, group: string): Config {
  const file = join(a.dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yamlOf(a.knobs));
  return loadConfig({ env: { BANHAMMER_CONFIG: file, BANHAMMER_ENFORCER: 'nftables', BANHAMMER_INSTANCE: a.name, BANHAMMER_REDIS_URL: a.url, BANHAMMER_SHARE_GROUP: group, BANHAMMER_STATE_DIR: a.dir }, hostname: 'unit' });
}

function build(a: Agent, group: string): void {
  // A fresh replica id per process, as run.ts makes one (hostname-pid-random).
  a.share = createRedisShare({ url: a.url, group, outboxPath: join(a.dir, 'outbox.json'), maxBackoffMs: 200 }, { clock: systemClock, log: silent });
  a.enforcer = new RecordingEnforcer();
  a.metrics = createMetrics({ share: true, rules: ['forbidden'] });
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  a.daemon = new Daemon({ config: a.config, clock: systemClock, logger: silent, enforcer: a.enforcer, store: a.store, createSource, hostAddresses: [], share: a.share, metrics: a.metrics, reloadConfig: () => a.config });
  a.emit = (l) => source?.onLine(l, '/var/log/access.log');
}

export async function startAgent(a: Agent): Promise<void> {
  await a.daemon.start();
  a.running = true;
}

export async function stopAgent(a: Agent): Promise<void> {
  if (!a.running) return;
  a.running = false;
  await a.daemon.stop({ removeFirewall: false });
}

export async function restartAgent(a: Agent, group: string): Promise<void> {
  build(a, group);
  await startAgent(a);
}

export function reloadAgent(a: Agent, group: string, knobs: RuleKnobs): void {
  a.knobs = knobs;
  a.config = configOf(a, group);
  a.daemon.reload();
}

export type Op =
  | { kind: 'offend'; at: number; ip: string }
  | { kind: 'ban'; at: number; ip: string; forMs: number | null; rule?: string }
  | { kind: 'unban'; at: number; ip: string }
  | { kind: 'restart'; at: number; away: Op[] }
  | { kind: 'reload'; at: number; knobs: RuleKnobs }
  | { kind: 'outage'; ops: Op[] };

export interface Scenario {
  seed: number;
  knobs: RuleKnobs[];
  ips: string[];
  ops: Op[];
}

const BANTIMES = ['10m', '30m', '1h', '2h'];

export function randomScenario(seed: number, n = 7): Scenario {
  const r = rng(seed);
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const ips = Array.from({ length: 4 }, (_, i) => `198.18.${100 + (seed % 100)}.${1 + i}`);
  const knobs = [0, 1, 2].map(() => ({ bantime: pick(BANTIMES), enabled: true }));
  const one = (allowRestart: boolean, replicas: number[]): Op => {
    const at = pick(replicas);
    const ip = pick(ips);
    const x = r();
    if (x < 0.25) return { kind: 'offend', at, ip };
    if (x < 0.55) return { kind: 'ban', at, ip, forMs: pick([10 * MIN, HOUR, 3 * HOUR, null]), ...(r() < 0.4 ? { rule: 'forbidden' } : {}) };
    if (x < 0.75) return { kind: 'unban', at, ip };
    if (x < 0.85 || !allowRestart) return { kind: 'reload', at, knobs: { bantime: pick(BANTIMES), enabled: r() < 0.8 } };
    const away: Op[] = [];
    const others = [0, 1, 2].filter((i) => i !== at);
    for (let i = Math.floor(r() * 3); i > 0; i--) away.push(one(false, others));
    return { kind: 'restart', at, away };
  };
  const ops: Op[] = [];
  // Half the seeds start with c cut off: what it does waits in its outbox and is dated before what
  // the others do meanwhile (the road to an own ban kept under a longer adopted one).
  if (r() < 0.35) {
    // Targeted: c's long ban of P waits in its outbox; a or b bans P for less, after it; c's ban,
    // dated first, reaches them last and lasts longer: adopted over their own (Ban.under).
    const p = pick(ips);
    const rule = r() < 0.5 ? { rule: 'forbidden' } : {};
    const cOps: Op[] = [{ kind: 'ban', at: 2, ip: p, forMs: pick([null, 3 * HOUR]), ...rule }];
    const others: Op[] = [r() < 0.7 || !('rule' in rule) ? { kind: 'ban', at: Math.floor(r() * 2), ip: p, forMs: pick([10 * MIN, HOUR]), ...rule } : { kind: 'offend', at: Math.floor(r() * 2), ip: p }];
    if (r() < 0.5) others.push(one(false, [0, 1]));
    ops.push({ kind: 'outage', ops: [...cOps, ...others] });
  } else if (r() < 0.5) {
    const cOps: Op[] = [];
    for (let i = 1 + Math.floor(r() * 2); i > 0; i--) {
      const o = one(false, [2]);
      cOps.push(o.kind === 'reload' ? { kind: 'ban', at: 2, ip: pick(ips), forMs: null } : o);
    }
    const others: Op[] = [];
    for (let i = 1 + Math.floor(r() * 3); i > 0; i--) others.push(one(false, [0, 1]));
    ops.push({ kind: 'outage', ops: [...cOps, ...others] });
  }
  for (let i = 0; i < n; i++) ops.push(one(true, [0, 1, 2]));
  return { seed, knobs, ips, ops };
}

const when = (t: number | null | undefined): string => (t === null || t === undefined ? 'permanent' : new Date(t).toISOString());
const sorted = (a: string[]): string[] => [...a].sort();
const same = (x: string[], y: string[]): boolean => JSON.stringify(sorted(x)) === JSON.stringify(sorted(y));

/** Every disagreement between one replica's views of what it bans, as of one instant. */
export async function viewsOf(a: Agent, ips: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  const book = bookOf(a);
  const now = Date.now();
  // Bans ending within 2 s of now are left out of every view (the views are read at slightly different times).
  const soon = (u: number | null | undefined): boolean => u !== null && u !== undefined && u - now < 2000;
  const kernel = [...a.enforcer.held.values()].filter((b) => !soon(b.until)).map((b) => `${b.ip} ${when(b.until)}`);
  const expected = book.expected(now).filter((b) => !soon(b.until)).map((b) => `${b.ip} ${when(b.until)}`);
  if (!same(kernel, expected)) problems.push(`${a.name}: enforcer ${JSON.stringify(sorted(kernel))} != book's kernel view ${JSON.stringify(sorted(expected))}`);
  const active = book.active(now).filter((b) => !soon(b.until));
  const bk = (b: { rule: string; ip: string; until: number | string | null; from?: string | null }): string => `${b.rule} ${b.ip} ${when(typeof b.until === 'string' ? Date.parse(b.until) : b.until)} ${b.from ?? 'own'}`;
  const st = a.daemon.status();
  const fromStatus = st.rules.flatMap((r) => (r.bans ?? []).filter((b) => !soon(b.until === null ? null : Date.parse(b.until))).map((b) => bk({ rule: r.name, ...b })));
  if (!same(fromStatus, active.map(bk))) problems.push(`${a.name}: status ${JSON.stringify(sorted(fromStatus))} != book ${JSON.stringify(sorted(active.map(bk)))}`);
  for (const r of st.rules) {
    if (r.currentlyBanned !== (r.bans ?? []).length) problems.push(`${a.name}: status ${r.name} currentlyBanned ${r.currentlyBanned} != its ${(r.bans ?? []).length} bans listed`);
    const one = a.daemon.status(r.name).rules;
    if (one.length !== 1 || JSON.stringify(one[0]!.bans) !== JSON.stringify(r.bans) || one[0]!.currentlyBanned !== r.currentlyBanned) problems.push(`${a.name}: status ${r.name} != its entry in status`);
  }
  for (const ip of ips) {
    const w = a.daemon.why(ip);
    const wa = w.active.filter((b) => !soon(b.until === null ? null : Date.parse(b.until))).map((b) => bk(b));
    const ba = book.about(canonicalTarget(ip)!, now).active.filter((b) => !soon(b.until)).map(bk);
    if (!same(wa, ba)) problems.push(`${a.name}: why ${ip} active ${JSON.stringify(sorted(wa))} != book ${JSON.stringify(sorted(ba))}`);
    const held = a.enforcer.held.get(ip);
    if (held !== undefined && soon(held.until)) continue;
    if ((held !== undefined) !== (w.active.length > 0)) problems.push(`${a.name}: why ${ip} says ${w.active.length > 0 ? 'banned' : 'not banned'}, the kernel ${held !== undefined ? `holds it until ${when(held.until)}` : 'does not hold it'}`);
    if (held !== undefined && w.active.length > 0) {
      const longest = w.active.some((b) => b.until === null) ? null : Math.max(...w.active.map((b) => Date.parse(b.until!)));
      if (when(longest) !== when(held.until)) problems.push(`${a.name}: why ${ip} longest ban until ${when(longest)}, the kernel holds it until ${when(held.until)}`);
    }
    // A ban in force is not also listed as ended by being replaced (the same ban: rule, at).
    for (const e of w.ended) {
      if (e.ended?.reason === 'replaced' && e.ended.by?.startsWith('group:') && w.active.some((b) => b.rule === e.rule && b.at === e.at && b.from === e.from && b.until === e.until && b.source === e.source)) problems.push(`${a.name}: why ${ip} lists the ban in force (${e.rule} at ${e.at}) as ended ${e.ended?.reason} by ${e.ended?.by}`);
    }
  }
  (a.daemon as unknown as { sample(): void }).sample();
  const gauge = (await a.metrics.registry.getSingleMetric('banhammer_active_bans')!.get()).values;
  const v4 = gauge.find((v) => v.labels.family === 'ipv4')?.value ?? 0;
  const kernelAll = a.enforcer.held.size;
  if (v4 !== kernelAll) problems.push(`${a.name}: banhammer_active_bans{family=ipv4} ${v4} != the kernel's ${kernelAll} entries`);
  return problems;
}

/** Waits until every running replica is quiet (connected unless cut, outbox empty, nothing left to apply). */
export async function quiet(agents: readonly Agent[], cut: ReadonlySet<Agent> = new Set()): Promise<void> {
  await waitFor(
    'quiet',
    () => agents.every((a) => !a.running || ((cut.has(a) || (a.share.stats().connected && a.share.stats().outboxDepth === 0)) && !bookOf(a).hasChanges)),
    5000,
  ).catch(() => undefined);
  await sleep(60);
}

/** Polls the checks until they pass (the group may still be delivering) or `ms` passed; the last problems. */
export async function settleChecks(check: () => Promise<string[]>, ms = 1500): Promise<string[]> {
  const t0 = Date.now();
  let p = await check();
  while (p.length > 0 && Date.now() - t0 < ms) {
    await sleep(50);
    p = await check();
  }
  return p;
}

export interface Outcome {
  problems: string[];
  stats: { checkpoints: number; restarts: number; reloads: number; outages: number; adopted: number; under: number; bans: number; unbans: number };
  trace: string[];
}

export async function runScenario(g: RedisGroup, s: Scenario, proxy: CuttableProxy): Promise<Outcome> {
  const group = `s${s.seed}`;
  const agents = ['a', 'b', 'c'].map((n, i) => makeAgent(`${group}-${n}`, group, i === 2 ? `redis://127.0.0.1:${proxy.port}` : g.redis.url(), s.knobs[i]!));
  const problems: string[] = [];
  const trace: string[] = [];
  const stats = { checkpoints: 0, restarts: 0, reloads: 0, outages: 0, adopted: 0, under: 0, bans: 0, unbans: 0 };
  const cut = new Set<Agent>();
  try {
    for (const a of agents) await startAgent(a);
    await waitFor('all connected', () => agents.every((a) => a.share.stats().connected), 5000);

    const apply = async (op: Op): Promise<void> => {
      if (op.kind === 'outage') return;
      const a = agents[op.at]!;
      trace.push(`${a.name.slice(-1)} ${op.kind}${'ip' in op ? ` ${op.ip}` : ''}${op.kind === 'ban' ? ` ${op.forMs === null ? 'rule-bantime' : op.forMs / MIN + 'm'}${op.rule ? ` ${op.rule}` : ''}` : ''}${op.kind === 'reload' ? ` ${JSON.stringify(op.knobs)}` : ''}`);
      if (op.kind === 'offend') {
        for (let i = 0; i < 2; i++) a.emit(line(op.ip));
      } else if (op.kind === 'ban') {
        stats.bans++;
        try {
          await a.daemon.ban(op.ip, { forMs: op.forMs, ...(op.rule ? { rule: op.rule } : {}) });
        } catch (e) {
          trace.push(`  -> ${(e as Error).message}`);
        }
      } else if (op.kind === 'unban') {
        stats.unbans++;
        try {
          const n = await a.daemon.unban(op.ip);
          trace.push(`  -> lifted ${n}`);
        } catch (e) {
          trace.push(`  -> ${(e as Error).message.slice(0, 120)}`);
        }
      } else if (op.kind === 'reload') {
        stats.reloads++;
        reloadAgent(a, group, op.knobs);
      } else {
        stats.restarts++;
        const before = bookOf(a).active(Date.now()).map((b) => bkFull(b));
        await stopAgent(a);
        for (const o of op.away) {
          await apply(o);
          await quiet(agents, cut);
        }
        await restartAgent(a, group);
        if (op.away.length === 0) {
          const after = bookOf(a).active(Date.now()).map((b) => bkFull(b));
          if (!same(before, after)) problems.push(`${a.name}: restored book ${JSON.stringify(sorted(after))} != book before the stop ${JSON.stringify(sorted(before))}`);
        }
        await waitFor('restarted replica connected', () => a.share.stats().connected, 5000).catch(() => undefined);
      }
    };

    const checkpoint = async (where: string): Promise<void> => {
      stats.checkpoints++;
      await quiet(agents, cut);
      const found = await settleChecks(async () => {
        const p: string[] = [];
        for (const a of agents) if (a.running) p.push(...(await viewsOf(a, s.ips)));
        if (cut.size === 0) {
          const sets = agents.map((a) => sorted([...a.enforcer.held.keys()]).join(','));
          if (new Set(sets).size > 1) p.push(`kernels differ: ${agents.map((a, i) => `${a.name.slice(-1)}=[${sets[i]}]`).join(' ')}`);
        }
        return p;
      });
      for (const p of found) problems.push(`seed ${s.seed} ${where}: ${p}`);
    };

    for (const [i, op] of s.ops.entries()) {
      if (op.kind === 'outage') {
        stats.outages++;
        const c = agents[2]!;
        proxy.cut();
        cut.add(c);
        await waitFor('c offline', () => !c.share.stats().connected, 3000);
        trace.push('c cut');
        const cOps = op.ops.filter((o) => 'at' in o && o.at === 2);
        for (const o of cOps) await apply(o);
        // Apart by more than the 2 s the group allows between clocks: c's outbox is older than what follows.
        await sleep(2_300);
        for (const o of op.ops.filter((o) => !cOps.includes(o))) {
          await apply(o);
          await quiet(agents, cut);
        }
        await checkpoint(`op ${i} (during the outage)`);
        proxy.restore();
        cut.delete(c);
        trace.push('c restored');
        await waitFor('c back', () => c.share.stats().connected && c.share.stats().outboxDepth === 0, 5000).catch(() => undefined);
      } else {
        await apply(op);
      }
      await checkpoint(`op ${i} (${op.kind})`);
      for (const a of agents) if (a.running) for (const b of bookOf(a).active(Date.now())) {
        if (b.from !== undefined) stats.adopted++;
        if (b.under !== undefined) stats.under++;
      }
      if (problems.length > 0) break;
    }
    if (problems.length === 0) {
      // A replica joining now adopts exactly what the kernels hold.
      const late = await startReplica(`${group}-late`, { url: g.redis.url(), group });
      await sleep(300);
      const now = Date.now();
      const heard = new Set(late.bans.filter((x) => x.ban.until === null || x.ban.until > now + 2000).map((x) => x.ban.ip));
      for (const u of late.unbans) heard.delete(u.ip);
      await late.stage.stop();
      const held = new Set(agents[0]!.enforcer.held.keys());
      if (!same([...heard], [...held])) problems.push(`seed ${s.seed} end: a late joiner adopts [${sorted([...heard])}], the kernels hold [${sorted([...held])}]`);
      // And every replica restarted now comes back with what it holds.
      for (const a of agents) {
        const before = sorted([...a.enforcer.held.entries()].map(([ip, b]) => `${ip} ${when(b.until)}`));
        await stopAgent(a);
        await restartAgent(a, group);
        await quiet(agents);
        const after = sorted([...a.enforcer.held.entries()].map(([ip, b]) => `${ip} ${when(b.until)}`));
        if (!same(before, after)) problems.push(`seed ${s.seed} end: ${a.name} after a restart holds ${JSON.stringify(after)}, before it held ${JSON.stringify(before)}`);
      }
    }
  } finally {
    proxy.restore();
    for (const a of agents) await stopAgent(a).catch(() => undefined);
  }
  return { problems, stats, trace };
}

const bkFull = (b: Ban): string => `${b.rule} ${b.ip} ${when(b.until)} ${b.from === undefined ? 'own' : 'adopted'}${b.under ? ` under(${when(b.under.until)})` : ''}`;
