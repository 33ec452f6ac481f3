/**
 * Pure builders for the docker-user enforcer (host mode): names, argv arrays, and the text fed to
 * `ipset restore` / `iptables-restore`. Nothing here runs anything; tests compare strings.
 *
 * Layout for one instance (e.g. `host`), in the filter table of iptables and ip6tables:
 *   ipset  bh-host-v4 / bh-host-v6 (hash:ip, as the iptables enforcer): host-wide bans;
 *   ipset  bhc-<8 hex of the instance>-<first 16 hex of the container id>-4 / -6 (hash:ip), one pair
 *          per container that has a scoped ban: the clients banned for that container;
 *   chain  BANHAMMER-host:
 *            -m conntrack --ctdir REPLY -j RETURN                                        (first; see below)
 *            -p tcp -m set --match-set bh-host-v4 src -j DROP
 *            -p udp -m set --match-set bh-host-v4 src -j DROP
 *            -d <container address>/32 -p tcp -m set --match-set bhc-…-4 src -j DROP   (a pair per address)
 *            -d <container address>/32 -p udp -m set --match-set bhc-…-4 src -j DROP
 *          (reject: `-j REJECT --reject-with tcp-reset` for TCP, `icmp-port-unreachable` /
 *          `icmp6-port-unreachable` for UDP, as the iptables enforcer's blockSpec);
 *   jump   DOCKER-USER: -j BANHAMMER-host, at the top;
 *          FORWARD: -m comment --comment banhammer-host -j DOCKER-USER, only while FORWARD has no jump to
 *          DOCKER-USER of its own (Docker inserts one when it starts; ours then steps aside).
 * Every set is created with `timeout 0`, so each entry expires in the kernel even if the agent is dead.
 *
 * Why one set per container and not one hash:net,net set of "client,container" pairs: the pair set
 * needs the ip_set_hash_netnet module, which minimal kernels (this project's CI among them) do not
 * have; hash:ip is everywhere ipset is. A container's address lives only in the chain rules, so a
 * restarted container's new address is one chain rewrite, the bans in its set untouched.
 *
 * DOCKER-USER sees forwarded packets after Docker's DNAT, so `-d` is the container's own address and
 * a ban for X never touches Y, whatever ports they publish. Every TCP and UDP port of the container
 * is closed to a banned client (UDP for HTTP/3, QUIC; BANHAMMER_PORTS is not used: after DNAT the
 * port is the container's, not the published one). The TCP rules are those of versions that closed
 * TCP only, in the same order; the chain is always written whole in one transaction, so an agent
 * started over such a chain replaces it with no moment without the TCP rules.
 *
 * Replies are not ours to block. A forwarded packet from a banned address is either one it sent on
 * its own (a connection or UDP flow it started: dropped) or a reply to a connection a container opened
 * towards it (its DNS resolver, a database, an upstream API, a CDN). Dropping those would let a ban
 * (made from logs, or received from the replica group, where any writer can ban any address) cut
 * containers off from their own upstreams. So the chain's first rule sends a packet in the REPLY
 * direction of a connection conntrack tracks back to DOCKER-USER (RETURN leaves our chain only: Docker's
 * rules and every other chain still see the packet), and the drop rules stay as they were. Not
 * `--ctdir ORIGINAL` on each drop rule: xt_conntrack matches no direction for a packet conntrack does
 * not track, which must still be dropped. Measured in network namespaces (kernel 6.18, iptables 1.8.9
 * legacy and nft): a packet from the banned address left untracked by a raw-table `-j CT --notrack`
 * rule, or an invalid one (TCP SYN+FIN), is not matched by the RETURN and is dropped; with such a
 * notrack rule, replies to a container's own connections to the banned address are untracked too and
 * are dropped as before (the safe side). `iptables -S` prints the rule as written. It needs the
 * conntrack match (xt_conntrack; Docker's own rules use it): without it the chain cannot be written
 * and init() fails (firewall-errors.ts says which module to load).
 */
import { createHash } from 'node:crypto';
import { BanhammerError } from '../errors.js';
import { canonicalIp } from '../parse/ip.js';
import type { EnforcerBatch, RefusedEntry } from './enforcer.js';
import { CONTAINER_ID_RE } from '../docker/containers.js';
import { acceptAddress, acceptExpiry, banTimeoutSeconds, blockSpecs, firewallNames, restoreText, WAIT, type BlockAction, type Family, type FirewallNames, type SetLine } from './iptables-args.js';

export { chainRestoreText } from './iptables-args.js';

