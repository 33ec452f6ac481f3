/**
 * The live agent: the one place where the stages are wired together.
 *
 *   LineSource ──line──▶ parse ──event──▶ Detector ──offense──▶ BanBook ──ban──▶ Enforcer
 *
 * Contract:
 * - start(): the enforcer is initialised (idempotently), saved state is restored (unexpired bans go
 *   back into the kernel before any new line is read), then the log files are followed from their
 *   saved read positions.
 * - A new ban is queued and applied in the next batch (one batch per turn of the event loop, so a ban
 *   storm costs one `ipset restore`, not one process per address). A ban is *reported* (logged,
 *   counted, shown by status) only after the enforcer holds it and the state file recording it is
 *   durable: kill -9 at any moment loses no ban that was reported.
 * - Every second, expired bans are removed (the kernel's own timeouts already dropped them; other
 *   enforcers need the explicit unban); every `checkIntervalMs`, enforcer.check() repairs what
 *   someone flushed and, when a set had to be re-created, all active bans are applied again.
 * - stop(): stops reading, saves state, and has the enforcer remove what it created.
 * The daemon never throws on a log line: parse skips are counted, and enforcement errors are logged
 * and retried on the next batch.
 *
 * Host mode (enforcer docker-user, BANHAMMER_BAN_SCOPE=container): every line belongs to a scope,
 * the container it came from (the directory of its json-file log, or its syslog tag; see
 * docker/containers.ts), and failures, bans, unbans and the enforcer's entries are per (address,
 * scope). Every other mode has one scope, host-wide, exactly as before.
 */
import { networkInterfaces } from 'node:os';
import type { Clock, TimerHandle } from './clock.js';
import type { Config } from './config/schema.js';
import { BanhammerError } from './errors.js';
import { SKIP_REASONS, isSkip, type SkipReason } from './parse/access-event.js';
import { createLineParser } from './parse/line-parser.js';
import { compileRule } from './detect/rule.js';
import { Detector } from './detect/detector.js';
import type { Offense } from './detect/offense.js';
import { Allowlist } from './decide/allowlist.js';
import { BanBook, type Ban, type BanBookSnapshot } from './decide/ban-book.js';
import type { Enforcer, EnforcerBan } from './enforce/enforcer.js';
import type { FilePosition, LineSource } from './source/line-source.js';
import type { StatusReport } from './control/protocol.js';
import type { Metrics } from './metrics/registry.js';
import { banFields, logUnban } from './log.js';
import { ContainerDirectory, containersDirFor, type ContainerResolver } from './docker/containers.js';
import { existsSync } from 'node:fs';

/** What the daemon persists under BANHAMMER_STATE_DIR. */
export interface DaemonState {
  readonly bans: BanBookSnapshot['bans'];
  readonly history: BanBookSnapshot['history'];
  readonly positions: FilePosition[];
}

export interface StateStoreLike {
  load(): Promise<DaemonState | null>;
  save(doc: DaemonState): Promise<void>;
}

export interface DaemonLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface LineSourceFactory {
  (opts: {
    paths: string[];
    onLine: (line: string, file: string) => void;
    startPositions: FilePosition[];
    onError: (err: unknown) => void;
    onWarning: (msg: string) => void;
  }): LineSource;
}

export interface DaemonDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: DaemonLogger;
  readonly enforcer: Enforcer;
  readonly createSource: LineSourceFactory;
  readonly store: StateStoreLike;
  readonly metrics?: Metrics | undefined;
  /** The host's own addresses (never banned); default: every interface address. */
  readonly hostAddresses?: readonly string[];
  readonly checkIntervalMs?: number;
  /** Host mode: Docker's container directory (default: one built from the config). */
  readonly containers?: ContainerResolver;
}

/** Key of a ban in the pending queues and the enforcer: address, plus the container for a scoped ban. */
const banKey = (ip: string, scope: string | undefined): string => (scope === undefined ? ip : `${ip} ${scope}`);

