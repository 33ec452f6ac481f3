/**
 * Saving the agent's state is best effort: a full, read-only or stalled disk must never stop
 * enforcement, and nobody on the enforcement path waits for a save.
 *
 * Contract:
 * - request(produce): a save of the current state is wanted. It starts at once when no save is in
 *   flight (and the spacing below allows); otherwise it is folded into the one follow-up save, which
 *   starts when the save in flight has settled and the spacing has passed (a clock timer). At most
 *   one save is in flight and at most one waits, whatever the number of requests: `produce` (the
 *   latest given) is called when the write starts, so the follow-up writes the latest state, and a
 *   disk that never answers holds one document, not one per request. The promise returned is shared
 *   by every request folded into the same save and resolves (true: durable, false: failed) once that
 *   save has settled; it never rejects, and nobody has to await it.
 * - Spacing: a save that took `slowMs` or more (a state of many bans with their log lines: ~0.4 s for
 *   100,000) delays the next by `spacing` × its duration (at most `maxGapMs`), so a ban storm never
 *   keeps the agent rewriting its state file. flush() is not spaced.
 * - A failed save is logged once per outage (with the error), the return once, and each failure is
 *   counted (onFailure). A save not settled after `stallMs` is a stall: counted once, logged once
 *   (and at most once per `stallWarnEveryMs`, so a flapping disk does not flood the log), and `error`
 *   says so (status, metrics) until a save succeeds.
 * - flush(produce, budgetMs), for stop(): the latest state is saved now (after the save in flight,
 *   unspaced); waits at most `budgetMs` of real time (a stopping process has no other) and answers
 *   'stalled' when the disk did not answer by then (the write goes on).
 */
import { steadyNow, systemClock, type Clock, type TimerHandle } from '../clock.js';

export interface StateSink<T> {
  save(doc: T): Promise<void>;
}

export interface StateKeeperLog {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export interface StateKeeperOptions<T> {
  readonly sink: StateSink<T>;
  readonly log: StateKeeperLog;
  /** Stall and spacing timers, save durations (default: the system clock). */
  readonly clock?: Clock;
  /** Each failed save and each stall (a metric). */
  readonly onFailure?: () => void;
  /** After each save has settled: the document, and whether it is durable. */
  readonly onSettled?: (doc: T, ok: boolean) => void;
  readonly stallMs?: number;
  readonly stallWarnEveryMs?: number;
  readonly slowMs?: number;
  readonly spacing?: number;
  readonly maxGapMs?: number;
}

/** A save not settled after this long is reported as stalled. */
export const STALL_MS = 10_000;
export const STALL_WARN_EVERY_MS = 10 * 60_000;
/** A save that took this long or more spaces the next ones by SAVE_SPACING × its duration. */
export const SLOW_SAVE_MS = 50;
export const SAVE_SPACING = 10;
export const MAX_SAVE_GAP_MS = 30_000;

interface FollowUp<T> {
  produce: () => T;
  /** flush(): not spaced. */
  urgent: boolean;
  readonly done: Promise<boolean>;
  readonly settle: (ok: boolean) => void;
}

export class StateKeeper<T> {
  /** The current outage's error (one line), or null while saves succeed. */
  error: string | null = null;
  failures = 0;
  private readonly opts: StateKeeperOptions<T>;
  private readonly clock: Clock;
  private inFlight = false;
  private next: FollowUp<T> | null = null;
  /** The follow-up waits for the spacing (clock timer), or starts as the save in flight settles. */
  private spacingTimer: TimerHandle | null = null;
  private notBefore = 0;
  private stallTimer: TimerHandle | null = null;
  private stalled = false;
  private lastStallWarning = -Infinity;

  constructor(opts: StateKeeperOptions<T>) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
  }

  /** Whether a save is in flight or waiting. */
  get busy(): boolean {
    return this.inFlight || this.next !== null;
  }

  /** Wants a save of `produce()`'s document (see the header); never throws, never needs awaiting. */
  request(produce: () => T): Promise<boolean> {
    if (this.next !== null) {
      this.next.produce = produce;
      return this.next.done;
    }
    if (!this.inFlight && this.clock.now() >= this.notBefore) return this.start(produce);
    const next = this.followUp(produce);
    if (!this.inFlight) this.spaceNext();
    return next.done;
  }

