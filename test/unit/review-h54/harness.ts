/**
 * Helper H54: a seeded differential of "what is banned" across the roads one log can take, aimed at
 * what the earlier differentials (seams-*, review-h48) leave out: clients read from X-Forwarded-For
 * past trusted proxies of both families (first-field lists, nginx main's trailing field, bracketed
 * IPv6 with ports, proxies written in their ::ffff: form), allowlist entries in mapped spellings,
 * bursts exactly a findtime apart, lines read late, a small max_tracked and a small ban cap.
 *
 * The roads:
 * - the live agent: a real Daemon (manual clock at the newest line's time, recording enforcer,
 *   in-memory state store), fed line by line;
 * - the same with a reload (identical configuration, or one that changes only bantime and
 *   description) at a chosen line, or stopped and started again from its state file there;
 * - a reference: the pipeline in live mode fed the same events at the same clock, reconfigured (or
 *   snapshotted and restored into a new one) at the same line;
 * - `banhammer replay` (replayFile): one thread, --explain, and (built code) 2 and 3 threads.
 *
 * Compared: every ban made (address, rule, scope, start, end, failures), and at the end what the
 * book holds, what the enforcer holds, `status`, `status RULE` and `why`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  const d = mkdtempSync(join(tmpdir(), 'bh-h54-'));
  dirs.push(d);
  return d;
}

export interface Knobs {
  maxretry: number;
  findtime: number; // s
  bantime: number; // s
  increment: boolean;
  probeBantime: number; // s
  walkerMax: number;
  after: number;
  ignore: string[];
  proxies: string[];
  maxTracked: number;
  maxBans: number;
  description: string;
}

/** Trusted proxies a scenario may name: an IPv4 address, an IPv6 /64, an IPv4 /24 in its mapped IPv6 spelling. */
export const PROXY_CHOICES = ['198.18.200.1', '2001:db8:ff:ff::/64', '::ffff:198.18.201.0/120'];
/** Proxies the lines go through (the last one is trusted by no choice). */
const PROXIES = ['198.18.200.1', '2001:db8:ff:ff::1', '198.18.201.5', '::ffff:198.18.201.6', '198.18.202.1'];
export const IGNORE_CHOICES = ['198.18.3.0/24', '::ffff:198.18.2.7', '2001:db8:2:2::/64', '::FFFF:198.18.1.0/120'];

export function randomKnobs(r: () => number): Knobs {
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  return {
    maxretry: pick([1, 2, 3, 4]),
    findtime: pick([10, 20, 30]),
    bantime: pick([15, 40, 90]),
    increment: r() < 0.5,
    probeBantime: pick([20, 60]),
    walkerMax: pick([2, 3]),
    after: pick([0, 2, 3]),
    ignore: IGNORE_CHOICES.filter(() => r() < 0.35),
    proxies: PROXY_CHOICES.filter(() => r() < 0.7),
    maxTracked: pick([3, 5, 100_000]),
    maxBans: pick([4, 7, 100_000]),
    description: 'h54',
  };
}

export const RULES = ['forbidden', 'exploit-probes', 'walker'];

export function yamlOf(k: Knobs): string {
  return [
    'rules:',
    `  forbidden: { description: ${JSON.stringify(k.description)}, maxretry: ${k.maxretry}, findtime: ${k.findtime}s, bantime: ${k.bantime}s${k.increment ? ', increment: { factor: 2, maxtime: 10m }' : ''} }`,
    `  exploit-probes: { bantime: ${k.probeBantime}s }`,
    `  walker: { match: { status: [404], paths: ['^/w/'] }, count: distinct-paths, maxretry: ${k.walkerMax}, findtime: 1m, bantime: 75s }`,
    `ignoreip: ${JSON.stringify(k.ignore)}`,
    `trusted_proxies: ${JSON.stringify(k.proxies)}`,
    `max_tracked: ${k.maxTracked}`,
    `ipv6_network_ban: { after: ${k.after}, prefix: 64, within: 10m }`,
    '',
  ].join('\n');
}

/** A config of knobs; the cap is set below loadConfig's floor (tests only: a small cap makes its paths reachable). */
export function configOf(k: Knobs, dir: string): Config {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yamlOf(k));
  const c = loadConfig({ env: { BANHAMMER_CONFIG: file, BANHAMMER_ENFORCER: 'nftables', BANHAMMER_RULES: RULES.join(',') }, hostname: 'unit' });
  return { ...c, maxBans: k.maxBans };
}

/** One address as a log may write it. */
function spell(ip: string, r: () => number): string {
  const x = r();
  if (!ip.includes(':')) return x < 0.6 ? ip : x < 0.8 ? `::ffff:${ip}` : `::FFFF:${ip}`;
  if (x < 0.5) return ip;
  if (x < 0.75) return ip.toUpperCase();
  return ip
    .split(':')
    .map((g) => (g === '' ? '' : g.padStart(4, '0')))
    .join(':');
}

