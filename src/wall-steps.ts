/**
 * Steps of the wall clock, told from time going by. Date.now() follows the wall clock, which NTP
 * steps (a host that booted without a clock battery, a VM whose clock was corrected, an operator
 * with `date -s`), while timers and the kernel's own ban timeouts (ipset, nftables) follow a
 * monotonic clock. A ban ends at a wall time: set a day back, every ban made before the step lasted
 * a day longer, in the book and (the check re-timing the kernel's entries) in the firewall; set a
 * day forward, every one ended at the next tick, an hour's ban after minutes.
 *
 * watchWallSteps() wraps a clock: every now() also reads the monotonic clock, and when the wall
 * clock moved by MIN_STEP_MS or more against it since the last reading, `onStep` is called, before
 * now() returns, with the step and the wall time the last reading stood for. Whoever reads the time
 * through the wrapper therefore never acts on a stepped clock before onStep has run: a ban made after
 * the step is made after onStep. A clock without monotonic() is passed through unwatched.
 */
import type { Clock } from './clock.js';

/** A step smaller than this is left alone (NTP slews small offsets; a few seconds change no ban). */
export const MIN_STEP_MS = 5_000;

export interface WallStep {
  /** How far the wall clock moved against the monotonic clock, in ms (negative: set back). */
  readonly step: number;
  /** The wall time of the last reading before the step (in the clock as it was then). */
  readonly before: number;
  /** The wall time read now (in the clock as it is now). */
  readonly after: number;
}

export function watchWallSteps(clock: Clock, onStep: (s: WallStep) => void, minStepMs = MIN_STEP_MS): Clock {
  const mono = clock.monotonic?.bind(clock);
  if (mono === undefined) return clock;
  let lastWall: number | undefined;
  let lastMono = 0;
  return {
    now(): number {
      const wall = clock.now();
      const m = mono();
      const prevWall = lastWall;
      const gone = m - lastMono;
      lastWall = wall;
      lastMono = m;
      if (prevWall !== undefined) {
        const step = wall - prevWall - gone;
        if (Math.abs(step) >= minStepMs) onStep({ step, before: prevWall, after: wall });
      }
      return wall;
    },
    monotonic: mono,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h),
  };
}
