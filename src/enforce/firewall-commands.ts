/**
 * What the two kernel enforcers (iptables: INPUT for one container's ports; docker-user: DOCKER-USER
 * for a host's containers) share: the options every firewall command needs, the one place commands
 * run (through the Runner, with the configured timeout, failures classified into actionable errors,
 * transient ones retried with back-off), the lazily resolved backend (legacy or nft), and the ipset
 * operations they both use, among them the `ipset restore` that isolates elements the kernel refuses.
 */
import { createHash } from 'node:crypto';
import { BoundedMap } from '../bounded-map.js';
import { steadyNow, systemClock, type Clock } from '../clock.js';
import { BanhammerError } from '../errors.js';
import type { RunOptions, Runner } from '../exec/runner.js';
import { resolveBackend, type Backend, type IptablesMode } from './backend-mode.js';
import type { EnforcerBan, RefusedEntry } from './enforcer.js';
import { classifyFirewallError, isTransientFirewallError } from './firewall-errors.js';
import { canonicalTarget, isNetwork } from '../parse/ip.js';
import {
  CHAIN_PREFIX,
  DEFAULT_MAXELEM,
  acceptNetwork,
  checkRuleArgs,
  clientAddress,
  createSetArgs,
  describeSetRepair,
  destroySetArgs,
  listChainArgs,
  listSetHeadersArgs,
  parseSetHeaderInfo,
  parseSetSave,
  reconcileSet,
  restoreArgs,
  restoreText,
  saveSetArgs,
  setRestoreArgs,
  setShapeProblem,
  wantedCount,
  type Family,
  type SetHeader,
  type SetEntry,
  type SetLine,
  type WantedEntry,
} from './iptables-args.js';

/**
 * How long a transient failure (the xtables lock held by another program, a command timing out) is
 * retried: exponential back-off from `firstDelayMs` to `maxDelayMs`, each delay with ±50 % jitter,
 * until `totalMs` have passed since the first attempt. Only then is the error reported.
 */
