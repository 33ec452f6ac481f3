/**
 * The share stage over Redis (node-redis): one connection for commands and scripts, one for the
 * group's channel. The contract is in share.ts; this file is how it is kept.
 *
 * Offline is a normal state. node-redis's offline queue is off (disableOfflineQueue), so a command
 * issued while disconnected fails at once instead of piling up; failures are then simply not shared,
 * bans and unbans go to the outbox. Reconnects back off exponentially up to maxBackoffMs, with jitter
 * (each wait is between half and all of the step), so replicas do not reconnect in lock-step.
 * When both connections are ready again the stage goes "online": it reads the data set's epoch,
 * replays the outbox, re-publishes its own bans if Redis lost its data, and resynchronises with the
 * group's hash. Commands issued in one tick are pipelined by node-redis.
 *
 * Time: the group has one clock, Redis's (TIME, group-clock.ts), measured at every catch-up and
 * every MEASURE_EVERY_MS. Every time written to Redis is converted into it and every time read back
 * into this host's clock; what the rest of the agent sees (SharedBan, unbans, offenses) is always
 * in this host's clock, and so is the outbox (converted when it is sent).
 */
import { BoundedMap } from '../bounded-map.js';
import { parseScopedKey } from '../decide/scoped-key.js';
import { randomBytes } from 'node:crypto';
import { MAX_SECRET_BYTES, readRegularFile } from '../fs/read-regular.js';
import { hostname } from 'node:os';
import type { createClient } from 'redis';
import { BanhammerError } from '../errors.js';
import { repeat, type Clock, type TimerHandle } from '../clock.js';
import { watchWallSteps, type WallStep } from '../wall-steps.js';
import { sliceTurns } from '../yielding.js';
import { MAX_LATE_MS } from '../detect/sliding-window.js';
import { MAX_FINDTIME_MS } from '../config/duration.js';
import { MAX_MAXRETRY } from '../config/schema.js';
import { SKEW_TOLERANCE_MS } from '../pipeline/pipeline.js';
import { canonicalClientIp } from '../parse/ip.js';
import { banField, groupKeys, REPLICA_ID_RE, SCOPE_RE, SHARED_RULE_RE, type GroupKeys } from './keys.js';
import { BAN_SCRIPT, EPOCH_SCRIPT, FAILURES_SCRIPT, PRUNE_SCRIPT, SCAN_SCRIPT, UNBAN_SCRIPT, UNBANNED_SCRIPT, WATCH_SCRIPT, type LuaScript } from './lua.js';
import { checkOutgoingBan, encodeBan, encodeUnban, isExpired, MAX_FUTURE_MS, MAX_MESSAGE_CHARS, sharedTarget, MAX_TIME_MS, parseMessage, parseStoredBan, type SharedUnban } from './messages.js';
import { Outbox, opField, type OutboxOp } from './outbox.js';
import { WarnLimiter } from './warn-limiter.js';
import { GroupClock, MEASURE_EVERY_MS, parseRedisTime, SAMPLES, WARN_OFFSET_MS, type ClockSample } from './group-clock.js';
import { createSigner, MIN_KEY_BYTES, type Signer } from './signing.js';
import type { GroupUnbanResult, ShareDeps, ShareEvents, ShareSettings, ShareStage, ShareStats, SharedBan } from './share.js';

type ClientOptions = Parameters<typeof createClient>[0];
type Client = ReturnType<typeof createClient<{}, {}, {}, 2, {}>>;

const DEFAULT_MAX_BANS = 100_000;
const DEFAULT_MAX_OUTBOX = 10_000;
/** How often, at most, a full group hash is read to prune ended and invalid entries (see apply). */
const PRUNE_EVERY_MS = 60_000;
/**
 * Reconnect back-off cap. With a stopped Redis host a connect attempt can also wait out
 * CONNECT_TIMEOUT_MS (no reset comes back), so one retry cycle is at most the sum: 2.5 s, which keeps
 * "converged within 5 s of Redis returning" with room to spare.
 */
const DEFAULT_MAX_BACKOFF_MS = 1_000;
const CONNECT_TIMEOUT_MS = 1_500;
/** A connection lost sooner than this after it came up is a flap; the longest back-off after flaps. */
const FLAP_MS = 30_000;
const FLAP_LIMIT = 5;
const MAX_FLAP_BACKOFF_MS = 30_000;
/** A PING unanswered this long means the server is not running (stopped, wedged): reconnect. */
const DEFAULT_HUNG_AFTER_MS = 10_000;
/** Failures awaiting their reply; beyond this they are dropped (Redis is too slow to keep up). */
const MAX_IN_FLIGHT = 50_000;
/** How late a failure may be logged relative to the window's newest (as detect/sliding-window.ts). */
const SCAN_COUNT = 5000;
/** Most failures per script call. */
const FAILURE_BATCH = 256;
/** After a group offense, how long a second crossing for the same (rule, ip, scope) is not reported (wall ms). */
const CLAIM_MS = 5_000;
/** A stored ban whose expiry is at most this much earlier than a new one still covers it (same attacker, same moment). */
const COVER_SLACK_MS = 5_000;
/**
 * A stored ban that covers a new one, sent this recently, is taken as one whose message is on its way
 * (two replicas banning one attacker at once); an older one this replica never heard may have been
 * stored without a message, and the new ban is published all the same (apply).
 */
const COVER_QUIET_MS = 1_000;
/** Catch-ups for data lost under live connections (checkEpoch) start at most this often. */
const LOSS_CATCH_UP_EVERY_MS = 30_000;
/** How far apart the clocks of two replicas' hosts may be when telling a stale ban from a fresh one. */
export const CLOCK_SKEW_MS = 2_000;
/** How long an unban keeps older bans of that address from being re-published (a long outage). */
const TOMBSTONE_MS = 86_400_000;
/**
 * How many times a ban or unban is sent again because the stored value that held it back was no ban
 * (see lua.ts): once is enough unless a hostile writer keeps replacing it, which must not loop.
 */
const MAX_REFUSED_RETRIES = 2;
/**
 * Longest wait before a catch-up that failed, or an outbox that could not be replayed, is tried again
 * while the connections stay up (the first retry comes at the watchdog's next round, then the wait
 * doubles up to this).
 */
const MAX_RETRY_MS = 60_000;
/**
 * Longest propagation lag reported (onLag): the histogram's largest bucket is 5 s, a longer one only
 * says that the hosts' clocks are apart, and one message stamped as sent in 1970 (a valid time)
 * made the histogram's sum, and every average drawn from it, decades.
 */
const MAX_LAG_MS = 60_000;
/** Least time between two reconnections for a READONLY answer (onReadOnly). */
const READONLY_REOPEN_MS = 5_000;
/**
 * Least time between two unbans this replica sends again for one address (unbanAgain): a stale ban
 * heard again and again (a hostile publisher) must not make one unban per message.
 */
const UNBAN_AGAIN_EVERY_MS = 30_000;
/**
 * The budget of unbans one replica sends again, across addresses (drainUnbansAgain): at most
 * UNBAN_AGAIN_PER_SECOND, UNBAN_AGAIN_BURST at a time, one batch per UNBAN_AGAIN_TICK_MS, the first
 * after a random wait of up to UNBAN_AGAIN_JITTER_MS; at most UNBAN_AGAIN_IN_FLIGHT awaiting their
 * reply. A replica that knew thousands of unbans (lifted in bulk) and met their stale bans (an old
 * dump) sent them all at once, and so did every replica of the group: 3 replicas, 20,000 addresses,
 * 60,000 unban scripts in 3 s, each published to every replica. What is over the budget waits its
 * turn (unbansAgain), and one another replica sends first is not sent here (onMessage).
 */
const UNBAN_AGAIN_PER_SECOND = 500;
const UNBAN_AGAIN_TICK_MS = 100;
const UNBAN_AGAIN_BURST = (UNBAN_AGAIN_PER_SECOND * UNBAN_AGAIN_TICK_MS) / 1_000;
const UNBAN_AGAIN_JITTER_MS = 250;
const UNBAN_AGAIN_IN_FLIGHT = 2 * UNBAN_AGAIN_BURST;
/** Most queued unbans a drain looks at and finds no longer due, per tick (each is dropped). */
const UNBAN_AGAIN_SKIPS = 20 * UNBAN_AGAIN_BURST;
/**
 * An own ban stored again for stale unbans naming it (onMessage, storeOwnAgain): at most once per
 * STORE_OWN_AGAIN_MS per address; those heard meanwhile make one more store at the end of it. One
 * ban script per message let anyone who can publish (a signed stale unban replayed for its
 * MAX_SIGNED_AGE_MS; anything without a key) turn each PUBLISH into a script of this replica's (H45).
 */
const STORE_OWN_AGAIN_MS = 1_000;
/** How old a signed message on the channel may be (its `sent` against this clock) before it is taken for a replay. */
const MAX_SIGNED_AGE_MS = 60_000;
/** Fields per UNBANNED_SCRIPT call, and bans re-published at once after Redis lost its data (pipelined). */
const RESTORE_BATCH = 256;

/**
 * Fields waiting for something to be done to them, each with a number, taken out in random order in
 * constant time (a swap with the last). Two replicas working through the same set in the order it
 * was filled (the group hash's order, the same at every replica) would send the same ones at once.
 */
class RandomSet<V> {
  private readonly fields: string[] = [];
  private readonly index = new Map<string, { i: number; n: V }>();

  get size(): number {
    return this.fields.length;
  }

  get(field: string): V | undefined {
    return this.index.get(field)?.n;
  }

  set(field: string, n: V): void {
    const e = this.index.get(field);
    if (e !== undefined) e.n = n;
    else {
      this.index.set(field, { i: this.fields.length, n });
      this.fields.push(field);
    }
  }

  delete(field: string): boolean {
    const e = this.index.get(field);
    if (e === undefined) return false;
    const last = this.fields.pop()!;
    if (last !== field) {
      this.fields[e.i] = last;
      this.index.get(last)!.i = e.i;
    }
    this.index.delete(field);
    return true;
  }

  /** Takes one out at random (`random` in [0, 1)). */
  take(random: () => number): [string, V] | undefined {
    if (this.fields.length === 0) return undefined;
    const field = this.fields[Math.min(this.fields.length - 1, Math.floor(random() * this.fields.length))]!;
    const n = this.index.get(field)!.n;
    this.delete(field);
    return [field, n];
  }

  clear(): void {
    this.fields.length = 0;
    this.index.clear();
  }
}

