/**
 * Pure builders for everything the iptables enforcer hands to iptables, ip6tables and ipset: names,
 * argv arrays and the text fed to `ipset restore` / `iptables-restore`. Nothing here runs anything;
 * tests compare the built argv and text as strings.
 *
 * Layout in the kernel for one instance (e.g. `web`):
 *   ipset  bh-web-v4 (hash:ip family inet)  and  bh-web-v6 (hash:ip family inet6), created with
 *          `timeout 0` so that every entry carries its own timeout and expires in the kernel even when
 *          the agent is dead (a permanent ban is an entry with timeout 0);
 *   chain  BANHAMMER-web in the filter table of iptables and ip6tables, holding one rule:
 *          `-p tcp -m set --match-set bh-web-v4 src -j DROP` (or `-j REJECT --reject-with tcp-reset`);
 *   jumps  `INPUT -p tcp -m multiport --dports 80,443 -j BANHAMMER-web`, inserted at the top of
 *          INPUT, one jump per group of at most 15 ports (multiport's limit).
 *
 * Names: an instance matches ^[A-Za-z0-9][A-Za-z0-9_.-]*$. iptables chain names hold at most 28
 * characters and ipset set names at most 31. Instances of up to 17 characters give
 * `BANHAMMER-<instance>` (≤ 27 chars); longer ones give `BANHAMMER-<first 9>-<8 hex of sha256>`
 * (exactly 28). Sets likewise: up to 24 characters give `bh-<instance>-v4` (≤ 30), longer ones
 * `bh-<first 16>-<8 hex>-v4` (exactly 31). Because the short forms are always shorter than the
 * hashed forms, a short instance can never collide with a long one's derived name.
 */
import { createHash } from 'node:crypto';
import { BanhammerError } from '../errors.js';
import { canonicalIp } from '../parse/ip.js';
import type { EnforcerBatch } from './enforcer.js';

export type Family = 4 | 6;
export type BlockAction = 'drop' | 'reject';

export const INSTANCE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const CHAIN_PREFIX = 'BANHAMMER-';
export const CHAIN_NAME_MAX = 28;
export const SET_NAME_MAX = 31;
export const MULTIPORT_MAX_PORTS = 15;
export const DEFAULT_MAXELEM = 1_048_576;
/** The kernel's largest per-entry timeout (seconds, ~24.8 days); longer bans are clamped to it. */
export const MAX_IPSET_TIMEOUT_S = 2_147_483;
/** Always wait for the xtables lock instead of failing when another program holds it. */
export const WAIT = '-w';

const CHAIN_PLAIN_MAX = 17;
const SET_PLAIN_MAX = 24;

export interface FirewallNames {
  readonly instance: string;
  readonly chain: string;
  readonly sets: Readonly<Record<Family, string>>;
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

export function validateInstance(instance: string): string {
  if (!INSTANCE_RE.test(instance)) {
    throw new BanhammerError('BH_ERR_CONFIG', `invalid instance name ${JSON.stringify(instance)}: it must match ${INSTANCE_RE.source}`, {
      hint: 'use letters, digits, "_", "." and "-", starting with a letter or digit (e.g. the container name)',
      data: { instance },
    });
  }
  return instance;
}

/** Chain and set names for an instance (see the module comment for the shortening rule). */
export function firewallNames(instance: string): FirewallNames {
  validateInstance(instance);
  const h = instance.length > CHAIN_PLAIN_MAX || instance.length > SET_PLAIN_MAX ? shortHash(instance) : '';
  const chain = instance.length <= CHAIN_PLAIN_MAX ? `${CHAIN_PREFIX}${instance}` : `${CHAIN_PREFIX}${instance.slice(0, 9)}-${h}`;
  const base = instance.length <= SET_PLAIN_MAX ? `bh-${instance}` : `bh-${instance.slice(0, 16)}-${h}`;
  return { instance, chain, sets: { 4: `${base}-v4`, 6: `${base}-v6` } };
}

/** Ports to protect: integers 1–65535, at least one; returned sorted and without duplicates. */
export function validatePorts(ports: readonly number[]): number[] {
  if (ports.length === 0) {
    throw new BanhammerError('BH_ERR_CONFIG', 'no ports to protect: the iptables enforcer needs at least one TCP port', {
      hint: 'set the ports the container serves (e.g. ports: [80, 443])',
    });
  }
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new BanhammerError('BH_ERR_CONFIG', `invalid port ${JSON.stringify(p)}: ports are integers from 1 to 65535`, {
        hint: 'list the TCP ports the web server listens on inside the container, e.g. [80, 443]',
        data: { port: p },
      });
    }
  }
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** Rule specs (no -A/-I/-C) of the INPUT jumps: one per group of at most 15 ports. */
export function jumpSpecs(chain: string, ports: readonly number[]): string[][] {
  const sorted = validatePorts(ports);
  const specs: string[][] = [];
  for (let i = 0; i < sorted.length; i += MULTIPORT_MAX_PORTS) {
    const group = sorted.slice(i, i + MULTIPORT_MAX_PORTS).join(',');
    specs.push(['-p', 'tcp', '-m', 'multiport', '--dports', group, '-j', chain]);
  }
  return specs;
}

/** Rule spec of the chain's single rule. */
export function blockSpec(set: string, action: BlockAction): string[] {
  const target = action === 'reject' ? ['-j', 'REJECT', '--reject-with', 'tcp-reset'] : ['-j', 'DROP'];
  return ['-p', 'tcp', '-m', 'set', '--match-set', set, 'src', ...target];
}

