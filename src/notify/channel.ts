/**
 * One notification target's delivery line: digest decision, bounded queue, one send at a time,
 * retries with bounded exponential back-off, then drop and count. Nothing here can hold up a ban:
 * offer() only counts or appends and returns; the work happens on timers and sockets.
 *
 * Contract:
 * - Digest: events are counted in intervals of `digestIntervalMs` (the first event opens one). The
 *   first `digestThreshold` events of an interval go out one by one; beyond that the target is in
 *   digest mode: events are tallied (bounded: DIGEST_MAX_ADDRESSES distinct addresses, the rest
 *   counted) and one digest goes out when the interval ends. The target stays in digest mode while
 *   an interval sees more than the threshold, so a storm costs one message per interval.
 * - Queue: at most `queueSize` messages wait (the one being sent included); a message offered to a
 *   full queue is dropped and counted. Messages go out in order, one at a time.
 * - Each attempt ends within `timeoutMs` (AbortSignal; the sender also bounds connecting; a sender
 *   that has not stopped ABORT_GRACE_MS after the abort is counted as timed out anyway). A failed
 *   attempt is counted; a retryable one is retried after backoffMs(attempt) (base · 2^(n-1), at
 *   most `maxBackoffMs`; a receiver's Retry-After within that bound wins), up to `attempts` in all,
 *   then dropped and counted. A failure the receiver says will not change (e.g. HTTP 400) is
 *   dropped at once.
 * - Outages are logged once: the first failure after a success (warn), then the recovery (info)
 *   with how many attempts failed and messages were dropped in between.
 * - close(deadline): the open digest is sent now; queued messages are still tried until the
 *   deadline (a back-off that would end after it is not waited for); whatever is left then is
 *   aborted, dropped, counted and logged in one line.
 */
import type { Clock, TimerHandle } from '../clock.js';
import { DIGEST_TOP, type BanNotice, type DigestNotice, type Notice } from './event.js';

export type SendResult = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly reason: string; readonly retryAfterMs?: number };

/** Delivers one message; never throws; stops promptly when `signal` aborts. */
export type Sender = (n: Notice, signal: AbortSignal) => Promise<SendResult>;

export interface ChannelMetrics {
  sent(target: string): void;
  failed(target: string): void;
  dropped(target: string, n: number): void;
  queued(target: string, n: number): void;
}

export interface ChannelLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ChannelOptions {
  readonly name: string;
  readonly send: Sender;
  readonly clock: Clock;
  readonly log: ChannelLog;
  readonly metrics?: ChannelMetrics | undefined;
  readonly queueSize: number;
  /** Attempts per message, the first included. */
  readonly attempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly timeoutMs: number;
  readonly digestThreshold: number;
  readonly digestIntervalMs: number;
}

/** How long an aborted attempt may take to stop before it counts as timed out anyway. */
export const ABORT_GRACE_MS = 1000;

/** Distinct addresses a digest tallies by name; beyond this they are counted, not named. */
export const DIGEST_MAX_ADDRESSES = 10_000;
/**
 * Further distinct addresses a digest tells apart (by a 32-bit hash of each: about 4 MB at most)
 * after DIGEST_MAX_ADDRESSES; beyond both, its count of distinct addresses is a lower bound.
 */
export const DIGEST_MAX_HASHED = 100_000;

/** FNV-1a of `s`'s code units: only tells addresses apart past the named ones (a collision undercounts by one). */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
const DIGEST_MAX_RULES = 256;

/** The back-off before attempt `n + 1` after `n` failed attempts (n ≥ 1). */
export function backoffMs(n: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.min(30, Math.max(0, n - 1)));
}

/** Tally of the events a digest summarises (bounded memory). */
class Tally {
  bans = 0;
  unbans = 0;
  readonly rules = new Map<string, number>();
  readonly addresses = new Map<string, number>();
  /** Addresses past the named ones, as hashes: counted distinct, never named (an address seen again is not counted again). */
  private readonly moreAddresses = new Set<number>();
  /** An address came that could be neither named nor hashed: the distinct count is a lower bound. */
  private uncounted = false;

