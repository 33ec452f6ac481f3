/**
 * Pure builders for everything the iptables enforcer hands to iptables, ip6tables and ipset: names,
 * argv arrays and the text fed to `ipset restore` / `iptables-restore`. Nothing here runs anything;
 * tests compare the built argv and text as strings.
 *
 * Layout in the kernel for one instance (e.g. `web`):
 *   ipset  bh-web-v4 (hash:ip family inet)  and  bh-web-v6 (hash:ip family inet6), created with
 *          `timeout 0` so that every entry carries its own timeout and expires in the kernel even when
 *          the agent is dead (a permanent ban is an entry with timeout 0);
 *   chain  BANHAMMER-web in the filter table of iptables and ip6tables, holding two rules, TCP then UDP:
 *          `-p tcp -m set --match-set bh-web-v4 src -j DROP`  (reject: `-j REJECT --reject-with tcp-reset`)
 *          `-p udp -m set --match-set bh-web-v4 src -j DROP`  (reject: `-j REJECT --reject-with
 *                                     icmp-port-unreachable`, ip6tables `icmp6-port-unreachable`);
 *   jumps  `INPUT -p tcp -m multiport --dports 80,443 -j BANHAMMER-web`, then the same with `-p udp`,
 *          at the top of INPUT, one jump per protocol and group of at most 15 ports (multiport's
 *          limit): all TCP groups first, then all UDP groups.
 * UDP as well as TCP because a web server that speaks HTTP/3 (QUIC runs over UDP, normally on the
 * same port 443: nginx `listen 443 quic`, Caddy, Traefik, LiteSpeed) would otherwise keep serving a
 * banned client over UDP. The TCP rules and jumps are the ones of versions that closed TCP only, in
 * the same order: an agent started over such a layout keeps them and adds the UDP ones after them.
 * Unlike the docker-user chain (host mode, docker-user-args.ts) this chain needs no RETURN for the
 * replies to the container's own connections: the jumps match the guarded destination ports only, and
 * those replies come to the ephemeral source ports the kernel picked for the connections (32768–60999
 * by default), never a port a server of the container has bound (listening on TCP, bound on UDP).
 * With CIDR bans enabled (the enforcer's `cidr` option), two more sets bh-web-n4 / bh-web-n6
 * (hash:net, same timeouts) hold banned networks (`198.18.0.0/24`), and the chain holds two more
 * rules, the same as the first two with the network set:
 * `-p tcp -m set --match-set bh-web-n4 src -j DROP` and `-p udp -m set --match-set bh-web-n4 src -j DROP`.
 *
 * Names: an instance matches ^[A-Za-z0-9][A-Za-z0-9_.-]*$. iptables chain names hold at most 28
 * characters and ipset set names at most 31. Instances of up to 17 characters give
 * `BANHAMMER-<instance>` (≤ 27 chars); longer ones give `BANHAMMER-<first 9>-<8 hex of sha256>`
 * (exactly 28). Sets likewise: up to 24 characters give `bh-<instance>-v4` (≤ 30), longer ones
 * `bh-<first 16>-<8 hex>-v4` (exactly 31); the network sets end in `-n4` / `-n6` instead. Because the short forms are always shorter than the
 * hashed forms, a short instance can never collide with a long one's derived name.
 */
import { createHash } from 'node:crypto';
import { BanhammerError } from '../errors.js';
import { canonicalIp, canonicalTarget, isNetwork, networkCoverReason, nonClientReason as whyNotClient, type CanonicalIp } from '../parse/ip.js';
import type { EnforcerBatch, RefusedEntry } from './enforcer.js';

export type Family = 4 | 6;
export type BlockAction = 'drop' | 'reject';
/** The transport protocols a ban closes, in rule order (TCP first: its rules keep their place). */
export type Protocol = 'tcp' | 'udp';
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'];

