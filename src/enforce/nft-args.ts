/**
 * Pure builders for everything the nftables enforcer hands to `nft`: names, the text of the
 * transactions fed to `nft -f -`, argv, and parsers for `nft -j` listings. Nothing here runs anything;
 * tests compare the built text as strings.
 *
 * Layout in the kernel for one instance (e.g. `web`), all inside one table of our own:
 *   table inet banhammer_web {
 *     set addr4 { type ipv4_addr; flags timeout; }        every element carries its own timeout and
 *     set addr6 { type ipv6_addr; flags timeout; }        the kernel expires it even when the agent is
 *                                                          dead; a permanent ban has no timeout
 *     chain input { type filter hook input priority -10; policy accept;
 *       tcp dport { 80, 443 } ip saddr @addr4 drop        (or `reject with tcp reset`)
 *       udp dport { 80, 443 } ip saddr @addr4 drop        (or `reject`: ICMP port unreachable)
 *       tcp dport { 80, 443 } ip6 saddr @addr6 drop
 *       udp dport { 80, 443 } ip6 saddr @addr6 drop
 *     }
 *   }
 * UDP as well as TCP because a web server that speaks HTTP/3 (QUIC runs over UDP, normally on the
 * same port 443) would otherwise keep serving a banned client over UDP. Each TCP rule is the one of
 * versions that closed TCP only; init() rewrites the chain in one transaction, so an agent started
 * over such a table gets the UDP rules with no moment without the TCP ones.
 * Host mode: the chain is `forward` (hook forward, priority -10: after Docker's DNAT, so daddr is the
 * container's own address) and matches every TCP and UDP port (`meta l4proto tcp` / `meta l4proto
 * udp`); each container with scoped bans gets sets c_<first 16 hex of its id>_4 / _6 and a pair of
 * rules per address. The chain reads:
 *       ct direction reply return                            (host mode only, first: see below)
 *       meta l4proto tcp ip saddr @addr4 drop                (a pair per host-wide set)
 *       meta l4proto udp ip saddr @addr4 drop
 *       …
 *       ip daddr 172.17.0.5 meta l4proto tcp ip saddr @c_0123456789abcdef_4 drop
 *       ip daddr 172.17.0.5 meta l4proto udp ip saddr @c_0123456789abcdef_4 drop
 * A forwarded packet from a banned address is either one it sent on its own (a connection or UDP
 * flow it started: blocked) or a reply to a connection a container opened towards it (its DNS
 * resolver, a database, an upstream API: never ours to block, or a ban, which anyone who can write to
 * the shared ban list can make, would cut containers off from their upstreams). The first rule lets
 * conntrack tell them apart: a packet in the REPLY direction of a tracked connection leaves our chain
 * (`return` ends this chain only; every other base chain still sees the packet). Not `ct direction
 * original` on each drop rule: a packet conntrack does not track has no direction, and must still be
 * dropped. Measured in network namespaces (kernel 6.18, nft 1.0.6): `ct direction` of an untracked
 * packet (a raw-table `notrack` rule for the banned client's traffic) or of an invalid one (TCP SYN+FIN)
 * does not match, so the packet falls through to the drop rules and is dropped; with `notrack` on the
 * banned address's packets, replies to a container's own connections to it are untracked too and are
 * dropped as before (the safe side). nft prints the rule as written (`nft -j`: a `ct` `direction` match
 * with `"reply"`, then `return`). In-container mode (input) has no such rule: it matches the guarded
 * ports only, and replies to the container's own connections come to the ephemeral source ports its
 * kernel picked (32768–60999 by default), never one a server of the container has bound (listening on
 * TCP, bound on UDP).
 *
 * With CIDR bans enabled, two more sets `net4`/`net6` ({ type …; flags interval,timeout; }) hold
 * networks (`198.18.0.0/24`) and have a pair of rules each like the address sets. nft refuses a network that
 * overlaps one already in the set ("interval overlaps with an existing one"): that ban is refused.
 *
 * Priority -10 runs before every `filter` (0) chain; a drop in any base chain is final, so no jump in
 * anyone else's chain is needed, whatever else (iptables-nft, iptables-legacy, Docker, ufw) runs.
 *
 * Names: an instance matches ^[A-Za-z0-9][A-Za-z0-9_.-]*$ (as for iptables), which after the
 * `banhammer_` prefix is always a valid nft identifier. Instances of up to 53 characters give
 * `banhammer_<instance>` (≤ 63 chars); longer ones `banhammer_<first 45>_<8 hex of sha256>` (exactly
 * 64), so a short name can never collide with a long one's derived name.
 *
 * Refreshing a ban: `add element` of an element that exists keeps its old timeout on kernels before
 * 6.10 (newer ones update it), and `delete element` of a missing element fails the transaction. So
 * every ban is written as `add` (makes sure it exists) + `delete` + `add` (with the new timeout), and
 * every unban as `add` + `delete`, inside one transaction: the same on every kernel, never an error
 * for a missing element, and atomic (the address is never unbanned in between, for other packets).
 * Where a probe at init shows that `add` rewrites the timeout (6.10 and newer; 6.18 here), a timed
 * ban in a hash set is the last `add` only, written `timeout T expires T`: the kernel rewrites an
 * element's timeout only when it differs from the one the element has, so a re-ban for the same
 * duration from a later now (a second rule, a manual ban again) kept the old expiry and the kernel let
 * the address go early; an `expires` restarts the countdown whatever the timeout (review H36).
 *
 * Timeouts are written in nft's compound syntax (`1d2h3m4s5ms`): nft 1.0.6 refuses one large figure
 * such as `1728000000ms` ("value too large") but takes `20d`.
 */
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { BanhammerError } from '../errors.js';
import { canonicalIp, canonicalTarget, isNetwork, networkCoverReason } from '../parse/ip.js';
import { CONTAINER_ID_RE } from '../docker/containers.js';
import type { ContainerTarget } from './docker-user-args.js';
import type { EnforcerBatch } from './enforcer.js';
import { NET_ADMIN_HINT } from './firewall-errors.js';
import { INSTANCE_RE, PROTOCOLS, clientAddress, validateInstance, validatePorts, type BlockAction, type Family, type Protocol } from './iptables-args.js';

export { INSTANCE_RE };