/** An entry of an X-Forwarded-For list: the address, with a port, IPv6 bracketed. */
function entry(ip: string, r: () => number): string {
  const s = spell(ip, r);
  if (r() < 0.7) return s;
  return s.includes(':') ? `[${s}]:${1024 + Math.floor(r() * 5000)}` : `${s}:${1024 + Math.floor(r() * 5000)}`;
}

const CLIENTS = [
  '198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.1.4', '198.18.1.5', '198.18.2.7', '198.18.3.8', '198.19.4.9',
  '2001:db8:1:1::a', '2001:db8:1:1::b', '2001:db8:1:1::c', '2001:db8:1:1::d', '2001:db8:1:2::1', '2001:db8:2:2::5',
];

const REQUESTS: readonly { path: string; status: number }[] = [
  { path: '/private', status: 403 },
  { path: '/private', status: 403 },
  { path: '/private', status: 403 },
  { path: '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php', status: 404 },
  { path: '/ok', status: 200 },
  { path: '/ok', status: 200 },
];

export interface LogLine {
  /** The line's own time. */
  t: number;
  /** The agent's clock when the line is read (the newest time so far: a late line is read then). */
  readAt: number;
  text: string;
  /** A record after the first of a Docker line split over several (a restart never falls before one: see liveRoads). */
  inside?: true;
}

export interface Scenario {
  seed: number;
  knobs: Knobs;
  lines: LogLine[];
}

/** Docker json-file splits a line longer than this into records. */
const DOCKER_PIECE = 16 * 1024;

/**
 * `lateMs`: now and then a line stamped up to that much before the newest one. `docker`: the lines
 * as Docker json-file records, now and then a line padded past 16 KiB (split over two or three
 * records, as Docker writes it) and a stderr record between two pieces.
 */
export function randomScenario(seed: number, opts: { lines?: number; lateMs?: number; docker?: boolean; syslog?: boolean } = {}): Scenario {
  const r = rng(seed);
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const knobs = randomKnobs(r);
  const out: LogLine[] = [];
  let maxT = T0;
  const n = opts.lines ?? 80 + Math.floor(r() * 80);
  for (let i = 0; i < n; i++) {
    const step = r();
    // exactly a findtime (the window's edge), a bantime, the same second, a few seconds, a long gap
    maxT += step < 0.12 ? knobs.findtime * 1000 : step < 0.2 ? knobs.bantime * 1000 : step < 0.35 ? 0 : step < 0.95 ? 1000 * Math.floor(r() * 4) : 1000 * (60 + Math.floor(r() * 300));
    const late = opts.lateMs !== undefined && r() < 0.15 ? 1000 * (1 + Math.floor(r() * (opts.lateMs / 1000))) : 0;
    const t = Math.max(T0, maxT - late);
    const client = pick(CLIENTS);
    const walk = r() < 0.15;
    const req = walk ? { path: `/w/${Math.floor(r() * 4)}`, status: 404 } : pick(REQUESTS);
    const tail = `[${clf(t)}] "GET ${req.path} HTTP/1.1" ${req.status} 10 "-" "curl/8"`;
    const form = r();
    let text: string;
    if (form < 0.45) text = `${spell(client, r)} - - ${tail}`;
    else if (form < 0.7) {
      // Apache's %{X-Forwarded-For}i or nginx's $proxy_add_x_forwarded_for first: what the client wrote, then each proxy.
      const hops = [entry(client, r), entry(pick(PROXIES), r)];
      if (r() < 0.3) hops.unshift(entry(pick(CLIENTS), r));
      text = `${hops.join(r() < 0.5 ? ', ' : ',')} - - ${tail}`;
    } else {
      // nginx main: the peer first, "$http_x_forwarded_for" last.
      const xff = [entry(client, r)];
      if (r() < 0.3) xff.unshift(entry(pick(CLIENTS), r));
      if (r() < 0.2) xff.push(entry(pick(PROXIES), r));
      text = `${spell(pick(PROXIES), r)} - - ${tail} "${xff.join(', ')}"`;
    }
    if (opts.syslog === true) {
      // Docker's syslog driver: one message per 16 KiB piece, nothing marking a piece; now and then
      // a line whose user field (nginx escapes a byte as \xHH) is padded past the cut, its rest naming
      // another client, or another tag's message between two pieces.
      const d = new Date(t);
      const hdr = (tag: string): string => `<30>${d.toUTCString().slice(8, 11)} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)} ${tag}[7]: `;
      if (r() < 0.2) {
        const start = `${spell(client, r)} - `;
        const head = (start + '\\xFF'.repeat(Math.ceil((DOCKER_PIECE - start.length) / 4))).slice(0, DOCKER_PIECE);
        const full = `${head}${spell(pick(CLIENTS), r)} - - ${tail}`;
        out.push({ t, readAt: maxT, text: hdr('web') + full.slice(0, DOCKER_PIECE) });
        if (r() < 0.3) out.push({ t, readAt: maxT, text: `${hdr('db')}${spell(pick(CLIENTS), r)} - - ${tail}`, inside: true });
        out.push({ t, readAt: maxT, text: hdr('web') + full.slice(DOCKER_PIECE), inside: true });
      } else out.push({ t, readAt: maxT, text: hdr(r() < 0.8 ? 'web' : 'db') + text });
      continue;
    }
    if (opts.docker !== true) {
      out.push({ t, readAt: maxT, text });
      continue;
    }
    const time = new Date(t).toISOString();
    const rec = (log: string, stream = 'stdout'): string => JSON.stringify({ log, stream, time });
    if (r() < 0.25) {
      // Padded in the User-Agent (or the query) past one or two records' length.
      const pad = 'p'.repeat(DOCKER_PIECE + Math.floor(r() * DOCKER_PIECE * 1.5));
      const long = r() < 0.5 ? text.replace('"curl/8"', `"curl/8 ${pad}"`) : text.replace(req.path, `${req.path}?${pad}`);
      const full = `${long}\n`;
      for (let at = 0, k = 0; at < full.length; at += DOCKER_PIECE, k++) {
        if (k > 0 && r() < 0.3) out.push({ t, readAt: maxT, text: rec(`error ${k}\n`, 'stderr'), inside: true });
        out.push({ t, readAt: maxT, text: rec(full.slice(at, at + DOCKER_PIECE)), ...(k > 0 ? { inside: true as const } : {}) });
      }
    } else out.push({ t, readAt: maxT, text: rec(`${text}\n`) });
  }
  return { seed, knobs, lines: out };
}

