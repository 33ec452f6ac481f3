/**
 * Counts parse outcomes: events, and skips per SkipReason. The hot path is one typeof test and one
 * increment; the caller (replay, the daemon's metrics) reads the totals.
 */
import { SKIP_REASONS, type ParseOutcome, type SkipReason } from './access-event.js';

export class ParseCounters {
  events = 0;
  readonly skipped: Record<SkipReason, number>;

  constructor() {
    const s = {} as Record<SkipReason, number>;
    for (const r of SKIP_REASONS) s[r] = 0;
    this.skipped = s;
  }

  /** Records one outcome and returns it, so `counters.count(parse(line))` can sit inline. */
  count<T extends ParseOutcome>(o: T): T {
    if (typeof o === 'string') this.skipped[o as SkipReason]++;
    else this.events++;
    return o;
  }

  /** Lines skipped, all reasons together. */
  get skippedTotal(): number {
    let n = 0;
    for (const r of SKIP_REASONS) n += this.skipped[r];
    return n;
  }

  /** Lines seen. */
  get total(): number {
    return this.events + this.skippedTotal;
  }

  /** Only the reasons that occurred, for a summary line. */
  nonZeroSkips(): Partial<Record<SkipReason, number>> {
    const out: Partial<Record<SkipReason, number>> = {};
    for (const r of SKIP_REASONS) if (this.skipped[r] > 0) out[r] = this.skipped[r];
    return out;
  }
}
