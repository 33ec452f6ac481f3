/**
 * Helper H33, differential harness for the newest seams (ban cap and its per-container share and cut,
 * IPv6 network escalation and pressure, host-mode scopes, refused bans): one seeded scenario (a small
 * configuration, a log, manual bans and unbans, reloads and restarts) run through
 *
 * - the live agent: a real Daemon with a manual clock, a recording enforcer and an in-memory state
 *   store, each line emitted at its own time (so "now" is the line's time, as in replay);
 * - a reference: the same Pipeline in replay mode (log time, as `banhammer replay` builds it) fed the
 *   same events, with the same operations applied by hand (banManually, unban, reconfigure, and a
 *   restart as a new Pipeline restoring the old one's snapshot);
 *
 * and compared at every checkpoint: the enforcer's entries, the daemon's ban book, `status`, `why`
 * and the reference's book. A restart also checks that the book after restore equals the one saved.
 * Scenarios without operations also run the real `banhammer replay` (replayFile) on the lines.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import type { Ban, KernelBan } from '../../../src/decide/ban-book.js';
import { canonicalTarget } from '../../../src/parse/ip.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, RestartStore as Store } from '../../fakes/agent-io.js';
import { containerConfig } from '../docker/container-fixtures.js';
import { clf } from '../../support/clf.js';
import { rng } from '../../support/random.js';

export const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
export const PROBE = '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php';
export const plain = (ip: string, t: number, path: string, status: number): string => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl/8"`;
export const json = (l: string, t: number): string => JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: new Date(t).toISOString() });
export const settle = async (): Promise<void> => {
  for (let i = 0; i < 8; i++) await new Promise((r) => setImmediate(r));
};

export const IDS = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'].map((x) => x.repeat(32));
const NAMES = ['shop', 'blog', 'wiki', 'mail', 'shop2', 'blog2'];

const dirs: string[] = [];
export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
export function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bh-h33-'));
  dirs.push(d);
  return d;
}

/** The knobs of one scenario. */
export interface Knobs {
  cap: number;
  host: null | { containers: number; scope: 'container' | 'host' };
  after: number;
  prefix: number;
  within: string;
  maxretry: number;
  findtime: string;
  bantime: string;
  probeBantime: string;
  increment: boolean;
}

export function yamlOf(k: Knobs, root?: string): string {
  return [
    'rules:',
    `  forbidden: { maxretry: ${k.maxretry}, findtime: ${k.findtime}, bantime: ${k.bantime}${k.increment ? ', increment: { factor: 2, maxtime: 30m }' : ''} }`,
    `  exploit-probes: { bantime: ${k.probeBantime} }`,
    'ignoreip: ["198.18.9.0/24"]',
    `ipv6_network_ban: { after: ${k.after}, prefix: ${k.prefix}, within: ${k.within} }`,
    ...(root !== undefined && k.host !== null ? [`ban_scope: ${k.host.scope}`] : []),
    '',
  ].join('\n');
}

/** A config from knobs: the cap set past loadConfig's floor of 1000 (tests only: small caps make the cap's paths reachable). */
export function configOf(k: Knobs, dir: string, root?: string): Config {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yamlOf(k, root));
  const env: Record<string, string> = { BANHAMMER_CONFIG: file };
  if (root !== undefined) Object.assign(env, { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_DOCKER_CONTAINERS_DIR: root, BANHAMMER_INSTANCE: 'host' });
  else Object.assign(env, { BANHAMMER_ENFORCER: 'nftables' });
  return { ...loadConfig({ env, hostname: 'unit' }), maxBans: k.cap };
}

export function randomKnobs(r: () => number): Knobs {
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  // 1–4 containers, and now and then 5 or 6: a cut at the cap needs more containers holding bans than four (each holds a quarter at most).
  const host = r() < 0.5 ? null : { containers: r() < 0.3 ? 5 + Math.floor(r() * 2) : 1 + Math.floor(r() * 4), scope: r() < 0.75 ? ('container' as const) : ('host' as const) };
  return {
    cap: 4 + Math.floor(r() * 9),
    host,
    after: pick([0, 0, 2, 3]),
    prefix: pick([64, 64, 56, 48]),
    within: pick(['2m', '10m', '1h']),
    maxretry: pick([1, 2, 3]),
    findtime: pick(['20s', '1m']),
    bantime: pick(['30s', '2m', '5m']),
    probeBantime: pick(['1m', '4m', '10m']),
    increment: r() < 0.5,
  };
}

