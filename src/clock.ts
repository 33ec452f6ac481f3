/**
 * Time is an input. Everything that needs "now" or a timer takes a Clock, so tests pin time with
 * ManualClock (test/fakes/manual-clock.ts) and production uses systemClock.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: unknown;
}

export const systemClock: Clock = {
  now: () => Date.now(),
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
