/**
 * Time is an input. Everything that needs "now" or a timer takes a Clock, so tests pin time with
 * ManualClock (test/fakes/manual-clock.ts) and production uses systemClock.
 */
import { uptime } from 'node:os';

export interface Clock {
  /** Milliseconds since the Unix epoch: the wall clock, which NTP or an operator may step either way. */
  now(): number;
  /**
   * A monotonic clock in ms (any origin), which no step of the wall clock moves; timers follow it.
   * Optional: without it a step of the wall clock cannot be told from time going by (wall-steps.ts).
   */
  monotonic?(): number;
  /**
   * How long the host has been suspended (ms, any origin; CLOCK_BOOTTIME − CLOCK_MONOTONIC): the
   * monotonic clock stops while a host or VM sleeps and the wall clock goes on, and only this tells
   * that sleep from a step of the wall clock (wall-steps.ts). Read rarely (a system call): optional.
   */
  suspended?(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: unknown;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  // os.uptime() is CLOCK_BOOTTIME (counts suspended time), process.hrtime CLOCK_MONOTONIC (does not),
  // both from boot: their difference grows by exactly the time spent suspended (10 ms resolution).
  suspended: () => uptime() * 1000 - Number(process.hrtime.bigint() / 1000n) / 1000,
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { id: t };
  },
  clearTimeout(handle) {
    clearTimeout(handle.id as NodeJS.Timeout);
  },
};

/**
 * The clock to measure how long ago something was (a cache's age, a rate limit, a wait): the
 * monotonic clock when the clock has one, else the wall clock. Measured on the wall clock, every
 * such interval begun before the wall clock was set back a day lasted a day longer: a container's
 * syslog tag looked up again after 5 s was not for a day (review H55).
 */
export function steadyNow(clock: Clock): number {
  return clock.monotonic !== undefined ? clock.monotonic() : clock.now();
}

/**
 * Runs `fn` every `ms` on `clock` (the next run is scheduled once the previous one settled, so runs
 * never overlap) until stop(); a run that throws or rejects is handed to `onError`.
 */
export function repeat(clock: Clock, ms: number, fn: () => unknown, onError: (err: unknown) => void): { stop(): void } {
  let handle: TimerHandle | null = null;
  let stopped = false;
  const tick = (): void => {
    Promise.resolve()
      .then(fn)
      .catch(onError)
      .finally(() => {
        if (!stopped) handle = clock.setTimeout(tick, ms);
      });
  };
  handle = clock.setTimeout(tick, ms);
  return {
    stop() {
      stopped = true;
      if (handle !== null) clock.clearTimeout(handle);
    },
  };
}
