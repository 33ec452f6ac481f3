/**
 * `banhammer run`: assembles the live agent from a validated Config with the real side effects —
 * the tailer, the enforcer (iptables+ipset, or the dry-run log), the state store, the control socket,
 * the metrics listener and pino — starts it, and keeps it running until SIGTERM/SIGINT (clean
 * shutdown: this instance's chain, jumps and sets are removed) or a fatal start-up error (one clear
 * line, non-zero exit). SIGHUP re-reads the configuration (one that comes while the agent starts, once
 * it has started); an invalid one is logged and ignored.
 */
import { join } from 'node:path';
import { systemClock } from './clock.js';
import type { Config } from './config/schema.js';
import { Daemon, type DaemonState } from './daemon.js';
import { isBanhammerError, BanhammerError } from './errors.js';
import { StateStore } from './decide/state-store.js';
import { createTailer } from './source/tailer.js';
import { isFilePosition } from './source/line-source.js';
import { IptablesEnforcer } from './enforce/iptables.js';
import { LogEnforcer, type LogSink } from './enforce/dry-run.js';
import { NO_CIDR_REASON } from './enforce/iptables-args.js';
import { isNetwork } from './parse/ip.js';
import { ApacheMapEnforcer } from './enforce/apache-map.js';
import { NginxMapEnforcer } from './enforce/nginx-map.js';
import { DockerUserEnforcer } from './enforce/docker-user.js';
import { NftablesEnforcer } from './enforce/nftables.js';
import { InstanceClaim } from './enforce/instance-claim.js';
import { isHostMode } from './docker/host-mode.js';
import { decideEnforcer, probeEnforcerFacts } from './enforce/auto.js';
import { withSetting } from './config/settings.js';
import { ContainerDirectory, containersDirFor } from './docker/containers.js';
import { holdsNetworks, type ApplyResult, type Enforcer, type EnforcerBan, type EnforcerBatch, type KernelReading, type RefusedEntry } from './enforce/enforcer.js';
import { ProcessRunner } from './exec/runner.js';
import { startControlServer, type ControlServer } from './control/server.js';
import type { MetricsServer } from './metrics/server.js';
import { createLogger, type Logger } from './log.js';
import { configuredTargets } from './notify/targets-config.js';

export interface RunOptions {
  readonly config: Config;
  /** Re-reads the configuration (SIGHUP). */
  readonly reloadConfig: () => Config;
  /** Log what would be banned instead of touching the firewall. */
  readonly dryRun?: boolean;
  readonly version: string;
  /** Stops the agent like SIGTERM when aborted (tests and embedders). */
  readonly signal?: AbortSignal;
  /** Called once the agent's code and configuration are loaded, before it reads its state and starts. */
  readonly onLoaded?: () => void;
  /** Called once the agent has work (DaemonDeps.onBusy): heap-policy.ts releases the optimizing compiler then. */
  readonly onBusy?: () => void;
  /** Called once the agent has started (its saved bans restored and in the kernel; heap-policy.ts limits the heap's growth from then on). */
  readonly onStarted?: () => void;
}

const STATE_VERSION = 1;

export function validateState(raw: unknown): DaemonState {
  if (typeof raw !== 'object' || raw === null) throw new Error('state is not an object');
  const r = raw as Record<string, unknown>;
  if (!Array.isArray(r.bans) || !Array.isArray(r.history) || !Array.isArray(r.positions)) {
    throw new Error('state lacks bans, history or positions');
  }
  const isBan = (b: unknown): boolean => {
    const x = b as Record<string, unknown>;
    return (
      typeof x === 'object' && x !== null && typeof x.ip === 'string' && typeof x.rule === 'string' &&
      typeof x.at === 'number' && (x.until === null || typeof x.until === 'number') && typeof x.nth === 'number'
    );
  };
  const isHistory = (h: unknown): boolean => {
    const x = h as Record<string, unknown>;
    return typeof x === 'object' && x !== null && typeof x.ip === 'string' && typeof x.rule === 'string' && typeof x.count === 'number';
  };
  return {
    bans: r.bans.filter(isBan) as DaemonState['bans'],
    history: r.history.filter(isHistory) as DaemonState['history'],
    // Ended bans (with their evidence) came later: absent in older files; every field is checked by BanBook.restore.
    ended: (Array.isArray(r.ended) ? r.ended.filter(isBan) : []) as NonNullable<DaemonState['ended']>,
    positions: r.positions.filter(isFilePosition),
  };
}

export { holdsNetworks } from './enforce/enforcer.js';