/** Client addresses: IPv4 of 198.18.0.0/15 (one allowlisted), IPv6 of three /64s in two /48s and one /56 of 2001:db8::/32. */
export function clientsOf(r: () => number): string[] {
  const out: string[] = ['198.18.9.5'];
  for (let i = 0; i < 6; i++) out.push(`198.${18 + Math.floor(r() * 2)}.${Math.floor(r() * 3)}.${1 + Math.floor(r() * 30)}`);
  const nets = ['2001:db8:1:1', '2001:db8:1:2', '2001:db8:2:100'];
  for (let i = 0; i < 10; i++) out.push(`${nets[Math.floor(r() * nets.length)]}::${(1 + Math.floor(r() * 12)).toString(16)}`);
  return [...new Set(out)];
}

export type Op =
  | { kind: 'line'; t: number; ip: string; path: string; status: number; c: number }
  | { kind: 'ban'; t: number; ip: string; rule?: string; forMs: number | null; c?: number }
  | { kind: 'unban'; t: number; ip: string; c?: number }
  | { kind: 'reload'; t: number; knobs: Knobs }
  | { kind: 'restart'; t: number };

export interface Scenario {
  seed: number;
  knobs: Knobs;
  ops: Op[];
}

export function randomScenario(seed: number, opts: { lines?: number; ops?: boolean; flood?: boolean } = {}): Scenario {
  const r = rng(seed);
  const knobs = randomKnobs(r);
  const clients = clientsOf(r);
  if (opts.flood === true) {
    // Host mode, bans per container, five or six containers: the first four flooded with probes from
    // many addresses (a tenant filling the book), the others attacked now and then (the cut's road).
    knobs.host = { containers: 5 + Math.floor(r() * 2), scope: 'container' };
    knobs.probeBantime = '10m';
    for (let i = 0; i < 24; i++) clients.push(`198.19.${10 + Math.floor(r() * 2)}.${1 + Math.floor(r() * 40)}`);
  }
  const nC = knobs.host?.containers ?? 1;
  const ops: Op[] = [];
  let t = T0;
  const n = opts.lines ?? 40 + Math.floor(r() * 60);
  for (let i = 0; i < n; i++) {
    t += 1000 * Math.floor(r() < 0.05 ? 60 + r() * 300 : r() * (opts.flood === true ? 3 : 8));
    const roll = r();
    if (opts.ops !== false && roll < 0.03) {
      const ip = r() < 0.2 ? (r() < 0.5 ? '2001:db8:1:2::/64' : '198.18.2.0/24') : clients[1 + Math.floor(r() * (clients.length - 1))]!;
      ops.push({ kind: 'ban', t, ip, ...(r() < 0.4 ? { rule: 'forbidden' } : {}), forMs: r() < 0.3 ? null : 1000 * (30 + Math.floor(r() * 300)), ...(knobs.host?.scope === 'container' && !ip.includes('/') && r() < 0.6 ? { c: Math.floor(r() * nC) } : {}) });
      continue;
    }
    if (opts.ops !== false && roll < 0.06) {
      ops.push({ kind: 'unban', t, ip: clients[1 + Math.floor(r() * (clients.length - 1))]!, ...(knobs.host?.scope === 'container' && r() < 0.5 ? { c: Math.floor(r() * nC) } : {}) });
      continue;
    }
    if (opts.ops !== false && roll < 0.075) {
      const k2 = randomKnobs(r);
      ops.push({ kind: 'reload', t, knobs: { ...k2, host: knobs.host } });
      continue;
    }
    if (opts.ops !== false && roll < 0.09) {
      ops.push({ kind: 'restart', t });
      continue;
    }
    const ip = clients[Math.floor(r() * clients.length)]!;
    const p = r();
    const [path, status] = p < (opts.flood === true ? 0.5 : 0.15) ? [PROBE, 404] : p < 0.75 ? ['/private', 403] : ['/ok', 200];
    const c = opts.flood === true ? (r() < 0.7 ? Math.floor(r() * 4) : 4 + Math.floor(r() * (nC - 4))) : Math.floor(r() * nC);
    ops.push({ kind: 'line', t, ip, path, status, c });
  }
  return { seed, knobs, ops };
}