export const INSTANCE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const CHAIN_PREFIX = 'BANHAMMER-';
export const CHAIN_NAME_MAX = 28;
export const SET_NAME_MAX = 31;
export const MULTIPORT_MAX_PORTS = 15;
export const DEFAULT_MAXELEM = 1_048_576;
/** The kernel's largest per-entry timeout (seconds, ~24.8 days); longer bans are clamped to it. */
export const MAX_IPSET_TIMEOUT_S = 2_147_483;
/**
 * Seconds iptables waits for the xtables lock before giving up with "Another app is currently holding
 * the xtables lock" (exit 4). Short and bounded on purpose: a plain `-w` waits for ever, so a lock
 * held longer than the command timeout ended in a kill (and the agent exiting); a bounded wait gives
 * a classified, transient error that FirewallCommands.exec retries with back-off.
 */
export const LOCK_WAIT_S = 2;
export const WAIT: readonly string[] = ['-w', String(LOCK_WAIT_S)];

const CHAIN_PLAIN_MAX = 17;
const SET_PLAIN_MAX = 24;

export interface FirewallNames {
  readonly instance: string;
  readonly chain: string;
  readonly sets: Readonly<Record<Family, string>>;
  /** hash:net sets of banned networks (CIDR bans), used only when the enforcer has them enabled. */
  readonly nets: Readonly<Record<Family, string>>;
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
  return { instance, chain, sets: { 4: `${base}-v4`, 6: `${base}-v6` }, nets: { 4: `${base}-n4`, 6: `${base}-n6` } };
}