/**
 * The log enforcer of `run --dry-run` for an agent configured with another enforcer: it holds networks
 * only when that enforcer would (holdsNetworks), so a dry run refuses what the real one refuses (a
 * manual network ban up front, a restored or shared one left out) instead of logging "would ban
 * 198.18.0.0/24" for an enforcer that cannot.
 */
export class DryRunEnforcer implements Enforcer {
  readonly name = 'log';
  readonly cidr: boolean;
  private readonly log: LogEnforcer;
  constructor(private readonly out: LogSink, readonly of: Config['enforcer'], hostMode = false) {
    this.log = new LogEnforcer(out);
    this.cidr = holdsNetworks(of, hostMode);
  }

  get lastReading(): KernelReading | undefined {
    return this.log.lastReading;
  }

  init(): Promise<void> {
    return this.log.init();
  }

  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    if (this.cidr) return this.log.apply(batch);
    // As the real enforcer does (iptables-args.ts clientAddress): a network is refused, its unban skipped.
    const refused: RefusedEntry[] = [];
    const ban = batch.ban.filter((b) => {
      if (typeof b.ip !== 'string' || !isNetwork(b.ip)) return true;
      refused.push({ ip: b.ip, family: b.family, ...(b.scope !== undefined ? { scope: b.scope } : {}), reason: NO_CIDR_REASON });
      this.out({ action: 'reject', ip: b.ip, text: `would reject ${JSON.stringify(b.ip)}: ${NO_CIDR_REASON} (${this.of})` });
      return false;
    });
    const unban = batch.unban.filter((u) => typeof u.ip !== 'string' || !isNetwork(u.ip));
    const r = await this.log.apply({ ban, unban });
    return { refused: [...refused, ...r.refused] };
  }

  check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    // What this enforcer would hold: no network when it cannot hold one.
    return this.log.check(this.cidr ? expected : () => expected().filter((b) => typeof b.ip !== 'string' || !isNetwork(b.ip)));
  }

  shutdown(): Promise<void> {
    return this.log.shutdown();
  }

  /** Addresses the real enforcer would hold now (LogEnforcer.active). */
  active(): ReturnType<LogEnforcer['active']> {
    return this.log.active();
  }
}

/** `claimInstance`: false only for `banhammer teardown`, which holds the instance's claim itself. */
function createEnforcer(config: Config, dryRun: boolean, logger: Logger, containers: ContainerDirectory | undefined, claimInstance = true): Enforcer {
  if (dryRun || config.enforcer === 'log') {
    return new DryRunEnforcer((rec) => logger.info({ enforcer: 'log', ...rec }, `would ${rec.action}`), config.enforcer, isHostMode(config));
  }
  if (config.enforcer === 'iptables') {
    return new IptablesEnforcer({
      runner: new ProcessRunner({ timeoutMs: 10_000 }),
      instance: config.instance,
      ports: config.ports,
      blockAction: config.blockAction === 'REJECT' ? 'reject' : 'drop',
      mode: config.iptablesMode,
      cidr: true,
      claimInstance,
    });
  }
  if (config.enforcer === 'nftables') {
    return new NftablesEnforcer({
      runner: new ProcessRunner({ timeoutMs: 10_000 }),
      instance: config.instance,
      ports: config.ports,
      blockAction: config.blockAction === 'REJECT' ? 'reject' : 'drop',
      cidr: true,
      claimInstance,
      ...(containers !== undefined ? { host: { containers, onNote: (msg: string) => logger.info({ enforcer: 'nftables' }, msg) } } : {}),
    });
  }
  if (config.enforcer === 'apache-map') {
    // Bans SDBM could not hold (crafted hash collisions) cost Apache a linear read: said, never dropped.
    return new ApacheMapEnforcer({
      path: config.mapFile,
      onOverflow: (entries, message) => {
        if (entries > 0) logger.warn({ enforcer: 'apache-map', overflowEntries: entries }, message);
        else logger.info({ enforcer: 'apache-map', overflowEntries: entries }, message);
      },
    });
  }
  if (config.enforcer === 'nginx-map') {
    return new NginxMapEnforcer({ path: config.mapFile, runner: new ProcessRunner({ timeoutMs: 10_000 }), reloadCommand: config.nginxReload });
  }
  if (config.enforcer === 'docker-user' && containers !== undefined) {
    return new DockerUserEnforcer({
      runner: new ProcessRunner({ timeoutMs: 10_000 }),
      instance: config.instance,
      containers,
      blockAction: config.blockAction === 'REJECT' ? 'reject' : 'drop',
      mode: config.iptablesMode,
      onNote: (msg) => logger.info({ enforcer: 'docker-user' }, msg),
      onWarning: (msg) => logger.warn({ enforcer: 'docker-user' }, msg),
      claimInstance,
    });
  }
  throw new BanhammerError('BH_ERR_CONFIG', `enforcer ${JSON.stringify(config.enforcer)} is not available in this version`, {
    hint: 'use BANHAMMER_ENFORCER=iptables, nftables, docker-user, apache-map or nginx-map (or log for a dry run)',
  });
}

