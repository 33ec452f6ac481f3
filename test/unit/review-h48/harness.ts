/**
 * Helper H48: a seeded differential of the seams "what is banned" must agree across, with every
 * preset on (BANHAMMER_RULES = all of them) and user rules (one of maxretry 1 with increment, one
 * counting distinct paths):
 *
 * - the live agent: a real Daemon (manual clock following the log's times, recording firewall,
 *   metrics registry, in-memory state), fed line by line, `ban`/`unban` and reloads through its
 *   control handler;
 * - a reference: replay's Pipeline (log time) fed the same events and the same operations;
 * - at each reload, an agent started fresh on the new configuration from the reloaded agent's state
 *   (what a restart instead of a reload gives);
 * - for logs without operations, the real `banhammer replay --all-rules` (replayFile).
 *
 * Clients write one address several ways (::ffff:198.18.0.1, upper-case and zero-padded IPv6);
 * ignoreip holds single addresses and networks of both families (one IPv4 network in its mapped
 * IPv6 spelling); times step by exact findtimes and bantimes (boundaries) and now and then go back.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { PRESET_NAMES } from '../../../src/detect/presets.js';
import type { Ban, KernelBan } from '../../../src/decide/ban-book.js';
import { canonicalTarget } from '../../../src/parse/ip.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, RestartStore } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';
import { rng } from '../../support/random.js';

export const T0 = Date.UTC(2026, 11, 7, 9, 0, 0);
export const settle = async (): Promise<void> => {
  for (let i = 0; i < 8; i++) await new Promise((r) => setImmediate(r));
};

const dirs: string[] = [];
export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
export function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bh-h48-'));
  dirs.push(d);
  return d;
}

/** Every ignoreip entry a scenario may use: single addresses and networks, both families, one mapped. */
export const IGNORE_CHOICES = ['198.18.9.9', '198.18.8.0/24', '2001:db8:9::9', '2001:db8:8::/48', '::ffff:198.18.7.0/120', '::FFFF:198.18.6.6'];

export interface Knobs {
  maxretry: number;
  findtime: number; // s
  bantime: number; // s
  increment: boolean;
  trapBantime: number; // s
  walkerMax: number;
  after: number;
  ignore: string[];
  off: string[];
}

export function randomKnobs(r: () => number): Knobs {
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  return {
    maxretry: pick([1, 2, 3]),
    findtime: pick([20, 30, 60]),
    bantime: pick([30, 60, 120]),
    increment: r() < 0.6,
    trapBantime: pick([30, 90]),
    walkerMax: pick([2, 3]),
    after: pick([0, 2, 3]),
    ignore: IGNORE_CHOICES.filter(() => r() < 0.4),
    off: ['forbidden', 'trap-once', 'walker', 'not-found', 'sensitive-paths'].filter(() => r() < 0.15),
  };
}

const USER_RULES = ['trap-once', 'walker'];
export const ALL_RULES = [...PRESET_NAMES, ...USER_RULES];

export function yamlOf(k: Knobs): string {
  return [
    'rules:',
    `  forbidden: { maxretry: ${k.maxretry}, findtime: ${k.findtime}s, bantime: ${k.bantime}s${k.increment ? ', increment: { factor: 2, maxtime: 10m }' : ''} }`,
    `  trap-once: { match: { paths: ['^/h48-trap'] }, maxretry: 1, findtime: 1m, bantime: ${k.trapBantime}s, increment: { factor: 3, maxtime: 20m } }`,
    `  walker: { match: { status: [404], paths: ['^/w/'] }, count: distinct-paths, maxretry: ${k.walkerMax}, findtime: 1m, bantime: 75s }`,
    `ignoreip: ${JSON.stringify(k.ignore)}`,
    `ipv6_network_ban: { after: ${k.after}, prefix: 64, within: 10m }`,
    '',
  ].join('\n');
}

export function configOf(k: Knobs, dir: string): Config {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yamlOf(k));
  const rules = ALL_RULES.filter((n) => !k.off.includes(n)).join(',');
  return loadConfig({ env: { BANHAMMER_CONFIG: file, BANHAMMER_ENFORCER: 'nftables', BANHAMMER_RULES: rules }, hostname: 'unit' });
}

