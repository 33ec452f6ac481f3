/**
 * NftablesEnforcer: bans in the kernel with nftables, in one table of our own (`inet
 * banhammer_<instance>`: a set per address family with per-element timeouts, and one input base
 * chain at priority -10 that drops — or rejects — TCP and UDP (HTTP/3) to this container's ports
 * from a banned source; layout and names: nft-args.ts). Nothing outside that table is ever touched.
 *
 * - Every change is one `nft -f -` transaction on stdin (atomic), at most `batchElements` element
 *   writes each (10,000 bans on a current kernel); never one process per ban, never a shell. Addresses
 *   are validated again before they are written. A large change (100,000 bans restored at start) keeps
 *   two transactions in flight, so the next nft process starts while the last one runs, with a turn
 *   of the agent's event loop before each transaction's text is built.
 * - init() lists our table without set elements (cheap), then in one transaction creates what is
 *   missing, replaces what is wrong, flushes our chain and writes its rules: it adopts a crashed
 *   agent's table without duplicates and keeps its bans (and the TCP-only rules of an older version
 *   become the TCP and UDP ones in that same transaction).
 * - apply(batch): a ban is add + delete + add of the element (its timeout is refreshed on every
 *   kernel; where init()'s probe shows that `add` rewrites timeouts and expiries, a timed ban is one
 *   add with `timeout T expires T`), an unban add + delete (never an error when it is already gone,
 *   nor when the add of a network is refused for overlapping one the set holds: then it is not
 *   there). A transaction the kernel
 *   refuses is split by set, then in halves until the refused addresses are isolated; they are
 *   returned in `refused` with nft's reason and everything else is applied.
 * - check(expected): every call compares the table's structure (no set elements: `nft -j -t list
 *   table` or `list ruleset inet`, whichever has cost less here; the first loads our sets' elements,
 *   the second other programs' inet rules; nft-listing-choice.ts) with ours and repairs it
 *   in one transaction, refilling a re-created set from expected(); every `elementCheckIntervalMs` (stretched to 50 times what the last comparison
 *   took, so it never costs more than 2 % of the time) it also compares the sets' elements with
 *   expected() (missing, stray, wrong timeout) and repairs them. A set given a default element
 *   timeout counts as a set with other settings (re-created); a network set that merged our networks
 *   (`auto-merge`, which `nft -j` does not show) is re-created at the comparison that finds it.
 *   Between comparisons a check looks up one element written last (a flushed set is refilled at
 *   once); nft loads the whole set for it, so with a large set it is done at most every 50 times
 *   what the last lookup cost (lastSample). With `claimInstance`, init() first claims the instance
 *   name in this network namespace (instance-claim.ts) and a refused agent's shutdown() does nothing.
 * - CIDR bans (option `cidr`): a ban whose `ip` is `network/prefix` goes into the interval set of its
 *   family (never /0, never covering loopback); a /32 or /128 is an address ban.
 * - Host mode (option `host`): the base chain hooks `forward` at priority -10, after Docker's DNAT
 *   (nat prerouting, -100), whether Docker runs iptables or nftables, without any DOCKER-USER chain.
 *   Host-wide bans drop the client's forwarded TCP and UDP; a ban scoped to a container goes into
 *   that container's own set, matched by a pair of rules (TCP, UDP) per container address (`ip daddr
 *   <addr> … @c_<id>_4`), so a restarted container's new address is a rewrite of its rules with its
 *   bans untouched (check() re-reads the addresses). The chain's first rule, `ct direction reply
 *   return`, lets through the replies to connections a container opened itself towards a banned
 *   address (its resolver, database, upstream API): a ban blocks what the banned address starts,
 *   never a container's own connections; a packet conntrack does not track is still dropped
 *   (nft-args.ts). An agent started over a chain without that rule gets it in init()'s rewrite of the
 *   whole chain (one transaction), and check() puts it back if it goes. Every check() in host mode
 *   reads expected() (to find containers whose sets are missing), like the docker-user enforcer.
 * - shutdown(): `nft delete table inet banhammer_<instance>`; nothing else.
 *
 * Calls are serialised: a check never interleaves with an apply.
 */
import { steadyNow, systemClock, type Clock } from '../clock.js';
import { BanhammerError } from '../errors.js';
import { execError, type Runner, type RunOptions, type RunResult } from '../exec/runner.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch, KernelReading, RefusedEntry } from './enforcer.js';
import type { BlockAction, Family } from './iptables-args.js';
import type { ContainerTarget } from './docker-user-args.js';
import type { ContainerAddresses } from './docker-user.js';
import { retiredTargets, validateFamilies } from './firewall-commands.js';
import { InstanceClaim } from './instance-claim.js';
import { TableListingChoice } from './nft-listing-choice.js';
import {
  DEFAULT_BATCH_ELEMENTS,
  chunkOps,
  MAX_NFT_TIMEOUT_MS,
  acceptScopedTarget,
  blockRules,
  containerSetName,
  opSet,
  applyArgs,
  classifyNftError,
  deleteTableArgs,
  diffStructure,
  elementOps,
  elementScript,
  layoutSets,
  listSetArgs,
  getElementArgs,
  hasAutoMerge,
  setHeaderArgs,
  listStructureArgs,
  listTableArgs,
  listInetRulesetArgs,
  nftNames,
  nftReason,
  parseSetElements,
  parseTable,
  type NftTableView,
  PROBE_SET,
  probeSaysUpdates,
  probeScripts,
  reconcileSet,
  setupScript,
  validateNftPorts,
  type ElementOp,
  type NftElement,
  type NftLayout,
  type NftNames,
  type NftSet,
  type SetKind,
} from './nft-args.js';

