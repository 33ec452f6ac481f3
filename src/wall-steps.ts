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
 * the step is made after onStep. A clock without monotonic() is passed through unwatched. Time the
 * host spent suspended (the monotonic clock stops, the wall clock goes on) is no step: with
 * Clock.suspended it is taken out of what looks like one.
 */
import type { Clock } from './clock.js';

/** A step smaller than this is left alone (NTP slews small offsets; a few seconds change no ban). */
export const MIN_STEP_MS = 5_000;

/**
 * The host's suspended time (Clock.suspended, a system call) is read again at a reading at least
 * this long (monotonic) after the last: a sleep too short to look like a step, taken in since, is not
 * subtracted from a later step.
 */
const SUSPEND_REREAD_MS = 10_000;

/** Less suspended time than this is the boot-time clock's resolution (/proc/uptime: 10 ms), no sleep. */
const SLEEP_NOISE_MS = 50;

export interface WallStep {
  /** How far the wall clock moved against the monotonic clock, in whole ms (negative: set back). */
  readonly step: number;
  /** The wall time of the last reading before the step (in the clock as it was then). */
  readonly before: number;
  /** The wall time read now (in the clock as it is now). */
  readonly after: number;
}

export function watchWallSteps(clock: Clock, onStep: (s: WallStep) => void, minStepMs = MIN_STEP_MS): Clock {
  const mono = clock.monotonic?.bind(clock);
  if (mono === undefined) return clock;
  const suspended = clock.suspended?.bind(clock);
  let lastWall: number | undefined;
  let lastMono = 0;
  // The host's suspended time when last read, and the monotonic time of that reading (sleep watch).
  let lastSuspended = 0;
  let suspendedReadAt = Number.NEGATIVE_INFINITY;
  return {
    now(): number {
      const wall = clock.now();
      const m = mono();
      const prevWall = lastWall;
      const gone = m - lastMono;
      lastWall = wall;
      lastMono = m;
      let step = prevWall === undefined ? 0 : wall - prevWall - gone;
      if (suspended !== undefined && (Math.abs(step) >= minStepMs || m - suspendedReadAt >= SUSPEND_REREAD_MS)) {
        // While the host or VM slept, the monotonic clock stood still and the wall clock went on:
        // that time went by (a ban's end passed during it), it is no step. Counted as one, every
        // ban held across an 8-hour sleep was held 8 hours longer, and the log said to check NTP
        // (review H56). What the watch tells a step by is the wall clock against the boot-time clock.
        const s = suspended();
        // (The boot-time clock reads in 10 ms steps: less than SLEEP_NOISE_MS is no sleep, and a step
        // of the wall clock alone keeps its exact size.)
        const slept = s - lastSuspended;
        if (prevWall !== undefined && Number.isFinite(suspendedReadAt) && Math.abs(slept) >= SLEEP_NOISE_MS) step -= slept;
        lastSuspended = s;
        suspendedReadAt = m;
      }
      // In whole ms, as every time the agent keeps: the monotonic clock reads fractions of a ms
      // (performance.now()), and a step with them moved every ban to start and end at a fraction of
      // a ms (book, state file, firewall input, status), and the share stage's offset to the group's
      // clock with it, which made every time it sent a fraction, refused by the other replicas as no
      // time (messages.ts isTime; review H56).
      if (prevWall !== undefined && Math.abs(step) >= minStepMs) onStep({ step: Math.round(step), before: prevWall, after: wall });
      return wall;
    },
    monotonic: mono,
    ...(suspended !== undefined ? { suspended } : {}),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h),
  };
}