/** One address, spelled as a log or a user may write it. */
export function spell(ip: string, r: () => number): string {
  const x = r();
  if (!ip.includes(':')) return x < 0.5 ? ip : x < 0.8 ? `::ffff:${ip}` : `::FFFF:${ip}`;
  if (x < 0.4) return ip;
  if (x < 0.7) return ip.toUpperCase();
  // zero-padded groups (the :: kept)
  return ip
    .split(':')
    .map((g) => (g === '' ? '' : g.padStart(4, '0')))
    .join(':');
}

export const BASE_CLIENTS = ['198.18.0.1', '198.18.0.2', '198.18.1.7', '198.19.3.4', '198.18.9.9', '198.18.8.5', '198.18.7.3', '198.18.6.6', '2001:db8:1:1::a', '2001:db8:1:1::b', '2001:db8:1:1::c', '2001:db8:1:2::1', '2001:db8:9::9', '2001:db8:8:1::5'];

const REQUESTS: readonly { path: string; status: number; method?: string; ua?: string }[] = [
  { path: '/private', status: 403 },
  { path: '/private', status: 403 },
  { path: '/.env', status: 404 },
  { path: '/.git/config', status: 404 },
  { path: '/h48-trap', status: 200 },
  { path: '/ok', status: 200 },
  { path: '/ok', status: 200 },
  { path: '/index.html', status: 200, ua: 'sqlmap/1.7' },
  { path: '/wp-login.php', status: 200, method: 'POST' },
  { path: '/phpmyadmin/', status: 404 },
  { path: '/login', status: 401 },
  { path: '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php', status: 404 },
];

export type Op =
  | { kind: 'line'; t: number; ip: string; path: string; status: number; method: string; ua: string }
  | { kind: 'ban'; t: number; ip: string; rule?: string; forMs: number | null }
  | { kind: 'unban'; t: number; ip: string }
  | { kind: 'reload'; t: number; knobs: Knobs }
  | { kind: 'unbanAll'; t: number }
  /** Time passes with no line (the agent's periodic tasks run). */
  | { kind: 'tick'; t: number };

export interface Scenario {
  seed: number;
  knobs: Knobs;
  ops: Op[];
}

/** `back`: now and then a line stamped up to 4 s (or `backMs`) before the latest one (read late). */
export function randomScenario(seed: number, opts: { ops?: boolean; back?: boolean; backMs?: number; lines?: number } = {}): Scenario {
  const r = rng(seed);
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const knobs = randomKnobs(r);
  const ops: Op[] = [];
  let t = T0;
  let maxT = T0;
  const n = opts.lines ?? 60 + Math.floor(r() * 80);
  for (let i = 0; i < n; i++) {
    const step = r();
    // exact findtimes and bantimes (boundaries), the same second, a few seconds, a long gap
    t += step < 0.1 ? knobs.findtime * 1000 : step < 0.2 ? knobs.bantime * 1000 : step < 0.3 ? 0 : step < 0.95 ? 1000 * Math.floor(r() * 5) : 1000 * (60 + Math.floor(r() * 400));
    maxT = Math.max(maxT, t);
    const roll = r();
    if (opts.ops !== false && roll < 0.05) {
      const ip = r() < 0.25 ? pick(['198.18.2.0/24', '2001:db8:1:2::/64', '2001:DB8:1:3::/64', '198.18.0.0/16']) : spell(pick(BASE_CLIENTS), r);
      ops.push({ kind: 'ban', t: maxT, ip, ...(r() < 0.4 ? { rule: pick(['forbidden', 'trap-once', 'walker']) } : {}), forMs: r() < 0.3 ? null : 1000 * pick([30, 60, 90, 300]) });
      continue;
    }
    if (opts.ops !== false && roll < 0.09) {
      ops.push({ kind: 'unban', t: maxT, ip: r() < 0.15 ? pick(['198.18.2.0/24', '2001:db8:1:2::/64', '2001:db8:1:1::/64']) : spell(pick(BASE_CLIENTS), r) });
      continue;
    }
    if (opts.ops !== false && roll < 0.095) {
      ops.push({ kind: 'unbanAll', t: maxT });
      continue;
    }
    if (opts.ops !== false && roll < 0.11) {
      ops.push({ kind: 'reload', t: maxT, knobs: randomKnobs(r) });
      continue;
    }
    if (opts.backMs !== undefined && roll > 0.97) {
      // A failure, a quiet spell past its findtime (the agent's sweeps run), then a line of the same
      // client stamped inside that findtime, read late.
      const ip = spell(pick(BASE_CLIENTS), r);
      const first = maxT;
      ops.push({ kind: 'line', t: first, ip, path: '/private', status: 403, method: 'GET', ua: 'curl/8' });
      const late = Math.min(opts.backMs, knobs.findtime * 1000 - 1000);
      maxT = first + knobs.findtime * 1000 + 1000 * Math.floor(r() * (late / 1000));
      ops.push({ kind: 'tick', t: maxT });
      ops.push({ kind: 'line', t: Math.max(first, maxT - late), ip, path: '/private', status: 403, method: 'GET', ua: 'curl/8' });
      t = maxT;
      continue;
    }
    const back = opts.back === true && r() < 0.15 ? 1000 * (1 + Math.floor(r() * ((opts.backMs ?? 4000) / 1000))) : 0;
    const req = pick(REQUESTS);
    const walk = r() < 0.15;
    ops.push({ kind: 'line', t: Math.max(T0, maxT - back), ip: spell(pick(BASE_CLIENTS), r), path: walk ? `/w/${Math.floor(r() * 5)}` : req.path, status: walk ? 404 : req.status, method: req.method ?? 'GET', ua: req.ua ?? 'curl/8' });
  }
  return { seed, knobs, ops };
}

