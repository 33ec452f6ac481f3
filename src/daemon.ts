/**
 * The live agent: wiring only. The pipeline (parse → detect → decide, src/pipeline) runs in live
 * mode; the ban book says what the enforcer must hold and the enforcement queue (src/enforce/queue.ts)
 * applies it; the status report, metrics sampling and host-mode helpers live with their stages.
 *
 *   LineSource ──line──▶ Pipeline (parse → Detector → BanBook) ──diff──▶ EnforcementQueue ──▶ Enforcer
 *
 * Contract:
 * - start(): the enforcer is initialised (idempotently), saved state is restored (unexpired bans go
 *   back into the kernel before any line is read), then the log files are followed from their saved
 *   read positions. stop() may be called at any moment, even while start() is still in progress.
 * - A ban is reported (logged, counted, notified) once the enforcer holds it, or at the latest just
 *   before its unban is (a ban lifted before its batch was applied): bans and unbans are told in the
 *   book's order, so the last word on an address is never a ban that was lifted.
 * - State is saved best effort and never waited for by enforcement (src/decide/state-keeper.ts: at
 *   most one save in flight, the latest state after it; a full disk is logged once and retried, a
 *   stalled one reported once). stop() saves the final state, waiting for it at most STOP_SAVE_BUDGET_MS.
 * - Every second expired bans are lifted; every `checkIntervalMs` the enforcer compares the kernel
 *   with the ban book and repairs; every 6 h every ban is sent again (kernel timeouts stop at ~24.8 d).
 * - reload(): a diff, not a rebuild (see Pipeline.reconfigure); restart-only settings that changed are
 *   named in one warning. The daemon implements the control socket's handler type.
 * Host mode (enforcer docker-user, BANHAMMER_BAN_SCOPE=container): every line belongs to a scope, the
 * container it came from, and failures, bans and the enforcer's entries are per (address, scope). A
 * syslog line whose tag several containers may have written (ContainerResolver.scopesOf) counts at
 * each of them: never host-wide, where one tenant's lines would ban a client at every container.
 */
import { repeat, steadyNow, type Clock, type TimerHandle } from './clock.js';
import { watchWallSteps, type WallStep } from './wall-steps.js';
import type { DaemonDeps, DaemonLogger, DaemonState } from './daemon-deps.js';
import type { Config } from './config/schema.js';
import { reloadedConfig, restartOnlyChanges } from './config/settings.js';
import { configWarnings } from './config/warnings.js';
import { PERMANENT } from './config/duration.js';
import { BanhammerError, errorFields } from './errors.js';
import { formatTime } from './format-time.js';
import { isNetwork } from './parse/ip.js';
import { Pipeline, localAddresses } from './pipeline/pipeline.js';
import { forwardedClientsNote } from './pipeline/forwarded-clients.js';
import type { Ban } from './decide/ban-book.js';
import { StateKeeper } from './decide/state-keeper.js';
import { scopedKey } from './decide/scoped-key.js';
import { EnforcementQueue } from './enforce/queue.js';
import { runYielding } from './yielding.js';
import type { LineSource } from './source/line-source.js';
import type { ControlHandler } from './control/server.js';
import type { BanReply, FirewallState, StatusReport, WhyReport } from './control/protocol.js';
import { buildStatusReport, statusReportSteps, type StatusSources } from './control/status-report.js';
import { buildWhyReport } from './control/why-report.js';
import { canonicalTarget } from './parse/ip.js';
import type { UnbanReason } from './metrics/registry.js';
import { MetricsSampler } from './metrics/sampler.js';
import { banFields, logUnban } from './log.js';
import { ContainerDirectory, containersDirFor, type ContainerResolver, type HeldScope } from './docker/containers.js';
import { containerFor, containersDirWarnings, isHostMode } from './docker/host-mode.js';
import { GroupLink } from './share/group-link.js';

export type { DaemonDeps, DaemonLogger, DaemonState, LineSourceFactory, StateStoreLike } from './daemon-deps.js';

const EXPIRE_INTERVAL_MS = 1000;
/** Bans lifted at most in one turn of the event loop by the tick (expireDue). */
export const EXPIRE_SLICE = 2048;
/** Bans `unban --all` lifts at most in one turn of the event loop. */
export const UNBAN_ALL_SLICE = 512;
const POSITION_SAVE_INTERVAL_MS = 1000;
/** How long `status` waits for the logs' sizes (see lookAtLogSizes). */
const STATUS_SIZE_WAIT_MS = 500;
/** How long a stopping agent waits for its final state save (a stalled disk must not hang the stop). */
export const STOP_SAVE_BUDGET_MS = 5000;
const SWEEP_INTERVAL_MS = 30_000;
const REFRESH_INTERVAL_MS = 6 * 3600_000;
/** How often the host's own addresses are read again (one getifaddrs call). */
const HOST_ADDRESS_INTERVAL_MS = 10_000;
/** How long a stopping agent tries to deliver queued notifications (Docker's stop grace is 10 s). */
const NOTIFY_SHUTDOWN_BUDGET_MS = 3000;
/**
 * At a step of the wall clock, bans dated up to this long after its last reading still move with it:
 * a replica whose clock runs a little ahead dates the bans it shares ahead of this one's.
 */
const STEP_SLACK_MS = 60_000;
/** Enforcers that refuse network (CIDR) bans: `ban 198.18.0.0/24` is refused before it is recorded. */

