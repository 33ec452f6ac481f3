/**
 * CPU-bound work in slices, so that the agent's one thread keeps reading log lines, answering the
 * control socket and serving metrics while it goes over a big ban book: building a map (apache-map:
 * 500,000 bans took over a second of one block to sort, render and lay out as SDBM pages), restoring
 * or saving the state, building a status report, re-sending every ban to the enforcer.
 *
 * A step function is a generator that does its work and `yield`s (no value) every so often, about
 * every STEP_UNITS units of work (an entry, a pair, a line): a point where it may be paused. Its
 * result is the generator's return value. runSync runs one to the end at once (the synchronous
 * exports: buildSdbm, renderApacheMap); runYielding runs it in slices of at most about `sliceMs`
 * and gives the event loop a turn (setImmediate: timers, I/O callbacks) between two slices.
 * A step function's input must not change while it runs: callers hand it a snapshot.
 */
import { performance } from 'node:perf_hooks';

export type Steps<T> = Generator<void, T, void>;

/** Units of work between two pause points of a step function (a power of two, for a mask). */
export const STEP_UNITS = 1024;

/** Longest slice runYielding runs before it gives the event loop a turn. */
export const SLICE_MS = 8;

/** Runs a step function to its end without pausing. */
export function runSync<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs a step function in slices of about `sliceMs`, giving the event loop a turn between them. */
export async function runYielding<T>(steps: Steps<T>, sliceMs = SLICE_MS): Promise<T> {
  let start = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (performance.now() - start >= sliceMs) {
      await turn();
      start = performance.now();
    }
  }
}

/**
 * For an async loop that cannot be a step function (it awaits replies between its pieces: a read of
 * the group's hash in Redis): call the returned function after each unit of work; once `sliceMs` has
 * passed since the last turn it returns a promise that resolves after one (await it), else
 * undefined (nothing to await: no microtask per unit).
 */
export function sliceTurns(sliceMs = SLICE_MS): () => Promise<void> | undefined {
  let start = performance.now();
  return () => {
    if (performance.now() - start < sliceMs) return undefined;
    return turn().then(() => {
      start = performance.now();
    });
  };
}

/**
 * Sorts `items` (an array the caller owns; it is sorted in place and returned) as Array.prototype.sort
 * with `cmp` would, stably, in pausable steps: runs of RUN items sorted natively, then merged
 * pairwise, bottom up.
 */
export function* sortSteps<T>(items: T[], cmp: (a: T, b: T) => number): Steps<T[]> {
  const RUN = 1024;
  const n = items.length;
  for (let lo = 0; lo < n; lo += RUN) {
    if (lo === 0 && n <= RUN) return items.sort(cmp);
    const run = items.slice(lo, Math.min(lo + RUN, n)).sort(cmp);
    for (let i = 0; i < run.length; i++) items[lo + i] = run[i]!;
    yield;
  }
  let src = items;
  let dst: T[] = new Array<T>(n);
  let ops = 0;
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        // Stable: on a tie the left run's item goes first.
        dst[k++] = cmp(src[j]!, src[i]!) < 0 ? src[j++]! : src[i++]!;
        if ((++ops & (STEP_UNITS - 1)) === 0) yield;
      }
      while (i < mid) dst[k++] = src[i++]!;
      while (j < hi) dst[k++] = src[j++]!;
    }
    const t = src;
    src = dst;
    dst = t;
    yield;
  }
  if (src !== items) {
    for (let i = 0; i < n; i++) {
      items[i] = src[i]!;
      if ((i & (8 * STEP_UNITS - 1)) === 0) yield;
    }
  }
  return items;
}

/**
 * String parts (a rendered map's text, a slice of lines each) as Buffers of about `bytes` each, made
 * one at a time as the consumer asks (a file writer awaits each write between two): never one big
 * string encoded at once, nor the whole text held twice (27 MB of Buffers made at once for 500,000
 * bans woke the garbage collector for pauses of 40 ms).
 */
export function* encodeChunks(parts: readonly string[], encoding: 'latin1' | 'utf8', bytes = 1 << 20): Generator<Buffer, void, void> {
  let group: string[] = [];
  let size = 0;
  for (const p of parts) {
    group.push(p);
    size += p.length;
    if (size >= bytes) {
      yield Buffer.from(group.join(''), encoding);
      group = [];
      size = 0;
    }
  }
  if (group.length > 0) yield Buffer.from(group.join(''), encoding);
}
