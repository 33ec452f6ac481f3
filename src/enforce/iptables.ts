/**
 * IptablesEnforcer: bans in the kernel with one ipset per address family, one chain per instance
 * and INPUT jumps for this container's ports only, TCP and UDP (layout and names: iptables-args.ts).
 *
 * - init() is idempotent and reuses a crashed agent's leftovers: sets are created with -exist (their
 *   entries survive), the chain is created or flushed and refilled in one iptables-restore
 *   transaction, each jump is inserted only when `-C` says it is missing (right below the wanted
 *   jump before it, so the jumps end in their built order), and jumps to our chain that the current
 *   config no longer wants (ports changed, duplicates) are removed. Started over the layout of a
 *   version that closed TCP only, it thus ends with exactly the current one: the chain is refilled
 *   with its TCP and UDP rules in one transaction (the TCP rule never leaves it), the TCP jumps stay
 *   where they are and the UDP jumps are added below them.
 * - apply(batch) feeds one `ipset -exist restore` per family with the batch's del/add lines. Every
 *   address is validated again first (invalid, unspecified, multicast, broadcast, or of a family not
 *   enabled: refused before anything runs), and an element the kernel refuses is isolated
 *   (FirewallCommands.restoreIsolating): the rest is applied and the refused ones are returned in
 *   ApplyResult.refused with a one-line reason. It rejects only when nothing more could be applied
 *   (no permission, ipset missing, the set missing or full, the lock held past the retry budget),
 *   and resolves when the kernel holds the new entries.
 * - check(expected) (every 2 s) re-creates a missing set, chain or jump; moves our INPUT jumps back
 *   to the top when rules were inserted above them (FirewallCommands.keepOnTop); rebuilds our chain
 *   when it holds anything but our rules (e.g. an `-j ACCEPT` someone inserted, or a TCP-only
 *   chain an older version left) or lost one; and compares
 *   each set with the ban book's unexpired bans: only when the kernel's entry count (`ipset list -t`,
 *   one command for all sets) differs from the expected count, or every FULL_COMPARE_EVERY checks,
 *   are the members read, missing bans re-added with their remaining timeout and strays removed.
 *   Returns one line per repair (empty when all was well). A line starting with
 *   REPAIR_SET_RECREATED names a set that was re-created; its bans are already re-added.
 * - shutdown() deletes every INPUT jump to our chain, then the chain, any copy of it renamed with
 *   `iptables -E` (renamed-copies.ts), then our sets; nothing else, but for the empty filter tables
 *   iptables-nft made for us when there were none (filter-table-leftover.ts).
 * - CIDR bans (option `cidr`): a ban whose `ip` is `network/prefix` goes into a hash:net set per
 *   family (bh-<instance>-n4 / -n6, per-entry timeouts like the address sets), matched by a second
 *   pair of rules (TCP, UDP) in our chain; created at init, repaired by check() and destroyed at
 *   shutdown like the address sets. A /32 or /128 is an address ban; /0, networks wider than /8 (IPv6 /32) and networks
 *   covering loopback or a non-client range are refused. Without the option a network is refused.
 *
 * Every command goes through the Runner (so tests run it in a network namespace), every failure is
 * classified into an actionable error (firewall-errors.ts), and a transient one (the xtables lock
 * held by another program) is retried with back-off for about a minute before it counts.
 */
import { systemClock, type Clock } from '../clock.js';
import type { Backend } from './backend-mode.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch, KernelReading, RefusedEntry } from './enforcer.js';
import { FilterTableLeftover } from './filter-table-leftover.js';
import { destroyOwnSet } from './renamed-copies.js';
import { InstanceClaim } from './instance-claim.js';
import { FirewallCommands, REPAIR_SET_RECREATED, TeardownSteps, describeChainRepair, familyLabel, wantedBySet, type FirewallCommandOptions, type TopState } from './firewall-commands.js';
import {
  chainRestoreText,
  chainRuleSpecs,
  checkRuleArgs,
  deleteChainArgs,
  deleteRuleArgs,
  firewallNames,
  flushChainArgs,
  insertRuleArgs,
  jumpSpecs,
  listChainArgs,
  restoreArgs,
  setBatch,
  validatePorts,
  type BlockAction,
  type Family,
  type FirewallNames,
  type SetEntry,
} from './iptables-args.js';

