/**
 * The ban book: the one owner of ban state. Which addresses are banned, by which rule, until when,
 * how often they were banned before (incremental bantime), and — derived from that — what the
 * enforcer must hold. Pure state: time is always an argument; persistence is the caller's
 * (snapshot()/restore() give a plain document).
 *
 * A ban is keyed by (rule, ip, scope). The scope is host-wide (undefined: every in-container mode, and
 * host mode with BANHAMMER_BAN_SCOPE=host) or one container (its id, host mode): an address banned
 * for container X is not banned for Y. An offense for an address already banned by that rule in that
 * scope is not a new ban. Allowlisted addresses are never banned, not even manually, and addresses
 * that cannot be a client (unspecified, multicast, broadcast) are refused everywhere: detection,
 * manual ban and state restore. Permanent bans have until = null.
 *
 * CIDR bans: a manual ban (never a detected one) may name a network, `198.18.0.0/24`; its Ban.ip and
 * the enforcer's entry are that text (canonical, host bits cleared: 198.18.0.7/24 is 198.18.0.0/24;
 * a /32 or /128 is an address ban). A network is refused when it is /0 or wider than MIN_BAN_PREFIX
 * (/8, /32 for IPv6), covers loopback or an address that can never be a client
 * (networkCoverReason), or covers any allowlisted address (ignoreip, trusted proxies, this host's
 * addresses: Allowlist.overlapping); it is host-wide (never scoped to a container). `unban` of the
 * same network lifts it; an address inside it is not an unban of the network (nor the reverse). A
 * network overlapping another banned network is refused (nftables' interval sets cannot hold both).
 * restore() re-validates saved networks the same way; bans shared by other replicas are addresses only.
 *
 * Kernel view: the enforcer holds one entry per (ip, scope) whose expiry is the latest over all rules'
 * bans of that address in that scope (null = permanent). Every mutation marks the (ip, scope) it
 * touched; changes(now) recomputes those and returns the difference from what the enforcer was last
 * told to hold (a ban with its new expiry, or an unban), and remembers the new view. Nobody else
 * computes effective expiries. requeue() marks a diff the enforcer failed to apply as unknown, so the
 * next changes() yields it again; expected(now) is the full view for the enforcer's repair check.
 *
 * Evidence and history (issue 14): a detected ban carries the log lines that caused it (Ban.evidence,
 * handed in by the pipeline, see evidence.ts). Every ban that ends — expired, unbanned (by whom:
 * EndCause), lifted because the allowlist now covers it, or replaced by a new ban of the same key —
 * goes, with its lines, into a bounded history of recent ended bans (BanBookLimits.endedBans,
 * BANHAMMER_BAN_HISTORY; oldest forgotten first). The lines of active and ended bans together stay
 * within a byte budget (BanBookLimits.evidenceBytes): the oldest holders lose their lines first and
 * count them in evidenceOmitted. snapshot() carries the ended bans; restore() re-validates them, and
 * records bans that expired while the agent was down (or are now allowlisted) as ended.
 */
import { OffenderHistory, type OffenderEntry } from './offender-history.js';
import { BanhammerError } from '../errors.js';
import { MAX_DURATION_MS } from '../config/duration.js';
import { NetworkIndex } from './network-index.js';
import { canonicalClientIp, canonicalTarget, isNetwork, networkCoverReason, nonClientReason, type CanonicalTarget } from '../parse/ip.js';
import type { Offense } from '../detect/offense.js';
import { bantimeFor, type RuleSettings } from '../detect/rule.js';
import { futureLeadOf } from '../detect/sliding-window.js';
import type { Allowlist } from './allowlist.js';
import { scopedKey } from './scoped-key.js';
import { evidenceBytes, evidenceText, restoreEvidence, type EvidenceLine } from './evidence.js';
import { runSync, STEP_UNITS, type Steps } from '../yielding.js';
import { ExpiryHeap } from './expiry-heap.js';

export type { EvidenceLine } from './evidence.js';

export interface Ban {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly rule: string;
  /** When the ban started (log time for replayed bans, the agent's clock for live ones). */
  readonly at: number;
  /** Expiry, or null for permanent. */
  readonly until: number | null;
  readonly failures: number;
  /** 1 for a first ban, 2 for the next one, … (drives incremental bantime). */
  readonly nth: number;
  readonly manual: boolean;
  readonly origin?: string | undefined;
  /** Host mode: the container id the ban applies to; absent = host-wide. */
  readonly scope?: string | undefined;
  /** The container's name when the ban was made (for status and logs). */
  readonly scopeName?: string | undefined;
  /** A ban made by another replica of the group (its id); absent = made here. */
  readonly from?: string | undefined;
  /**
   * The log lines that caused it (src/decide/evidence.ts): the failures counted for it, oldest
   * first. Absent for manual bans, bans adopted from the group, and when none could be kept.
   */
  readonly evidence?: readonly EvidenceLine[] | undefined;
  /** Failures counted for this ban whose lines are not in `evidence` (caps, memory budget). */
  readonly evidenceOmitted?: number | undefined;
  /** The group's count crossed maxretry (failures seen by several replicas): evidence holds this replica's lines only. */
  readonly groupCount?: boolean | undefined;
  /**
   * A ban adopted from the group (`from` set) that replaced a ban of the same rule, address and scope
   * made here after it, because it lasts longer: that own ban (without its lines, kept in the history
   * of ended bans). It stands again if the group lifts the adopted ban with an unban made before it
   * (liftAdopted): an unban dated between the two must not lift a ban made after it, here or, once
   * this replica stores it again, anywhere (h35, seed 41). Kept in the state file: after a restart the
   * share stage still knows the ban as this replica's own.
   */
  readonly under?: Ban | undefined;
  /**
   * A ban adopted from the group for one container (its maker bans per container, host mode) and held
   * here host-wide (this agent is not in host mode: the scope is dropped on adoption): that
   * container's id. The group stores it under its own field, apart from this replica's own host-wide
   * ban of the address: an unban for that container lifts it alone, and the own ban it replaced (kept
   * under it whatever its age) stands again (liftAdopted; review h44).
   */
  readonly groupScope?: string | undefined;
}

/** Why a ban ended. */
export const BAN_END_REASONS = ['expired', 'unbanned', 'allowlisted', 'replaced', 'refused'] as const;
export type BanEndReason = (typeof BAN_END_REASONS)[number];

/**
 * How a ban ended. `by` says who or what ended it:
 * - unbanned: `control` (banhammer unban ADDRESS, through the control socket), `control-all`
 *   (banhammer unban --all), `group:<replica>` (another replica's unban, through Redis);
 * - allowlisted: `reload` (the reloaded ignoreip/allowlist covers it), `restore` (at start);
 * - replaced: `ban` (a new manual ban of the same rule), `group:<replica>` (a longer ban from the group);
 * - refused: `restore: …` (a saved ban the agent can no longer hold: a network under an enforcer
 *   that holds none, or one overlapping a network restored first; `restore: a ban for one container,
 *   outside host mode`, a scoped ban read by an agent that is not in host mode);
 * - expired: absent.
 */
export interface BanEnd {
  readonly reason: BanEndReason;
  readonly at: number;
  readonly by?: string | undefined;
}

/** A ban that has ended, as the ban book's history of recent bans keeps it (evidence included). */
export interface EndedBan extends Ban {
  readonly ended: BanEnd;
}

/** Who ends bans in one call of unban()/unbanAll(), and when. */
export interface EndCause {
  readonly at: number;
  readonly by: string;
}

/** How many ended bans the book remembers by default (BANHAMMER_BAN_HISTORY). */
export const DEFAULT_BAN_HISTORY = 1000;
/** Default byte budget of the evidence held by active and ended bans together. */
export const DEFAULT_BAN_EVIDENCE_BYTES = 16 << 20;

/** A ban another replica of the group made, as the share stage hands it over (hostile until checked). */
export interface GroupBan {
  readonly ip: string;
  readonly rule: string;
  readonly at: number;
  readonly until: number | null;
  readonly scope?: string | undefined;
  readonly origin: string;
  readonly nth?: number | undefined;
  /** Held host-wide here, made for this container at its maker (Ban.groupScope); only with no `scope`. */
  readonly groupScope?: string | undefined;
}

/** A repeat-offender entry (offender-history.ts). */
export type BanHistoryEntry = OffenderEntry;

export interface BanBookSnapshot {
  readonly bans: Ban[];
  readonly history: BanHistoryEntry[];
  /** Recent ended bans, oldest first (absent in state files written before evidence). */
  readonly ended?: EndedBan[];
}

/** Limits of the book's evidence and history of ended bans. */
export interface BanBookLimits {
  /** Ended bans remembered (oldest forgotten first); default DEFAULT_BAN_HISTORY. */
  readonly endedBans?: number;
  /** Bytes of evidence kept over active and ended bans; the oldest holders lose theirs first. */
  readonly evidenceBytes?: number;
  /**
   * The book's "now" is each line's own time (replay), not a clock: a ban then covers a line only
   * from its own time on (isBanned).
   */
  readonly logTime?: boolean;
  /**
   * Bans held at most (DEFAULT_MAX_BANS): at the cap a new detected, escalated, adopted or restored
   * ban is refused (counted in refusedAtCap), as a full kernel set refuses new addresses, so that no
   * flood of addresses (an IPv6 client has 2^64 of them) can grow the agent's memory without bound.
   * A ban for one container (host mode) is also refused when its container holds a quarter of the cap.
   * At the cap, a container holding less than its share (the cap over the containers holding bans)
   * takes the room of the oldest detected ban of the container holding the most, when that one holds
   * more than its share (see cutForShare): so no tenant's forged lines can fill the book for
   * everyone. `banhammer ban` is never refused, and its bans are never cut.
   */
  readonly maxBans?: number;
}

/** Bans the book holds at most by default (BANHAMMER_MAX_BANS; each costs about 0.7 KB). */
export const DEFAULT_MAX_BANS = 500_000;

/** One entry the enforcer must hold: structurally an enforce/EnforcerBan. */
export interface KernelBan {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly until: number | null;
  readonly scope?: string | undefined;
}

export interface KernelUnban {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly scope?: string | undefined;
}

/** What the enforcer must change: structurally an enforce/EnforcerBatch. */
export interface KernelDiff {
  readonly ban: KernelBan[];
  readonly unban: KernelUnban[];
}

/** Manual bans (from `banhammer ban`) are recorded under this rule name unless one is given. */
export const MANUAL_RULE = 'manual';

/** The longest a ban can last: the cap on bantime settings and `ban --for` (3650 days). */
export const MAX_BAN_MS = MAX_DURATION_MS;

const key = (rule: string, ip: string, scope?: string): string => `${rule} ${scopedKey(ip, scope)}`;
/**
 * A scope read from a state file: undefined when there is none (host-wide), the scope when it is a
 * non-empty string without spaces or control characters, null when it is there but none of that. An
 * entry with such a scope is dropped, never read as host-wide: it was meant for one container, and a
 * ban for one container must never become a ban for every one.
 */