export interface RetryPolicy {
  readonly totalMs?: number;
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryPolicy> = { totalMs: 60_000, firstDelayMs: 250, maxDelayMs: 8_000 };

/**
 * The periodic full comparison (members read although the counts agree) is skipped for sets larger
 * than this: reading a million entries every minute is not cheap. A count that differs still reads
 * them, whatever the size.
 */
export const FULL_COMPARE_MAX_ENTRIES = 65_536;

/** The start of check()'s repair line for a set it re-created (setsRecreated() in iptables.ts reads it). */
export const REPAIR_SET_RECREATED = 'set re-created';

/** More refusals than this in one `ipset restore` means the set (not its elements) is the problem. */
export const MAX_REFUSED_PER_RESTORE = 32;
/** How long check() leaves a set alone after finding it full. */
export const FULL_SET_BACKOFF_MS = 60_000;

export interface FirewallCommandOptions {
  readonly runner: Runner;
  /** Address families to enforce; default both. Leave 6 out when there is no IPv6. */
  readonly families?: readonly Family[];
  /** Backend choice; default auto (see backend-mode.ts). Ignored when `backend` is given. */
  readonly mode?: IptablesMode;
  /** A backend already resolved (skips the probe). */
  readonly backend?: Backend;
  /** Set capacity per family; default 1,048,576. */
  readonly maxelem?: number;
  /** Per-command timeout (ms); default the runner's. */
  readonly timeoutMs?: number;
  readonly ipsetBinary?: string;
  /** Retrying transient failures; default DEFAULT_RETRY. */
  readonly retry?: RetryPolicy;
  /** Time for the retry budget and back-off; default the system clock. */
  readonly clock?: Clock;
  /** Waits between retries; default a timer of `clock` (tests pass one that advances a manual clock). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1); default Math.random. */
  readonly random?: () => number;
  /** Told about each retry of a transient failure (one line), e.g. for a warning in the log. */
  readonly onRetry?: (msg: string) => void;
}

export type CommandResult = { stdout: string; stderr: string; code: number };

export const familyLabel = (f: Family): string => `IPv${f}`;

/** The families to enforce, sorted and de-duplicated; a clear error for anything but 4 and 6. */
export function validateFamilies(families: readonly Family[] | undefined): Family[] {
  const fams = [...new Set(families ?? [4, 6])].sort() as Family[];
  if (fams.length === 0 || fams.some((f) => f !== 4 && f !== 6)) {
    throw new BanhammerError('BH_ERR_CONFIG', `invalid address families ${JSON.stringify(families)}: use [4], [6] or [4, 6]`, {
      hint: 'list the IP versions to enforce, e.g. [4, 6]',
    });
  }
  return fams;
}

/** How often in a row check() moved our jump back to the top before it gives up (another program insists). */
export const MAX_TOP_MOVES = 3;

/** Per chain and family: how often in a row our jump had to be moved back to the top. */
export interface TopState {
  moves: number;
  gaveUp: boolean;
}

export type ChainState = { state: 'ok' } | { state: 'missing' } | { state: 'differs'; foreign: string[]; rules: number };

/**
 * The repair line for a chain that chainState() found wrong (after it was refilled); `lost` words a
 * chain that only lost rules: "its rule" (iptables: one rule) or "rules" (docker-user).
 */
export function describeChainRepair(label: string, chain: string, s: Exclude<ChainState, { state: 'ok' }>, lost: 'its rule' | 'rules'): string {
  if (s.state === 'missing') return `chain (${label}): ${chain} was missing and was re-created`;
  if (s.foreign.length > 0) {
    return `chain (${label}): ${chain} held ${s.foreign.length} rule(s) banhammer did not put there (first: ${JSON.stringify(s.foreign[0]!.slice(0, 200))}) and was rebuilt`;
  }
  return `chain (${label}): ${chain} had lost ${lost} and was refilled`;
}

/** Targets that never let a packet skip the rules after them: above our jump they do no harm. */
const HARMLESS_TARGETS = new Set(['DROP', 'REJECT', 'LOG', 'NFLOG']);

/**
 * Could this `-S` rule let a packet skip our jump below it (an ACCEPT, a RETURN, a jump or goto to
 * another chain)? Drops and logs cannot: `no`. A jump to a chain named like another banhammer
 * instance's: `chain`, harmless only if that chain really holds what ours do (harmlessChain()).
 */
function mayLetThrough(rule: string): 'yes' | 'no' | { chain: string } {
  const m = / -j (\S+)/.exec(rule);
  const target = m?.[1];
  if (target === undefined || / -g /.test(rule)) return 'yes';
  if (HARMLESS_TARGETS.has(target)) return 'no';
  return target.startsWith(CHAIN_PREFIX) ? { chain: target } : 'yes';
}

/**
 * Does `-S chain` output show a chain that can only drop, reject, log or return to its caller, as
 * every banhammer instance's chain (a set match with DROP or REJECT, docker-user's RETURN for
 * replies)? A chain merely named like one that accepts, or jumps or goes to another chain, is not.
 */
function harmlessChain(listing: string, chain: string): boolean {
  for (const rule of listing.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`-A ${chain} `))) {
    const target = / -j (\S+)/.exec(rule)?.[1];
    if (target === undefined || / -g /.test(rule) || !(HARMLESS_TARGETS.has(target) || target === 'RETURN')) return false;
  }
  return true;
}

/** The set and canonical address of an `ipset restore` add/del line. */
function lineKey(text: string): string | null {
  const f = text.split(' ');
  return f[1] !== undefined && f[2] !== undefined ? `${f[1]} ${f[2]}` : null;
}