export interface NftablesEnforcerOptions {
  readonly runner: Runner;
  /** Names the table (see nft-args.ts). */
  readonly instance: string;
  /** Ports of this container to protect, closed on TCP and UDP (in-container mode; ignored in host mode). */
  readonly ports: readonly number[];
  /**
   * Host mode: the base chain hooks `forward` (after Docker's DNAT, whichever firewall backend Docker
   * runs) and bans scoped to a container drop that client's TCP and UDP to that container's addresses
   * only; host-wide bans drop its forwarded TCP and UDP to every container.
   */
  readonly host?: {
    readonly containers: ContainerAddresses;
    /** Things the operator should know that are not repairs (a container's address changed). */
    readonly onNote?: (msg: string) => void;
  };
  /** drop (default) or reject: a TCP reset, an ICMP port unreachable for UDP. */
  readonly blockAction?: BlockAction;
  /** Address families to enforce; default both. */
  readonly families?: readonly Family[];
  /**
   * CIDR bans: a ban whose `ip` is `network/prefix` goes into an interval set (net4/net6) with its
   * own rule; default off (then such a ban is refused). Needs a kernel with interval sets with timeouts.
   */
  readonly cidr?: boolean;
  /** Set capacity per set (nft `size`); default none (the kernel's: unlimited). */
  readonly maxElements?: number;
  /** Element writes per transaction (elementWrites in nft-args.ts); default 10,000 (DEFAULT_BATCH_ELEMENTS). */
  readonly batchElements?: number;
  /**
   * Transactions of one change in flight at once (address sets only; network sets one at a time);
   * default 2: on two cores two `nft` processes parse while the agent takes the next batch. Each is
   * still one atomic `nft -f -`; the kernel commits them one after the other. (With transactions of
   * 5,000 writes, 3 in flight started the 100,000 bans restored at start about 40 ms sooner than 2;
   * with 10,000 a batch is 20,000 entries either way, which the queue takes from the book at once.)
   */
  readonly parallel?: number;
  /** How often check() also compares set elements with the expected bans; default 60 s (0 = every check). */
  readonly elementCheckIntervalMs?: number;
  /** Per-command timeout (ms); default the runner's. */
  readonly timeoutMs?: number;
  readonly nftBinary?: string;
  readonly clock?: Clock;
  /**
   * Claim the instance name in this network namespace first (instance-claim.ts): a second agent with
   * the same name is refused at start, and one refused never tears down. The agent sets it; tests
   * that run several enforcers from one process into other namespaces leave it off.
   */
  readonly claimInstance?: boolean;
}

export const DEFAULT_ELEMENT_CHECK_INTERVAL_MS = 60_000;
/** Transactions of one change in flight at once (NftablesEnforcerOptions.parallel). */
export const DEFAULT_PARALLEL = 2;

/** An element of one of our sets as the kernel holds it (for status and tests). */
export interface NftSetEntry {
  readonly ip: string;
  /** Seconds left, or null for a permanent ban. */
  readonly expiresS: number | null;
}

/** Elements kept per set for sampleMissing, and how far from its end a ban must be to be asked for. */
const SAMPLES_PER_SET = 32;
const SAMPLE_MARGIN_MS = 10_000;

/**
 * A sample this cheap (ms) is taken at every check (see NftablesEnforcer.lastSample): a set of a few
 * thousand bans costs well under it even on a loaded host, whose spikes must not skip a sample.
 */
const CHEAP_SAMPLE_MS = 100;

/** Most element writes in one transaction on a network (interval) set: 64 changes (see writeOps). */
export const NET_BATCH_WRITES = 192;

