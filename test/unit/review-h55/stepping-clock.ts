/**
 * A manual clock whose wall clock can be stepped (NTP, a clock set by hand, a VM whose clock was
 * corrected) while its timers and its monotonic clock go on unmoved, as Node's do: setTimeout and
 * performance.now() follow the monotonic clock, Date.now() the wall.
 */
import { ManualClock } from '../../fakes/manual-clock.js';

export class SteppingClock extends ManualClock {
  private wallOffset = 0;

  /** `wall`: the wall clock at the start (the monotonic clock starts at 0 ms... plus `wall`). */
  constructor(wall: number) {
    super(wall);
  }

  override now(): number {
    return super.now() + this.wallOffset;
  }

  /** The monotonic clock (ms): never stepped. */
  monotonic(): number {
    return super.now();
  }

  /** Steps the wall clock by `ms` (negative: back); no timer fires. */
  step(ms: number): void {
    this.wallOffset += ms;
  }
}
