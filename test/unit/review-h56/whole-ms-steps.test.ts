/**
 * Helper H56: a step measured against a monotonic clock that reads fractions of a ms (Node's
 * performance.now()) moved every ban by a fraction of a ms too (review H55's SteppingClock reads
 * whole ms, so its tests never saw it): starts and ends at fractions of a ms in the book, the state
 * file and what the firewall is given. The share stage, which moves its offset to the group's clock by
 * the same step (share-clock-step.test.ts), would send every time as a fraction, which the other
 * replicas refuse as no time (messages.ts isTime).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonState } from '../../../src/daemon.js';
import { watchWallSteps, type WallStep } from '../../../src/wall-steps.js';
import { agent, cleanup, NOW, settle } from '../seams-variants/harness.js';
import { SteppingClock } from '../review-h55/stepping-clock.js';

afterEach(cleanup);

/** A stepping clock whose monotonic clock reads fractions of a ms, as performance.now() does. */
class FractionalClock extends SteppingClock {
  private reads = 0;
  override monotonic(): number {
    // Each reading a little later (never earlier): 0.37 ms per reading, as a busy event loop's.
    return super.monotonic() + 0.37 * ++this.reads;
  }
}

describe('review H56: a step is in whole ms', () => {
  it('watchWallSteps reports whole ms whatever fractions the monotonic clock reads', () => {
    const inner = new FractionalClock(NOW);
    const steps: WallStep[] = [];
    const clock = watchWallSteps(inner, (s) => steps.push(s));
    clock.now();
    for (const ms of [-86_400_000, 3_600_000, -10_000, 7_777]) {
      inner.advance(1234);
      inner.step(ms);
      clock.now();
    }
    expect(steps).toHaveLength(4);
    for (const s of steps) expect(Number.isInteger(s.step)).toBe(true);
  });

  for (const step of [-86_400_000, 3_600_000]) {
    it(`stepped ${step / 1000} s: the bans held, saved and handed on keep whole-ms times`, async () => {
      const clock = new FractionalClock(NOW);
      const a = agent({ env: { BANHAMMER_MAXRETRY: '1', BANHAMMER_BANTIME: '1h' }, clock });
      await a.daemon.start();
      await a.feed('198.18.0.9', 1);
      clock.advance(60_000);
      await settle();
      clock.step(step);
      clock.advance(2000);
      await settle();
      expect(a.warnings.filter((w) => w.includes('wall clock was stepped'))).toHaveLength(1);
      const saved = (a.store.doc as DaemonState).bans;
      expect(saved).toHaveLength(1);
      expect(Number.isInteger(saved[0]!.at)).toBe(true);
      expect(Number.isInteger(saved[0]!.until)).toBe(true);
      expect(Math.abs(saved[0]!.until! - (NOW + 3_600_000 + step))).toBeLessThan(5);
      expect(Number.isInteger(a.enforcer.held.get('198.18.0.9')!.until)).toBe(true);
      await a.daemon.stop();
    });
  }
});
