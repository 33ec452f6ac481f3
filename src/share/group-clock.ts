/**
 * The group's one clock: the Redis server's (TIME). Each replica measures how far its own wall clock
 * is from it (the offset: group time − local time) and writes every time it sends to Redis in group
 * time (toGroup), and reads every time it gets back in its own (toLocal). Replicas whose wall clocks
 * are seconds to a day apart then agree on what a ban's start and end, an unban's time and a
 * failure's time mean, as long as they all reach the same Redis.
 *
 * A measurement is the best of a few TIME round trips (the one with the smallest round-trip time,
 * the server's time taken as the middle of it). What is refused, keeping the offset as it was:
 * - a measurement whose samples disagree on Redis's clock by more than JUMP_MS (plus their round
 *   trips): one answer is garbage, and one answer alone never sets the offset, not even the first;
 * - an answer that is no time (not two decimal strings, microseconds ≥ 10^6, beyond year 9999);
 * - an offset of more than a day either way (no host's clock is that far off: a broken or hostile
 *   server, or a host with no clock set at all; said in the log);
 * - Redis's own clock moving against this process's monotonic clock by more than JUMP_MS since the
 *   last accepted measurement (a failover to a host whose clock differs, a clock set by hand, an
 *   answer going backwards): taken only once CONFIRMATIONS measurements in a row agree on the new
 *   clock, so one odd answer never moves it. A step of this host's own clock (NTP, a VM resumed)
 *   shows as the local side moving and is followed at the next measurement.
 * An offset within HYSTERESIS_MS of the one in use is not applied (two replicas measuring the same
 * server a few ms apart, or the same replica twice, keep exactly the same times for the same ban).
 * Before the first accepted measurement (or when Redis refuses TIME) the offset is 0: the replica
 * stamps with its own clock, as replicas did before this module.
 */
import { MAX_FUTURE_MS, MAX_TIME_MS } from './messages.js';

/** Largest offset taken (either way): a day, as far as a message's times may lie in the future. */
export const MAX_OFFSET_MS = MAX_FUTURE_MS;
/** A measured offset this close to the one in use is not applied. */
export const HYSTERESIS_MS = 250;
/** How far Redis's clock may move against the monotonic clock between two measurements before it needs confirming. */
export const JUMP_MS = 1_000;
/** Measurements in a row that must agree on a moved Redis clock before it is taken. */
export const CONFIRMATIONS = 3;
/** A TIME round trip slower than this says too little about when the server read its clock. */
export const MAX_RTT_MS = 1_000;
/** TIME round trips per measurement (the fastest counts). */
export const SAMPLES = 3;
/** How often the offset is measured again while connected (and at every connection). */
export const MEASURE_EVERY_MS = 60_000;
/** An offset larger than this is said in the log (check the host's NTP). */
export const WARN_OFFSET_MS = 5_000;

/** One TIME round trip: the server's time, and this host's wall and monotonic clocks at its middle. */
export interface ClockSample {
  readonly redisMs: number;
  readonly wallMs: number;
  readonly monoMs: number;
  readonly rttMs: number;
}

export type ClockVerdict =
  /** Taken: `offset` is in use (`changed`: it moved by more than HYSTERESIS_MS, or is the first). */
  | { kind: 'set'; offset: number; changed: boolean; measured: number }
  /** Refused: the server's time is more than a day from this host's. */
  | { kind: 'far'; measured: number }
  /** Held: Redis's clock moved by `by` ms against the monotonic clock; `seen` of CONFIRMATIONS agree. */
  | { kind: 'jump'; by: number; seen: number }
  /** Refused: no usable sample (none, or all slower than MAX_RTT_MS, or not finite). */
  | { kind: 'none' }
  /**
   * Refused: the samples of one measurement disagree on Redis's clock (against the monotonic clock) by
   * more than JUMP_MS plus their round trips: one of them is no reading of a clock (a proxy or a
   * broken server answering garbage that parses as a time). `by`: the largest disagreement, in ms.
   */
  | { kind: 'disagree'; by: number };

const DIGITS_RE = /^[0-9]{1,16}$/;

/** A TIME reply (["<seconds>", "<microseconds>"]) in ms, or null when it is not one. */
export function parseRedisTime(reply: unknown): number | null {
  if (!Array.isArray(reply) || reply.length !== 2) return null;
  const [s, us] = reply.map((x: unknown) => (typeof x === 'string' ? x : Buffer.isBuffer(x) ? x.toString('latin1') : typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? String(x) : null));
  if (s == null || us == null || !DIGITS_RE.test(s) || !DIGITS_RE.test(us)) return null;
  const sec = Number(s);
  const micro = Number(us);
  if (micro >= 1_000_000) return null;
  const ms = sec * 1000 + Math.floor(micro / 1000);
  return Number.isSafeInteger(ms) && ms <= MAX_TIME_MS ? ms : null;
}

