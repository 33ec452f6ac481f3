/**
 * Prometheus metrics: a private prom-client Registry (never the global default, and without Node's
 * default process metrics, so /metrics is exactly what this file declares) behind a typed facade the
 * daemon calls.
 *
 * Conventions (node_exporter): every name starts with `banhammer_`, counters end in `_total`, units
 * are in names (`_bytes`, `_seconds`), label sets are small and fixed. Addresses are never labels.
 * Free-text label values (`what` of a repair, rule and enforcer names) are capped at
 * MAX_LABEL_VALUES distinct values per metric; later ones are counted under "other", so a bug
 * upstream (or a rule name planted in the shared Redis) cannot explode the series count. The rules
 * of this agent's configuration (declareRule) are not capped: they always have series of their own.
 *
 * Cost: the per-line path is the daemon's; it adds in batches (`lines(n)`, `parseSkipped(reason, n)`),
 * and each call is one Map lookup plus one addition. Series for known label values (skip reasons,
 * unban reasons, families, declared rules and enforcer) exist from the start at 0, so rate() works
 * from the first scrape.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SKIP_REASONS, type SkipReason } from '../parse/access-event.js';
import { MANUAL_RULE } from '../decide/ban-book.js';
import type { KernelReading } from '../enforce/enforcer.js';

export const UNBAN_REASONS = ['expired', 'manual', 'all', 'allowlisted', 'group', 'cap'] as const;
export type UnbanReason = (typeof UNBAN_REASONS)[number];

/** Enforcement latency buckets, seconds: 0.5 ms … 5 s. */
export const ENFORCE_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const MAX_LABEL_VALUES = 64;
export const OVERFLOW_LABEL = 'other';

export interface MetricsOptions {
  /** For banhammer_build_info; defaults to "unknown". */
  version?: string;
  /** Rule names whose series should exist (at 0) before their first event. */
  rules?: readonly string[];
  /** The enforcer's name, for the same reason. */
  enforcer?: string;
  /** This agent shares bans with a group through Redis: the share series exist. */
  share?: boolean;
  /** Notification target names (src/notify): the notification series exist, at 0, for each. */
  notifyTargets?: readonly string[];
  /** The configured log paths (or globs): the per-file series exist from the start. */
  files?: readonly string[];
}