const scopeOf = (v: unknown): string | undefined | null => {
  if (v === undefined || v === null) return undefined;
  // eslint-disable-next-line no-control-regex
  return typeof v === 'string' && v !== '' && v.length <= 128 && !/[\s\x00-\x1f\x7f-\x9f]/.test(v) ? v : null;
};
/** A time read from a state file: a finite number inside Date's range, else null. */
const timeOf = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e15 ? v : null);
/** Highest ban count taken from a group ban into this book's repeat-offender history. */
const MAX_ADOPTED_COUNT = 64;
const countOf = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** "Unknown": the enforcer's state for this entry is not known (a failed batch); always re-sent. */
const UNKNOWN = Symbol('unknown');
/** What the enforcer was told for one (ip, scope): its expiry (null = permanent), or UNKNOWN. Kept small: a million bans hold a million of these. */
type Held = number | null | typeof UNKNOWN;
/** Enough of a ban or diff entry to rebuild the enforcer's entry: a Ban itself fits, so touching allocates nothing. */
type Touched = { readonly ip: string; readonly family: 4 | 6; readonly scope?: string | undefined };

export class BanBook {
  private readonly bans = new Map<string, Ban>();
  /** Bans per (rule, address, scope), for the next ban's length (bounded: offender-history.ts). */
  private readonly history: OffenderHistory;
  private readonly totals = new Map<string, number>();
  /**
   * The bans of each (ip, scope), by scopedKey: one Ban (nearly always), or several by rule name.
   * isBanned() and effectiveUntil() read an address's own bans with one lookup, whatever the number
   * of rule names: a state file or a Redis group may name any number of rules, and probing every name
   * ever seen per address made a restore of bans that each name another rule cost bans × names. Keyed
   * by rule when there are several, so that one address banned under 100,000 names (a hostile file)
   * costs each of its lines one lookup, and each of its bans' ends one deletion.
   */
  private readonly bansOfAddress = new Map<string, Ban | Map<string, Ban>>();
  /** The keys of the bans of each banned network (CIDR bans), and those networks indexed (network-index.ts). */
  private readonly networkBans = new Map<string, Set<string>>();
  private readonly networks = new NetworkIndex();
  /** What the enforcer was last told to hold, by scopedKey. */
  private readonly held = new Map<string, Held>();
  /** (ip, scope) touched since the last changes(), with the family and scope to rebuild the entry. */
  private readonly dirty = new Map<string, Touched>();
  /** Entries the enforcer holds (or may hold: UNKNOWN counts), per family, for the active-bans gauge. */
  private readonly heldByFamily = { 4: 0, 6: 0 };
  private rules: Readonly<Record<string, RuleSettings>>;
  private allowlist: Allowlist;
  /** Recent ended bans by sequence number: always the contiguous run endedOldest…endedSeq. */
  private readonly ended = new Map<number, EndedBan>();
  private endedSeq = 0;
  private endedOldest = 1;
  private maxEnded: number;
  /** See BanBookLimits.logTime. */
  private readonly logTime: boolean;
  /** Who holds evidence (`b <ban key>` or `e <seq>`): its bytes, and its place in holderQueue. */
  private readonly holders = new Map<string, { bytes: number; seq: number }>();
  /**
   * Holders oldest first, read from holderHead; an entry whose seq no longer matches the holder's was
   * released (or re-held) and is skipped. Not the Map's own order: evicting from the head of a Map
   * that is deleted from over and over scans its deleted slots each time.
   */
  private holderQueue: { key: string; seq: number }[] = [];
  private holderHead = 0;
  private holderSeq = 0;
  private evidenceHeld = 0;
  private readonly evidenceBudget: number;
  /** See BanBookLimits.maxBans. */
  private maxBans: number;
  /** Bans held per container (host mode), for the per-container share of the cap. */
  private readonly heldPerScope = new Map<string, number>();
  /**
   * Per container, the keys of its bans in the order they were made, read from `head` on (cutForShare
   * takes the oldest), each with the number it was made under (`seqs`). Lazy: an entry that is not the
   * ban held now under its key (that ban ended, or ended and its key was banned again later: a newer
   * entry stands for it, madeSeq) is skipped when reached, and the list is compacted to the entries
   * that are, when it grows past twice the container's bans, so its length stays bounded.
   */
  private readonly madeInScope = new Map<string, { keys: string[]; seqs: number[]; head: number }>();
  /**
   * The number of the order entry of each ban held for one container, by key. Without it a key banned
   * again kept its first entry: compaction kept every copy of a key held now (the list grew by one at
   * each re-ban, and was compacted at every ban past its limit), and the cut took that ban as the
   * container's oldest.
   */
  private readonly madeSeq = new Map<string, number>();
  private madeCount = 0;
  /**
   * The containers by the bans they hold (heldPerScope): byHeld.get(n) lists those holding n (in no
   * order: removed by swapping with the last), heldIndex a container's place in its list, mostHeld
   * the most any holds. cutForShare reads the container holding the most from it at once: going over
   * every container at each detected ban at the cap cost replay of a hostile log, which makes a scope
   * of every syslog tag off the host, 2 ms a line with 166,000 tags.
   */
  private readonly byHeld = new Map<number, string[]>();
  private readonly heldIndex = new Map<string, number>();
  private mostHeld = 0;
  /** Bans cut at the cap to make room for a container under its share, not yet taken (takeCut). */
  private cutPending: Ban[] = [];
  /** Bans cut at the cap for another container's share, since start. */
  cutForShareTotal = 0;
  /** Bans refused at the cap since start (detected, escalated, adopted and restored alike). */
  refusedAtCap = 0;
  /**
   * Bans held that were adopted from the group (`from` set). They hold at most half the cap
   * (adoptedRoom): the rest stays for what this replica detects, whatever the group's channel says.
   */
  private adoptedHeld = 0;
  /** Log time (replay): when ended bans were last swept (sweepEnded), and no held ban ends before earliestUntil. */
  private sweptAt = Number.NEGATIVE_INFINITY;
  private earliestUntil = Number.POSITIVE_INFINITY;
  /**
   * The held bans that end, by expiry (then by when they were put: seq), as a binary min-heap, so that
   * expire() reads only the bans due. An entry whose ban is no longer the one held under its key
   * (ended, replaced, its evidence trimmed) is skipped when reached; the heap is rebuilt from the
   * book when such entries outnumber the live ones. Without it the agent's tick went over every ban
   * every second: 0.6 s of blocked event loop per second at 500,000 bans (review H34).
   */
  private readonly expiries = new ExpiryHeap<Ban>();
  /** Entries expire() and sweepEnded() read from the heap (a test counts them: review H34). */
  expiryReads = 0;

  constructor(
    rules: Readonly<Record<string, RuleSettings>>,
    allowlist: Allowlist,
    /** History entries kept at most (oldest forgotten first). */
    maxHistory = 100_000,
    limits: BanBookLimits = {},
  ) {
    this.rules = rules;
    this.allowlist = allowlist;
    this.history = new OffenderHistory(maxHistory);
    this.maxEnded = capOf(limits.endedBans, DEFAULT_BAN_HISTORY);
    this.evidenceBudget = capOf(limits.evidenceBytes, DEFAULT_BAN_EVIDENCE_BYTES);
    this.logTime = limits.logTime === true;
    this.maxBans = capOf(limits.maxBans, DEFAULT_MAX_BANS);
  }

  /**
   * Whether the book holds half its cap or more of bans made here: the pipeline then bans a banned
   * IPv6 address's network at once (IPv6 network escalation under pressure), so that a client walking
   * its addresses cannot fill the rest and leave every later offender unbanned. Bans adopted from the
   * group do not count: whoever can write to the group's Redis could otherwise make one local IPv6
   * offender take its network, however narrow the networks this agent adopts (share.min_prefix6).
   */
  get pressed(): boolean {
    return this.bans.size - this.adoptedHeld >= this.maxBans / 2;
  }

  /** A new cap (reload): bans held beyond it stay until they end; new ones wait for room. */
  setMaxBans(n: number): void {
    this.maxBans = capOf(n, DEFAULT_MAX_BANS);
  }

  /**
   * Whether a new ban under key `k` (scope `scope`) must be refused for want of room: the book holds
   * maxBans, or its container a quarter of that. A ban taking the place of one under the same key
   * takes no more room. Counted when refused.
   */
  private atCap(k: string, scope: string | undefined, now?: number): boolean {
    if (this.bans.has(k)) return false;
    const full = !this.hasRoom(scope) && !(now !== undefined && scope !== undefined && this.cutForShare(scope, now));
    if (full) this.refusedAtCap++;
    return full;
  }

  /**
   * Host mode, the book full: a detected ban for container `scope`, which holds less than its share
   * (the cap over the containers holding bans, itself included), takes the room of the oldest
   * non-manual ban of the container holding the most, when that one holds more than its share. That
   * ban ends now (reason refused, `by` says why) and waits in takeCut() for the enforcer to lift it.
   * Without this, one tenant writing forged addresses into its containers' logs (a quarter of the cap
   * each) filled the book, and every other tenant's attackers were refused until those bans ended.
   * False when no ban can be cut (the container is at its share, or the largest is not above it).
   */
  private cutForShare(scope: string, now: number): boolean {
    if (this.bans.size < this.maxBans) return false; // refused for the container's quarter: nothing to cut
    const own = this.heldPerScope.get(scope) ?? 0;
    const containers = this.heldPerScope.size + (own === 0 ? 1 : 0);
    const share = Math.floor(this.maxBans / containers);
    // Never past the container's quarter (hasRoom): with fewer than four containers holding bans the
    // share is more than a quarter, and a cut let a container grow past it (after the cap was lowered,
    // or beside another's manual bans), which a restore then refused.
    if (own >= share || own >= this.containerRoom) return false;
    const most = this.mostHeld;
    if (most <= share) return false;
    // Each container holding the most, in turn: one whose bans are all manual (never cut) gives no
    // room, and another as full must then give it. A container found with nothing to cut has its
    // order list walked to the end once (a manual ban leaves it), so trying it again costs nothing.
    const tied = this.byHeld.get(most);
    if (tied === undefined) return false;
    // (A cut that fails changes no count, so the list stays as it is while it is walked.)
    for (let i = 0; i < tied.length; i++) {
      const largest = tied[i]!;
      if (largest !== scope && this.cutOldest(largest, most, share, now)) return true;
    }
    return false;
  }