/** The enforcer `auto` stands for on this host, with the reason logged once. */
async function resolveAuto(config: Config, logger: Logger): Promise<Config> {
  const facts = await probeEnforcerFacts(new ProcessRunner({ timeoutMs: 10_000 }), isHostMode(config));
  const { enforcer, why } = decideEnforcer(facts);
  logger.info({ enforcer, why, facts }, `enforcer auto: chose ${enforcer} (${why})`);
  return withSetting(config, 'enforcer', enforcer);
}

/**
 * `banhammer teardown` (hidden; the image's banhammer-shutdown): removes this instance's firewall
 * state when the agent cannot, i.e. it was killed (OOM, a crash) and is waiting out its restart
 * back-off, it stopped for good, or it overstayed its stop budget and was killed. The same enforcer
 * the agent would build from the same configuration, and its own shutdown(): nothing else is
 * touched (another instance's objects have other names). The instance name's claim first
 * (instance-claim.ts): while another live agent in this network namespace holds it, the objects are
 * that agent's, and acquire() refuses (BH_ERR_CONFIG, nothing removed).
 */
export async function teardownFirewall(read: Config): Promise<void> {
  const logger = createLogger({ level: read.logLevel });
  const config = read.enforcer === 'auto' ? await resolveAuto(read, logger) : read;
  const containers = isHostMode(config)
    ? new ContainerDirectory({ dir: containersDirFor(config.dockerContainersDir, config.log.paths), onWarning: (msg) => logger.warn({}, msg) })
    : undefined;
  const claim = new InstanceClaim(config.instance);
  await claim.acquire();
  try {
    await createEnforcer(config, false, logger, containers, false).shutdown();
  } finally {
    await claim.release();
  }
}