export const DOCKER_USER = 'DOCKER-USER';

export interface DockerUserNames extends FirewallNames {
  /** Prefix of every per-container set of this instance (for clean-up). */
  readonly containerSetPrefix: string;
  /** Comment on our own FORWARD → DOCKER-USER jump. */
  readonly forwardComment: string;
}

export function dockerUserNames(instance: string): DockerUserNames {
  const base = firewallNames(instance);
  const h = createHash('sha256').update(instance).digest('hex').slice(0, 8);
  return { ...base, containerSetPrefix: `bhc-${h}-`, forwardComment: `banhammer-${instance}`.slice(0, 255) };
}

/** The per-container set of a container id and family. */
export function containerSetName(names: DockerUserNames, containerId: string, family: Family): string {
  if (!CONTAINER_ID_RE.test(containerId)) {
    throw new BanhammerError('BH_ERR_INTERNAL', `not a container id: ${JSON.stringify(containerId)}`, { hint: 'report this as a bug' });
  }
  return `${names.containerSetPrefix}${containerId.slice(0, 16)}-${family}`;
}

/** Chain rule specs blocking `set` (src) towards one container address: TCP, then UDP. */
export function containerBlockSpecs(address: string, family: Family, set: string, action: BlockAction): string[][] {
  const c = canonicalIp(address);
  if (c === null || c.family !== family) {
    throw new BanhammerError('BH_ERR_INTERNAL', `not an IPv${family} address: ${JSON.stringify(address)}`, { hint: 'report this as a bug' });
  }
  return blockSpecs(set, action, family).map((spec) => ['-d', `${c.ip}/${family === 4 ? 32 : 128}`, ...spec]);
}

/** One container's place in the chain: its set per family and its current addresses. */
export interface ContainerTarget {
  readonly id: string;
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

/**
 * The chain's first rule: a packet in the reply direction of a connection conntrack tracks (one a
 * container opened) goes back to DOCKER-USER; an untracked or invalid packet does not match (see the
 * module comment). As `iptables -S` prints it.
 */
export const REPLY_RETURN_SPEC: readonly string[] = ['-m', 'conntrack', '--ctdir', 'REPLY', '-j', 'RETURN'];

/**
 * Every rule spec of the chain for `family`, in order: REPLY_RETURN_SPEC, the host-wide rules (TCP,
 * UDP), then a pair per container address.
 */
export function chainSpecs(names: DockerUserNames, family: Family, action: BlockAction, containers: readonly ContainerTarget[]): string[][] {
  const specs = [[...REPLY_RETURN_SPEC], ...blockSpecs(names.sets[family], action, family)];
  const sorted = [...containers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const c of sorted) {
    const set = containerSetName(names, c.id, family);
    for (const a of family === 4 ? c.v4 : c.v6) specs.push(...containerBlockSpecs(a, family, set, action));
  }
  return specs;
}

/** Our FORWARD → DOCKER-USER jump (marked, so it is never mistaken for Docker's own). */
export const forwardJumpSpec = (names: DockerUserNames): string[] => ['-m', 'comment', '--comment', names.forwardComment, '-j', DOCKER_USER];
export const dockerUserJumpSpec = (names: DockerUserNames): string[] => ['-j', names.chain];
export const newChainArgs = (chain: string): string[] => [...WAIT, '-N', chain];

export interface ForwardJumps {
  /** FORWARD jumps to DOCKER-USER that are not ours (Docker's). */
  readonly others: number;
  /** Our own (commented) jumps, as rule specs for -D. */
  readonly ours: string[][];
}

/** Each FORWARD rule of `-S FORWARD` output that jumps to DOCKER-USER: its words and its comment (quotes removed). */
function forwardJumpsToDockerUser(save: string): { words: string[]; comment: string | undefined }[] {
  const out: { words: string[]; comment: string | undefined }[] = [];
  for (const line of save.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t[0] !== '-A' || t[1] !== 'FORWARD') continue;
    const j = t.indexOf('-j');
    if (j < 0 || t[j + 1] !== DOCKER_USER || j + 2 !== t.length) continue;
    const ci = t.indexOf('--comment');
    out.push({ words: t, comment: ci > 0 ? t[ci + 1]?.replace(/^"(.*)"$/, '$1') : undefined });
  }
  return out;
}