/** A ban as compared: rule, address, scope, start, end, failures. */
export const banKey = (b: { ip: string; rule: string; scope?: string | undefined; at: number; until: number | null; failures: number }): string =>
  `${b.rule} ${b.ip}${b.scope ? ` @${b.scope}` : ''} at ${new Date(b.at).toISOString()} until ${b.until === null ? 'permanent' : new Date(b.until).toISOString()} f${b.failures}`;
const held = (b: { ip: string; until: number | null }): string => `${b.ip} ${b.until === null ? 'permanent' : new Date(b.until).toISOString()}`;
const sorted = (a: string[]): string[] => [...a].sort();
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

type Internals = { pipeline: Pipeline; stateDoc: () => DaemonState };
const inner = (d: Daemon): Internals => d as unknown as Internals;

/** What happens at line `at` of the log on the interrupted road. */
export type Interruption = { kind: 'none' } | { kind: 'reload'; at: number; knobs: Knobs } | { kind: 'restart'; at: number };

export interface RoadResult {
  /** Every ban made, in order. */
  bans: string[];
  /** Lines read as access events (a reload or restart must lose none). */
  parsed: number;
  /** At the end: what the book, the enforcer, status and why show (each sorted), and their disagreements. */
  end: { book: string[]; problems: string[] };
}

/**
 * The live agent over the scenario, interrupted as asked. The bans made are taken from the book's
 * onBan through the pipeline (the daemon logs each one as "ban"; the start comes from the book).
 */
export async function liveAgent(s: Scenario, stop: Interruption, file = '/var/log/access.log'): Promise<RoadResult> {
  const dir = tmp();
  let config = configOf(s.knobs, dir);
  const clock = new ManualClock(T0 - 1000);
  const store = new RestartStore();
  const bans: string[] = [];
  const logger = { debug() {}, error() {}, info() {}, warn() {} };
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (x) => (source = new FakeSource(x.onLine));
  let enforcer = new RecordingEnforcer();
  const mk = (): Daemon => new Daemon({ config, clock, logger, enforcer, store, createSource, hostAddresses: [], reloadConfig: () => config });
  let daemon = mk();
  await daemon.start();
  let parsed = 0;
  const watch = (d: Daemon): void => {
    // Each ban the book records, as it records it (the agent's own log line carries no start).
    const book = inner(d).pipeline.book;
    const consider = book.consider.bind(book);
    book.consider = ((...args: Parameters<typeof book.consider>) => {
      const b = consider(...args);
      if (b) bans.push(banKey(b));
      return b;
    }) as typeof book.consider;
    const escalate = book.escalate.bind(book);
    book.escalate = ((...args: Parameters<typeof book.escalate>) => {
      const b = escalate(...args);
      if (b) bans.push(banKey(b));
      return b;
    }) as typeof book.escalate;
  };
  watch(daemon);
  for (const [i, l] of s.lines.entries()) {
    if (stop.kind !== 'none' && stop.at === i) {
      if (stop.kind === 'reload') {
        config = configOf(stop.knobs, dir);
        daemon.reload();
        await settle();
      } else {
        parsed += inner(daemon).pipeline.stats.parsed;
        await daemon.stop({ removeFirewall: false });
        enforcer = new RecordingEnforcer();
        daemon = mk();
        await daemon.start();
        await settle();
        watch(daemon);
      }
    }
    if (l.readAt > clock.now()) clock.advance(l.readAt - clock.now());
    await settle(); // (the periodic tasks due run: the tick lifts the bans ended by now)
    source!.onLine(l.text, file);
    await settle();
  }
  const end = await endView(daemon, enforcer, clock.now(), s);
  parsed += inner(daemon).pipeline.stats.parsed;
  await daemon.stop();
  return { bans, parsed, end };
}

