/**
 * Builds the `banhammer why ADDRESS` report (the control protocol's WhyReport) from the ban book
 * (bans in force and the history of ended bans, each with its lines) and the pipeline's evidence
 * keeper (failures that have not made a ban yet). Pure: time and sources are arguments.
 */
import { isoTime } from '../format-time.js';
import type { Ban, BanBook, EndedBan } from '../decide/ban-book.js';
import { evidenceText, type EvidenceLine, type PendingEvidence } from '../decide/evidence.js';
import type { CanonicalTarget } from '../parse/ip.js';
import type { SharedBan } from '../share/share.js';
import type { FirewallState, WhyBan, WhyLine, WhyReport, WhySource } from './protocol.js';

export interface WhySources {
  readonly instance: string;
  readonly now: number;
  readonly target: CanonicalTarget;
  readonly book: BanBook;
  /** What the evidence keeper holds for the address (nothing for a network). */
  readonly pending: readonly PendingEvidence[];
  readonly allowlisted: boolean;
  readonly historySize: number;
  /** A container's display name by id (host mode), for failures not yet banned. */
  readonly containerName?: (id: string) => string | undefined;
  /** With shared bans: the group's bans of the target not among `active` (the bans in force here). */
  readonly group?: (active: readonly Ban[]) => readonly SharedBan[];
  /** Whether the firewall holds a ban in force (default: held). */
  readonly firewall?: (ban: Ban) => FirewallState;
  /** Whether an unban of the target is not applied by the firewall yet. */
  readonly unbanPending?: boolean;
}

export function buildWhyReport(s: WhySources): WhyReport {
  const { active, ended: all } = s.book.about(s.target, s.now);
  // An own ban replaced by a longer one adopted from the group and kept under it (Ban.under) went
  // into the history as "replaced"; once the group lifts the adopted ban with an unban made before
  // the own one (BanBook.liftAdopted), that very ban is in force again: it is shown in force, with
  // the lines its history entry kept, and not also as ended (review H43). The same for a ban adopted
  // from the group, replaced by a longer one, and in force again once that one was lifted (its maker,
  // times, rule and number: the same group ban, adopted again; h44's per-container group bans, H45).
  const again = new Map<Ban, EndedBan>();
  const ended = all.filter((e) => {
    if (e.ended.reason !== 'replaced' || !String(e.ended.by).startsWith('group:')) return true;
    const b = active.find((x) => x.from === e.from && !again.has(x) && x.rule === e.rule && x.ip === e.ip && x.scope === e.scope && x.at === e.at && x.until === e.until && x.manual === e.manual && x.nth === e.nth);
    if (b === undefined) return true;
    again.set(b, e);
    return false;
  });
  const shown = (b: Ban): Ban => {
    const e = again.get(b);
    return e === undefined || b.evidence !== undefined ? b : { ...b, ...(e.evidence !== undefined ? { evidence: e.evidence } : {}), ...(e.evidenceOmitted !== undefined ? { evidenceOmitted: e.evidenceOmitted } : {}) };
  };
  return {
    ip: s.target.ip,
    instance: s.instance,
    now: isoTime(s.now),
    allowlisted: s.allowlisted,
    active: active.sort((a, b) => b.at - a.at).map((b) => ({ ...whyBan(shown(b)), firewall: s.firewall?.(b) ?? 'held' })),
    failing: s.pending.map((p) => ({
      rule: p.rule,
      container: p.scope === undefined ? null : shownText(s.containerName?.(p.scope) ?? p.scope.slice(0, 12), 128),
      containerId: p.scope ?? null,
      lines: p.lines.map(whyLine),
    })),
    ended: ended.map((b) => whyBan(b)),
    historySize: s.historySize,
    ...(s.unbanPending === true ? { unbanPending: true } : {}),
    ...(s.group && {
      group: s.group(active).map((g) => ({
        ip: g.ip,
        rule: g.rule,
        from: g.origin,
        at: isoTime(g.at),
        until: g.until === null ? null : isoTime(g.until),
        containerId: g.scope ?? null,
      })),
    }),
  };
}

export function sourceOf(b: Ban): WhySource {
  if (b.from !== undefined) return 'group';
  if (b.manual) return 'manual';
  return b.groupCount === true ? 'group-count' : 'detected';
}

/**
 * Texts that came from a log line or a container's configuration (a syslog tag, a Docker name), as a
 * restored ban holds them (ban-book.ts): control characters, bidi and separators escaped, cut. `why
 * --json` prints the report as is, and JSON.stringify leaves C1, bidi and U+2028 raw.
 */
const shownText = (s: string, max: number): string => evidenceText(s, max);

function whyBan(b: Ban | EndedBan): WhyBan {
  const container = b.scope === undefined ? null : shownText(b.scopeName ?? b.scope.slice(0, 12), 128);
  const end = 'ended' in b ? b.ended : undefined;
  return {
    ip: b.ip,
    rule: b.rule,
    jail: container === null ? b.rule : `${b.rule}@${container}`,
    source: sourceOf(b),
    from: b.from ?? null,
    at: isoTime(b.at),
    until: b.until === null ? null : isoTime(b.until),
    failures: b.failures,
    nth: b.nth,
    container,
    containerId: b.scope ?? null,
    origin: b.origin === undefined ? null : shownText(b.origin, 4096),
    evidence: (b.evidence ?? []).map(whyLine),
    evidenceOmitted: b.evidenceOmitted ?? 0,
    ended: end === undefined ? null : { reason: end.reason, at: isoTime(end.at), by: end.by ?? null },
  };
}

function whyLine(l: EvidenceLine): WhyLine {
  return { at: isoTime(l.at), file: l.file ?? null, line: l.line };
}
