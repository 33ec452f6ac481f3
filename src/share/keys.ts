/**
 * Names of everything the share stage touches in Redis. Every key and the one channel of a group
 * start with `banhammer:{<group>}:`: the braces are a Redis Cluster hash tag, so all of a group's
 * keys live in one slot (a Lua script may touch several of them), and an operator can confine a
 * tenant to its group with one ACL user (`~banhammer:{shop}:* &banhammer:{shop}:*`).
 *
 * The parts that go into a key are validated here so that no value can escape its group's prefix
 * or collide with another key: a group has no braces, a rule name and a scope have no `:`, and the
 * address comes last (an IPv6 address has colons, nothing after it needs parsing).
 */
import { scopedKey } from '../decide/scoped-key.js';

/** A group name: 1–64 letters, digits, `_`, `.`, `-`, starting with a letter or digit (no braces, no `:`). */
export const GROUP_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** A replica id (the origin of the events a replica publishes): 1–128 such characters, `:` allowed. */
export const REPLICA_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** Host mode's scope (a container id) as the share stage accepts it: no space, no `:`, bounded. */
export const SCOPE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Rule names as the config allows them (RULE_NAME_RE in config/schema.ts, plus the `manual` pseudo-rule). */
export const SHARED_RULE_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Why `group` cannot name a share group, or null when it can. */
export function groupProblem(group: string): string | null {
  return GROUP_RE.test(group) ? null : 'a share group must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ (letters, digits, _ . -; at most 64)';
}

export interface GroupKeys {
  readonly group: string;
  /** `banhammer:{g}:` — what an ACL key and channel pattern must allow (followed by `*`). */
  readonly prefix: string;
  /**
   * Pub/sub channel of ban and unban events: `banhammer:{g}:events`, plus `:db<N>` for a database
   * other than 0. Keys live in a database, pub/sub does not (a message published from any database
   * reaches every subscriber of the channel): two services kept apart by database number that chose
   * the same group name received each other's bans.
   */
  readonly events: string;
  /** Hash: field = scopedKey(ip, scope), value = the ban as JSON (see messages.ts). */
  readonly bans: string;
  /** Sorted set of unban tombstones: field scored by the time of its last unban. */
  readonly unbans: string;
  /** A random token set once per Redis data set: a different value means Redis lost its data. */
  readonly epoch: string;
  /** Sorted set of one (rule, ip, scope)'s failure times. */
  failures(rule: string, ip: string, scope: string | undefined): string;
  /** Short-lived claim of a group offense for (rule, ip, scope): one offense per crossing. */
  claim(rule: string, ip: string, scope: string | undefined): string;
}

export function groupKeys(group: string, database = 0): GroupKeys {
  const problem = groupProblem(group);
  if (problem !== null) throw new RangeError(`invalid share group ${JSON.stringify(group.slice(0, 80))}: ${problem}`);
  const prefix = `banhammer:{${group}}:`;
  return {
    group,
    prefix,
    events: database === 0 ? `${prefix}events` : `${prefix}events:db${database}`,
    bans: `${prefix}bans`,
    epoch: `${prefix}epoch`,
    unbans: `${prefix}unbans`,
    failures: (rule, ip, scope) => `${prefix}fail:${windowPart(rule, ip, scope)}`,
    claim: (rule, ip, scope) => `${prefix}claim:${windowPart(rule, ip, scope)}`,
  };
}

function windowPart(rule: string, ip: string, scope: string | undefined): string {
  if (!SHARED_RULE_RE.test(rule)) throw new RangeError(`invalid rule name for a shared window: ${JSON.stringify(rule.slice(0, 80))}`);
  if (scope !== undefined && !SCOPE_RE.test(scope)) throw new RangeError('invalid scope for a shared window');
  if (ip.length === 0 || ip.length > 45 || /[\s{}]/.test(ip)) throw new RangeError('invalid address for a shared window');
  return `${rule}:${scope ?? '-'}:${ip}`;
}

/** The hash field of a ban: the same key the ban book and the detector use. */
export const banField = (ip: string, scope: string | undefined): string => scopedKey(ip, scope);