/** A ban as compared: address, rule, container, until (and at, failures for the bans made). */
const bk = (b: { ip: string; rule: string; scope?: string | undefined; until: number | null }): string => `${b.rule} ${b.ip}${b.scope ? ` @${b.scope.slice(0, 2)}` : ''} until ${b.until === null ? 'permanent' : new Date(b.until).toISOString()}`;
const kk = (b: KernelBan): string => `${b.ip}${b.scope ? ` @${b.scope.slice(0, 2)}` : ''} ${b.until === null ? 'permanent' : new Date(b.until).toISOString()}`;
const sorted = (a: string[]): string[] => [...a].sort();

export interface Outcome {
  /** Disagreements found (empty: every road agreed at every checkpoint). */
  problems: string[];
  /** Bans made, as the reference recorded them (cut ones marked). */
  refBans: string[];
  /** Counts for the report. */
  stats: { checkpoints: number; cuts: number; refused: number; networks: number; restarts: number; reloads: number; replayed: number };
}

/**
 * Runs one scenario through the live daemon and the reference and compares them. `noReplayFile`:
 * skip the real replayFile run (it needs a log without operations).
 */
export async function runScenario(s: Scenario, opts: { replayFile?: (file: string, config: Config) => Promise<{ bans: readonly { ip: string; rule: string; at: number; until: number | null; failures: number; cut?: true; container?: string }[] }> } = {}): Promise<Outcome> {
  const k = s.knobs;
  const dir = tmp();
  let root: string | undefined;
  if (k.host !== null) {
    root = join(dir, 'containers');
    for (let i = 0; i < k.host.containers; i++) {
      mkdirSync(join(root, IDS[i]!), { recursive: true });
      writeFileSync(join(root, IDS[i]!, 'config.v2.json'), containerConfig(IDS[i]!, NAMES[i]!, { bridge: { v4: `198.19.151.${i + 2}` } }));
    }
  }
  let config = configOf(k, dir, root);
  const scoped = k.host !== null && k.host.scope === 'container';
  const cidr = k.host === null;
  const problems: string[] = [];
  const stats = { checkpoints: 0, cuts: 0, refused: 0, networks: 0, restarts: 0, reloads: 0, replayed: 0 };
  const clock = new ManualClock(T0 - 1000);
  const store = new Store();
  const infos: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger = { debug() {}, error() {}, info: (obj: object, msg?: string) => void infos.push({ obj: obj as Record<string, unknown>, msg: msg ?? '' }), warn() {} };
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (x) => (source = new FakeSource(x.onLine));
  let enforcer = new RecordingEnforcer();
  enforcer.cidr = cidr;
  const mkDaemon = () => new Daemon({ config, clock, logger, enforcer, store, createSource, hostAddresses: [], reloadConfig: () => config });
  let daemon = mkDaemon();
  await daemon.start();

  // The reference: replay's pipeline, fed the same events, the same operations by hand.
  const refBans: string[] = [];
  const refIndex = new Map<string, number>();
  const refKey = (b: Ban) => `${b.rule} ${b.ip} ${b.scope ?? ''}`;
  const mkRef = () =>
    new Pipeline({
      config,
      mode: 'replay',
      networkBans: cidr && !scoped,
      evidence: true,
      onBan: (b) => {
        refIndex.set(refKey(b), refBans.length);
        refBans.push(`${bk(b)} at ${new Date(b.at).toISOString()} f${b.failures}`);
        if (b.ip.includes('/') && !b.manual) stats.networks++;
      },
      onCut: (cut, at) => {
        for (const b of cut) {
          stats.cuts++;
          const i = refIndex.get(refKey(b));
          if (i !== undefined) refBans[i] = `${refBans[i]} cut ${new Date(at).toISOString()}`;
        }
      },
    });
  let ref = mkRef();
  const nameOf = (scope: string): string | undefined => NAMES[IDS.indexOf(scope)];
  const scopeOfC = (c: number | undefined): string | undefined => (c === undefined || !scoped ? undefined : IDS[c]);
  const file = (c: number): string => (root === undefined ? '/var/log/access.log' : join(root, IDS[c]!, `${IDS[c]!}-json.log`));
  const lines: string[] = [];
  const seen = new Set<string>();
  /** A reload lowered the cap since the last start. */
  let lowered = false;

  const check = (where: string): void => {
    stats.checkpoints++;
    const now = clock.now();
    const book = (daemon as unknown as { pipeline: Pipeline }).pipeline.book;
    const want = sorted(ref.book.expected(now).map(kk));
    const inBook = sorted(book.expected(now).map(kk));
    const held = sorted([...enforcer.held.values()].map((b) => kk(b as KernelBan)));
    if (JSON.stringify(inBook) !== JSON.stringify(want)) problems.push(`${where}: daemon book ${JSON.stringify(inBook)} != replay pipeline ${JSON.stringify(want)}`);
    if (JSON.stringify(held) !== JSON.stringify(inBook)) problems.push(`${where}: enforcer ${JSON.stringify(held)} != daemon book ${JSON.stringify(inBook)}`);
    const refActive = sorted(ref.book.active(now).map(bk));
    const st = daemon.status();
    const fromStatus = sorted(st.rules.flatMap((r) => (r.bans ?? []).map((b) => bk({ ip: b.ip, rule: r.name, scope: b.containerId ?? undefined, until: b.until === null ? null : Date.parse(b.until) }))));
    if (JSON.stringify(fromStatus) !== JSON.stringify(refActive)) problems.push(`${where}: status ${JSON.stringify(fromStatus)} != replay pipeline ${JSON.stringify(refActive)}`);
    for (const r of st.rules) {
      const n = ref.book.active(now).filter((b) => b.rule === r.name).length;
      if (r.currentlyBanned !== n) problems.push(`${where}: status ${r.name} currentlyBanned ${r.currentlyBanned} != ${n}`);
      // `status RULE` says what `status` says of it.
      const one = daemon.status(r.name).rules;
      if (one.length !== 1 || JSON.stringify(one[0]!.bans) !== JSON.stringify(r.bans) || one[0]!.currentlyBanned !== r.currentlyBanned) problems.push(`${where}: status ${r.name} != its entry in status`);
    }
    // Refusals at the cap and cuts, counted alike (both count from the last start).
    if (book.refusedAtCap !== ref.book.refusedAtCap) problems.push(`${where}: agent refused ${book.refusedAtCap} at the cap, replay pipeline ${ref.book.refusedAtCap}`);
    if (book.cutForShareTotal !== ref.book.cutForShareTotal) problems.push(`${where}: agent cut ${book.cutForShareTotal}, replay pipeline ${ref.book.cutForShareTotal}`);
    for (const ip of seen) {
      const target = canonicalTarget(ip)!;
      const w = daemon.why(ip);
      const wa = sorted(w.active.map((b) => bk({ ip: b.ip, rule: b.rule, scope: b.containerId ?? undefined, until: b.until === null ? null : Date.parse(b.until) })));
      const ra = sorted(ref.book.about(target, now).active.map(bk));
      if (JSON.stringify(wa) !== JSON.stringify(ra)) problems.push(`${where}: why ${ip} active ${JSON.stringify(wa)} != ${JSON.stringify(ra)}`);
      // Ended bans other than expired ones (replay's book sweeps ended bans lazily; the agent every second).
      const endedOf = (e: { ip: string; rule: string; containerId?: string | null; scope?: string; until: string | number | null; ended: { reason: string; by?: string | null } | null }) =>
        `${e.rule} ${e.ip}${(e.containerId ?? e.scope) ? ` @${(e.containerId ?? e.scope)!.slice(0, 2)}` : ''} ${e.ended!.reason} ${(e.ended!.by ?? '').replace(/^cap: container \S+ held/, 'cap: container * held')}`;
      const we = sorted(w.ended.filter((e) => e.ended!.reason !== 'expired').map((e) => endedOf(e)));
      const re = sorted(ref.book.about(target, now).ended.filter((e) => e.ended.reason !== 'expired').map((e) => endedOf({ ...e, until: e.until, ended: e.ended })));
      if (JSON.stringify(we) !== JSON.stringify(re)) problems.push(`${where}: why ${ip} ended ${JSON.stringify(we)} != ${JSON.stringify(re)}`);
    }
  };

  for (const [i, op] of s.ops.entries()) {
    if (op.t > clock.now()) clock.advance(op.t - clock.now());
    await settle();
    const where = `seed ${s.seed} op ${i} (${op.kind} at +${(op.t - T0) / 1000}s)`;
    // An operation meets the agent's book swept by its tick: replay's, swept lazily, is swept here too
    // (an unban of a ban that ended would be one more "unbanned" in why's history).
    if (op.kind !== 'line') ref.book.expire(op.t);
    if (op.kind === 'line') {
      const l = plain(op.ip, op.t, op.path, op.status);
      const text = root === undefined ? l : json(l, op.t);
      lines.push(l);
      seen.add(op.ip);
      source!.onLine(text, file(op.c));
      const ev = ref.parse(text, file(op.c));
      if (ev !== null) ref.observe(ev, ev.time, scoped ? [IDS[op.c]] : undefined, nameOf, ev.joined ?? text, file(op.c));
      await settle();
    } else if (op.kind === 'ban') {
      const scope = scopeOfC(op.c);
      const container = scope === undefined ? undefined : NAMES[op.c!];
      let live: string;
      let mirror: string;
      try {
        const a = await daemon.ban(op.ip, { ...(op.rule ? { rule: op.rule } : {}), forMs: op.forMs, ...(container ? { container } : {}) });
        live = `ok ${a.ip} ${a.rule} ${a.until}`;
      } catch (e) {
        live = `error ${(e as Error).message}`;
      }
      try {
        // The agent refuses a network up front when its enforcer holds none (docker-user).
        if (!cidr && op.ip.includes('/')) throw new Error(`the recording enforcer cannot ban a network (${op.ip})`);
        const b = ref.banManually(op.ip, { rule: op.rule, forMs: op.forMs, now: op.t, ...(scope ? { scope, scopeName: container } : {}) });
        mirror = `ok ${b.ip} ${b.rule} ${b.until}`;
        refBans.push(`${bk(b)} at ${new Date(b.at).toISOString()} f${b.failures}`);
      } catch (e) {
        mirror = `error ${(e as Error).message}`;
      }
      // A container that holds no ban and has no log yet is still a container of the host: --container finds it.
      if (live !== mirror) problems.push(`${where}: ban ${op.ip}${container ? ` --container ${container}` : ''}: agent ${live} != reference ${mirror}`);
      seen.add(op.ip);
      await settle();
    } else if (op.kind === 'unban') {
      const scope = scopeOfC(op.c);
      let live: string;
      try {
        live = `lifted ${await daemon.unban(op.ip, scope ? { container: NAMES[op.c!]! } : {})}`;
      } catch (e) {
        live = `error ${(e as Error).message}`;
      }
      const n = ref.unban(op.ip, scope, { at: op.t, by: 'control' }).length;
      if (live !== `lifted ${n}`) problems.push(`${where}: unban ${op.ip}: agent ${live} != reference lifted ${n}`);
      await settle();
    } else if (op.kind === 'reload') {
      stats.reloads++;
      if (op.knobs.cap < config.maxBans) lowered = true;
      config = configOf(op.knobs, dir, root);
      daemon.reload();
      ref.reconfigure(config, op.t);
      await settle();
    } else {
      stats.restarts++;
      const held = (daemon as unknown as { pipeline: Pipeline }).pipeline.book.active(clock.now());
      const before = sorted(held.map(bk));
      // A book over its cap (a reload lowered it) comes back up to the cap only (README: the ban cap,
      // "Never refused"): then the reference's restore, compared at the checkpoint, is the judge.
      const perScope = new Map<string, number>();
      for (const b of held) if (b.scope !== undefined && !b.manual) perScope.set(b.scope, (perScope.get(b.scope) ?? 0) + 1);
      // After a reload that lowered the cap, what "up to the cap" means for the manual bans held is the
      // restore's to say (the reference's restore is compared at the checkpoint below).
      const fits = !lowered && held.filter((b) => !b.manual).length <= config.maxBans && [...perScope.values()].every((n) => n <= Math.max(1, Math.floor(config.maxBans / 4)));
      lowered = false;
      await daemon.stop({ removeFirewall: false });
      enforcer = new RecordingEnforcer();
      enforcer.cidr = cidr;
      daemon = mkDaemon();
      await daemon.start();
      await settle();
      const after = sorted(((daemon as unknown as { pipeline: Pipeline }).pipeline.book.active(clock.now())).map(bk));
      if (fits && JSON.stringify(after) !== JSON.stringify(before)) problems.push(`${where}: after restore ${JSON.stringify(after)} != before restart ${JSON.stringify(before)}`);
      const snap = JSON.parse(JSON.stringify(ref.book.snapshot()));
      ref = mkRef();
      ref.book.restore(snap, op.t, { networks: cidr, scopes: k.host !== null });
      // As the agent restores (with patch h33-3, Pipeline.restored: escalation's count comes back too).
      (ref as unknown as { restored?: (now: number) => void }).restored?.(op.t);
    }
    check(where);
    if (problems.length > 0) break;
  }
  stats.refused = (daemon as unknown as { pipeline: Pipeline }).pipeline.book.refusedAtCap;
  await daemon.stop();

  if (problems.length === 0 && opts.replayFile !== undefined && s.ops.every((o) => o.kind === 'line')) {
    // Host mode: one container's json-file log, where the agent reads it (replay's scopes are per file:
    // with several containers the cap is shared between files, which one replay cannot see).
    const f = root === undefined ? join(dir, 'access.log') : join(root, IDS[0]!, `${IDS[0]!}-json.log`);
    writeFileSync(f, lines.map((l, i) => (root === undefined ? l : json(l, (s.ops[i] as { t: number }).t))).join('\n') + '\n');
    if (root === undefined || k.host!.containers === 1) {
      const rep = await opts.replayFile(f, config);
      stats.replayed++;
      const got = rep.bans.map((b) => `${bk({ ...b, scope: b.container === undefined ? undefined : IDS[NAMES.indexOf(b.container)] })} at ${new Date(b.at).toISOString()} f${b.failures}${b.cut ? ` cut ${new Date(b.until!).toISOString()}` : ''}`);
      // The reference writes a cut ban's full until before " cut": rebuild replay's entry the same way.
      const want = refBans.map((x) => x.replace(/until (\S+) (at \S+ f\d+) cut (\S+)$/, 'until $3 $2 cut $3'));
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`seed ${s.seed}: replayFile ${JSON.stringify(got)} != reference ${JSON.stringify(want)}`);
    }
  }
  // The bans the agent logged (and its cuts, unbans with reason cap) against the reference's.
  const logged = infos.filter((x) => x.msg === 'ban').map((x) => `${x.obj.rule} ${x.obj.ip}${x.obj.containerId ? ` @${String(x.obj.containerId).slice(0, 2)}` : ''} until ${x.obj.until}`);
  const refMade = refBans.map((x) => x.replace(/ at \S+ f\d+( cut \S+)?$/, '').replace('until permanent', 'until permanent'));
  if (problems.length === 0 && JSON.stringify(sorted(logged)) !== JSON.stringify(sorted(refMade))) problems.push(`seed ${s.seed}: agent logged bans ${JSON.stringify(sorted(logged))} != reference ${JSON.stringify(sorted(refMade))}`);
  const cutLogged = infos.filter((x) => x.msg === 'unban' && x.obj.reason === 'cap').length;
  if (problems.length === 0 && cutLogged !== stats.cuts) problems.push(`seed ${s.seed}: agent logged ${cutLogged} cuts, reference made ${stats.cuts}`);
  return { problems, refBans, stats };
}