export class Daemon implements ControlHandler {
  private config: Config;
  private readonly deps: DaemonDeps;
  private readonly clock: Clock;
  private readonly log: DaemonLogger;
  private readonly pipeline: Pipeline;
  private readonly group: GroupLink | undefined;
  /** Counters since start (lines, parse skips, skewed lines). */
  readonly stats: Pipeline['stats'];
  private readonly queue: EnforcementQueue;
  private readonly keeper: StateKeeper<DaemonState>;
  private readonly sampler: MetricsSampler | undefined;
  private readonly containers: ContainerResolver | undefined;
  /** Host mode: the enforcer holds bans for one container (scoped), in sets of that container's. */
  private readonly hostMode: boolean;
  private readonly scoped: boolean;
  private source: LineSource | null = null;
  private tasks: { stop(): void }[] = [];
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private initializing: Promise<void> | null = null;
  /** The state read at start (null: none); undefined until it was read. */
  private saved: DaemonState | null | undefined = undefined;
  /** The batch that puts restored bans back into the kernel is next: it need not save (see start()). */
  private restoreFlush = false;
  /** No work yet (DaemonDeps.onBusy not called). */
  private idle = true;
  private startedAt = 0;
  /**
   * Until the saved bans are back in the book (start() restores them once the enforcer is up, which
   * may wait up to a minute for the xtables lock), the control socket is already answering: a ban,
   * unban or unban --all taken then would be undone or shadowed by the restore (an unban of a saved
   * ban answered "not banned" and the ban came back). Those ops are refused meanwhile with an error
   * saying so; null once restored (or when start failed or was stopped).
   */
  private restoring: { resolve: () => void } | null = null;
  private lastSavedPositions = '';
  private repairs = 0;
  /** Periodic firewall checks that failed in a row (the enforcer cannot read or re-create its state). */
  private checkFailing = 0;
  /**
   * Bans made and not reported yet, oldest first: reported once the enforcer holds them, or just
   * before their unban when they are lifted first (see reportBeforeLift).
   */
  private unreported: Ban[] = [];
  /** How many of `unreported` the batch being applied covers (those made before its diff was taken). */
  private covered = 0;
  /** Lifted bans whose removal the enforcer has not applied yet (notified once it has), and how many the batch covers. */
  private unbansToReport: { ban: Ban; reason: UnbanReason }[] = [];
  /** When the last cut at the cap was logged (onCut). */
  private lastCutReport = Number.NEGATIVE_INFINITY;
  private coveredUnbans = 0;
  /** The first client read from a forwarded field past a trusted proxy (see forwarded-clients.ts), for the log and status. */
  private forwardedExample: string | undefined;
  /** Bans refused at the ban book's cap as last reported, and when (reportRefusedAtCap). */
  private refusedReported = 0;
  private refusedReportAt = Number.NEGATIVE_INFINITY;

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.config = deps.config;
    // Every reading of the time goes through the step watch, so a step of the wall clock is handled
    // (wallStepped) before anything acts on the stepped clock.
    const clock = watchWallSteps(deps.clock, (s) => this.wallStepped(s));
    this.clock = clock;
    this.log = deps.logger;
    const hostMode = isHostMode(deps.config);
    this.hostMode = hostMode;
    this.containers = deps.containers ?? (hostMode ? new ContainerDirectory({ dir: containersDirFor(deps.config.dockerContainersDir, deps.config.log.paths), clock, onWarning: (msg) => this.log.warn({}, msg) }) : undefined);
    this.scoped = hostMode && deps.config.banScope === 'container' && this.containers !== undefined;
    this.pipeline = new Pipeline({
      config: deps.config,
      mode: 'live',
      hostAddresses: this.hostAddresses(),
      // In host mode with bans per container, a host-wide ban comes from a line no container can have
      // written (any tenant can write one): it never grows into a network ban for every container.
      networkBans: deps.enforcer.cidr === true && !this.scoped,
      onBan: (ban) => {
        this.group?.published(ban);
        this.toEnforce(ban);
      },
      // Host mode at the cap: bans of the container holding the most, ended for another's share.
      onCut: (bans) => {
        void this.lift(bans, 'cap');
        const now = steadyNow(this.clock);
        if (now - this.lastCutReport >= 60_000) {
          this.lastCutReport = now;
          const b = bans[0]!;
          this.log.warn(
            { container: b.scopeName ?? b.scope ?? null, cutTotal: this.pipeline.book.cutForShareTotal, maxBans: this.config.maxBans },
            "the ban book is full (BANHAMMER_MAX_BANS): bans of the container holding the most end early to make room for other containers' bans (at most once a minute in this log)",
          );
        }
      },
      ...(deps.share && { onFailure: (f) => deps.share!.failure(f) }),
      onSkew: (t) => {
        this.log.warn({ lineTime: formatTime(t), skewedLines: this.pipeline.stats.skewed }, 'log line stamped in the future; counted as happening now');
      },
      onBehind: (r) => {
        this.log.warn(
          { lines: r.lines, newestLine: formatTime(r.newestLine), behindSeconds: Math.round(r.behindMs / 1000) },
          "every log line read for a minute or more is stamped too long ago for any rule's findtime: none of them counts toward a ban. Is the log writer's clock (or time zone) behind this host's? (A backlog read after a restart looks the same until it is read.)",
        );
      },
      // Once: can this enforcer hold a client the server itself did not see (forwarded-clients.ts)?
      onForwarded: (ev) => {
        this.forwardedExample = ev.ip;
        const note = forwardedClientsNote(deps.enforcer.name, this.config.trustedProxies, ev.ip);
        if (note !== null) this.log.warn({ enforcer: deps.enforcer.name, client: ev.ip }, note);
      },
    });
    this.stats = this.pipeline.stats;
    const lifted = (bans: Ban[]): void => void this.lift(bans, 'group');
    this.group = deps.share && new GroupLink({ share: deps.share, pipeline: this.pipeline, clock, log: this.log, onAdopted: (b) => this.toEnforce(b), onLifted: lifted, onOwnAgain: () => this.queue.schedule(), scoped: this.scoped, networks: deps.enforcer.cidr === true, minPrefix: { 4: deps.config.share.minPrefix4, 6: deps.config.share.minPrefix6 }, isContainer: (id) => this.containers?.info(id) != null });
    this.keeper = new StateKeeper<DaemonState>({
      sink: deps.store,
      log: this.log,
      clock,
      onFailure: () => deps.metrics?.stateSaveError(),
      onSettled: (doc, ok) => void (ok && (this.lastSavedPositions = JSON.stringify(doc.positions))),
    });
    this.sampler = deps.metrics && new MetricsSampler(deps.metrics);
    // The batch's diff is taken from the book when it starts: bans made while it is applied wait for the next one.
    const book = this.pipeline.book;
    const source = {
      changes: (now: number, limit?: number) => ((this.covered = this.unreported.length), (this.coveredUnbans = this.unbansToReport.length), book.changes(now, limit)),
      requeue: (d: Parameters<typeof book.requeue>[0]) => book.requeue(d),
      get hasChanges() {
        return book.hasChanges;
      },
      expected: (now: number) => book.expected(now),
      touchAll: () => book.touchAll(),
      touchAllSteps: () => book.touchAllSteps(),
    };
    this.queue = new EnforcementQueue({ enforcer: deps.enforcer, source, clock, afterApply: (refused) => this.afterApply(refused), log: this.log, metrics: deps.metrics });
  }

  /**
   * The runner answers on the control socket before it calls start() (run.ts: the socket first, so a
   * second agent is refused before anything touches the firewall), and the socket takes requests
   * while it is being set up: from this call, changes are refused as while restoring, until start()
   * has restored the saved bans. Without it a ban taken in that gap was answered "banned" and the
   * next one "still starting" (seen in CI: dry-run-networks).
   */
  willStart(): void {
    this.restoring ??= { resolve: () => {} };
  }

  async start(): Promise<void> {
    this.phase = 'starting';
    const restoring = { resolve: () => void (this.restoring === restoring && (this.restoring = null)) };
    this.restoring = restoring;
    try {
      await this.startUp();
    } finally {
      // Failed, stopped or done: nobody waits any longer (a stopped agent answers as it is).
      restoring.resolve();
    }
  }

  private async startUp(): Promise<void> {
    this.startedAt = this.clock.now();
    this.deps.metrics?.started(this.startedAt);
    for (const w of isHostMode(this.config) ? containersDirWarnings(this.config, this.containers, this.scoped) : []) this.log.warn(w.dir ? { dir: w.dir } : {}, w.msg);
    this.initializing = this.deps.enforcer.init();
    // The state file is read while the enforcer sets up (both take a while with 100,000 bans).
    const loading = this.deps.store.load();
    loading.catch(() => {}); // awaited below, unless the enforcer's start-up failed first
    await this.initializing;
    if (this.phase !== 'starting') return; // stopped while the enforcer was starting
    const saved = await loading;
    if (saved && saved.bans.length + saved.history.length + (saved.ended?.length ?? 0) > 0) this.busy();
    if (saved) {
      // Out of host mode a saved ban for one container is not restored (it would be held for every
      // client this agent guards): the ban book ends it as refused, and it is said once here.
      // In slices (the control socket is up: 500,000 saved bans were seconds of one block; review H34).
      const r = await runYielding(this.pipeline.book.restoreSteps({ bans: saved.bans, history: saved.history, ...(saved.ended !== undefined ? { ended: saved.ended } : {}) }, this.clock.now(), { networks: this.deps.enforcer.cidr === true, scopes: this.hostMode }));
      // IPv6 network escalation counts the restored bans again (review H33), in slices too (H47).
      await runYielding(this.pipeline.restoredSteps(this.clock.now()));
      if (this.phase !== 'starting') return; // stopped meanwhile: nothing is applied, and the file is not overwritten
      // Only the positions are read again (save() before the source starts): the parsed bans can go.
      this.saved = { bans: [], history: [], positions: saved.positions };
      this.log.info(r, 'restored bans from state');
      if (r.scopedRefused !== undefined) {
        const n = r.scopedRefused;
        this.log.warn(
          { bans: n },
          `${n} saved ban${n === 1 ? '' : 's'} for one container (written in host mode) ${n === 1 ? 'was' : 'were'} not restored: this agent is not in host mode, and its enforcer would hold ${n === 1 ? 'it' : 'them'} for every client it guards; banhammer why ADDRESS shows ${n === 1 ? 'it' : 'them'}`,
        );
      }
      // The file holds every ban just restored: this batch saves nothing new (the first position
      // save, a second after start, writes the book as restored), so it does not wait for a save.
      this.restoreFlush = true;
      await this.queue.flush();
      this.restoreFlush = false; // (when there was nothing to apply, no later batch may skip its save)
    } else {
      this.saved = saved;
    }
    this.restoring?.resolve();
    if (this.group !== undefined) this.busy();
    await this.group?.start();
    if (this.phase !== 'starting') return;
    this.source = this.deps.createSource({
      paths: [...this.config.log.paths],
      onLine: (line, file) => this.onLine(line, file),
      // Lines in progress at the saved positions (a split Docker or syslog line): never read their rest alone.
      onResume: (before, file) => this.pipeline.resume(before, file),
      startPositions: saved?.positions ?? [],
      onError: (err) => this.log.error({ err: errorFields(err) }, 'log source error'),
      onWarning: (msg) => this.log.warn({}, msg),
    });
    await this.source.start();
    if (this.phase !== 'starting') return;
    this.phase = 'running';
    this.sample(); // per-file series count from here (no line read yet: the last-line time is the start)
    this.every(EXPIRE_INTERVAL_MS, () => this.expireDue());
    this.every(this.deps.checkIntervalMs ?? 2000, () => this.check());
    this.every(POSITION_SAVE_INTERVAL_MS, () => this.savePositionsIfMoved());
    this.every(SWEEP_INTERVAL_MS, () => this.pipeline.sweep(this.clock.now()));
    this.every(HOST_ADDRESS_INTERVAL_MS, () => this.refreshHostAddresses());
    this.every(REFRESH_INTERVAL_MS, () => this.queue.reapplyAll());
    this.log.info({ instance: this.config.instance, enforcer: this.deps.enforcer.name, files: this.config.log.paths, rules: this.pipeline.detector.ruleNames }, 'banhammer started');
    // Settings that load but switch protection off (an ignoreip of every address, no rule running).
    for (const w of configWarnings(this.config)) this.log.warn({}, w);
    this.warnNoNetworkEscalation(this.config);
  }

  /**
   * The tick: bans that ended are lifted, EXPIRE_SLICE at a time with a turn of the event loop
   * between two slices (an attacker who made the book's 500,000 bans in one second has them all end
   * in one second: lifting them at once blocked the agent for seconds; review H34). Each slice is
   * its own batch; the next tick waits for the last slice.
   */
  private async expireDue(): Promise<void> {
    for (;;) {
      const due = this.pipeline.book.expire(this.clock.now(), EXPIRE_SLICE);
      void this.lift(due, 'expired');
      if (due.length < EXPIRE_SLICE || this.phase !== 'running') break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.group?.retryRefusedAtCap();
    this.reportRefusedAtCap();
  }

  /** Bans refused at the ban book's cap (BANHAMMER_MAX_BANS) since the last report: said at most once a minute. */
  private reportRefusedAtCap(): void {
    const n = this.pipeline.book.refusedAtCap;
    const now = steadyNow(this.clock);
    if (n === this.refusedReported || now - this.refusedReportAt < 60_000) return;
    this.log.warn(
      { refused: n - this.refusedReported, maxBans: this.config.maxBans },
      `the agent holds its most bans (BANHAMMER_MAX_BANS=${this.config.maxBans}, or one container a quarter of them, or those adopted from the group half of them): new bans are refused until bans end`,
    );
    this.refusedReported = n;
    this.refusedReportAt = now;
  }

  /** IPv6 network escalation asked of an enforcer that holds no network: said at start and reload. */
  private warnNoNetworkEscalation(config: Config): void {
    if (config.ipv6NetworkBanAfter > 0 && this.deps.enforcer.cidr !== true) {
      this.log.warn(
        { enforcer: this.deps.enforcer.name },
        `BANHAMMER_IPV6_NETWORK_BAN_AFTER is set, but the ${this.deps.enforcer.name} enforcer holds no network bans: IPv6 addresses are banned one by one`,
      );
    }
  }

  /** Stops reading, saves state, and (unless told otherwise) has the enforcer remove what it created. */
  async stop(opts: { removeFirewall?: boolean } = {}): Promise<void> {
    if (this.phase === 'stopped' || this.phase === 'new') return;
    // Stopped while the enforcer is still setting up (e.g. waiting for the xtables lock): let it
    // finish, briefly, so the teardown below removes what it made instead of racing it.
    if (this.phase === 'starting') await Promise.race([this.initializing?.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
    this.phase = 'stopped';
    for (const t of this.tasks.splice(0)) t.stop();
    await this.group?.stop();
    await this.source?.stop();
    await this.queue.flush();
    await this.queue.stop();
    await this.saveFinal();
    if (opts.removeFirewall !== false) await this.deps.enforcer.shutdown();
    await this.deps.notifier?.close(NOTIFY_SHUTDOWN_BUDGET_MS);
    this.log.info({}, 'banhammer stopped');
  }

  /** SIGHUP / `banhammer reload`: a diff of the running configuration (see the header). */
  reload(read: Config | undefined = this.deps.reloadConfig?.()): void {
    if (read === undefined) throw new BanhammerError('BH_ERR_USAGE', 'this agent cannot re-read its configuration', { hint: 'restart it' });
    const restart = restartOnlyChanges(this.config, read);
    const next = reloadedConfig(this.config, read);
    // A failed read of the host's addresses must not fail the reload (a widened ignoreip would never
    // apply): the last ones read stay exempt, as with the periodic refresh.
    let hosts: readonly string[] | undefined;
    try {
      hosts = this.hostAddresses();
    } catch (err) {
      this.log.warn({ err: errorFields(err) }, "cannot read this host's addresses; the last ones read stay exempt");
    }
    const lifted = this.pipeline.reconfigure(next, this.clock.now(), hosts);
    // New escalation settings: the bans held are counted again, in slices (a ban or an unban meanwhile
    // waits for the rest of the count: Pipeline.recounting).
    runYielding(this.pipeline.recounting()).catch((err: unknown) => this.log.error({ err: errorFields(err) }, 'counting the bans held toward IPv6 network escalation failed'));
    this.config = next;
    this.lift(lifted, 'allowlisted');
    this.deps.onReloaded?.(next);
    // The rules a reload switched on get their series (at 0) now, not at the next tick: a ban in the
    // reload's first second would otherwise be a series' first sample, which increase() cannot see.
    this.sample();
    if (restart.length > 0) this.log.warn({ settings: restart }, `these settings take effect after a restart: ${restart.join(', ')}`);
    this.log.info({ rules: this.pipeline.detector.ruleNames, unbanned: lifted.length }, 'configuration reloaded');
    for (const w of configWarnings(next)) this.log.warn({}, w);
    this.warnNoNetworkEscalation(next);
  }

  /** The host's own addresses now (deps.hostAddresses, or every interface's). */
  private hostAddresses(): readonly string[] {
    const h = this.deps.hostAddresses;
    return h === undefined ? localAddresses() : typeof h === 'function' ? h() : h;
  }

  /** The host's own addresses read again: bans that now cover one are lifted, as a reload lifts newly allowlisted ones. */
  private refreshHostAddresses(): void {
    let addresses: readonly string[];
    try {
      addresses = this.hostAddresses();
    } catch (err) {
      this.log.warn({ err: errorFields(err) }, "cannot read this host's addresses; the last ones read stay exempt");
      return;
    }
    const lifted = this.pipeline.refreshHostAddresses(addresses, this.clock.now());
    if (lifted.length > 0) {
      this.log.warn({ unbanned: lifted.map((b) => b.ip) }, "lifted bans of this host's own addresses (new on an interface since they were made)");
      void this.lift(lifted, 'allowlisted');
    }
  }

  /** The agent has work from now on (DaemonDeps.onBusy: the optimizing compiler is released); once. */
  private busy(): void {
    if (!this.idle) return;
    this.idle = false;
    this.deps.onBusy?.();
  }

  private onLine(line: string, file: string): void {
    if (this.idle) this.busy();
    const ev = this.pipeline.parse(line, file);
    if (ev === null) return;
    // A line split over records is kept as joined, not as the piece that decided it (AccessEvent.joined).
    // A syslog line several containers may have written counts in each (matched once).
    const c = this.containers;
    const scope = !this.scoped ? undefined : ev.origin === undefined || c!.scopesOf === undefined ? c!.scopeOf(file, ev.origin) : c!.scopesOf(file, ev.origin);
    this.pipeline.observe(ev, this.clock.now(), scope, this.scopeName, ev.joined ?? line, file);
  }

  /**
   * The wall clock was stepped (src/wall-steps.ts; called before anything reads the stepped time):
   * the bans held keep their length of real time (Pipeline.clockStepped), as the kernel's entries,
   * which count down on a monotonic clock, already do. Set back a day, every ban lasted a day longer;
   * set forward, every one ended at the next tick (review H55). Bans dated after the clock's last
   * reading (restored by an agent started with its clock far behind) keep their dates: the step
   * sets the clock right for them.
   */
  private wallStepped(s: WallStep): void {
    if (this.pipeline === undefined) return; // (a reading while the daemon is built)
    const moved = this.pipeline.clockStepped(s.step, s.before + STEP_SLACK_MS);
    this.startedAt += s.step;
    this.log.warn(
      { stepSeconds: Math.round(s.step / 1000), from: formatTime(s.before), to: formatTime(s.after), bansMoved: moved },
      `the wall clock was stepped ${s.step < 0 ? 'back' : 'forward'}: the bans held keep their length (their start and end moved with the clock); check the host's NTP`,
    );
    if (moved > 0) queueMicrotask(() => this.queue.schedule());
  }

  /** A ban the enforcer must get; it is reported once applied. */
  private toEnforce(ban: Ban): void {
    this.unreported.push(ban);
    this.queue.schedule();
  }

  private readonly scopeName = (scope: string): string | undefined => this.containers?.info(scope)?.name;

  /** The containers the ban book holds bans for (`--container` of one removed since: see containerFor). */
  private readonly heldScopes = (): HeldScope[] => this.pipeline.book.active(this.clock.now()).flatMap((b) => (b.scope === undefined ? [] : [{ id: b.scope, name: b.scopeName }]));

  /** After a batch is held: the state save is started (never awaited: enforcement does not wait for a disk), then the batch is reported. */
  private afterApply(refused: ReadonlySet<string> = new Set()): void {
    const restoring = this.restoreFlush && this.covered === 0 && this.coveredUnbans === 0;
    this.restoreFlush = false;
    if (!restoring) this.save();
    const reports = this.unreported.splice(0, this.covered);
    this.covered = 0;
    const lifted = this.unbansToReport.splice(0, this.coveredUnbans);
    this.coveredUnbans = 0;
    // Notified once the enforcer holds it (not when the kernel refused it).
    this.report(reports, (b) => !refused.has(scopedKey(b.ip, b.scope)));
    for (const u of lifted) this.deps.notifier?.unbanned(u.ban, u.reason);
    this.sample();
  }

  private report(bans: readonly Ban[], notify: (b: Ban) => boolean): void {
    for (const ban of bans) {
      this.log.info({ ...banFields(ban), manual: ban.manual }, 'ban');
      this.deps.metrics?.banned(ban.rule);
      if (notify(ban)) this.deps.notifier?.banned(ban);
    }
  }

  /**
   * Lifted bans (and the bans they replaced under the same rule and scope) whose batch has not been
   * reported yet, queued or being applied: reported now, before their unban, so the log, metrics and
   * notifications never end on a ban that was lifted, whatever lifted it and whenever its batch lands.
   */
  private reportBeforeLift(lifted: readonly Ban[]): void {
    if (this.unreported.length === 0) return;
    const banKey = (b: Ban): string => `${b.rule} ${scopedKey(b.ip, b.scope)}`;
    const keys = new Set(lifted.map(banKey));
    const now: Ban[] = [];
    const keep: Ban[] = [];
    let covered = this.covered;
    this.unreported.forEach((b, i) => {
      if (!keys.has(banKey(b))) return void keep.push(b);
      now.push(b);
      if (i < this.covered) covered--;
    });
    if (now.length === 0) return;
    this.unreported = keep;
    this.covered = covered;
    this.report(now, (b) => !this.queue.isRefused(scopedKey(b.ip, b.scope)));
  }

  /** Logs and counts lifted bans (after any of them not reported yet), and hands the change to the enforcer. */
  private async lift(bans: Ban[], reason: UnbanReason): Promise<void> {
    if (bans.length === 0) return;
    this.reportBeforeLift(bans);
    for (const b of bans) {
      logUnban(this.log, b, reason);
      this.deps.metrics?.unbanned(b.rule, reason);
    }
    if (this.deps.notifier !== undefined) for (const ban of bans) this.unbansToReport.push({ ban, reason });
    await this.queue.flush();
  }

  private async check(): Promise<void> {
    let repaired: string[];
    try {
      repaired = await this.queue.check();
    } catch (err) {
      this.checkFailing++;
      throw err;
    }
    this.checkFailing = 0;
    if (repaired.length === 0) return;
    this.repairs += repaired.length;
    for (const what of repaired) this.deps.metrics?.repaired(what);
    this.log.warn({ repaired }, 'firewall state was changed from outside; repaired');
    // The check re-adds what it found missing; sending every ban again costs one batch, rarely.
    await this.queue.reapplyAll();
  }

  private every(ms: number, fn: () => unknown): void {
    this.tasks.push(repeat(this.clock, ms, fn, (err) => this.log.error({ err: errorFields(err) }, 'periodic task failed')));
  }

  private sample(): void {
    this.sampler?.sample({ stats: this.pipeline.stats, detector: this.pipeline.detector, book: this.pipeline.book, now: this.clock.now(), lagBytes: this.source?.lagBytes() ?? 0, share: this.deps.share?.stats(), files: this.source?.progress?.() });
  }

  private savePositionsIfMoved(): void {
    this.sample();
    const pos = JSON.stringify(this.source?.positions() ?? []);
    if (pos !== this.lastSavedPositions || this.keeper.error !== null) this.save();
  }

  /**
   * Asks for a state save and never waits for it (see StateKeeper: one save in flight, the latest
   * state after it, spaced after a slow one); never before the saved state was read (an empty book
   * would overwrite the saved bans).
   */
  private save(): void {
    if (this.saved !== undefined) void this.keeper.request(this.stateDoc);
  }

  /** stop(): the final state, waited for at most STOP_SAVE_BUDGET_MS (a stalled disk must not hang the stop). */
  private async saveFinal(): Promise<void> {
    if (this.saved === undefined) return;
    if ((await this.keeper.flush(this.stateDoc, STOP_SAVE_BUDGET_MS)) !== 'stalled') return;
    this.log.warn({ waitedMs: STOP_SAVE_BUDGET_MS }, `the state disk did not answer within ${STOP_SAVE_BUDGET_MS / 1000} s; stopping without the final state saved (the next start restores the last state that was)`);
  }

  /** The document saved (built when its write starts, so a save that waited writes the latest state). */
  private readonly stateDoc = (): DaemonState => {
    const positions = this.source?.positions() ?? this.saved?.positions ?? [];
    const snap = this.pipeline.book.snapshot();
    return { bans: snap.bans, history: snap.history, ended: snap.ended ?? [], positions };
  };

  /** The control socket's handler: status, ban, unban, unbanAll (and reload, above). */
  status(rule?: string, opts: { brief?: boolean } = {}): StatusReport {
    return buildStatusReport(this.statusSources(), rule, opts);
  }

  /** status() built in slices (the control server asks this one: 500,000 bans took 0.75 s of one block; review H34). */
  async statusInSlices(rule?: string, opts: { brief?: boolean } = {}): Promise<StatusReport> {
    await this.lookAtLogSizes();
    return runYielding(statusReportSteps(this.statusSources(), rule, opts));
  }

  /**
   * The logs' sizes learned now, for the lag `status` shows; waited for STATUS_SIZE_WAIT_MS at most (a
   * log on a mount that hangs: its last size known is shown). Never a synchronous look (LineSource.lagBytes).
   */
  private async lookAtLogSizes(): Promise<void> {
    const look = this.source?.lookAtSizes?.();
    if (look === undefined) return;
    let timer: TimerHandle | null = null;
    await Promise.race([look, new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, STATUS_SIZE_WAIT_MS)))]);
    if (timer !== null) this.clock.clearTimeout(timer);
  }

  private statusSources(): StatusSources {
    return {
      instance: this.config.instance,
      enforcer: this.deps.enforcer.name,
      startedAt: this.startedAt,
      now: this.clock.now(),
      positions: this.source?.positions() ?? [],
      lagBytes: this.source?.lagBytes() ?? 0,
      watched: this.source?.watched?.(),
      progress: this.source?.progress?.(),
      detector: this.pipeline.detector,
      book: this.pipeline.book,
      rules: this.config.rules,
      health: {
        stateError: this.keeper.error,
        // A state file set aside at start (corrupt, another version, writable by others): its bans were not restored.
        ...(typeof this.deps.store.refused === 'string' && { stateRefused: this.deps.store.refused }),
        enforceFailing: this.queue.failing,
        refused: this.queue.refusedTotal,
        repairs: this.repairs,
        checkFailing: this.checkFailing,
        skewedLines: this.pipeline.stats.skewed,
        staleLines: this.pipeline.stats.stale,
        ...this.logBehindHealth(),
        ...(this.group && { shareConnected: this.group.connected }),
        unbansPending: this.unbansPending().map((u) => (u.scope === undefined ? u.ip : `${u.ip} ${u.scope}`)),
        ...this.forwardedHealth(),
      },
      firewall: this.firewallState,
    };
  }

  /** health.logBehind while every line read for a minute or more was too old to count (a field older CLIs ignore). */
  private logBehindHealth(): { logBehind?: { lines: number; newestLine: string; behindSeconds: number } } {
    const r = this.pipeline.logBehind(this.clock.now());
    return r === undefined ? {} : { logBehind: { lines: r.lines, newestLine: formatTime(r.newestLine), behindSeconds: Math.round(r.behindMs / 1000) } };
  }

  /**
   * health.forwardedClients (a field older CLIs ignore: see the patch for src/control): clients were
   * read from forwarded fields that this enforcer may not hold, how many lines, and what to configure.
   */
  private forwardedHealth(): { forwardedClients?: { lines: number; note: string } } {
    const lines = this.pipeline.stats.forwarded;
    if (lines === 0) return {};
    const note = forwardedClientsNote(this.deps.enforcer.name, this.config.trustedProxies, this.forwardedExample);
    return note === null ? {} : { forwardedClients: { lines, note } };
  }

  /** Unbans the firewall has not applied (only while its batches are rejected). */
  private unbansPending(): { ip: string; scope?: string }[] {
    return this.queue.failing > 0 ? this.pipeline.book.unappliedUnbans(this.clock.now()) : [];
  }

  /**
   * Whether the firewall holds `b` now: refused (the kernel refused that element), retrying (the last
   * batch was rejected as a whole and its entries wait to be sent again), else held (in flight counts
   * as held: a batch takes milliseconds).
   */
  private readonly firewallState = (b: Ban): FirewallState => {
    if (this.queue.isRefused(scopedKey(b.ip, b.scope))) return 'refused';
    return this.queue.failing > 0 && this.pipeline.book.heldUnknown(b.ip, b.scope) ? 'retrying' : 'held';
  };

  /** `ip` may be a network (a CIDR ban, validated by the ban book); refused up front by an enforcer that cannot hold one. */
  async ban(ip: string, opts: { rule?: string; forMs: number | null; permanent?: boolean; container?: string }): Promise<BanReply> {
    this.restored('ban');
    if (isNetwork(ip) && this.deps.enforcer.cidr !== true) {
      throw new BanhammerError('BH_ERR_USAGE', `the ${this.deps.enforcer.name} enforcer cannot ban a network (${ip})`, { hint: 'ban single addresses, or run the iptables or nftables enforcer' });
    }
    const target = opts.container === undefined ? undefined : containerFor(this.config, this.containers, opts.container, { held: this.heldScopes, use: 'ban' });
    // `--for permanent`: never expires, even under a rule whose bantime (what forMs null means) is finite.
    const forMs = opts.permanent === true ? PERMANENT : opts.forMs;
    // Sharing: a shorter manual ban does not shorten a longer one held here (the group keeps the
    // longest, and so does every other replica): `banhammer unban` first, then ban (review H43).
    const ban = this.pipeline.banManually(ip, { rule: opts.rule, forMs, now: this.clock.now(), ...(target && { scope: target.id, scopeName: target.name }), ...(this.group !== undefined ? { keepLonger: true } : {}) });
    // A shorter ban than this replica's own in force is not made (the answer's heldUntil says until
    // when the address is held): published, the share stage took it for this replica's ban of the
    // address in place of the longer one the book and the group hold; reported, the log and the
    // notifications announced a ban nothing holds.
    if (this.pipeline.book.holds(ban)) {
      this.group?.published(ban);
      this.unreported.push(ban);
    }
    await this.queue.flush();
    return { ip: ban.ip, family: ban.family, rule: ban.rule, at: ban.at, until: ban.until, nth: ban.nth, container: ban.scope === undefined ? null : (ban.scopeName ?? null), firewall: this.firewallState(ban), heldUntil: heldUntilOf(this.pipeline.book.effectiveUntil(ban.ip, this.clock.now(), ban.scope), ban.until) };
  }

  async unban(ip: string, opts: { container?: string } = {}): Promise<number> {
    this.restored('unban');
    const scope = opts.container === undefined ? undefined : containerFor(this.config, this.containers, opts.container, { held: this.heldScopes, use: 'unban' }).id;
    const removed = this.pipeline.unban(ip, scope, { at: this.clock.now(), by: 'control' });
    // The group's ban is lifted too when none was held here (see GroupLink.unban): the answer counts it.
    const group = this.group?.unban(ip, scope, removed);
    group?.catch(() => undefined); // (its error is the answer, once the lift is applied)
    await this.lift(removed, 'manual');
    const n = removed.length + ((await group) ?? 0);
    // Lifted in the book, but the firewall still drops the address while the batch is retried:
    // answering "lifted" would be false (review: helper). The unban stands and is applied on retry.
    this.throwIfUnapplied(removed, `${n} ban${n === 1 ? '' : 's'} of ${ip}`);
    return n;
  }

  /**
   * Lifted in the book, but the firewall still drops the address while its batches are rejected:
   * answering "lifted" would be false (review: helper). The unban stands and is applied on retry.
   */
  private throwIfUnapplied(removed: readonly Ban[], what: string): void {
    const pending = new Set(this.unbansPending().map((u) => scopedKey(u.ip, u.scope)));
    if (!removed.some((b) => pending.has(scopedKey(b.ip, b.scope)))) return;
    throw new BanhammerError('BH_ERR_FIREWALL', `lifted ${what} in the ban book, but the firewall has not applied it yet: its last batch failed (the agent's log says why); it is retried every second`, {
      hint: 'banhammer status shows what the firewall still drops; the unban needs nothing more from you',
    });
  }

  /** Refuses a change while the saved bans are not restored yet (see `restoring`). */
  private restored(what: string): void {
    if (this.restoring === null) return;
    throw new BanhammerError('BH_ERR_CONTROL', `banhammer is still starting (restoring its saved bans); ${what} was not done`, {
      hint: 'try again in a moment',
    });
  }

  /** `banhammer why`: `ip` is canonical (the protocol canonicalised it): an address or a network. */
  why(ip: string): WhyReport {
    const target = canonicalTarget(ip);
    if (target === null) throw new BanhammerError('BH_ERR_ADDRESS', `not an IP address or network: ${JSON.stringify(ip.slice(0, 100))}`);
    const address = !isNetwork(target.ip);
    return buildWhyReport({
      instance: this.config.instance,
      now: this.clock.now(),
      target,
      book: this.pipeline.book,
      pending: address ? this.pipeline.pendingEvidence(target.ip) : [],
      allowlisted: address && this.pipeline.isAllowlisted(target.ip),
      historySize: this.config.banHistory ?? 1000,
      containerName: this.scopeName,
      firewall: this.firewallState,
      unbanPending: this.unbansPending().some((u) => u.ip === target.ip),
      ...(this.group && { group: (active) => this.groupBansNotHeld(target.ip, active) }),
    });
  }

  /**
   * The group's bans of `ip` this agent does not hold: of `ip` itself and of every wider network
   * holding it (an address's, or a network's), as the book's own answer (about) counts a network ban
   * for what is in it. The group names a network by its canonical text only, so each prefix is asked
   * (at most 128 lookups in memory): a group /24 left out here (no network in this enforcer, or wider
   * than BANHAMMER_SHARE_MIN_PREFIX4) was missing from `why` of an address every other replica drops.
   */
  private groupBansNotHeld(ip: string, active: readonly Ban[]): ReturnType<GroupLink['notHeld']> {
    const names = [ip];
    const slash = ip.indexOf('/');
    const address = slash < 0 ? ip : ip.slice(0, slash);
    const prefix = slash < 0 ? (ip.includes(':') ? 128 : 32) : Number(ip.slice(slash + 1));
    for (let p = prefix - 1; p >= 0; p--) {
      const n = canonicalTarget(`${address}/${p}`);
      if (n !== null) names.push(n.ip);
    }
    return names.flatMap((n) => this.group!.notHeld(n, active));
  }

  /**
   * `banhammer unban --all`: every ban held when it is asked is lifted, address by address (as
   * `unban` lifts one, forgetting its failures), UNBAN_ALL_SLICE bans at a time with a turn of the
   * event loop between two, each slice its own batch: lifting the book's 500,000 bans at once blocked
   * the agent for 9 s (review H34). A ban made meanwhile stays.
   */
  async unbanAll(): Promise<number> {
    this.restored('unban --all');
    const cause = { at: this.clock.now(), by: 'control-all' };
    const held = this.pipeline.book.active();
    const removed: Ban[] = [];
    const lifts: Promise<void>[] = [];
    for (let i = 0; i < held.length; i += UNBAN_ALL_SLICE) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      // Each ban held when it was asked, if it still is: lifting each address's bans took a ban
      // made meanwhile (a detected one, `banhammer ban`) too, answered "banned" and never enforced.
      const slice = this.pipeline.unbanHeld(held.slice(i, i + UNBAN_ALL_SLICE), cause);
      removed.push(...slice);
      lifts.push(this.lift(slice, 'all'));
    }
    const group = this.group?.unbanAll(removed);
    group?.catch(() => undefined);
    await Promise.all(lifts);
    const n = removed.length + ((await group) ?? 0);
    this.throwIfUnapplied(removed, `${n} ban${n === 1 ? '' : 's'}`);
    return n;
  }
}

/** Until when the firewall holds an address: the book's effective expiry (null: permanently), or the ban's own when the book has none. */
function heldUntilOf(effective: number | null | undefined, own: number | null): number | null {
  return effective === undefined ? own : effective;
}