/** A set of keys that forgets its oldest entries beyond `max` (bounded-map.ts: in constant time). */
class BoundedSet {
  private readonly keys: BoundedMap<string, true>;
  constructor(max: number) {
    this.keys = new BoundedMap(max);
  }
  has(k: string): boolean {
    return this.keys.has(k);
  }
  add(k: string): void {
    this.keys.set(k, true);
  }
  delete(k: string): void {
    this.keys.delete(k);
  }
  /** Forgets every key starting with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const k of [...this.keys.keys()]) if (k.startsWith(prefix)) this.keys.delete(k);
  }
}

/**
 * The ban book's expected bans grouped by the set that must hold them (`setOf` names it, or null
 * when the ban is not this enforcer's: another family, a bad scope), keyed by canonical address.
 * Addresses that cannot be clients are left out (they are never written); expired bans too; an
 * address expected twice keeps the later expiry. Networks (CIDR bans) are left out too, unless
 * `networks`: then a valid network (acceptNetwork) is handed to `networkSetOf`.
 */
export function wantedBySet(
  expected: readonly EnforcerBan[],
  now: number,
  setOf: (ban: EnforcerBan, family: Family) => string | null,
  networkSetOf?: (ban: EnforcerBan, family: Family) => string | null,
): Map<string, Map<string, WantedEntry>> {
  const out = new Map<string, Map<string, WantedEntry>>();
  for (const b of expected) {
    if (b.until !== null && !(b.until > now)) continue;
    let c: { ip: string; family: Family } | { reason: string } = clientAddress(b.ip);
    let net = false;
    if ('reason' in c && networkSetOf !== undefined && typeof b.ip === 'string' && isNetwork(b.ip)) {
      const n = acceptNetwork({ ip: b.ip, family: b.family }, [4, 6], []);
      if (n !== null) [c, net] = [n, n.net];
    }
    if ('reason' in c) continue;
    const set = net ? networkSetOf!(b, c.family) : setOf(b, c.family);
    if (set === null) continue;
    let m = out.get(set);
    if (!m) out.set(set, (m = new Map()));
    const prev = m.get(c.ip);
    if (prev && (prev.until === null || (b.until !== null && prev.until >= b.until))) continue;
    m.set(c.ip, { ip: c.ip, until: b.until, entry: { ip: b.ip, family: c.family, ...(b.scope !== undefined ? { scope: b.scope } : {}) } });
  }
  return out;
}

/**
 * Host mode: the containers (of `targets`, those with sets and rules) none of whose bans in `expected`
 * is in force at `now`: their sets and rules can go. None without the ban book's view (null): an
 * empty list would let every container go.
 */
export function retiredTargets(targets: Iterable<string>, expected: readonly EnforcerBan[] | null, now: number): string[] {
  if (expected === null) return [];
  const live = new Set<string>();
  for (const b of expected) if (b.scope !== undefined && (b.until === null || b.until > now)) live.add(b.scope);
  return [...targets].filter((id) => !live.has(id));
}

export class FirewallCommands {
  readonly families: readonly Family[];
  readonly ipset: string;
  private resolved: Backend | undefined;
  /** `<set> <address>` of elements the kernel refused (left out of check() comparisons). */
  private readonly refusedKeys = new BoundedSet(4096);
  /** Chain listings found equivalent to ours despite a formatting difference. */
  private readonly goodListings = new Map<string, string>();
  /** When each set was last found full (restoreIsolating), and how many elements it held then. */
  private readonly fullAt = new Map<string, { at: number; count: number }>();
  /** While above 0 (a repair check runs: hurried()), transient failures are not retried. */
  private hurry = 0;

  constructor(private readonly opts: FirewallCommandOptions) {
    this.families = validateFamilies(opts.families);
    this.ipset = opts.ipsetBinary ?? 'ipset';
    this.resolved = opts.backend;
  }

  /** The backend in use (known after the first ensureBackend()). */
  get backend(): Backend | undefined {
    return this.resolved;
  }

  async ensureBackend(): Promise<Backend> {
    this.resolved ??= await resolveBackend(this.opts.runner, this.opts.mode ?? 'auto', {
      ipv6: this.families.includes(6),
      ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
    });
    return this.resolved;
  }

  /**
   * Runs `fn` (a periodic repair check) with no retry of transient failures: its commands fail at
   * once when another program holds the xtables lock (after iptables' own `-w` wait). The check runs
   * again in 2 s anyway, and the enforcement queue runs checks and batches one after the other: a
   * check retrying for up to a minute kept every ban decided meanwhile out of the kernel, although
   * bans go through `ipset restore`, which never takes that lock.
   */
  async hurried<T>(fn: () => Promise<T>): Promise<T> {
    this.hurry++;
    try {
      return await fn();
    } finally {
      this.hurry--;
    }
  }