/** Ports to protect: integers 1–65535, at least one; returned sorted and without duplicates. */
export function validatePorts(ports: readonly number[], enforcer = 'iptables'): number[] {
  if (ports.length === 0) {
    throw new BanhammerError('BH_ERR_CONFIG', `no ports to protect: the ${enforcer} enforcer needs at least one TCP port`, {
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

/**
 * Rule specs (no -A/-I/-C) of the INPUT jumps, in order: one per group of at most 15 ports with
 * `-p tcp`, then the same groups with `-p udp` (multiport needs one protocol per rule).
 */
export function jumpSpecs(chain: string, ports: readonly number[]): string[][] {
  const sorted = validatePorts(ports);
  const specs: string[][] = [];
  for (const proto of PROTOCOLS) {
    for (let i = 0; i < sorted.length; i += MULTIPORT_MAX_PORTS) {
      const group = sorted.slice(i, i + MULTIPORT_MAX_PORTS).join(',');
      specs.push(['-p', proto, '-m', 'multiport', '--dports', group, '-j', chain]);
    }
  }
  return specs;
}

/**
 * Rule spec blocking one protocol from `set` (default TCP, the rule of versions that closed TCP
 * only). Reject: TCP gets a reset; UDP an ICMP port unreachable (ICMPv6 for ip6tables, hence
 * `family`), what a closed UDP port answers, so a QUIC client gives up at once instead of waiting
 * for its handshake to time out (the kernel rate-limits ICMP errors it sends).
 */
export function blockSpec(set: string, action: BlockAction, proto: Protocol = 'tcp', family: Family = 4): string[] {
  const target = action === 'drop' ? ['-j', 'DROP'] : ['-j', 'REJECT', '--reject-with', proto === 'tcp' ? 'tcp-reset' : family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'];
  return ['-p', proto, '-m', 'set', '--match-set', set, 'src', ...target];
}

/** The rules blocking `set`, one per protocol (PROTOCOLS order: TCP, then UDP). */
export function blockSpecs(set: string, action: BlockAction, family: Family): string[][] {
  return PROTOCOLS.map((p) => blockSpec(set, action, p, family));
}

/** Our chain's rules for one family, in order: the address set's (TCP, UDP), then (CIDR bans) the network set's. */
export function chainRuleSpecs(names: FirewallNames, family: Family, action: BlockAction, cidr = false): string[][] {
  return [...blockSpecs(names.sets[family], action, family), ...(cidr ? blockSpecs(names.nets[family], action, family) : [])];
}

/**
 * iptables-restore input that creates the chain if missing, or flushes it if present, and fills it
 * with `specs` in order, in one transaction (no moment with the chain half filled). Run with
 * restoreArgs() (--noflush: nothing else in the table is touched).
 */
export function chainRestoreText(chain: string, specs: readonly (readonly string[])[]): string {
  return ['*filter', `:${chain} - [0:0]`, ...specs.map((s) => ['-A', chain, ...s].join(' ')), 'COMMIT', ''].join('\n');
}

export const restoreArgs = (): string[] => [...WAIT, '--noflush'];
export const checkRuleArgs = (chain: string, spec: readonly string[]): string[] => [...WAIT, '-C', chain, ...spec];
/**
 * Insert at the top of INPUT so that an earlier ACCEPT cannot let a banned address through (or at
 * `position`, 1-based: right below another of our jumps).
 */
export const insertRuleArgs = (chain: string, spec: readonly string[], position = 1): string[] => [...WAIT, '-I', chain, String(position), ...spec];
export const deleteRuleArgs = (chain: string, spec: readonly string[]): string[] => [...WAIT, '-D', chain, ...spec];
export const listChainArgs = (chain: string): string[] => [...WAIT, '-S', chain];
export const flushChainArgs = (chain: string): string[] => [...WAIT, '-F', chain];
export const deleteChainArgs = (chain: string): string[] => [...WAIT, '-X', chain];

/** `type` hash:net for the sets of banned networks (CIDR bans). */
export function createSetArgs(set: string, family: Family, maxelem = DEFAULT_MAXELEM, type: 'hash:ip' | 'hash:net' = 'hash:ip'): string[] {
  return ['-exist', 'create', set, type, 'family', family === 4 ? 'inet' : 'inet6', 'timeout', '0', 'maxelem', String(maxelem)];
}
export const destroySetArgs = (set: string): string[] => ['destroy', set];
export const listSetNamesArgs = (): string[] => ['list', '-n'];
/** Headers of every set (name, …, "Number of entries: N"), no members: the cheap count for check(). */
export const listSetHeadersArgs = (): string[] => ['list', '-t'];
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

/** An address of a batch that was not applied, and why (the shape of enforcer.ts's RefusedEntry). */
export type RejectedAddress = RefusedEntry;

/**
 * Why a valid address can never be a client (so is never written to a set or map), in words, or
 * null. The decision is parse/ip.ts's nonClientReason (one definition for parser, ban book and
 * enforcers): unspecified (0.0.0.0/8, ::; ipset refuses 0.0.0.0 and :: as "Null-valued element"),
 * multicast and broadcast addresses are never the source of a TCP connection.
 */
export function nonClientReason(c: CanonicalIp): string | null {
  switch (whyNotClient(c)) {
    case 'unspecified':
      return 'an unspecified address cannot be a client';
    case 'multicast':
      return 'a multicast address cannot be a client';
    case 'broadcast':
      return 'the broadcast address cannot be a client';
    default:
      return null;
  }
}

/** Why an enforcer without CIDR bans refuses a network. */
export const NO_CIDR_REASON = 'a network (CIDR) ban is not supported by this enforcer';

/** canonicalIp() plus nonClientReason(): the address as written to a set or map, or why not (a network is refused: NO_CIDR_REASON). */
export function clientAddress(raw: unknown): CanonicalIp | { reason: string } {
  const c = typeof raw === 'string' ? canonicalIp(raw) : null;
  if (!c) return { reason: typeof raw === 'string' && isNetwork(raw) && canonicalTarget(raw) !== null ? NO_CIDR_REASON : 'not a valid IP address' };
  const why = nonClientReason(c);
  return why === null ? c : { reason: why };
}

/** What an entry of a batch is, for a RefusedEntry: the address as given, its family and scope. */
export interface BatchEntry {
  readonly ip: string;
  readonly family: Family;
  readonly scope?: string | undefined;
}

const refusal = (e: BatchEntry, reason: string): RefusedEntry => ({
  ip: String(e.ip),
  family: e.family,
  ...(e.scope !== undefined ? { scope: e.scope } : {}),
  reason,
});

/**
 * Validates one address of a batch again: the canonical address and its family, or null after
 * recording in `rejected` why it cannot be applied (invalid, not a client address, or its family not
 * enabled). With `quiet`, an address that is valid but can never be a client, or a network, is
 * skipped without a record (an unban of 0.0.0.0 or of a network has nothing to remove).
 */
export function acceptAddress(entry: BatchEntry, families: readonly Family[], rejected: RefusedEntry[], quiet = false): CanonicalIp | null {
  const c = clientAddress(entry.ip);
  if ('reason' in c) {
    if (!(quiet && typeof entry.ip === 'string' && canonicalTarget(entry.ip) !== null)) rejected.push(refusal(entry, c.reason));
    return null;
  }
  if (!families.includes(c.family)) {
    rejected.push(refusal(entry, `IPv${c.family} is not enabled for this enforcer`));
    return null;
  }
  return c;
}

/**
 * A network of a batch (CIDR bans), validated again: canonical (host bits cleared) and never /0, wider
 * than MIN_BAN_PREFIX or covering loopback or a non-client range (networkCoverReason; the allowlist
 * was the ban book's check), its family enabled. A /32 or /128 comes back as an address (`net`
 * false). null after recording in `rejected` why not.
 */
export function acceptNetwork(entry: BatchEntry, families: readonly Family[], rejected: RefusedEntry[]): { ip: string; family: Family; net: boolean } | null {
  const t = typeof entry.ip === 'string' ? canonicalTarget(entry.ip) : null;
  if (t === null) {
    rejected.push(refusal(entry, 'not a valid network (address/prefix)'));
    return null;
  }
  if (!isNetwork(t.ip)) {
    const c = acceptAddress({ ...entry, ip: t.ip }, families, rejected);
    return c === null ? null : { ip: c.ip, family: c.family, net: false };
  }
  const why = networkCoverReason({ network: t.ip.slice(0, t.ip.indexOf('/')), prefix: t.prefix, family: t.family });
  if (why !== null) {
    rejected.push(refusal(entry, `${t.ip} ${why}`));
    return null;
  }
  if (!families.includes(t.family)) {
    rejected.push(refusal(entry, `IPv${t.family} is not enabled for this enforcer`));
    return null;
  }
  return { ip: t.ip, family: t.family, net: true };
}

/** A ban's expiry must be null (permanent) or a number (ms); anything else is refused, never written. */
export function acceptExpiry(b: BatchEntry & { readonly until: unknown }, rejected: RefusedEntry[]): boolean {
  if (b.until === null || (typeof b.until === 'number' && !Number.isNaN(b.until))) return true;
  rejected.push(refusal(b, `invalid expiry ${String(b.until)}`));
  return false;
}

/** One line of `ipset restore` input and the batch entry it came from (to report a refusal). */
export interface SetLine {
  readonly text: string;
  readonly entry: BatchEntry;
}

/** `ipset restore` input for some lines. */
export const restoreText = (lines: readonly SetLine[]): string => (lines.length === 0 ? '' : `${lines.map((l) => l.text).join('\n')}\n`);

export interface SetBatch {
  /** `ipset restore` lines per family (absent when that family has nothing to do). */
  readonly lines: Partial<Record<Family, readonly SetLine[]>>;
  /** The same as text, per family. */
  readonly text: Partial<Record<Family, string>>;
  readonly added: number;
  readonly deleted: number;
  readonly rejected: readonly RefusedEntry[];
}

/**
 * Turns a batch into `ipset restore` input, one text per family. Every address is validated again
 * (clientAddress); bad ones (and ones whose family is not enabled) are listed in `rejected` and the
 * rest is kept. Deletions come before additions, so an address both unbanned and banned in one
 * batch ends up banned. A ban that has already expired becomes a deletion. With `cidr`, a network
 * (`198.18.0.0/24`, acceptNetwork) goes to its family's network set (names.nets); without, a
 * network ban is refused (NO_CIDR_REASON) and a network unban is skipped.
 */
export function setBatch(batch: EnforcerBatch, names: FirewallNames, now: number, families: readonly Family[] = [4, 6], cidr = false): SetBatch {
  const lines: Record<Family, { del: SetLine[]; add: SetLine[] }> = { 4: { del: [], add: [] }, 6: { del: [], add: [] } };
  const rejected: RefusedEntry[] = [];
  const target = (e: BatchEntry, quiet: boolean): { ip: string; family: Family; set: string } | null => {
    if (cidr && typeof e.ip === 'string' && isNetwork(e.ip)) {
      const n = acceptNetwork(e, families, quiet ? [] : rejected);
      return n === null ? null : { ip: n.ip, family: n.family, set: (n.net ? names.nets : names.sets)[n.family] };
    }
    const c = acceptAddress(e, families, rejected, quiet);
    return c === null ? null : { ip: c.ip, family: c.family, set: names.sets[c.family] };
  };
  for (const u of batch.unban) {
    const c = target(u, true);
    if (c) lines[c.family].del.push({ text: `del ${c.set} ${c.ip}`, entry: u });
  }
  for (const b of batch.ban) {
    const c = target(b, false);
    if (!c || !acceptExpiry(b, rejected)) continue;
    const t = banTimeoutSeconds(b.until, now);
    if (t === null) lines[c.family].del.push({ text: `del ${c.set} ${c.ip}`, entry: b });
    else lines[c.family].add.push({ text: `add ${c.set} ${c.ip} timeout ${t}`, entry: b });
  }
  const out: Partial<Record<Family, SetLine[]>> = {};
  const text: Partial<Record<Family, string>> = {};
  let added = 0;
  let deleted = 0;
  for (const f of [4, 6] as const) {
    const { del, add } = lines[f];
    added += add.length;
    deleted += del.length;
    if (del.length + add.length > 0) {
      out[f] = [...del, ...add];
      text[f] = restoreText(out[f]);
    }
  }
  return { lines: out, text, added, deleted, rejected };
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

/** One set as `ipset list -t` shows it: its entry count, and its type and header line when listed. */
export interface SetHeader {
  readonly count: number;
  /** e.g. `hash:ip`; undefined when the listing has no Type line. */
  readonly type?: string | undefined;
  /** e.g. `family inet hashsize 1024 maxelem 1048576 timeout 0 …`; undefined when not listed. */
  readonly header?: string | undefined;
}

/** Parses `ipset list -t` output (every set's header): set name → its entry count, type and header. */
export function parseSetHeaderInfo(text: string): Map<string, SetHeader> {
  const out = new Map<string, { count: number; type?: string; header?: string }>();
  let cur: { count: number; type?: string; header?: string } | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('Name: ')) out.set(line.slice(6).trim(), (cur = { count: 0 }));
    else if (cur === null) continue;
    else if (line.startsWith('Number of entries: ')) cur.count = Number(line.slice(19).trim());
    else if (line.startsWith('Type: ')) cur.type = line.slice(6).trim();
    else if (line.startsWith('Header: ')) cur.header = line.slice(8).trim();
  }
  return out;
}

/** Parses `ipset list -t` output (every set's header): set name → number of entries. */
export function parseSetHeaders(text: string): Map<string, number> {
  return new Map([...parseSetHeaderInfo(text)].map(([name, h]) => [name, h.count]));
}

/**
 * Why a set listed under one of our names is not one we can ban with (someone destroyed it and
 * re-created it, or another version left it), or null. What matters: the type (an address set is
 * hash:ip, a network set hash:net), the family, per-entry timeout support (without it every ban is
 * refused), room for at least `maxelem` entries, and no `forceadd` (a full set would evict bans at
 * random). Hash size, counters, comments and a default timeout (every ban carries its own) do not
 * matter. A set that is no hash set at all (list:set, bitmap:…) is wrong whatever its header; a
 * hash set whose header does not list its maxelem, as every ipset since 6.0 does, is taken as fine
 * (an abridged listing: nothing to judge by).
 */
export function setShapeProblem(h: SetHeader, family: Family, type: 'hash:ip' | 'hash:net', maxelem: number): string | null {
  if (h.type === undefined) return null;
  if (!h.type.startsWith('hash:')) return `it is of type ${h.type}, not ${type}`;
  const words = (h.header ?? '').split(/\s+/);
  if (!words.includes('maxelem')) return null;
  if (h.type !== type) return `it is of type ${h.type}, not ${type}`;
  const value = (k: string): string | undefined => {
    const i = words.indexOf(k);
    return i < 0 ? undefined : words[i + 1];
  };
  const fam = family === 4 ? 'inet' : 'inet6';
  if (value('family') !== fam) return `its family is ${value('family') ?? 'unknown'}, not ${fam}`;
  if (value('timeout') === undefined) return 'it has no timeout support (every ban would be refused)';
  const room = Number(value('maxelem'));
  if (!(room >= maxelem)) return `it holds at most ${value('maxelem') ?? '?'} entries, fewer than ${maxelem}`;
  if (words.includes('forceadd')) return 'it has forceadd (once full it would evict bans at random)';
  return null;
}

/** A ban the ban book expects in one set: the canonical address, its expiry and the batch entry. */
export interface WantedEntry {
  readonly ip: string;
  readonly until: number | null;
  readonly entry: BatchEntry;
}

/** A kernel entry with this many seconds left that nobody expects is an expiring ban: left alone. */
export const STRAY_GRACE_S = 2;
/** An expected ban ending within this many ms that the kernel lacks is not re-added. */
export const MISSING_GRACE_MS = 1000;
/** A kernel timeout this far (s) from the expected one is rewritten. */
export const TIMEOUT_SLACK_S = 5;

export interface SetRepair {
  /** `ipset -exist restore` lines: deletions first, then additions. */
  readonly lines: readonly SetLine[];
  readonly missing: number;
  readonly stray: number;
  readonly retimed: number;
}

/**
 * What to write so that `set` holds exactly `want` (the unexpired bans of the ban book), given what
 * the kernel holds (`have`, from `ipset save`). Pure. Boundaries never cause a repair: a kernel entry
 * about to expire that nobody expects any more (the ban just ended), and an expected ban about to
 * end that the kernel no longer shows, are both left alone. A permanent ban whose entry has a timeout
 * (or the reverse), or a timeout far from the expected one, is re-added with the right timeout. A ban
 * longer than the kernel's cap (MAX_IPSET_TIMEOUT_S) is re-added once its clamped entry has expired.
 */
export function reconcileSet(set: string, family: Family, want: ReadonlyMap<string, WantedEntry>, have: readonly SetEntry[], now: number): SetRepair {
  const held = new Map<string, number>();
  for (const e of have) held.set(canonicalTarget(e.ip)?.ip ?? e.ip, e.timeout);
  const del: SetLine[] = [];
  const add: SetLine[] = [];
  let missing = 0;
  let retimed = 0;
  for (const w of want.values()) {
    const secs = banTimeoutSeconds(w.until, now);
    if (secs === null) continue;
    const kt = held.get(w.ip);
    if (kt === undefined) {
      if (w.until !== null && w.until - now < MISSING_GRACE_MS) continue;
      missing++;
    } else if (secs === 0 ? kt === 0 : kt !== 0 && (secs === MAX_IPSET_TIMEOUT_S || Math.abs(kt - secs) <= TIMEOUT_SLACK_S)) {
      // A ban longer than the kernel's cap holds a clamped timeout that counts down from the cap: any
      // running timeout is right (the entry is re-added as missing once it runs out).
      continue;
    } else {
      retimed++;
    }
    add.push({ text: `add ${set} ${w.ip} timeout ${secs}`, entry: w.entry });
  }
  for (const [ip, timeout] of held) {
    if (want.has(ip)) continue;
    if (timeout > 0 && timeout <= STRAY_GRACE_S) continue;
    del.push({ text: `del ${set} ${ip}`, entry: { ip, family } });
  }
  return { lines: [...del, ...add], missing, stray: del.length, retimed };
}

/** How many of `want` the kernel should hold now (bans not yet ended). */
export function wantedCount(want: ReadonlyMap<string, WantedEntry>, now: number): number {
  let n = 0;
  for (const w of want.values()) if (w.until === null || w.until > now) n++;
  return n;
}

/** One line describing a set repair, or null when there was nothing to repair. */
export function describeSetRepair(label: string, set: string, r: SetRepair): string | null {
  const parts: string[] = [];
  if (r.missing > 0) parts.push(`${r.missing} missing ban(s) re-added`);
  if (r.stray > 0) parts.push(`${r.stray} entr${r.stray === 1 ? 'y' : 'ies'} nobody banned removed`);
  if (r.retimed > 0) parts.push(`${r.retimed} timeout(s) corrected`);
  return parts.length === 0 ? null : `set (${label}): ${set}: ${parts.join(', ')}`;
}