  /** cutForShare's cut in container `largest` (holding `most`): its oldest non-manual ban, if any. */
  private cutOldest(largest: string, most: number, share: number, now: number): boolean {
    const order = this.madeInScope.get(largest);
    if (order === undefined) return false;
    while (order.head < order.keys.length) {
      const k = order.keys[order.head]!;
      const seq = order.seqs[order.head]!;
      order.keys[order.head++] = '';
      const b = this.bans.get(k);
      if (b === undefined || b.scope !== largest || this.madeSeq.get(k) !== seq || b.manual) continue;
      if (order.head >= 1024 && order.head * 2 >= order.keys.length) {
        order.keys.splice(0, order.head);
        order.seqs.splice(0, order.head);
        order.head = 0;
      }
      this.deleteBan(k, b);
      this.touch(b);
      const name = b.scopeName ?? largest.slice(0, 12);
      this.end(b, { reason: 'refused', at: now, by: `cap: container ${name} held ${most} of the ${this.maxBans} bans the book holds at most (BANHAMMER_MAX_BANS), more than its share of ${share}; room made for another container's ban` });
      this.cutPending.push(b);
      this.cutForShareTotal++;
      return true;
    }
    return false;
  }

  /** Bans cut at the cap for another container's share since the last call (the caller lifts them). */
  takeCut(): Ban[] {
    if (this.cutPending.length === 0) return [];
    const out = this.cutPending;
    this.cutPending = [];
    return out;
  }

  /**
   * Whether a new ban (for container `scope`, or host-wide) would find room now: what atCap asks,
   * without counting a refusal. The group link asks it before adopting again a group ban refused at
   * the cap (the share stage delivers each group ban once).
   */
  hasRoom(scope?: string, adopted = false): boolean {
    return this.bans.size < this.maxBans && (!adopted || this.adoptedHeld < this.adoptedRoom) && (scope === undefined || (this.heldPerScope.get(scope) ?? 0) < this.containerRoom);
  }

  /**
   * Most bans adopted from the group held at once: half the cap. Whoever can write to the group's
   * Redis can publish share.max_bans valid bans; without this bound they could take the whole book,
   * and every attacker this replica detects would be refused at the cap until those bans ended.
   */
  private get adoptedRoom(): number {
    return Math.max(1, Math.floor(this.maxBans / 2));
  }

  /** Most bans one container holds at once (host mode): a quarter of the cap. */
  private get containerRoom(): number {
    return Math.max(1, Math.floor(this.maxBans / 4));
  }

  /**
   * Log time (replay): nobody calls expire(), so ended bans stayed in the book and counted toward the
   * cap, a container's quarter and the pressure (half the cap), and a long log was refused bans, or
   * had every IPv6 ban take its /64, where the live agent (which sweeps ended bans every second)
   * did neither. Once the book (or the ban's container) holds enough for either to matter, bans
   * ended by the line's time are swept as the agent's tick sweeps them, only when one has ended, and
   * at most once a second of log time, or once every `held / 10` ms with more than 10,000 held (a
   * sweep goes over every ban: a day of log time at 500,000 held would take minutes, where the agent
   * spreads it over the day; bans ended in the last 50 s at most still count then). A log whose time
   * went back (one line stamped years ahead, then the rest) sweeps again at once, or that one line
   * would stop every sweep for the rest of the file.
   */
  private sweepEnded(now: number, scope: string | undefined): void {
    if (!this.logTime || now < this.earliestUntil || (now >= this.sweptAt && now - this.sweptAt < Math.max(1000, this.bans.size / 10))) return;
    const quarter = this.containerRoom;
    // The new ban included: the pipeline reads the pressure once it is put, and a ban that ended must
    // not make the half there (replay banned a /64 the agent did not: review H33).
    if (this.bans.size + 1 < this.maxBans / 2 && (scope === undefined || (this.heldPerScope.get(scope) ?? 0) < quarter)) return;
    this.sweptAt = now;
    this.expire(now);
    this.earliestUntil = this.nextExpiry()?.until ?? Number.POSITIVE_INFINITY;
  }

  /** How many ended bans are remembered (reload); the oldest beyond it are forgotten at once. */
  setEndedBans(n: number): void {
    this.maxEnded = capOf(n, DEFAULT_BAN_HISTORY);
    this.trimEnded();
  }

  /** Recent ended bans, oldest first. */
  endedBans(): EndedBan[] {
    return [...this.ended.values()];
  }

  /** Bytes of evidence held by active and ended bans (bounded by the budget). */
  get evidenceBytes(): number {
    return this.evidenceHeld;
  }

  /**
   * Everything the book knows about one address or network (canonical, as canonicalTarget gives it):
   * its bans (including the network bans that cover it, wider networks for a network) active as of
   * `now`, and its ended bans (those covering networks' too), newest first.
   */
  about(target: CanonicalTarget, now: number): { active: Ban[]; ended: EndedBan[] } {
    // The bans in force are found by the target's own keys and the network index, not by a pass over
    // every ban: with 100,000 IPv6 network bans held, each `why` of an address compared it with every
    // one of them (a parse each) and blocked the agent for 0.2 s (review H47).
    const active: Ban[] = [];
    const take = (b: Ban): void => {
      if (b.until === null || b.until > now) active.push(b);
    };
    const own = (k: string): void => {
      const held = this.bansOfAddress.get(k);
      if (held === undefined) return;
      if (held instanceof Map) for (const b of held.values()) take(b);
      else take(held);
    };
    own(target.ip);
    // An address: its bans for each container holding bans (a network is never banned for one).
    if (!isNetwork(target.ip)) for (const scope of this.heldPerScope.keys()) own(scopedKey(target.ip, scope));
    // The network bans holding it, of an address or of a network: a /24 inside a banned /16 is
    // dropped whole, and `why` (and the CLI's unban, which asks it) said "not banned" (review H51).
    for (const net of this.networks.holding(target)) own(net);
    // The ended bans (at most BANHAMMER_BAN_HISTORY, 100,000): an ended network holds the target
    // when it is the target's own network of that prefix, by canonical text (as every ban's network
    // is written), not by parsing each ended network (0.2–0.4 s a `why` with 100,000 of them).
    let ownNetworks: Set<string> | undefined;
    const concerns = (b: Ban): boolean => {
      if (b.ip === target.ip) return true;
      if (b.family !== target.family || !isNetwork(b.ip)) return false;
      // Every network holding the address, by canonical text: built at the first ended network.
      ownNetworks ??= networksHolding(target);
      return ownNetworks.has(b.ip);
    };
    const ended = [...this.ended.values()].filter(concerns).reverse();
    return { active, ended };
  }

  /**
   * Is `ip` banned by `rule` (in `scope`, default host-wide) at time `now`? Live, until it ends: the
   * enforcer holds it (a restored ban dated ahead of a clock that was set back is still in force).
   * With log time (replay), a ban covers its own period only: a log's lines are not always in order
   * (a clock that jumped ahead, rotated files joined newest first), and a ban dated later than a line
   * must not keep that line from counting, or one line stamped a month ahead would shield its
   * address for the rest of the file, where the live agent, clamping that line to its clock, bans
   * again (review: helper).
   */
  isBanned(ip: string, rule: string, now: number, scope?: string): boolean {
    // One lookup of the address itself, without building a rule's key (the detector asks per
    // counting rule per request, and nearly every address holds no ban).
    const held = this.bansOfAddress.get(scopedKey(ip, scope));
    if (held === undefined) return false;
    const b = held instanceof Map ? held.get(rule) : held.rule === rule ? held : undefined;
    // With log time, a line stamped a little before the ban (no more than the rule's window takes a
    // late line: half its findtime, at most 5 minutes) is one the ban cut short, as the live agent
    // sees it: logged late (Apache logs a request when it ends), it must not count again for a second,
    // overlapping ban or stay in the window for one after this one ends (review: helper).
    return b !== undefined && (b.until === null || b.until > now) && (!this.logTime || b.at <= now + this.lateLead(rule));
  }

  hasRule(rule: string): boolean {
    return Object.hasOwn(this.rules, rule);
  }

  /** The rule a ban from the group is held under here (adopt): its own when this agent runs it, else manual. */
  adoptedRule(rule: unknown): string {
    return isRuleName(rule) && Object.hasOwn(this.rules, rule) ? rule : MANUAL_RULE;
  }

  /** How late a line may be logged and still belong with a ban of `rule` made after it (log time). */
  private lateLead(rule: string): number {
    return Object.hasOwn(this.rules, rule) ? futureLeadOf(this.rules[rule]!.findtime) : 0;
  }

  /**
   * Turns an offense into a ban (in the offense's scope), or null when the address is allowlisted,
   * cannot be a client, or is already banned by that rule there. `scopeName` is recorded for display.
   */
  consider(o: Offense, now: number = o.at, scopeName?: string, evidence?: { lines: readonly EvidenceLine[]; omitted?: number; groupCount?: boolean }): Ban | null {
    if (!Object.hasOwn(this.rules, o.rule)) throw new RangeError(`unknown rule ${o.rule}`);
    const settings = this.rules[o.rule]!;
    const c = canonicalClientIp(o.ip);
    const scope = o.scope;
    if (c === null || c.ip !== o.ip || this.allowlist.has(o.ip) || this.isBanned(o.ip, o.rule, now, scope)) return null;
    this.sweepEnded(now, scope);
    if (this.atCap(key(o.rule, c.ip, scope), scope, now)) return null;
    const nth = (this.history.get(key(o.rule, o.ip, scope))?.count ?? 0) + 1;
    const duration = bantimeFor(settings, nth);
    const ban: Ban = {
      ip: c.ip,
      family: c.family,
      rule: o.rule,
      at: o.at,
      until: untilOf(o.at, duration),
      failures: o.failures,
      nth,
      manual: false,
      // Escaped as a restored ban's is (readBan): a syslog tag is text from a log line. Cut well
      // below the 4096 a restore cuts at, so that a restore leaves it as it is.
      origin: o.origin === undefined ? undefined : evidenceText(o.origin, 1024),
      ...(scope !== undefined ? { scope, scopeName: scopeName ?? scope.slice(0, 12) } : {}),
      ...(evidence !== undefined && evidence.lines.length > 0 ? { evidence: evidence.lines } : {}),
      ...(evidence !== undefined && (evidence.omitted ?? 0) > 0 ? { evidenceOmitted: evidence.omitted } : {}),
      ...(evidence?.groupCount === true ? { groupCount: true } : {}),
    };
    this.put(ban, now);
    return ban;
  }