  /**
   * Runs one command; a failure becomes an error that says what was being done and what to do. A
   * transient failure (isTransientFirewallError) is retried with back-off within the retry budget
   * (not within hurried()).
   */
  async exec(cmd: string, args: string[], what: string, backend?: Backend, opts: RunOptions = {}): Promise<CommandResult> {
    const o: RunOptions = this.opts.timeoutMs !== undefined && opts.timeoutMs === undefined ? { ...opts, timeoutMs: this.opts.timeoutMs } : opts;
    const policy = { ...DEFAULT_RETRY, ...this.opts.retry };
    const clock = this.opts.clock ?? systemClock;
    // The budget on the monotonic clock: on the wall clock, set back a day between two attempts, a
    // lock held for good was retried for that day, every ban and check waiting behind it (review H56).
    const start = steadyNow(clock);
    let delay = policy.firstDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.opts.runner.run(cmd, args, o);
      } catch (raw) {
        const e = classifyFirewallError(raw, what, backend?.mode);
        if (!isTransientFirewallError(e) || this.hurry > 0) throw e;
        const elapsed = steadyNow(clock) - start;
        const wait = Math.round(delay * (0.5 + (this.opts.random ?? Math.random)()));
        if (elapsed + wait > policy.totalMs) throw attempt === 1 ? e : gaveUp(e, attempt, elapsed);
        this.opts.onRetry?.(`${e instanceof Error ? e.message : String(e)}; retrying in ${wait} ms (attempt ${attempt + 1})`);
        await (this.opts.sleep ?? ((ms: number) => new Promise<void>((res) => clock.setTimeout(res, ms))))(wait);
        delay = Math.min(delay * 2, policy.maxDelayMs);
      }
    }
  }

  /** Creates `set` (hash:ip, or hash:net for banned networks, with timeouts) unless it exists; an existing set keeps its entries. */
  createSet(set: string, f: Family, type: 'hash:ip' | 'hash:net' = 'hash:ip'): Promise<CommandResult> {
    return this.exec(this.ipset, createSetArgs(set, f, this.opts.maxelem ?? DEFAULT_MAXELEM, type), `creating ipset ${set}`);
  }

  /**
   * createSet(), and when a set of that name already exists with other settings (a crash left it and
   * someone re-created it, or another version did), replaceSet() it: an agent restarted over it
   * starts with a set it can ban with instead of failing. `release` as for replaceSet().
   */
  async createOrReplaceSet(set: string, f: Family, type: 'hash:ip' | 'hash:net', release: () => Promise<unknown>): Promise<void> {
    try {
      await this.createSet(set, f, type);
    } catch (e) {
      if (!(e instanceof BanhammerError) || !/set with the same name already exists/.test(String(e.data['stderr'] ?? ''))) throw e;
      const h = parseSetHeaderInfo((await this.exec(this.ipset, ['list', '-t', set], `reading ipset ${set}`)).stdout).get(set);
      if (h === undefined || this.shapeProblem(h, f, type) === null) throw e;
      await this.replaceSet(set, f, type, release);
    }
  }

  /** Why the set whose header is `h` cannot hold our bans of family `f` (setShapeProblem), or null. */
  shapeProblem(h: SetHeader, f: Family, type: 'hash:ip' | 'hash:net'): string | null {
    return setShapeProblem(h, f, type, this.opts.maxelem ?? DEFAULT_MAXELEM);
  }

  /**
   * Puts an empty set of ours (createSet's shape) in place of `set`, which exists with another
   * shape (shapeProblem()); the caller re-adds its bans. Where the kernel allows it (same type and
   * family: no timeout support, too small, forceadd) this is atomic: a fresh set is created under a
   * spare name and `ipset swap`ped in, so the rules that match the set never see it missing, and
   * the old one, now under the spare name, is destroyed. Sets of another type or family cannot be
   * swapped: `release` first empties our chain that uses the set (the caller's check refills it),
   * then the set is destroyed and created again; a rule of someone else's still using it makes that
   * destroySet()'s clear error. What was remembered about the old set (refused elements, full) is
   * forgotten.
   */
  async replaceSet(set: string, f: Family, type: 'hash:ip' | 'hash:net', release: () => Promise<unknown>): Promise<void> {
    const spare = `bh-swap-${createHash('sha256').update(set).digest('hex').slice(0, 16)}`;
    await this.destroySet(spare);
    await this.exec(this.ipset, createSetArgs(spare, f, this.opts.maxelem ?? DEFAULT_MAXELEM, type), `creating ipset ${spare}`);
    const swapped = await this.exec(this.ipset, ['swap', spare, set], `swapping ipset ${set} for ${spare}`, undefined, { okExitCodes: [0, 1] });
    if (swapped.code !== 0) {
      await this.destroySet(spare);
      await release();
      await this.destroySet(set);
      await this.createSet(set, f, type);
    } else {
      await this.destroySet(spare);
    }
    this.fullAt.delete(set);
    this.refusedKeys.deletePrefix(`${set} `);
  }

  /** Destroys `set`; one that does not exist is fine, one still in use by a rule is a clear error. */
  async destroySet(set: string): Promise<void> {
    const r = await this.exec(this.ipset, destroySetArgs(set), `destroying ipset ${set}`, undefined, { okExitCodes: [0, 1] });
    if (r.code === 1 && !/does not exist/.test(r.stderr)) {
      throw new BanhammerError('BH_ERR_FIREWALL', `destroying ipset ${set} failed: ${r.stderr.trim()}`, {
        hint: `another rule still uses the set; remove it, then run \`ipset destroy ${set}\``,
        data: { set, stderr: r.stderr },
      });
    }
  }

  /** The entries of `set` as the kernel holds them. */
  async listSet(set: string): Promise<SetEntry[]> {
    const r = await this.exec(this.ipset, saveSetArgs(set), `reading ipset ${set}`);
    return parseSetSave(r.stdout, set);
  }

  /** Every set in the kernel (ours and others') with its number of entries, type and header: one cheap command. */
  async setHeaders(): Promise<Map<string, SetHeader>> {
    return parseSetHeaderInfo((await this.exec(this.ipset, listSetHeadersArgs(), 'listing ipsets')).stdout);
  }

  /** Every set in the kernel (ours and others') with its number of entries: one cheap command. */
  async setCounts(): Promise<Map<string, number>> {
    return new Map([...(await this.setHeaders())].map(([name, h]) => [name, h.count]));
  }

  /**
   * check()'s look at one of our sets, given the headers read for all (`headers`, from setHeaders(),
   * updated here): a missing set is created, one of another shape replaced (replaceSet(), `release`
   * as there). Returns the repair line (`missing` is the caller's wording for a missing set), or null
   * when the set was fine.
   */
  async ensureSet(set: string, f: Family, type: 'hash:ip' | 'hash:net', headers: Map<string, SetHeader>, missing: string, release: () => Promise<unknown>): Promise<string | null> {
    const h = headers.get(set);
    if (h === undefined) {
      await this.createSet(set, f, type);
      headers.set(set, { count: 0 });
      return missing;
    }
    const why = this.shapeProblem(h, f, type);
    if (why === null) return null;
    await this.replaceSet(set, f, type, release);
    headers.set(set, { count: 0 });
    return `${REPAIR_SET_RECREATED} (${familyLabel(f)}): ${set} was re-created by someone else and ${why}; it was replaced by one of banhammer's and its bans are re-added`;
  }

  /**
   * restoreIsolating() and remembers the outcome per element: a refused element is left out of
   * later check() comparisons (re-adding it would only be refused again) until it is unbanned or
   * applied successfully.
   */
  async applyLines(lines: readonly SetLine[], what: string): Promise<RefusedEntry[]> {
    if (lines.length === 0) return [];
    const refused = await this.restoreIsolating(lines, what);
    // Refused for what they are: left out of check()'s comparisons. Refused for want of room: not.
    // By address and scope (which name the line's set): in host mode one address is often in the
    // host-wide set and a container's; a refusal in one is none in the other, which check() would
    // otherwise leave out of the expected bans and delete from the kernel as a stray.
    const which = (e: { ip: string; scope?: string | undefined }): string => `${e.ip}\0${e.scope ?? ''}`;
    const bad = new Set(refused.filter((r) => r.full !== true).map(which));
    for (const l of lines) {
      const key = lineKey(l.text);
      if (key === null) continue;
      if (bad.has(which(l.entry)) && l.text.startsWith('add ')) this.refusedKeys.add(key);
      else this.refusedKeys.delete(key);
    }
    return refused;
  }

  /**
   * Makes `set` hold what the ban book expects (`want`), cheaply: when the kernel's entry count
   * (`kernelCount`, from setCounts(); 0 for a set just created) equals the number of unexpired
   * expected bans and no `full` comparison is due (or the set is larger than
   * FULL_COMPARE_MAX_ENTRIES), nothing is read: a swap that keeps the count (one ban lost, one stray
   * added) waits for the next full comparison. Otherwise the members are read,
   * compared (reconcileSet: missing re-added with their remaining timeout, strays removed) and
   * repaired in one isolating restore. Returns one line when something was repaired.
   */
  async repairSet(set: string, family: Family, want: ReadonlyMap<string, WantedEntry>, kernelCount: number, full: boolean, now: number): Promise<{ repaired: string | null; refused: RefusedEntry[]; missing: number; stray: number }> {
    // A set found full is left alone for a while: reading a million members every check would only
    // find it full again.
    // (Only while it still holds as many: a set flushed or re-created since is repaired at once.)
    const fullAt = this.fullAt.get(set);
    if (fullAt !== undefined && steadyNow(this.opts.clock ?? systemClock) - fullAt.at < FULL_SET_BACKOFF_MS && kernelCount >= fullAt.count) return { repaired: null, refused: [], missing: 0, stray: 0 };
    const wanted = new Map([...want].filter(([ip]) => !this.refusedKeys.has(`${set} ${ip}`)));
    const compareAnyway = full && kernelCount <= FULL_COMPARE_MAX_ENTRIES;
    // Counts that agree are taken as no drift (the periodic full comparison catches a swap).
    if (!compareAnyway && kernelCount === wantedCount(wanted, now)) return { repaired: null, refused: [], missing: 0, stray: 0 };
    const have = kernelCount === 0 ? [] : await this.listSet(set);
    const r = reconcileSet(set, family, wanted, have, now);
    if (r.lines.length === 0) return { repaired: null, refused: [], missing: 0, stray: 0 };
    const refused = await this.applyLines(r.lines, `repairing ipset ${set}`);
    return { repaired: describeSetRepair(`IPv${family}`, set, r), refused, missing: r.missing, stray: r.stray };
  }

  /**
   * Is our chain exactly what we create (`specs`, in order)? `-S` is compared with the rules as we
   * build them; when the text differs only in formatting (same number of rules, each found by -C),
   * that listing is remembered as good so the next check needs no -C.
   */
  async chainState(bin: string, chain: string, specs: readonly (readonly string[])[], backend: Backend): Promise<ChainState> {
    const r = await this.exec(bin, listChainArgs(chain), `listing chain ${chain}`, backend, { okExitCodes: [0, 1] });
    if (r.code !== 0) return { state: 'missing' };
    const rules = r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`-A ${chain} `));
    const want = specs.map((s) => ['-A', chain, ...s].join(' '));
    const key = `${bin} ${chain}`;
    if (rules.join('\n') === want.join('\n') || this.goodListings.get(key) === `${want.join('\n')}\0${r.stdout}`) return { state: 'ok' };
    const foreign = rules.filter((l) => !want.includes(l));
    if (rules.length === want.length) {
      let all = true;
      for (const s of specs) {
        const c = await this.exec(bin, checkRuleArgs(chain, s), `checking chain ${chain}`, backend, { okExitCodes: [0, 1, 2] });
        if (c.code !== 0) {
          all = false;
          break;
        }
      }
      if (all) {
        this.goodListings.set(key, `${want.join('\n')}\0${r.stdout}`);
        return { state: 'ok' };
      }
    }
    return { state: 'differs', foreign, rules: rules.length };
  }

  /**
   * Keeps our jumps (`specs`, in order) above every rule of `chain` (INPUT, DOCKER-USER) that could
   * let a packet skip them (mayLetThrough: an `-j ACCEPT` someone inserted, a RETURN, a jump to
   * another chain), so that no such rule lets a banned client through: they are deleted and
   * inserted at the top again in one iptables-restore transaction (no moment without them). Drops,
   * logs and other banhammer instances' jumps above ours are fine. If that was needed MAX_TOP_MOVES checks in a row, another
   * program insists on the top: it is said once and left alone (no fight every 2 s) until our jumps
   * are found on top again. `listing` is `-S chain` output when the caller has it; `alsoHarmless`
   * names more rules that cannot let a packet skip ours (in FORWARD: another jump to DOCKER-USER,
   * which holds our jump). Returns null when
   * the listing does not show every spec as we build it (the caller then uses -C), else the repairs.
   */
  async keepOnTop(chain: string, specs: readonly (readonly string[])[], f: Family, backend: Backend, st: TopState, listing?: string, alsoHarmless?: (rule: string) => boolean): Promise<string[] | null> {
    const bin = f === 4 ? backend.iptables : backend.ip6tables;
    const out = listing ?? (await this.exec(bin, listChainArgs(chain), `listing ${chain}`, backend)).stdout;
    const rules = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`-A ${chain} `));
    const want = specs.map((s) => ['-A', chain, ...s].join(' '));
    const at = want.map((w) => rules.indexOf(w));
    if (at.some((i) => i < 0)) return null;
    const above: string[] = [];
    const judged = new Map<string, boolean>();
    for (const l of rules.slice(0, Math.max(...at))) {
      if (want.includes(l) || alsoHarmless?.(l) === true) continue;
      const m = mayLetThrough(l);
      if (m === 'no') continue;
      if (m !== 'yes') {
        // Another instance's chain above ours is fine (it only drops); one merely named so is not.
        let ok = judged.get(m.chain);
        if (ok === undefined) {
          const r = await this.exec(bin, listChainArgs(m.chain), `listing ${m.chain}`, backend, { okExitCodes: [0, 1] });
          judged.set(m.chain, (ok = r.code === 0 && harmlessChain(r.stdout, m.chain)));
        }
        if (ok) continue;
      }
      above.push(l);
    }
    if (above.length === 0 && at.every((v, i) => i === 0 || at[i - 1]! < v)) {
      st.moves = 0;
      st.gaveUp = false;
      return [];
    }
    const first = above[0] === undefined ? '' : ` (first: ${JSON.stringify(above[0].slice(0, 200))})`;
    const label = `IPv${f}`;
    if (st.moves >= MAX_TOP_MOVES) {
      if (st.gaveUp) return [];
      st.gaveUp = true;
      return [`jump (${label}): rules keep being inserted above banhammer's jump in ${chain}${first}; left in place after ${MAX_TOP_MOVES} moves: traffic those rules accept is not checked against the bans`];
    }
    st.moves++;
    const text = ['*filter', ...specs.map((s) => ['-D', chain, ...s].join(' ')), ...[...specs].reverse().map((s) => ['-I', chain, '1', ...s].join(' ')), 'COMMIT', ''].join('\n');
    await this.exec(f === 4 ? backend.iptablesRestore : backend.ip6tablesRestore, restoreArgs(), `moving our jump back to the top of ${chain} (${label})`, backend, { input: text });
    return [`jump (${label}): ${chain} had ${above.length} rule(s) above banhammer's jump${first}; the jump was moved back to the top`];
  }

  /**
   * Feeds `lines` to `ipset -exist restore` so that one element the kernel refuses never fails the
   * others. ipset stops at the first line it cannot apply and names it ("Error in line N: …"); that
   * line is refused with ipset's words, and the rest (lines before it included: whether they were
   * applied depends on where ipset stopped, and -exist makes re-applying them harmless) is fed
   * again. Rejects — after applying what it could — when the failure is not one element's: no
   * permission, the set is missing or full, ipset is not installed, the lock stays held, no line
   * number, or more than MAX_REFUSED_PER_RESTORE refusals.
   */
  async restoreIsolating(lines: readonly SetLine[], what: string): Promise<RefusedEntry[]> {
    const refused: RefusedEntry[] = [];
    let pending = [...lines];
    const fullSets = new Set<string>();
    while (pending.length > 0) {
      try {
        await this.exec(this.ipset, setRestoreArgs(), what, undefined, { input: restoreText(pending) });
        break;
      } catch (e) {
        const full = fullSetLine(e, pending);
        if (full !== null && !fullSets.has(full.set)) {
          // A full set refuses new elements only: every removal and every update of an element it
          // holds still applies (unbans, extensions), and so does every other set's line (each full
          // set of the batch is handled once: address and network sets, containers' sets).
          fullSets.add(full.set);
          const split = await this.splitForFullSets(pending, full);
          refused.push(...split.refused);
          pending = split.lines;
          continue;
        }
        const bad = refusedLine(e);
        if (bad === null || bad.line > pending.length || refused.length >= MAX_REFUSED_PER_RESTORE) throw e;
        const l = pending[bad.line - 1]!;
        refused.push({ ip: l.entry.ip, family: l.entry.family, ...(l.entry.scope !== undefined ? { scope: l.entry.scope } : {}), reason: `refused by ipset: ${bad.reason}` });
        pending.splice(bad.line - 1, 1);
      }
    }
    return refused;
  }

  /**
   * `lines` without the additions of new elements to the sets that are full (each refused with the
   * reason), and the set named by the failing line counted as full. A set's members are read to tell
   * a new element from an update of one it holds.
   */
  private async splitForFullSets(lines: readonly SetLine[], failing: { line: number; set: string }): Promise<{ lines: SetLine[]; refused: RefusedEntry[] }> {
    const members = await this.listSet(failing.set);
    this.fullAt.set(failing.set, { at: steadyNow(this.opts.clock ?? systemClock), count: members.length });
    const held = new Set<string>();
    for (const e of members) held.add(canonicalTarget(e.ip)?.ip ?? e.ip);
    const out: SetLine[] = [];
    const refused: RefusedEntry[] = [];
    for (const l of lines) {
      const f = l.text.split(' ');
      if (f[0] === 'add' && f[1] === failing.set && !held.has(l.entry.ip)) {
        refused.push({ ip: l.entry.ip, family: l.entry.family, ...(l.entry.scope !== undefined ? { scope: l.entry.scope } : {}), reason: `the ban set ${failing.set} is full (maxelem): applied by a later check once bans end and free room; a network ban covers many addresses in one element`, full: true });
      } else {
        out.push(l);
      }
    }
    // Removals first: they make room.
    out.sort((a, b) => (a.text.startsWith('del ') ? 0 : 1) - (b.text.startsWith('del ') ? 0 : 1));
    return { lines: out, refused };
  }
}