  add(n: BanNotice): void {
    if (n.kind === 'ban') this.bans++;
    else this.unbans++;
    const rule = this.rules.has(n.ban.rule) || this.rules.size < DIGEST_MAX_RULES ? n.ban.rule : 'other';
    this.rules.set(rule, (this.rules.get(rule) ?? 0) + 1);
    const a = this.addresses.get(n.ban.ip);
    if (a !== undefined) this.addresses.set(n.ban.ip, a + 1);
    else if (this.addresses.size < DIGEST_MAX_ADDRESSES) this.addresses.set(n.ban.ip, 1);
    else if (this.moreAddresses.size < DIGEST_MAX_HASHED) this.moreAddresses.add(hash32(n.ban.ip));
    else if (!this.moreAddresses.has(hash32(n.ban.ip))) this.uncounted = true;
  }

  get size(): number {
    return this.bans + this.unbans;
  }

  digest(from: number, to: number): DigestNotice {
    const top = <K>(m: Map<K, number>): [K, number][] => [...m].sort((a, b) => b[1] - a[1]).slice(0, DIGEST_TOP);
    return {
      kind: 'digest',
      from,
      to,
      bans: this.bans,
      unbans: this.unbans,
      topRules: top(this.rules).map(([rule, count]) => ({ rule, count })),
      topAddresses: top(this.addresses).map(([address, count]) => ({ address, count })),
      distinctAddresses: this.addresses.size + this.moreAddresses.size,
      ...(this.uncounted ? { distinctAtLeast: true } : {}),
    };
  }
}

interface Item {
  readonly notice: Notice;
  attempts: number;
}

export class Channel {
  readonly name: string;
  private readonly o: ChannelOptions;
  private readonly queue: Item[] = [];
  private sending = false;
  private backoff: TimerHandle | null = null;
  private inflight: AbortController | null = null;
  // Digest state.
  private windowStart: number | null = null;
  private windowCount = 0;
  private windowTimer: TimerHandle | null = null;
  private digestMode = false;
  private tally: Tally | null = null;
  // Outage state.
  private down = false;
  private failedInOutage = 0;
  private droppedInOutage = 0;
  // Shutdown.
  private deadline: number | null = null;
  private idle: (() => void) | null = null;
  /** Totals since start (status, tests). */
  readonly totals = { sent: 0, failed: 0, dropped: 0, digests: 0 };

  constructor(o: ChannelOptions) {
    this.o = o;
    this.name = o.name;
    o.metrics?.queued(o.name, 0);
  }

  get queued(): number {
    return this.queue.length;
  }

  /** A ban or unban for this target: sent alone, or tallied into the interval's digest. */
  offer(n: BanNotice): void {
    if (this.deadline !== null) return;
    const now = this.o.clock.now();
    if (this.windowStart === null) this.openWindow(now);
    this.windowCount++;
    if (!this.digestMode && this.windowCount > this.o.digestThreshold) this.digestMode = true;
    if (this.digestMode) (this.tally ??= new Tally()).add(n);
    else this.enqueue(n);
  }

  private openWindow(now: number): void {
    this.windowStart = now;
    this.windowCount = 0;
    this.windowTimer = this.o.clock.setTimeout(() => this.closeWindow(), this.o.digestIntervalMs);
  }

  private closeWindow(): void {
    this.windowTimer = null;
    const from = this.windowStart ?? this.o.clock.now();
    const to = this.o.clock.now();
    const storm = this.windowCount > this.o.digestThreshold;
    this.flushTally(from, to);
    this.windowStart = null;
    this.digestMode = storm;
    // During a storm the next interval opens at once, so its digest covers it from its start.
    if (storm) this.openWindow(to);
  }

  private flushTally(from: number, to: number): void {
    const t = this.tally;
    this.tally = null;
    if (t === null || t.size === 0) return;
    this.totals.digests++;
    this.enqueue(t.digest(from, to));
  }

  private enqueue(n: Notice): void {
    if (this.queue.length >= this.o.queueSize) {
      this.drop(1, 'queue full');
      return;
    }
    this.queue.push({ notice: n, attempts: 0 });
    this.o.metrics?.queued(this.name, this.queue.length);
    this.pump();
  }

  private drop(n: number, why: string): void {
    this.totals.dropped += n;
    this.droppedInOutage += n;
    this.o.metrics?.dropped(this.name, n);
    if (!this.down) {
      // A drop outside an outage (a full queue while the receiver is merely slow) starts one.
      this.down = true;
      this.o.log.warn({ target: this.name, reason: why }, `notification target ${this.name}: dropping notifications (${why}); further failures are counted, not logged, until it recovers`);
    }
  }