export interface IptablesEnforcerOptions extends FirewallCommandOptions {
  /** Names the chain and sets (see iptables-args.ts). */
  readonly instance: string;
  /** Ports of this container to protect, closed on TCP and UDP (HTTP/3). */
  readonly ports: readonly number[];
  /** DROP (default) or REJECT: a TCP reset, an ICMP port unreachable for UDP. */
  readonly blockAction?: BlockAction;
  readonly clock?: Clock;
  /** check() compares set members even when the counts agree every this many checks; 0 = never. Default 30. */
  readonly fullCompareEvery?: number;
  /** CIDR bans: hash:net sets (names.nets) and their rule in our chain; default off (a network ban is refused). */
  readonly cidr?: boolean;
  /** The nft program, for the filter tables iptables-nft leaves behind (filter-table-leftover.ts); default `nft`. */
  readonly nftBinary?: string;
  /**
   * Claim the instance name in this network namespace first (instance-claim.ts): a second agent with
   * the same name is refused at start, and one refused never tears down. The agent sets it; tests
   * that run several enforcers from one process into other namespaces leave it off.
   */
  readonly claimInstance?: boolean;
}

/** Default of fullCompareEvery: with a 2 s check, the members are compared at least once a minute. */
export const FULL_COMPARE_EVERY = 30;

export { REPAIR_SET_RECREATED };

/**
 * Families whose set check() had to re-create (the same check re-added its bans from expected(); a
 * caller may still re-apply them, which is harmless).
 */
export function setsRecreated(repairs: readonly string[]): Family[] {
  const out: Family[] = [];
  for (const r of repairs) {
    const m = /^set re-created \(IPv([46])\)/.exec(r);
    if (m) out.push(Number(m[1]) as Family);
  }
  return out;
}

/** IptablesEnforcer.batchEntries. */
export const IPSET_BATCH_ENTRIES = 20_000;

export class IptablesEnforcer implements Enforcer {
  readonly name = 'iptables';
  /**
   * Entries the queue hands apply() at once (Enforcer.batchEntries): one `ipset restore` per family
   * each. The queue's default (8,192) made a restore of 100,000 bans 13 processes, each forked from
   * an agent whose heap then holds them all (a few ms a fork; see DEFAULT_BATCH_ELEMENTS in
   * nft-args.ts); 20,000 makes it 5, and the batch is still taken and validated in one block of
   * about 25 ms, as the nftables enforcer's.
   */
  readonly batchEntries = IPSET_BATCH_ENTRIES;
  readonly names: FirewallNames;
  readonly families: readonly Family[];
  private readonly ports: readonly number[];
  private readonly action: BlockAction;
  private readonly clock: Clock;
  private readonly cmd: FirewallCommands;
  private readonly fullEvery: number;
  readonly cidr: boolean;
  private checks = 0;
  lastReading: KernelReading | undefined;
  private readonly top: Record<Family, TopState> = { 4: { moves: 0, gaveUp: false }, 6: { moves: 0, gaveUp: false } };
  /** The filter tables iptables-nft makes for us, removed again at shutdown when they hold nothing else. */
  private readonly leftover: FilterTableLeftover;
  /** The instance name claimed in this namespace (option claimInstance), or null. */
  private readonly claim: InstanceClaim | null;

  constructor(opts: IptablesEnforcerOptions) {
    this.claim = opts.claimInstance === true ? new InstanceClaim(opts.instance) : null;
    this.leftover = new FilterTableLeftover(opts.runner, opts.nftBinary);
    this.names = firewallNames(opts.instance);
    this.ports = validatePorts(opts.ports);
    this.action = opts.blockAction ?? 'drop';
    this.cmd = new FirewallCommands(opts);
    this.families = this.cmd.families;
    this.clock = opts.clock ?? systemClock;
    this.fullEvery = opts.fullCompareEvery ?? FULL_COMPARE_EVERY;
    this.cidr = opts.cidr ?? false;
  }