  /**
   * A manual ban; `durationMs` null means permanent, `'rule'` the rule's bantime for this address's
   * nth ban of it (incremental bantime counts manual bans like detected ones, as fail2ban's `banip`
   * does; permanent under the manual rule). Throws on an address that is invalid, cannot be a client,
   * or is allowlisted, and on an unknown rule (own rule names only, never the prototype's).
   */
  banManually(rawIp: string, opts: { rule?: string; durationMs: number | null | 'rule'; now: number; scope?: string; scopeName?: string; keepLonger?: boolean }): Ban {
    const c = canonicalTarget(rawIp);
    if (c === null) {
      throw new BanhammerError('BH_ERR_ADDRESS', `not an IP address or network: ${JSON.stringify(rawIp.slice(0, 100))}`, {
        hint: 'give one IPv4 or IPv6 address, e.g. 198.18.0.7 or 2001:db8::7, or a network, e.g. 198.18.0.0/24',
      });
    }
    if (isNetwork(c.ip)) {
      const why = networkProblem(c, this.allowlist);
      if (why !== null) {
        throw new BanhammerError('BH_ERR_ADDRESS', `${c.ip} ${why}; it is not banned`, {
          hint: why.includes('allowlisted')
            ? 'ban a narrower network that leaves it out, or remove it from BANHAMMER_IGNOREIP / ignoreip first'
            : `ban a narrower network (at most /${c.family === 4 ? 8 : /IPv4 address/.test(why) ? 104 : 32} wide) of clients only`,
        });
      }
      if (opts.scope !== undefined) {
        throw new BanhammerError('BH_ERR_USAGE', `a network ban (${c.ip}) applies to every container and cannot be limited to one`, {
          hint: 'leave out --container, or ban single addresses for that container',
        });
      }
      const other = this.overlappingNetworkBan(c, opts.now);
      if (other !== null) {
        throw new BanhammerError('BH_ERR_ADDRESS', `${c.ip} overlaps the banned network ${other}; it is not banned`, {
          hint: `unban ${other} first, or ban ${other} again to change its duration`,
        });
      }
    } else {
      const why = nonClientReason(c);
      if (why !== null) {
        throw new BanhammerError('BH_ERR_ADDRESS', `${c.ip} is a ${why} address and can never be a client; it is not banned`, {
          hint: 'give the address of the client to ban',
        });
      }
      if (this.allowlist.has(c.ip)) {
        throw new BanhammerError('BH_ERR_ADDRESS', `${c.ip} is allowlisted (loopback, ignoreip, a trusted proxy or this host) and is never banned`, {
          hint: 'remove it from BANHAMMER_IGNOREIP / ignoreip first',
        });
      }
    }
    const rule = opts.rule ?? MANUAL_RULE;
    if (rule !== MANUAL_RULE && !Object.hasOwn(this.rules, rule)) {
      throw new BanhammerError('BH_ERR_USAGE', `unknown rule ${JSON.stringify(rule)}`, {
        hint: `rules: ${Object.keys(this.rules).join(', ')}`,
      });
    }
    const scope = opts.scope;
    const nth = (this.history.get(key(rule, c.ip, scope))?.count ?? 0) + 1;
    const durationMs = opts.durationMs !== 'rule' ? opts.durationMs : rule === MANUAL_RULE ? null : Math.min(bantimeFor(this.rules[rule]!, nth), MAX_BAN_MS);
    if (durationMs !== null && !(Number.isFinite(durationMs) && durationMs > 0 && durationMs <= MAX_BAN_MS)) {
      throw new BanhammerError('BH_ERR_USAGE', `a ban lasts more than 0 and at most 3650 days, got ${durationMs} ms`, {
        hint: 'use --for with a duration such as 1h, 30d or 52w, or leave it out for a permanent manual ban',
      });
    }
    const ban: Ban = {
      ip: c.ip,
      family: c.family,
      rule,
      at: opts.now,
      until: durationMs === null ? null : opts.now + durationMs,
      failures: 0,
      nth,
      manual: true,
      ...(scope !== undefined ? { scope, scopeName: opts.scopeName ?? scope.slice(0, 12) } : {}),
    };
    // A ban adopted from the group that lasts longer stays in force: a shorter manual ban never
    // shortens a longer one (README, `banhammer ban`), and the group keeps the longer one anyway (its
    // hash stores the longest; every other replica, and this one after a restart, holds it). This
    // replica's own ban is kept under it (Ban.under): an unban older than it, lifting the adopted
    // ban, brings it back (liftAdopted), and the share stage knows it as this replica's own after a
    // restart. `keepLonger` (an agent sharing bans with a group): the same for a longer ban made
    // here, which the group holds too. Replacing either made this firewall let the address through
    // while the group dropped it, until the next restart (review H43, seeds 3 and 18).
    const k = key(rule, c.ip, scope);
    const held = this.bans.get(k);
    if (held !== undefined && (held.from !== undefined || opts.keepLonger === true) && (held.until === null || (ban.until !== null && held.until > ban.until)) && (held.until === null || held.until > opts.now)) {
      const kept: Ban = held.from !== undefined && ban.at > held.at ? { ...held, under: ban } : held;
      if (kept !== held) {
        // Counted as this address's nth ban of the rule (incremental bantime) only when it is held:
        // a ban held nowhere made the next detected one longer, as if it had been served.
        this.history.set(k, { ip: ban.ip, rule, count: Math.max(nth, this.history.get(k)?.count ?? 0), last: ban.at, ...(scope !== undefined ? { scope } : {}) });
        this.setBan(k, kept);
        this.touch(kept);
        this.totals.set(rule, (this.totals.get(rule) ?? 0) + 1);
      }
      // (Not kept at all, the ban returned is held nowhere: holds() says so, and the agent neither
      // publishes nor reports it.)
      return ban;
    }
    this.put(ban, opts.now, 'ban');
    return ban;
  }

  /** Whether `ban` (as this book returned it) is held: in force, or kept under an adopted ban (Ban.under). */
  holds(ban: Ban): boolean {
    const b = this.bans.get(key(ban.rule, ban.ip, ban.scope));
    return b !== undefined && (b === ban || b.under === ban);
  }

  /**
   * IPv6 network escalation (network-escalation.ts): a ban of `network`, made at the time of
   * `trigger` (the host-wide ban of the last of `addresses`, the network's banned addresses that
   * make it) under the rule of the longest-lasting of those addresses' detected bans (so the last
   * request's rule cannot choose a short one), for that rule's bantime grown for the network's own
   * repeat offences. Its evidence is the last line of each address's ban. null, and nothing banned,
   * when the network may not be banned (too wide, holding an allowlisted address or one that can
   * never be a client: networkProblem), overlaps a banned network (one holding it already, say), or
   * the book is at its cap.
   */
  escalate(network: string, trigger: Ban, addresses: readonly { readonly ip: string; readonly at: number }[], now: number): Ban | null {
    const t = canonicalTarget(network);
    if (t === null || !isNetwork(t.ip) || t.family !== 6 || trigger.scope !== undefined || trigger.manual) return null;
    if (networkProblem(t, this.allowlist) !== null || this.overlappingNetworkBan(t, now) !== null) return null;
    const lines: EvidenceLine[] = [];
    let longest: Ban = trigger;
    for (const a of addresses) {
      const held = this.bansOfAddress.get(scopedKey(a.ip, undefined));
      const own = held === undefined ? [] : held instanceof Map ? [...held.values()] : [held];
      let last: Ban | undefined;
      for (const b of own) {
        if (b.manual || !Object.hasOwn(this.rules, b.rule) || (b.until !== null && b.until <= now)) continue;
        if (last === undefined || b.at >= last.at) last = b;
        if (longest.until !== null && (b.until === null || b.until > longest.until)) longest = b;
      }
      const line = last?.evidence?.[last.evidence.length - 1];
      if (line !== undefined) lines.push(line);
    }
    const rule = longest.rule;
    if (!Object.hasOwn(this.rules, rule) || this.atCap(key(rule, t.ip, undefined), undefined)) return null;
    const nth = (this.history.get(key(rule, t.ip, undefined))?.count ?? 0) + 1;
    const ban: Ban = {
      ip: t.ip,
      family: 6,
      rule,
      at: trigger.at,
      until: untilOf(trigger.at, bantimeFor(this.rules[rule]!, nth)),
      failures: addresses.length,
      nth,
      manual: false,
      origin: trigger.origin,
      ...(lines.length > 0 ? { evidence: lines } : {}),
      ...(addresses.length > lines.length ? { evidenceOmitted: addresses.length - lines.length } : {}),
    };
    this.put(ban, now);
    return ban;
  }

  /**
   * A ban another replica of the group made: recorded (and handed to the enforcer) unless the address
   * cannot be a client or is allowlisted here, the ban already ended, or a ban of this rule here
   * already lasts as long (a repeated delivery is a no-op). A rule this agent does not run is
   * recorded as a manual ban. Not counted in totals (the replica that made it counts it).
   */
  adopt(g: GroupBan, now: number): Ban | null {
    const c = typeof g.ip === 'string' ? this.adoptable(g.ip, g.scope, now) : null;
    if (c === null || timeOf(g.at) === null) return null;
    const until = g.until === null ? null : timeOf(g.until);
    if (g.until !== null && (until === null || until <= now)) return null;
    const rule = this.adoptedRule(g.rule);
    // The share stage hands over a container id or nothing (group-link.ts); anything else is refused, never host-wide.
    const scope = scopeOf(g.scope);
    if (scope === null) return null;
    const held = this.bans.get(key(rule, c.ip, scope));
    if (held !== undefined && (held.until === null || (until !== null && held.until >= until))) return null;
    if (this.atCap(key(rule, c.ip, scope), scope)) return null;
    if (held?.from === undefined && this.adoptedHeld >= this.adoptedRoom) {
      // The adopted half is full (a ban replacing an adopted one takes no more of it).
      this.refusedAtCap++;
      return null;
    }
    // An own ban it replaces stays under it (and one already under the replaced adopted ban): see
    // Ban.under. Only one made after it: an unban lifting the adopted ban lifts an older own ban too
    // (liftAdopted never brings it back), and one the group had lifted while this replica was away,
    // kept under a newer adopted ban, was handed to the share stage as this replica's own at the next
    // start, published, answered "unbanned since", and the group's newer ban lifted here with it
    // (review h41).
    // (A ban the group stores for one container, held here host-wide (Ban.groupScope), is no ban of
    // the own one's field: no unban of it lifts the own one, kept under it whatever its age.)
    const groupScope = scope === undefined && !isNetwork(c.ip) ? scopeOf(g.groupScope) ?? undefined : undefined;
    const kept = held === undefined ? undefined : held.from === undefined ? withoutLines(held) : held.under;
    const under = kept !== undefined && (kept.at > g.at || groupScope !== undefined) ? kept : undefined;
    const ban: Ban = {
      ip: c.ip,
      family: c.family,
      rule,
      at: g.at,
      until: until === null ? null : Math.min(until, now + MAX_BAN_MS),
      failures: 0,
      nth: Math.max(1, countOf(g.nth)),
      manual: rule === MANUAL_RULE,
      from: String(g.origin).slice(0, 128),
      ...(scope !== undefined ? { scope, scopeName: scope.slice(0, 12) } : {}),
      ...(groupScope !== undefined ? { groupScope } : {}),
      ...(under !== undefined && (under.until === null || under.until > now) ? { under } : {}),
    };
    if (held !== undefined) this.end(held, endOfReplaced(held, now, `group:${ban.from}`));
    const k = key(rule, c.ip, scope);
    this.setBan(k, ban);
    this.touch(ban);
    // The group acts as one: the offender's count comes with its ban, so this replica's next ban of it
    // is the next in the group's sequence, not a first one again. Capped (a group value is hostile;
    // past a few dozen every increment is at its maxtime anyway).
    const count = Math.min(ban.nth, MAX_ADOPTED_COUNT);
    if (count > (this.history.get(k)?.count ?? 0)) this.history.set(k, { ip: c.ip, rule, count, last: ban.at, ...(scope !== undefined ? { scope } : {}) });
    return ban;
  }