  private pump(): void {
    if (this.sending || this.backoff !== null) return;
    const item = this.queue[0];
    if (item === undefined) {
      this.idle?.();
      return;
    }
    this.sending = true;
    item.attempts++;
    const ac = new AbortController();
    this.inflight = ac;
    let finished = false;
    let grace: TimerHandle | null = null;
    const finish = (r: SendResult): void => {
      if (finished) return;
      finished = true;
      this.o.clock.clearTimeout(timer);
      if (grace !== null) this.o.clock.clearTimeout(grace);
      this.inflight = null;
      this.sending = false;
      this.settle(item, ac.signal.aborted && !r.ok ? { ...r, reason: `no answer within ${this.o.timeoutMs} ms` } : r);
    };
    // A sender that does not stop when aborted (a library ignoring the signal) cannot hold the line:
    // ABORT_GRACE_MS after the abort the attempt counts as timed out; its late result is ignored.
    const timer = this.o.clock.setTimeout(() => {
      ac.abort();
      grace = this.o.clock.setTimeout(() => finish({ ok: false, retry: true, reason: 'timed out' }), ABORT_GRACE_MS);
    }, this.o.timeoutMs);
    let result: Promise<SendResult>;
    try {
      result = this.o.send(item.notice, ac.signal);
    } catch (e) {
      result = Promise.resolve({ ok: false, retry: false, reason: (e as Error).message });
    }
    result.catch((e: unknown): SendResult => ({ ok: false, retry: true, reason: String(e) })).then(finish);
  }

  private settle(item: Item, r: SendResult): void {
    if (this.queue[0] !== item) return this.pump(); // dropped meanwhile (shutdown)
    if (r.ok) {
      this.queue.shift();
      this.totals.sent++;
      this.o.metrics?.sent(this.name);
      this.o.metrics?.queued(this.name, this.queue.length);
      if (this.down) {
        this.o.log.info({ target: this.name, failedAttempts: this.failedInOutage, dropped: this.droppedInOutage }, `notification target ${this.name} recovered`);
        this.down = false;
      }
      this.failedInOutage = 0;
      this.droppedInOutage = 0;
      return this.pump();
    }
    this.totals.failed++;
    this.failedInOutage++;
    this.o.metrics?.failed(this.name);
    if (!this.down) {
      this.down = true;
      this.o.log.warn({ target: this.name, reason: r.reason, attempt: item.attempts }, `notification target ${this.name} failed (${r.reason}); retrying with back-off, further failures are counted, not logged, until it recovers`);
    }
    const now = this.o.clock.now();
    const wait = Math.min(this.o.maxBackoffMs, Math.max(backoffMs(item.attempts, this.o.backoffMs, this.o.maxBackoffMs), r.retryAfterMs ?? 0));
    const pastDeadline = this.deadline !== null && now + wait >= this.deadline;
    if (!r.retry || item.attempts >= this.o.attempts || pastDeadline) {
      this.queue.shift();
      this.o.metrics?.queued(this.name, this.queue.length);
      this.drop(1, r.reason);
      return this.pump();
    }
    this.backoff = this.o.clock.setTimeout(() => {
      this.backoff = null;
      this.pump();
    }, wait);
  }

  /** Sends the open digest, tries what is queued until `deadline` (clock time), then drops the rest. */
  close(deadline: number): Promise<void> {
    if (this.windowTimer !== null) this.o.clock.clearTimeout(this.windowTimer);
    this.windowTimer = null;
    this.flushTally(this.windowStart ?? this.o.clock.now(), this.o.clock.now());
    this.deadline = deadline;
    // A back-off that ends after the deadline is not waited for.
    if (this.backoff !== null) {
      this.o.clock.clearTimeout(this.backoff);
      this.backoff = null;
      this.pump();
    }
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        this.idle = null;
        this.o.clock.clearTimeout(stopTimer);
        const left = this.queue.length;
        if (left > 0) {
          this.queue.length = 0;
          this.inflight?.abort();
          this.totals.dropped += left;
          this.o.metrics?.dropped(this.name, left);
          this.o.metrics?.queued(this.name, 0);
          this.o.log.warn({ target: this.name, dropped: left }, `notification target ${this.name}: ${left} notification${left === 1 ? '' : 's'} not delivered before shutdown`);
        }
        resolve();
      };
      const stopTimer = this.o.clock.setTimeout(finish, Math.max(0, deadline - this.o.clock.now()));
      this.idle = finish;
      if (this.queue.length === 0 && !this.sending) finish();
    });
  }
}
