/**
 * The enforcement queue: applies what the ban book says the enforcer must change, in batches.
 *
 * Contract:
 * - schedule() asks for a flush on the next turn of the event loop, so a ban storm costs one batch
 *   (one `ipset restore`), not one process per address. flush() applies everything the book has
 *   changed and resolves when the enforcer holds it and `afterApply` (reporting; it may start a state
 *   save but never waits for one) has run.
 * - Nothing on this path waits for anything but the enforcer: afterApply is synchronous by type, so a
 *   state disk that never answers cannot hold back a later ban (the firewall is the job; the state
 *   file is best effort).
 * - Batches, repair checks and re-applies never overlap: they run one after the other.
 * - A batch the enforcer rejects as a whole (tool missing, lock held) goes back to the book as
 *   unknown and is retried on a timer (1 s); one element the kernel refuses never fails the others:
 *   the enforcer leaves it out, and it is reported once per address and counted.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { KernelBan, KernelDiff } from '../decide/ban-book.js';
import { scopedKey } from '../decide/scoped-key.js';
import type { Enforcer } from './enforcer.js';
import type { Metrics } from '../metrics/registry.js';
import { errorFields } from '../errors.js';
import { runYielding, type Steps } from '../yielding.js';

/** The part of the ban book the queue reads. */
export interface EnforcementSource {
  /** At most `limit` changed entries (the rest: hasChanges stays true). */
  changes(now: number, limit?: number): KernelDiff;
  requeue(diff: KernelDiff): void;
  readonly hasChanges: boolean;
  expected(now: number): KernelBan[];
  touchAll(): void;
  /** touchAll() in pausable steps (src/yielding.ts), when the source has it. */
  touchAllSteps?(): Steps<void>;
}

/**
 * Changed entries one batch takes at most: a re-send of every ban (every 6 h, after a repair, at
 * start) goes in batches of this many with a turn of the event loop between two, where one batch of
 * 500,000 blocked the agent for seconds to take the diff and build the enforcer's input (the
 * iptables, nftables and docker-user builders check each address again: 5–9 µs each, so 8,192 cost
 * 35–120 ms on a loaded 2-core machine; review H34). afterApply runs once the last batch of a flush is held.
 */
export const BATCH_MAX_ENTRIES = 8192;

export interface EnforcementQueueOptions {
  readonly enforcer: Enforcer;
  readonly source: EnforcementSource;
  readonly clock: Clock;
  /**
   * After a batch is held by the enforcer (report it, start a state save), with the elements the
   * enforcer refused and left out of it (scopedKey of address and scope). Synchronous: it must not
   * make the queue wait (a save is started, never awaited). Never throws.
   */
  readonly afterApply: (refused: ReadonlySet<string>) => void;
  readonly log: { error(obj: object, msg?: string): void };
  readonly metrics?: (Pick<Metrics, 'enforceDuration' | 'enforceError' | 'enforceRefused'> & Partial<Pick<Metrics, 'checked' | 'checkFailed' | 'mapOverflow'>>) | undefined;
  readonly retryMs?: number;
}