/** Runs until a stop signal; resolves with the exit code. */
export async function runAgent(opts: RunOptions): Promise<number> {
  const logger = createLogger({ level: opts.config.logLevel });
  // BANHAMMER_ENFORCER=auto: decided once, from what the host runs, before anything is created. A dry
  // run decides it too in host mode (read-only probes), where the choice (docker-user or nftables)
  // decides whether networks can be banned; elsewhere both choices hold them.
  const config = opts.config.enforcer === 'auto' && (opts.dryRun !== true || isHostMode(opts.config)) ? await resolveAuto(opts.config, logger) : opts.config;
  const settle = (read: Config): Config => (read.enforcer === 'auto' && opts.config.enforcer === 'auto' ? withSetting(read, 'enforcer', config.enforcer) : read);
  // Host mode: one view of Docker's containers directory, shared by scoping and the enforcer.
  const containers =
    isHostMode(config)
      ? new ContainerDirectory({ dir: containersDirFor(config.dockerContainersDir, config.log.paths), onWarning: (msg) => logger.warn({}, msg) })
      : undefined;
  const enforcer = createEnforcer(config, opts.dryRun ?? false, logger, containers);
  // prom-client is loaded only when metrics are served (it is a tenth of the agent's idle memory).
  const notifyTargets = Object.keys(configuredTargets(config.notify).targets);
  const metrics =
    config.metricsAddr === null
      ? undefined
      : (await import('./metrics/registry.js')).createMetrics({ version: opts.version, rules: Object.keys(config.rules), enforcer: enforcer.name, share: config.share.redisUrl !== null, files: config.log.paths, notifyTargets });
  const store = new StateStore<DaemonState>({
    dir: config.stateDir,
    name: `state-${config.instance}`,
    version: STATE_VERSION,
    validate: validateState,
    onWarning: (msg) => logger.warn({}, msg),
  });
  // node-redis is loaded only when this agent shares bans with a group.
  const share =
    config.share.redisUrl === null || config.share.group === null
      ? undefined
      : (await import('./share/share.js')).createRedisShare(
          { url: config.share.redisUrl, passwordFile: config.share.passwordFile, keyFile: config.share.keyFile, group: config.share.group, maxBans: config.share.maxBans, outboxPath: join(config.stateDir, `share-outbox-${config.instance}.json`) },
          { clock: systemClock, log: logger, onLag: (ms) => metrics?.shareLag(ms / 1000) },
        );
  // Notifications: the HTTP/SMTP code is loaded only when a target is configured; secret files are read now.
  const notifier =
    notifyTargets.length === 0
      ? undefined
      : ((await import('./notify/notifier.js')).createNotifier(config.notify, {
          clock: systemClock,
          log: logger,
          instance: config.instance,
          version: opts.version,
          metrics: metrics && { sent: (t) => metrics.notifySent(t), failed: (t) => metrics.notifyFailed(t), dropped: (t, n) => metrics.notifyDropped(t, n), queued: (t, n) => metrics.notifyQueued(t, n) },
        }) ?? undefined);
  if (notifier !== undefined) logger.info({ targets: notifier.names, events: config.notify.events }, 'notifications on');
  const daemon = new Daemon({
    config,
    clock: systemClock,
    logger,
    enforcer,
    store,
    metrics,
    createSource: (o) => createTailer({ ...o, clock: systemClock }),
    reloadConfig: () => {
      try {
        return settle(opts.reloadConfig());
      } catch (err) {
        logger.error({ err: isBanhammerError(err) ? err.message : String(err) }, 'reload failed; keeping the running configuration');
        throw err;
      }
    },
    onReloaded: (next) => {
      logger.level = next.logLevel;
    },
    ...(containers !== undefined ? { containers } : {}),
    share,
    notifier,
    ...(opts.onBusy !== undefined ? { onBusy: opts.onBusy } : {}),
  });

  let control: ControlServer | null = null;
  let metricsServer: MetricsServer | null = null;
  const closeServers = async (): Promise<void> => {
    await control?.close().catch(() => {});
    await metricsServer?.close().catch(() => {});
  };

  // Signal handlers first: a SIGTERM that arrives while start-up is still waiting (a slow firewall,
  // a log path that blocks) must still stop the agent and remove what it created.
  let stopping: Promise<number> | null = null;
  let started = false;
  let resolveStopped: (code: number) => void = () => {};
  /** Resolves with the exit code once a stop signal has been handled. */
  const stopped = new Promise<number>((r) => (resolveStopped = r));
  const stop = (signal: string): Promise<number> =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'stopping');
      let code = 0;
      try {
        await closeServers();
        await daemon.stop();
        if (!started) await enforcer.shutdown();
      } catch (err) {
        logger.error({ err: isBanhammerError(err) ? err.message : String(err) }, 'clean shutdown failed');
        code = 1;
      }
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      resolveStopped(code);
      return code;
    })());
  const onTerm = (): void => void stop('SIGTERM');
  const onInt = (): void => void stop('SIGINT');
  // A SIGHUP while the agent starts (restoring its bans, waiting for the xtables lock) was dropped
  // without a word: the operator's new allowlist never applied (review H51). It is kept, and the
  // configuration re-read once the agent has started (`banhammer reload` is answered meanwhile).
  let reloadWanted = false;
  const onHup = (): void => {
    if (!started) {
      if (!reloadWanted) logger.info({}, 'SIGHUP while starting: the configuration is re-read once the agent has started');
      reloadWanted = true;
      return;
    }
    try {
      daemon.reload();
    } catch {
      // logged by reloadConfig
    }
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  opts.signal?.addEventListener('abort', () => void stop('abort'), { once: true });

  try {
    // The control socket first: it refuses to start when another live agent answers on it, before
    // anything touches the firewall that agent owns. The daemon is the handler: nothing is dropped.
    daemon.willStart();
    control = await startControlServer({
      socketPath: config.socketPath,
      handler: daemon,
      onError: (e) => logger.warn({ err: String(e) }, 'control socket error'),
    });
    opts.onLoaded?.();
    const starting = daemon.start();
    starting.catch(() => {}); // a start-up that fails after a stop signal has nothing left to report
    if ((await Promise.race([starting.then(() => 'started' as const), stopped.then(() => 'stopped' as const)])) === 'stopped') return stopped;
    if (stopping === null && config.metricsAddr !== null && metrics !== undefined) {
      const { startMetricsServer } = await import('./metrics/server.js');
      metricsServer = await startMetricsServer(config.metricsAddr, metrics);
      logger.info({ address: `${metricsServer.address}:${metricsServer.port}` }, 'metrics listening');
    }
    started = true;
    if (reloadWanted) onHup();
    opts.onStarted?.();
  } catch (err) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
    if (stopping !== null) return stopping;
    const ownedByOther = control === null;
    await closeServers();
    await daemon.stop().catch(() => {});
    // Remove whatever a half-done init created (a no-op when nothing was) — unless the socket
    // belongs to another running agent, whose rules these are.
    if (!ownedByOther) await enforcer.shutdown().catch(() => {});
    throw err;
  }
  return stopped;
}
