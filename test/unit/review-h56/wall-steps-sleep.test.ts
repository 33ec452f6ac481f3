/**
 * Helper H56: a host or VM that sleeps is no step of the wall clock. While it is suspended the
 * monotonic clock stands still and the wall clock goes on; watchWallSteps (review H55) took the
 * difference for a step forward and moved every ban held by the length of the sleep: an hour's ban
 * held across an 8-hour sleep lasted 9 hours of real time, and the log told the operator to check NTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { watchWallSteps, type WallStep } from '../../../src/wall-steps.js';
import { systemClock } from '../../../src/clock.js';
import { agent, cleanup, NOW, settle } from '../seams-variants/harness.js';
import { intRng } from '../../support/random.js';
import { SuspendingClock } from './suspending-clock.js';

afterEach(cleanup);

const MIN = 60_000;
const H = 60 * MIN;
const env = { BANHAMMER_MAXRETRY: '1', BANHAMMER_BANTIME: '1h' };

async function run(clock: SuspendingClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= Math.min(left, 30_000)) {
    clock.advance(Math.min(left, 30_000));
    await settle();
  }
}

describe('review H56: watchWallSteps tells a sleep from a step', () => {
  it('seeded sleeps, steps and time going by: exactly the steps are reported, with their size', () => {
    const int = intRng(56);
    const between = (lo: number, hi: number): number => lo + int(hi - lo + 1);
    const inner = new SuspendingClock(NOW);
    const steps: WallStep[] = [];
    const clock = watchWallSteps(inner, (s) => steps.push(s));
    clock.now();
    const expected: number[] = [];
    for (let i = 0; i < 300; i++) {
      const what = int(3);
      const ms = between(5_000, 3 * 86_400_000);
      if (what === 0) inner.advance(ms);
      else if (what === 1) inner.sleep(ms);
      else {
        const step = int(2) === 0 ? -ms : ms;
        inner.step(step);
        expected.push(step);
        // A sleep and a step between the same two readings (NTP sets the clock at resume).
        if (int(2) === 0) inner.sleep(between(5_000, 86_400_000));
      }
      clock.now();
    }
    expect(expected.length).toBeGreaterThan(50);
    expect(steps.map((s) => s.step)).toEqual(expected);
  });

  it('the suspended time is read rarely: at a step-sized difference, and once per 10 s of monotonic time', () => {
    const inner = new SuspendingClock(NOW);
    const clock = watchWallSteps(inner, () => undefined);
    for (let i = 0; i < 10_000; i++) {
      inner.advance(1);
      clock.now();
    }
    expect(inner.reads).toBeLessThanOrEqual(2);
  });

  it("the system clock's suspended time is a number that does not run on while awake", () => {
    const a = systemClock.suspended!();
    const b = systemClock.suspended!();
    expect(Number.isFinite(a)).toBe(true);
    expect(Math.abs(b - a)).toBeLessThan(1000);
  });
});

describe('review H56: a ban held across a sleep ends on time', () => {
  for (const sleep of [10_000, 20 * MIN, 8 * H, 3 * 24 * H]) {
    it(`slept ${sleep / 1000} s, 10 minutes into an hour's ban: it ends 60 minutes of real time after it was made`, async () => {
      const clock = new SuspendingClock(NOW);
      const a = agent({ env, clock });
      await a.daemon.start();
      await a.feed('198.18.0.9', 1);
      expect(a.enforcer.held.get('198.18.0.9')!.until).toBe(NOW + H);
      await run(clock, 10 * MIN);
      clock.sleep(sleep);
      await run(clock, 2000);
      expect(a.warnings.filter((w) => w.includes('wall clock was stepped'))).toEqual([]);
      expect(a.enforcer.held.get('198.18.0.9')?.until).toBe(sleep < 50 * MIN ? NOW + H : undefined);
      await run(clock, Math.max(0, 50 * MIN - sleep));
      expect(a.held()).toEqual([]);
      await a.daemon.stop();
    });
  }

  it('a step taken at resume is still a step: only the sleep is taken out of it', async () => {
    const clock = new SuspendingClock(NOW);
    const a = agent({ env, clock });
    await a.daemon.start();
    await a.feed('198.18.0.9', 1);
    await run(clock, 10 * MIN);
    clock.sleep(20 * MIN);
    clock.step(-24 * H);
    await run(clock, 2000);
    expect(a.warnings.filter((w) => w.includes('wall clock was stepped back'))).toHaveLength(1);
    expect(a.enforcer.held.get('198.18.0.9')!.until).toBe(NOW + H - 24 * H);
    await run(clock, 29 * MIN);
    expect(a.held()).toEqual(['198.18.0.9']);
    await run(clock, 2 * MIN);
    expect(a.held()).toEqual([]);
    await a.daemon.stop();
  });
});