export class NftablesEnforcer implements Enforcer {
  readonly name = 'nftables';
  /** What the last element comparison read back (metrics; see Enforcer.lastReading). */
  lastReading: KernelReading | undefined;
  readonly names: NftNames;
  readonly families: readonly Family[];
  private readonly base: NftLayout;
  private readonly runner: Runner;
  private readonly nft: string;
  private readonly clock: Clock;
  private readonly batchElements: number;
  private readonly parallel: number;
  private readonly elementCheckMs: number;
  private readonly timeoutMs: number | undefined;
  /** Our chain's rules as this nft prints them, learned right after we wrote them. */
  private reference: string[] | undefined;
  private lastElementCheck = Number.NEGATIVE_INFINITY;
  /**
   * Per set, a few elements written last (address → until, null: permanent), and a turn: between
   * element comparisons each check() asks the kernel for one of them (nft get element, one element,
   * not a listing), so a set flushed or emptied behind our back is refilled at the next check, not
   * at the next comparison (up to a minute later), as ipset's entry count shows it to the iptables
   * enforcer.
   */
  private readonly sampled = new Map<string, Map<string, number | null>>();
  private sampleTurn = 0;
  /** How long the last element comparison took (ms of wall time). */
  private elementCheckCostMs = 0;
  /**
   * When the last sampleMissing() ran (clock ms) and how long it took (ms of wall time). nft 1.0.6's
   * `get element` loads the whole set: about 0.5 s beside 100,000 bans, which at every check (2 s)
   * was a quarter of the time. A sample is thus taken at most every 50 times its cost, as the
   * comparison is (2 % of the time): at every check for sets of ordinary sizes, every 25 s or so
   * for 100,000 bans, still well before the next comparison.
   */
  private lastSample = Number.NEGATIVE_INFINITY;
  private sampleCostMs = 0;
  /** Which listing reads our table's structure (nft-listing-choice.ts). */
  private readonly listing = new TableListingChoice();
  /**
   * The kernel rewrites an existing element's timeout and expiry on `add` (probed at init, the expiry
   * even with an unchanged timeout; until then assume not).
   */
  private timeoutUpdates = false;
  /** Sets (names) re-created empty outside check() (by an apply that found them gone): check() refills them. */
  private readonly pendingRefill = new Set<string>();
  readonly cidr: boolean;
  private readonly host: NftablesEnforcerOptions['host'];
  /** Host mode: containers with sets and rules in our table, with the addresses their rules were written for. */
  private readonly targets = new Map<string, ContainerTarget>();
  private tail: Promise<unknown> = Promise.resolve();
  /** The instance name claimed in this namespace (option claimInstance), or null. */
  private readonly claim: InstanceClaim | null;