export const TABLE_PREFIX = 'banhammer_';
const TABLE_PLAIN_MAX = 63;
const TABLE_HASHED_KEEP = 45;
export const CHAIN_INPUT = 'input';
/** Runs before the `filter` (0) chains of iptables-nft, Docker, ufw, firewalld. */
export const INPUT_PRIORITY = -10;
/** Our base chain's hook: input (in-container mode) or forward (host mode, after Docker's DNAT). */
export type NftHook = 'input' | 'forward';
/**
 * At most this many element writes per `nft -f -` transaction (elementWrites: a ban is one write where
 * the kernel rewrites timeouts on `add`, else three; an unban two): 10,000 bans on a current kernel,
 * 3,333 on an older one. nft sizes its netlink socket buffer to the batch (100,000 elements went in
 * one transaction here, kernel 6.18, nft 1.0.6); the bound keeps one transaction's text (about
 * 0.5 MB) and its isolation, should one element be refused, small. Each transaction is one `nft`
 * process forked from the agent, and a fork costs the agent more the larger its heap (here 1.7 ms
 * from a small one, 6 ms from one of 240 MB: its page tables are copied): with 5,000 a transaction,
 * the 20 processes of a restore of 100,000 bans cost the agent's start about 0.1 s in forks alone,
 * besides nft's own start-up in each (10 processes now).
 */
export const DEFAULT_BATCH_ELEMENTS = 10_000;
/**
 * Longest timeout written into an element (20 days). Old kernels, before the 2018 change "netfilter:
 * nf_tables: support timeouts larger than 23 days" (around Linux 4.19), overflow past ~23 days; 6.18
 * here took 100,000 days. The daemon re-applies every ban every 6 h, which rewrites a capped element
 * long before it expires (and check() does not count a capped element as wrong, CAPPED_REFRESH_SLACK_MS).
 */
export const MAX_NFT_TIMEOUT_MS = 20 * 86_400_000;
/** A capped element is fine while it has more than cap minus this left (twice the daemon's 6 h re-apply). */
export const CAPPED_REFRESH_SLACK_MS = 12 * 3_600_000;

export interface NftNames {
  readonly instance: string;
  readonly table: string;
  readonly chain: string;
  /** Address sets (hash): one address per element. */
  readonly sets: Readonly<Record<Family, string>>;
  /** Network sets (interval), only with CIDR bans enabled: one prefix per element. */
  readonly nets: Readonly<Record<Family, string>>;
}

export type SetKind = 'addr' | 'net';

/** One of our sets. */
export interface NftSet {
  readonly name: string;
  readonly family: Family;
  readonly kind: SetKind;
  /** Host mode: the container whose clients this set holds (absent: host-wide). */
  readonly scope?: string | undefined;
}

/** Host mode: the set of a container's banned clients (`c_<first 16 hex of the id>_4` / `_6`). */
export function containerSetName(containerId: string, family: Family): string {
  if (!CONTAINER_ID_RE.test(containerId)) {
    throw new BanhammerError('BH_ERR_INTERNAL', `not a container id: ${JSON.stringify(containerId)}`, { hint: 'report this as a bug' });
  }
  return `c_${containerId.slice(0, 16)}_${family}`;
}

/** The set an element belongs in: a container's, or the host-wide address or network set of its family. */
export function opSet(names: NftNames, o: { readonly family: Family; readonly kind: SetKind; readonly scope?: string | undefined }): string {
  if (o.scope !== undefined) return containerSetName(o.scope, o.family);
  return o.kind === 'addr' ? names.sets[o.family] : names.nets[o.family];
}

/** Table, chain and set names for an instance (see the module comment for the shortening rule). */
export function nftNames(instance: string, hook: NftHook = 'input'): NftNames {
  validateInstance(instance);
  const plain = `${TABLE_PREFIX}${instance}`;
  const table = plain.length <= TABLE_PLAIN_MAX
    ? plain
    : `${TABLE_PREFIX}${instance.slice(0, TABLE_HASHED_KEEP)}_${createHash('sha256').update(instance).digest('hex').slice(0, 8)}`;
  return { instance, table, chain: hook, sets: { 4: 'addr4', 6: 'addr6' }, nets: { 4: 'net4', 6: 'net6' } };
}

/** Ports to protect: integers 1–65535, at least one; returned sorted and without duplicates (one rule with iptables'). */
export function validateNftPorts(ports: readonly number[]): number[] {
  return validatePorts(ports, 'nftables');
}

/** What the table must hold. */
export interface NftLayout {
  readonly names: NftNames;
  readonly ports: readonly number[];
  readonly action: BlockAction;
  readonly families: readonly Family[];
  /** Set capacity (`size`); undefined = the kernel's default (no limit for these sets). */
  readonly size?: number | undefined;
  /** CIDR bans: interval sets net4/net6 and their rules (kernels with interval sets with timeouts). */
  readonly cidr?: boolean | undefined;
  /** Host mode (chain `forward`): the containers with scoped bans, each with its sets and one rule per address. */
  readonly containers?: readonly ContainerTarget[] | undefined;
}

const byId = (a: ContainerTarget, b: ContainerTarget): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Our sets in a fixed order: the address sets, then (with CIDR bans) the network sets. */
export function layoutSets(layout: NftLayout): NftSet[] {
  const out: NftSet[] = layout.families.map((f) => ({ name: layout.names.sets[f], family: f, kind: 'addr' as const }));
  if (layout.cidr) for (const f of layout.families) out.push({ name: layout.names.nets[f], family: f, kind: 'net' });
  for (const c of [...(layout.containers ?? [])].sort(byId)) {
    for (const f of layout.families) out.push({ name: containerSetName(c.id, f), family: f, kind: 'addr', scope: c.id });
  }
  return out;
}

const flagsOf = (kind: SetKind): string => (kind === 'net' ? 'interval,timeout' : 'timeout');

const ADDR_TYPE: Record<Family, string> = { 4: 'ipv4_addr', 6: 'ipv6_addr' };
const SADDR: Record<Family, string> = { 4: 'ip saddr', 6: 'ip6 saddr' };

export function setDefinition(layout: NftLayout, set: NftSet): string {
  const size = layout.size !== undefined ? ` size ${layout.size};` : '';
  return `{ type ${ADDR_TYPE[set.family]}; flags ${flagsOf(set.kind)};${size} }`;
}