  /** Every set of ours with its family and type: the address sets, then (CIDR bans) the network sets. */
  private ownSets(): { set: string; f: Family; type: 'hash:ip' | 'hash:net' }[] {
    const out: { set: string; f: Family; type: 'hash:ip' | 'hash:net' }[] = this.families.map((f) => ({ set: this.names.sets[f], f, type: 'hash:ip' }));
    if (this.cidr) for (const f of this.families) out.push({ set: this.names.nets[f], f, type: 'hash:net' });
    return out;
  }

  /** Our chain's rules for one family, in order (chainRuleSpecs). */
  private chainSpecs(f: Family): string[][] {
    return chainRuleSpecs(this.names, f, this.action, this.cidr);
  }

  /** The backend in use (known after init()). */
  get backend(): Backend | undefined {
    return this.cmd.backend;
  }

  async init(): Promise<void> {
    await this.claim?.acquire();
    const backend = await this.cmd.ensureBackend();
    // Before the first write: which filter tables iptables-nft is about to make for us (shutdown removes them again).
    if (backend.mode === 'nft') await this.leftover.note(this.families);
    for (const s of this.ownSets()) await this.cmd.createOrReplaceSet(s.set, s.f, s.type, () => this.releaseSets(s.f, backend));
    for (const f of this.families) {
      await this.fillChain(f, backend);
      await this.ensureJumps(f, backend, true);
    }
  }

  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    const b = setBatch(batch, this.names, this.clock.now(), this.families, this.cidr);
    const refused: RefusedEntry[] = [...b.rejected];
    // Each family on its own: one that fails (its set missing, no permission) never keeps the other's
    // bans and unbans from the kernel; the first failure is thrown once both were tried.
    const failures: unknown[] = [];
    for (const f of this.families) {
      const lines = b.lines[f];
      if (lines === undefined) continue;
      const sets = this.cidr ? `ipsets ${this.names.sets[f]} and ${this.names.nets[f]}` : `ipset ${this.names.sets[f]}`;
      try {
        refused.push(...(await this.cmd.applyLines(lines, `applying bans to ${sets}`)));
      } catch (e) {
        failures.push(e);
      }
    }
    if (failures.length > 0) throw failures[0];
    return { refused };
  }

  /** Hurried (FirewallCommands.hurried): a lock held by another program fails the check at once, never holding back bans. */
  check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    return this.cmd.hurried(() => this.checkNow(expected));
  }

  private async checkNow(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    const backend = await this.cmd.ensureBackend();
    const repaired: string[] = [];
    // A set missing, or re-created by someone else in a shape that cannot hold our bans (no
    // timeouts, the other family, another type, too small): each is made ours again before the chain
    // (which refers to it) is checked.
    const headers = await this.cmd.setHeaders();
    for (const { set, f, type } of this.ownSets()) {
      const missing = `${REPAIR_SET_RECREATED} (${familyLabel(f)}): ${set} was missing and was re-created; its bans are re-added`;
      const r = await this.cmd.ensureSet(set, f, type, headers, missing, () => this.releaseSets(f, backend));
      if (r !== null) repaired.push(r);
    }
    const counts = new Map([...headers].map(([name, h]) => [name, h.count]));
    for (const f of this.families) {
      const bin = f === 4 ? backend.iptables : backend.ip6tables;
      const chain = this.names.chain;
      const st = await this.cmd.chainState(bin, chain, this.chainSpecs(f), backend);
      if (st.state !== 'ok') {
        await this.fillChain(f, backend);
        // "its rule" with CIDR bans too (then it is a pair: address set, network set): the wording operators and tests know.
        repaired.push(describeChainRepair(familyLabel(f), chain, st, 'its rule'));
      }
      const top = await this.cmd.keepOnTop('INPUT', jumpSpecs(chain, this.ports), f, backend, this.top[f]);
      for (const r of top ?? (await this.ensureJumps(f, backend, false))) repaired.push(r);
    }
    // Without the ban book's view (a caller from before the contract) nothing can be compared: an
    // empty list would make every ban a stray.
    if (typeof expected !== 'function') return repaired;
    const full = this.fullEvery > 0 && ++this.checks % this.fullEvery === 0;
    const now = this.clock.now();
    const own = (sets: Readonly<Record<Family, string>>) => (_: EnforcerBan, family: Family) => (this.families.includes(family) ? sets[family] : null);
    const want = wantedBySet(expected(), now, own(this.names.sets), this.cidr ? own(this.names.nets) : undefined);
    const reading = { held: 0, missing: 0, stray: 0 };
    // Each set on its own: one whose repair fails never keeps the others from being repaired.
    const failures: unknown[] = [];
    for (const { set, f } of this.ownSets()) {
      let r: Awaited<ReturnType<FirewallCommands['repairSet']>>;
      try {
        r = await this.cmd.repairSet(set, f, want.get(set) ?? new Map(), counts.get(set) ?? 0, full, now);
      } catch (e) {
        failures.push(e);
        continue;
      }
      if (r.repaired !== null) repaired.push(r.repaired);
      for (const x of r.refused) repaired.push(`set (${familyLabel(f)}): ${set}: could not re-add ${x.ip}: ${x.reason}`);
      reading.held += counts.get(set) ?? 0;
      reading.missing += r.missing;
      reading.stray += r.stray;
    }
    this.lastReading = reading;
    if (failures.length > 0) throw failures[0];
    return repaired;
  }

  async shutdown(): Promise<void> {
    // Refused the instance name at start: the chain and sets are another agent's.
    if (this.claim !== null && !this.claim.held) return;
    const backend = await this.cmd.ensureBackend();
    const steps = new TeardownSteps();
    const chain = this.names.chain;
    for (const f of this.families) {
      const bin = f === 4 ? backend.iptables : backend.ip6tables;
      await steps.attempt(async () => {
        for (const spec of await this.jumpsInInput(bin, backend)) {
          await this.cmd.exec(bin, deleteRuleArgs('INPUT', spec), `removing a jump to ${chain}`, backend);
        }
      });
      await steps.attempt(() => this.cmd.exec(bin, flushChainArgs(chain), `flushing chain ${chain}`, backend, { okExitCodes: [0, 1] }));
      await steps.attempt(() => this.cmd.exec(bin, deleteChainArgs(chain), `deleting chain ${chain}`, backend, { okExitCodes: [0, 1] }));
    }
    // A copy of our chain renamed with `iptables -E` still names our sets: it goes first (renamed-copies.ts).
    const sets = this.ownSets().map((s) => s.set);
    const bins = this.families.map((f) => (f === 4 ? backend.iptables : backend.ip6tables));
    for (const set of sets) await steps.attempt(() => destroyOwnSet(() => this.cmd.destroySet(set), (...a) => this.cmd.exec(...a), bins, backend, sets, chain));
    if (backend.mode === 'nft') await this.leftover.removeIfLeftover();
    await this.claim?.release();
    steps.throwFirst();
  }

  /** What the kernel holds in this instance's set for `family` (for status and tests); `networks`: its network set (CIDR bans). */
  listSet(family: Family, networks = false): Promise<SetEntry[]> {
    return this.cmd.listSet((networks ? this.names.nets : this.names.sets)[family]);
  }

  /** Empties our chain of family `f`, so that its sets can be destroyed (check() refills it). */
  private releaseSets(f: Family, backend: Backend): Promise<unknown> {
    const bin = f === 4 ? backend.iptables : backend.ip6tables;
    return this.cmd.exec(bin, flushChainArgs(this.names.chain), `flushing chain ${this.names.chain} to replace its set`, backend, { okExitCodes: [0, 1] });
  }

  private fillChain(f: Family, backend: Backend): Promise<unknown> {
    const bin = f === 4 ? backend.iptablesRestore : backend.ip6tablesRestore;
    return this.cmd.exec(bin, restoreArgs(), `filling chain ${this.names.chain} (${familyLabel(f)})`, backend, {
      input: chainRestoreText(this.names.chain, this.chainSpecs(f)),
    });
  }

  /** The 1-based INPUT position right below the rule `spec`, as `-S INPUT` prints it now; 1 (the top) when it is not listed so. */
  private async positionBelow(bin: string, backend: Backend, spec: readonly string[]): Promise<number> {
    const out = (await this.cmd.exec(bin, listChainArgs('INPUT'), 'listing INPUT', backend)).stdout;
    const rules = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('-A INPUT '));
    const at = rules.indexOf(['-A', 'INPUT', ...spec].join(' '));
    return at < 0 ? 1 : at + 2;
  }

  /** Rule specs of every INPUT rule that jumps to our chain, as `-S INPUT` prints them. */
  private async jumpsInInput(bin: string, backend: Backend): Promise<string[][]> {
    const out = (await this.cmd.exec(bin, listChainArgs('INPUT'), 'listing INPUT', backend)).stdout;
    const specs: string[][] = [];
    for (const line of out.split('\n')) {
      const t = line.trim().split(/\s+/);
      if (t[0] !== '-A' || t[1] !== 'INPUT') continue;
      const j = t.indexOf('-j');
      if (j > 0 && t[j + 1] === this.names.chain && j + 2 === t.length) specs.push(t.slice(2));
    }
    return specs;
  }

  /**
   * Inserts missing jumps (`-C` decides): the first wanted jump at the top of INPUT, any other right
   * below the wanted jump before it (at the top when `-S` does not show that one as we build it), so
   * that they end in their built order, the one keepOnTop() keeps. An agent started over the jumps
   * of a version that closed TCP only thus adds the UDP jumps below the TCP ones, and no check moves
   * them afterwards. With `prune`, also removes jumps to our chain that the
   * config does not want (old ports, duplicates) — only when `-S` prints our wanted jumps exactly as
   * we build them, so a formatting difference can never make us delete a wanted jump.
   */
  private async ensureJumps(f: Family, backend: Backend, prune: boolean): Promise<string[]> {
    const bin = f === 4 ? backend.iptables : backend.ip6tables;
    const repaired: string[] = [];
    const wanted = jumpSpecs(this.names.chain, this.ports);
    for (const [i, spec] of wanted.entries()) {
      const c = await this.cmd.exec(bin, checkRuleArgs('INPUT', spec), 'checking INPUT', backend, { okExitCodes: [0, 1] });
      if (c.code === 1) {
        const position = i === 0 ? 1 : await this.positionBelow(bin, backend, wanted[i - 1]!);
        await this.cmd.exec(bin, insertRuleArgs('INPUT', spec, position), `adding the INPUT jump to ${this.names.chain}`, backend);
        repaired.push(`jump (${familyLabel(f)}): INPUT ${spec.join(' ')} was missing and was re-added`);
      }
    }
    if (!prune) return repaired;
    const wantedKeys = new Set(wanted.map((s) => s.join(' ')));
    const seen = new Set<string>();
    const stale: string[][] = [];
    for (const spec of await this.jumpsInInput(bin, backend)) {
      const key = spec.join(' ');
      if (wantedKeys.has(key) && !seen.has(key)) seen.add(key);
      else stale.push(spec);
    }
    if (seen.size !== wantedKeys.size) return repaired;
    for (const spec of stale) {
      await this.cmd.exec(bin, deleteRuleArgs('INPUT', spec), `removing a stale jump to ${this.names.chain}`, backend);
      repaired.push(`jump (${familyLabel(f)}): stale INPUT ${spec.join(' ')} was removed`);
    }
    return repaired;
  }

}