  constructor(opts: NftablesEnforcerOptions) {
    this.claim = opts.claimInstance === true ? new InstanceClaim(opts.instance) : null;
    this.host = opts.host;
    this.names = nftNames(opts.instance, opts.host ? 'forward' : 'input');
    this.families = validateFamilies(opts.families);
    const size = opts.maxElements;
    if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
      throw new BanhammerError('BH_ERR_CONFIG', `invalid set size ${JSON.stringify(size)}: a positive integer is needed`, { hint: 'set maxelem to e.g. 1048576' });
    }
    this.base = {
      names: this.names,
      ports: opts.host ? [] : validateNftPorts(opts.ports),
      action: opts.blockAction ?? 'drop',
      families: this.families,
      size,
      cidr: opts.cidr ?? false,
    };
    this.cidr = opts.cidr ?? false;
    this.runner = opts.runner;
    this.nft = opts.nftBinary ?? 'nft';
    this.clock = opts.clock ?? systemClock;
    this.batchElements = Math.max(1, Math.floor(opts.batchElements ?? DEFAULT_BATCH_ELEMENTS));
    this.parallel = Math.max(1, Math.floor(opts.parallel ?? DEFAULT_PARALLEL));
    this.elementCheckMs = opts.elementCheckIntervalMs ?? DEFAULT_ELEMENT_CHECK_INTERVAL_MS;
    this.timeoutMs = opts.timeoutMs;
  }

  init(): Promise<void> {
    return this.serial(async () => {
      await this.claim?.acquire();
      // Container sets of a previous run are not ours any more and go: their bans come back with the
      // daemon's re-apply, with the containers' current addresses.
      this.targets.clear();
      await this.ensureStructure(true);
      this.timeoutUpdates = await this.probeTimeoutUpdates();
      this.pendingRefill.clear();
    });
  }

  /**
   * A batch fills every transaction run at once (`parallel` of `batchElements`: 20,000 by default).
   * With the queue's 8,192, a restore of 100,000 bans ran as 13 batches of two transactions one after
   * the other, 1.33 s where one batch of all of them took 0.96 s (npm run bench, kernel rows). More
   * per batch would hold the agent longer: the queue takes the batch from the book, and apply()
   * validates every address of it, in one block (about 25 ms for 20,000 on an idle core).
   */
  get batchEntries(): number {
    return this.batchElements * this.parallel;
  }

  apply(batch: EnforcerBatch): Promise<ApplyResult> {
    return this.serial(async () => {
      const { ops: all, refused } = elementOps(batch, this.families, this.clock.now(), { cidr: this.cidr, scoped: this.host !== undefined });
      const out: RefusedEntry[] = refused.map((r) => ({ ip: r.ip, family: r.family, ...(r.scope !== undefined ? { scope: r.scope } : {}), reason: r.reason }));
      // A container's sets and rules come first; an unban for a container without sets has nothing to delete.
      const fresh = [...new Set(all.filter((o) => o.scope !== undefined && o.op !== 'delete' && !this.targets.has(o.scope)).map((o) => o.scope!))];
      for (const id of fresh) this.addTarget(id);
      if (fresh.length > 0) {
        const freshSets = new Set(fresh.flatMap((id) => this.families.map((f) => containerSetName(id, f))));
        // Anything else found missing on the way is re-created empty: the next check() refills it.
        for (const n of (await this.ensureStructure(true)).emptySets) if (!freshSets.has(n)) this.pendingRefill.add(n);
      }
      const ops = all.filter((o) => o.scope === undefined || this.targets.has(o.scope));
      for (const r of await this.writeOps(ops)) out.push(r);
      return { refused: out };
    });
  }

  check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    return this.serial(async () => {
      const repaired: string[] = [];
      let want: Map<string, Map<string, number | null>> | undefined;
      let bans: readonly EnforcerBan[] | undefined;
      const book = (): readonly EnforcerBan[] => (bans ??= typeof expected === 'function' ? expected() : []);
      const wanted = (set: NftSet): Map<string, number | null> => (want ??= this.expectedBySet(book())).get(set.name) ?? new Map();
      const structure = await this.ensureStructure(false);
      const { findings } = structure;
      const empty = new Set([...structure.emptySets, ...this.pendingRefill]);
      this.pendingRefill.clear();
      if (this.host) {
        const now = this.clock.now();
        // A container the ban book has bans for but our table has no sets for (lost, or never applied).
        const missing = new Set<string>();
        for (const b of book()) {
          if (b.scope === undefined || this.targets.has(b.scope) || (b.until !== null && !(b.until > now))) continue;
          if ('reason' in acceptScopedTarget(b.ip, b.scope, this.families, { cidr: this.cidr, scoped: true })) continue;
          missing.add(b.scope);
        }
        for (const id of missing) {
          this.addTarget(id);
          repaired.push(`container ${id.slice(0, 12)}: its sets and rules were missing and were added`);
        }
        // Containers none of whose bans is in force any more: their sets and rules go (the next ban
        // brings them back). A host that runs many short-lived containers would otherwise keep, and
        // check every 2 s, sets and rules for every container ever banned.
        const idle = retiredTargets(this.targets.keys(), typeof expected === 'function' ? book() : null, now);
        for (const id of idle) this.targets.delete(id);
        const notes = this.refreshAddresses();
        // New containers' sets are created empty here and filled below with their bans; the sets of
        // containers let go are no longer in the layout, and go as sets that are not ours.
        if (missing.size > 0 || notes.length > 0 || idle.length > 0) for (const n of (await this.ensureStructure(true)).emptySets) empty.add(n);
        for (const n of notes) this.host.onNote?.(n);
      }
      let refilled = 0;
      for (const set of this.sets()) {
        if (!empty.has(set.name)) continue;
        const r = reconcileSet([], wanted(set), set, this.clock.now());
        refilled += r.added;
        const refused = await this.writeOps(r.ops);
        repaired.push(`set ${set.name} (IPv${set.family}) re-created and refilled with ${r.added - refused.length} ban(s)${refusedNote(refused)}`);
      }
      if (findings.length > 0) repaired.unshift(`table inet ${this.names.table}: ${findings.join('; ')}; repaired`);
      const now = this.clock.now();
      // Without the ban book's view (a caller of the old check()), never compare: every element would look stray.
      if (typeof expected !== 'function') return repaired;
      // Listing 100,000 elements costs seconds: with an interval set, never spend over 2 % of the time on it.
      const every = this.elementCheckMs > 0 ? Math.max(this.elementCheckMs, 50 * this.elementCheckCostMs) : 0;
      // Ages on the monotonic clock: set back a day, the wall clock skipped the element check that day.
      const steady = steadyNow(this.clock);
      const due = steady - this.lastElementCheck >= every;
      const sampleEvery = this.sampleCostMs > CHEAP_SAMPLE_MS ? 50 * this.sampleCostMs : 0;
      if (due || (steady - this.lastSample >= sampleEvery && (await this.timedSample(empty, now)))) {
        this.lastElementCheck = steady;
        const t0 = performance.now();
        // What this pass read back (metrics): sets found empty count as holding nothing, their bans as missing.
        const reading = { held: 0, missing: refilled, stray: 0 };
        for (const set of this.sets()) {
          if (empty.has(set.name)) continue;
          const held = await this.readSet(set.name);
          const r = reconcileSet(held, wanted(set), set, this.clock.now());
          reading.held += held.length;
          reading.missing += r.added;
          reading.stray += r.removed;
          if (r.ops.length === 0) continue;
          // Stray and missing networks at once: perhaps merged by an `auto-merge` someone gave the set
          // (nft -j does not show it). Such a set is re-created without it and refilled.
          if (set.kind === 'net' && r.removed > 0 && r.added > 0 && (await this.autoMerges(set.name))) {
            await this.recreateSet(set.name);
            const again = reconcileSet([], wanted(set), set, this.clock.now());
            const refused = await this.writeOps(again.ops);
            repaired.push(`set ${set.name} (IPv${set.family}) had auto-merge (it merged networks): re-created and refilled with ${again.added - refused.length} ban(s)${refusedNote(refused)}`);
            continue;
          }
          const refused = await this.writeOps(r.ops);
          repaired.push(`set ${set.name} (IPv${set.family}): ${r.added} missing ban(s) re-added, ${r.removed} stray element(s) removed, ${r.corrected} timeout(s) corrected${refusedNote(refused)}`);
        }
        this.elementCheckCostMs = performance.now() - t0;
        this.lastReading = reading;
      }
      return repaired;
    });
  }

  shutdown(): Promise<void> {
    return this.serial(async () => {
      // Refused the instance name at start: the table is another agent's.
      if (this.claim !== null && !this.claim.held) return;
      const r = await this.exec(deleteTableArgs(this.names), `deleting table inet ${this.names.table}`, { okExitCodes: [0, 1] });
      if (r.code !== 0 && !/No such file or directory/.test(r.stderr)) {
        throw classifyNftError(execError(this.nft, deleteTableArgs(this.names), r), `deleting table inet ${this.names.table}`);
      }
      this.reference = undefined;
      await this.claim?.release();
    });
  }

  /**
   * What the kernel holds in our address set for `family` — or, with kind 'net', the network set, or
   * with a container id, that container's set (for status and tests).
   */
  listSet(family: Family, kind: SetKind | { readonly container: string } = 'addr'): Promise<NftSetEntry[]> {
    const name = typeof kind === 'object' ? containerSetName(kind.container, family) : opSet(this.names, { family, kind });
    return this.serial(() => this.readSet(name));
  }

  /** Host mode: the containers that have sets and rules in our table now. */
  containers(): string[] {
    return [...this.targets.keys()].sort();
  }

  // ---- internals ----

  /**
   * Whether `add element` rewrites an existing element's timeout and expiry here (kernel 6.10 and
   * newer; probeScripts), tried on a scratch set in our table. Any failure means "no": the add +
   * delete + add path works everywhere.
   */
  private async probeTimeoutUpdates(): Promise<boolean> {
    const p = probeScripts(this.names);
    const what = `probing timeout updates in table inet ${this.names.table}`;
    try {
      await this.exec(applyArgs(), what, { input: p.create });
      await this.exec(applyArgs(), what, { input: p.readd });
      return probeSaysUpdates((await this.exec(listSetArgs(this.names, PROBE_SET), what)).stdout);
    } catch {
      return false;
    } finally {
      await this.exec(applyArgs(), what, { input: p.remove, okExitCodes: [0, 1] }).catch(() => undefined);
    }
  }

  /** The table as it must be now: the fixed part, plus (host mode) the containers with scoped bans. */
  private layout(): NftLayout {
    return this.targets.size === 0 ? this.base : { ...this.base, containers: [...this.targets.values()] };
  }

  private sets(): NftSet[] {
    return layoutSets(this.layout());
  }

  /** Host mode: a container gets sets and rules (written by the next ensureStructure). */
  private addTarget(id: string): void {
    const info = this.host?.containers.info(id) ?? null;
    this.targets.set(id, { id, v4: info?.v4 ?? [], v6: info?.v6 ?? [] });
    if (info === null || info.v4.length + info.v6.length === 0) {
      this.host?.onNote?.(`container ${id.slice(0, 12)} has no known address yet: its bans are held and take effect once Docker gives it one`);
    }
  }

  /** Host mode: re-reads each banned container's addresses; one note per container whose addresses changed. */
  private refreshAddresses(): string[] {
    const notes: string[] = [];
    for (const [id, t] of this.targets) {
      const info = this.host?.containers.info(id) ?? null;
      const v4 = info?.v4 ?? [];
      const v6 = info?.v6 ?? [];
      if (v4.join() === t.v4.join() && v6.join() === t.v6.join()) continue;
      this.targets.set(id, { id, v4, v6 });
      const was = [...t.v4, ...t.v6].join(' ') || 'none';
      const now = [...v4, ...v6].join(' ') || 'none';
      notes.push(`container ${info?.name ?? id.slice(0, 12)} (${id.slice(0, 12)}) addresses changed from ${was} to ${now}; its bans now apply to the new addresses`);
    }
    return notes;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async exec(args: string[], what: string, opts: RunOptions = {}): Promise<RunResult> {
    const o: RunOptions = this.timeoutMs !== undefined && opts.timeoutMs === undefined ? { ...opts, timeoutMs: this.timeoutMs } : opts;
    try {
      return await this.runner.run(this.nft, args, o);
    } catch (e) {
      throw classifyNftError(e, what);
    }
  }

  /** sampleMissing(), its time and cost noted (see lastSample). */
  private async timedSample(skip: ReadonlySet<string>, now: number): Promise<boolean> {
    const t0 = performance.now();
    try {
      return await this.sampleMissing(skip, now);
    } finally {
      this.lastSample = steadyNow(this.clock);
      this.sampleCostMs = performance.now() - t0;
    }
  }

  /**
   * Asks the kernel for one element written last (a set in turn, then an element in turn, one still
   * held by the ban book's view of it: until more than SAMPLE_MARGIN_MS away): true when it is gone.
   */
  private async sampleMissing(skip: ReadonlySet<string>, now: number): Promise<boolean> {
    // Sets no longer in the layout (a container let go) are forgotten, not asked for.
    const current = new Set(this.sets().map((x) => x.name));
    for (const name of this.sampled.keys()) if (!current.has(name)) this.sampled.delete(name);
    const sets = [...this.sampled.entries()].filter(([name, m]) => m.size > 0 && !skip.has(name));
    if (sets.length === 0) return false;
    const [name, held] = sets[this.sampleTurn++ % sets.length]!;
    for (const [ip, until] of held) {
      held.delete(ip);
      if (until !== null && until - now <= SAMPLE_MARGIN_MS) continue;
      held.set(ip, until); // to the back: the next sample of this set asks another
      const r = await this.exec(getElementArgs(this.names, name, ip), `looking up ${ip} in set ${name} of table inet ${this.names.table}`, { okExitCodes: [0, 1] });
      return r.code !== 0;
    }
    return false;
  }

  /**
   * Keeps the elements a transaction wrote (sampleMissing), at most SAMPLES_PER_SET per set: the
   * last ones written. Read from the end: once a set has SAMPLES_PER_SET bans of this transaction
   * (one op per element: elementOps), its earlier ops and its older samples cannot be among them: a
   * transaction of 10,000 bans makes 32 map writes per set, where every op made two.
   */
  private noteWritten(ops: readonly ElementOp[]): void {
    const now = this.clock.now();
    // Per set: this transaction's last bans, newest first, and the addresses it deleted after them.
    const fresh = new Map<string, { bans: [string, number | null][]; gone: Set<string>; done: boolean }>();
    for (let i = ops.length - 1; i >= 0; i--) {
      const o = ops[i]!;
      const name = opSet(this.names, o);
      let f = fresh.get(name);
      if (f === undefined) fresh.set(name, (f = { bans: [], gone: new Set(), done: false }));
      if (f.done) continue;
      if (o.op === 'delete') f.gone.add(o.ip);
      else f.bans.push([o.ip, o.op === 'permanent' ? null : now + o.op]);
      if (f.bans.length >= SAMPLES_PER_SET) f.done = true;
    }
    for (const [name, f] of fresh) {
      let m = this.sampled.get(name);
      if (f.done || m === undefined) this.sampled.set(name, (m = f.done ? new Map() : (m ?? new Map())));
      for (const ip of f.gone) m.delete(ip);
      for (let j = f.bans.length - 1; j >= 0; j--) {
        const [ip, until] = f.bans[j]!;
        m.delete(ip);
        m.set(ip, until);
        if (m.size > SAMPLES_PER_SET) m.delete(m.keys().next().value!);
      }
    }
  }

  /** Whether one of our sets carries `auto-merge` (read from its text definition; see hasAutoMerge). */
  private async autoMerges(name: string): Promise<boolean> {
    const r = await this.exec(setHeaderArgs(this.names, name), `reading set ${name} of table inet ${this.names.table}`, { okExitCodes: [0, 1] });
    return r.code === 0 && hasAutoMerge(r.stdout);
  }

  /** Deletes and re-creates one of our sets (empty) with our rules, in one transaction (the caller refills it). */
  private async recreateSet(name: string): Promise<void> {
    const plan = { chainExists: true, chainWrong: false, badSets: [name], foreignChains: [], foreignSets: [] };
    await this.exec(applyArgs(), `setting up table inet ${this.names.table}`, { input: setupScript(this.layout(), plan) });
    this.sampled.delete(name);
  }

  private async readSet(name: string): Promise<NftElement[]> {
    const out = await this.exec(listSetArgs(this.names, name), `reading set ${name} of table inet ${this.names.table}`);
    return parseSetElements(out.stdout);
  }

  /**
   * Our table's structure (no set elements), or undefined when it does not exist, read with whichever
   * of the two listings costs less here (listing).
   */
  private async readTable(): Promise<NftTableView | undefined> {
    const what = `reading table inet ${this.names.table}`;
    if (this.listing.choose(this.clock.now()) === 'ruleset') {
      // Other programs' tables are in this listing: should one of them make nft fail (a crash,
      // output we cannot read) or outlast what the table listing costs, our own table is read alone
      // instead, and the ruleset is taken as very dear (not tried again for a long while).
      const args = listInetRulesetArgs();
      const budget = this.listing.rulesetBudgetMs();
      const t0 = performance.now();
      try {
        const r = await this.exec(args, what, budget !== undefined && (this.timeoutMs === undefined || budget < this.timeoutMs) ? { timeoutMs: budget } : {});
        const view = parseTable(r.stdout, this.names.table);
        this.listing.note('ruleset', performance.now() - t0, this.clock.now());
        return view;
      } catch {
        this.listing.failed('ruleset', this.clock.now());
      }
    }
    const args = listTableArgs(this.names);
    const t0 = performance.now();
    const r = await this.exec(args, what, { okExitCodes: [0, 1] });
    this.listing.note('table', performance.now() - t0, this.clock.now());
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw classifyNftError(execError(this.nft, args, r), what);
    }
    return parseTable(r.stdout, this.names.table);
  }

  /**
   * Lists the structure and, unless it is exactly ours, rewrites it in one transaction (always with
   * `force`, as init() does). Returns what was wrong and which sets are new and empty.
   */
  private async ensureStructure(force: boolean): Promise<{ findings: readonly string[]; emptySets: readonly string[] }> {
    const view = await this.readTable();
    const layout = this.layout();
    const diff = diffStructure(view, layout, force ? undefined : this.reference);
    if (diff.ok && !force && this.reference) return { findings: [], emptySets: [] };
    await this.exec(applyArgs(), `setting up table inet ${this.names.table}`, { input: setupScript(layout, diff.plan) });
    const after = await this.readTable();
    this.reference = [...(after?.rules.get(this.names.chain) ?? [])];
    const written = blockRules(layout).length;
    if (this.reference.length !== written) {
      throw new BanhammerError('BH_ERR_FIREWALL', `setting up table inet ${this.names.table}: nft shows ${this.reference.length} rule(s) in chain ${this.names.chain} right after writing ${written}`, {
        hint: 'another program changes the table at the same time; stop it or choose another instance name',
      });
    }
    return { findings: diff.ok ? [] : diff.findings, emptySets: diff.emptySets };
  }

  /**
   * Writes element changes in transactions of at most batchElements element writes (NET_BATCH_WRITES
   * for network sets). The changes
   * touch distinct elements (one per address and set), so their transactions may commit in any
   * order: those of address sets run up to `parallel` at a time, those of network (interval) sets,
   * whose nft computes intervals from its cached view of the set, one at a time afterwards.
   * Refused transactions are then dealt with one by one: a vanished table or set fails every element
   * alike, so the structure is checked (and re-created) and the transaction retried; otherwise each
   * set's part of it is tried on its own and split in halves until the addresses it refuses are
   * isolated (at most `budget` nft runs for the isolation of one set's part; past it, what is left is
   * reported as not tried).
   */
  private async writeOps(ops: readonly ElementOp[]): Promise<RefusedEntry[]> {
    const refused: RefusedEntry[] = [];
    const opts = { timeoutUpdates: this.timeoutUpdates };
    const addrs = chunkOps(ops.filter((o) => o.kind === 'addr'), this.batchElements, opts);
    // Network (interval) sets: nft 1.0.6 works out each delete against the whole set (about 12 ms
    // an element beside 20,000 networks, 45 ms beside 50,000), so their transactions stay small
    // enough to finish well within the command timeout whatever the set holds.
    const nets = chunkOps(ops.filter((o) => o.kind !== 'addr'), Math.min(this.batchElements, NET_BATCH_WRITES), opts);
    const failed: { chunk: readonly ElementOp[]; reason: string; order: number }[] = [];
    const attempt = async (chunk: readonly ElementOp[], order: number): Promise<void> => {
      // A turn of the event loop before each transaction's text is built (20,000 elements: ~10 ms),
      // so a large change never holds the agent for all of them at once.
      if (order > 0) await new Promise((resolve) => setImmediate(resolve));
      const reason = await this.tryOps(chunk);
      if (reason !== null) failed.push({ chunk, reason, order });
    };
    await inParallel(addrs, this.parallel, attempt);
    await inParallel(nets, 1, (chunk, i) => attempt(chunk, addrs.length + i));
    failed.sort((a, b) => a.order - b.order);
    let recreated = false;
    for (const { chunk, reason } of failed) {
      const { emptySets } = await this.ensureStructure(false);
      for (const f of emptySets) this.pendingRefill.add(f);
      // Transactions that failed before the re-creation are retried once it is done.
      if (emptySets.length > 0) recreated = true;
      if (recreated && (await this.tryOps(chunk)) === null) continue;
      // What one set refuses never comes from another set's elements: each set's part is tried and
      // isolated on its own, with its own budget (a stray network in net4 refusing every IPv4
      // network of a batch spent the budget and left its IPv6 networks "not tried"; review H36).
      const parts = [...groupBy(chunk, (o) => opSet(this.names, o)).values()];
      for (const part of parts) {
        const why = parts.length === 1 ? reason : await this.tryOps(part);
        if (why === null) continue;
        const budget = { left: 2 * Math.ceil(Math.log2(part.length + 1)) + 64 };
        await this.isolate(part, why, refused, budget);
      }
    }
    return refused;
  }

  /** Runs one transaction: null when it applied, else nft's reason (one line). Throws when it is not an element's fault. */
  private async tryOps(ops: readonly ElementOp[]): Promise<string | null> {
    if (ops.length === 0) return null;
    const what = `applying ${ops.length} ban change(s) to table inet ${this.names.table}`;
    const r = await this.exec(applyArgs(), what, { input: elementScript(this.names, ops, { timeoutUpdates: this.timeoutUpdates, refreshExpiry: this.timeoutUpdates }), okExitCodes: [0, 1] });
    if (r.code === 0) {
      this.noteWritten(ops);
      return null;
    }
    const e = classifyNftError(execError(this.nft, applyArgs(), r), what);
    if (e instanceof BanhammerError && e.code === 'BH_ERR_NO_NET_ADMIN') throw e;
    if (/no usable nf_tables/.test((e as Error).message)) throw e;
    return nftReason(r.stderr);
  }

  private async isolate(ops: readonly ElementOp[], reason: string, refused: RefusedEntry[], budget: { left: number }): Promise<void> {
    if (ops.length === 1) {
      const o = ops[0]!;
      // An unban is add + delete: a network whose add is refused for overlapping one the set holds
      // cannot be in the set (an equal one would have been taken), so the unban is done (review H36).
      if (o.op === 'delete' && o.kind === 'net' && INTERVAL_OVERLAP.test(reason)) return;
      refused.push({ ip: o.ip, family: o.family, ...(o.scope !== undefined ? { scope: o.scope } : {}), reason });
      return;
    }
    const mid = Math.ceil(ops.length / 2);
    for (const half of [ops.slice(0, mid), ops.slice(mid)]) {
      if (budget.left <= 0) {
        for (const o of half) refused.push({ ip: o.ip, family: o.family, ...(o.scope !== undefined ? { scope: o.scope } : {}), reason: `not tried after too many refusals in this batch (last: ${reason})` });
        continue;
      }
      budget.left--;
      const r = await this.tryOps(half);
      if (r !== null) await this.isolate(half, r, refused, budget);
    }
  }

  /** The expected bans per set name: canonical address or network → until. */
  private expectedBySet(bans: readonly EnforcerBan[]): Map<string, Map<string, number | null>> {
    const out = new Map<string, Map<string, number | null>>(this.sets().map((s) => [s.name, new Map<string, number | null>()]));
    for (const b of bans) {
      const a = acceptScopedTarget(b.ip, b.scope, this.families, { cidr: this.cidr, scoped: this.host !== undefined });
      if ('reason' in a) continue;
      const m = out.get(opSet(this.names, { ...a, scope: b.scope }));
      if (!m) continue;
      const prev = m.get(a.ip);
      // Several bans of one address (e.g. scopes): the longest wins.
      if (prev === undefined || (prev !== null && (b.until === null || b.until > prev))) m.set(a.ip, b.until);
    }
    return out;
  }
}