/** What every view of the agent's ban state shows at `now`, and where two views disagree. */
async function endView(d: Daemon, e: RecordingEnforcer, now: number, s: Scenario): Promise<RoadResult['end']> {
  await settle();
  const problems: string[] = [];
  const book = inner(d).pipeline.book;
  const inBook = sorted(book.expected(now).map((b: KernelBan) => held(b)));
  const inFirewall = sorted([...e.held.values()].map((b) => held(b as KernelBan)));
  if (!same(inBook, inFirewall)) problems.push(`firewall ${JSON.stringify(inFirewall)} != book ${JSON.stringify(inBook)}`);
  const active = sorted(book.active(now).map((b) => `${b.rule} ${b.ip} ${b.until}`));
  const st = d.status();
  const fromStatus = sorted(st.rules.flatMap((r) => (r.bans ?? []).map((b) => `${r.name} ${b.ip} ${b.until === null ? null : Date.parse(b.until)}`)));
  if (!same(fromStatus, active)) problems.push(`status ${JSON.stringify(fromStatus)} != book ${JSON.stringify(active)}`);
  for (const r of st.rules) {
    const one = d.status(r.name).rules;
    if (one.length !== 1 || !same(one[0]!.bans, r.bans) || one[0]!.currentlyBanned !== r.currentlyBanned) problems.push(`status ${r.name} != its entry in status`);
    const n = book.active(now).filter((b) => b.rule === r.name).length;
    if (r.currentlyBanned !== n) problems.push(`status ${r.name} currentlyBanned ${r.currentlyBanned} != book ${n}`);
  }
  const addresses = new Set<string>();
  for (const c of CLIENTS) addresses.add(c);
  for (const b of book.active(now)) addresses.add(b.ip);
  for (const ip of addresses) {
    const target = canonicalTarget(ip);
    if (target === null) continue;
    const w = d.why(target.ip);
    const wa = sorted(w.active.map((b) => `${b.rule} ${b.ip} ${b.until === null ? null : Date.parse(b.until)}`));
    const ra = sorted(book.about(target, now).active.map((b) => `${b.rule} ${b.ip} ${b.until}`));
    if (!same(wa, ra)) problems.push(`why ${ip} ${JSON.stringify(wa)} != book ${JSON.stringify(ra)}`);
  }
  void s;
  return { book: active, problems };
}

/**
 * The reference: the pipeline in live mode (the agent's own), fed the same events at the same clock;
 * a reload is reconfigure(), a restart a new pipeline restoring the old one's snapshot.
 */
export function referencePipeline(s: Scenario, stop: Interruption, file = '/var/log/access.log'): RoadResult {
  const dir = tmp();
  let config = configOf(s.knobs, dir);
  const bans: string[] = [];
  const mk = (): Pipeline => new Pipeline({ config, mode: 'live', onBan: (b: Ban) => void bans.push(banKey(b)) });
  let p = mk();
  let now = T0 - 1000;
  for (const [i, l] of s.lines.entries()) {
    if (stop.kind !== 'none' && stop.at === i) {
      if (stop.kind === 'reload') {
        config = configOf(stop.knobs, dir);
        p.reconfigure(config, now, []);
      } else {
        const snap = JSON.parse(JSON.stringify(p.book.snapshot()));
        p = mk();
        p.book.restore(snap, now, { networks: true });
        p.restored(now);
      }
    }
    now = Math.max(now, l.readAt);
    p.book.expire(now);
    const ev = p.parse(l.text, file);
    if (ev !== null) p.observe(ev, now, undefined, undefined, l.text, file);
  }
  p.book.expire(now);
  return { bans, parsed: p.stats.parsed, end: { book: sorted(p.book.active(now).map((b) => `${b.rule} ${b.ip} ${b.until}`)), problems: [] } };
}

/** The scenario's log written to a file, for replay. */
export function writeLog(s: Scenario): string {
  const f = join(tmp(), 'access.log');
  writeFileSync(f, `${s.lines.map((l) => l.text).join('\n')}\n`);
  return f;
}