const EXPIRE_INTERVAL_MS = 1000;
const POSITION_SAVE_INTERVAL_MS = 1000;
const SWEEP_INTERVAL_MS = 30_000;
const REFRESH_INTERVAL_MS = 6 * 3600_000;

export class Daemon {
  private config: Config;
  private readonly clock: Clock;
  private readonly log: DaemonLogger;
  private readonly enforcer: Enforcer;
  private readonly store: StateStoreLike;
  private readonly metrics: Metrics | undefined;
  private readonly hostAddresses: readonly string[];
  private readonly checkIntervalMs: number;

  private allowlist!: Allowlist;
  private book!: BanBook;
  private detector!: Detector;
  private parse!: (line: string) => ReturnType<ReturnType<typeof createLineParser>>;
  private source: LineSource | null = null;
  private readonly createSource: LineSourceFactory;

  private readonly pendingBans = new Map<string, { ban: EnforcerBan; reports: Ban[] }>();
  private readonly pendingUnbans = new Map<string, { ip: string; family: 4 | 6; scope?: string }>();
  private readonly containers: ContainerResolver | undefined;
  /** Host mode with container scope: lines are scoped to their container. */
  private scoped = false;
  private flushScheduled = false;
  private flushing: Promise<void> | null = null;
  private timers: TimerHandle[] = [];
  private running = false;
  private startedAt = 0;
  private lastSavedPositions = '';
  private linesReported = 0;
  private matchesReported = new Map<string, number>();

  /** Counters since start, also exported as metrics. */
  readonly stats = {
    lines: 0,
    parsed: 0,
    skipped: Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>,
    enforceErrors: 0,
    repairs: 0,
  };

  constructor(deps: DaemonDeps) {
    this.config = deps.config;
    this.clock = deps.clock;
    this.log = deps.logger;
    this.enforcer = deps.enforcer;
    this.store = deps.store;
    this.metrics = deps.metrics;
    this.createSource = deps.createSource;
    this.checkIntervalMs = deps.checkIntervalMs ?? 2000;
    this.hostAddresses = deps.hostAddresses ?? localAddresses();
    this.containers =
      deps.containers ??
      (deps.config.enforcer === 'docker-user'
        ? new ContainerDirectory({
            dir: containersDirFor(deps.config.dockerContainersDir, deps.config.log.paths),
            clock: deps.clock,
            onWarning: (msg) => this.log.warn({}, msg),
          })
        : undefined);
    this.configure(deps.config, null);
  }

  /** (Re)builds rules, allowlist and detector from a config, keeping bans and ban history. */
  private configure(config: Config, previous: BanBook | null): void {
    this.config = config;
    this.allowlist = new Allowlist([...config.ignoreip, ...config.trustedProxies]);
    for (const a of this.hostAddresses) {
      try {
        this.allowlist.add(a);
      } catch {
        // an interface address Node reports but we cannot parse (zone ids are stripped already)
      }
    }
    const book = new BanBook({ ...config.rules, manual: MANUAL_SETTINGS }, this.allowlist);
    if (previous) book.restore(previous.snapshot(), this.clock.now());
    this.book = book;
    const rules = Object.entries(config.rules)
      .filter(([, s]) => s.enabled)
      .map(([name, s]) => compileRule(name, s));
    this.detector = new Detector(rules, {
      maxTracked: config.maxTracked,
      isExempt: (ip) => this.allowlist.has(ip),
      isBanned: (ip, rule, _t, scope) => this.book.isBanned(ip, rule, this.clock.now(), scope),
    });
    this.scoped = config.enforcer === 'docker-user' && config.banScope === 'container' && this.containers !== undefined;
    this.parse = createLineParser(config.log.format);
    this.matchesReported = new Map();
  }