/** Reads `-S FORWARD` output: which rules jump to DOCKER-USER, and which of those are ours. */
export function parseForwardJumps(save: string, names: DockerUserNames): ForwardJumps {
  let others = 0;
  const ours: string[][] = [];
  for (const { words, comment } of forwardJumpsToDockerUser(save)) {
    if (comment === names.forwardComment) ours.push(words.slice(2).map((x) => x.replace(/^"(.*)"$/, '$1')));
    else others++;
  }
  return { others, ours };
}

/**
 * How many of the FORWARD jumps to DOCKER-USER in `-S FORWARD` output (`others` of
 * parseForwardJumps) are another banhammer agent's (host mode under another instance name: marked
 * with its own `banhammer-<instance>` comment), not Docker's. Such a jump is no reason for ours to
 * step aside: it goes when that agent stops.
 */
export function siblingForwardJumps(save: string, names: DockerUserNames): number {
  return forwardJumpsToDockerUser(save).filter(({ comment }) => comment !== undefined && comment !== names.forwardComment && comment.startsWith('banhammer-')).length;
}

/** Rule specs (for -D) of every rule in `chain`'s `-S` output that jumps to `target` and does nothing else. */
export function jumpsTo(save: string, chain: string, target: string): string[][] {
  const out: string[][] = [];
  for (const line of save.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t[0] !== '-A' || t[1] !== chain) continue;
    const j = t.indexOf('-j');
    if (j > 0 && t[j + 1] === target && j + 2 === t.length) out.push(t.slice(2));
  }
  return out;
}

/** Does `-S chain` output hold any rule? */
export function hasRules(save: string, chain: string): boolean {
  return save.split('\n').some((l) => l.startsWith(`-A ${chain} `));
}

export interface DockerUserBatch {
  /** `ipset -exist restore` lines for the whole batch, deletions first. */
  readonly lines: readonly SetLine[];
  /** The same as one text (empty string when nothing to do). */
  readonly text: string;
  /** Containers (ids) whose sets the batch adds to: they must exist first. */
  readonly containers: ReadonlySet<string>;
  readonly added: number;
  readonly deleted: number;
  readonly rejected: readonly RefusedEntry[];
}

/** The set a ban belongs in: the host-wide set of its family, or its container's set. */
export function banSet(names: DockerUserNames, family: Family, scope: string | undefined): string | null {
  if (scope === undefined) return names.sets[family];
  return CONTAINER_ID_RE.test(scope) ? containerSetName(names, scope, family) : null;
}

/**
 * Turns a batch into one `ipset restore` text: host-wide bans go to bh-<instance>-v4/-v6, scoped bans
 * to their container's set. Every address is validated again; a bad one, one of a disabled family or
 * a bad scope is rejected and the rest kept. Deletions come first. Unbans for a container whose set
 * does not exist (`known` says which do) are dropped: there is nothing to delete.
 */
export function dockerUserBatch(
  batch: EnforcerBatch,
  names: DockerUserNames,
  now: number,
  families: readonly Family[],
  known: (containerId: string) => boolean,
): DockerUserBatch {
  const del: SetLine[] = [];
  const add: SetLine[] = [];
  const rejected: RefusedEntry[] = [];
  const containers = new Set<string>();
  const target = (e: { ip: string; family: Family; scope?: string | undefined }, quiet: boolean): { ip: string; set: string; scope: string | undefined } | null => {
    const c = acceptAddress(e, families, rejected, quiet);
    if (!c) return null;
    const set = banSet(names, c.family, e.scope);
    if (set === null) {
      rejected.push({ ip: String(e.ip), family: e.family, scope: e.scope, reason: `scope ${JSON.stringify(String(e.scope).slice(0, 80))} is not a container id` });
      return null;
    }
    return { ip: c.ip, set, scope: e.scope };
  };
  for (const u of batch.unban) {
    const t = target(u, true);
    if (t && (t.scope === undefined || known(t.scope))) del.push({ text: `del ${t.set} ${t.ip}`, entry: u });
  }
  for (const b of batch.ban) {
    const t = target(b, false);
    if (!t || !acceptExpiry(b, rejected)) continue;
    const secs = banTimeoutSeconds(b.until, now);
    if (secs === null) {
      if (t.scope === undefined || known(t.scope)) del.push({ text: `del ${t.set} ${t.ip}`, entry: b });
      continue;
    }
    if (t.scope !== undefined) containers.add(t.scope);
    add.push({ text: `add ${t.set} ${t.ip} timeout ${secs}`, entry: b });
  }
  const lines = [...del, ...add];
  return { lines, text: restoreText(lines), containers, added: add.length, deleted: del.length, rejected };
}