/** The failing line and its set when `ipset restore` of `lines` stopped because a set is full, or null. */
export function fullSetLine(e: unknown, lines: readonly SetLine[]): { line: number; set: string } | null {
  if (!(e instanceof BanhammerError) || e.code !== 'BH_ERR_FIREWALL' || e.data['transient'] === true) return null;
  const m = /Error in line (\d+): ?(.*)/.exec(String(e.data['stderr'] ?? ''));
  if (!m || !/Hash is full|maximal number of elements/i.test(m[2] ?? '')) return null;
  const line = Number(m[1]);
  const set = lines[line - 1]?.text.split(' ')[1];
  return Number.isSafeInteger(line) && set !== undefined && set !== '' ? { line, set } : null;
}

/** Errors of `ipset restore` that are about the set or the system, never about one element. */
// "Timeout cannot be used" and a family mismatch ("resolving to IPv6 address failed" for an address
// validated as IPv4 and written to our IPv4 set) are the set's shape, never the element's: the set was
// re-created by someone else, and check() replaces it (FirewallCommands.ensureSet).
const SET_LEVEL = /set with the given name does not exist|Hash is full|maximal number of elements|Operation not permitted|Permission denied|Protocol not supported|Cannot open session|Kernel support protocol|Module ip_set not loaded|Timeout cannot be used|set was created without timeout support|resolving to IPv[46] address failed|not a hash type set/i;