export function chainDefinition(hook: string = CHAIN_INPUT): string {
  return `{ type filter hook ${hook} priority ${INPUT_PRIORITY}; policy accept; }`;
}

const DADDR: Record<Family, string> = { 4: 'ip daddr', 6: 'ip6 daddr' };

/**
 * The verdict for one protocol: drop, or reject: a TCP reset for TCP, nft's plain `reject` (ICMP or
 * ICMPv6 port unreachable, what a closed UDP port answers) for UDP.
 */
function verdictOf(action: BlockAction, proto: Protocol): string {
  if (action !== 'reject') return 'drop';
  return proto === 'tcp' ? 'reject with tcp reset' : 'reject';
}

/**
 * The rule for one host-wide set and one protocol (default TCP, the rule of versions that closed TCP
 * only; as written, nft may print it differently). In-container mode (input) matches the container's
 * ports; host mode (forward) every port, since after DNAT the port is the container's, not the
 * published one.
 */
export function blockRule(layout: NftLayout, set: NftSet, proto: Protocol = 'tcp'): string {
  const match = layout.names.chain === 'forward' ? `meta l4proto ${proto}` : `${proto} dport { ${layout.ports.join(', ')} }`;
  return `${match} ${SADDR[set.family]} @${set.name} ${verdictOf(layout.action, proto)}`;
}

/**
 * Host mode's first rule: a packet in the reply direction of a connection conntrack tracks (one a
 * container opened) leaves our chain; an untracked or invalid packet does not match (see the module
 * comment).
 */
export const REPLY_RETURN_RULE = 'ct direction reply return';

/**
 * Every rule of our chain, in order: (host mode) REPLY_RETURN_RULE, a pair (TCP, UDP) per host-wide
 * set, then (host mode) a pair per container address.
 */
export function blockRules(layout: NftLayout): string[] {
  const sets = layoutSets(layout);
  const rules = layout.names.chain === 'forward' ? [REPLY_RETURN_RULE] : [];
  rules.push(...sets.filter((s) => s.scope === undefined).flatMap((s) => PROTOCOLS.map((p) => blockRule(layout, s, p))));
  for (const c of [...(layout.containers ?? [])].sort(byId)) {
    for (const f of layout.families) {
      for (const raw of f === 4 ? c.v4 : c.v6) {
        const a = canonicalIp(raw);
        if (!a || a.family !== f) continue;
        for (const p of PROTOCOLS) rules.push(`${DADDR[f]} ${a.ip} meta l4proto ${p} ${SADDR[f]} @${containerSetName(c.id, f)} ${verdictOf(layout.action, p)}`);
      }
    }
  }
  return rules;
}

/** What is wrong with the table as found (see diffStructure); an empty plan for a fresh start. */
export interface SetupPlan {
  /** The input chain exists with the right hook: flush it before re-adding our rules. */
  readonly chainExists: boolean;
  /** The input chain exists with another type, hook, priority or policy: delete and re-create it. */
  readonly chainWrong: boolean;
  /** Our sets (names) that exist with another type, flags or size: delete and re-create them (empty). */
  readonly badSets: readonly string[];
  /** Chains in our table that we did not create: flush and delete them. */
  readonly foreignChains: readonly string[];
  /** Sets in our table that we did not create (and no longer use): delete them. */
  readonly foreignSets: readonly string[];
}

export const FRESH_PLAN: SetupPlan = { chainExists: false, chainWrong: false, badSets: [], foreignChains: [], foreignSets: [] };

/**
 * One transaction that makes the table exactly ours and keeps the elements of sets that are right:
 * create what is missing (`add` of an existing table, set or chain is a no-op), delete what is wrong
 * or foreign (rules first, since a set in use cannot be deleted), flush our chain and write its rules.
 */
export function setupScript(layout: NftLayout, plan: SetupPlan = FRESH_PLAN): string {
  const t = `inet ${layout.names.table}`;
  const c = layout.names.chain;
  const lines = [`add table ${t}`];
  // Sets before chains, chains' rules flushed before sets are deleted (a set in use cannot go).
  for (const name of plan.foreignChains) lines.push(`flush chain ${t} ${name}`);
  if (plan.chainExists || plan.chainWrong) lines.push(`flush chain ${t} ${c}`);
  for (const name of plan.foreignChains) lines.push(`delete chain ${t} ${name}`);
  if (plan.chainWrong) lines.push(`delete chain ${t} ${c}`);
  for (const name of plan.foreignSets) lines.push(`delete set ${t} ${name}`);
  for (const name of plan.badSets) lines.push(`delete set ${t} ${name}`);
  const sets = layoutSets(layout);
  for (const set of sets) lines.push(`add set ${t} ${set.name} ${setDefinition(layout, set)}`);
  lines.push(`add chain ${t} ${c} ${chainDefinition(c)}`);
  // Also when the listing said there was no chain: if one appeared meanwhile, this keeps us from doubling its rules.
  lines.push(`flush chain ${t} ${c}`);
  for (const r of blockRules(layout)) lines.push(`add rule ${t} ${c} ${r}`);
  return lines.join('\n') + '\n';
}

export const applyArgs = (): string[] => ['-f', '-'];
/** Structure without set elements: cheap even with 100,000 bans (a `list table` would fetch them). */
export const listStructureArgs = (): string[] => ['-j', '-t', 'list', 'ruleset'];
/**
 * Our table alone, without set elements in the output; nft exits 1 with "No such file or directory"
 * when the table is missing. nft 1.0.6 still loads every element of the table's sets to print it
 * (0.6 to 0.9 s beside 100,000 bans; nft 1.1.3 does not). One of the two listings check() chooses between
 * (nft-listing-choice.ts).
 */
export const listTableArgs = (names: NftNames): string[] => ['-j', '-t', 'list', 'table', 'inet', names.table];
/**
 * Every inet table without any set's elements (a few ms whatever the sets hold), but as dear as other
 * programs' inet rules are many (30,000 rules: about 1.7 s). The other listing check() chooses
 * between; a missing table of ours is one absent from it.
 */
