/**
 * `banhammer status [RULE]` as text, in the tree layout fail2ban-client users already read
 * (`fail2ban-client status` and `fail2ban-client status <jail>`), with "rule" for "jail". A tab
 * follows each label's colon, as in fail2ban, so scripts written for it keep working.
 *
 * Without a rule: the instance, enforcer, start time and watched files (with how far behind the end
 * of each file the reader is, or that a configured path or glob has no file yet), then fail2ban's "Number of …" and "… list" lines over enabled rules.
 * With a rule: exactly fail2ban's Filter/Actions tree. Pure: a StatusReport in, a string out.
 */
import { terminalText } from './terminal-text.js';
import { BanhammerError } from '../errors.js';
import type { RuleStatus, StatusReport } from './protocol.js';

export function formatStatus(report: StatusReport, rule?: string): string {
  return rule === undefined ? formatSummary(report) : formatRule(report, findRule(report, rule));
}

function findRule(report: StatusReport, name: string): RuleStatus {
  const r = report.rules.find((x) => x.name === name);
  if (r === undefined) {
    const known = report.rules.map((x) => safe(x.name));
    throw new BanhammerError('BH_ERR_USAGE', `no rule named ${JSON.stringify(name)}`, {
      hint: known.length > 0 ? `rules: ${known.join(', ')}` : 'this instance has no rules',
    });
  }
  return r;
}

function formatSummary(report: StatusReport): string {
  const enabled = report.rules.filter((r) => r.enabled).map((r) => safe(r.name));
  const disabled = report.rules.filter((r) => !r.enabled).map((r) => safe(r.name));
  const lines = [
    'Status',
    `|- Instance:\t${safe(report.instance)}`,
    `|- Enforcer:\t${safe(report.enforcer)}`,
    `|- Running since:\t${safe(report.since)}`,
    `|- Files watched:\t${report.files.length}`,
  ];
  report.files.forEach((f, i) => {
    const branch = i === report.files.length - 1 ? '`-' : '|-';
    // A file a glob matched is named by whoever created it: a newline or an escape in its name must
    // not forge the lines around it or take over the terminal.
    lines.push(`|  ${branch} ${safe(f.path)}\t(${f.exists === false ? 'no such file yet: waiting for it' : lag(f.lagBytes)})`);
  });
  const warnings = healthWarnings(report);
  if (warnings.length > 0) lines.push(`|- Warnings:\t${warnings.join('; ')}`);
  if (disabled.length > 0) lines.push(`|- Disabled rules:\t${disabled.join(', ')}`);
  lines.push(`|- Number of rules:\t${enabled.length}`);
  lines.push(`\`- Rule list:\t${enabled.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

function formatRule(report: StatusReport, r: RuleStatus): string {
  const lines = [
    `Status for the rule: ${safe(r.name)}${r.enabled ? '' : ' (disabled)'}`,
    '|- Filter',
    `|  |- Currently failed:\t${r.currentlyFailed}`,
    `|  |- Total failed:\t${r.totalFailed}`,
    ...(r.evicted !== undefined && r.evicted > 0 ? [`|  |- Evicted:\t${r.evicted} (addresses dropped at max_tracked with their failures; raise max_tracked)`] : []),
    `|  \`- File list:\t${report.files.map((f) => safe(f.path)).join(' ')}`,
    '`- Actions',
    `   |- Currently banned:\t${r.currentlyBanned}`,
    `   |- Total banned:\t${r.totalBanned}`,
    ...(r.withEvidence !== undefined ? [`   |- With evidence:\t${r.withEvidence}`] : []),
    `   \`- Banned IP list:\t${bannedList(r)}`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Addresses, each scoped ban followed by its container's name: `198.18.0.7 2001:db8::7 (web)`; a ban
 * the firewall does not hold says so.
 */
function bannedList(r: RuleStatus): string {
  if (r.bans === undefined) return r.bannedIps.map(safe).join(' ');
  return r.bans
    .map((b) => {
      const firewall = b.firewall === 'retrying' ? 'NOT in the firewall yet: retrying' : b.firewall === 'refused' ? 'NOT in the firewall: refused' : null;
      // Names from a container's configuration or another replica: escaped here, as format-why does.
      const notes = [b.container === null ? null : terminalText(b.container), typeof b.from === 'string' ? `from ${terminalText(b.from)}` : null, firewall].filter((x) => x !== null);
      return notes.length === 0 ? terminalText(b.ip) : `${terminalText(b.ip)} (${notes.join(', ')})`;
    })
    .join(' ');
}

/** What is wrong with the agent right now, one phrase each (nothing when all is well). */
function healthWarnings(report: StatusReport): string[] {
  const h = report.health;
  if (h === undefined) return [];
  const out: string[] = [];
  if (h.stateRefused !== undefined) out.push(`saved bans not restored at start (${safe(h.stateRefused)})`);
  if (h.stateError !== null) out.push(`state not saved (${safe(h.stateError)}); bans are still enforced`);
  if ((h.checkFailing ?? 0) > 0) out.push(`the firewall check failed ${h.checkFailing} time${h.checkFailing === 1 ? '' : 's'} in a row (its chain, set or table cannot be read or re-created)`);
  if (h.enforceFailing > 0) out.push(`the firewall rejected the last ${h.enforceFailing} batch${h.enforceFailing === 1 ? '' : 'es'} (retrying)`);
  if (h.refused > 0) out.push(`${h.refused} ban${h.refused === 1 ? '' : 's'} refused by the firewall`);
  if (h.repairs > 0) out.push(`firewall state repaired ${h.repairs} time${h.repairs === 1 ? '' : 's'}`);
  if (h.skewedLines > 0) out.push(`${h.skewedLines} log line${h.skewedLines === 1 ? '' : 's'} stamped in the future`);
  if (h.logBehind !== undefined) {
    out.push(`the last ${h.logBehind.lines} log lines (for a minute or more) were all stamped too long ago for any rule to count them, the newest ${safe(h.logBehind.newestLine)} (${h.logBehind.behindSeconds} s behind this host's clock): is the log writer's clock or time zone behind?`);
  }
  if (h.forwardedClients !== undefined) out.push(`${h.forwardedClients.lines} line${h.forwardedClients.lines === 1 ? '' : 's'} named their client in X-Forwarded-For: ${safe(h.forwardedClients.note)}`);
  const pending = h.unbansPending ?? [];
  if (pending.length > 0) {
    const shown = pending.slice(0, 10).map(terminalText).join(', ');
    out.push(`the firewall still drops ${pending.length} unbanned address${pending.length === 1 ? '' : 'es'} (unban not applied yet, retrying): ${shown}${pending.length > 10 ? ', …' : ''}`);
  }
  return out;
}

function lag(bytes: number): string {
  if (bytes <= 0) return 'up to date';
  return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'} behind`;
}

/** Text for a terminal (terminal-text.ts): names and paths the daemon reports as it found them. */
const safe = terminalText;