/** The line number and ipset's words when a failed `ipset restore` names one element's line. */
export function refusedLine(e: unknown): { line: number; reason: string } | null {
  if (!(e instanceof BanhammerError) || e.code !== 'BH_ERR_FIREWALL' || e.data['transient'] === true) return null;
  const stderr = String(e.data['stderr'] ?? '');
  const m = /Error in line (\d+): ?(.*)/.exec(stderr);
  if (!m) return null;
  const line = Number(m[1]);
  const reason = (m[2] ?? '').trim() || 'refused';
  if (!Number.isSafeInteger(line) || line < 1 || SET_LEVEL.test(reason)) return null;
  return { line, reason: reason.slice(0, 200) };
}

function gaveUp(e: unknown, attempts: number, elapsedMs: number): unknown {
  if (!(e instanceof BanhammerError)) return e;
  return new BanhammerError(e.code, `${e.message} (gave up after ${attempts} attempts over ${Math.round(elapsedMs / 1000)} s)`, {
    ...(e.hint !== undefined ? { hint: e.hint } : {}),
    data: { ...e.data, attempts, elapsedMs },
    cause: e,
  });
}

/** The steps of a teardown: each one is tried even when an earlier one failed; the first failure is thrown at the end. */
export class TeardownSteps {
  private readonly errors: unknown[] = [];

  async attempt(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.errors.push(e);
    }
  }

  throwFirst(): void {
    if (this.errors.length > 0) throw this.errors[0];
  }
}