/** The sample with the smallest round trip, if any is fast enough and finite. */
export function bestSample(samples: readonly ClockSample[]): ClockSample | null {
  let best: ClockSample | null = null;
  for (const s of samples) {
    if (![s.redisMs, s.wallMs, s.monoMs, s.rttMs].every(Number.isFinite) || s.rttMs < 0 || s.rttMs > MAX_RTT_MS) continue;
    if (best === null || s.rttMs < best.rttMs) best = s;
  }
  return best;
}

export class GroupClock {
  /**
   * `sync`: called before the offset is read, to read this host's clock first (the owner's step
   * watch: a step of this host's wall clock seen since its last reading moves the offset, localStepped,
   * before any time is converted with it).
   */
  constructor(private readonly sync: () => void = () => undefined) {}

  private off = 0;
  private taken = false;
  /** Redis's time minus the monotonic clock at the last accepted measurement (null: none yet). */
  private base: number | null = null;
  /** A moved Redis clock seen but not yet confirmed. */
  private pending: { base: number; seen: number } | null = null;

  /** Group time − this host's time, in ms (0 until a measurement was taken). */
  get offset(): number {
    this.sync();
    return this.off;
  }

  /** Whether a measurement was ever taken (else the replica stamps with its own clock). */
  get known(): boolean {
    return this.taken;
  }

  /** Whether a moved Redis clock is waiting for confirmation (measure again soon). */
  get confirming(): boolean {
    return this.pending !== null;
  }

  toGroup(local: number): number {
    this.sync();
    return local + this.off;
  }

  toLocal(group: number): number {
    this.sync();
    return group - this.off;
  }

  /**
   * This host's wall clock was stepped by `step` ms (wall-steps.ts), Redis's was not: the offset
   * (group − local) moves by −step at once. Kept until the next measurement (up to a minute on), every
   * time converted meanwhile was off by the step: set back 12 hours, the bans this replica shared
   * were stored 12 hours in the past, ended for every other replica (review H56). Before any
   * measurement the replica stamps with its own clock and the offset stays 0.
   */
  localStepped(step: number): void {
    if (this.taken) this.off -= step;
  }

  /** Takes (or refuses) one measurement, the best of a few samples (bestSample). */
  take(samples: readonly ClockSample[]): ClockVerdict {
    const s = bestSample(samples);
    if (s === null) return { kind: 'none' };
    // The samples are taken one after the other, ms apart: each reads the same clock, so they agree
    // (Redis's time minus the monotonic clock) within their round trips. One that does not is garbage,
    // and so may be the fastest one: before, the first measurement took any time within a day of this
    // host's from a single answer, and every ban shared until CONFIRMATIONS later measurements undid it
    // was stored that far off (a day in the past: ended at every other replica).
    let by = 0;
    for (const x of samples) {
      if (x === s || ![x.redisMs, x.monoMs, x.rttMs].every(Number.isFinite) || x.rttMs < 0 || x.rttMs > MAX_RTT_MS) continue;
      const d = Math.abs(x.redisMs - x.monoMs - (s.redisMs - s.monoMs));
      if (d > JUMP_MS + x.rttMs + s.rttMs && d > by) by = d;
    }
    if (by > 0) return { kind: 'disagree', by: Math.round(by) };
    const measured = Math.round(s.redisMs - s.wallMs);
    if (!(Math.abs(measured) <= MAX_OFFSET_MS)) return { kind: 'far', measured };
    const base = s.redisMs - s.monoMs;
    const room = JUMP_MS + s.rttMs;
    if (this.base !== null && Math.abs(base - this.base) > room) {
      if (this.pending !== null && Math.abs(base - this.pending.base) <= room) this.pending = { base, seen: this.pending.seen + 1 };
      else this.pending = { base, seen: 1 };
      if (this.pending.seen < CONFIRMATIONS) return { kind: 'jump', by: Math.round(base - this.base), seen: this.pending.seen };
    }
    this.pending = null;
    this.base = base;
    const first = !this.taken;
    this.taken = true;
    const changed = Math.abs(measured - this.off) > HYSTERESIS_MS;
    if (changed) this.off = measured;
    return { kind: 'set', offset: this.off, changed: changed || (first && measured !== 0 && this.off !== 0), measured };
  }
}