/** Parses redis:// and rediss:// URLs into node-redis options (so a password file can win over the URL). */
export function redisClientOptions(url: string, password: string | undefined): {
  socket: { host: string; port: number; tls: true; servername: string } | { host: string; port: number; tls: false };
  username?: string;
  password?: string;
  database?: number;
} {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BanhammerError('BH_ERR_CONFIG', 'the share Redis URL is not a URL', { hint: 'use redis://[user[:password]@]host[:port][/db] or rediss://…' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new BanhammerError('BH_ERR_CONFIG', `the share Redis URL must start with redis:// or rediss://, not ${u.protocol}//`, { hint: 'use redis://host:6379 or rediss://host:6380' });
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new BanhammerError('BH_ERR_CONFIG', 'the share Redis URL has no host', { hint: 'use redis://host:6379' });
  const tls = u.protocol === 'rediss:';
  const port = u.port === '' ? 6379 : Number(u.port);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new BanhammerError('BH_ERR_CONFIG', 'the share Redis URL names an invalid database', { hint: 'the path is a database number: redis://host:6379/0' });
  const username = decodeURIComponent(u.username);
  const pw = password ?? (u.password !== '' ? decodeURIComponent(u.password) : undefined);
  return {
    socket: tls ? { host, port, tls: true, servername: host } : { host, port, tls: false },
    ...(username !== '' ? { username } : {}),
    ...(pw !== undefined ? { password: pw } : {}),
    ...(db !== 0 ? { database: db } : {}),
  };
}

const emptyStats = (): Omit<ShareStats, 'connected' | 'inFlight' | 'outboxDepth' | 'outboxDropped'> => ({
  bansOut: 0,
  unbansOut: 0,
  bansIn: 0,
  unbansIn: 0,
  bansCovered: 0,
  bansRefusedFull: 0,
  bansUnbannedSince: 0,
  bansStale: 0,
  unbansStale: 0,
  failuresSent: 0,
  failuresDropped: 0,
  groupOffenses: 0,
  invalid: {},
  echoes: 0,
  hung: 0,
  clockOffsetMs: 0,
  groupClock: false,
});

/**
 * `ban` with its times moved by `-off` (from its origin's clock into this one's: clockOffsets), or
 * null when they would leave the times a message may hold.
 */
function shifted(ban: SharedBan, off: number): SharedBan | null {
  if (off === 0) return ban;
  const at = ban.at - off;
  const until = ban.until === null ? null : ban.until - off;
  if (!(at >= 0 && at <= MAX_TIME_MS) || (until !== null && !(until > at && until <= MAX_TIME_MS))) return null;
  return { ...ban, at, until };
}

/** What was said of a field while a read of the hash ran (scansTouched). */
interface Touched {
  readonly unbanAt: number;
  readonly banAt: number;
  readonly banUntil: number;
}

/** A ban's end, Infinity for a permanent one. */
const untilOf = (ban: Pick<SharedBan, 'until'>): number => (ban.until === null ? Infinity : ban.until);

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).slice(0, 300);

export function createRedisShare(s: ShareSettings, deps: ShareDeps): ShareStage {
  return new RedisShare(s, deps);
}

class RedisShare implements ShareStage {
  readonly replicaId: string;
  private readonly keys: GroupKeys;
  private readonly maxBans: number;
  /** When a full hash was last pruned (apply). */
  private lastFullPrune = Number.NEGATIVE_INFINITY;
  private readonly maxBackoff: number;
  private readonly outbox: Outbox;
  private readonly random: () => number;
  private events: ShareEvents | null = null;
  /** Signs what this replica writes and checks what it reads (settings.keyFile), or null: unsigned. */
  private signer: Signer | null = null;
  private client: Client | null = null;
  private sub: Client | null = null;
  private mainReady = false;
  private subReady = false;
  private subscribed = false;
  private stopped = false;
  /** What onStatus last said (undefined before the first attempt ended). */
  private reported: boolean | undefined;
  private lastError: string | undefined;
  private epoch: string | undefined;
  private going: Promise<void> | null = null;
  private goAgain = false;
  /**
   * Whether the last catch-up succeeded. A command Redis refuses while the connections stay up (an
   * ACL being edited, MISCONF after a failed save, OOM) failed the catch-up, or sent bans to the
   * outbox, until the next reconnection, which may never come: the watchdog tries again (retryAt).
   */
  private caughtUp = false;
  private retryAt = Number.NEGATIVE_INFINITY;
  /** When the watchdog may subscribe again after Redis refused the subscription (subscribeOn), and the gap it backs off by. */
  private subRetryAt = Number.NEGATIVE_INFINITY;
  private subRetryGap = 0;
  private retryGap = 0;
  private seq = 0;
  private inFlight = 0;
  private pending: Array<{ keys: [string, string]; args: string[]; offense: { ip: string; family: 4 | 6; rule: string; at: number; scope?: string } }> = [];
  private flushScheduled = false;
  /** Bans this replica published in this run (re-published when Redis lost its data). */
  private readonly own: BoundedMap<string, SharedBan>;
  /** Remote bans delivered through onRemoteBan and not unbanned since (changed through setRemote/deleteRemote only). */
  private readonly remote = new Map<string, SharedBan>();
  /**
   * The fields of `remote` by address (one per scope): heard() is asked once per ban that
   * `banhammer unban --all` lifts, and scanning every remote ban each time made that the square of
   * the bans (100,000 adopted from the group: over a minute with the event loop blocked).
   */
  private readonly remoteByIp = new Map<string, Set<string>>();
  /**
   * While reads of the group's hash run (scanBans): per read, what the channel (or this replica's
   * own unban) said of each field meanwhile, in this host's clock: its latest unban, and its latest
   * ban heard (its start and end, Infinity for none). An entry that read holds of a ban made no
   * later than that unban, or that this ban covers, is older news (see scanBansPruning).
   */
  private readonly scansTouched = new Set<Map<string, Touched>>();
  /** While a catch-up reads the group's hash: the fields of the remote bans delivered meanwhile (catchUp, step 4). */
  private heardWhileReading: Set<string> | null = null;
  private remoteSweptAt = -Infinity;
  /**
   * Bans restored from the state file that the first catch-up checks against the group's tombstones
   * (see restored()), by field: the one this agent made and the one it adopted (both, when the
   * adopted ban had replaced the own one in the ban book: Ban.under); emptied once checked.
   */
  private readonly restoredCheck = new Map<string, { own?: SharedBan; adopted?: SharedBan }>();
  /**
   * How far each origin's times are ahead of this replica's clock, in ms (0 when not ahead), measured
   * from its messages (`sent`, read in this clock, against now; the lag, a few ms, is inside the
   * allowed skew). With the group's clock (gclock) every replica stamps in Redis's time and these
   * are all within the measurement's error, so nothing is applied. Kept for the replicas that stamp
   * with their own clock: one whose ACL user lacks +time (an older ACL), or an older release during a
   * rolling upgrade. Kept as they were, the times of such a replica an hour ahead stretched each ban
   * it made by the hour at every other replica. Offsets within CLOCK_SKEW_MS, or beyond
   * MAX_FUTURE_MS, are not applied. Such a clock behind is not corrected: one message cannot tell it
   * from a message replayed later (an old ban would be made current again), so times are only ever
   * moved earlier here; the group's clock is what corrects a clock behind.
   */
  private readonly clockOffsets = new BoundedMap<string, number>(1024);
  /** When each address was last unbanned (here or remotely): older bans of it are stale. */
  private readonly unbannedAt: BoundedMap<string, number>;
  /** When this replica last sent an address's unban again (unbanAgain), by field. */
  private readonly unbannedAgainAt: BoundedMap<string, number>;
  /**
   * Unbans due to be sent again (unbanAgain), by field, each with the time of the newest stale ban
   * seen of it (this host's clock): sent within the budget (drainUnbansAgain), or dropped when
   * another replica's unban of it, as recent, is heard first (onMessage). At most maxBans. `since`:
   * when it was queued (this host's clock): only an unban sent since is another replica's resend.
   */
  private readonly unbansAgain = new RandomSet<{ at: number; since: number }>();
  /** The budget's tokens (UNBAN_AGAIN_BURST at most; below 0 after others' unbans heard), when last refilled (mono), the drain's timer, replies awaited. */
  private againTokens = UNBAN_AGAIN_BURST;
  private againRefilledAt: number | null = null;
  private againTimer: TimerHandle | null = null;
  private againInFlight = 0;
  /**
   * storeOwnAgain: when each address's own ban was last stored again (mono; pruned after
   * STORE_OWN_AGAIN_MS), the addresses to store again at the end of that time, and its timer.
   */
  private readonly ownAgainAt = new Map<string, number>();
  private readonly ownAgainPending = new Set<string>();
  private ownAgainTimer: TimerHandle | null = null;
  /** Per field, the settling of the last operation sent (send): the next one waits for it. */
  private readonly sending = new Map<string, Promise<void>>();
  /** The latest operation sent per field, until its reply: a failed one goes to the outbox only if still the latest. */
  private readonly latest = new Map<string, OutboxOp>();
  private readonly counts = emptyStats();
  private readonly warnings: WarnLimiter;
  private firstAttempt: (() => void) | null = null;
  /** Makes a connection (the commands one when `main`), once start() has loaded node-redis. */
  private newClient: ((main: boolean) => Client) | null = null;
  /** When the unanswered PING was sent (null: none waiting). */
  private probeSentAt: number | null = null;
  /**
   * A read of the epoch key is in flight (the watchdog's check that the data set is still the one
   * caught up with: a FLUSHALL, an eviction or a failover under live connections empties the group's
   * hash without any reconnection, and late joiners then got none of the live bans).
   */
  private epochReading = false;
  /**
   * The watchdog found one of this replica's own bans missing from the group's hash (deleted, evicted)
   * with the epoch unchanged: the next catch-up treats the data as lost and stores its bans again.
   */
  private forceLost = false;
  /** When checkEpoch last started a catch-up for lost data. */
  private lastLossCatchUp = Number.NEGATIVE_INFINITY;
  /** Where the watchdog's look-up of one own ban per round (checkEpoch) goes on from. */
  private ownCursor: Iterator<[string, SharedBan]> | null = null;
  /** Own bans the group refused for being full: not stored, and not missing for checkEpoch. */
  private readonly refusedFull = new WeakSet<SharedBan>();
  /** When the commands connection last came up (null: down since), and how many came up and went down within FLAP_MS in a row. */
  private upAt: number | null = null;
  private flaps = 0;
  /** The timer that opens the connections again after flaps (pauseConnections), or null. */
  private paused: TimerHandle | null = null;
  private flapSaid = false;
  /** What to do once Redis answers a PING on the connection that became ready (see probe). */
  private onAnswered: (() => void) | null = null;
  private readonly hungAfter: number;
  /** When the connections were last opened anew for a READONLY answer (onReadOnly). */
  private readOnlyAt = Number.NEGATIVE_INFINITY;
  private watchdog: { stop(): void } | null = null;
  /**
   * The group's clock (Redis TIME, group-clock.ts): every time written to Redis (a ban's at and
   * until, an unban's at, a message's sent, a failure's time in a group window, the scripts' bounds)
   * is converted into it, and every time read back into this host's clock. The outbox keeps this
   * host's times (converted when sent).
   */
  private readonly gclock = new GroupClock(() => void this.clock.now());
  private readonly mono: () => number;
  /**
   * deps.clock read through a step watch (wall-steps.ts): a step of this host's wall clock moves the
   * group clock's offset (localStepped) before any time is converted with the stepped clock.
   */
  private readonly clock: Clock;
  /** Steps of this host's wall clock seen (a measurement that saw one is not taken). */
  private wallSteps = 0;
  /** When the group's clock is measured next (watchdog), and the connection a measurement is running on. */
  private clockDueAt = Number.NEGATIVE_INFINITY;
  private clockMeasuring: Client | null = null;
  /** The measurement running on clockMeasuring (catchUp waits for it rather than start another). */
  private clockRun: Promise<void> = Promise.resolve();
  /** Whether Redis's refusal of TIME (an ACL without +time), or an offset beyond WARN_OFFSET_MS, was said. */
  private timeRefusedSaid = false;
  private offsetSaid: number | null = null;
  /**
   * Whether the first catch-up's measurement of the group's clock has ended (taken, refused, or
   * TIME refused). Until then the offset is 0 whatever this host's clock is: a ban, unban or failure
   * sent in the round trips between "connected" and that measurement went out in this host's own
   * clock (an unban from a replica an hour behind lifted the group's stored ban, but the replica that
   * made the ban read it as an hour older than its ban and kept enforcing it; failures went into the
   * group's windows an hour back). They wait in the outbox (failures are not counted group-wide, as
   * when offline) until then.
   */
  private clockSettled = false;

  constructor(
    private readonly settings: ShareSettings,
    private readonly deps: ShareDeps,
  ) {
    // (Checks the URL first, and its database names the group's channel: keys.ts.)
    const database = redisClientOptions(settings.url, undefined).database ?? 0;
    try {
      this.keys = groupKeys(settings.group, database);
    } catch (e) {
      throw new BanhammerError('BH_ERR_CONFIG', errText(e), { hint: 'BANHAMMER_SHARE_GROUP: letters, digits, _ . - (at most 64)', data: { group: settings.group } });
    }
    this.replicaId = settings.replicaId ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64) || 'replica'}-${process.pid}-${randomBytes(4).toString('hex')}`;
    if (!REPLICA_ID_RE.test(this.replicaId)) {
      throw new BanhammerError('BH_ERR_CONFIG', 'invalid share replica id', { hint: 'letters, digits, _ . : - (at most 128)', data: { replicaId: this.replicaId } });
    }
    this.maxBans = settings.maxBans ?? DEFAULT_MAX_BANS;
    // Bounded like the group's ban set, evicting in constant time (bounded-map.ts).
    this.own = new BoundedMap(this.maxBans);
    this.unbannedAt = new BoundedMap(this.maxBans);
    this.unbannedAgainAt = new BoundedMap(this.maxBans);
    this.maxBackoff = settings.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.hungAfter = settings.hungAfterMs ?? DEFAULT_HUNG_AFTER_MS;
    this.random = deps.random ?? Math.random;
    this.mono = deps.mono ?? (() => performance.now());
    this.clock = watchWallSteps(deps.clock, (st) => this.localStepped(st));
    this.warnings = new WarnLimiter(deps.clock);
    this.outbox = new Outbox(settings.outboxPath, settings.maxOutbox ?? DEFAULT_MAX_OUTBOX, deps.log, () => this.clock.now());
  }

  get connected(): boolean {
    return this.mainReady && this.subReady && !this.stopped;
  }

  stats(): ShareStats {
    return { ...this.counts, invalid: { ...this.counts.invalid }, connected: this.connected, inFlight: this.inFlight, outboxDepth: this.outbox.size, outboxDropped: this.outbox.dropped, clockOffsetMs: this.gclock.offset, groupClock: this.gclock.known };
  }

  restored(bans: { own: readonly SharedBan[]; adopted: readonly SharedBan[] }): void {
    if (this.events !== null) throw new Error('restored() comes before start()');
    const now = this.clock.now();
    for (const [list, own] of [
      [bans.own, true],
      [bans.adopted, false],
    ] as const) {
      for (const ban of list) {
        // Checked as a ban this replica would publish (the origin is not needed to check it).
        const checked = checkOutgoingBan({ ...ban, at: Math.trunc(ban.at), until: ban.until === null ? null : Math.trunc(ban.until), origin: this.replicaId }, now);
        if (!checked.ok) continue;
        const b = checked.value;
        const field = banField(b.ip, b.scope);
        const entry = this.restoredCheck.get(field) ?? (this.restoredCheck.size < this.maxBans ? {} : undefined);
        if (entry === undefined) continue;
        if (own) entry.own = b;
        else entry.adopted = b;
        this.restoredCheck.set(field, entry);
      }
    }
  }

  async start(events: ShareEvents): Promise<void> {
    if (this.events !== null) throw new Error('share stage already started');
    this.events = events;
    let password: string | undefined;
    if (this.settings.passwordFile != null) {
      try {
        password = (await readRegularFile(this.settings.passwordFile, MAX_SECRET_BYTES)).replace(/\r?\n$/, '');
      } catch (e) {
        throw new BanhammerError('BH_ERR_FILE', `cannot read the Redis password file ${this.settings.passwordFile}`, {
          hint: 'check BANHAMMER_REDIS_PASSWORD_FILE (a Docker secret is mounted under /run/secrets/)',
          cause: e,
          data: { path: this.settings.passwordFile },
        });
      }
    }
    if (this.settings.keyFile != null) {
      let key: Buffer;
      try {
        key = Buffer.from((await readRegularFile(this.settings.keyFile, MAX_SECRET_BYTES)).replace(/\r?\n$/, ''), 'utf8');
      } catch (e) {
        throw new BanhammerError('BH_ERR_FILE', `cannot read the share key file ${this.settings.keyFile}`, {
          hint: 'check BANHAMMER_SHARE_KEY_FILE (a Docker secret is mounted under /run/secrets/)',
          cause: e,
          data: { path: this.settings.keyFile },
        });
      }
      if (key.length < MIN_KEY_BYTES) {
        throw new BanhammerError('BH_ERR_CONFIG', `the share key in ${this.settings.keyFile} is shorter than ${MIN_KEY_BYTES} bytes`, {
          hint: 'use a random key, e.g. openssl rand -hex 32 > FILE, the same file for every replica of the group',
          data: { path: this.settings.keyFile },
        });
      }
      this.signer = createSigner(key, this.keys.group);
    }
    await this.outbox.load();
    if (this.outbox.invalidOnLoad > 0) this.deps.log.warn({ invalid: this.outbox.invalidOnLoad }, 'share: invalid entries in the outbox file dropped');
    for (const [field, op] of this.outbox.entries()) if (op.t === 'ban') this.rememberOwn(field, op.ban);

    const base = redisClientOptions(this.settings.url, password);
    const options: ClientOptions = {
      ...base,
      socket: {
        ...base.socket,
        connectTimeout: CONNECT_TIMEOUT_MS,
        reconnectStrategy: (retries: number) => {
          const step = Math.min(this.maxBackoff, 50 * 2 ** Math.min(retries, 16));
          return Math.max(10, Math.round(step / 2 + (this.random() * step) / 2));
        },
      },
      disableOfflineQueue: true,
      disableClientInfo: true,
      maintNotifications: 'disabled',
      commandsQueueMaxLength: MAX_IN_FLIGHT * 2,
    };
    // node-redis is loaded here, not at import: an agent without sharing never pays its ~10 MB of RSS.
    // The agent's esbuild bundle puts node-redis in a chunk of its own that exposes it as `default`
    // only; a plain ESM import (tests, tsx) has the named export.
    const mod = (await import('redis')) as typeof import('redis') & { default?: typeof import('redis') };
    const createClient = mod.createClient ?? mod.default!.createClient;
    // (Typed as the plain RESP2 client: only sendCommand, subscribe, events and close are used.)
    this.newClient = (main) => (main ? createClient({ ...options, pingInterval: 5_000 }) : createClient(options)) as unknown as Client;
    // Stopped while loading (a SIGTERM during start-up): nothing is opened that nobody would close.
    if (this.stopped) return;
    this.openConnections();
    this.watchdog = repeat(this.deps.clock, this.hungAfter / 3, () => this.checkAnswers(), () => undefined);

    const first = new Promise<void>((resolve) => {
      this.firstAttempt = resolve;
    });
    const timer = this.deps.clock.setTimeout(() => this.resolveFirst(), 3_000);
    await first;
    this.deps.clock.clearTimeout(timer);
  }

  /** Opens the two connections (commands, and the channel's subscription) and follows their state. */
  private openConnections(): void {
    const client = this.newClient!(true);
    const sub = this.newClient!(false);
    this.client = client;
    this.sub = sub;
    this.subscribed = false;
    this.probeSentAt = null;
    this.onAnswered = null;
    this.upAt = null;
    // Events of connections given up on (checkAnswers) are no longer this stage's business.
    const current = (): boolean => this.client === client && !this.stopped;

    client.on('error', (e: unknown) => current() && this.onConnectionError(e));
    sub.on('error', (e: unknown) => current() && this.onConnectionError(e));
    // Ready only once Redis has answered: a server that accepts connections but does not run
    // (stopped, swapped out, wedged) would otherwise be reported connected and given bans that never
    // arrive. checkAnswers() gives the connections up when the answer does not come.
    client.on('ready', () => {
      if (!current()) return;
      this.upAt = this.mono();
      this.onAnswered = () => {
        this.mainReady = true;
        this.maybeOnline();
      };
      this.probe(client);
    });
    sub.on('ready', () => {
      if (!current()) return;
      if (!this.subscribed) {
        this.subscribeOn(sub);
      } else {
        // node-redis re-subscribes by itself after a reconnection.
        this.subReady = true;
        this.maybeOnline();
      }
    });
    for (const [c, main] of [
      [client, true],
      [sub, false],
    ] as const) {
      const down = (): void => {
        if (!current()) return;
        const now = this.mono();
        if (this.upAt !== null) this.flaps = now - this.upAt < FLAP_MS ? this.flaps + 1 : 0;
        this.upAt = null;
        if (main) this.mainReady = false;
        else this.subReady = false;
        this.reportOffline(this.lastError ?? 'connection lost');
        if (this.flaps >= FLAP_LIMIT) this.pauseConnections();
      };
      c.on('end', down);
      c.on('reconnecting', down);
    }

    client.connect().catch(() => undefined);
    sub.connect().catch(() => undefined);
  }

  /**
   * Subscribes `sub` (ready) to the group's channel. Redis may refuse it while the connection stays
   * up (an ACL user without the channel, being edited): no 'ready' comes again to retry it, so the
   * watchdog does (subRetryAt), backing off from a round to MAX_RETRY_MS; the replica is offline
   * until then (reportOffline), and online again as soon as Redis accepts it.
   */
  private subscribeOn(sub: Client): void {
    this.subscribed = true;
    const current = (): boolean => this.sub === sub && !this.stopped;
    sub.subscribe(this.keys.events, (message: string) => this.onMessage(message)).then(
      () => {
        if (!current()) return;
        this.subRetryGap = 0;
        this.subReady = true;
        this.maybeOnline();
      },
      (e: unknown) => {
        if (!current()) return;
        this.subscribed = false;
        this.subRetryGap = Math.min(MAX_RETRY_MS, Math.max(this.hungAfter / 3, this.subRetryGap * 2));
        this.subRetryAt = this.mono() + this.subRetryGap;
        this.logError('subscribe', e, 'share: cannot subscribe to the group channel (check the ACL user: &banhammer:{group}:*)');
        this.reportOffline(errText(e));
      },
    );
  }

  /**
   * node-redis reconnects at once after a connection that was up is lost (its back-off is only for
   * failed connects): a server that accepts and drops every connection (a hostile or broken Redis, a
   * proxy) would be reconnected to dozens of times a second, for ever. After FLAP_LIMIT connections in
   * a row lost within FLAP_MS of coming up, both are cut and opened again after a back-off that grows
   * with each further flap, up to MAX_FLAP_BACKOFF_MS; a connection that stays up resets it.
   */
  private pauseConnections(): void {
    if (this.stopped || this.paused !== null) return;
    const old = [this.client, this.sub];
    this.client = null;
    this.sub = null;
    this.mainReady = false;
    this.subReady = false;
    for (const c of old) {
      try {
        c?.destroy();
      } catch {
        // already closed
      }
    }
    const step = Math.min(MAX_FLAP_BACKOFF_MS, this.maxBackoff * 2 ** Math.min(this.flaps - FLAP_LIMIT + 1, 10));
    const delay = Math.round(step / 2 + (this.random() * step) / 2);
    if (!this.flapSaid) {
      this.flapSaid = true;
      this.deps.log.warn({ group: this.keys.group, flaps: this.flaps }, `share: Redis drops every connection soon after it is made; reconnecting with back-off (${delay} ms, growing; said once)`);
    }
    this.paused = this.deps.clock.setTimeout(() => {
      this.paused = null;
      if (!this.stopped) this.openConnections();
    }, delay);
  }

  /**
   * PINGs Redis on `client`; once it answers PONG, onAnswered (set by 'ready') runs. An error reply
   * (`-LOADING` while a restarted Redis loads its data, `-BUSY`) or a lost connection leaves
   * onAnswered waiting: checkAnswers() PINGs again on its next round, and 'ready' after a reconnect.
   */
  private probe(client: Client): void {
    this.probeSentAt = this.mono();
    client.sendCommand(['PING']).then(
      () => {
        if (this.client !== client) return;
        this.probeSentAt = null;
        const then = this.onAnswered;
        this.onAnswered = null;
        then?.();
      },
      () => {
        if (this.client === client) this.probeSentAt = null;
      },
    );
  }

  /**
   * The watchdog: a connection whose PING has gone unanswered for hungAfter is given up on and both
   * are opened anew (node-redis waits for ever on a server that keeps the socket open but does not
   * answer). Until Redis answers again the stage is offline: bans wait in the outbox, failures count
   * locally, and status says so.
   */
  private checkAnswers(): void {
    if (this.stopped || this.client === null) return;
    // Ages and due times on the monotonic clock: on the wall clock, set back a day, a hung Redis went
    // unnoticed, a failed catch-up or subscription was not retried and the group's clock was not
    // measured again for that day (review H56).
    const now = this.mono();
    if (this.probeSentAt !== null) {
      if (now - this.probeSentAt < this.hungAfter) return;
      const why = `Redis has not answered for ${Math.round((now - this.probeSentAt) / 1000)} s`;
      this.counts.hung++;
      this.lastError = why;
      this.logError('hung', new Error(why), 'share: Redis does not answer; reconnecting');
      this.reopen(why);
      return;
    }
    if ((this.mainReady || this.onAnswered !== null) && this.client.isReady) this.probe(this.client);
    if (!this.subscribed && this.sub?.isReady === true && now >= this.subRetryAt) this.subscribeOn(this.sub);
    if (this.connected && now >= this.clockDueAt && this.clockMeasuring !== this.client) void (this.clockRun = this.measureClock(this.client));
    if (this.connected && this.going === null && now >= this.retryAt) {
      if (!this.caughtUp) this.maybeOnline();
      else if (this.outbox.size > 0) this.run(() => this.replayOutbox(this.clock.now()), 'outbox', 'share: the outbox could not be replayed; will retry');
      else this.checkEpoch(this.client);
    }
  }

  /**
   * This host's wall clock was stepped (wall-steps.ts): the group clock's offset moves with it at once
   * (Redis's clock did not), and it is measured again at the watchdog's next round.
   */
  private localStepped(s: WallStep): void {
    this.wallSteps++;
    this.gclock.localStepped(s.step);
    this.clockDueAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * Measures the group's clock on `client` (SAMPLES round trips of TIME; group-clock.ts) and takes it
   * unless it is refused; says in the log when this host's clock is more than WARN_OFFSET_MS off the
   * group's, and when Redis refuses TIME or answers a time that is refused. Never rejects: without a
   * measurement the offset stays what it was (0 before the first: this host's own clock).
   */
  private async measureClock(client: Client): Promise<void> {
    this.clockMeasuring = client;
    this.clockDueAt = this.mono() + MEASURE_EVERY_MS;
    const steps = this.wallSteps;
    try {
      const samples: ClockSample[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const m0 = this.mono();
        const w0 = this.clock.now();
        let reply: unknown;
        try {
          reply = await client.sendCommand(['TIME']);
        } catch (e) {
          const text = errText(e);
          if (/NOPERM|unknown command/i.test(text)) {
            if (!this.timeRefusedSaid) {
              this.timeRefusedSaid = true;
              this.deps.log.warn({ group: this.keys.group, error: text }, 'share: Redis refuses TIME (give the group\'s ACL user +time): this replica stamps what it shares with its own clock, and replicas whose clocks are apart do not agree on ban times (said once)');
            }
          } else this.logError('time', e, 'share: the group\'s clock (Redis TIME) could not be read; keeping the last offset');
          return;
        }
        const m1 = this.mono();
        const w1 = this.clock.now();
        const redisMs = parseRedisTime(reply);
        if (redisMs === null) {
          this.countInvalid('clock');
          return;
        }
        samples.push({ redisMs, wallMs: w0 + (w1 - w0) / 2, monoMs: m0 + (m1 - m0) / 2, rttMs: m1 - m0 });
      }
      if (this.client !== client || this.stopped) return;
      if (this.wallSteps !== steps) {
        // This host's clock was stepped between the samples' readings: measured again next round.
        this.clockDueAt = this.mono();
        return;
      }
      const v = this.gclock.take(samples);
      if (v.kind === 'far') {
        this.countInvalid('clock');
        this.logError('clock-far', new Error(`${Math.round(v.measured / 1000)} s`), 'share: Redis\'s clock (TIME) is more than a day from this host\'s; refused, keeping the last offset (check both clocks)');
      } else if (v.kind === 'disagree') {
        // One of the answers is no reading of a clock: measured again at the watchdog's next round.
        this.countInvalid('clock');
        this.clockDueAt = this.mono();
        this.logError('clock-disagree', new Error(`${Math.round(v.by / 1000)} s`), 'share: Redis\'s TIME answers of one measurement disagree; refused, keeping the last offset');
      } else if (v.kind === 'jump') {
        // Measured again at the watchdog's next round: CONFIRMATIONS in a row take it.
        this.clockDueAt = this.mono();
        this.logError('clock-jump', new Error(`${Math.round(v.by / 1000)} s`), 'share: Redis\'s clock (TIME) moved against this process\'s steady clock; not followed until measurements agree');
      } else if (v.kind === 'set') {
        const off = v.offset;
        const far = Math.abs(off) > WARN_OFFSET_MS;
        // Said when it becomes far, or moves by more than WARN_OFFSET_MS while far; and when it comes back.
        if (far && (this.offsetSaid === null || Math.abs(off - this.offsetSaid) > WARN_OFFSET_MS)) {
          this.offsetSaid = off;
          this.deps.log.warn({ group: this.keys.group, clockOffsetMs: off }, `share: this host's clock is ${Math.abs(Math.round(off / 1000))} s ${off > 0 ? 'behind' : 'ahead of'} the group's (Redis TIME); what it shares is converted to the group's clock (check the host's NTP)`);
        } else if (!far && this.offsetSaid !== null) {
          this.offsetSaid = null;
          this.deps.log.info({ group: this.keys.group, clockOffsetMs: off }, 'share: this host\'s clock agrees with the group\'s again');
        }
      }
    } finally {
      if (this.clockMeasuring === client) this.clockMeasuring = null;
    }
  }

  /** This host's time `t` in the group's clock. */
  private toGroup(t: number): number {
    return this.gclock.toGroup(t);
  }

  /** A ban's times in the group's clock (null: they would leave the times a message may hold). */
  private banToGroup(ban: SharedBan): SharedBan | null {
    return shifted(ban, -this.gclock.offset);
  }

  /** One of this replica's own bans, in turn (for checkEpoch). */
  private nextOwnSample(): [string, SharedBan] | undefined {
    if (this.own.size === 0) return undefined;
    for (let tries = 0; tries < 2; tries++) {
      this.ownCursor ??= this.own.entries();
      const n = this.ownCursor.next();
      if (!n.done) return n.value;
      this.ownCursor = null;
    }
    return undefined;
  }

  /**
   * Reads the data set's epoch and one of this replica's own bans in force, in turn (one script,
   * WATCH_SCRIPT): when the epoch is no longer the one the last catch-up saw, or the ban is gone or
   * replaced by a value that is no ban (Redis lost
   * its data with the connections up: FLUSHALL, a DEL, an eviction, a failover to an empty replica),
   * the stage catches up again as after a restart, re-publishing its own unexpired bans, so late
   * joiners and the group's hash converge on them as the README promises after a restart.
   */
  private checkEpoch(client: Client): void {
    if (this.epochReading || this.epoch === undefined || !this.caughtUp) return;
    this.epochReading = true;
    const was = this.epoch;
    const sample = this.nextOwnSample();
    // One script that ships no more than a ban (WATCH_SCRIPT): a plain GET and HGET downloaded
    // whatever was planted there, megabytes every round.
    this.eval(WATCH_SCRIPT, [this.keys.epoch, this.keys.bans], [sample?.[0] ?? '']).then(
      (r: unknown) => {
        this.epochReading = false;
        if (this.stopped || this.client !== client || !this.connected || this.epoch !== was) return;
        if (!Array.isArray(r)) return;
        const [v, held] = r as unknown[];
        if (v === was) {
          // Same data set; but one of our own bans in force is not stored (the hash deleted or
          // evicted), or in its place is a value that is no ban (the catch-up's read prunes it):
          // unless it was lifted or replaced meanwhile (then it is no longer ours), the group lost
          // it, and late joiners would never get it.
          if (sample === undefined || this.storesBan(sample[0], held) || this.own.get(sample[0]) !== sample[1] || isExpired(sample[1], this.clock.now()) || this.latest.has(sample[0]) || this.refusedFull.has(sample[1])) return;
          this.forceLost = true;
        }
        // At most once per LOSS_CATCH_UP_EVERY_MS: whoever holds the group's password could otherwise
        // delete the epoch every few seconds and make every replica store all its bans again each time.
        // (On the monotonic clock: on the wall clock, set back a day, a loss was not caught up that day.)
        const now = this.mono();
        if (now - this.lastLossCatchUp < LOSS_CATCH_UP_EVERY_MS) {
          this.forceLost = false;
          return;
        }
        this.lastLossCatchUp = now;
        this.deps.log.warn({ group: this.keys.group }, 'share: the group\'s data in Redis was lost under a live connection (FLUSHALL, DEL, eviction or failover); publishing this replica\'s bans again');
        this.maybeOnline();
      },
      // (A key of the wrong type is no error there: no epoch, or no ban stored, as above. Another
      // error, a refused command, says nothing of the data: the next round reads again.)
      () => {
        this.epochReading = false;
      },
    );
  }

  /**
   * Whether `held`, what WATCH_SCRIPT found under an own ban's field, is a ban (this replica's or one
   * that covers it): a value the validator refuses, or one without the group's signature, holds
   * none, and the group has lost this replica's ban as surely as if the field had been deleted.
   */
  private storesBan(field: string, held: unknown): boolean {
    if (typeof held !== 'string') return false;
    return parseStoredBan(field, held, this.toGroup(this.clock.now())).ok && this.signedOk(held);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watchdog?.stop();
    if (this.paused !== null) this.deps.clock.clearTimeout(this.paused);
    if (this.againTimer !== null) this.deps.clock.clearTimeout(this.againTimer);
    this.againTimer = null;
    this.unbansAgain.clear();
    if (this.ownAgainTimer !== null) this.deps.clock.clearTimeout(this.ownAgainTimer);
    this.ownAgainTimer = null;
    this.ownAgainPending.clear();
    this.ownAgainAt.clear();
    this.resolveFirst();
    // A catch-up in progress gets a moment to finish (a hung connection must not hold the agent's exit).
    if (this.going !== null) await Promise.race([this.going.catch(() => undefined), new Promise<void>((r) => setTimeout(r, 1_000).unref())]);
    await this.outbox.flush();
    for (const c of [this.sub, this.client]) {
      if (c === null) continue;
      // close() waits for the replies of what was sent: a Redis that does not answer gets a second,
      // then the connection is cut.
      const closed = c.isReady ? c.close().then(() => true, () => false) : Promise.resolve(false);
      const done = await Promise.race([closed, new Promise<false>((r) => setTimeout(() => r(false), 1_000).unref())]);
      if (!done) {
        try {
          c.destroy();
        } catch {
          // already closed
        }
      }
    }
    this.mainReady = false;
    this.subReady = false;
    // Bans and unbans still in flight on a cut connection come back to the outbox as their commands
    // are rejected (a turn of the event loop later): saved too.
    await new Promise<void>((r) => setImmediate(r));
    await this.outbox.flush();
  }

  failure(f: { ip: string; family: 4 | 6; rule: string; time: number; findtime: number; maxretry: number; scope?: string }): void {
    const c = canonicalClientIp(f.ip);
    const time = Math.trunc(f.time);
    if (
      c === null ||
      !SHARED_RULE_RE.test(f.rule) ||
      !Number.isFinite(time) || time < 0 || time > MAX_TIME_MS ||
      !Number.isInteger(f.findtime) || f.findtime < 1 || f.findtime > MAX_FINDTIME_MS ||
      !Number.isInteger(f.maxretry) || f.maxretry < 1 || f.maxretry > MAX_MAXRETRY ||
      (f.scope !== undefined && !SCOPE_RE.test(f.scope))
    ) {
      this.counts.failuresDropped++;
      return;
    }
    if (!this.connected || !this.clockSettled || this.inFlight >= MAX_IN_FLIGHT) {
      this.counts.failuresDropped++;
      return;
    }
    // Log time is this host's clock: in the group's window it is the group's, so that failures
    // counted at replicas whose clocks are apart fall in one window.
    const gtime = this.toGroup(time);
    if (!(gtime >= 0 && gtime <= MAX_TIME_MS)) {
      this.counts.failuresDropped++;
      return;
    }
    const ttl = Math.min(f.findtime + MAX_LATE_MS + 60_000, 400 * 86_400_000);
    this.inFlight++;
    this.pending.push({
      keys: [this.keys.failures(f.rule, c.ip, f.scope), this.keys.claim(f.rule, c.ip, f.scope)],
      args: [String(gtime), String(f.findtime), String(f.maxretry), `${this.replicaId}:${++this.seq}`, String(ttl)],
      offense: { ip: c.ip, family: c.family, rule: f.rule, at: time, ...(f.scope !== undefined ? { scope: f.scope } : {}) },
    });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Failures parsed in one tick (a chunk of log lines) go out as one script call per FAILURE_BATCH.
      setImmediate(() => this.flushFailures());
    }
  }

  private flushFailures(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (let i = 0; i < batch.length; i += FAILURE_BATCH) {
      const chunk = batch.slice(i, i + FAILURE_BATCH);
      const keys: string[] = [];
      // No replica counts a failure later than its clock plus SKEW_TOLERANCE_MS (a live log time
      // further ahead is counted as now): a member of a window stamped later was planted (lua.ts).
      const args: string[] = [String(MAX_LATE_MS), String(CLAIM_MS), String(this.toGroup(this.clock.now()) + SKEW_TOLERANCE_MS + CLOCK_SKEW_MS)];
      for (const p of chunk) {
        keys.push(...p.keys);
        args.push(...p.args);
      }
      this.counts.failuresSent += chunk.length;
      this.eval(FAILURES_SCRIPT, keys, args).then(
        (reply) => {
          this.inFlight -= chunk.length;
          if (!Array.isArray(reply) || reply.length !== 2 * chunk.length) return;
          chunk.forEach((p, j) => {
            const n: unknown = reply[2 * j];
            if (reply[2 * j + 1] !== 1 || typeof n !== 'number') return;
            this.counts.groupOffenses++;
            this.emit('onGroupOffense', () => this.events?.onGroupOffense({ ...p.offense, failures: n }));
          });
        },
        (e: unknown) => {
          this.inFlight -= chunk.length;
          this.counts.failuresDropped += chunk.length;
          this.logError('failure', e, 'share: failures could not be counted group-wide');
        },
      );
    }
  }

  publishBan(ban: SharedBan): void {
    const now = this.clock.now();
    const trunc = (x: number): number => (Number.isFinite(x) ? Math.trunc(x) : x);
    const checked = checkOutgoingBan({ ...ban, at: trunc(ban.at), until: ban.until === null ? null : trunc(ban.until), origin: this.replicaId }, now);
    if (!checked.ok) {
      this.logError(`ban-invalid-${checked.reason}`, new Error(checked.reason), 'share: a ban cannot be shared (invalid)');
      return;
    }
    const b = checked.value;
    const field = banField(b.ip, b.scope);
    this.rememberOwn(field, b);
    void this.send({ t: 'ban', ban: b });
  }

  publishUnban(u: { ip: string; family: 4 | 6; scope?: string }): Promise<GroupUnbanResult> {
    const c = sharedTarget(u.ip);
    if (c === null || (u.scope !== undefined && (c.network || !SCOPE_RE.test(u.scope)))) {
      this.logError('unban-invalid', new Error('invalid'), 'share: an unban cannot be shared (invalid)');
      return Promise.resolve('invalid');
    }
    const unban: SharedUnban = { ip: c.ip, family: c.family, origin: this.replicaId, at: this.clock.now(), ...(u.scope !== undefined ? { scope: u.scope } : {}) };
    const field = banField(c.ip, u.scope);
    this.own.delete(field);
    this.deleteRemote(field);
    this.noteUnban(field, unban.at);
    this.touchedWhileScanning(field, { unbanAt: unban.at });
    return this.send({ t: 'unban', unban }).then((r) => r ?? 'none');
  }

  heard(ip: string, now: number): SharedBan[] {
    const out: SharedBan[] = [];
    for (const field of this.remoteByIp.get(ip) ?? []) {
      const b = this.remote.get(field);
      if (b !== undefined && !isExpired(b, now)) out.push(b);
    }
    return out;
  }

  async snapshot(now: number): Promise<SharedBan[]> {
    if (!this.connected) return [];
    try {
      const out: SharedBan[] = [];
      await this.scanBans(now, (ban, _field, older) => {
        if (!older) out.push(ban);
      });
      return out;
    } catch (e) {
      this.logError('snapshot', e, 'share: cannot read the group bans');
      return [];
    }
  }

  // --- sending ---------------------------------------------------------------------------------

  /**
   * Sends one ban/unban now if online; otherwise (or if it fails) it waits in the outbox. Resolves
   * with what the group did with an unban ('queued': in the outbox); never rejects.
   */
  private send(op: OutboxOp): Promise<GroupUnbanResult | undefined> {
    const field = opField(op);
    // (Before the group's clock is first measured, as when offline: see clockSettled.)
    if (!this.connected || !this.clockSettled) {
      this.outbox.put(op);
      return Promise.resolve('queued');
    }
    // A live operation supersedes whatever the outbox held for that address.
    this.outbox.remove(field);
    this.latest.set(field, op);
    // In the order they were made, per address: an unban's EVALSHA answered NOSCRIPT (the first after
    // Redis forgot its scripts) was sent again as EVAL after the EVALSHA of a ban made just after it
    // (`banhammer unban X` then `ban X --for 10m`, README's way to shorten a shared ban): the ban was
    // "covered" by the old one the unban then lifted, and stored nowhere (H45).
    const prev = this.sending.get(field);
    const applied = prev === undefined ? this.apply(op) : prev.then(() => this.apply(op));
    const done = applied.then(
      () => undefined,
      () => undefined,
    );
    this.sending.set(field, done);
    void done.then(() => {
      if (this.sending.get(field) === done) this.sending.delete(field);
    });
    return applied.then(
      (r) => {
        if (this.latest.get(field) === op) this.latest.delete(field);
        return r;
      },
      (e: unknown) => {
        if (this.latest.get(field) === op) {
          this.latest.delete(field);
          if (!(op.t === 'ban' && isExpired(op.ban, this.clock.now()))) this.outbox.put(op);
        }
        this.logError('publish', e, 'share: a ban/unban could not be shared; kept in the outbox');
        return 'queued' as const;
      },
    );
  }

  /**
   * Validates a stored value a script held back for (see lua.ts): true when it is a ban (the script
   * was right); false, counted as invalid, when it is none and the script must be asked again.
   */
  private storedIsBan(field: string, value: unknown, now: number): boolean {
    const p = parseStoredBan(field, value, now);
    const ok = p.ok && this.signedOk(value);
    if (!p.ok) this.countInvalid(p.reason);
    else if (!ok) this.countInvalid('signature');
    return ok;
  }

  /**
   * Whether a stored ban that covers one of ours may never have been published: this replica did not
   * receive it (nor make it), and it was not sent within the last COVER_QUIET_MS (N replicas banning
   * one attacker at once: the first one's message may still be on its way to the others).
   */
  private coverUnheard(field: string, value: string, now: number): boolean {
    const p = parseMessage(value, this.toGroup(now));
    if (!p.ok || p.value.t !== 'ban') return false;
    // Stored by this replica itself: it published it when it stored it.
    if (p.value.ban.origin === this.replicaId) return false;
    // In this host's clock, as the bans heard here are (onMessage, scanBans); the offset each was
    // read with may differ from today's by a measurement: within the clocks' allowed skew.
    const known = this.clockOffsets.get(p.value.ban.origin) ?? 0;
    const off = this.gclock.offset + (known > CLOCK_SKEW_MS ? known : 0);
    const b = shifted(p.value.ban, off);
    if (b === null) return false;
    const near = (x: number | null, y: number | null): boolean => x === y || (x !== null && y !== null && Math.abs(x - y) <= CLOCK_SKEW_MS);
    const same = (k: SharedBan | undefined): boolean => k !== undefined && k.origin === b.origin && near(k.at, b.at) && near(k.until, b.until);
    if (same(this.remote.get(field)) || same(this.own.get(field))) return false;
    const sent = p.value.sent - off;
    return !(sent > now - COVER_QUIET_MS && sent <= now + CLOCK_SKEW_MS);
  }

  /**
   * `retry`: the op comes from the outbox, so an earlier attempt of it failed (or was never made): the
   * ban script may have stored it and then failed at its PUBLISH (a script is not undone by an error:
   * a user without +publish, an ACL being edited), and then this replica's own stored ban "covers" it.
   */
  private async apply(op: OutboxOp, retry = false): Promise<GroupUnbanResult | undefined> {
    const now = this.clock.now();
    // What goes to Redis is in the group's clock (the op keeps this host's: the outbox's too).
    const gnow = this.toGroup(now);
    if (op.t === 'ban') {
      const g = this.banToGroup(op.ban);
      if (g === null) {
        this.logError('ban-invalid-time', new Error('time'), 'share: a ban cannot be shared (invalid)');
        return undefined;
      }
      const json = this.seal(encodeBan(g, gnow));
      const field = banField(op.ban.ip, op.ban.scope);
      const store = async (): Promise<unknown> => {
        let refused = '';
        for (let attempt = 0; ; attempt++) {
          const r: unknown = await this.eval(BAN_SCRIPT, [this.keys.bans, this.keys.unbans], [field, json, g.until === null ? 'null' : String(g.until), String(this.maxBans), this.keys.events, String(g.at), String(COVER_SLACK_MS), String(CLOCK_SKEW_MS), String(gnow + CLOCK_SKEW_MS), refused]);
          // "Covered" by a stored value: only if that value is a ban. A value only the script's cjson
          // took for one ({"until":null}, another address's ban, an origin no replica has…) would
          // otherwise keep this address's bans from ever being shared.
          if (!(Array.isArray(r) && r[0] === 0 && typeof r[1] === 'string') || attempt >= MAX_REFUSED_RETRIES || this.storedIsBan(field, r[1], gnow)) return r;
          refused = r[1];
        }
      };
      let r = await store();
      // Full: the hash may hold bans that have ended (nothing removes them while the connection
      // stays up) or values that are no ban at all (planted): pruned, then asked once more. At most
      // once per PRUNE_EVERY_MS, so a group really holding maxBans bans is not read on every ban.
      if (r === -1 && this.mono() - this.lastFullPrune >= PRUNE_EVERY_MS) {
        this.lastFullPrune = this.mono();
        await this.scanBans(now, () => {});
        r = await store();
      }
      if (r === 1) this.counts.bansOut++;
      else if (Array.isArray(r) && r[0] === 0) {
        this.counts.bansCovered++;
        if (typeof r[1] === 'string' && (this.coverUnheard(field, r[1], now) || (retry && this.isOwnStored(r[1], op.ban, now)))) {
          // The stored ban that covers ours was never heard here and is no fresh one whose message
          // is on its way (planted with HSET and no PUBLISH, by anyone holding the group's password):
          // it would keep this ban from ever reaching the other replicas. Ours is published (not
          // stored: the stored one covers it), once, as the channel would have carried it.
          await this.client!.sendCommand(['PUBLISH', this.keys.events, json]);
          this.counts.bansOut++;
        }
      }
      else if (Array.isArray(r) && r[0] === -2) {
        // Lifted somewhere after it was made (while this replica was away): lift it here too. (The
        // tombstone is in the group's clock.)
        const at = this.gclock.toLocal(Number(r[1]));
        // The script ignores tombstones dated after now + skew; this side checks again (an unban
        // "from the future" would lift every ban of the address made until then, its own included).
        if (!(Number.isFinite(at) && at <= now + CLOCK_SKEW_MS)) return;
        this.counts.bansUnbannedSince++;
        if (this.own.get(field) === op.ban) this.own.delete(field);
        // A ban of the address made after that unban (give or take the skew), heard or made here
        // meanwhile (an outbox replayed after the channel told of a newer ban), stands: lifting the
        // address lifted it here for good, while the group holds it (h35).
        const since = this.own.get(field) ?? this.remote.get(field);
        if (since !== undefined && since.at - CLOCK_SKEW_MS > at) {
          this.noteUnban(field, at);
          return undefined;
        }
        if ((this.unbannedAt.get(field) ?? -1) < at) {
          this.deleteRemote(field);
          this.liftedByGroup(field, op.ban, at);
        }
      }
      else if (r === -1) {
        this.refusedFull.add(op.ban);
        this.counts.bansRefusedFull++;
        this.logError('full', new Error('full'), `share: the group holds ${this.maxBans} bans; new shared bans are refused`);
      }
      return undefined;
    }
    const field = banField(op.unban.ip, op.unban.scope);
    const gat = this.toGroup(op.unban.at);
    if (!(gat >= 0 && gat <= MAX_TIME_MS)) {
      this.logError('unban-invalid', new Error('time'), 'share: an unban cannot be shared (invalid)');
      return 'invalid';
    }
    const json = this.seal(encodeUnban({ ...op.unban, at: gat }, gnow));
    let refused = '';
    for (let attempt = 0; ; attempt++) {
      const r = await this.eval(UNBAN_SCRIPT, [this.keys.bans, this.keys.unbans], [
        field,
        json,
        this.keys.events,
        String(gat),
        String(this.maxBans),
        String(TOMBSTONE_MS),
        String(gnow + CLOCK_SKEW_MS),
        refused,
      ]);
      if (!Array.isArray(r)) throw new Error('unexpected unban reply');
      if (r[0] === 1) {
        this.counts.unbansOut++;
        // What it removed says whether the group banned the address: a valid ban, not ended by this
        // clock, or by less than the day a replica's clock may be behind (as the validator allows a
        // day ahead): this replica's own clock running ahead must not make it answer "not banned".
        // (In the group's clock, as stored.)
        const p = typeof r[1] === 'string' ? parseStoredBan(field, r[1], gnow) : null;
        return p !== null && p.ok && this.signedOk(r[1]) && !isExpired(p.value, gnow - MAX_FUTURE_MS) ? 'lifted' : 'none';
      }
      // "A newer ban stands": only if what stands is a ban (one hostile value made every unban of
      // the address fail, silently, for as long as it was there).
      if (typeof r[1] !== 'string' || attempt >= MAX_REFUSED_RETRIES || this.storedIsBan(field, r[1], gnow)) {
        this.counts.unbansStale++;
        return 'newer';
      }
      refused = r[1];
    }
  }

  private async eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    const client = this.client;
    if (client === null) throw new Error('not started');
    try {
      try {
        return await client.sendCommand(['EVALSHA', script.sha1, String(keys.length), ...keys, ...args]);
      } catch (e) {
        if (!errText(e).startsWith('NOSCRIPT')) throw e;
        return await client.sendCommand(['EVAL', script.source, String(keys.length), ...keys, ...args]);
      }
    } catch (e) {
      if (errText(e).startsWith('READONLY')) this.onReadOnly(client, errText(e));
      throw e;
    }
  }

  /**
   * Redis answered READONLY: the server these connections reach is a read-only replica now (a
   * failover promoted another one, and the name in the URL, a Sentinel-managed address or a cloud
   * primary endpoint, now points there). The connections were kept: every ban, unban and failure
   * failed for good while status said connected, since a reconnection, which resolves the name again,
   * never came. Both connections are opened anew, at most once per READONLY_REOPEN_MS (a URL that
   * names a replica for good must not make a reconnection per operation); the operations that failed
   * wait in the outbox and are replayed by the catch-up.
   */
  private onReadOnly(client: Client, error: string): void {
    if (this.stopped || this.client !== client) return;
    const now = this.clock.now();
    if (now - this.readOnlyAt < READONLY_REOPEN_MS && now >= this.readOnlyAt) return;
    this.readOnlyAt = now;
    this.lastError = error;
    this.logError('readonly', new Error(error), 'share: Redis is a read-only replica (after a failover?); reconnecting');
    this.reopen(error);
  }

  /** Gives up both connections and opens them anew (a hung server, a read-only replica). */
  private reopen(why: string): void {
    const old = [this.client, this.sub];
    this.mainReady = false;
    this.subReady = false;
    this.reportOffline(why);
    this.openConnections();
    for (const c of old) {
      try {
        c?.destroy();
      } catch {
        // already closed
      }
    }
  }

  /** Records how far `origin`'s clock is ahead as measured now; returns the offset to apply to its times (0: none). */
  private learnOffset(origin: string, measured: number): number {
    if (!Number.isFinite(measured) || measured > MAX_FUTURE_MS) return 0;
    const ahead = Math.max(0, measured);
    this.clockOffsets.set(origin, ahead);
    return ahead > CLOCK_SKEW_MS ? ahead : 0;
  }

  /**
   * The offset to apply to a stored ban's times: its origin's, when this replica heard from it; else a
   * ban that starts after now (plus the skew) was made by a clock that far ahead at least, which is
   * then taken as that origin's offset (so the next catch-up does not start the ban over again).
   */
  private storedOffset(ban: SharedBan, now: number): number {
    const known = this.clockOffsets.get(ban.origin);
    if (known !== undefined) return known > CLOCK_SKEW_MS ? known : 0;
    if (ban.at - now <= CLOCK_SKEW_MS) return 0;
    return this.learnOffset(ban.origin, ban.at - now);
  }

  /**
   * Whether the stored value is this very ban as this replica stored it (a retry of an op whose first
   * attempt stored it and may have failed before publishing it: it is published, once; a duplicate
   * message is the same ban to the others).
   */
  private isOwnStored(value: string, ban: SharedBan, now: number): boolean {
    const p = parseMessage(value, this.toGroup(now));
    if (!p.ok || p.value.t !== 'ban' || p.value.ban.origin !== this.replicaId) return false;
    // Stored in the group's clock, with the offset of that attempt (a measurement may have moved it since).
    const b = shifted(p.value.ban, this.gclock.offset);
    const near = (x: number | null, y: number | null): boolean => x === y || (x !== null && y !== null && Math.abs(x - y) <= CLOCK_SKEW_MS);
    return b !== null && near(b.at, ban.at) && near(b.until, ban.until);
  }

  /** What this replica writes, signed when the group has a key. */
  private seal(json: string): string {
    return this.signer === null ? json : this.signer.sign(json);
  }

  /** Whether a value read from Redis carries the group's signature (always, without a key). */
  private signedOk(raw: unknown): boolean {
    return this.signer === null || (typeof raw === 'string' && this.signer.verify(raw));
  }

  /** An unban of `field`, or a ban of it, was heard (or made) while reads of the hash run (scansTouched). */
  private touchedWhileScanning(field: string, said: { unbanAt: number } | { ban: SharedBan }): void {
    for (const t of this.scansTouched) {
      const was = t.get(field) ?? { unbanAt: -Infinity, banAt: -Infinity, banUntil: -Infinity };
      if ('unbanAt' in said) {
        if (said.unbanAt > was.unbanAt) t.set(field, { ...was, unbanAt: said.unbanAt });
      } else if (said.ban.at > was.banAt || (said.ban.at === was.banAt && untilOf(said.ban) > was.banUntil)) {
        t.set(field, { ...was, banAt: said.ban.at, banUntil: untilOf(said.ban) });
      }
    }
  }

  private noteUnban(field: string, at: number): void {
    if ((this.unbannedAt.get(field) ?? -1) >= at) return;
    this.unbannedAt.set(field, at);
  }

  private rememberOwn(field: string, ban: SharedBan): void {
    this.own.set(field, ban);
  }

  // --- receiving -------------------------------------------------------------------------------

  private onMessage(message: unknown): void {
    const now = this.clock.now();
    // A message's times are in the group's clock (gclock): validated there, then read in this host's.
    const gnow = this.toGroup(now);
    const p = parseMessage(message, gnow);
    if (!p.ok) {
      this.countInvalid(p.reason);
      return;
    }
    // Checked after the validator's length cap (no key is hashed over a huge value).
    if (!this.signedOk(message)) {
      this.countInvalid('signature');
      return;
    }
    const m = p.value;
    const goff = this.gclock.offset;
    m.sent -= goff;
    // A signed message is only as good as it is fresh: one recorded off the channel and published again
    // later (by anyone who can write to it, without the key) would otherwise ban again an address the
    // group has unbanned since, wherever that unban is not remembered (a restarted replica). Every
    // message is published as it is sent (an outbox replay is sent anew), so one sent long before now
    // is a replay. (Without a key anyone can write any message: there is nothing to keep fresh.)
    if (this.signer !== null && m.sent < now - MAX_SIGNED_AGE_MS) {
      this.countInvalid('replay');
      return;
    }
    const origin = m.t === 'ban' ? m.ban.origin : m.unban.origin;
    if (origin === this.replicaId) {
      this.counts.echoes++;
      return;
    }
    this.deps.onLag?.(Math.min(MAX_LAG_MS, Math.max(0, now - m.sent)));
    // Times in this replica's clock when the sender's runs ahead (see clockOffsets): a sender an hour
    // ahead stretched each of its bans by the hour here.
    const off = this.learnOffset(origin, m.sent - now) + goff;
    if (m.t === 'ban') {
      const ban = shifted(m.ban, off);
      if (ban === null) {
        this.countInvalid('time');
        return;
      }
      this.touchedWhileScanning(banField(ban.ip, ban.scope), { ban });
      if (isExpired(ban, now)) return;
      this.deliverBan(ban);
    } else {
      if (off !== 0) {
        const at = m.unban.at - off;
        if (!(at >= 0 && at <= MAX_TIME_MS)) {
          this.countInvalid('time');
          return;
        }
        m.unban.at = at;
      }
      const field = banField(m.unban.ip, m.unban.scope);
      this.touchedWhileScanning(field, { unbanAt: Math.min(m.unban.at, now + CLOCK_SKEW_MS) });
      // Another replica sent an unban this one was about to send again (or a newer one): the group's
      // script lifted the stale ban (it publishes only then), so this one's would only repeat it.
      // Counted against this replica's budget: N replicas that read the same stale bans send them
      // again about as fast as one.
      // Only one sent since it was queued (give or take the clocks' skew): with a key, a signed
      // message is accepted for MAX_SIGNED_AGE_MS, and anyone who can publish replayed the unban the
      // group published a moment before the stale ban came back (an old dump), which every replica
      // then dropped: nothing sent it, and the stale ban stayed in the hash for late joiners (H45).
      const again = this.unbansAgain.get(field);
      if (again !== undefined && m.unban.at >= again.at && m.sent >= again.since - CLOCK_SKEW_MS) {
        this.unbansAgain.delete(field);
        this.againTokens = Math.max(-UNBAN_AGAIN_BURST, this.againTokens - 1);
      }
      // An unban lifts only a ban made before it (give or take the clocks' skew), as the group's
      // script lifts only an older stored one: an unban replayed from an outbox after an outage, or
      // one that crossed a newer ban in flight, must not lift a ban made since, here or elsewhere
      // (this replica would drop its own ban and never publish it again). A ban dated after this
      // replica's clock (plus the skew) is from a clock running ahead or a hostile member: it never
      // counts as newer (as in UNBAN_SCRIPT), or no unban could lift it until then.
      // A ban restored from the state file that the first catch-up has not checked yet (checkRestored)
      // is held too: the ban book holds it, and lifting it there for an older unban lost it here
      // while the catch-up stored it again for every other replica.
      const pending = this.restoredCheck.get(field);
      const restored = pending?.own !== undefined && (pending.adopted === undefined || pending.own.at >= pending.adopted.at) ? pending.own : pending?.adopted;
      const held = this.own.get(field) ?? this.remote.get(field) ?? restored;
      if (held !== undefined && held.at - CLOCK_SKEW_MS > m.unban.at && held.at <= now + CLOCK_SKEW_MS) {
        this.counts.unbansStale++;
        this.noteUnban(field, Math.min(m.unban.at, now + CLOCK_SKEW_MS));
        // An unban is published only once the group stores no ban of the address (UNBAN_SCRIPT): an
        // own ban it did not lift is not stored, as when an older stored ban covered it and an unban
        // made between the two (replayed from an outbox) lifted that one. Stored again now (a ban
        // script: nothing if another stored ban covers it); left alone, the other replicas and late
        // joiners lost it until the watchdog's sampling of one own ban per round came to it (h35).
        // Within a budget per address (storeOwnAgain), never dropped.
        if (this.own.get(field) === held) this.storeOwnAgain(field);
        // What this replica adopted of it, made before the unban, the group lifted: lifted here too,
        // own bans kept (the book held the group's longer ban in place of ours: a permanent ban the
        // others lifted stayed in force here).
        const heard = this.remote.get(field);
        if (heard !== undefined && !(heard.at - CLOCK_SKEW_MS > m.unban.at)) {
          this.deleteRemote(field);
          this.liftedByGroup(field, heard, m.unban.at, m.unban.origin, true);
        }
        return;
      }
      this.deleteRemote(field);
      this.own.delete(field);
      // An unban cannot have happened later than now (give or take the clocks' skew): one dated in
      // the future (the validator allows a day) would make this replica ignore every ban of the
      // address made until then.
      this.noteUnban(field, Math.min(m.unban.at, now + CLOCK_SKEW_MS));
      this.counts.unbansIn++;
      this.emit('onRemoteUnban', () => this.events?.onRemoteUnban(m.unban));
    }
  }

  private deliverBan(ban: SharedBan): void {
    const field = banField(ban.ip, ban.scope);
    // A ban made before this replica last heard of (or made) an unban of that address is stale: a
    // replica re-publishing after an outage, racing the unban's replay.
    if ((this.unbannedAt.get(field) ?? -Infinity) - CLOCK_SKEW_MS >= ban.at) {
      this.counts.bansStale++;
      this.unbanAgain(field, ban);
      return;
    }
    const known = this.remote.get(field);
    // The same ban again (the channel, then a catch-up): its times are translated from its origin's
    // clock by an offset measured anew each time (clockOffsets), a few ms apart, never as far as the
    // skew allowed between clocks.
    const sameUntil = known !== undefined && (known.until === ban.until || (known.until !== null && ban.until !== null && Math.abs(known.until - ban.until) <= CLOCK_SKEW_MS));
    if (known !== undefined && sameUntil && known.origin === ban.origin && known.rule === ban.rule) {
      // Heard again while a catch-up reads the hash (stored again by its maker after Redis lost it):
      // stored now, whatever that read returns (step 4).
      this.heardWhileReading?.add(field);
      return;
    }
    // At most maxBans remote bans in force are delivered: the group's hash holds no more, but anyone
    // on the channel can publish bans of distinct addresses without end, and each delivered one is a
    // ban in the book and the kernel. Forgetting the oldest to make room would not lift it there.
    if (known === undefined && this.remote.size >= this.maxBans && !this.roomForRemote()) {
      this.countInvalid('full');
      this.logError('remote-full', new Error('full'), `share: ${this.maxBans} bans from the group are in force; further ones are refused until some end`);
      return;
    }
    // Another replica's ban replaces ours for that address (it was stored over ours, or after an
    // unban), unless it is not newer than ours: one older heard late (stored before ours, which it
    // then covered; replayed from an outbox) left this replica holding no own ban, so an unban made
    // between the two lifted its newer ban here and nothing stored it again; and so did our own ban
    // as an earlier run of this agent stored it (another replica id, the same time), read back after
    // a restart (h35). Both are then kept, ours the newer (what an unban is measured against:
    // onMessage, apply).
    const mine = this.own.get(field);
    if (mine !== undefined && mine.at < ban.at) this.own.delete(field);
    this.setRemote(field, ban);
    this.counts.bansIn++;
    this.emit('onRemoteBan', () => this.events?.onRemoteBan(ban));
  }

  /**
   * A ban of `field` made before its last unban this replica knows of was heard on the channel or read
   * in the group's hash: the group lost that unban's tombstone (a failover to a replica that missed
   * it, a restart from an old dump, a FLUSHALL or an eviction while the ban's maker was away, which
   * then stored it again), and the ban would come back at every late joiner and every replica
   * restarted. The unban is sent again, as made then (UNBAN_SCRIPT lifts only bans made before it,
   * and writes its tombstone again), at most once per UNBAN_AGAIN_EVERY_MS for an address, and
   * within the replica's budget across addresses: queued here, sent by drainUnbansAgain.
   */
  private unbanAgain(field: string, ban: SharedBan): void {
    if (this.stopped || !this.unbanAgainDue(field, ban.at)) return;
    // Its maker's clock is off this one's (no group clock, README): which came first is not known.
    if ((this.clockOffsets.get(ban.origin) ?? 0) > CLOCK_SKEW_MS) return;
    const queued = this.unbansAgain.get(field);
    if (queued !== undefined) {
      if (ban.at > queued.at) queued.at = ban.at;
      return;
    }
    // As many as the group holds bans (unbannedAt holds no more): beyond, a later catch-up finds them.
    if (this.unbansAgain.size >= this.maxBans) return;
    this.unbansAgain.set(field, { at: ban.at, since: this.clock.now() });
    this.scheduleUnbansAgain();
  }

  /** Whether `field`'s last unban known here is due to be sent again for a stale ban made at `banAt`. */
  private unbanAgainDue(field: string, banAt: number): boolean {
    const at = this.unbannedAt.get(field);
    if (at === undefined || at - CLOCK_SKEW_MS < banAt || this.latest.has(field) || this.outbox.has(field)) return false;
    // A ban of it in force here (made after that unban): the address is banned, as the stored one says.
    if (this.own.has(field) || this.remote.has(field)) return false;
    const now = this.clock.now();
    const last = this.unbannedAgainAt.get(field);
    return !(last !== undefined && now - last < UNBAN_AGAIN_EVERY_MS && now >= last);
  }

  /** Arms the drain of unbansAgain: the first tick after a random wait (the replica that draws the shortest sends first, the others hear it). */
  private scheduleUnbansAgain(delay = this.random() * UNBAN_AGAIN_JITTER_MS): void {
    if (this.againTimer !== null || this.stopped || this.unbansAgain.size === 0) return;
    this.againTimer = this.deps.clock.setTimeout(() => {
      this.againTimer = null;
      this.drainUnbansAgain();
    }, delay);
  }

  /**
   * Sends queued unbans again, picked at random, within the budget: UNBAN_AGAIN_PER_SECOND, at most
   * UNBAN_AGAIN_IN_FLIGHT awaiting their reply; the rest wait for the next tick. Offline, they wait
   * (the catch-up that follows may find their stale bans again: queued once).
   */
  private drainUnbansAgain(): void {
    if (this.stopped) return;
    const t = this.mono();
    if (this.againRefilledAt !== null) this.againTokens = Math.min(UNBAN_AGAIN_BURST, this.againTokens + (Math.max(0, t - this.againRefilledAt) * UNBAN_AGAIN_PER_SECOND) / 1_000);
    this.againRefilledAt = t;
    if (this.connected && this.clockSettled) {
      let skips = 0;
      while (this.againTokens >= 1 && this.againInFlight < UNBAN_AGAIN_IN_FLIGHT && skips < UNBAN_AGAIN_SKIPS) {
        const next = this.unbansAgain.take(this.random);
        if (next === undefined) break;
        const [field, { at: banAt }] = next;
        // What changed since it was queued: the address banned again, unbanned anew, sent meanwhile.
        if (!this.unbanAgainDue(field, banAt)) {
          skips++;
          continue;
        }
        const { ip, scope } = parseScopedKey(field);
        this.againTokens--;
        this.againInFlight++;
        this.unbannedAgainAt.set(field, this.clock.now());
        const unban: SharedUnban = { ip, family: ip.includes(':') ? 6 : 4, origin: this.replicaId, at: this.unbannedAt.get(field)!, ...(scope !== undefined ? { scope } : {}) };
        void this.send({ t: 'unban', unban }).finally(() => this.againInFlight--);
      }
    }
    // Each wait drawn anew (half to one and a half ticks): replicas that started in step do not stay in it.
    this.scheduleUnbansAgain(UNBAN_AGAIN_TICK_MS * (0.5 + this.random()));
  }

  /**
   * Stores this replica's own ban of `field` again (a ban script: nothing if a stored ban covers it)
   * for a stale unban heard: at once if it was not stored again within STORE_OWN_AGAIN_MS and no
   * operation of it is awaiting its reply, else once at the end of that time. Each stale unban the
   * group published says the hash did not hold this ban when its script ran (it lifts only older
   * bans, and publishes only then): the store must come after the last one heard, so one heard
   * meanwhile is deferred, never dropped (the one in flight may have run before it, and been covered
   * by the ban it lifted). What waits in the outbox is sent by the catch-up.
   */
  private storeOwnAgain(field: string): void {
    if (this.stopped || this.outbox.has(field)) return;
    const ban = this.own.get(field);
    if (ban === undefined) return;
    const t = this.mono();
    const last = this.ownAgainAt.get(field);
    if ((last === undefined || t - last >= STORE_OWN_AGAIN_MS || t < last) && !this.latest.has(field)) {
      this.ownAgainAt.set(field, t);
      void this.send({ t: 'ban', ban });
    } else this.ownAgainPending.add(field);
    this.armOwnAgain();
  }

  private armOwnAgain(): void {
    if (this.ownAgainTimer !== null || this.stopped || (this.ownAgainAt.size === 0 && this.ownAgainPending.size === 0)) return;
    this.ownAgainTimer = this.deps.clock.setTimeout(() => {
      this.ownAgainTimer = null;
      if (this.stopped) return;
      const t = this.mono();
      for (const [field, at] of this.ownAgainAt) if (t - at >= STORE_OWN_AGAIN_MS || t < at) this.ownAgainAt.delete(field);
      const due = [...this.ownAgainPending].filter((f) => !this.ownAgainAt.has(f));
      for (const field of due) {
        this.ownAgainPending.delete(field);
        this.storeOwnAgain(field);
      }
      this.armOwnAgain();
    }, STORE_OWN_AGAIN_MS / 4);
  }

  /** `remote.set`, as the newest entry, keeping remoteByIp. */
  private setRemote(field: string, ban: SharedBan): void {
    this.deleteRemote(field);
    this.remote.set(field, ban);
    this.heardWhileReading?.add(field);
    const fields = this.remoteByIp.get(ban.ip);
    if (fields !== undefined) fields.add(field);
    else this.remoteByIp.set(ban.ip, new Set([field]));
  }

  /** `remote.delete`, keeping remoteByIp. */
  private deleteRemote(field: string): void {
    const b = this.remote.get(field);
    if (b === undefined) return;
    this.remote.delete(field);
    const fields = this.remoteByIp.get(b.ip);
    if (fields !== undefined && fields.delete(field) && fields.size === 0) this.remoteByIp.delete(b.ip);
  }

  /** Drops expired remote bans (at most once a second); is there room for one more now? */
  private roomForRemote(): boolean {
    const now = this.clock.now();
    if (now - this.remoteSweptAt >= 1_000 || now < this.remoteSweptAt) {
      this.remoteSweptAt = now;
      for (const [field, b] of this.remote) if (isExpired(b, now)) this.deleteRemote(field);
    }
    return this.remote.size < this.maxBans;
  }

  /**
   * Reads the group's hash step by step; calls `each` for every valid unexpired ban, prunes expired
   * and invalid ones. Resolves false when it stopped before the end (more than maxBans bans, or a
   * flood of entries): the bans it did not get to were not seen, which says nothing about them.
   * `older`: the entry was read before an unban of its address made no earlier, or a ban of it made
   * no earlier that covers it, was heard (see scanBansPruning): it is stored, but says nothing newer
   * than what was heard.
   */
  private async scanBans(now: number, each: (ban: SharedBan, field: string, older: boolean) => void): Promise<boolean> {
    // Expired and invalid entries are pruned compare-and-delete (PRUNE_SCRIPT), all of them done
    // before this resolves (a full hash is pruned, then asked again: see apply).
    const prunes: Promise<unknown>[] = [];
    // What is said of an address while this read runs (scansTouched; see scanBansPruning).
    const touched = new Map<string, Touched>();
    this.scansTouched.add(touched);
    try {
      return await this.scanBansPruning(now, each, prunes, touched);
    } finally {
      this.scansTouched.delete(touched);
      await Promise.all(prunes);
    }
  }

  private async scanBansPruning(now: number, each: (ban: SharedBan, field: string, older: boolean) => void, prunes: Promise<unknown>[], touched: Map<string, Touched>): Promise<boolean> {
    let cursor = '0';
    let examined = 0;
    let valid = 0;
    // Stored times are in the group's clock.
    const gnow = this.toGroup(now);
    // A turn of the event loop every SLICE_MS: one step's entries (SCAN_COUNT) each validated, and
    // each new one adopted by the ban book, held it for 0.2 to 0.4 s per step while a replica caught
    // up with a group of 100,000 bans (review H52). What the channel says from when a step is asked
    // for (`touched`) may come after Redis read it (the channel is another connection; and the
    // step is worked through over several turns): an entry of a ban made no later than an unban of
    // its address said meanwhile, or covered by a ban of it said meanwhile and made no earlier, is
    // older news, and `each` is told so (a ban the group lifted meanwhile was adopted again from it,
    // and held here for its whole length; a ban heard meanwhile was replaced by the one it had
    // replaced in the group). A newer or longer one stands (a replayed old message, or a shorter
    // ban published over a stored one, must not hide it).
    const turns = sliceTurns();
    do {
      // From when the step is asked for: Redis may read it after a message this replica then hears
      // first (the channel is another connection).
      touched.clear();
      const r = await this.eval(SCAN_SCRIPT, [this.keys.bans], [cursor, String(SCAN_COUNT), String(MAX_MESSAGE_CHARS)]);
      if (!Array.isArray(r) || r.length < 3 || typeof r[0] !== 'string') throw new Error('unexpected scan reply');
      cursor = r[0];
      // Entries the script deleted unread: too long, or not ASCII (see SCAN_SCRIPT).
      if (typeof r[1] === 'number' && r[1] > 0) this.countInvalid('too-long', r[1]);
      if (typeof r[2] === 'number' && r[2] > 0) this.countInvalid('encoding', r[2]);
      for (let i = 3; i + 1 < r.length; i += 2) {
        const turn = turns();
        if (turn !== undefined) await turn;
        const field: unknown = r[i];
        const value: unknown = r[i + 1];
        examined++;
        let p = parseStoredBan(field, value, gnow);
        if (p.ok) {
          // In this replica's clock: from the group's (gclock), then by the offset measured from the
          // origin's messages, or, for an origin never heard, at least not starting in the future (a
          // replica whose times are its own clock's, running ahead: see clockOffsets).
          const l = shifted(p.value, this.gclock.offset);
          const b = l === null ? null : shifted(l, this.storedOffset(l, now));
          p = !this.signedOk(value) ? { ok: false, reason: 'signature' } : b === null ? { ok: false, reason: 'time' } : { ok: true, value: b };
        }
        if (!p.ok || isExpired(p.value, now)) {
          if (!p.ok) this.countInvalid(p.reason);
          if (typeof field === 'string' && typeof value === 'string') prunes.push(this.eval(PRUNE_SCRIPT, [this.keys.bans], [field, value]).catch(() => undefined));
          continue;
        }
        if (++valid > this.maxBans) {
          this.logError('read-full', new Error('full'), `share: the group holds more than ${this.maxBans} bans; the rest are ignored`);
          return false;
        }
        const said = touched.size > 0 ? touched.get(field as string) : undefined;
        each(p.value, field as string, said !== undefined && (p.value.at <= said.unbanAt || (p.value.at <= said.banAt && untilOf(p.value) <= said.banUntil)));
      }
      if (examined > this.maxBans * 2 + SCAN_COUNT) {
        this.logError('read-flood', new Error('flood'), 'share: the group hash holds far more entries than maxBans; stopped reading');
        return false;
      }
    } while (cursor !== '0');
    return true;
  }

  // --- connection state ------------------------------------------------------------------------

  private onConnectionError(e: unknown): void {
    this.lastError = errText(e);
    // A connect refused or timed out: the server was really down (a restart), not dropping what it
    // accepts: no flap.
    if (/ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|Connection timeout/i.test(this.lastError)) this.flaps = 0;
    if (!this.connected) this.reportOffline(this.lastError);
  }

  private resolveFirst(): void {
    const f = this.firstAttempt;
    this.firstAttempt = null;
    f?.();
  }

  private reportOffline(error: string): void {
    if (this.stopped) return;
    if (this.reported === false) return;
    this.reported = false;
    this.deps.log.warn({ error, group: this.keys.group }, 'share: Redis unreachable; working alone (local counts, bans kept in the outbox) until it returns');
    this.emit('onStatus', () => this.events?.onStatus({ connected: false, error }));
    this.resolveFirst();
  }

  private maybeOnline(): void {
    if (!this.connected) return;
    if (this.going !== null) {
      this.goAgain = true;
      return;
    }
    this.caughtUp = false;
    this.run(() => this.goOnline(), 'online', 'share: catching up with the group failed; will retry', () => (this.caughtUp = true));
  }

  /** Runs one catch-up task (never two at once); a failure is retried later by the watchdog, backing off. */
  private run(task: () => Promise<void>, kind: string, msg: string, done?: () => void): void {
    this.going = task()
      .then(
        () => {
          this.retryGap = 0;
          this.retryAt = Number.NEGATIVE_INFINITY;
          done?.();
        },
        (e: unknown) => {
          this.retryGap = Math.min(MAX_RETRY_MS, Math.max(this.hungAfter / 3, this.retryGap * 2));
          this.retryAt = this.mono() + this.retryGap;
          this.logError(kind, e, msg);
        },
      )
      .finally(() => {
        this.going = null;
        if (this.goAgain) {
          this.goAgain = false;
          this.maybeOnline();
        }
      });
  }

  /** Both connections are ready: say so, then catch up with the group. */
  private async goOnline(): Promise<void> {
    if (this.reported !== true) {
      const wasDown = this.reported === false;
      this.reported = true;
      this.deps.log.info({ group: this.keys.group, replicaId: this.replicaId, outbox: this.outbox.size }, wasDown ? 'share: Redis is back' : 'share: connected to Redis');
      this.emit('onStatus', () => this.events?.onStatus({ connected: true }));
    }
    try {
      await this.catchUp();
    } finally {
      // start() resolves once the first catch-up is done (stored bans delivered), or after 3 s.
      this.resolveFirst();
    }
  }

  private async catchUp(): Promise<void> {
    // The group's clock first: everything below converts times with it.
    const measuredOn = this.client;
    // One already running on this connection (the watchdog's, started as it connected) is waited
    // for: the clock is settled only once a measurement has ended.
    if (measuredOn !== null) await (this.clockMeasuring === measuredOn ? this.clockRun : (this.clockRun = this.measureClock(measuredOn)));
    // (Measured on the connection still in use: one lost meanwhile measured nothing.)
    if (this.client === measuredOn) this.clockSettled = true;
    const token = randomBytes(16).toString('hex');
    const epoch = await this.eval(EPOCH_SCRIPT, [this.keys.epoch], [token]);
    if (typeof epoch !== 'string') throw new Error('unexpected epoch reply');
    const first = this.epoch === undefined;
    // The data set was replaced (FLUSHALL, a failover to an empty replica): its tombstones with it.
    const replaced = !first && epoch !== this.epoch;
    // The watchdog found one of our bans gone from the same data set (the hash deleted, evicted).
    const forced = !first && !replaced && this.forceLost;
    const lost = replaced || forced;
    const now = this.clock.now();

    // 1. The outbox, oldest first.
    await this.replayOutbox(now);
    // 2. Bans restored from the state file: lifted here when the group lifted them while this agent
    // was down; the own ones that stand are published again below (this is the first connection).
    if (this.restoredCheck.size > 0) await this.checkRestored(now);
    // 3. Redis lost its data (or this is the first connection): every unexpired ban made here,
    // several at a time (100,000 restored bans one round trip after the other held back step 4).
    // (Only the hash lost, with the same data set: its tombstones tell which were unbanned, step 5.)
    if (first || replaced) {
      const due: SharedBan[] = [];
      for (const [field, ban] of [...this.own]) {
        if (isExpired(ban, now)) {
          this.own.delete(field);
          continue;
        }
        if (!this.latest.has(field)) due.push(ban);
      }
      for (let i = 0; i < due.length; i += RESTORE_BATCH) await Promise.all(due.slice(i, i + RESTORE_BATCH).map((ban) => this.apply({ t: 'ban', ban })));
    }
    // Only now: a catch-up that failed before this point is tried again as the first (or the one after a loss).
    this.epoch = epoch;
    this.forceLost = false;
    // 4. The group's stored bans: deliver what is new, and (same data set) lift what was unbanned meanwhile.
    const seen = new Set<string>();
    // Bans heard on the channel while the hash is read: Redis may have read their field before they
    // were stored, so their absence from the read says nothing (lifting them lifted, for good, a ban
    // made anywhere during another replica's catch-up: h35).
    const heard = new Set<string>();
    this.heardWhileReading = heard;
    let complete: boolean;
    try {
      complete = await this.scanBans(now, (ban, field, older) => {
        seen.add(field);
        if (older) return;
        if (ban.origin === this.replicaId) {
          // Our own, stored before an unban we know of and no longer hold: its tombstone was lost.
          if (!this.own.has(field) && (this.unbannedAt.get(field) ?? -Infinity) - CLOCK_SKEW_MS >= ban.at) this.unbanAgain(field, ban);
          return;
        }
        this.deliverBan(ban);
      });
    } finally {
      if (this.heardWhileReading === heard) this.heardWhileReading = null;
    }
    // A ban is lifted for being absent only when the whole hash was read: a hash flooded past what a
    // replica reads (one hostile HSET loop) must not unban what the reading did not get to. Also at
    // the first catch-up: the bans heard on the channel before it (one cut off before it ended, then
    // tried again) are in `remote`, and one unbanned meanwhile stayed in force here for good.
    if (!lost && complete) {
      // Absent bans an unban of which would still be in the tombstones: lifted only if one is (else
      // Redis lost the ban: a failover to a replica that missed it, an old dump; its maker may be
      // gone, and lifting it lost it for the whole group).
      const young: Array<[string, SharedBan]> = [];
      for (const [field, ban] of [...this.remote]) {
        if (isExpired(ban, now)) {
          this.deleteRemote(field);
          continue;
        }
        if (seen.has(field) || heard.has(field)) continue;
        if (ban.at > now - TOMBSTONE_MS + CLOCK_SKEW_MS) young.push([field, ban]);
        else this.liftAbsent(field, ban, now);
      }
      if (young.length > 0) await this.settleMissingRemote(young, now);
    }
    // The data set was replaced (FLUSHALL, a restart without persistence): the bans this replica
    // adopted that the new one lacks are stored again too (the first replica to store one publishes
    // it, the others hear it or find it covered), or those whose maker is gone (scaled down,
    // stopped) were lost for every late joiner.
    if (replaced && complete) {
      const again: SharedBan[] = [];
      for (const [field, ban] of this.remote) if (!seen.has(field) && !heard.has(field) && !isExpired(ban, now) && !this.own.has(field) && !this.latest.has(field)) again.push(ban);
      for (let i = 0; i < again.length; i += RESTORE_BATCH) await Promise.all(again.slice(i, i + RESTORE_BATCH).map((ban) => this.apply({ t: 'ban', ban })));
    }
    // 5. Own bans in force that the hash (same data set) no longer stores: another replica unbanned
    // them while this one could not hear it, or Redis lost them (found by the watchdog: forced).
    // Left to the watchdog's sampling of one own ban per round, a lifted ban stayed in force here for
    // as many rounds as this replica holds bans.
    if (!first && !replaced && (complete || forced)) {
      const missing: Array<[string, SharedBan]> = [];
      for (const [field, ban] of this.own) {
        if (seen.has(field) || isExpired(ban, now) || this.latest.has(field) || this.refusedFull.has(ban)) continue;
        missing.push([field, ban]);
      }
      if (missing.length > 0) await this.settleMissingOwn(missing, now);
    }
  }

  /**
   * Lifts the restored bans (restoredCheck) that the group no longer stores and that an unban
   * dated after them (give or take the clocks' skew) removed: its tombstone, kept a day. A ban the
   * group stores, or that no tombstone names (Redis lost its data, or the unban is older than a day),
   * stands; an own one made since the oldest tombstone kept is then published again (step 3 of
   * catchUp), an older one is not: an unban of it may be older than any tombstone, and publishing it
   * would bring a lifted ban back to every replica. A tombstone dated after now (plus the skew) is no
   * unban that happened (lua.ts, BAN_SCRIPT) and lifts nothing.
   */
  private async checkRestored(now: number): Promise<void> {
    const all = [...this.restoredCheck];
    for (let i = 0; i < all.length; i += RESTORE_BATCH) {
      const chunk = all.slice(i, i + RESTORE_BATCH);
      const r = await this.tombstones(chunk.map(([field]) => field));
      chunk.forEach(([field, entry], j) => {
        this.restoredCheck.delete(field);
        const own = entry.own !== undefined && !isExpired(entry.own, now) ? entry.own : undefined;
        const adopted = entry.adopted !== undefined && !isExpired(entry.adopted, now) ? entry.adopted : undefined;
        const ownLiftedAt = own === undefined ? null : this.unbanAfter(r[j], own, now);
        if (own !== undefined && ownLiftedAt === null) {
          // The own ban stands; an adopted one the unban came after (an own ban kept under it) is lifted.
          if (own.at > now - TOMBSTONE_MS + CLOCK_SKEW_MS && !this.own.has(field)) this.rememberOwn(field, own);
          const adoptedLiftedAt = adopted === undefined ? null : this.unbanAfter(r[j], adopted, now);
          const heard = this.remote.get(field);
          if (adoptedLiftedAt !== null && !(heard !== undefined && heard.at > adoptedLiftedAt + CLOCK_SKEW_MS)) this.liftedByGroup(field, adopted!, adoptedLiftedAt, 'group', true);
          return;
        }
        const ban = own ?? adopted;
        if (ban === undefined) return;
        const at = ownLiftedAt ?? this.unbanAfter(r[j], ban, now);
        if (at === null) return;
        // A ban of it made (or heard of) in this run, after that unban, stands.
        const since = this.own.get(field) ?? this.remote.get(field);
        if (since !== undefined && since.at > at + CLOCK_SKEW_MS) return;
        this.own.delete(field);
        this.liftedByGroup(field, ban, at);
      });
    }
  }

  /**
   * Own bans in force that the group's hash no longer stores (catchUp, step 5). One an unban is
   * dated after (its tombstone, give or take the clocks' skew, as for restored bans: checkRestored)
   * was lifted by another replica while this one could not hear it: lifted here too. One no
   * tombstone names, or that came after its tombstone, was lost by Redis (an eviction, an HDEL): it
   * is stored and published again, so late joiners get it. (Storing is not enough to tell: the ban
   * script stores again a ban unbanned within the skew of its making.)
   */
  private async settleMissingOwn(missing: ReadonlyArray<readonly [string, SharedBan]>, now: number): Promise<void> {
    for (let i = 0; i < missing.length; i += RESTORE_BATCH) {
      const chunk = missing.slice(i, i + RESTORE_BATCH);
      const r = await this.tombstones(chunk.map(([field]) => field));
      const again: SharedBan[] = [];
      chunk.forEach(([field, ban], j) => {
        // Replaced or lifted here meanwhile: no longer this question.
        if (this.own.get(field) !== ban || this.latest.has(field)) return;
        const at = this.unbanAfter(r[j], ban, now);
        if (at === null) {
          again.push(ban);
          return;
        }
        this.own.delete(field);
        this.liftedByGroup(field, ban, at);
      });
      await Promise.all(again.map((ban) => this.apply({ t: 'ban', ban })));
    }
  }

  /**
   * A remote ban the group's hash no longer stores, unbanned while this replica could not hear it
   * (catchUp, step 4): lifted here. `unbannedAt`: when, if a tombstone says so.
   */
  private liftAbsent(field: string, ban: SharedBan, now: number, unbannedAt?: number): void {
    this.deleteRemote(field);
    // An own ban of the address, made after this one was heard (a ban this replica made over it,
    // or one the group's stored ban covered, so not stored itself), is settled in step 5: lifted
    // there if an unban came after it, stored again if not. Lifting the address here lifted it
    // too, in the ban book, while step 5 published it again to every other replica (h35). What
    // this replica adopted of it is lifted now, its own bans kept: the adopted bans made up to the
    // unban, not the own one an adopted ban had replaced in the ban book (Ban.under). Where no
    // tombstone tells the unban's time, just before the own ban is what sets them apart ("now" made
    // the book drop that own ban while step 5 stored it in the group again: review h41).
    const mine = this.own.get(field);
    if (mine !== undefined) {
      this.liftedByGroup(field, ban, unbannedAt ?? Math.min(now, mine.at - CLOCK_SKEW_MS - 1), ban.origin, true);
      return;
    }
    this.counts.unbansIn++;
    const u = { ip: ban.ip, family: ban.family, origin: ban.origin, at: now, ...(ban.scope !== undefined ? { scope: ban.scope } : {}) };
    this.emit('onRemoteUnban', () => this.events?.onRemoteUnban(u));
  }

  /**
   * Remote bans the hash (same data set, read whole) no longer stores, made within the day tombstones
   * are kept (catchUp, step 4): one an unban is dated after (its tombstone) was lifted while this
   * replica could not hear it, and is lifted here; one no tombstone names was lost by Redis (a
   * failover to a replica that missed it, a restart from an old dump, an HDEL): it stays in force and
   * is stored again (the ban script: published if stored, refused if an unban came meanwhile), so
   * late joiners get it even when the replica that made it is gone.
   */
  private async settleMissingRemote(absent: ReadonlyArray<readonly [string, SharedBan]>, now: number): Promise<void> {
    for (let i = 0; i < absent.length; i += RESTORE_BATCH) {
      const chunk = absent.slice(i, i + RESTORE_BATCH);
      const r = await this.tombstones(chunk.map(([field]) => field));
      const again: SharedBan[] = [];
      chunk.forEach(([field, ban], j) => {
        // Replaced or lifted here meanwhile: no longer this question.
        if (this.remote.get(field) !== ban) return;
        const at = this.unbanAfter(r[j], ban, now);
        if (at === null) again.push(ban);
        else this.liftAbsent(field, ban, now, at);
      });
      await Promise.all(again.map((ban) => this.apply({ t: 'ban', ban })));
    }
  }

  /** The time of each field's last unban (its tombstone, in the group's clock) where the group stores nothing under it (UNBANNED_SCRIPT). */
  private async tombstones(fields: string[]): Promise<unknown[]> {
    const r = await this.eval(UNBANNED_SCRIPT, [this.keys.bans, this.keys.unbans], fields);
    if (!Array.isArray(r)) throw new Error('unexpected unbanned reply');
    return r;
  }

  /**
   * When (this host's clock) the unban a tombstone `t` names happened, if it came after `ban` (give
   * or take the clocks' skew) and not after now (plus the skew: an unban "from the future" is none
   * that happened); null otherwise, or when there is no tombstone.
   */
  private unbanAfter(t: unknown, ban: SharedBan, now: number): number | null {
    const at = typeof t === 'string' ? this.gclock.toLocal(Number(t)) : NaN;
    return Number.isFinite(at) && at <= now + CLOCK_SKEW_MS && at >= ban.at - CLOCK_SKEW_MS ? at : null;
  }

  /**
   * The group unbanned `ban`'s address at `at` (a tombstone says so): noted, counted, and lifted here.
   * `keepOwn`: an own ban of it made since stands; only what this replica adopted is lifted (not
   * noted: the own ban is what the address's next unban is measured against).
   */
  private liftedByGroup(field: string, ban: SharedBan, at: number, origin = 'group', keepOwn = false): void {
    if (!keepOwn) {
      this.noteUnban(field, at);
      this.counts.unbansIn++;
    }
    const u = { ip: ban.ip, family: ban.family, origin, at, ...(ban.scope !== undefined ? { scope: ban.scope } : {}), ...(keepOwn ? { keepOwn } : {}) };
    this.emit('onRemoteUnban', () => this.events?.onRemoteUnban(u));
  }

  /** Sends what waits in the outbox, oldest first (a live operation sent meanwhile removed its address's entry). */
  private async replayOutbox(now: number): Promise<void> {
    for (const [field, op] of this.outbox.entries()) {
      if (op.t === 'ban' && isExpired(op.ban, now)) {
        this.outbox.remove(field, op);
        continue;
      }
      if (this.outbox.get(field) !== op) continue;
      await this.apply(op, true);
      this.outbox.remove(field, op);
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  private emit(name: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.deps.log.error({ handler: name, err: errText(e) }, 'share: event handler threw');
    }
  }

  private countInvalid(reason: string, n = 1): void {
    const before = this.counts.invalid[reason] ?? 0;
    this.counts.invalid[reason] = before + n;
    if (before === 0) this.deps.log.warn({ reason }, 'share: invalid value from Redis ignored (counted; logged once per reason)');
  }

  /** Logs an error at most once a minute per kind, while connected (an outage is reported by reportOffline, not here). */
  private logError(kind: string, e: unknown, msg: string): void {
    if (!this.connected && kind !== 'subscribe') return;
    // Once a minute per kind while it lasts (warn-limiter.ts): never once per process, and no error
    // text a server answers can use the limit up (each distinct text used to be a key of its own, and
    // after 100 of them nothing was logged again).
    const admitted = this.warnings.admit(kind);
    if (admitted === null) return;
    this.deps.log.warn({ kind, error: errText(e), ...(admitted.held > 0 ? { heldBack: admitted.held } : {}) }, msg);
  }
}
