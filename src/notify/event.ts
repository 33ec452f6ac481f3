/**
 * What a notification says, independent of where it goes: a ban or unban event, or a digest of
 * many (a ban storm), and the one JSON document the generic webhook sends for each (schema version
 * NOTIFY_SCHEMA_VERSION, documented in the README "Notifications" section; fields are only ever
 * added, never renamed or retyped, without a version bump).
 *
 * Everything here is pure: times are arguments, nothing is read from the environment. Every string
 * that came from outside (log lines, container names, file names) is cleaned of control characters
 * and cut to a bounded length before it reaches a receiver (`clean`).
 */
import type { Ban } from '../decide/ban-book.js';
import type { EvidenceLine } from '../decide/evidence.js';
import { formatTime, formatUntil, isoTime } from '../format-time.js';
import { isNetwork } from '../parse/ip.js';
import type { UnbanReason } from '../metrics/registry.js';

export const NOTIFY_SCHEMA_VERSION = 1;
export const NOTIFY_EVENTS = ['ban', 'unban'] as const;
export type NotifyEventKind = (typeof NOTIFY_EVENTS)[number];

/** Most evidence lines carried by one notification, and the most characters of each. */
export const MAX_EVIDENCE_LINES = 50;
export const MAX_EVIDENCE_CHARS = 2000;
/** Entries listed in a digest (top rules, top addresses). */
export const DIGEST_TOP = 10;

/** Who sends: this agent. */
export interface AgentInfo {
  /** BANHAMMER_INSTANCE. */
  readonly instance: string;
  /** The host (container) name. */
  readonly host: string;
  /** banhammer's version. */
  readonly version: string;
}

/** A ban that landed in the kernel, or one that was lifted. */
export interface BanNotice {
  readonly kind: NotifyEventKind;
  readonly ban: Ban;
  /** Unbans: why the ban ended. */
  readonly reason?: UnbanReason | undefined;
  /** When it happened (the agent's clock). */
  readonly time: number;
}

/** Many events summarised: sent once per digest interval during a storm. */
export interface DigestNotice {
  readonly kind: 'digest';
  readonly from: number;
  readonly to: number;
  readonly bans: number;
  readonly unbans: number;
  /** Most frequent rules first (at most DIGEST_TOP). */
  readonly topRules: readonly { readonly rule: string; readonly count: number }[];
  /** Most frequent addresses first (at most DIGEST_TOP). */
  readonly topAddresses: readonly { readonly address: string; readonly count: number }[];
  /** Distinct addresses seen: exact (up to rare hash collisions past the named ones) unless distinctAtLeast. */
  readonly distinctAddresses: number;
  /** More distinct addresses came than a digest tells apart (channel.ts): distinctAddresses is a lower bound. */
  readonly distinctAtLeast?: boolean;
}

export type Notice = BanNotice | DigestNotice;

/**
 * The first `n` UTF-16 units of `s`, one fewer when the cut would split a surrogate pair: a lone
 * surrogate is written by JSON.stringify as `\ud83d`, which strict JSON parsers refuse (the
 * receiver answers 400 and the notification is dropped).
 */
export function cutUnits(s: string, n: number): string {
  if (s.length <= n) return s;
  const c = s.charCodeAt(n - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? n - 1 : n);
}

/** Control characters (other than tab), bidi controls and line separators become spaces; the result is at most `max` characters. */
export function clean(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, ' ');
  return t.length <= max ? t : `${cutUnits(t, max - 1)}…`;
}

/** Failures of a ban whose lines were not kept (by the ban book's bounds or ours). */
export function omittedOf(ban: Ban): number {
  const n = Number(ban.evidenceOmitted ?? 0);
  const over = Array.isArray(ban.evidence) ? Math.max(0, ban.evidence.length - MAX_EVIDENCE_LINES) : 0;
  return (Number.isSafeInteger(n) && n > 0 ? n : 0) + over;
}

/** The evidence a ban carries (Ban.evidence, src/decide/evidence.ts), bounded and cleaned again (it may come from a state file). */
export function evidenceOf(ban: Ban): EvidenceLine[] {
  const ev = ban.evidence;
  if (!Array.isArray(ev)) return [];
  return ev.slice(-MAX_EVIDENCE_LINES).map((e) => ({
    line: clean(String(e.line), MAX_EVIDENCE_CHARS),
    ...(typeof e.file === 'string' ? { file: clean(e.file, 512) } : {}),
    at: Number(e.at),
  }));
}