export class EnforcementQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private scheduled = false;
  private retry: TimerHandle | null = null;
  private stopped = false;
  private readonly refused = new Set<string>();
  /** Batches that failed as a whole since the last success (for status). */
  failing = 0;
  /** Elements the kernel refused since start (each logged once). */
  refusedTotal = 0;

  constructor(private readonly opts: EnforcementQueueOptions) {}

  /** Whether the kernel refused the element `key` (scopedKey) in the last batch that held it. */
  isRefused(key: string): boolean {
    return this.refused.has(key);
  }

  /** Flush on the next turn of the event loop. */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Applies everything the book changed; resolves once applied (or once the failure is queued for retry). */
  flush(): Promise<void> {
    return this.serial(() => this.applyChanges());
  }

  /** Re-sends every ban the book holds (after a restart, a repaired set, the kernel-timeout refresh). */
  reapplyAll(): Promise<void> {
    return this.serial(async () => {
      const { source } = this.opts;
      if (source.touchAllSteps !== undefined) await runYielding(source.touchAllSteps());
      else source.touchAll();
      await this.applyChanges();
    });
  }

  /**
   * The enforcer's repair check against the book's view; returns what was repaired. Metrics get
   * what it read back from the kernel (drift, entries held) and the time of the last check that
   * succeeded; a check that throws is counted and rethrown.
   */
  check(): Promise<string[]> {
    return this.serial(async () => {
      const { enforcer, clock, metrics } = this.opts;
      let repaired: string[];
      try {
        repaired = await enforcer.check(() => this.opts.source.expected(clock.now()));
      } catch (e) {
        metrics?.checkFailed?.();
        throw e;
      }
      metrics?.checked?.(clock.now(), enforcer.name, enforcer.lastReading);
      if (enforcer.overflowEntries !== undefined) metrics?.mapOverflow?.(enforcer.name, enforcer.overflowEntries);
      return repaired;
    });
  }

  /** No more scheduling or retries; waits for the batch in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== null) this.opts.clock.clearTimeout(this.retry);
    this.retry = null;
    await this.tail.catch(() => {});
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * Applies what the book changed, BATCH_MAX_ENTRIES entries a batch with a turn of the event loop
   * between two; afterApply once the last is held (with what the kernel refused in any of them).
   */
  private async applyChanges(): Promise<void> {
    if (!this.opts.source.hasChanges) return;
    const refused = new Set<string>();
    for (let first = true; ; first = false) {
      if (!first) await new Promise((resolve) => setImmediate(resolve));
      const r = await this.applyBatch(refused);
      if (r === 'failed') return;
      // Only what was changed when the flush started, cut in batches: a change made while a batch
      // is applied waits for the next flush (schedule()), as before, so reports never wait on a flood.
      if (r === 'done') break;
    }
    this.opts.afterApply(refused);
  }

  /** One batch: 'more' when the book had more changes than one batch takes (taken synchronously, so none is new). */
  private async applyBatch(refusedAll: Set<string>): Promise<'failed' | 'more' | 'done'> {
    const { source, enforcer, clock } = this.opts;
    const diff = source.changes(clock.now(), enforcer.batchEntries ?? BATCH_MAX_ENTRIES);
    const rest: 'more' | 'done' = source.hasChanges ? 'more' : 'done';
    if (diff.ban.length === 0 && diff.unban.length === 0) return rest;
    const t0 = performance.now();
    let result;
    try {
      result = await enforcer.apply(diff);
    } catch (err) {
      source.requeue(diff);
      this.failing++;
      this.opts.metrics?.enforceError(enforcer.name);
      this.opts.log.error({ err: errorFields(err), bans: diff.ban.length, unbans: diff.unban.length }, 'enforcement failed; will retry');
      this.retryLater();
      return 'failed';
    }
    this.failing = 0;
    this.opts.metrics?.enforceDuration(enforcer.name, (performance.now() - t0) / 1000);
    const refusedNow = new Map((result?.refused ?? []).map((r) => [scopedKey(r.ip, r.scope), r]));
    // Remembered while its ban lasts (status and why say the firewall does not hold it), so the set is
    // never larger than the book's bans: a flood that fills the kernel's set is exactly when many are
    // refused, and forgetting them (it was cleared at 10,000) had status call them held.
    for (const b of diff.ban) {
      const k = scopedKey(b.ip, b.scope);
      if (!refusedNow.has(k)) this.refused.delete(k);
    }
    for (const u of diff.unban) this.refused.delete(scopedKey(u.ip, u.scope));
    for (const [k, r] of refusedNow) {
      if (this.refused.has(k)) continue;
      this.refused.add(k);
      this.refusedTotal++;
      this.opts.metrics?.enforceRefused(enforcer.name);
      this.opts.log.error({ ip: r.ip, ...(r.scope !== undefined ? { containerId: r.scope } : {}), reason: r.reason }, 'the firewall refused this ban; the others are applied');
    }
    for (const k of refusedNow.keys()) refusedAll.add(k);
    return rest;
  }

  private retryLater(): void {
    if (this.stopped || this.retry !== null) return;
    this.retry = this.opts.clock.setTimeout(() => {
      this.retry = null;
      void this.flush();
    }, this.opts.retryMs ?? 1000);
  }
}