  /**
   * The group lifted its bans of `ip` (an address or network, canonical; `scope`: one container, or
   * undefined for host-wide) made up to `before`, while a ban this replica made after them stands: every
   * adopted ban of it made then is lifted, and the own ban one of them had replaced (Ban.under) is in
   * force again, if it has not ended and was made after `before`. Own bans are left alone.
   * `group` (an agent not in host mode): the group lifted its bans of one field, one container's
   * (`scope`) or the host-wide one (undefined). Only the adopted bans made for it are lifted (by
   * Ban.groupScope; and, for a container, from a state file written before groupScope, those without
   * one made by `origin`), and the own ban under one made for a container stands again whatever its
   * age (the group stores it apart).
   */
  liftAdopted(ip: string, scope: string | undefined, before: number, now: number, cause: EndCause, group?: { scope: string | undefined; origin?: string }): { lifted: Ban[]; restored: Ban[] } {
    const lifted: Ban[] = [];
    const restored: Ban[] = [];
    const held = this.bansOfAddress.get(scopedKey(ip, scope));
    for (const b of held === undefined ? [] : held instanceof Map ? [...held.values()] : [held]) {
      if (b.from === undefined || b.at > before) continue;
      if (group !== undefined && b.groupScope !== group.scope && !(b.groupScope === undefined && b.from === group.origin)) continue;
      const k = key(b.rule, b.ip, b.scope);
      const under = b.under;
      this.end(b, { reason: 'unbanned', at: cause.at, by: cause.by });
      if (under !== undefined && (under.at > before || b.groupScope !== undefined) && (under.until === null || under.until > now)) {
        this.setBan(k, under);
        restored.push(under);
      } else {
        this.deleteBan(k, b);
        lifted.push(b);
      }
      this.touch(b);
    }
    return { lifted, restored };
  }

  /**
   * What a ban from the group may name here: a client address this agent does not allowlist, or a
   * network (a CIDR ban: host-wide only) that banManually would accept from this host's own command
   * (not too wide, covering nothing allowlisted here, overlapping no other banned network). null:
   * refused, however the group's value says it.
   */
  private adoptable(raw: string, scope: string | undefined, now: number): { ip: string; family: 4 | 6 } | null {
    const c = canonicalClientIp(raw);
    if (c !== null) return this.allowlist.has(c.ip) ? null : c;
    const t = canonicalTarget(raw);
    if (t === null || !isNetwork(t.ip) || scope !== undefined) return null;
    if (networkProblem(t, this.allowlist) !== null || this.overlappingNetworkBan(t, now) !== null) return null;
    return t;
  }

  /**
   * Removes every ban of `ip` (an address, or a network: exactly that network's ban) (all rules, or
   * one; every scope, or one: null = host-wide only); returns the removed bans.
   */
  unban(rawIp: string, rule?: string, scope?: string | null, cause?: EndCause): Ban[] {
    const c = canonicalTarget(rawIp);
    if (c === null) return [];
    // That address's own bans, found by its keys, not by a pass over every ban held (the group's
    // unbans come as fast as anyone on its channel sends them): in one scope (or host-wide), or in
    // every scope: host-wide and in each container holding bans (a network is banned host-wide
    // only). Every scope was a pass over the book, at each `banhammer unban ADDRESS` outside host
    // mode: 11 ms of blocked agent a request at 500,000 bans (review H51).
    const scopes = scope !== undefined ? [scope ?? undefined] : isNetwork(c.ip) ? [undefined] : [undefined, ...this.heldPerScope.keys()];
    const removed: Ban[] = [];
    for (const s of scopes) {
      const held = this.bansOfAddress.get(scopedKey(c.ip, s));
      for (const b of held === undefined ? [] : held instanceof Map ? [...held.values()] : [held]) {
        if (rule !== undefined && b.rule !== rule) continue;
        this.deleteBan(key(b.rule, b.ip, b.scope), b);
        this.touch(b);
        removed.push(b);
      }
    }
    if (cause !== undefined) for (const b of removed) this.end(b, { reason: 'unbanned', at: cause.at, by: cause.by });
    return removed;
  }

  /**
   * Removes each of `bans` the book still holds as it was given (the same ban under its rule, address
   * and scope), and nothing else; returns those removed. For `unban --all` in slices: a ban made
   * while it runs (detected, `banhammer ban`, a replacement under the same rule) is not one it was
   * asked to lift, where unban() of each address lifted every ban of it, old or new.
   */
  unbanHeld(bans: readonly Ban[], cause?: EndCause): Ban[] {
    const removed: Ban[] = [];
    for (const b of bans) {
      const k = key(b.rule, b.ip, b.scope);
      if (this.bans.get(k) !== b) continue;
      this.deleteBan(k, b);
      this.touch(b);
      removed.push(b);
    }
    if (cause !== undefined) for (const b of removed) this.end(b, { reason: 'unbanned', at: cause.at, by: cause.by });
    return removed;
  }

  /** Removes every ban; `cause` (who, when) goes into the history of ended bans. */
  unbanAll(cause?: EndCause): Ban[] {
    const removed = this.removeWhere(() => true);
    if (cause !== undefined) for (const b of removed) this.end(b, { reason: 'unbanned', at: cause.at, by: cause.by });
    return removed;
  }

  /**
   * The wall clock was stepped by `step` ms (src/wall-steps.ts): each ban held that is dated up to
   * `upTo` (the clock's last reading before the step) keeps its length of real time, its start and
   * end moved by the step, as the kernel's own timeouts (which follow a monotonic clock) keep it. A
   * ban dated after that reading was not made by the clock as it was: restored from a state file
   * written while the clock was right, by an agent started with a clock far behind (a host without a
   * clock battery boots in 1970); the step sets the clock right for it, and it keeps its dates. Each
   * ban moved is touched (the enforcer takes its new end, the next save writes it). Returns how many
   * were moved.
   */
  shiftMade(step: number, upTo: number): number {
    // In place, the expiry heap moved (or rebuilt) once: a new object per ban (setBan) took 2 s of
    // one block at 500,000 bans, this 0.2–0.4 s (0.04–0.05 s at 100,000), once per step. The objects
    // are the book's; whoever holds one (a report pending) sees the ban as the book now holds it.
    const move = (b: Ban): void => {
      const m = b as { at: number; until: number | null };
      m.at += step;
      if (m.until !== null) m.until += step;
    };
    let n = 0;
    let kept = 0;
    for (const b of this.bans.values()) {
      if (b.at > upTo) {
        if (b.until !== null) kept++;
        continue;
      }
      move(b);
      if (b.under !== undefined && b.under.at <= upTo) move(b.under);
      if (b.until !== null && b.until < this.earliestUntil) this.earliestUntil = b.until;
      this.touch(b);
      n++;
    }
    // Every ban that ends moved by the step: the heap's order holds. Otherwise it is rebuilt.
    if (kept === 0) this.expiries.shiftAll(step);
    else if (n > 0) this.expiries.keep((k, b) => this.bans.get(k) === b, true);
    return n;
  }

  /**
   * Removes and returns the bans that have expired by `now`, earliest expiry first; at most `limit`
   * of them (the agent lifts a flood of bans that end in the same second in slices, giving the event
   * loop a turn between two: the rest stay for the next call, and no longer count as banned).
   */
  expire(now: number, limit = Number.POSITIVE_INFINITY): Ban[] {
    const removed: Ban[] = [];
    while (removed.length < limit) {
      const b = this.nextExpiry();
      if (b === undefined || b.until! > now) break;
      const k = this.expiries.topKey()!;
      this.expiries.pop();
      this.deleteBan(k, b);
      this.touch(b);
      removed.push(b);
    }
    for (const b of removed) this.end(b, { reason: 'expired', at: b.until ?? now });
    return removed;
  }

  /** The held ban that ends first (stale entries at the heap's top are dropped), or undefined. */
  private nextExpiry(): Ban | undefined {
    const heap = this.expiries;
    while (heap.size > 0) {
      const b = heap.topBan()!;
      this.expiryReads++;
      if (this.bans.get(heap.topKey()!) === b) return b;
      heap.pop();
    }
    return undefined;
  }

  /** A ban just held under `k` that ends: into the expiry heap (rebuilt when mostly stale). */
  private scheduleExpiry(k: string, ban: Ban): void {
    if (ban.until === null) return;
    if (this.expiries.size > 2 * this.bans.size + 1024) this.expiries.keep((key, b) => this.bans.get(key) === b);
    this.expiries.push(k, ban);
  }

  /**
   * Reload: new rule settings (future bans use them; bans in force keep their expiry) and a new
   * allowlist. Bans of addresses the new allowlist covers are lifted and returned; `by` says what
   * changed the allowlist (a reload, or the host's own addresses read again).
   */
  reconfigure(rules: Readonly<Record<string, RuleSettings>>, allowlist: Allowlist, now?: number, by: 'reload' | 'host-address' = 'reload'): Ban[] {
    // No ban held is covered by the allowlist in force (every way in checks it), so only the entries
    // this one adds can cover one: a reload that adds none (nearly every reload) goes over no ban.
    // The network bans those entries overlap come from the network index: asking the allowlist about
    // each network ban parsed it, and 100,000 of them made a reload a block of 0.7–0.8 s (review H47).
    // (The same Allowlist object given again may have been added to: every entry counts as new.)
    const before = allowlist === this.allowlist ? new Set<string>() : new Set(this.allowlist.cidrs());
    this.rules = rules;
    this.allowlist = allowlist;
    const added = allowlist.networks().filter((c) => !before.has(`${c.network}/${c.prefix}`));
    if (added.length === 0) return [];
    const coveredNetworks = new Set<string>();
    for (const c of added) for (const n of this.networks.overlappingAll({ ip: `${c.network}/${c.prefix}`, family: c.family, prefix: c.prefix }, 0)) coveredNetworks.add(n);
    const removed = this.removeWhere((b) => (isNetwork(b.ip) ? coveredNetworks.has(b.ip) : allowlist.has(b.ip)));
    if (now !== undefined) for (const b of removed) this.end(b, { reason: 'allowlisted', at: now, by });
    return removed;
  }

  /** Active bans (not yet expired as of `now`; all held bans when now is omitted). */
  active(now?: number): Ban[] {
    const all = [...this.bans.values()];
    return now === undefined ? all : all.filter((b) => b.until === null || b.until > now);
  }

  /** The latest expiry over all of `ip`'s bans in `scope` (default host-wide); null = permanent, undefined = not banned. */
  effectiveUntil(ip: string, now: number, scope?: string): number | null | undefined {
    return this.untilOfKey(scopedKey(ip, scope), now);
  }

