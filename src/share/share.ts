/**
 * The share stage: the replicas of one service (a "group") count failures together and share bans
 * through Redis, so an attacker spread round-robin over N replicas gets maxretry tries in total, and
 * a ban (or unban) made at any replica reaches every other one within milliseconds.
 *
 * Sharing is a stage, not a special case: it feeds group offenses and remote bans into decide and
 * publishes local ones; when Redis is away every call returns at once and the pipeline runs
 * unchanged on local counts.
 *
 * Contract (what the stage promises; what its caller does):
 * - failure(): call it for each failure the local detector sees (in addition to the local window).
 *   It is fire-and-forget: one atomic script per call adds the failure to the group's window for
 *   (rule, ip, scope), a sorted set scored by log time, trimmed to the exact sliding window
 *   (newest - findtime, newest], capped at maxretry members, with a TTL. When the group count reaches
 *   maxretry the script deletes the window and claims the offense (a 5 s claim key) in the same step,
 *   so exactly one replica receives onGroupOffense for it, however many saw the last failures at
 *   once, and the failures still in flight while the ban propagates raise no second one. Offline,
 *   failures are not queued (the local window still counts them).
 * - onGroupOffense: turn it into an offense for the ban book (book.consider) at that replica; the
 *   resulting ban is a local ban: publish it.
 * - publishBan()/publishUnban(): call them for bans and unbans made here (detected, group offense,
 *   manual, incremental), never for bans received from the group (the stage sets `origin` to its own
 *   replica id and truncates times to whole ms; a ban that fails validation is logged and not
 *   shared). The bans restored from state go to restored() before start() (the first catch-up
 *   checks them with the group; an own ban the group already holds costs one round trip and no
 *   message). A ban is stored in the group's
 *   hash (late joiners and a returning Redis converge on it) and published on the group's channel,
 *   unless the stored one already covers it (no storm when N replicas ban at once). An unban lifts
 *   the stored ban unless it is newer, and leaves a tombstone (kept a day) so that no replica
 *   re-publishing an older ban after an outage brings it back. An operator's unban is published
 *   whether or not this replica holds a ban of the address (it may have refused the group's, or
 *   ended it earlier by its own clock): publishUnban's promise says what the group did
 *   (GroupUnbanResult), so that `banhammer unban` never answers "not banned" while the group bans
 *   the address. Offline (or when
 *   a command fails) the latest operation per address goes to a bounded outbox on disk; it is
 *   replayed when Redis returns, and when Redis comes back empty (a different epoch) the replica also
 *   re-publishes every unexpired ban it published in this run.
 * - onRemoteBan/onRemoteUnban: bans made by other replicas (never this replica's own: no echo).
 *   Every value is validated first (address, family, rule, times, lengths); invalid ones are counted
 *   in stats().invalid and dropped. On every (re)connection the stage reads the group's hash and
 *   calls onRemoteBan for each stored ban it has not delivered yet (so a replica that starts while
 *   Redis is down catches up when it returns, and start-up needs no snapshot() call), and
 *   onRemoteUnban for a ban it had delivered that an unban removed while it was away. The ban book
 *   must take a repeated onRemoteBan as a no-op.
 * - onStatus: once when Redis goes away (or is unreachable at start), once when it returns.
 * - Time: every time passed in or out (a ban's at and until, an unban's at, a failure's log time, an
 *   offense's at) is in this replica's clock; the stage converts it to and from the group's one
 *   clock, Redis's TIME (group-clock.ts), so replicas whose clocks are apart agree on it. The group's
 *   ACL user needs +time; without it the stage uses this replica's clock (said once in the log).
 * - Values from Redis never reach a shell; at most maxBans (default 100,000) shared bans are read
 *   or stored, and nothing from Redis is kept beyond what was delivered (bounded by maxBans).
 *
 * Redis ACL: every key and the channel start with `banhammer:{<group>}:`. The minimal user for a
 * group (paste into the README / ACL file; SHARE_ACL_COMMANDS is the list):
 *   user shop on >PASSWORD resetkeys resetchannels ~banhammer:{shop}:* &banhammer:{shop}:* -@all +ping +evalsha +eval +subscribe +unsubscribe +publish +zadd +zremrangebyscore +zremrangebyrank +zrange +zcard +zscore +pexpire +del +hget +hset +hdel +hlen +hscan +get +set +time
 * (+select too when the URL names a database other than 0.) Scripts run their commands as the user,
 * which is why the data commands are listed as well as EVALSHA/EVAL.
 */