  async start(): Promise<void> {
    this.startedAt = this.clock.now();
    if (this.config.enforcer === 'docker-user') this.checkContainersDir();
    await this.enforcer.init();
    const saved = await this.store.load();
    if (saved) {
      const { restored, dropped } = this.book.restore({ bans: saved.bans, history: saved.history }, this.clock.now());
      this.log.info({ restored, dropped }, 'restored bans from state');
      if (restored > 0) await this.reapplyAll();
    }
    this.running = true;
    this.source = this.createSource({
      paths: [...this.config.log.paths],
      onLine: (line, file) => this.onLine(line, file),
      startPositions: saved?.positions ?? [],
      onError: (err) => this.log.error({ err: errorFields(err) }, 'log source error'),
      onWarning: (msg) => this.log.warn({}, msg),
    });
    await this.source.start();
    this.every(EXPIRE_INTERVAL_MS, () => this.expire());
    this.every(this.checkIntervalMs, () => this.check());
    this.every(POSITION_SAVE_INTERVAL_MS, () => this.savePositionsIfMoved());
    this.every(SWEEP_INTERVAL_MS, () => this.detector.sweep(this.clock.now()));
    // Kernel timeouts stop at ~24.8 days: refresh long bans well before that.
    this.every(REFRESH_INTERVAL_MS, () => this.reapplyAll());
    this.log.info(
      {
        instance: this.config.instance,
        enforcer: this.enforcer.name,
        files: this.config.log.paths,
        rules: this.detector.ruleNames,
      },
      'banhammer started',
    );
  }