export const listInetRulesetArgs = (): string[] => ['-j', '-t', 'list', 'ruleset', 'inet'];
export const listSetArgs = (names: NftNames, set: string): string[] => ['-j', 'list', 'set', 'inet', names.table, set];
/** Whether one element is in a set (exit 0), without listing the set: `nft get element … { ip }`. */
export const getElementArgs = (names: NftNames, set: string, ip: string): string[] => ['get', 'element', 'inet', names.table, set, '{', ip, '}'];
export const deleteTableArgs = (names: NftNames): string[] => ['delete', 'table', 'inet', names.table];
/** A set's definition without its elements, as text: `nft -j` (1.0.6) leaves `auto-merge` out. */
export const setHeaderArgs = (names: NftNames, set: string): string[] => ['-t', 'list', 'set', 'inet', names.table, set];
/**
 * Whether a set's text definition (setHeaderArgs) carries `auto-merge`: nft then merges adjacent and
 * overlapping networks written into it (two /24 bans become one /23 element, which no unban of a
 * /24 can delete and every element comparison finds stray). We never write it.
 */
export const hasAutoMerge = (text: string): boolean => /^\s*auto-merge\s*$/m.test(text);

/** A scratch set in our table for probeScripts (no rule uses it; setupScript removes it as foreign). */
export const PROBE_SET = 'probe';
/** The probe's elements: from the benchmarking range (RFC 2544), in a set no rule reads. */
const PROBE_ADDR = '198.18.255.254';
const PROBE_SAME = '198.18.255.253';

/**
 * Does `add element` rewrite the expiry of an element that exists, as elementScript writes it with
 * timeoutUpdates (`timeout T expires T`)? Three steps: create the scratch set holding one probe
 * address with a 1 s timeout and another with 1 h; add the first again with 1 h, and the second with
 * the same 1 h timeout but `expires 2s` (the kernel leaves an element whose timeout is unchanged
 * alone unless it also takes the expiry); then (after listing the set with listSetArgs) delete the set.
 */
export function probeScripts(names: NftNames): { create: string; readd: string; remove: string } {
  const s = `inet ${names.table} ${PROBE_SET}`;
  return {
    create: `add set ${s} { type ipv4_addr; flags timeout; }\nflush set ${s}\nadd element ${s} { ${PROBE_ADDR} timeout 1s, ${PROBE_SAME} timeout 1h }\n`,
    readd: `add element ${s} { ${PROBE_ADDR} timeout 1h expires 1h, ${PROBE_SAME} timeout 1h expires 2s }\n`,
    remove: `delete set ${s}\n`,
  };
}

/** The kernel rewrites expiries: the first probe address has over 60 s left, the second (same timeout, new expiry) at most that. */
export function probeSaysUpdates(listing: string): boolean {
  const held = parseSetElements(listing);
  const e = held.find((x) => x.ip === PROBE_ADDR);
  const same = held.find((x) => x.ip === PROBE_SAME);
  return e !== undefined && e.expiresS !== null && e.expiresS > 60 && (same === undefined || (same.expiresS !== null && same.expiresS <= 60));
}

/** One element change, already validated: the canonical address (or network/prefix) and what to do with it. */
export interface ElementOp {
  readonly ip: string;
  readonly family: Family;
  readonly kind: SetKind;
  /** Host mode: the container the ban is scoped to (its own set). */
  readonly scope?: string | undefined;
  /** Timeout in ms for a ban, 'permanent' for a ban without expiry, 'delete' for an unban. */
  readonly op: number | 'permanent' | 'delete';
}

/**
 * Milliseconds to write for a ban expiring at `until` (ms) seen at `now`: 'permanent' for null,
 * otherwise clamped to MAX_NFT_TIMEOUT_MS; null when the ban has already expired.
 */
export function banTimeoutMs(until: number | null, now: number, cap = MAX_NFT_TIMEOUT_MS): number | 'permanent' | null {
  if (until === null) return 'permanent';
  const ms = Math.ceil(until - now);
  if (ms <= 0) return null;
  return Math.min(ms, cap);
}

/**
 * A duration as nft's time syntax, e.g. 90061001 → `1d1h1m1s1ms`. Compound, because nft 1.0.6
 * refuses a single large component (`1728000000ms`: "value too large") but takes `20d`.
 */
export function nftDuration(ms: number): string {
  let rest = Math.max(1, Math.ceil(ms));
  let out = '';
  for (let u = 0; u < DURATION_UNITS.length; u++) {
    const size = DURATION_SIZES[u]!;
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out += `${n}${DURATION_UNITS[u]!}`;
  }
  return out;
}

const DURATION_UNITS = ['d', 'h', 'm', 's', 'ms'] as const;
const DURATION_SIZES = [86_400_000, 3_600_000, 60_000, 1000, 1] as const;

/** An element as written: with its timeout, and with `expires` (the same) where it may rewrite one that exists. */
function element(o: ElementOp, expires = false): string {
  if (typeof o.op !== 'number') return o.ip;
  const d = nftDuration(o.op);
  return expires ? `${o.ip} timeout ${d} expires ${d}` : `${o.ip} timeout ${d}`;
}

/** How many element writes elementScript makes for one change (see the module comment). */
export function elementWrites(o: ElementOp, opts: { timeoutUpdates?: boolean } = {}): number {
  if (o.op === 'delete') return 2;
  return opts.timeoutUpdates && o.kind === 'addr' && typeof o.op === 'number' ? 1 : 3;
}

/**
 * Cuts element changes into transactions of at most `maxWrites` element writes each (one change
 * alone may exceed it when maxWrites < 3), in order.
 */