import type { Clock } from '../clock.js';

export interface ShareSettings {
  /** redis://[user[:password]@]host[:port][/db] or rediss:// (TLS). */
  url: string;
  /** A file holding the password (Docker secrets); one trailing newline is dropped. Wins over the URL's. */
  passwordFile?: string | null;
  /** The name the replicas of one service share (GROUP_RE). */
  group: string;
  /**
   * A file holding the group's signing key (BANHAMMER_SHARE_KEY_FILE; at least 16 bytes, one trailing
   * newline dropped): every ban and unban is signed, and unsigned or badly signed ones are refused
   * (signing.ts). Every replica of the group needs the same key. null/absent: messages are unsigned.
   */
  keyFile?: string | null;
  /** This replica's id (the origin of what it publishes); default: hostname-pid-random. */
  replicaId?: string;
  /** The outbox file (JSON, written atomically); its directory must be writable. */
  outboxPath: string;
  /** Most shared bans a group holds / a replica reads (default 100,000). */
  maxBans?: number;
  /** Most operations kept in the outbox (default 10,000; the oldest is dropped first). */
  maxOutbox?: number;
  /** Longest reconnect back-off in ms (default 1,000; jittered between half and all of it). */
  maxBackoffMs?: number;
  /** How long a PING may go unanswered before the connections are opened anew (default 10,000 ms). */
  hungAfterMs?: number;
}

export interface SharedBan {
  ip: string;
  family: 4 | 6;
  rule: string;
  at: number;
  until: number | null;
  scope?: string;
  /** The replica id that made it. */
  origin: string;
  nth?: number;
}

export interface ShareEvents {
  /** A ban made anywhere in the group (not echoed back to the replica that published it). */
  onRemoteBan(ban: SharedBan): void;
  /**
   * `at`: when the unban was made (in this replica's clock). origin 'group': a ban this replica
   * re-published after an outage, or restored from its state file, had been lifted meanwhile (found
   * in the group's tombstones).
   * `keepOwn`: the group lifted its bans of the address made before `at` (give or take the clocks'
   * skew), but a ban this replica made after it stands (stored in the group again): only the bans
   * adopted from the group are lifted; an own ban one of them had replaced is in force again.
   */
  onRemoteUnban(u: { ip: string; family: 4 | 6; scope?: string; origin: string; at?: number; keepOwn?: boolean }): void;
  /** Group-wide count crossed maxretry for (rule, ip, scope): the lead turns it into a ban. */
  onGroupOffense(o: { ip: string; family: 4 | 6; rule: string; at: number; failures: number; scope?: string }): void;
  /** Outage once, return once. */
  onStatus(s: { connected: boolean; error?: string }): void;
}

export interface ShareStats {
  connected: boolean;
  bansOut: number;
  unbansOut: number;
  bansIn: number;
  unbansIn: number;
  /** Bans not published because the group's stored ban already covered them. */
  bansCovered: number;
  /** Bans refused because the group holds maxBans. */
  bansRefusedFull: number;
  /** Bans not stored because the address was unbanned after the ban was made. */
  bansUnbannedSince: number;
  /** Remote bans ignored because this replica knows of a later unban of that address. */
  bansStale: number;
  /** Unbans that lifted nothing because a newer ban stands. */
  unbansStale: number;
  failuresSent: number;
  /** Failures sent and awaiting their count. */
  inFlight: number;
  /** Failures not counted group-wide (offline, too many in flight, or a command error). */
  failuresDropped: number;
  groupOffenses: number;
  /** Values from Redis (channel, hash) that failed validation, by reason. */
  invalid: Record<string, number>;
  outboxDepth: number;
  outboxDropped: number;
  /** Own messages seen on the channel and ignored. */
  echoes: number;
  /** Times Redis kept a connection open without answering, and both were opened anew. */
  hung: number;
  /**
   * How far the group's clock (Redis TIME) is ahead of this host's, in ms (negative: behind), as
   * this replica converts every time it sends and reads (group-clock.ts); 0 until measured.
   */
  clockOffsetMs: number;
  /** Whether the offset was measured (false: Redis refused TIME or never answered it; own clock used). */
  groupClock: boolean;
}

