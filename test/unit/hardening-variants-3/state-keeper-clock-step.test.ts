/**
 * The state keeper spaces saves after a slow one (decide/state-keeper.ts: SAVE_SPACING × its
 * duration, at most MAX_SAVE_GAP_MS = 30 s) by the wall clock, while its timers run on Node's
 * monotonic time. A wall clock stepped back (NTP correcting a clock that ran ahead, an operator
 * fixing the date) after a slow save left `notBefore` in the future by the size of the step: the
 * next save waited that long (a day back: a day without a save; bans made then were lost on a
 * crash or restart). The gap after a slow save is never longer than MAX_SAVE_GAP_MS of real time.
 */
import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../../src/clock.js';
import { MAX_SAVE_GAP_MS, StateKeeper } from '../../../src/decide/state-keeper.js';

/** Wall time = monotonic time + a step the test sets; timers run on monotonic time, as Node's do. */
class SteppedClock implements Clock {
  mono = 0;
  step = Date.UTC(2026, 11, 5, 5);
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.mono + this.step;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.mono + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h.id as number);
  }
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.mono = next[1].at;
      next[1].fn();
    }
    this.mono = end;
  }
}

const tick = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('saves after a slow one, when the wall clock steps back', () => {
  it.each([3_600_000, 86_400_000])('a step back of %d ms: the next save starts within MAX_SAVE_GAP_MS', async (back) => {
    const clock = new SteppedClock();
    const saved: number[] = [];
    let release: (() => void) | null = null;
    const sink = {
      save(doc: number): Promise<void> {
        saved.push(doc);
        return doc === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
      },
    };
    const k = new StateKeeper<number>({ sink, clock, log: { warn() {}, info() {} } });
    void k.request(() => 1);
    clock.advance(2_000); // a slow save: 2 s (spaced by 20 s)
    release!();
    await tick();
    clock.step -= back; // NTP steps the wall clock back
    const second = k.request(() => 2);
    clock.advance(MAX_SAVE_GAP_MS + 1_000);
    await tick();
    expect(saved).toEqual([1, 2]);
    await expect(second).resolves.toBe(true);
  });

  it('without a step, the spacing still holds (no save before it)', async () => {
    const clock = new SteppedClock();
    const saved: number[] = [];
    let release: (() => void) | null = null;
    const sink = { save: (doc: number) => (saved.push(doc), doc === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve()) };
    const k = new StateKeeper<number>({ sink, clock, log: { warn() {}, info() {} } });
    void k.request(() => 1);
    clock.advance(2_000);
    release!();
    await tick();
    void k.request(() => 2);
    clock.advance(10_000);
    await tick();
    expect(saved).toEqual([1]); // spaced: 10 × 2 s from the start of the slow save
    clock.advance(10_000);
    await tick();
    expect(saved).toEqual([1, 2]);
  });
});