export interface Metrics {
  readonly registry: Registry;
  /** Content-Type of render()'s output. */
  readonly contentType: string;
  /** Adds n access-log lines read (parsed or skipped). */
  lines(n: number): void;
  /** Adds n lines skipped for `reason` (default 1). */
  parseSkipped(reason: SkipReason, n?: number): void;
  /** Adds n elements the kernel (or map) refused and that were left out of their batch. */
  enforceRefused(enforcer: string, n?: number): void;
  /** Adds n failed state saves (full or read-only disk). */
  stateSaveError(n?: number): void;
  /** Adds n lines stamped further in the future than the tolerance (taken as happening now). */
  skewedLines(n: number): void;
  /** Adds n lines stamped too long ago for any rule's findtime (not counted). */
  staleLines(n: number): void;
  /** Adds n bans refused because the ban book held BANHAMMER_MAX_BANS (or a container its share). */
  bansRefusedAtCap(n: number): void;
  /** Sharing: is Redis reachable, and how many operations wait in the outbox. */
  share(connected: boolean, outboxDepth: number): void;
  /** Sharing: how long a ban or unban took from the replica that made it to this one. */
  shareLag(seconds: number): void;
  /** Sharing: adds bans and unbans received from the group (in) and published to it (out). */
  shareTraffic(d: { bansIn: number; bansOut: number; unbansIn: number; unbansOut: number; invalid: number }): void;
  ruleMatches(rule: string, n: number): void;
  /**
   * A rule that runs now (a reload may switch one on): its per-rule series exist from here on, at 0,
   * so rate() and increase() see its first failures and bans (a series born at its first value
   * hides that value from them). Idempotent; capped like every free-text label.
   */
  declareRule(rule: string): void;
  banned(rule: string, n?: number): void;
  unbanned(rule: string, reason: UnbanReason, n?: number): void;
  /** Sets the active-ban gauges (distinct addresses per family). */
  activeBans(v4: number, v6: number): void;
  enforceDuration(enforcer: string, seconds: number): void;
  enforceError(enforcer: string, n?: number): void;
  /** Times `fn` into the enforce histogram and counts an error when it throws. */
  timeEnforce<T>(enforcer: string, fn: () => Promise<T>): Promise<T>;
  tailLag(bytes: number): void;
  trackedAddresses(rule: string, n: number): void;
  /** Adds n repairs; `what` is an enforcer's repair line, counted under its kind (repairKind). */
  repaired(what: string, n?: number): void;
  /** The agent started at `ms` (epoch ms): banhammer_start_time_seconds. */
  started(ms: number): void;
  /**
   * A self-check (the enforcer's comparison of the kernel with the ban book) succeeded at `ms`; with
   * what it read back when the enforcer reads back (kernel entries, drift found and repaired).
   */
  checked(ms: number, enforcer: string, reading?: KernelReading | undefined): void;
  /** A self-check threw (the kernel could not be read or repaired). */
  checkFailed(): void;
  /** apache-map: bans in the map that the web server reads line by line (Enforcer.overflowEntries). */
  mapOverflow(enforcer: string, entries: number): void;
  /** One configured log path (or glob): seconds behind, wall time (epoch s) of the last line read, lines read since the last call. */
  logFile(file: string, d: { lagSeconds: number; lastLineSeconds: number; lines: number }): void;
  /** Notifications: a message delivered to `target`. */
  notifySent(target: string): void;
  /** Notifications: a delivery attempt to `target` failed (retries included). */
  notifyFailed(target: string): void;
  /** Notifications: n messages for `target` given up (after retries, queue full, shutdown). */
  notifyDropped(target: string, n?: number): void;
  /** Notifications: messages waiting for (or being sent to) `target`. */
  notifyQueued(target: string, n: number): void;
  /** The text exposition format. */
  render(): Promise<string>;
}

/**
 * Caches label children and caps distinct values: past MAX_LABEL_VALUES values met along the way,
 * later ones are counted under OVERFLOW_LABEL. A value declared (a rule of this agent's own
 * configuration, at start or switched on by a reload) always has its own series and does not count
 * against the cap: rule names met along the way include those of bans shared by other replicas
 * (Redis), and 64 of them must not leave a rule this agent runs counted under "other".
 */
class Children<C> {
  private readonly map = new Map<string, C>();
  private readonly declared = new Set<string>();
  constructor(private readonly make: (value: string) => C) {}

  /** The child of a value of the configuration's own: never capped. */
  declare(value: string): C {
    this.declared.add(value);
    let c = this.map.get(value);
    if (c === undefined) {
      c = this.make(value);
      this.map.set(value, c);
    }
    return c;
  }

  get(value: string): C {
    let c = this.map.get(value);
    if (c === undefined) {
      const v = this.map.size - this.declared.size >= MAX_LABEL_VALUES ? OVERFLOW_LABEL : value;
      c = this.map.get(v);
      if (c === undefined) {
        c = this.make(v);
        this.map.set(v, c);
      }
    }
    return c;
  }
}

/** The kinds of repair a label may name: a repair line names sets, chains and addresses, never a label. */
export const REPAIR_KINDS = ['set', 'chain', 'jump', 'container', 'table', 'map', 'elements', 'other'] as const;