/** What the group did with an unban (publishUnban's promise; it never rejects). */
export type GroupUnbanResult =
  /** The group's stored ban of the address was lifted (and the unban published). */
  | 'lifted'
  /** The group stored no (unexpired, valid) ban of it; the unban was published all the same. */
  | 'none'
  /** A ban of it made after this unban stands (the hosts' clocks apart): it was not lifted. */
  | 'newer'
  /** Redis is unreachable, or the command failed: the unban waits in the outbox for Redis to return. */
  | 'queued'
  /** Not an address or network a group may share (nothing was sent). */
  | 'invalid';

export interface ShareStage {
  /**
   * Before start(): the bans in force that this agent restored from its state file, its own (made
   * here in an earlier run) and those it had adopted from the group (`origin`: the replica that made
   * it). The first catch-up with the group checks them: a ban the group lifted while this agent was
   * down is lifted here too (onRemoteUnban), and an own ban the group no longer stores (Redis lost
   * its data) is stored and published again, as a ban made in this run is; an own ban older than
   * the tombstones are kept (a day) is only checked, never published again: an unban of it may be
   * older than any tombstone, and publishing it would bring a lifted ban back to every replica.
   */
  restored?(bans: { own: readonly SharedBan[]; adopted: readonly SharedBan[] }): void;
  /** Never throws because Redis is down: starts offline and keeps retrying. Resolves after the first attempt. */
  start(events: ShareEvents): Promise<void>;
  stop(): Promise<void>;
  /** A failure seen locally (log time t); counted group-wide in one exact sliding window (findtime, maxretry given per call). */
  failure(f: { ip: string; family: 4 | 6; rule: string; time: number; findtime: number; maxretry: number; scope?: string }): void;
  /** Also stored so late joiners and a returning Redis converge. */
  publishBan(ban: SharedBan): void;
  /**
   * Resolves with what the group did (RedisShare always does; a stage that answers nothing leaves
   * the caller unable to tell, as before).
   */
  publishUnban(u: { ip: string; family: 4 | 6; scope?: string }): Promise<GroupUnbanResult> | void;
  /**
   * The group's bans of `ip` (an address or network, canonical; every scope) as this replica heard of
   * them: delivered through onRemoteBan (adopted here or not), unexpired, not unbanned since.
   * Synchronous, from memory (for `banhammer why`).
   */
  heard?(ip: string, now: number): SharedBan[];
  /** Every unexpired shared ban (for start-up and status), read from Redis; [] while offline. */
  snapshot(now: number): Promise<SharedBan[]>;
  readonly connected: boolean;
  readonly replicaId: string;
  stats(): ShareStats;
}

export interface ShareLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ShareDeps {
  clock: Clock;
  log: ShareLog;
  /** Propagation lag of each remote ban/unban received (receiver's clock - sender's clock), for a histogram. */
  onLag?(ms: number): void;
  /** Jitter source (tests pin it). */
  random?: () => number;
  /**
   * A monotonic clock in ms (default performance.now): tells a step of this host's wall clock from a
   * move of Redis's when the group's clock is measured (group-clock.ts). Tests pin it.
   */
  mono?: () => number;
}

/** The commands the share stage sends or runs inside its scripts: a group's ACL user needs exactly these. */
export const SHARE_ACL_COMMANDS = [
  'ping', 'evalsha', 'eval', 'subscribe', 'unsubscribe', 'publish',
  'zadd', 'zremrangebyscore', 'zremrangebyrank', 'zrange', 'zcard', 'zscore', 'pexpire', 'del',
  'hget', 'hset', 'hdel', 'hlen', 'hscan', 'get', 'set', 'time',
] as const;

/** The ACL file line of a group's user (for the README, compose examples and tests). */
export function shareAclLine(group: string, password: string): string {
  const prefix = `banhammer:{${group}}:*`;
  return `user ${group} on >${password} resetkeys resetchannels ~${prefix} &${prefix} -@all ${SHARE_ACL_COMMANDS.map((c) => `+${c}`).join(' ')}`;
}

export { CLOCK_SKEW_MS, createRedisShare } from './redis-share.js';
