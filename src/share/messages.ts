/**
 * What replicas write to each other through Redis, and the one validator every value read back
 * from Redis goes through. Anything in Redis is hostile input (another tenant with a leaked
 * password, a hand-edited key, a buggy replica): a value is bounded in length before it is parsed,
 * every field is checked for type and range, addresses go through canonicalClientIp (a network, a
 * manual CIDR ban, through sharedTarget: never scoped, never wider than a ban may be), and a value
 * that fails is dropped with a reason (a small fixed set, for a counter), never thrown.
 *
 * Wire format (JSON, one object):
 *   ban:   {"v":1,"t":"ban","ip","family","rule","at","until"(ms or null),"origin","sent"[,"scope"][,"nth"]}
 *   unban: {"v":1,"t":"unban","ip","family","origin","at","sent"[,"scope"]}
 * The hash `banhammer:{g}:bans` stores ban messages as values under field scopedKey(ip, scope).
 * Every time in a message is in the group's clock (Redis TIME, group-clock.ts: the share stage
 * converts at the edge), or the publisher's own when it could not measure it. In the outbox file
 * they are the replica's own clock. `sent` is when it was published: the propagation lag, how old a
 * signed message is (a replay), and whether another replica's unban was sent after this one queued
 * the same unban to send again (redis-share.ts); never to order bans and unbans.
 * A message is ASCII (every field a replica writes is), so its length is the same counted in bytes
 * (Redis, the Lua scripts) or in UTF-16 units (here), and a value read back and written again (a
 * prune) is the same bytes: a value with any other byte is invalid ('encoding'), and the scripts
 * (lua.ts) hold it for no ban either.
 */
import { canonicalClientIp, canonicalTarget, cidrOverlaps, isNetwork, networkCoverReason, type Cidr } from '../parse/ip.js';
import { REPLICA_ID_RE, SCOPE_RE, SHARED_RULE_RE, banField } from './keys.js';
import type { SharedBan } from './share.js';

/**
 * Longest value read from Redis that is even parsed (a real message is ~300 characters), in UTF-8
 * bytes as Redis and the Lua scripts count them: the same as characters, a message being ASCII, and
 * a value that is not is refused here for the reason the scripts give ('too-long' when it has more
 * bytes, else 'encoding').
 */
export const MAX_MESSAGE_CHARS = 2048;
/** Any character outside ASCII (a UTF-8 byte ≥ 0x80 in Redis, or a byte JavaScript decoded as U+FFFD). */
const NOT_ASCII_RE = /[^\x00-\x7f]/;
/** Latest representable time: 9999-12-31T23:59:59.999Z. */
export const MAX_TIME_MS = 253_402_300_799_999;
/** Longest ban accepted from the group: the config's 3650 days cap plus a day of slack. */
export const MAX_BAN_SPAN_MS = 3651 * 86_400_000;
/** How far in the future a ban may start (clock skew between replicas). */
export const MAX_FUTURE_MS = 86_400_000;
export const MAX_NTH = 1_000_000;
/** Longest hash field (scopedKey(ip, scope): at most ~180 ASCII characters). */
export const MAX_FIELD_CHARS = 200;

export type InvalidReason = 'too-long' | 'encoding' | 'json' | 'shape' | 'ip' | 'family' | 'rule' | 'time' | 'scope' | 'origin' | 'nth' | 'field' | 'signature' | 'replay';

export interface SharedUnban {
  ip: string;
  family: 4 | 6;
  scope?: string;
  origin: string;
  /** When the unban was made (on the wire: the group's clock; in the stage's events: this replica's). */
  at: number;
}

export type ShareMessage = { t: 'ban'; ban: SharedBan; sent: number } | { t: 'unban'; unban: SharedUnban; sent: number };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: InvalidReason };

export function encodeBan(ban: SharedBan, sent: number): string {
  return JSON.stringify({
    v: 1,
    t: 'ban',
    ip: ban.ip,
    family: ban.family,
    rule: ban.rule,
    at: ban.at,
    until: ban.until,
    origin: ban.origin,
    sent,
    ...(ban.scope !== undefined ? { scope: ban.scope } : {}),
    ...(ban.nth !== undefined ? { nth: ban.nth } : {}),
  });
}

export function encodeUnban(u: SharedUnban, sent: number): string {
  return JSON.stringify({ v: 1, t: 'unban', ip: u.ip, family: u.family, origin: u.origin, at: u.at, sent, ...(u.scope !== undefined ? { scope: u.scope } : {}) });
}

/**
 * Link-local networks. An address in them names a machine on the link of whoever saw it, never the
 * same one on another replica's host: a group's ban of one frames a neighbour there (its metadata
 * service 169.254.169.254, its router's fe80::1), and in host mode the forward chain drops that
 * neighbour's replies to every container. A replica bans such an address locally, never for the group.
 */
const LINK_LOCAL: readonly Cidr[] = [
  { network: '169.254.0.0', prefix: 16, family: 4 },
  { network: 'fe80::', prefix: 10, family: 6 },
];
/** Canonical link-local addresses, by their text (no parsing: every value read from Redis comes here). */
const LINK_LOCAL_RE = /^(?:169\.254\.|fe[89ab][0-9a-f]:)/;
const touchesLinkLocal = (n: Cidr): boolean => LINK_LOCAL.some((l) => cidrOverlaps(l, n));