/**
 * iptables-restore input that creates the chain if missing, or flushes it if present, and fills it,
 * in one transaction. Run with restoreArgs() (--noflush: nothing else in the table is touched).
 */
export function chainRestoreText(chain: string, set: string, action: BlockAction): string {
  return ['*filter', `:${chain} - [0:0]`, ['-A', chain, ...blockSpec(set, action)].join(' '), 'COMMIT', ''].join('\n');
}

export const restoreArgs = (): string[] => [WAIT, '--noflush'];
export const checkRuleArgs = (chain: string, spec: readonly string[]): string[] => [WAIT, '-C', chain, ...spec];
/** Insert at the top of INPUT so that an earlier ACCEPT cannot let a banned address through. */
export const insertRuleArgs = (chain: string, spec: readonly string[]): string[] => [WAIT, '-I', chain, '1', ...spec];
export const deleteRuleArgs = (chain: string, spec: readonly string[]): string[] => [WAIT, '-D', chain, ...spec];
export const listChainArgs = (chain: string): string[] => [WAIT, '-S', chain];
export const flushChainArgs = (chain: string): string[] => [WAIT, '-F', chain];
export const deleteChainArgs = (chain: string): string[] => [WAIT, '-X', chain];

export function createSetArgs(set: string, family: Family, maxelem = DEFAULT_MAXELEM): string[] {
  return ['-exist', 'create', set, 'hash:ip', 'family', family === 4 ? 'inet' : 'inet6', 'timeout', '0', 'maxelem', String(maxelem)];
}
export const destroySetArgs = (set: string): string[] => ['destroy', set];
export const listSetNamesArgs = (): string[] => ['list', '-n'];
export const saveSetArgs = (set: string): string[] => ['save', set];
/** `-exist`: re-adding an entry updates its timeout; deleting an absent entry is not an error. */
export const setRestoreArgs = (): string[] => ['-exist', 'restore'];

/**
 * Seconds to write for a ban expiring at `until` (ms) seen at `now` (ms): 0 for a permanent ban,
 * otherwise rounded up and clamped to MAX_IPSET_TIMEOUT_S; null when the ban has already expired.
 */
export function banTimeoutSeconds(until: number | null, now: number): number | null {
  if (until === null) return 0;
  const s = Math.ceil((until - now) / 1000);
  if (s <= 0) return null;
  return Math.min(s, MAX_IPSET_TIMEOUT_S);
}

export interface RejectedAddress {
  readonly ip: string;
  readonly reason: string;
}

/**
 * Validates one address of a batch again with canonicalIp: the canonical address and its family,
 * or null after recording in `rejected` why it cannot be applied (invalid, or its family not enabled).
 */
export function acceptAddress(raw: string, families: readonly Family[], rejected: RejectedAddress[]): { ip: string; family: Family } | null {
  const c = canonicalIp(raw);
  if (!c) {
    rejected.push({ ip: raw, reason: 'not a valid IP address' });
    return null;
  }
  if (!families.includes(c.family)) {
    rejected.push({ ip: raw, reason: `IPv${c.family} is not enabled for this enforcer` });
    return null;
  }
  return c;
}

export interface SetBatch {
  /** `ipset restore` input per family (absent when that family has nothing to do). */
  readonly text: Partial<Record<Family, string>>;
  readonly added: number;
  readonly deleted: number;
  readonly rejected: readonly RejectedAddress[];
}

/**
 * Turns a batch into `ipset restore` input, one text per family. Every address is validated again
 * with canonicalIp; bad ones (and ones whose family is not enabled) are listed in `rejected` and the
 * rest is kept. Deletions come before additions, so an address both unbanned and banned in one
 * batch ends up banned. A ban that has already expired becomes a deletion.
 */
export function setBatch(batch: EnforcerBatch, names: FirewallNames, now: number, families: readonly Family[] = [4, 6]): SetBatch {
  const lines: Record<Family, { del: string[]; add: string[] }> = { 4: { del: [], add: [] }, 6: { del: [], add: [] } };
  const rejected: RejectedAddress[] = [];
  const accept = (raw: string) => acceptAddress(raw, families, rejected);
  for (const u of batch.unban) {
    const c = accept(u.ip);
    if (c) lines[c.family].del.push(`del ${names.sets[c.family]} ${c.ip}`);
  }
  for (const b of batch.ban) {
    const c = accept(b.ip);
    if (!c) continue;
    const t = banTimeoutSeconds(b.until, now);
    if (t === null) lines[c.family].del.push(`del ${names.sets[c.family]} ${c.ip}`);
    else lines[c.family].add.push(`add ${names.sets[c.family]} ${c.ip} timeout ${t}`);
  }
  const text: Partial<Record<Family, string>> = {};
  let added = 0;
  let deleted = 0;
  for (const f of [4, 6] as const) {
    const { del, add } = lines[f];
    added += add.length;
    deleted += del.length;
    if (del.length + add.length > 0) text[f] = [...del, ...add, ''].join('\n');
  }
  return { text, added, deleted, rejected };
}

export interface SetEntry {
  readonly ip: string;
  /** Seconds left; 0 for a permanent entry. */
  readonly timeout: number;
}

/** Parses `ipset save <set>` output into its entries (other sets' lines are ignored). */
export function parseSetSave(text: string, set: string): SetEntry[] {
  const out: SetEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'add' || f[1] !== set || f[2] === undefined) continue;
    const ti = f.indexOf('timeout', 3);
    out.push({ ip: f[2], timeout: ti > 0 ? Number(f[ti + 1]) : 0 });
  }
  return out;
}