/** The kind of an enforcer's repair line, by its first word ("set bh-web-v4 re-created …" → set). */
export function repairKind(line: string): (typeof REPAIR_KINDS)[number] {
  const first = /^[a-z]+/i.exec(line)?.[0]?.toLowerCase() ?? '';
  return (REPAIR_KINDS as readonly string[]).includes(first) ? (first as (typeof REPAIR_KINDS)[number]) : 'other';
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const lines = new Counter({ name: 'banhammer_lines_total', help: 'Access-log lines read, parsed or not.', registers });
  const skipped = new Counter({
    name: 'banhammer_parse_skipped_total',
    help: 'Access-log lines skipped by the parser, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const matches = new Counter({
    name: 'banhammer_rule_matches_total',
    help: 'Events that matched a rule.',
    labelNames: ['rule'] as const,
    registers,
  });
  const bans = new Counter({ name: 'banhammer_bans_total', help: 'Bans issued, by rule.', labelNames: ['rule'] as const, registers });
  const unbans = new Counter({
    name: 'banhammer_unbans_total',
    help: 'Bans lifted, by rule and reason (expired, manual, all, allowlisted, group, cap).',
    labelNames: ['rule', 'reason'] as const,
    registers,
  });
  const activeBans = new Gauge({
    name: 'banhammer_active_bans',
    help: 'Addresses currently banned, by address family.',
    labelNames: ['family'] as const,
    registers,
  });
  const enforceDuration = new Histogram({
    name: 'banhammer_enforce_duration_seconds',
    help: 'Time to apply one batch of bans and unbans.',
    labelNames: ['enforcer'] as const,
    buckets: [...ENFORCE_BUCKETS],
    registers,
  });
  const enforceErrors = new Counter({
    name: 'banhammer_enforce_errors_total',
    help: 'Enforcement batches that failed.',
    labelNames: ['enforcer'] as const,
    registers,
  });
  const enforceRefused = new Counter({
    name: 'banhammer_enforce_refused_total',
    help: 'Elements the kernel (or map) refused; each is left out of its batch, the rest applies.',
    labelNames: ['enforcer'] as const,
    registers,
  });
  const stateSaveErrors = new Counter({ name: 'banhammer_state_save_errors_total', help: 'State saves that failed (bans stay enforced; retried).', registers });
  const skewed = new Counter({ name: 'banhammer_skewed_lines_total', help: 'Log lines stamped in the future beyond the tolerance, counted as happening now.', registers });
  const stale = new Counter({ name: 'banhammer_stale_lines_total', help: "Log lines stamped too long ago for any rule's findtime, not counted (a backlog read late, or the log writer's clock behind).", registers });
  const refusedAtCap = new Counter({ name: 'banhammer_bans_refused_total', help: 'New bans refused because the agent held BANHAMMER_MAX_BANS bans (or one container a quarter of them, or those adopted from the group half of them).', registers });
  const shareConnected = opts.share
    ? new Gauge({ name: 'banhammer_share_connected', help: '1 while the shared-bans Redis is reachable, 0 during an outage.', registers })
    : null;
  const shareOutbox = opts.share
    ? new Gauge({ name: 'banhammer_share_outbox_operations', help: 'Bans and unbans waiting in the outbox for Redis to return.', registers })
    : null;
  const shareLag = opts.share
    ? new Histogram({ name: 'banhammer_share_propagation_seconds', help: 'From the replica that made a ban or unban to this one.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers })
    : null;
  const shareBans = opts.share
    ? new Counter({ name: 'banhammer_share_bans_total', help: 'Shared bans received from the group (in) and published to it (out).', labelNames: ['direction'] as const, registers })
    : null;
  const shareUnbans = opts.share
    ? new Counter({ name: 'banhammer_share_unbans_total', help: 'Shared unbans received from the group (in) and published to it (out).', labelNames: ['direction'] as const, registers })
    : null;
  const shareInvalid = opts.share
    ? new Counter({ name: 'banhammer_share_invalid_total', help: 'Values read from Redis that failed validation and were dropped.', registers })
    : null;
  if (shareBans && shareUnbans && shareInvalid) {
    for (const d of ['in', 'out']) {
      shareBans.labels(d).inc(0);
      shareUnbans.labels(d).inc(0);
    }
    shareInvalid.inc(0);
  }
  const tailLag = new Gauge({ name: 'banhammer_tail_lag_bytes', help: 'Bytes written to the watched logs but not yet read.', registers });
  const tracked = new Gauge({
    name: 'banhammer_tracked_addresses',
    help: 'Addresses with failures in a rule\'s window.',
    labelNames: ['rule'] as const,
    registers,
  });
  const repairs = new Counter({
    name: 'banhammer_repairs_total',
    help: 'Enforcement state re-created after it vanished, by what was repaired.',
    labelNames: ['what'] as const,
    registers,
  });
  const startTime = new Gauge({ name: 'banhammer_start_time_seconds', help: 'When the agent started, seconds since the epoch.', registers });
  const lastCheck = new Gauge({
    name: 'banhammer_last_check_success_timestamp_seconds',
    help: 'When the enforcer last compared the kernel with the ban book (and repaired) without error, seconds since the epoch; 0 before the first.',
    registers,
  });
  const checkFailures = new Counter({ name: 'banhammer_check_failures_total', help: 'Self-checks of the kernel state that failed (the kernel could not be read or repaired).', registers });
  const kernelBans = new Gauge({
    name: 'banhammer_kernel_bans',
    help: 'Ban entries the kernel held at the last self-check, read back from it (all of this agent\'s sets); absent for enforcers that do not read back.',
    labelNames: ['enforcer'] as const,
    registers,
  });
  const drift = new Gauge({
    name: 'banhammer_enforce_drift',
    help: 'Entries missing from the kernel plus entries nobody banned, found at the last self-check (and repaired by it); absent for enforcers that do not read back.',
    labelNames: ['enforcer'] as const,
    registers,
  });
  const driftEntries = new Counter({
    name: 'banhammer_enforce_drift_entries_total',
    help: 'Entries found missing from the kernel (kind=missing) or held without a ban (kind=stray) by self-checks, each repaired.',
    labelNames: ['kind'] as const,
    registers,
  });
  const mapOverflow = new Gauge({
    name: 'banhammer_map_overflow_entries',
    help: 'apache-map: bans whose addresses share their SDBM hash bits with too many others (crafted, most likely), held in a txt map Apache reads line by line for every client it has not cached; absent for other enforcers.',
    labelNames: ['enforcer'] as const,
    registers,
  });
  const logLag = new Gauge({
    name: 'banhammer_log_lag_seconds',
    help: 'Per configured log path: 0 when everything written was read; otherwise seconds since the agent last read a line or was caught up.',
    labelNames: ['file'] as const,
    registers,
  });
  const logLastLine = new Gauge({
    name: 'banhammer_log_last_line_timestamp_seconds',
    help: 'Per configured log path: when the agent last read a line (wall clock, not the line\'s own time), or started; seconds since the epoch.',
    labelNames: ['file'] as const,
    registers,
  });
  const logLines = new Counter({
    name: 'banhammer_log_lines_read_total',
    help: 'Lines read per configured log path (or glob).',
    labelNames: ['file'] as const,
    registers,
  });
  // Notifications (src/notify): only when targets are configured; `target` is the operator's name.
  const notifyTargets = opts.notifyTargets ?? [];
  const notify =
    notifyTargets.length === 0
      ? null
      : {
          sent: new Counter({ name: 'banhammer_notifications_sent_total', help: 'Notifications delivered, by target.', labelNames: ['target'] as const, registers }),
          failed: new Counter({ name: 'banhammer_notifications_failed_total', help: 'Notification delivery attempts that failed (retries included), by target.', labelNames: ['target'] as const, registers }),
          dropped: new Counter({ name: 'banhammer_notifications_dropped_total', help: 'Notifications given up (after the last retry, queue full, or at shutdown), by target.', labelNames: ['target'] as const, registers }),
          queued: new Gauge({ name: 'banhammer_notifications_queued', help: 'Notifications waiting to be delivered (the one being sent included), by target.', labelNames: ['target'] as const, registers }),
        };
  const buildInfo = new Gauge({
    name: 'banhammer_build_info',
    help: 'Always 1; the version is in the label.',
    labelNames: ['version'] as const,
    registers,
  });
  buildInfo.labels(opts.version ?? 'unknown').set(1);

  // A counter child appears in the output once incremented; inc(0) makes its series exist at 0.
  const born = <C extends { inc(n: number): void }>(c: C): C => (c.inc(0), c);
  const skippedBy = new Children((r) => born(skipped.labels(r)));
  const matchesBy = new Children((r) => born(matches.labels(r)));
  const bansBy = new Children((r) => born(bans.labels(r)));
  const unbansBy = new Children((rule) => ({
    expired: born(unbans.labels(rule, 'expired')),
    manual: born(unbans.labels(rule, 'manual')),
    all: born(unbans.labels(rule, 'all')),
    allowlisted: born(unbans.labels(rule, 'allowlisted')),
    group: born(unbans.labels(rule, 'group')),
    cap: born(unbans.labels(rule, 'cap')),
  }));
  const durationBy = new Children((e) => enforceDuration.labels(e));
  const errorsBy = new Children((e) => born(enforceErrors.labels(e)));
  const refusedBy = new Children((e) => born(enforceRefused.labels(e)));
  const trackedBy = new Children((r) => tracked.labels(r));
  const repairsBy = new Children((w) => born(repairs.labels(w)));
  const lagBy = new Children((f) => logLag.labels(f));
  const lastLineBy = new Children((f) => logLastLine.labels(f));
  const logLinesBy = new Children((f) => born(logLines.labels(f)));
  const kernelBansBy = new Children((e) => kernelBans.labels(e));
  const driftBy = new Children((e) => drift.labels(e));
  const mapOverflowBy = new Children((e) => mapOverflow.labels(e));
  const driftMissing = born(driftEntries.labels('missing'));
  const driftStray = born(driftEntries.labels('stray'));
  const familyV4 = activeBans.labels('ipv4');
  const familyV6 = activeBans.labels('ipv6');

  // Known series start at 0.
  lines.inc(0);
  tailLag.set(0);
  familyV4.set(0);
  familyV6.set(0);
  for (const r of SKIP_REASONS) skippedBy.get(r);
  const declared = new Set<string>();
  const declareRule = (r: string): void => {
    if (declared.has(r)) return;
    declared.add(r);
    matchesBy.declare(r);
    trackedBy.declare(r);
    bansBy.declare(r);
    unbansBy.declare(r);
  };
  for (const r of opts.rules ?? []) {
    declareRule(r);
    trackedBy.get(r).set(0);
  }
  bansBy.get(MANUAL_RULE);
  unbansBy.get(MANUAL_RULE);
  if (opts.enforcer !== undefined) {
    enforceDuration.zero({ enforcer: opts.enforcer });
    durationBy.get(opts.enforcer);
    errorsBy.get(opts.enforcer);
    refusedBy.get(opts.enforcer);
  }
  stateSaveErrors.inc(0);
  skewed.inc(0);
  stale.inc(0);
  refusedAtCap.inc(0);
  const notifySentBy = new Children((t) => born(notify!.sent.labels(t)));
  const notifyFailedBy = new Children((t) => born(notify!.failed.labels(t)));
  const notifyDroppedBy = new Children((t) => born(notify!.dropped.labels(t)));
  const notifyQueuedBy = new Children((t) => notify!.queued.labels(t));
  for (const t of notify === null ? [] : notifyTargets) {
    notifySentBy.get(t);
    notifyFailedBy.get(t);
    notifyDroppedBy.get(t);
    notifyQueuedBy.get(t).set(0);
  }
  checkFailures.inc(0);
  for (const f of opts.files ?? []) {
    lagBy.get(f).set(0);
    logLinesBy.get(f);
  }

  const m: Metrics = {
    registry,
    contentType: registry.contentType,
    lines(n) {
      if (n > 0) lines.inc(n);
    },
    parseSkipped(reason, n = 1) {
      if (n > 0) skippedBy.get(reason).inc(n);
    },
    enforceRefused(enforcer, n = 1) {
      if (n > 0) refusedBy.get(enforcer).inc(n);
    },
    stateSaveError(n = 1) {
      if (n > 0) stateSaveErrors.inc(n);
    },
    skewedLines(n) {
      if (n > 0) skewed.inc(n);
    },
    staleLines(n) {
      if (n > 0) stale.inc(n);
    },
    bansRefusedAtCap(n) {
      if (n > 0) refusedAtCap.inc(n);
    },
    share(connected, outboxDepth) {
      shareConnected?.set(connected ? 1 : 0);
      shareOutbox?.set(outboxDepth);
    },
    shareLag(seconds) {
      shareLag?.observe(Math.max(0, seconds));
    },
    shareTraffic(d) {
      if (d.bansIn > 0) shareBans?.labels('in').inc(d.bansIn);
      if (d.bansOut > 0) shareBans?.labels('out').inc(d.bansOut);
      if (d.unbansIn > 0) shareUnbans?.labels('in').inc(d.unbansIn);
      if (d.unbansOut > 0) shareUnbans?.labels('out').inc(d.unbansOut);
      if (d.invalid > 0) shareInvalid?.inc(d.invalid);
    },
    ruleMatches(rule, n) {
      if (n > 0) matchesBy.get(rule).inc(n);
    },
    declareRule,
    banned(rule, n = 1) {
      if (n > 0) bansBy.get(rule).inc(n);
    },
    unbanned(rule, reason, n = 1) {
      if (n > 0) unbansBy.get(rule)[reason].inc(n);
    },
    activeBans(v4, v6) {
      familyV4.set(v4);
      familyV6.set(v6);
    },
    enforceDuration(enforcer, seconds) {
      durationBy.get(enforcer).observe(seconds);
    },
    enforceError(enforcer, n = 1) {
      if (n > 0) errorsBy.get(enforcer).inc(n);
    },
    async timeEnforce(enforcer, fn) {
      const start = process.hrtime.bigint();
      try {
        return await fn();
      } catch (e) {
        m.enforceError(enforcer);
        throw e;
      } finally {
        m.enforceDuration(enforcer, Number(process.hrtime.bigint() - start) / 1e9);
      }
    },
    tailLag(bytes) {
      tailLag.set(bytes);
    },
    trackedAddresses(rule, n) {
      trackedBy.get(rule).set(n);
    },
    repaired(what, n = 1) {
      if (n > 0) repairsBy.get(repairKind(what)).inc(n);
    },
    started(ms) {
      startTime.set(ms / 1000);
    },
    checked(ms, enforcer, reading) {
      lastCheck.set(ms / 1000);
      if (reading === undefined) return;
      kernelBansBy.get(enforcer).set(reading.held);
      driftBy.get(enforcer).set(reading.missing + reading.stray);
      if (reading.missing > 0) driftMissing.inc(reading.missing);
      if (reading.stray > 0) driftStray.inc(reading.stray);
    },
    checkFailed() {
      checkFailures.inc();
    },
    mapOverflow(enforcer, entries) {
      mapOverflowBy.get(enforcer).set(entries);
    },
    logFile(file, d) {
      lagBy.get(file).set(Math.max(0, d.lagSeconds));
      lastLineBy.get(file).set(d.lastLineSeconds);
      if (d.lines > 0) logLinesBy.get(file).inc(d.lines);
    },
    notifySent(target) {
      if (notify !== null) notifySentBy.get(target).inc();
    },
    notifyFailed(target) {
      if (notify !== null) notifyFailedBy.get(target).inc();
    },
    notifyDropped(target, n = 1) {
      if (notify !== null && n > 0) notifyDroppedBy.get(target).inc(n);
    },
    notifyQueued(target, n) {
      if (notify !== null) notifyQueuedBy.get(target).set(n);
    },
    render() {
      return registry.metrics();
    },
  };
  return m;
}