/**
 * Why the nftables enforcer cannot work here (one line, from classifyNftError), or null when `nft`
 * runs and can read the ruleset (which needs NET_ADMIN and nf_tables, as every change does). For
 * `auto`: one cheap command, no change to the firewall.
 */
export async function nftablesUnavailable(runner: Runner, opts: { nftBinary?: string; timeoutMs?: number } = {}): Promise<string | null> {
  try {
    const r = await runner.run(opts.nftBinary ?? 'nft', listStructureArgs(), opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {});
    parseTable(r.stdout, '');
    return null;
  } catch (e) {
    const c = classifyNftError(e, 'reading the nftables ruleset');
    return c instanceof Error ? c.message : String(c);
  }
}

/** nft's words for a network that overlaps one of the set (the kernel's) or another of the same command (nft's own). */
const INTERVAL_OVERLAP = /interval overlaps with an existing one|conflicting intervals specified/i;

/** Items in groups by key, groups and items in their first order. */
function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of items) {
    const k = key(x);
    const list = out.get(k);
    if (list) list.push(x);
    else out.set(k, [x]);
  }
  return out;
}

/**
 * Runs fn over items, at most `width` at a time, in order of start; resolves when all have settled,
 * then rejects with the first error if any (no new item starts after an error).
 */
async function inParallel<T>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let error: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (error === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (e) {
        error ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (error !== undefined) throw error.e;
}

function refusedNote(refused: readonly RefusedEntry[]): string {
  if (refused.length === 0) return '';
  return `; ${refused.length} refused (${refused[0]!.ip}: ${refused[0]!.reason})`;
}

export { MAX_NFT_TIMEOUT_MS };