  /** effectiveUntil() of an address by its scopedKey. */
  private untilOfKey(k: string, now: number): number | null | undefined {
    const held = this.bansOfAddress.get(k);
    if (held === undefined) return undefined;
    if (!(held instanceof Map)) return held.until === null ? null : held.until > now ? held.until : undefined;
    let best: number | undefined;
    for (const b of held.values()) {
      if (b.until !== null && b.until <= now) continue;
      if (b.until === null) return null;
      best = best === undefined ? b.until : Math.max(best, b.until);
    }
    return best;
  }

  /**
   * What the enforcer must change since the last call: every touched (ip, scope) whose effective
   * expiry differs from what the enforcer was told. The returned entries count as held from now on;
   * give them back with requeue() if applying them failed. At most `limit` touched entries are read
   * (the oldest touched first); the rest stay for the next call (hasChanges says so): the agent
   * applies a re-send of every ban in batches, with turns of its event loop between them.
   */
  changes(now: number, limit = Number.POSITIVE_INFINITY): KernelDiff {
    const ban: KernelBan[] = [];
    const unban: KernelUnban[] = [];
    let read = 0;
    for (const [k, d] of this.dirty) {
      if (read++ >= limit) break;
      this.dirty.delete(k);
      // The dirty key is the address's scopedKey.
      const until = this.untilOfKey(k, now);
      const held = this.held.get(k);
      if (until === undefined) {
        if (held === undefined) continue;
        this.held.delete(k);
        this.heldByFamily[d.family]--;
        unban.push(d.scope !== undefined ? { ip: d.ip, family: d.family, scope: d.scope } : { ip: d.ip, family: d.family });
      } else {
        if (held === until) continue;
        if (held === undefined) this.heldByFamily[d.family]++;
        this.held.set(k, until);
        ban.push(d.scope !== undefined ? { ip: d.ip, family: d.family, until, scope: d.scope } : { ip: d.ip, family: d.family, until });
      }
    }
    return { ban, unban };
  }

  /** The enforcer could not apply `diff`: its entries are unknown and come back in the next changes(). */
  requeue(diff: KernelDiff): void {
    for (const e of [...diff.ban, ...diff.unban]) {
      const k = scopedKey(e.ip, e.scope);
      if (!this.held.has(k)) this.heldByFamily[e.family]++;
      this.held.set(k, UNKNOWN);
      this.dirty.set(k, e);
    }
  }

  /**
   * Whether what the enforcer holds for (ip, scope) is unknown: a batch holding it was rejected as a
   * whole and waits to be sent again (or touchAll() marked it for a re-send).
   */
  heldUnknown(ip: string, scope?: string): boolean {
    return this.held.get(scopedKey(ip, scope)) === UNKNOWN;
  }

  /**
   * Unbans the enforcer has not applied: entries waiting to be sent again after a rejected batch whose
   * address (in its scope) has no ban left. While batches fail the firewall still drops them.
   */
  unappliedUnbans(now: number): { ip: string; scope?: string }[] {
    const out: { ip: string; scope?: string }[] = [];
    for (const [k, d] of this.dirty) {
      if (this.held.get(k) !== UNKNOWN || this.effectiveUntil(d.ip, now, d.scope) !== undefined) continue;
      out.push({ ip: d.ip, ...(d.scope !== undefined ? { scope: d.scope } : {}) });
    }
    return out;
  }

  /** True when changes() has something to say. */
  get hasChanges(): boolean {
    return this.dirty.size > 0;
  }

  /** Entries the enforcer was told to hold, per family (the active-bans gauge; no scan). */
  heldCounts(): { v4: number; v6: number } {
    return { v4: this.heldByFamily[4], v6: this.heldByFamily[6] };
  }

  /**
   * Everything the enforcer must hold as of `now` (its repair check compares the kernel with this):
   * one entry per (ip, scope), read from bansOfAddress (already one per (ip, scope)), so that no
   * key is built and no map filled per ban (the check runs every 2 s: at 500,000 bans building a map
   * of them blocked the agent for 0.4–0.9 s each time; review H34). Entries in bansOfAddress order.
   */
  expected(now: number): KernelBan[] {
    const out: KernelBan[] = [];
    for (const held of this.bansOfAddress.values()) {
      let b: Ban | undefined;
      if (!(held instanceof Map)) b = held.until === null || held.until > now ? held : undefined;
      else {
        for (const x of held.values()) {
          if (x.until !== null && x.until <= now) continue;
          if (b === undefined || x.until === null || (b.until !== null && x.until > b.until)) b = x;
          if (b.until === null) break;
        }
      }
      if (b === undefined) continue;
      out.push(b.scope !== undefined ? { ip: b.ip, family: b.family, until: b.until, scope: b.scope } : { ip: b.ip, family: b.family, until: b.until });
    }
    return out;
  }

  /** Marks every held entry as changed: the next changes() re-sends all of them (after a restart, a lost set). */
  touchAll(): void {
    runSync(this.touchAllSteps());
  }

  /**
   * touchAll() in pausable steps (src/yielding.ts): a ban made or ended between two steps is
   * touched by its own change. At 500,000 bans touchAll() at once blocked the agent for about 0.5 s
   * (every 6 h, and after every repair; review H34).
   */
  *touchAllSteps(): Steps<void> {
    let n = 0;
    for (const b of this.bans.values()) {
      const k = scopedKey(b.ip, b.scope);
      if (!this.held.has(k)) this.heldByFamily[b.family]++;
      this.held.set(k, UNKNOWN);
      this.touch(b);
      if ((++n & (STEP_UNITS - 1)) === 0) yield;
    }
  }

  totalBanned(rule: string): number {
    return this.totals.get(rule) ?? 0;
  }

  snapshot(): BanBookSnapshot {
    return { bans: [...this.bans.values()], history: this.history.values(), ended: [...this.ended.values()] };
  }

  /**
   * Restores a snapshot (hostile input: every field is checked), dropping bans expired by `now`,
   * entries whose address is invalid, cannot be a client or is allowlisted, networks banManually
   * would refuse (and scoped ones), entries whose scope cannot be read (never widened to host-wide),
   * and rules that are not plain names. An expiry beyond MAX_BAN_MS from now is cut to that. Restored bans are touched, so
   * the next changes() hands them all to the enforcer. `networks: false`: the enforcer holds no
   * networks (apache-map, nginx-map, docker-user), so saved network bans end as refused instead of
   * being shown as held while the map never has them (a state volume kept across a change of enforcer).
   * `scopes: false`: the agent is not in host mode, so its enforcer has no per-container sets (see
   * below); saved bans for one container end as refused, counted in `scopedRefused`.
   */
  restore(s: BanBookSnapshot, now: number, opts: { networks?: boolean; scopes?: boolean } = {}): RestoreResult {
    return runSync(this.restoreSteps(s, now, opts));
  }

  /**
   * restore() in pausable steps (src/yielding.ts), for the agent's start: 500,000 saved bans took
   * seconds of one block, while the control socket was already up (review H34). Nothing else may
   * change the book meanwhile (the agent refuses ban and unban until it is restored).
   */
  *restoreSteps(s: BanBookSnapshot, now: number, opts: { networks?: boolean; scopes?: boolean } = {}): Steps<RestoreResult> {
    let restored = 0;
    let steps = 0;
    // `units` of work done: true when they cross a multiple of STEP_UNITS (a pause point).
    const step = (units = 1): boolean => {
      const before = steps;
      steps += units;
      return Math.floor(before / STEP_UNITS) !== Math.floor(steps / STEP_UNITS);
    };
    let dropped = 0;
    let scopedRefused = 0;
    // Manual bans restored so far (in all, per container): they take no room from the others below.
    let manualHere = 0;
    const manualIn = new Map<string, number>();
    for (const h of Array.isArray(s.history) ? s.history : []) {
      if (typeof h !== 'object' || h === null || typeof h.ip !== 'string' || !isRuleName(h.rule)) continue;
      const c = restorableTarget(h.ip);
      const scope = scopeOf(h.scope);
      const last = timeOf(h.last) ?? 0;
      if (c && scope !== null) this.history.set(key(h.rule, c.ip, scope), { ip: c.ip, rule: h.rule, count: countOf(h.count), last, ...(scope !== undefined ? { scope } : {}) });
      if (step()) yield;
    }
    // Ended bans first (oldest first), so bans that ended while the agent was down come after them.
    const endedIn = Array.isArray(s.ended) ? s.ended : [];
    for (const e of endedIn.slice(-Math.max(this.maxEnded, 1))) {
      if (step()) yield;
      const ended = typeof e === 'object' && e !== null ? restoreEnd((e as Partial<EndedBan>).ended) : null;
      const ban = ended === null ? null : readBan(e, now, false);
      if (ban === null) continue;
      this.end(ban, ended!);
    }
    // Wider networks first: of two saved networks that overlap (a file written by hand, or by another
    // version), the one covering more is kept, as banManually and the group would have refused the other.
    // By prefix in one pass (129 buckets, in pausable steps; savedPrefix 129 for an address), not a
    // sort reading each ban's prefix at every comparison in one block: 100,000 saved networks spent
    // 60–90 ms there before the first pause (review H47). Stable, as the sort was.
    const all: unknown[] = Array.isArray(s.bans) ? s.bans : [];
    const byPrefix: unknown[][] = Array.from({ length: 130 }, () => []);
    let networkCount = 0;
    for (let i = 0; i < all.length; i++) {
      if (step()) yield;
      const prefix = savedPrefix(all[i]);
      if (prefix <= 128) networkCount++;
      byPrefix[prefix]!.push(all[i]);
    }
    const ordered = byPrefix.flat();
    for (let i = 0; i < ordered.length; i++) {
      const b = ordered[i];
      // A network costs several addresses' work (parsed for its width, coverage, the allowlist and
      // the index): 1,024 IPv6 networks between two pauses were 30–180 ms of one block (review H47).
      if (step(i < networkCount ? NETWORK_UNITS : 1)) yield;
      const ban = readBan(b, now, true);
      if (ban === null) {
        dropped++;
        continue;
      }
      const scope = ban.scope;
      const target = isNetwork(ban.ip) ? networkTarget(ban) : null;
      const allowlisted = target !== null ? networkProblem(target, this.allowlist) !== null : this.allowlist.has(ban.ip);
      if (allowlisted || (ban.until !== null && ban.until <= now)) {
        // Expired while the agent was down, or allowlisted since: it ended; the history says how.
        this.end(ban, allowlisted ? { reason: 'allowlisted', at: now, by: 'restore' } : { reason: 'expired', at: ban.until! });
        dropped++;
        continue;
      }
      // A ban for one container (host mode) read by an agent that is not in host mode (the enforcer
      // changed, `auto` chose another, nftables no longer reads Docker's logs): its enforcer guards one
      // container or the host and never receives a scope (enforcer.ts). iptables and the map
      // enforcers would hold the address for every client they guard, a ban for tenant X becoming
      // one for Y; nftables would refuse it while status and why showed it held. It ends, as a
      // network does under an enforcer that holds none, and `why` says why.
      if (scope !== undefined && opts.scopes === false) {
        this.end(ban, { reason: 'refused', at: now, by: 'restore: a ban for one container, outside host mode' });
        dropped++;
        scopedRefused++;
        continue;
      }
      // A network overlapping one restored already: the kernel's interval sets would refuse one of
      // them (nftables), and status would show both as held.
      const over = target === null ? null : opts.networks === false ? 'the enforcer holds no networks' : this.overlappingNetworkBan(target, now);
      if (over !== null) {
        this.end(ban, { reason: 'refused', at: now, by: opts.networks === false ? `restore: ${over}` : `restore: overlaps ${over}` });
        dropped++;
        continue;
      }
      const k = key(ban.rule, ban.ip, scope);
      // No room (a file saved under a higher cap, or written by hand): a manual ban is the operator's
      // and always comes back; another ends as refused, and `why` says why. Manual bans take no room
      // from the others here: `banhammer ban` at a full book is never refused, and networks are
      // restored first, so a manual network made after the detected bans counted before them and the
      // last of those was refused at every restart, its attacker unbanned (review H33).
      const quarter = this.containerRoom;
      const full =
        this.bans.size - manualHere >= this.maxBans || (scope !== undefined && (this.heldPerScope.get(scope) ?? 0) - (manualIn.get(scope) ?? 0) >= quarter);
      if (!ban.manual && !this.bans.has(k) && full) {
        this.refusedAtCap++;
        this.end(ban, { reason: 'refused', at: now, by: `restore: the ban book holds its most bans (${this.maxBans}, BANHAMMER_MAX_BANS)` });
        dropped++;
        continue;
      }
      const prev = this.bans.get(k);
      if (prev !== undefined) {
        // The same ban twice in the file (the address in another spelling, a file written by hand;
        // the agent writes each key once): one ban, counted once, the one lasting longer (the first
        // on a tie); the other ends as replaced. The last copy won, and was counted as one more ban
        // restored and in "Total banned": a shorter copy cut a permanent ban to its own (review H51).
        const longer = prev.until !== null && (ban.until === null || ban.until > prev.until);
        const [kept, gone] = longer ? [ban, prev] : [prev, ban];
        this.end(gone, { reason: 'replaced', at: now, by: 'restore: the same ban saved twice' });
        dropped++;
        if (kept === prev) continue;
        if (prev.manual !== ban.manual) {
          const d = ban.manual ? 1 : -1;
          manualHere += d;
          if (scope !== undefined) manualIn.set(scope, (manualIn.get(scope) ?? 0) + d);
        }
        this.setBan(k, ban);
        this.touch(ban);
        const replacing = evidenceBytes(ban.evidence);
        if (replacing > 0) this.hold(`b ${k}`, replacing);
        continue;
      }
      if (ban.manual) {
        manualHere++;
        if (scope !== undefined) manualIn.set(scope, (manualIn.get(scope) ?? 0) + 1);
      }
      this.setBan(k, ban);
      this.touch(ban);
      const bytes = evidenceBytes(ban.evidence);
      if (bytes > 0) this.hold(`b ${k}`, bytes);
      // Held again in this run, so counted in its rule's "Total banned" as fail2ban counts a restored
      // ban: status said "Currently banned: 1, Total banned: 0" after every restart. (A ban adopted
      // from the group is counted by the replica that made it, as on adoption.)
      if (ban.from === undefined) this.totals.set(ban.rule, (this.totals.get(ban.rule) ?? 0) + 1);
      restored++;
    }
    this.trimEvidence();
    return { restored, dropped, ...(scopedRefused > 0 ? { scopedRefused } : {}) };
  }

