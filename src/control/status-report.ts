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
import type { AgentHealth, FirewallState, StatusReport } from './protocol.js';

export interface StatusSources {
  readonly instance: string;
  readonly enforcer: string;
  readonly startedAt: number;
  readonly now: number;
  /** The source's read positions (one per followed file) and its total lag. */
  readonly positions: readonly { readonly path: string }[];
  readonly lagBytes: number;
  readonly detector: Detector;
  readonly book: BanBook;
  readonly rules: Readonly<Record<string, RuleSettings>>;
  readonly health: AgentHealth;
  /** Whether the firewall holds a ban (default: held). */
  readonly firewall?: (ban: Ban) => FirewallState;
}

export function buildStatusReport(s: StatusSources, rule?: string): StatusReport {
  const running = s.detector.ruleNames;
  const active = s.book.active(s.now);
  // Bans in force under a rule that no longer runs (switched off by a reload, or restored from a
  // state file written with other rules) are still in the firewall: they are listed too, as a
  // disabled rule, so status never hides a ban the kernel holds (why shows it; so must status).
  const idle = [...new Set(active.map((b) => b.rule))].filter((r) => r !== MANUAL_RULE && !running.includes(r)).sort();
  if (rule !== undefined && !running.includes(rule) && !idle.includes(rule) && rule !== MANUAL_RULE) {
    throw new BanhammerError('BH_ERR_USAGE', `no running rule named ${JSON.stringify(rule)}`, {
      hint: `running rules: ${running.join(', ')}`,
    });
  }
  const hasManual = active.some((b) => b.rule === MANUAL_RULE) || s.book.totalBanned(MANUAL_RULE) > 0;
  const names = rule !== undefined ? [rule] : [...running, ...idle, ...(hasManual ? [MANUAL_RULE] : [])];
  const paths = [...new Set(s.positions.map((p) => p.path))];
  return {
    instance: s.instance,
    enforcer: s.enforcer,
    since: isoTime(s.startedAt) ?? '',
    // The source reports lag as one total: shown on the single file, or spread as 0.
    files: paths.map((path) => ({ path, lagBytes: paths.length === 1 ? s.lagBytes : 0 })),
    health: s.health,
    rules: names.map((name) => {
      const c = s.detector.counters(name);
      const ruleBans = active.filter((b) => b.rule === name);
      return {
        name,
        enabled: name === MANUAL_RULE || (running.includes(name) && Object.hasOwn(s.rules, name) && s.rules[name]!.enabled),
        currentlyFailed: s.detector.currentlyFailed(name, s.now),
        totalFailed: c?.failures ?? 0,
        currentlyBanned: ruleBans.length,
        totalBanned: s.book.totalBanned(name),
        bannedIps: ruleBans.map((b) => b.ip),
        withEvidence: ruleBans.filter((b) => (b.evidence?.length ?? 0) > 0).length,
        bans: ruleBans.map((b) => ({
          ip: b.ip,
          // As why-report.ts shows it: `status --json` prints it as is (JSON leaves C1 and bidi raw).
          container: b.scope === undefined ? null : evidenceText(b.scopeName ?? b.scope.slice(0, 12), 128),
          containerId: b.scope ?? null,
          until: b.until === null ? null : isoTime(b.until),
          from: b.from ?? null,
          firewall: s.firewall?.(b) ?? 'held',
        })),
      };
    }),
  };
}
