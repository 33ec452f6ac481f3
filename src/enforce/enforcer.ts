/**
 * The contract between decide and the kernel (or a web server's map file).
 *
 * An Enforcer owns everything it creates (chains, sets, jumps, map files) and nothing else.
 * Lifecycle: init() once (idempotent: a crashed agent's leftovers are reused), then any number of
 * apply() batches, check() periodically to repair what someone flushed, and shutdown() to remove
 * exactly what init() created. Addresses reaching an Enforcer have been validated and canonicalised
 * (see parse/ip.ts); implementations validate again before anything reaches argv.
 */
import type { EnforcerKind } from '../config/schema.js';

export interface EnforcerBan {
  /**
   * The canonical address, or for a CIDR ban (manual, shared or an IPv6 network escalation; host-wide) the canonical network
   * `addr/prefix` (`198.18.0.0/24`, host bits cleared, never /0 or a full-length prefix). Only
   * enforcers built to hold networks accept one: iptables and nftables with their `cidr` option
   * (hash:net sets; interval sets) and the log enforcer; the others (docker-user, apache-map,
   * nginx-map) return it in ApplyResult.refused with a reason saying so, and skip its unban.
   * Unbans carry the same text.
   */
  readonly ip: string;
  readonly family: 4 | 6;
  /** Absolute expiry (ms since the epoch), or null for a permanent ban. */
  readonly until: number | null;
  /**
   * Host mode (docker-user): the container id the ban applies to; absent = host-wide. Enforcers that
   * protect one container (iptables, apache-map, nginx-map) never receive a scope.
   */
  readonly scope?: string | undefined;
}

export interface EnforcerBatch {
  readonly ban: readonly EnforcerBan[];
  readonly unban: readonly { ip: string; family: 4 | 6; scope?: string | undefined }[];
}

/** An element the kernel (or map) refused: it is left out, the rest of the batch still applies. */
export interface RefusedEntry {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly scope?: string | undefined;
  /** One line: what the kernel (or the tool) said. */
  readonly reason: string;
  /** Refused for want of room (a full set), not for what it is: check() tries it again. */
  readonly full?: true;
}

/** What apply() did: everything in the batch is applied except `refused`. */
export interface ApplyResult {
  readonly refused: readonly RefusedEntry[];
}

/**
 * What one check() read back from the kernel (or map) before repairing it: the `banhammer_kernel_bans`
 * and `banhammer_enforce_drift` gauges. Drift is what differed from the ban book's view at that check
 * (the same check repaired it, so the next one reads 0 unless it happens again).
 */
export interface KernelReading {
  /** Ban entries the kernel (or map) held, all of this instance's sets summed, as read. */
  readonly held: number;
  /** Expected bans the kernel lacked (re-added by that check). */
  readonly missing: number;
  /** Entries the kernel held that nobody banned (removed by that check). */
  readonly stray: number;
}

export interface Enforcer {
  /** Short name for logs and metrics: iptables, nftables, apache-map, nginx-map, docker-user, log. */
  readonly name: string;
  /** True when it holds network bans (`ip` = `network/prefix`); the agent refuses one up front otherwise. */
  readonly cidr?: boolean;
  /**
   * Changes the agent hands over in one apply() at most (default BATCH_MAX_ENTRIES, enforce/queue.ts;
   * a re-send of every ban goes in batches with a turn of the event loop between two). An enforcer
   * that runs several transactions at once takes enough to keep them all busy.
   */
  readonly batchEntries?: number;
  init(): Promise<void>;
  /**
   * Apply a batch. Resolves only when the kernel (or file) holds the new state. One element the
   * kernel refuses never fails the others: it is isolated and reported in `refused` (void = none).
   * Rejects only when nothing could be applied (the tool is missing, the lock stays held, …).
   */
  apply(batch: EnforcerBatch): Promise<ApplyResult | void>;
  /**
   * Compare what the kernel holds with `expected()` (the ban book's view: every unexpired ban,
   * computed only when needed) and repair: re-create vanished chains, sets, jumps or tables, remove
   * rules someone inserted into our own chain, re-add missing elements and remove stray ones.
   * Returns what was repaired (empty when all was well). Must stay cheap when nothing changed.
   */
  check(expected: () => readonly EnforcerBan[]): Promise<string[]>;
  /**
   * What the last check() that read the kernel found (undefined: none yet, or an enforcer that does
   * not read back). Set by check() when it resolves; a check that throws leaves the previous one.
   */
  readonly lastReading?: KernelReading | undefined;
  /**
   * apache-map: bans the map holds where the web server finds them only by reading a list line by
   * line (SDBM's overflow.map: addresses whose hashes collide); the banhammer_map_overflow_entries
   * gauge. Undefined for every other enforcer.
   */
  readonly overflowEntries?: number | undefined;
  /** Remove this instance's rules, chains, sets and files, and nothing else. */
  shutdown(): Promise<void>;
}

/**
 * Whether the enforcer `createEnforcer` builds for this name holds network (CIDR) bans: iptables and
 * nftables are built with `cidr: true`; docker-user, apache-map and nginx-map refuse a network.
 * `auto` still undecided (BANHAMMER_ENFORCER=auto): outside host mode it becomes iptables or nftables, both
 * holding networks (a dry run does not probe there); in host mode it may become docker-user, so no
 * (runAgent decides it before a host-mode dry run in any case).
 */
export function holdsNetworks(enforcer: EnforcerKind, hostMode = false): boolean {
  return enforcer === 'iptables' || enforcer === 'nftables' || enforcer === 'log' || (enforcer === 'auto' && !hostMode);
}