  /**
   * Another network banned now that shares addresses with `n` (nftables' interval sets refuse
   * overlapping elements, so overlapping network bans are refused here, for every enforcer alike).
   */
  private overlappingNetworkBan(n: CanonicalTarget, now: number): string | null {
    return this.networks.overlapping(n, 1, (text) => {
      for (const k of this.networkBans.get(text) ?? []) {
        const b = this.bans.get(k);
        if (b !== undefined && (b.until === null || b.until > now)) return true;
      }
      return false;
    });
  }

  /** Records a new ban; one it takes the place of ended (expired, or replaced by `by`). */
  private put(ban: Ban, now: number, by = 'ban'): void {
    const k = key(ban.rule, ban.ip, ban.scope);
    const prev = this.bans.get(k);
    if (prev !== undefined) this.end(prev, endOfReplaced(prev, now, by));
    // A ban that had ended but was not swept yet (replay sweeps lazily, the agent's tick within a
    // second) goes as the tick takes it: the new ban is its container's newest in the cut's order
    // (and the state file's), not the ended one's place (replay cut an address banned again as its
    // container's oldest, where the agent cut the one banned first: review H33).
    if (prev !== undefined && prev.until !== null && prev.until <= now) this.deleteBan(k, prev);
    this.setBan(k, ban);
    this.hold(`b ${k}`, evidenceBytes(ban.evidence));
    this.trimEvidence();
    this.touch(ban);
    this.history.set(k, { ip: ban.ip, rule: ban.rule, count: ban.nth, last: ban.at, ...(ban.scope !== undefined ? { scope: ban.scope } : {}) });
    this.totals.set(ban.rule, (this.totals.get(ban.rule) ?? 0) + 1);
  }

  private removeWhere(pred: (b: Ban) => boolean): Ban[] {
    const out: Ban[] = [];
    for (const [k, b] of this.bans) {
      if (!pred(b)) continue;
      this.deleteBan(k, b);
      this.touch(b);
      out.push(b);
    }
    return out;
  }

  /** bans.set, keeping bansOfAddress: `k` is key(ban.rule, ban.ip, ban.scope). */
  private setBan(k: string, ban: Ban): void {
    const prev = this.bans.get(k);
    this.bans.set(k, ban);
    this.scheduleExpiry(k, ban);
    this.adoptedHeld += (ban.from !== undefined ? 1 : 0) - (prev?.from !== undefined ? 1 : 0);
    if (ban.until !== null && ban.until < this.earliestUntil) this.earliestUntil = ban.until;
    if (prev === undefined && ban.scope !== undefined) {
      const was = this.heldPerScope.get(ban.scope) ?? 0;
      this.heldPerScope.set(ban.scope, was + 1);
      this.moveHeld(ban.scope, was, was + 1);
      const seq = ++this.madeCount;
      this.madeSeq.set(k, seq);
      const order = this.madeInScope.get(ban.scope);
      if (order === undefined) this.madeInScope.set(ban.scope, { keys: [k], seqs: [seq], head: 0 });
      else {
        order.keys.push(k);
        order.seqs.push(seq);
        if (order.keys.length - order.head > 2 * this.heldPerScope.get(ban.scope)! + 1024) {
          // Only the entry of each ban held now: at most the container's bans.
          const keys: string[] = [];
          const seqs: number[] = [];
          for (let i = order.head; i < order.keys.length; i++) {
            const x = order.keys[i]!;
            if (x !== '' && this.madeSeq.get(x) === order.seqs[i]) {
              keys.push(x);
              seqs.push(order.seqs[i]!);
            }
          }
          order.keys = keys;
          order.seqs = seqs;
          order.head = 0;
        }
      }
    }
    const a = scopedKey(ban.ip, ban.scope);
    const held = this.bansOfAddress.get(a);
    if (held === undefined || held === prev) this.bansOfAddress.set(a, ban);
    else if (held instanceof Map) held.set(ban.rule, ban);
    else this.bansOfAddress.set(a, new Map([[held.rule, held], [ban.rule, ban]]));
    if (isNetwork(ban.ip)) {
      const keys = this.networkBans.get(ban.ip);
      if (keys !== undefined) keys.add(k);
      else {
        this.networkBans.set(ban.ip, new Set([k]));
        const slash = ban.ip.indexOf('/');
        this.networks.add({ ip: ban.ip, family: ban.family, prefix: Number(ban.ip.slice(slash + 1)) });
      }
    }
  }

  /** Container `scope` now holds `to` bans instead of `from` (one more or one less): byHeld and mostHeld follow. */
  private moveHeld(scope: string, from: number, to: number): void {
    if (from > 0) {
      const list = this.byHeld.get(from);
      const i = this.heldIndex.get(scope);
      if (list !== undefined && i !== undefined && list[i] === scope) {
        const last = list.pop()!;
        if (last !== scope) {
          list[i] = last;
          this.heldIndex.set(last, i);
        }
        if (list.length === 0) this.byHeld.delete(from);
      }
    }
    if (to > 0) {
      let list = this.byHeld.get(to);
      if (list === undefined) this.byHeld.set(to, (list = []));
      this.heldIndex.set(scope, list.length);
      list.push(scope);
    } else {
      this.heldIndex.delete(scope);
    }
    // One more or one less at a time: the most is `to` when it grows past it, or when the last
    // container holding the most lost one.
    if (to > this.mostHeld || (from === this.mostHeld && !this.byHeld.has(from))) this.mostHeld = to;
  }

  /** bans.delete of `ban` (held at `k`), keeping bansOfAddress and the network index. */
  private deleteBan(k: string, ban: Ban): void {
    const held = this.bans.get(k);
    if (held === undefined) return;
    this.bans.delete(k);
    if (held.from !== undefined) this.adoptedHeld--;
    if (held.scope !== undefined) {
      this.madeSeq.delete(k);
      const n = (this.heldPerScope.get(held.scope) ?? 1) - 1;
      this.moveHeld(held.scope, n + 1, n);
      if (n > 0) this.heldPerScope.set(held.scope, n);
      else {
        this.heldPerScope.delete(held.scope);
        this.madeInScope.delete(held.scope);
      }
    }
    const a = scopedKey(ban.ip, ban.scope);
    // By rule: an address holds at most one ban per rule and scope (its key), whichever object it is.
    const all = this.bansOfAddress.get(a);
    if (all instanceof Map) {
      all.delete(held.rule);
      if (all.size === 1) this.bansOfAddress.set(a, all.values().next().value!);
      else if (all.size === 0) this.bansOfAddress.delete(a);
    } else if (all !== undefined && all.rule === held.rule) {
      this.bansOfAddress.delete(a);
    }
    const keys = this.networkBans.get(ban.ip);
    if (keys !== undefined && keys.delete(k) && keys.size === 0) {
      this.networkBans.delete(ban.ip);
      this.networks.delete(ban.ip);
    }
  }

  private touch(b: Ban): void {
    const k = scopedKey(b.ip, b.scope);
    if (!this.dirty.has(k)) this.dirty.set(k, b);
  }

  /** A ban ended: into the history of ended bans (with its evidence), its evidence now held there. */
  private end(ban: Ban, end: BanEnd): void {
    const k = key(ban.rule, ban.ip, ban.scope);
    if (this.bans.get(k) === undefined || this.bans.get(k) === ban) this.release(`b ${k}`);
    if (this.maxEnded === 0) return;
    const seq = ++this.endedSeq;
    // (An own ban kept under an adopted one is no part of how the adopted one ended.)
    this.ended.set(seq, ban.under === undefined ? { ...ban, ended: end } : { ...withoutLines(ban), ...(ban.evidence !== undefined ? { evidence: ban.evidence } : {}), ended: end });
    this.hold(`e ${seq}`, evidenceBytes(ban.evidence));
    this.trimEnded();
    this.trimEvidence();
  }

