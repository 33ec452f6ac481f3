/**
 * Builds the `banhammer status` report (the control protocol's StatusReport) from the detector's
 * counters and the ban book: fail2ban-client's "Currently failed / Total failed / Currently banned /
 * Total banned / Banned IP list", per rule, plus the agent's health. Pure: time is an argument.
 */
import { BanhammerError } from '../errors.js';
import { isoTime } from '../format-time.js';
import { evidenceText } from '../decide/evidence.js';
import type { Detector } from '../detect/detector.js';
import { MANUAL_RULE, type Ban, type BanBook } from '../decide/ban-book.js';
import type { RuleSettings } from '../detect/rule.js';
import type { WatchedEntry } from '../source/line-source.js';
import type { AgentHealth, FileStatus, FirewallState, StatusReport } from './protocol.js';
import { runSync, STEP_UNITS, type Steps } from '../yielding.js';

export interface StatusSources {
  readonly instance: string;
  readonly enforcer: string;
  readonly startedAt: number;
  readonly now: number;
  /** The source's read positions (one per followed file) and its total lag. */
  readonly positions: readonly { readonly path: string }[];
  readonly lagBytes: number;
  /** The source's own account, per configured path or glob, of its files and each one's lag (Tailer.watched()). */
  readonly watched?: readonly WatchedEntry[];
  /** Without that, its lag per configured path or glob (Tailer.progress(), as the metrics read it). */
  readonly progress?: readonly { readonly path: string; readonly unreadBytes: number }[];
  readonly detector: Detector;
  readonly book: BanBook;
  readonly rules: Readonly<Record<string, RuleSettings>>;
  readonly health: AgentHealth;
  /** Whether the firewall holds a ban (default: held). */
  readonly firewall?: (ban: Ban) => FirewallState;
}

/** `opts.brief`: without the ban lists (the control protocol's `brief` status: counts and health only). */
export function buildStatusReport(s: StatusSources, rule?: string, opts: { readonly brief?: boolean } = {}): StatusReport {
  return runSync(statusReportSteps(s, rule, opts));
}

/**
 * buildStatusReport in pausable steps (src/yielding.ts), for the control socket: the report of
 * 500,000 bans took 0.75 s of one block (review H34). The same report; the sources are read as
 * they are when each step runs (a ban made meanwhile may be listed or not).
 */
export function* statusReportSteps(s: StatusSources, rule?: string, opts: { readonly brief?: boolean } = {}): Steps<StatusReport> {
  const brief = opts.brief === true;
  const running = s.detector.ruleNames;
  const active = s.book.active(s.now);
  yield;
  // Bans in force under a rule that no longer runs (switched off by a reload, or restored from a
  // state file written with other rules) are still in the firewall: they are listed too, as a
  // disabled rule, so status never hides a ban the kernel holds (why shows it; so must status).
  // One pass sorts the bans by rule (in the order of `active`), rule names in order of first ban.
  const byRule = new Map<string, Ban[]>();
  for (let i = 0; i < active.length; i++) {
    const b = active[i]!;
    const list = byRule.get(b.rule);
    if (list === undefined) byRule.set(b.rule, [b]);
    else list.push(b);
    if ((i & (STEP_UNITS - 1)) === STEP_UNITS - 1) yield;
  }
  const idle = [...byRule.keys()].filter((r) => r !== MANUAL_RULE && !running.includes(r)).sort();
  if (rule !== undefined && !running.includes(rule) && !idle.includes(rule) && rule !== MANUAL_RULE) {
    throw new BanhammerError('BH_ERR_USAGE', `no running rule named ${JSON.stringify(rule)}`, {
      hint: `running rules: ${running.join(', ')}`,
    });
  }
  const hasManual = byRule.has(MANUAL_RULE) || s.book.totalBanned(MANUAL_RULE) > 0;
  const names = rule !== undefined ? [rule] : [...running, ...idle, ...(hasManual ? [MANUAL_RULE] : [])];
  const rules: StatusReport['rules'] = [];
  for (const name of names) {
    const c = s.detector.counters(name);
    const ruleBans = byRule.get(name) ?? [];
    rules.push(yield* ruleStatus(name, c, ruleBans));
  }
  return {
    instance: s.instance,
    enforcer: s.enforcer,
    since: isoTime(s.startedAt) ?? '',
    files: fileStatus(s),
    health: s.health,
    rules,
    ...(brief ? { brief: true as const } : {}),
  };

  function* ruleStatus(name: string, c: ReturnType<Detector['counters']>, ruleBans: readonly Ban[]): Steps<StatusReport['rules'][number]> {
    yield;
    const counts = {
      name,
      enabled: name === MANUAL_RULE || (running.includes(name) && Object.hasOwn(s.rules, name) && s.rules[name]!.enabled),
      currentlyFailed: s.detector.currentlyFailed(name, s.now),
      totalFailed: c?.failures ?? 0,
      // Addresses pushed out of the rule's windows at its max_tracked cap (least recently failing
      // first): only when there were any, so the report of a rule below its cap keeps its shape.
      ...(c !== undefined && c.evictions > 0 ? { evicted: c.evictions } : {}),
      currentlyBanned: ruleBans.length,
      totalBanned: s.book.totalBanned(name),
    };
    const withEvidence = ruleBans.filter((b) => (b.evidence?.length ?? 0) > 0).length;
    if (brief) return { ...counts, bannedIps: [], withEvidence };
    const bannedIps: string[] = [];
    const bans: NonNullable<StatusReport['rules'][number]['bans']> = [];
    for (let i = 0; i < ruleBans.length; i++) {
      const b = ruleBans[i]!;
      bannedIps.push(b.ip);
      bans.push({
        ip: b.ip,
        // As why-report.ts shows it: `status --json` prints it as is (JSON leaves C1 and bidi raw).
        container: b.scope === undefined ? null : evidenceText(b.scopeName ?? b.scope.slice(0, 12), 128),
        containerId: b.scope ?? null,
        until: b.until === null ? null : isoTime(b.until),
        from: b.from ?? null,
        firewall: s.firewall?.(b) ?? 'held',
      });
      if ((i & (STEP_UNITS - 1)) === STEP_UNITS - 1) yield;
    }
    return { ...counts, bannedIps, withEvidence, bans };
  }
}

/**
 * Every configured path or glob, as the source reports it: each of its files with that file's own
 * lag, or the entry itself (exists: false) while it has no file and the source waits for it.
 */
function fileStatus(s: StatusSources): FileStatus[] {
  if (s.watched === undefined && s.progress === undefined) {
    // A source without progress() gives one total: shown on its single file, or 0 on each of several.
    const paths = [...new Set(s.positions.map((p) => p.path))];
    return paths.map((path) => ({ path, lagBytes: paths.length === 1 ? s.lagBytes : 0 }));
  }
  const out: FileStatus[] = [];
  const seen = new Set<string>();
  const add = (f: FileStatus): void => {
    if (seen.has(f.path)) return;
    seen.add(f.path);
    out.push(f);
  };
  if (s.watched === undefined) {
    // Lag per entry only (a source without watched()): each entry is shown as one file.
    for (const e of s.progress ?? []) add({ path: e.path, lagBytes: e.unreadBytes });
    return out;
  }
  for (const e of s.watched) {
    if (e.files.length === 0) add({ path: e.path, lagBytes: 0, exists: false });
    else for (const f of e.files) add({ path: f.path, lagBytes: f.unreadBytes, exists: true });
  }
  return out;
}
