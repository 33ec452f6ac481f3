/** Helper H55: watchWallSteps (src/wall-steps.ts) tells a step of the wall clock from time going by. */
import { describe, expect, it } from 'vitest';
import { steadyNow } from '../../../src/clock.js';
import { watchWallSteps, type WallStep } from '../../../src/wall-steps.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { SteppingClock } from './stepping-clock.js';

const T = Date.UTC(2026, 10, 23, 10, 0, 0);

describe('review H55: watchWallSteps', () => {
  it('time going by, however long between two readings, is no step; a step either way is, once, before now() returns', () => {
    const inner = new SteppingClock(T);
    const steps: { s: WallStep; seenBy: number }[] = [];
    const clock = watchWallSteps(inner, (s) => steps.push({ s, seenBy: inner.now() }));
    clock.now();
    inner.advance(3 * 86_400_000);
    expect(clock.now()).toBe(T + 3 * 86_400_000);
    expect(steps).toEqual([]);
    inner.advance(1000);
    inner.step(-86_400_000);
    const after = clock.now();
    expect(after).toBe(T + 3 * 86_400_000 + 1000 - 86_400_000);
    expect(steps.map((x) => x.s)).toEqual([{ step: -86_400_000, before: T + 3 * 86_400_000, after }]);
    expect(clock.now()).toBe(after);
    inner.step(7200_000);
    clock.now();
    expect(steps.map((x) => x.s.step)).toEqual([-86_400_000, 7200_000]);
  });

  it('steps under 5 s are left alone; a clock without a monotonic one is passed through', () => {
    const inner = new SteppingClock(T);
    const steps: WallStep[] = [];
    const clock = watchWallSteps(inner, (s) => steps.push(s));
    clock.now();
    inner.step(-4999);
    clock.now();
    inner.step(4999);
    clock.now();
    expect(steps).toEqual([]);
    const manual = new ManualClock(T);
    expect(watchWallSteps(manual, () => steps.push({ step: 0, before: 0, after: 0 }))).toBe(manual);
    expect(steadyNow(manual)).toBe(T);
    expect(steadyNow(inner)).toBe(T);
    inner.step(-1000);
    expect(steadyNow(inner)).toBe(T);
  });
});