  private trimEnded(): void {
    while (this.ended.size > this.maxEnded && this.endedOldest <= this.endedSeq) {
      const seq = this.endedOldest++;
      if (this.ended.delete(seq)) this.release(`e ${seq}`);
    }
  }

  private hold(holder: string, bytes: number): void {
    this.release(holder);
    if (bytes <= 0) return;
    const seq = ++this.holderSeq;
    this.holders.set(holder, { bytes, seq });
    this.holderQueue.push({ key: holder, seq });
    this.evidenceHeld += bytes;
    // Released entries pile up in the queue until read: compact when they outnumber the live ones.
    if (this.holderQueue.length - this.holderHead > 2 * this.holders.size + 1024) {
      this.holderQueue = this.holderQueue.slice(this.holderHead).filter((e) => this.holders.get(e.key)?.seq === e.seq);
      this.holderHead = 0;
    }
  }

  private release(holder: string): void {
    const h = this.holders.get(holder);
    if (h === undefined) return;
    this.holders.delete(holder);
    this.evidenceHeld -= h.bytes;
  }

  /** Over the budget: the oldest holders (active or ended bans) lose their lines, counted as omitted. */
  private trimEvidence(): void {
    while (this.evidenceHeld > this.evidenceBudget && this.holderHead < this.holderQueue.length) {
      const e = this.holderQueue[this.holderHead++]!;
      if (this.holders.get(e.key)?.seq !== e.seq) continue;
      const holder = e.key;
      this.release(holder);
      if (holder.startsWith('b ')) {
        const k = holder.slice(2);
        const b = this.bans.get(k);
        if (b !== undefined) this.setBan(k, withoutEvidence(b));
      } else {
        const seq = Number(holder.slice(2));
        const e = this.ended.get(seq);
        if (e !== undefined) this.ended.set(seq, withoutEvidence(e));
      }
    }
    if (this.holderHead > 4096 && this.holderHead * 2 > this.holderQueue.length) {
      this.holderQueue = this.holderQueue.slice(this.holderHead);
      this.holderHead = 0;
    }
  }
}

/** What restore() did: bans restored, entries dropped, and of those the bans for one container refused outside host mode. */
export interface RestoreResult {
  restored: number;
  dropped: number;
  scopedRefused?: number;
}

/**
 * Why a network (a canonicalTarget with a prefix) may not be banned, in words following the network
 * (`is /0 …`, `covers 127.0.0.0/8 (loopback)`, `covers 198.18.0.1, which is allowlisted …`), or null.
 */
export function networkProblem(n: CanonicalTarget, allowlist: Allowlist): string | null {
  const cidr = { network: n.ip.slice(0, n.ip.indexOf('/')), prefix: n.prefix, family: n.family };
  const why = networkCoverReason(cidr);
  if (why !== null) return why;
  const hit = allowlist.overlapping(cidr);
  return hit === null ? null : `covers ${hit}, which is allowlisted (loopback, ignoreip, a trusted proxy or this host)`;
}

/** The same ban without its lines (a memory budget took them), the count of lines left out kept. */
function withoutEvidence<B extends Ban>(b: B): B {
  const { evidence, ...rest } = b;
  return { ...rest, evidenceOmitted: (b.evidenceOmitted ?? 0) + (evidence?.length ?? 0) } as B;
}

/** How a ban that a new one of the same key takes the place of ended: expired by then, or replaced by `by`. */
function endOfReplaced(prev: Ban, now: number, by: string): BanEnd {
  return prev.until !== null && prev.until <= now ? { reason: 'expired', at: prev.until } : { reason: 'replaced', at: now, by };
}

/** Units of restore work (yielding.ts STEP_UNITS) a saved network ban counts for: it costs about this many addresses. */
const NETWORK_UNITS = 8;

/** Longest `by` kept from a state file. */
const MAX_BY_CHARS = 200;

/** A BanEnd read from a state file (hostile), or null. */
function restoreEnd(raw: unknown): BanEnd | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const at = timeOf(r.at);
  if (at === null || typeof r.reason !== 'string' || !(BAN_END_REASONS as readonly string[]).includes(r.reason)) return null;
  const by = typeof r.by === 'string' && r.by !== '' ? evidenceText(r.by, MAX_BY_CHARS) : undefined;
  return { reason: r.reason as BanEndReason, at, ...(by !== undefined ? { by } : {}) };
}

/**
 * A Ban read from a state file (hostile): every field checked, texts cut, evidence re-validated;
 * null when it cannot be a ban at all. Expiry and the allowlist are the caller's (it records how such
 * a ban ended). An active ban's network is checked for width and coverage as banManually would, and
 * its expiry capped at MAX_BAN_MS from its start, or from now when later.
 */
function readBan(b: unknown, now: number, active: boolean): Ban | null {
  if (typeof b !== 'object' || b === null) return null;
  const r = b as Record<string, unknown>;
  const c = typeof r.ip === 'string' ? restorableTarget(r.ip) : null;
  if (c === null || !isRuleName(r.rule)) return null;
  const at = timeOf(r.at);
  if (at === null) return null;
  const rawUntil = r.until;
  const until = rawUntil === null ? null : timeOf(rawUntil) ?? (typeof rawUntil === 'number' && rawUntil > 0 ? now + MAX_BAN_MS : NaN);
  if (Number.isNaN(until)) return null;
  const scope = scopeOf(r.scope);
  if (scope === null) return null;
  if (isNetwork(c.ip) && (scope !== undefined || (active && networkCoverReason({ network: c.ip.split('/')[0]!, prefix: c.prefix, family: c.family }) !== null))) return null;
  const evidence = restoreEvidence(r.evidence);
  const omitted = countOf(r.evidenceOmitted);
  // Built field by field (a restore reads 100,000 of these): the optional fields only when present.
  const ban: { -readonly [K in keyof Ban]: Ban[K] } = {
    ip: c.ip,
    family: c.family,
    rule: r.rule,
    at,
    // At most MAX_BAN_MS from when it was made, or from now when later, as a ban made here: capped
    // from now alone, a clock far behind at start (a host without a clock battery boots in 1970) cut
    // every saved ban to ten years after 1970, and all of them ended once the clock was set right.
    until: until === null || !active ? until : Math.min(until, Math.max(now, at) + MAX_BAN_MS),
    failures: countOf(r.failures),
    nth: Math.max(1, countOf(r.nth)),
    manual: r.manual === true,
  };
  // Texts shown by status, why and notifications: cut and with control characters escaped (a state
  // file is hostile: an ANSI escape in a container name would reach the operator's terminal).
  if (typeof r.origin === 'string') ban.origin = evidenceText(r.origin, 4096);
  if (typeof r.from === 'string') ban.from = evidenceText(r.from, 128);
  if (scope !== undefined) {
    ban.scope = scope;
    ban.scopeName = typeof r.scopeName === 'string' ? evidenceText(r.scopeName, 128) : scope.slice(0, 12);
  }
  if (evidence !== undefined) ban.evidence = evidence;
  if (omitted > 0) ban.evidenceOmitted = omitted;
  if (r.groupCount === true) ban.groupCount = true;
  // Ban.groupScope: only on an adopted host-wide ban of an address; an unreadable one is left out.
  const groupScope = ban.from !== undefined && scope === undefined && !isNetwork(c.ip) ? scopeOf(r.groupScope) : undefined;
  if (typeof groupScope === 'string') ban.groupScope = groupScope;
  // The own ban an adopted one replaced (Ban.under): one of the same rule, address and scope, made
  // here (no `from`, nothing under it, no groupScope) after the adopted one (any time before one with
  // a groupScope), not ended; anything else is dropped, the adopted ban kept.
  if (ban.from !== undefined && typeof r.under === 'object' && r.under !== null && !Object.hasOwn(r.under, 'under') && !Object.hasOwn(r.under, 'from') && !Object.hasOwn(r.under, 'groupScope')) {
    const under = readBan(r.under, now, active);
    if (under !== null && under.ip === ban.ip && under.rule === ban.rule && under.scope === ban.scope && (under.at > ban.at || ban.groupScope !== undefined) && (under.until === null || under.until > now)) {
      ban.under = withoutLines(under);
    }
  }
  return ban;
}

/** A ban without its lines (an own ban kept under an adopted one: its lines went to the history of ended bans). */
function withoutLines(b: Ban): Ban {
  if (b.evidence === undefined && b.evidenceOmitted === undefined && b.under === undefined) return b;
  const { evidence: _e, evidenceOmitted: _o, under: _u, ...rest } = b;
  return rest;
}

/** A network ban's target (its ip is canonical `addr/prefix`: readBan made it so), without parsing it again. */
function networkTarget(b: Ban): CanonicalTarget {
  return { ip: b.ip, family: b.family, prefix: Number(b.ip.slice(b.ip.indexOf('/') + 1)) };
}

/** The canonical text of every network wider than the target (/1 up to its prefix, excluded) holding it: an address or a network. */
function networksHolding(target: CanonicalTarget): Set<string> {
  const out = new Set<string>();
  const address = isNetwork(target.ip) ? target.ip.slice(0, target.ip.indexOf('/')) : target.ip;
  for (let p = 1; p < target.prefix; p++) {
    const n = canonicalTarget(`${address}/${p}`);
    if (n !== null) out.add(n.ip);
  }
  return out;
}

/** A cap read from settings: a whole number ≥ 0, else the default. */
function capOf(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : dflt;
}

/** A saved address or network, canonical: null when invalid or (an address) when it can never be a client. */
function restorableTarget(raw: string): CanonicalTarget | null {
  const c = canonicalTarget(raw);
  if (c === null) return null;
  return isNetwork(c.ip) || nonClientReason(c) === null ? c : null;
}

/** A duration's expiry from `at`; null (permanent) only for a permanent duration, capped at MAX_BAN_MS. */
function untilOf(at: number, duration: number): number | null {
  if (duration === Number.POSITIVE_INFINITY) return null;
  if (!(duration >= 0)) return at;
  return at + Math.min(duration, MAX_BAN_MS);
}

const RULE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
function isRuleName(v: unknown): v is string {
  return typeof v === 'string' && RULE_RE.test(v) && v !== '__proto__' && v !== 'constructor' && !(v in Object.prototype);
}

/** The prefix of a saved ban's network (hostile input: anything), 129 for an address or anything else. */
function savedPrefix(b: unknown): number {
  const ip = typeof b === 'object' && b !== null ? (b as { ip?: unknown }).ip : undefined;
  if (typeof ip !== 'string') return 129;
  const slash = ip.indexOf('/');
  const n = slash < 0 ? NaN : Number(ip.slice(slash + 1));
  return Number.isInteger(n) && n >= 0 && n <= 128 ? n : 129;
}