  /** The latest state saved now (after the save in flight, unspaced); waits at most `budgetMs` of real time. */
  async flush(produce: () => T, budgetMs: number): Promise<boolean | 'stalled'> {
    this.notBefore = 0;
    if (this.spacingTimer !== null) this.clock.clearTimeout(this.spacingTimer);
    this.spacingTimer = null;
    const done = this.next !== null || this.inFlight ? this.request(produce) : this.start(produce);
    if (this.next !== null) this.next.urgent = true;
    if (!this.inFlight) this.startNext();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'stalled'>((r) => {
      timer = setTimeout(() => r('stalled'), budgetMs);
      timer.unref?.();
    });
    try {
      return await Promise.race([done, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private followUp(produce: () => T): FollowUp<T> {
    let settle!: (ok: boolean) => void;
    const done = new Promise<boolean>((r) => (settle = r));
    this.next = { produce, urgent: false, done, settle };
    return this.next;
  }

  private spaceNext(): void {
    if (this.spacingTimer !== null) return;
    // notBefore is wall-clock time, the timer real time: a wall clock stepped back after a slow save
    // (NTP, an operator fixing the date) put notBefore ahead by the step, and the next save waited
    // that long (a day back: a day without a save). No spacing is ever longer than maxGapMs.
    const wait = Math.min(Math.max(0, this.notBefore - this.clock.now()), this.opts.maxGapMs ?? MAX_SAVE_GAP_MS);
    this.spacingTimer = this.clock.setTimeout(() => {
      this.spacingTimer = null;
      if (!this.inFlight) this.startNext();
    }, wait);
  }

  private startNext(): void {
    const next = this.next;
    if (next === null) return;
    this.next = null;
    void this.start(next.produce).then(next.settle);
  }

  private start(produce: () => T): Promise<boolean> {
    const startedAt = this.clock.now();
    let doc: T;
    let written: Promise<void>;
    try {
      doc = produce();
      written = this.opts.sink.save(doc);
    } catch (err) {
      return Promise.resolve(this.failed(err));
    }
    this.inFlight = true;
    this.stallTimer = this.clock.setTimeout(() => this.stall(), this.opts.stallMs ?? STALL_MS);
    return written.then(
      () => this.settled(doc, this.succeeded(), startedAt),
      (err: unknown) => this.settled(doc, this.failed(err), startedAt),
    );
  }

  private settled(doc: T, ok: boolean, startedAt: number): boolean {
    if (this.stallTimer !== null) this.clock.clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.stalled = false;
    this.inFlight = false;
    const took = this.clock.now() - startedAt;
    this.notBefore = took >= (this.opts.slowMs ?? SLOW_SAVE_MS) ? startedAt + Math.min((this.opts.spacing ?? SAVE_SPACING) * took, this.opts.maxGapMs ?? MAX_SAVE_GAP_MS) : 0;
    this.opts.onSettled?.(doc, ok);
    if (this.next !== null) {
      if (this.next.urgent || this.clock.now() >= this.notBefore) this.startNext();
      else this.spaceNext();
    }
    return ok;
  }

  private stall(): void {
    this.stallTimer = null;
    if (!this.inFlight || this.stalled) return;
    this.stalled = true;
    this.failures++;
    this.opts.onFailure?.();
    const stallMs = this.opts.stallMs ?? STALL_MS;
    const msg = `the state disk has not answered a save for ${Math.round(stallMs / 1000)} s or more`;
    const now = steadyNow(this.clock);
    if (this.error === null && now - this.lastStallWarning >= (this.opts.stallWarnEveryMs ?? STALL_WARN_EVERY_MS)) {
      this.lastStallWarning = now;
      this.opts.log.warn({ stalledForMs: stallMs }, `${msg} (a stalled disk or mount?); bans are still enforced; the latest state is written once it answers`);
    }
    this.error ??= msg;
  }

  private succeeded(): boolean {
    if (this.error !== null) this.opts.log.info({ failures: this.failures }, 'state saved again');
    this.error = null;
    return true;
  }

  private failed(err: unknown): boolean {
    // A save already counted as stalled is not counted again when it fails at last.
    if (!this.stalled) {
      this.failures++;
      this.opts.onFailure?.();
    }
    const msg = err instanceof Error ? err.message : String(err);
    if (this.error === null) this.opts.log.warn({ err: msg }, 'cannot save state (bans are still enforced; retrying)');
    this.error = msg.split('\n')[0]!.slice(0, 300);
    return false;
  }
}