export function chunkOps(ops: readonly ElementOp[], maxWrites: number, opts: { timeoutUpdates?: boolean } = {}): ElementOp[][] {
  const out: ElementOp[][] = [];
  let cur: ElementOp[] = [];
  let writes = 0;
  for (const o of ops) {
    const w = elementWrites(o, opts);
    if (cur.length > 0 && writes + w > maxWrites) {
      out.push(cur);
      cur = [];
      writes = 0;
    }
    cur.push(o);
    writes += w;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * The transaction for a list of element changes (see the module comment): per set, one `add` of
 * every touched address, one `delete` of them all, one `add` of the banned ones with their timeouts.
 * With `timeoutUpdates` (the kernel rewrites the timeout of an element that is added again: 6.10 and
 * newer, probed at init), timed bans in address sets skip the add + delete: a third of the work.
 * With `refreshExpiry` as well (what the enforcer's probe checks), such a ban also carries `expires`
 * equal to its timeout, so an element whose timeout is already that value still gets the new expiry.
 */
export function elementScript(names: NftNames, ops: readonly ElementOp[], opts: { timeoutUpdates?: boolean; refreshExpiry?: boolean } = {}): string {
  const lines: string[] = [];
  const bySet = new Map<string, ElementOp[]>();
  for (const o of ops) {
    const name = opSet(names, o);
    const list = bySet.get(name);
    if (list) list.push(o);
    else bySet.set(name, [o]);
  }
  for (const [name, mine] of bySet) {
    const s = `inet ${names.table} ${name}`;
    const bans = mine.filter((o) => o.op !== 'delete');
    // Where `add` rewrites an existing element's timeout (probed), a timed ban in a hash set needs only the last add.
    const touched = mine.filter((o) => elementWrites(o, opts) !== 1);
    if (touched.length > 0) {
      lines.push(`add element ${s} { ${touched.map((o) => element(o)).join(', ')} }`);
      lines.push(`delete element ${s} { ${touched.map((o) => o.ip).join(', ')} }`);
    }
    if (bans.length > 0) lines.push(`add element ${s} { ${bans.map((o) => element(o, opts.refreshExpiry === true && elementWrites(o, opts) === 1)).join(', ')} }`);
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/**
 * An address that may be written into the script: canonical, one a client can send from and of an
 * enabled family (iptables-args.ts's clientAddress: parse/ip.ts's one definition of a non-client
 * address, and the same words as the other enforcers); otherwise the reason.
 */
export function acceptClientAddress(raw: string, families: readonly Family[]): { ip: string; family: Family } | { reason: string } {
  const c = clientAddress(raw);
  if ('reason' in c) return c;
  if (!families.includes(c.family)) return { reason: `IPv${c.family} is not enabled for this enforcer` };
  return c;
}

/** Networks that may never be banned as a whole: they hold loopback or the unspecified address. */
const NEVER_COVER: Record<Family, readonly [ipaddr.IPv4 | ipaddr.IPv6, number][]> = {
  4: [[ipaddr.parse('127.0.0.0'), 8], [ipaddr.parse('0.0.0.0'), 8]],
  6: [[ipaddr.parse('::1'), 128], [ipaddr.parse('::'), 128]],
};

/**
 * What a ban's `ip` targets: a plain address (acceptClientAddress), or with CIDR bans enabled a
 * network `addr/prefix` (canonicalTarget: canonical, host bits cleared — 198.18.0.9/24 is 198.18.0.0/24 —
 * and a full-length prefix is an address).
 * A network is refused when it is /0 or overlaps loopback or the unspecified range.
 */
export function acceptTarget(raw: string, families: readonly Family[], cidr: boolean): { ip: string; family: Family; kind: SetKind } | { reason: string } {
  if (typeof raw !== 'string') return { reason: 'not a valid IP address' };
  if (!raw.includes('/')) {
    const a = acceptClientAddress(raw, families);
    return 'reason' in a ? a : { ip: a.ip, family: a.family, kind: 'addr' };
  }
  // canonicalTarget, as the ban book and the iptables enforcer read a ban's network: an IPv4-mapped
  // spelling (`::ffff:198.18.0.0/120`) is no ban target, though configuration lists read it (parseCidr).
  const t = canonicalTarget(raw);
  if (t === null) return { reason: 'not a valid network (address/prefix)' };
  if (!isNetwork(t.ip)) {
    const a = acceptClientAddress(t.ip, families);
    return 'reason' in a ? a : { ip: a.ip, family: a.family, kind: 'addr' };
  }
  const n = { network: t.ip.slice(0, t.ip.indexOf('/')), prefix: t.prefix, family: t.family };
  if (!cidr) return { reason: 'CIDR bans are not enabled for this enforcer' };
  if (!families.includes(n.family)) return { reason: `IPv${n.family} is not enabled for this enforcer` };
  if (n.prefix === 0) return { reason: 'a /0 network would ban everyone' };
  const net = ipaddr.parse(n.network);
  for (const [addr, len] of NEVER_COVER[n.family]) {
    // Two prefixes overlap when the shorter one holds the other's network address.
    const overlaps = n.prefix <= len ? (addr as ipaddr.IPv4).match(net as ipaddr.IPv4, n.prefix) : (net as ipaddr.IPv4).match(addr as ipaddr.IPv4, len);
    if (overlaps) return { reason: `${n.network}/${n.prefix} covers ${addr.toString()}/${len} (loopback or unspecified)` };
  }
  // The rest of what acceptNetwork (iptables, log) refuses: wider than /8 (IPv6 /32), covering
  // multicast, the broadcast address or IPv4-mapped IPv6 (128.0.0.0/1 was written).
  const why = networkCoverReason(n);
  if (why !== null) return { reason: `${t.ip} ${why}` };
  return { ip: `${n.network}/${n.prefix}`, family: n.family, kind: 'net' };
}

/** acceptTarget, plus the scope: allowed only in host mode, only a container id, only for addresses. */
export function acceptScopedTarget(
  raw: string,
  scope: string | undefined,
  families: readonly Family[],
  opts: { cidr?: boolean; scoped?: boolean },
): { ip: string; family: Family; kind: SetKind } | { reason: string } {
  const a = acceptTarget(raw, families, opts.cidr ?? false);
  if ('reason' in a || scope === undefined) return a;
  if (!opts.scoped) return { reason: 'container-scoped bans need host mode' };
  if (!CONTAINER_ID_RE.test(scope)) return { reason: `scope ${JSON.stringify(scope.slice(0, 80))} is not a container id` };
  if (a.kind !== 'addr') return { reason: 'a CIDR ban cannot be scoped to a container' };
  return a;
}

export interface RefusedOp {
  readonly ip: string;
  readonly family: Family;
  readonly scope?: string | undefined;
  readonly reason: string;
}

/**
 * Turns a batch into validated element changes, one per address (unbans first, then bans, so an
 * address both unbanned and banned in one batch ends up banned; a ban that already expired becomes a
 * deletion). Addresses that fail acceptClientAddress are returned in `refused`, the rest is kept.
 */
export function elementOps(
  batch: EnforcerBatch,
  families: readonly Family[],
  now: number,
  opts: { cap?: number; cidr?: boolean; scoped?: boolean } = {},
): { ops: ElementOp[]; refused: RefusedOp[] } {
  const cap = opts.cap ?? MAX_NFT_TIMEOUT_MS;
  const byIp = new Map<string, ElementOp>();
  const refused: RefusedOp[] = [];
  const take = (raw: string, family: Family, scope: string | undefined, op: (ip: string) => ElementOp['op'], quiet = false): void => {
    const a = acceptScopedTarget(raw, scope, families, opts);
    if ('reason' in a) {
      // An unban of a valid address that can never be a client removes nothing (it was never written).
      if (quiet && typeof raw === 'string' && canonicalIp(raw) !== null && 'reason' in clientAddress(raw)) return;
      refused.push({ ip: String(raw), family, ...(scope !== undefined ? { scope } : {}), reason: a.reason });
      return;
    }
    const key = `${scope ?? ''} ${a.ip}`;
    byIp.delete(key);
    const e: { ip: string; family: Family; kind: SetKind; scope?: string; op: ElementOp['op'] } = { ip: a.ip, family: a.family, kind: a.kind, op: op(a.ip) };
    if (scope !== undefined) e.scope = scope;
    byIp.set(key, e);
  };
  for (const u of batch.unban) take(u.ip, u.family, u.scope, () => 'delete', true);
  for (const b of batch.ban) {
    // Like acceptExpiry (iptables, docker-user): NaN or a non-number would be written as `timeout `,
    // a syntax error that fails the whole transaction.
    if (b.until !== null && (typeof b.until !== 'number' || Number.isNaN(b.until))) {
      refused.push({ ip: String(b.ip), family: b.family, ...(b.scope !== undefined ? { scope: b.scope } : {}), reason: `invalid expiry ${String(b.until)}` });
      continue;
    }
    take(b.ip, b.family, b.scope, () => banTimeoutMs(b.until, now, cap) ?? 'delete');
  }
  return { ops: [...byIp.values()], refused };
}

/** The first error line nft printed, without its `/dev/stdin:3:10-20: Error: ` location prefix. */
export function nftReason(stderr: string, fallback = 'refused by nft'): string {
  const line = stderr.split('\n').map((l) => l.trim()).find((l) => /Error:/.test(l)) ?? stderr.split('\n').find((l) => l.trim() !== '')?.trim();
  if (!line) return fallback;
  return line.replace(/^.*?Error:\s*/, '');
}

// ---- listings (`nft -j`) ----

export interface NftSetInfo {
  readonly type: string;
  readonly flags: readonly string[];
  readonly size: number | undefined;
  /**
   * The set's default element timeout (seconds), when it has one: we never give one, and with one
   * every element written without a timeout (a permanent ban) gets it and expires.
   */
  readonly timeout?: number | undefined;
}

export interface NftChainInfo {
  readonly type: string | undefined;
  readonly hook: string | undefined;
  readonly prio: number | undefined;
  readonly policy: string | undefined;
}

export interface NftTableView {
  /**
   * The table's own flags, as nft printed them, when it has any: we never set one, and `dormant`
   * (anyone with CAP_NET_ADMIN can set it) makes the table filter nothing. nft 1.0.6 prints its
   * release name in place of the flag's (`"flags": "Lester Gooch #5"`): any value counts.
   */
  readonly flags?: string | undefined;
  readonly sets: ReadonlyMap<string, NftSetInfo>;
  readonly chains: ReadonlyMap<string, NftChainInfo>;
  /** Per chain, each rule's expressions as JSON text (handles left out), in order. */
  readonly rules: ReadonlyMap<string, readonly string[]>;
}

type Json = Record<string, unknown>;

function objects(json: string): Json[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new BanhammerError('BH_ERR_FIREWALL', `cannot read the output of nft -j: ${(e as Error).message}`, {
      hint: 'check that the nft binary is nftables 0.9 or newer',
    });
  }
  const list = (parsed as { nftables?: unknown }).nftables;
  return Array.isArray(list) ? (list as Json[]) : [];
}

/** Our table as `nft -j -t list table` (or `list ruleset`) shows it; undefined when the table does not exist. */
export function parseTable(json: string, table: string): NftTableView | undefined {
  let found = false;
  const sets = new Map<string, NftSetInfo>();
  const chains = new Map<string, NftChainInfo>();
  const rules = new Map<string, string[]>();
  let flags: string | undefined;
  for (const o of objects(json)) {
    const [kind, body] = Object.entries(o)[0] ?? [];
    if (!body || typeof body !== 'object') continue;
    const b = body as Json;
    if (b['family'] !== 'inet') continue;
    if (kind === 'table' && b['name'] === table) {
      found = true;
      const f = b['flags'];
      if (f !== undefined && f !== null && !(Array.isArray(f) && f.length === 0)) flags = Array.isArray(f) ? f.map(String).join(',') : String(f);
    }
    if (b['table'] !== table) continue;
    if (kind === 'set') {
      const flags = Array.isArray(b['flags']) ? (b['flags'] as unknown[]).map(String) : typeof b['flags'] === 'string' ? [b['flags']] : [];
      const timeout = typeof b['timeout'] === 'number' && b['timeout'] > 0 ? b['timeout'] : undefined;
      sets.set(String(b['name']), { type: String(b['type']), flags, size: typeof b['size'] === 'number' ? b['size'] : undefined, ...(timeout !== undefined ? { timeout } : {}) });
    } else if (kind === 'chain') {
      chains.set(String(b['name']), {
        type: b['type'] as string | undefined,
        hook: b['hook'] as string | undefined,
        prio: b['prio'] as number | undefined,
        policy: b['policy'] as string | undefined,
      });
      if (!rules.has(String(b['name']))) rules.set(String(b['name']), []);
    } else if (kind === 'rule') {
      const chain = String(b['chain']);
      const list = rules.get(chain) ?? [];
      list.push(JSON.stringify(b['expr'] ?? null));
      rules.set(chain, list);
    }
  }
  return found ? { ...(flags !== undefined ? { flags } : {}), sets, chains, rules } : undefined;
}

/** Everything wrong with a table view compared with the layout; `ok` when nothing is. */
export interface StructureDiff {
  readonly ok: boolean;
  readonly plan: SetupPlan;
  /** Our sets (names) that are missing or wrong: re-created empty, to be refilled. */
  readonly emptySets: readonly string[];
  /** The chain's rules are not exactly `reference` (someone added, removed or changed a rule). */
  readonly rulesDiffer: boolean;
  /** One line per finding, for check()'s report. */
  readonly findings: readonly string[];
}

/**
 * Compares our table with the layout. `reference` is our chain's rules as nft printed them right
 * after we wrote them (nft versions print the same rule differently, so we compare with what this
 * nft prints, not with what we wrote); without one, only the rule count is compared.
 */
export function diffStructure(view: NftTableView | undefined, layout: NftLayout, reference: readonly string[] | undefined): StructureDiff {
  const { names } = layout;
  if (!view) {
    return { ok: false, plan: FRESH_PLAN, emptySets: layoutSets(layout).map((s) => s.name), rulesDiffer: true, findings: [`table inet ${names.table} was missing`] };
  }
  const findings: string[] = [];
  // setupScript's `add table` clears them (a dormant table is woken up with its sets and rules).
  if (view.flags !== undefined) findings.push(`table inet ${names.table} had flags (${view.flags.slice(0, 80)}): dormant, it filtered nothing`);
  const badSets: string[] = [];
  const emptySets: string[] = [];
  const wantedSets = layoutSets(layout);
  for (const want of wantedSets) {
    const s = view.sets.get(want.name);
    if (!s) {
      emptySets.push(want.name);
      findings.push(`set ${want.name} was missing`);
    } else if (s.type !== ADDR_TYPE[want.family] || [...s.flags].sort().join(',') !== flagsOf(want.kind) || s.size !== layout.size || s.timeout !== undefined) {
      // A default element timeout (`timeout 2s` on the set) would expire every permanent ban: the
      // set is re-created without one and refilled, as for any other wrong setting.
      badSets.push(want.name);
      emptySets.push(want.name);
      findings.push(`set ${want.name} had other settings (type ${s.type}, flags ${s.flags.join(',') || 'none'}${s.size !== undefined ? `, size ${s.size}` : ''}${s.timeout !== undefined ? `, default timeout ${s.timeout}s` : ''})`);
    }
  }
  const ourSets = new Set(wantedSets.map((s) => s.name));
  const foreignSets = [...view.sets.keys()].filter((n) => !ourSets.has(n));
  for (const n of foreignSets) findings.push(`set ${n} is not ours`);
  const foreignChains = [...view.chains.keys()].filter((n) => n !== names.chain);
  for (const n of foreignChains) findings.push(`chain ${n} is not ours`);
  const chain = view.chains.get(names.chain);
  const chainWrong = chain !== undefined && (chain.type !== 'filter' || chain.hook !== names.chain || chain.prio !== INPUT_PRIORITY || chain.policy !== 'accept');
  if (!chain) findings.push(`chain ${names.chain} was missing`);
  else if (chainWrong) findings.push(`chain ${names.chain} had another hook (${chain.type} ${chain.hook} priority ${chain.prio} policy ${chain.policy})`);
  const rules = view.rules.get(names.chain) ?? [];
  let rulesDiffer = false;
  if (chain && !chainWrong) {
    rulesDiffer = reference ? rules.join('\n') !== reference.join('\n') : rules.length !== blockRules(layout).length;
    if (rulesDiffer) findings.push(`chain ${names.chain} held ${rules.length} rule(s) that are not exactly ours`);
  }
  return {
    ok: findings.length === 0,
    plan: { chainExists: chain !== undefined && !chainWrong, chainWrong, badSets, foreignChains, foreignSets },
    emptySets,
    rulesDiffer,
    findings,
  };
}

export interface NftElement {
  readonly ip: string;
  /** Seconds left (as `nft -j` prints it), or null for an element without timeout. */
  readonly expiresS: number | null;
}

/**
 * An address as `nft -j` printed it, canonical; an IPv4-mapped IPv6 one (`::ffff:198.18.0.5`, which
 * only someone else can have written into an IPv6 set: every ban's address is canonicalised to its
 * IPv4 form) keeps an IPv6 spelling, so that it is read as the stray it is and deleted from the set
 * it is in (written back as `198.18.0.5`, nft refused it in an IPv6 set and it stayed for good).
 */
function heldAddress(raw: string): string | null {
  const c = canonicalIp(raw);
  if (c === null) return null;
  return c.family === 4 && raw.includes(':') ? `::ffff:${c.ip}` : c.ip;
}

/** An element value as `nft -j` prints it: an address, or {prefix: {addr, len}}; canonical, or null for other forms (ranges). */
function elementKey(val: unknown): string | null {
  if (typeof val === 'string') return heldAddress(val);
  // A range that is no prefix (`198.18.0.2-198.18.0.4`): we never write one, so it is a stray for
  // reconcileSet to delete, written back as `first-last` (two canonical addresses of one family).
  const r = (val as { range?: unknown } | null)?.range;
  if (Array.isArray(r) && r.length === 2 && typeof r[0] === 'string' && typeof r[1] === 'string') {
    const a = heldAddress(r[0]);
    const b = heldAddress(r[1]);
    if (a !== null && b !== null && a.includes(':') === b.includes(':')) return `${a}-${b}`;
    return null;
  }
  const p = (val as { prefix?: { addr?: unknown; len?: unknown } } | null)?.prefix;
  if (p && typeof p.addr === 'string' && typeof p.len === 'number') {
    // Read as a ban's network is (canonicalTarget): a mapped prefix in a v6 set is not an IPv4 network.
    const n = canonicalTarget(`${p.addr}/${p.len}`);
    if (n) return n.ip;
    // An IPv4-mapped prefix (`::ffff:198.18.0.0/120`), which canonicalTarget refuses as a ban: a stray,
    // written back in its IPv6 form (skipped, it was never seen and never removed).
    const a = heldAddress(p.addr);
    if (a !== null && a.startsWith('::ffff:') && Number.isInteger(p.len) && p.len >= 96 && p.len <= 128) return `${a}/${p.len}`;
  }
  return null;
}

/** The elements of a set from `nft -j list set …` (addresses, prefixes and ranges canonicalised). */
export function parseSetElements(json: string): NftElement[] {
  const out: NftElement[] = [];
  for (const o of objects(json)) {
    const set = (o as { set?: { elem?: unknown[] } }).set;
    if (!set || !Array.isArray(set.elem)) continue;
    for (const e of set.elem) {
      let val: unknown = e;
      let expires: number | null = null;
      if (e && typeof e === 'object' && 'elem' in e) {
        const inner = (e as { elem: Json }).elem;
        val = inner['val'];
        if (typeof inner['expires'] === 'number') expires = inner['expires'];
        else if (typeof inner['timeout'] === 'number') expires = inner['timeout'];
      }
      const key = elementKey(val);
      if (key !== null) out.push({ ip: key, expiresS: expires });
    }
  }
  return out;
}

/**
 * Element changes that bring a set in line with the expected bans: missing ones added, stray ones
 * deleted, and ones whose kernel expiry is off by more than `slackMs` (a permanent ban held with a
 * timeout, a timed one held without, or an expiry too early or too late) written again. A ban longer
 * than the cap is right while its element has between cap - 12 h and the cap left (the daemon's
 * re-apply every 6 h rewrites it), so long bans are not "corrected" at every check.
 */
export function reconcileSet(
  held: readonly NftElement[],
  expected: ReadonlyMap<string, number | null>,
  target: { readonly family: Family; readonly kind: SetKind; readonly scope?: string | undefined },
  now: number,
  opts: { cap?: number; slackMs?: number } = {},
): { ops: ElementOp[]; added: number; removed: number; corrected: number } {
  const cap = opts.cap ?? MAX_NFT_TIMEOUT_MS;
  const slack = opts.slackMs ?? 60_000;
  const { family, kind } = target;
  const sc = target.scope !== undefined ? { scope: target.scope } : {};
  const ops: ElementOp[] = [];
  let added = 0;
  let removed = 0;
  let corrected = 0;
  const seen = new Set<string>();
  for (const h of held) {
    seen.add(h.ip);
    if (!expected.has(h.ip)) {
      ops.push({ ip: h.ip, family, kind, ...sc, op: 'delete' });
      removed++;
      continue;
    }
    const until = expected.get(h.ip) ?? null;
    const want = banTimeoutMs(until, now, cap);
    if (want === null) continue;
    let off: boolean;
    if (want === 'permanent') off = h.expiresS !== null;
    else if (h.expiresS === null) off = true;
    else if (until !== null && until - now > cap) {
      // Capped: written with the cap at the last re-apply (every 6 h), so anything from cap - 12 h up is right.
      off = h.expiresS * 1000 > cap + slack || h.expiresS * 1000 < cap - CAPPED_REFRESH_SLACK_MS;
    } else off = Math.abs(h.expiresS * 1000 - want) > slack;
    if (off) {
      ops.push({ ip: h.ip, family, kind, ...sc, op: want });
      corrected++;
    }
  }
  for (const [ip, until] of expected) {
    if (seen.has(ip)) continue;
    const want = banTimeoutMs(until, now, cap);
    if (want === null) continue;
    ops.push({ ip, family, kind, ...sc, op: want });
    added++;
  }
  return { ops, added, removed, corrected };
}

// ---- errors ----

/**
 * Turns a failed nft run into an error the user can act on (pure; reads the BH_ERR_EXEC stderr):
 *   "Operation not permitted" / EPERM / must be root          → BH_ERR_NO_NET_ADMIN (add NET_ADMIN)
 *   no nf_tables in the kernel (Protocol not supported, …)     → BH_ERR_FIREWALL, load nf_tables or use iptables
 *   a feature missing (Operation not supported on a write)     → BH_ERR_FIREWALL, the modules to load
 *   set full                                                   → BH_ERR_FIREWALL, raise the size
 * A missing nft binary gets a hint naming the nftables package; anything else becomes BH_ERR_FIREWALL.
 */
export function classifyNftError(e: unknown, what: string): unknown {
  if (e instanceof BanhammerError && e.code === 'BH_ERR_MISSING_BINARY') {
    return new BanhammerError('BH_ERR_MISSING_BINARY', `${what} failed: ${e.message}`, {
      hint: 'install the nftables package in the image (apt-get install nftables / apk add nftables), or set BANHAMMER_ENFORCER=iptables',
      data: { ...e.data, package: 'nftables', what },
      cause: e,
    });
  }
  if (!(e instanceof BanhammerError) || e.code !== 'BH_ERR_EXEC') return e;
  const stderr = String(e.data['stderr'] ?? '');
  const detail = nftReason(stderr, e.message);
  const data = { ...e.data, what };
  const make = (code: 'BH_ERR_NO_NET_ADMIN' | 'BH_ERR_FIREWALL', message: string, hint: string): BanhammerError =>
    new BanhammerError(code, message, { hint, data, cause: e });
  if (/Permission denied|Operation not permitted|\bEPERM\b|must be root/i.test(stderr)) {
    return make('BH_ERR_NO_NET_ADMIN', `${what} failed: not allowed to change the firewall (${detail})`, NET_ADMIN_HINT);
  }
  // A read-only listing cannot hit a mismatch with an existing object: "not supported" there means no nf_tables.
  const listing = Array.isArray(e.data['args']) && (e.data['args'] as unknown[]).includes('list');
  if (/Protocol not supported|Address family not supported|cache initialization failed|Could not receive|Unable to initialize Netlink socket/i.test(stderr) ||
    (listing && /\bnot supported\b/i.test(stderr))) {
    return make('BH_ERR_FIREWALL', `${what} failed: the kernel has no usable nf_tables (${detail})`,
      'load the nf_tables module on the host (modprobe nf_tables), or set BANHAMMER_ENFORCER=iptables');
  }
  if (/Operation not supported|\bNot supported\b/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the kernel lacks an nf_tables feature this needs (${detail})`,
      'load the modules on the host (nft_set_hash; nft_ct in host mode; nft_reject_inet for blockAction reject; nft_set_rbtree for CIDR bans), or set BANHAMMER_ENFORCER=iptables');
  }
  if (/JSON support not compiled/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: this nft cannot print JSON (${detail})`, 'install an nftables build with JSON support (Debian, Ubuntu and Alpine packages have it)');
  }
  if (/No space left on device|Too many open files in system|set is full/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the ban set is full (${detail})`, 'raise the set size (maxelem) or shorten bantime');
  }
  return make('BH_ERR_FIREWALL', `${what} failed: ${detail}`, 'run the nft command shown by hand inside the container to see why');
}