// ---------------------------------------------------------------------------------------------
// The generic webhook's JSON document (schema version 1).

export interface PayloadAgent {
  readonly instance: string;
  readonly host: string;
  readonly version: string;
}

export interface BanPayload {
  readonly version: 1;
  readonly event: NotifyEventKind;
  /** When the event happened (ISO 8601). */
  readonly time: string;
  readonly address: string;
  readonly family: 4 | 6;
  readonly rule: string;
  readonly manual: boolean;
  /** Host mode: the container the ban applies to; null = every port this agent protects. */
  readonly container: { readonly name: string | null; readonly id: string } | null;
  readonly banned_at: string;
  /** ISO 8601, or null for a permanent ban. */
  readonly until: string | null;
  readonly failures: number;
  /** 1 for a first ban, 2 for the next one… */
  readonly nth: number;
  /** Unbans: expired, manual, all, allowlisted, group, cap; null for bans. */
  readonly reason: UnbanReason | null;
  readonly evidence: readonly { readonly line: string; readonly file: string | null; readonly at: string | null }[];
  /** Failures counted for the ban whose lines were not kept (bounds). */
  readonly evidence_omitted: number;
  readonly agent: PayloadAgent;
  /** One line for humans. */
  readonly summary: string;
}

export interface DigestPayload {
  readonly version: 1;
  readonly event: 'digest';
  readonly time: string;
  readonly from: string;
  readonly to: string;
  readonly bans: number;
  readonly unbans: number;
  readonly distinct_addresses: number;
  readonly top_rules: readonly { readonly rule: string; readonly count: number }[];
  readonly top_addresses: readonly { readonly address: string; readonly count: number }[];
  readonly agent: PayloadAgent;
  readonly summary: string;
}

export type Payload = BanPayload | DigestPayload;

const agentOf = (a: AgentInfo): PayloadAgent => ({ instance: a.instance, host: a.host, version: a.version });

const containerName = (ban: Ban): string | null => (ban.scope === undefined ? null : clean(ban.scopeName ?? ban.scope.slice(0, 12), 128));

/** `1,200`: thousands separated, for people. */
export const grouped = (n: number): string => n.toLocaleString('en-US');

/**
 * A network ban made by a rule (IPv6 network escalation, here or at a replica): its `failures` counts
 * the banned addresses of the network that made it, not failures.
 */
function escalated(b: Ban): boolean {
  return !b.manual && typeof b.ip === 'string' && isNetwork(b.ip);
}

/** The one-line summary of a notice, used by every target (subject, title, Slack text…). */
export function summaryOf(n: Notice, agent: AgentInfo): string {
  if (n.kind === 'digest') {
    const parts = [n.bans > 0 ? `${grouped(n.bans)} ban${n.bans === 1 ? '' : 's'}` : '', n.unbans > 0 ? `${grouped(n.unbans)} unban${n.unbans === 1 ? '' : 's'}` : ''].filter((s) => s !== '');
    return `${parts.join(' and ') || 'no events'} in the last ${spanText(n.to - n.from)} on ${agent.instance}`;
  }
  const b = n.ban;
  const where = b.scope === undefined ? agent.instance : `${agent.instance} (container ${containerName(b)})`;
  if (n.kind === 'ban') {
    const why = b.manual ? 'manually' : escalated(b) ? `by rule ${b.rule} (IPv6 network escalation${b.failures > 0 ? `: ${b.failures} banned address${b.failures === 1 ? '' : 'es'} of it` : ''})` : `by rule ${b.rule} after ${b.failures} failure${b.failures === 1 ? '' : 's'}`;
    return `${b.ip} banned ${why} on ${where}, until ${formatUntil(b.until)}`;
  }
  return `${b.ip} unbanned (${reasonText(n.reason)}; rule ${b.rule}) on ${where}`;
}

/** An unban's reason as a person reads it (the payload keeps the label: UnbanReason). */
function reasonText(r: UnbanReason | null | undefined): string {
  if (r === 'cap') return "cut short: the ban book was full (BANHAMMER_MAX_BANS) and another container's ban needed the room";
  return r ?? 'lifted';
}

