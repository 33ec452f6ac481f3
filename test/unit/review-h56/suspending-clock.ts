/**
 * A stepping clock whose host can also sleep (a laptop's lid closed, a VM suspended or paused): while
 * it sleeps the monotonic clock and the timers stand still and the wall clock goes on, and the
 * boot-time clock (Clock.suspended: CLOCK_BOOTTIME − CLOCK_MONOTONIC) counts the sleep, as Linux's do.
 */
import { SteppingClock } from '../review-h55/stepping-clock.js';

export class SuspendingClock extends SteppingClock {
  private slept = 0;
  /** How many times suspended() was read (it is a system call in production). */
  reads = 0;

  /** The host sleeps `ms`: the wall clock goes on, no timer fires, the monotonic clock stands. */
  sleep(ms: number): void {
    this.step(ms);
    this.slept += ms;
  }

  suspended(): number {
    this.reads++;
    return this.slept;
  }
}
