/**
 * CPU time of work a test bounds, for tests that guard against stalls (a quadratic blow-up, hostile
 * input costing seconds).
 *
 * Why not wall time: CI runs the suite on a 2-core VM with noisy neighbours. A process that is not
 * running (preempted by another process, a neighbour's burst) still sees the wall clock move, so a
 * wall-time bound fails at random on a loaded machine (a config load bounded at 1.5 s took 2.2 s; a
 * line bounded at 50 ms took 58 ms). The process's CPU time (user + system, `process.cpuUsage`) does
 * not move while the process waits for a core, yet grows with every step of real work: a stall still
 * costs its 10x or 100x. Each test file runs in its own forked process (vitest `pool: 'forks'`, one
 * file at a time), so nothing else in this process runs while the measured work does; the garbage
 * collector's helper threads do, and their time counts, as it is part of the work's cost.
 *
 * What CPU time does not remove (a cold cache, a GC pause landing in one measurement, CPU time the
 * hypervisor steals and the guest still charges) is handled by measuring again: `bestCpuMs` for a
 * typical cost, `timedCpuRetry` for one measurement or the worst of a loop (a real stall repeats; a spike does not).
 */

/**
 * The process's CPU time so far, in ms (user + system): a clock that stands still while the process
 * waits for a core. Differences of it bound synchronous work as `performance.now()` differences did.
 */
export function cpuNow(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

/** CPU milliseconds (user + system, whole process) spent in `fn` and its result. Synchronous work only. */
export function timedCpu<T>(fn: () => T): [T, number] {
  const start = process.cpuUsage();
  const value = fn();
  const used = process.cpuUsage(start);
  return [value, (used.user + used.system) / 1000];
}

/** CPU milliseconds spent in `fn` (synchronous work only). */
export function cpuMs(fn: () => unknown): number {
  return timedCpu(fn)[1];
}

/**
 * CPU milliseconds from the start to the end of `fn`'s promise. Only for work that is CPU-bound
 * between awaits (no timer or I/O wait is measured, by design); all other work in the process counts too.
 */
export async function cpuMsAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** The least CPU milliseconds of `runs` calls of `fn`: its typical cost, without one-off spikes. */
export function bestCpuMs(fn: () => unknown, runs = 3): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) best = Math.min(best, cpuMs(fn));
  return best;
}

/**
 * `fn`'s result and CPU milliseconds, measured again (up to `tries` runs in all) while over `boundMs`;
 * the least is returned. A real stall is over the bound every time; a preemption or GC spike in one
 * run is not seen again. Only for work that can run twice (`fn` must not depend on an earlier run).
 */
export function timedCpuRetry<T>(fn: () => T, boundMs: number, tries = 3): [T, number] {
  const [value, first] = timedCpu(fn);
  let least = first;
  for (let i = 1; i < tries && least >= boundMs; i++) least = Math.min(least, cpuMs(fn));
  return [value, least];
}

/** What `watchLoopGaps` reports. */
export interface LoopGapWatch {
  /** The longest gap seen so far between two turns of the timer, in ms the process ran (see below). */
  worst(): number;
  stop(): void;
}

/**
 * Watches the event loop with a timer every `everyMs`. A gap between two turns counts for the lesser
 * of its wall and CPU time: synchronous work holding the loop runs the process, so it counts in full;
 * a loaded machine preempting the process moves only the wall clock, so it does not count. (The CPU
 * time is the whole process's, threads included: it can only overstate a gap, never hide a block.)
 */
export function watchLoopGaps(everyMs: number): LoopGapWatch {
  let lastWall = performance.now();
  let lastCpu = cpuNow();
  let worst = 0;
  const timer = setInterval(() => {
    const wall = performance.now();
    const cpu = cpuNow();
    worst = Math.max(worst, Math.min(wall - lastWall, cpu - lastCpu));
    lastWall = wall;
    lastCpu = cpu;
  }, everyMs);
  return { worst: () => worst, stop: () => clearInterval(timer) };
}

/**
 * The cost of one step of a stateful loop (a parser fed line after line), `first` CPU ms, judged
 * against `boundMs`: a step over the bound but under SPIKE_LIMIT times it is measured again with
 * `again` (the same input on a fresh instance, whose state differs) and the lesser counts, so a GC or
 * stolen-time spike does not fail the test. From SPIKE_LIMIT times the bound on, the first
 * measurement stands: no spike seen on a loaded machine came near that, and a stall that depends on
 * the state built by the earlier steps (which the fresh instance lacks) must not be excused.
 */
export function oneStepCost(first: number, boundMs: number, again: () => unknown): number {
  if (first < boundMs || first >= SPIKE_LIMIT * boundMs) return first;
  return Math.min(first, timedCpuRetry(again, boundMs)[1]);
}

/** How far over its bound a measurement may be and still be taken for a spike (oneStepCost). */
export const SPIKE_LIMIT = 4;