function spanText(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s % 3600 === 0) return s === 3600 ? 'hour' : `${s / 3600} hours`;
  if (s % 60 === 0) return s === 60 ? 'minute' : `${s / 60} minutes`;
  return `${s} seconds`;
}

export function payloadOf(n: Notice, agent: AgentInfo, now: number): Payload {
  if (n.kind === 'digest') {
    return {
      version: NOTIFY_SCHEMA_VERSION,
      event: 'digest',
      time: formatTime(now),
      from: formatTime(n.from),
      to: formatTime(n.to),
      bans: n.bans,
      unbans: n.unbans,
      distinct_addresses: n.distinctAddresses,
      top_rules: n.topRules.map((r) => ({ rule: r.rule, count: r.count })),
      top_addresses: n.topAddresses.map((a) => ({ address: a.address, count: a.count })),
      agent: agentOf(agent),
      summary: summaryOf(n, agent),
    };
  }
  const b = n.ban;
  return {
    version: NOTIFY_SCHEMA_VERSION,
    event: n.kind,
    time: formatTime(n.time),
    address: b.ip,
    family: b.family,
    rule: b.rule,
    manual: b.manual,
    container: b.scope === undefined ? null : { name: containerName(b), id: clean(b.scope, 128) },
    banned_at: formatTime(b.at),
    until: b.until === null || b.until === Number.POSITIVE_INFINITY ? null : formatTime(b.until),
    failures: b.failures,
    nth: b.nth,
    reason: n.kind === 'unban' ? (n.reason ?? null) : null,
    evidence: evidenceOf(b).map((e) => ({ line: e.line, file: e.file ?? null, at: isoTime(e.at) })),
    evidence_omitted: omittedOf(b),
    agent: agentOf(agent),
    summary: summaryOf(n, agent),
  };
}

/**
 * The plain-text body (email, ntfy, chat presets): the summary, the facts, and the matching log
 * lines, as fail2ban's mail actions send them.
 */
export function textOf(n: Notice, agent: AgentInfo): string {
  const out = [summaryOf(n, agent), ''];
  if (n.kind === 'digest') {
    out.push(`From ${formatTime(n.from)} to ${formatTime(n.to)}: ${grouped(n.bans)} bans, ${grouped(n.unbans)} unbans, ${n.distinctAtLeast === true ? 'at least ' : ''}${grouped(n.distinctAddresses)} distinct addresses.`);
    out.push('Single notifications are paused while more events than the digest threshold arrive per interval.');
    if (n.topRules.length > 0) {
      out.push('', `Top rules:`);
      for (const r of n.topRules) out.push(`  ${r.rule}: ${grouped(r.count)}`);
    }
    if (n.topAddresses.length > 0) {
      out.push('', `Top addresses:`);
      for (const a of n.topAddresses) out.push(`  ${a.address}: ${grouped(a.count)}`);
    }
  } else {
    const b = n.ban;
    out.push(`Address:   ${b.ip}`);
    out.push(`Rule:      ${b.rule}${b.manual ? ' (manual ban)' : ''}`);
    if (b.scope !== undefined) out.push(`Container: ${containerName(b)} (${clean(b.scope, 128)})`);
    out.push(`Banned at: ${formatTime(b.at)}`);
    out.push(`Until:     ${formatUntil(b.until)}`);
    out.push(escalated(b) ? `Addresses: ${b.failures} banned (IPv6 network escalation)` : `Failures:  ${b.failures}`);
    if (b.nth > 1) out.push(`Ban no.:   ${b.nth}`);
    if (n.kind === 'unban') out.push(`Ended:     ${reasonText(n.reason)} at ${formatTime(n.time)}`);
    const ev = evidenceOf(b);
    if (ev.length > 0) {
      out.push('', `Matching log lines (${ev.length}):`);
      for (const e of ev) out.push(e.file !== undefined ? `${e.file}: ${e.line}` : e.line);
      const omitted = omittedOf(b);
      if (omitted > 0) out.push(escalated(b) ? `(${omitted} more banned address${omitted === 1 ? '' : 'es'} whose lines were not kept)` : `(${omitted} more failure${omitted === 1 ? '' : 's'} whose lines were not kept)`);
    } else if (n.kind === 'ban' && !b.manual) {
      out.push('', 'No matching log lines were kept for this ban.');
    }
  }
  out.push('', `-- banhammer ${agent.version} on ${agent.host} (instance ${agent.instance})`);
  return out.join('\n');
}