/**
 * What a message may name: a client address, or a network of clients that a CIDR ban may cover
 * (networkCoverReason: not wider than /8 (IPv6 /32), not loopback, multicast…), canonical, and
 * neither link-local nor holding a link-local address (LINK_LOCAL). The receiving ban book checks
 * an address or a network against its own allowlist too.
 */
export function sharedTarget(raw: string): { ip: string; family: 4 | 6; network: boolean } | null {
  const c = canonicalClientIp(raw);
  if (c !== null) return LINK_LOCAL_RE.test(c.ip) ? null : { ip: c.ip, family: c.family, network: false };
  if (!raw.includes('/')) return null;
  const t = canonicalTarget(raw);
  if (t === null || !isNetwork(t.ip)) return null;
  const n = { network: t.ip.slice(0, t.ip.indexOf('/')), prefix: t.prefix, family: t.family };
  if (networkCoverReason(n) !== null || touchesLinkLocal(n)) return null;
  return { ip: t.ip, family: t.family, network: true };
}

const bad = (reason: InvalidReason): { ok: false; reason: InvalidReason } => ({ ok: false, reason });
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_TIME_MS;

/** Parses and validates one message (from the channel or a hash value), as of `now`. */
export function parseMessage(raw: unknown, now: number): Parsed<ShareMessage> {
  if (typeof raw !== 'string') return bad('shape');
  // A string has at least as many UTF-8 bytes as UTF-16 units: longer in units is longer in bytes.
  if (raw.length > MAX_MESSAGE_CHARS) return bad('too-long');
  if (NOT_ASCII_RE.test(raw)) return bad(Buffer.byteLength(raw, 'utf8') > MAX_MESSAGE_CHARS ? 'too-long' : 'encoding');
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return bad('json');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('shape');
  const m = o as Record<string, unknown>;
  if (m.v !== 1 || (m.t !== 'ban' && m.t !== 'unban')) return bad('shape');
  if (typeof m.ip !== 'string') return bad('ip');
  const c = sharedTarget(m.ip);
  if (c === null) return bad('ip');
  // A network (a manual CIDR ban) is host-wide: never scoped.
  if (c.network && m.scope !== undefined) return bad('scope');
  if (m.family !== 4 && m.family !== 6) return bad('family');
  if (m.family !== c.family) return bad('family');
  if (typeof m.origin !== 'string' || !REPLICA_ID_RE.test(m.origin)) return bad('origin');
  if (m.scope !== undefined && (typeof m.scope !== 'string' || !SCOPE_RE.test(m.scope))) return bad('scope');
  if (!isTime(m.sent)) return bad('time');
  const scope = m.scope as string | undefined;
  if (m.t === 'unban') {
    if (!isTime(m.at) || m.at > now + MAX_FUTURE_MS) return bad('time');
    return { ok: true, value: { t: 'unban', sent: m.sent, unban: { ip: c.ip, family: c.family, origin: m.origin, at: m.at, ...(scope !== undefined ? { scope } : {}) } } };
  }
  if (typeof m.rule !== 'string' || !SHARED_RULE_RE.test(m.rule)) return bad('rule');
  if (!isTime(m.at) || m.at > now + MAX_FUTURE_MS) return bad('time');
  if (m.until !== null && (!isTime(m.until) || m.until <= m.at || m.until - m.at > MAX_BAN_SPAN_MS)) return bad('time');
  if (m.nth !== undefined && (typeof m.nth !== 'number' || !Number.isInteger(m.nth) || m.nth < 1 || m.nth > MAX_NTH)) return bad('nth');
  const ban: SharedBan = {
    ip: c.ip,
    family: c.family,
    rule: m.rule,
    at: m.at,
    until: m.until as number | null,
    origin: m.origin,
    ...(scope !== undefined ? { scope } : {}),
    ...(m.nth !== undefined ? { nth: m.nth as number } : {}),
  };
  return { ok: true, value: { t: 'ban', sent: m.sent, ban } };
}

/** A hash entry of `banhammer:{g}:bans`: a ban message stored under its own field. */
export function parseStoredBan(field: unknown, value: unknown, now: number): Parsed<SharedBan> {
  if (typeof field !== 'string' || field.length > MAX_FIELD_CHARS || NOT_ASCII_RE.test(field)) return bad('field');
  const p = parseMessage(value, now);
  if (!p.ok) return p;
  if (p.value.t !== 'ban') return bad('shape');
  if (banField(p.value.ban.ip, p.value.ban.scope) !== field) return bad('field');
  return { ok: true, value: p.value.ban };
}

/** A ban this replica is about to publish, checked with the same rules (a bug here must not poison the group). */
export function checkOutgoingBan(ban: SharedBan, now: number): Parsed<SharedBan> {
  // JSON turns NaN and Infinity into null, which would read back as a permanent ban.
  if (!Number.isFinite(ban.at) || (ban.until !== null && !Number.isFinite(ban.until))) return bad('time');
  if (ban.nth !== undefined && !Number.isFinite(ban.nth)) return bad('nth');
  const p = parseMessage(encodeBan(ban, Math.min(Math.max(0, Math.trunc(now)), MAX_TIME_MS)), now);
  if (!p.ok) return p;
  return p.value.t === 'ban' ? { ok: true, value: p.value.ban } : bad('shape');
}

export const isExpired = (ban: Pick<SharedBan, 'until'>, now: number): boolean => ban.until !== null && ban.until <= now;