export const lineOf = (op: Extract<Op, { kind: 'line' }>): string => `${op.ip} - - [${clf(op.t)}] "${op.method} ${op.path} HTTP/1.1" ${op.status} 10 "-" "${op.ua}"`;

/** Out-of-order logs: expiries are not compared (the agent bans at its clock, replay at the line's time: README, replay). */
let looseTimes = false;
/** How far apart two expiries of one ban may be (the most a line is read late, and a second). */
let looseMs = 5000;
const iso = (t: number | null): string => (t === null ? 'permanent' : looseTimes ? 'some time' : new Date(t).toISOString());
const bk = (b: { ip: string; rule: string; until: number | null }): string => `${b.rule} ${b.ip} until ${iso(b.until)}`;
const kk = (b: KernelBan): string => `${b.ip} ${iso(b.until)}`;
const sorted = (a: string[]): string[] => [...a].sort();
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

type Internals = { pipeline: Pipeline; stateDoc: () => import('../../../src/daemon.js').DaemonState };
const inner = (d: Daemon): Internals => d as unknown as Internals;

async function gauge(m: Metrics): Promise<{ v4: number; v6: number }> {
  const text = await m.render();
  const get = (fam: string): number => Number(new RegExp(`^banhammer_active_bans\\{family="${fam}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN');
  return { v4: get('ipv4'), v6: get('ipv6') };
}

export interface Outcome {
  problems: string[];
  stats: { bans: number; checkpoints: number; reloads: number; manual: number; networks: number; replayed: number };
}

export async function runScenario(s: Scenario, opts: { replayFile?: (file: string, config: Config, rules: readonly string[]) => Promise<{ bans: readonly { ip: string; rule: string; at: number; until: number | null; failures: number }[] }>; stopAtFirst?: boolean; looseTimes?: boolean; lateMs?: number } = {}): Promise<Outcome> {
  looseTimes = opts.looseTimes === true;
  looseMs = (opts.lateMs ?? 4000) + 1000;
  const dir = tmp();
  let config = configOf(s.knobs, dir);
  const problems: string[] = [];
  const stats = { bans: 0, checkpoints: 0, reloads: 0, manual: 0, networks: 0, replayed: 0 };
  const clock = new ManualClock(T0 - 1000);
  const store = new RestartStore();
  const infos: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger = { debug() {}, error() {}, info: (obj: object, msg?: string) => void infos.push({ obj: obj as Record<string, unknown>, msg: msg ?? '' }), warn() {} };
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (x) => (source = new FakeSource(x.onLine));
  const enforcer = new RecordingEnforcer();
  const metrics = createMetrics();
  const daemon = new Daemon({ config, clock, logger, enforcer, store, createSource, hostAddresses: [], reloadConfig: () => config, metrics });
  await daemon.start();
  const refBans: Ban[] = [];
  const ref = new Pipeline({ config, mode: 'replay', evidence: true, onBan: (b) => void refBans.push(b) });
  const seen = new Set<string>();
  const lines: string[] = [];

  const compareAgents = async (where: string, d: Daemon, e: RecordingEnforcer, m: Metrics | undefined, want: Pipeline, label: string): Promise<void> => {
    stats.checkpoints++;
    const now = clock.now();
    const book = inner(d).pipeline.book;
    // Out of order, a ban's expiry differs by the few seconds a line came late: one ending within 5 s
    // of now may be held on one side only.
    // (An address is left out on every side when it is near its end on either.)
    const near = new Set<string>();
    if (looseTimes) for (const b of [...want.book.active(), ...book.active()]) if (b.until !== null && Math.abs(b.until - now) <= looseMs) near.add(b.ip);
    const firm = (b: { ip: string }): boolean => !near.has(b.ip);
    const wantK = sorted(want.book.expected(now).filter(firm).map(kk));
    const inBook = sorted(book.expected(now).filter(firm).map(kk));
    const held = sorted([...e.held.values()].filter(firm).map((b) => kk(b as KernelBan)));
    if (!same(inBook, wantK)) problems.push(`${where}: ${label} book ${JSON.stringify(inBook)} != reference ${JSON.stringify(wantK)}`);
    if (!same(held, inBook)) problems.push(`${where}: ${label} firewall ${JSON.stringify(held)} != its book ${JSON.stringify(inBook)}`);
    if (m !== undefined) {
      const g = await gauge(m);
      const v4 = held.filter((h) => !h.split(' ')[0]!.includes(':')).length;
      if (!looseTimes && (g.v4 !== v4 || g.v6 !== held.length - v4)) problems.push(`${where}: ${label} gauge ${JSON.stringify(g)} != firewall v4 ${v4} v6 ${held.length - v4}`);
    }
    const st = d.status();
    const fromStatus = sorted(st.rules.flatMap((r) => (r.bans ?? []).map((b) => ({ ip: b.ip, rule: r.name, until: b.until === null ? null : Date.parse(b.until) })).filter(firm).map(bk)));
    const refActive = sorted(want.book.active(now).filter(firm).map(bk));
    if (!same(fromStatus, refActive)) problems.push(`${where}: ${label} status ${JSON.stringify(fromStatus)} != reference ${JSON.stringify(refActive)}`);
    for (const r of st.rules) {
      const n = want.book.active(now).filter((b) => b.rule === r.name).length;
      if (r.currentlyBanned !== n && !looseTimes) problems.push(`${where}: ${label} status ${r.name} currentlyBanned ${r.currentlyBanned} != ${n}`);
      const one = d.status(r.name).rules;
      if (one.length !== 1 || !same(one[0]!.bans, r.bans) || one[0]!.currentlyBanned !== r.currentlyBanned) problems.push(`${where}: ${label} status ${r.name} != its entry in status`);
    }
    for (const ip of seen) {
      const target = canonicalTarget(ip);
      if (target === null) continue;
      let w;
      try {
        w = d.why(target.ip);
      } catch (err) {
        problems.push(`${where}: ${label} why ${ip} threw ${(err as Error).message}`);
        continue;
      }
      const wa = sorted(w.active.map((b) => ({ ip: b.ip, rule: b.rule, until: b.until === null ? null : Date.parse(b.until) })).filter(firm).map(bk));
      const ra = sorted(want.book.about(target, now).active.filter(firm).map(bk));
      if (!same(wa, ra)) problems.push(`${where}: ${label} why ${ip} active ${JSON.stringify(wa)} != ${JSON.stringify(ra)}`);
      if (w.allowlisted !== want.isAllowlisted(target.ip) && !ip.includes('/')) problems.push(`${where}: ${label} why ${ip} allowlisted ${w.allowlisted} != ${want.isAllowlisted(target.ip)}`);
    }
  };

  for (const [i, op] of s.ops.entries()) {
    if (op.t > clock.now()) clock.advance(op.t - clock.now());
    await settle();
    const where = `seed ${s.seed} op ${i} (${op.kind} at +${(op.t - T0) / 1000}s)`;
    if (op.kind !== 'line') ref.book.expire(clock.now());
    if (op.kind === 'tick') {
      // (only time passes)
    } else if (op.kind === 'line') {
      const l = lineOf(op);
      lines.push(l);
      seen.add(op.ip);
      source!.onLine(l, '/var/log/access.log');
      const ev = ref.parse(l, '/var/log/access.log');
      if (ev !== null) ref.observe(ev, ev.time, undefined, undefined, l, '/var/log/access.log');
      await settle();
    } else if (op.kind === 'ban') {
      stats.manual++;
      let live: string;
      let mirror: string;
      try {
        const a = await daemon.ban(op.ip, { ...(op.rule ? { rule: op.rule } : {}), forMs: op.forMs });
        live = `ok ${a.ip} ${a.rule} ${a.until}`;
      } catch (e) {
        live = `error ${(e as Error).message}`;
      }
      try {
        const b = ref.banManually(op.ip, { rule: op.rule, forMs: op.forMs, now: clock.now() });
        mirror = `ok ${b.ip} ${b.rule} ${b.until}`;
        if (ref.book.holds(b)) refBans.push(b);
      } catch (e) {
        mirror = `error ${(e as Error).message}`;
      }
      if (live !== mirror) problems.push(`${where}: ban ${op.ip}: agent ${live} != reference ${mirror}`);
      seen.add(op.ip);
      await settle();
    } else if (op.kind === 'unbanAll') {
      const live = await daemon.unbanAll().then((n) => `lifted ${n}`, (e: Error) => `error ${e.message}`);
      const n = ref.unbanAll({ at: clock.now(), by: 'control-all' }).length;
      if (live !== `lifted ${n}`) problems.push(`${where}: unban --all: agent ${live} != reference lifted ${n}`);
      await settle();
    } else if (op.kind === 'unban') {
      let live: string;
      try {
        live = `lifted ${await daemon.unban(op.ip)}`;
      } catch (e) {
        live = `error ${(e as Error).message}`;
      }
      const n = ref.unban(op.ip, undefined, { at: clock.now(), by: 'control' }).length;
      if (live !== `lifted ${n}`) problems.push(`${where}: unban ${op.ip}: agent ${live} != reference lifted ${n}`);
      seen.add(op.ip);
      await settle();
    } else {
      stats.reloads++;
      config = configOf(op.knobs, dir);
      daemon.reload();
      ref.reconfigure(config, clock.now());
      await settle();
      // An agent started afresh on the new configuration from the reloaded one's state.
      const freshStore = new RestartStore();
      freshStore.doc = JSON.parse(JSON.stringify(inner(daemon).stateDoc())) as typeof freshStore.doc;
      const fe = new RecordingEnforcer();
      const fm = createMetrics();
      const fresh = new Daemon({ config, clock, logger: { debug() {}, error() {}, info() {}, warn() {} }, enforcer: fe, store: freshStore, createSource: (x) => new FakeSource(x.onLine), hostAddresses: [], metrics: fm });
      await fresh.start();
      await settle();
      await compareAgents(`${where} fresh`, fresh, fe, fm, ref, 'fresh agent');
      await fresh.stop();
    }
    await compareAgents(where, daemon, enforcer, metrics, ref, 'agent');
    if (problems.length > 0 && opts.stopAtFirst !== false) break;
  }
  await daemon.stop();
  stats.bans = refBans.length;
  stats.networks = refBans.filter((b) => b.ip.includes('/') && !b.manual).length;
  // The bans the agent logged against the reference's.
  const logged = infos.filter((x) => x.msg === 'ban').map((x) => `${x.obj.rule} ${x.obj.ip} until ${x.obj.until === 'permanent' || x.obj.until === null ? 'permanent' : iso(Date.parse(String(x.obj.until)))}`);
  const made = refBans.map((b) => bk(b));
  if (problems.length === 0 && !same(sorted(logged), sorted(made))) problems.push(`seed ${s.seed}: agent logged bans ${JSON.stringify(sorted(logged))} != reference ${JSON.stringify(sorted(made))}`);
  if (problems.length === 0 && opts.replayFile !== undefined && s.ops.every((o) => o.kind === 'line' || o.kind === 'tick')) {
    const f = join(dir, 'access.log');
    writeFileSync(f, `${lines.join('\n')}\n`);
    const rep = await opts.replayFile(f, config, ALL_RULES.filter((n) => !s.knobs.off.includes(n)));
    stats.replayed++;
    const got = rep.bans.map((b) => `${bk(b)} at ${iso(b.at)} f${b.failures}`);
    const want = refBans.map((b) => `${bk(b)} at ${iso(b.at)} f${b.failures}`);
    if (!same(got, want)) problems.push(`seed ${s.seed}: replay --all-rules ${JSON.stringify(got)} != reference ${JSON.stringify(want)}`);
  }
  return { problems, stats };
}