  async stop(opts: { removeFirewall?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers = [];
    await this.source?.stop();
    await this.flush();
    await this.save();
    if (opts.removeFirewall !== false) await this.enforcer.shutdown();
    this.log.info({}, 'banhammer stopped');
  }

  /** SIGHUP: new rules, allowlist and thresholds; bans and their history are kept. */
  reload(config: Config): void {
    const restartOnly = (['enforcer', 'ports', 'instance', 'iptablesMode', 'blockAction', 'stateDir', 'socketPath', 'metricsAddr', 'mapFile', 'nginxReload', 'dockerContainersDir'] as const)
      .filter((k) => JSON.stringify(config[k]) !== JSON.stringify(this.config[k]));
    if (JSON.stringify(config.log) !== JSON.stringify(this.config.log)) restartOnly.push('log' as never);
    this.configure(config, this.book);
    if (restartOnly.length > 0) this.log.warn({ settings: restartOnly }, 'these settings take effect after a restart');
    this.log.info({ rules: this.detector.ruleNames }, 'configuration reloaded');
  }

  // ── the hot path ───────────────────────────────────────────────────────────

  private onLine(line: string, file: string): void {
    this.stats.lines++;
    const out = this.parse(line);
    if (isSkip(out)) {
      this.stats.skipped[out]++;
      this.metrics?.parseSkipped(out);
      return;
    }
    this.stats.parsed++;
    const scope = this.scoped ? this.containers!.scopeOf(file, out.origin) : undefined;
    this.detector.observe(out, this.onOffense, this.clock.now(), scope);
  }

  private readonly onOffense = (o: Offense): void => {
    const now = this.clock.now();
    const scopeName = o.scope === undefined ? undefined : this.containers?.info(o.scope)?.name;
    const ban = this.book.consider({ ...o, at: Math.max(o.at, now) }, now, scopeName);
    if (ban) this.queueBan(ban);
  };

  private queueBan(ban: Ban): void {
    const until = this.book.effectiveUntil(ban.ip, this.clock.now(), ban.scope);
    const k = banKey(ban.ip, ban.scope);
    const entry = this.pendingBans.get(k);
    const e: EnforcerBan = { ip: ban.ip, family: ban.family, until: until === undefined ? ban.until : until, ...(ban.scope !== undefined ? { scope: ban.scope } : {}) };
    this.pendingUnbans.delete(k);
    this.pendingBans.set(k, { ban: e, reports: [...(entry?.reports ?? []), ban] });
    this.scheduleFlush();
  }

  private queueUnban(ban: Ban): void {
    const k = banKey(ban.ip, ban.scope);
    this.pendingBans.delete(k);
    this.pendingUnbans.set(k, { ip: ban.ip, family: ban.family, ...(ban.scope !== undefined ? { scope: ban.scope } : {}) });
  }

  /** Host mode: say clearly when Docker's containers directory is not there (the agent keeps waiting). */
  private checkContainersDir(): void {
    const dir = this.containers?.dir ?? null;
    if (dir === null) {
      if (this.scoped && !this.config.log.paths.some((p) => p.endsWith('-json.log'))) {
        this.log.warn({}, 'host mode: no Docker containers directory is known (set BANHAMMER_DOCKER_CONTAINERS_DIR, e.g. /var/lib/docker/containers mounted read-only); syslog-tagged bans are host-wide');
      }
      return;
    }
    if (!existsSync(dir)) {
      this.log.warn(
        { dir },
        `host mode: Docker's containers directory ${dir} does not exist (is Docker running, and is the directory mounted read-only into this container?); waiting for containers to appear`,
      );
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Applies everything queued, one batch at a time; resolves when the queue is empty. */
  private async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pendingBans.size === 0 && this.pendingUnbans.size === 0) return;
    const bans = [...this.pendingBans.values()];
    const unbans = [...this.pendingUnbans.values()];
    this.pendingBans.clear();
    this.pendingUnbans.clear();
    let failed = false;
    this.flushing = (async () => {
      const t0 = performance.now();
      try {
        await this.enforcer.apply({ ban: bans.map((b) => b.ban), unban: unbans });
        this.metrics?.enforceDuration(this.enforcer.name, (performance.now() - t0) / 1000);
      } catch (err) {
        this.stats.enforceErrors++;
        this.metrics?.enforceError(this.enforcer.name);
        this.log.error({ err: errorFields(err), bans: bans.length, unbans: unbans.length }, 'enforcement failed; will retry');
        // Put them back (unless superseded) and retry on the next tick.
        for (const b of bans) {
          const k = banKey(b.ban.ip, b.ban.scope);
          if (!this.pendingBans.has(k)) this.pendingBans.set(k, b);
        }
        for (const u of unbans) {
          const k = banKey(u.ip, u.scope);
          if (!this.pendingUnbans.has(k) && !this.pendingBans.has(k)) this.pendingUnbans.set(k, u);
        }
        failed = true;
        return;
      }
      await this.save();
      for (const b of bans) for (const r of b.reports) this.report(r);
      this.updateActiveGauge();
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
    if (this.pendingBans.size > 0 || this.pendingUnbans.size > 0) {
      if (failed) this.every(1000, () => this.flush(), true);
      else this.scheduleFlush();
    }
  }

  private report(ban: Ban): void {
    this.log.info({ ...banFields(ban), manual: ban.manual }, 'ban');
    this.metrics?.banned(ban.rule);
  }

  private reportUnban(ban: Ban, reason: 'expired' | 'manual' | 'all'): void {
    logUnban(this.log, ban, reason);
    this.metrics?.unbanned(ban.rule, reason);
  }

  private updateActiveGauge(): void {
    if (!this.metrics) return;
    let v4 = 0;
    let v6 = 0;
    const seen = new Set<string>();
    for (const b of this.book.active(this.clock.now())) {
      if (seen.has(b.ip)) continue;
      seen.add(b.ip);
      if (b.family === 4) v4++;
      else v6++;
    }
    this.metrics.activeBans(v4, v6);
  }

  // ── periodic work ─────────────────────────────────────────────────────────

  private every(ms: number, fn: () => unknown, once = false): void {
    const tick = (): void => {
      if (!this.running) return;
      Promise.resolve()
        .then(fn)
        .catch((err) => this.log.error({ err: errorFields(err) }, 'periodic task failed'))
        .finally(() => {
          if (this.running && !once) this.timers.push(this.clock.setTimeout(tick, ms));
        });
    };
    this.timers.push(this.clock.setTimeout(tick, ms));
  }

  private async expire(): Promise<void> {
    const now = this.clock.now();
    const expired = this.book.expire(now);
    if (expired.length === 0) return;
    for (const b of expired) {
      this.reportUnban(b, 'expired');
      if (this.book.effectiveUntil(b.ip, now, b.scope) === undefined) this.queueUnban(b);
    }
    this.updateActiveGauge();
    await this.flush();
  }

  private async check(): Promise<void> {
    const repaired = await this.enforcer.check();
    if (repaired.length === 0) return;
    this.stats.repairs += repaired.length;
    for (const what of repaired) this.metrics?.repaired(what);
    this.log.warn({ repaired }, 'firewall state was changed from outside; repaired');
    await this.reapplyAll();
  }

  private async reapplyAll(): Promise<void> {
    const now = this.clock.now();
    const byIp = new Map<string, EnforcerBan>();
    for (const b of this.book.active(now)) {
      const k = banKey(b.ip, b.scope);
      if (byIp.has(k)) continue;
      const until = this.book.effectiveUntil(b.ip, now, b.scope);
      if (until !== undefined) byIp.set(k, { ip: b.ip, family: b.family, until, ...(b.scope !== undefined ? { scope: b.scope } : {}) });
    }
    if (byIp.size > 0) await this.enforcer.apply({ ban: [...byIp.values()], unban: [] });
  }

  private async savePositionsIfMoved(): Promise<void> {
    if (this.metrics) {
      this.metrics.lines(this.stats.lines - this.linesReported);
      this.linesReported = this.stats.lines;
      this.metrics.tailLag(this.source?.lagBytes() ?? 0);
      for (const name of this.detector.ruleNames) {
        const c = this.detector.counters(name)!;
        const before = this.matchesReported.get(name) ?? 0;
        if (c.matches > before) this.metrics.ruleMatches(name, c.matches - before);
        this.matchesReported.set(name, c.matches);
        this.metrics.trackedAddresses(name, this.detector.tracked(name));
      }
    }
    const pos = JSON.stringify(this.source?.positions() ?? []);
    if (pos !== this.lastSavedPositions) await this.save();
  }

  private async save(): Promise<void> {
    const positions = this.source?.positions() ?? [];
    const snap = this.book.snapshot();
    await this.store.save({ bans: snap.bans, history: snap.history, positions });
    this.lastSavedPositions = JSON.stringify(positions);
  }

  // ── control (status, ban, unban) ───────────────────────────────────────────

  status(rule?: string): StatusReport {
    const now = this.clock.now();
    const names = rule === undefined ? this.detector.ruleNames : [rule];
    if (rule !== undefined && !this.detector.ruleNames.includes(rule) && rule !== MANUAL_RULE_NAME) {
      throw new BanhammerError('BH_ERR_USAGE', `no running rule named ${JSON.stringify(rule)}`, {
        hint: `running rules: ${this.detector.ruleNames.join(', ')}`,
      });
    }
    const active = this.book.active(now);
    const hasManual = active.some((b) => b.rule === MANUAL_RULE_NAME) || this.book.totalBanned(MANUAL_RULE_NAME) > 0;
    const all = rule === undefined && hasManual ? [...names, MANUAL_RULE_NAME] : names;
    return {
      instance: this.config.instance,
      enforcer: this.enforcer.name,
      since: new Date(this.startedAt).toISOString(),
      files: this.filesWithLag(),
      rules: all.map((name) => {
        const c = this.detector.counters(name);
        const ruleBans = active.filter((b) => b.rule === name);
        const banned = ruleBans.map((b) => b.ip);
        return {
          name,
          enabled: name === MANUAL_RULE_NAME || (this.config.rules[name]?.enabled ?? false),
          currentlyFailed: this.detector.currentlyFailed(name, now),
          totalFailed: c?.failures ?? 0,
          currentlyBanned: banned.length,
          totalBanned: this.book.totalBanned(name),
          bannedIps: banned,
          bans: ruleBans.map((b) => ({
            ip: b.ip,
            container: b.scope === undefined ? null : (b.scopeName ?? b.scope.slice(0, 12)),
            containerId: b.scope ?? null,
            until: b.until === null ? null : new Date(b.until).toISOString(),
          })),
        };
      }),
    };
  }

  /** Followed files; the source reports lag as one total, so it is shown on the single file or spread as 0. */
  private filesWithLag(): StatusReport['files'] {
    const paths = [...new Set((this.source?.positions() ?? []).map((p) => p.path))];
    const lag = this.source?.lagBytes() ?? 0;
    return paths.map((path) => ({ path, lagBytes: paths.length === 1 ? lag : 0 }));
  }

  async ban(ip: string, opts: { rule?: string; forMs: number | null; container?: string }): Promise<Ban> {
    const target = opts.container === undefined ? undefined : this.containerFor(opts.container);
    const rule = opts.rule ?? MANUAL_RULE_NAME;
    if (rule !== MANUAL_RULE_NAME && this.config.rules[rule] === undefined) {
      throw new BanhammerError('BH_ERR_USAGE', `unknown rule ${JSON.stringify(rule)}`, {
        hint: `rules: ${Object.keys(this.config.rules).join(', ')}`,
      });
    }
    const forMs = opts.forMs ?? (rule === MANUAL_RULE_NAME ? null : this.config.rules[rule]!.bantime);
    const ban = this.book.banManually(ip, {
      rule,
      durationMs: forMs === null || !Number.isFinite(forMs) ? null : forMs,
      now: this.clock.now(),
      ...(target !== undefined ? { scope: target.id, scopeName: target.name } : {}),
    });
    this.queueBan(ban);
    await this.flush();
    return ban;
  }

  /** `--container NAME`: the container's id and name; only in host mode, and only a known container. */
  private containerFor(nameOrId: string): { id: string; name: string } {
    if (this.config.enforcer !== 'docker-user' || this.containers === undefined) {
      throw new BanhammerError('BH_ERR_USAGE', `--container needs host mode (BANHAMMER_ENFORCER=docker-user); this agent's enforcer is ${this.config.enforcer}`, {
        hint: 'leave out --container: this agent protects one container only',
      });
    }
    const c = this.containers.find(nameOrId);
    if (c === null) {
      throw new BanhammerError('BH_ERR_USAGE', `no container named ${JSON.stringify(nameOrId)} (by name or id) in ${this.containers.dir ?? "Docker's containers directory"}`, {
        hint: 'use a name from docker ps, or the container id (at least 12 characters)',
      });
    }
    return { id: c.id, name: c.name };
  }

  async unban(ip: string, opts: { container?: string } = {}): Promise<number> {
    const scope = opts.container === undefined ? undefined : this.containerFor(opts.container).id;
    const removed = this.book.unban(ip, undefined, scope);
    for (const b of removed) {
      this.reportUnban(b, 'manual');
      if (this.book.effectiveUntil(b.ip, this.clock.now(), b.scope) === undefined) this.queueUnban(b);
      this.detector.reset(b.ip, undefined, b.scope);
    }
    await this.flush();
    this.updateActiveGauge();
    return removed.length;
  }

  async unbanAll(): Promise<number> {
    const removed = this.book.unbanAll();
    for (const b of removed) {
      this.reportUnban(b, 'all');
      this.queueUnban(b);
    }
    await this.flush();
    this.updateActiveGauge();
    return removed.length;
  }
}

const MANUAL_RULE_NAME = 'manual';
const MANUAL_SETTINGS = {
  enabled: false,
  description: 'Bans made with `banhammer ban`',
  match: { status: [], paths: [], methods: [] },
  maxretry: 1,
  findtime: 1000,
  bantime: Number.POSITIVE_INFINITY,
  increment: null,
} as const;

function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push(a.address.split('%')[0]!);
  }
  return out;
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof BanhammerError) return { code: err.code, message: err.message, hint: err.hint };
  if (err instanceof Error) return { message: err.message };
  return { message: String(err) };
}
