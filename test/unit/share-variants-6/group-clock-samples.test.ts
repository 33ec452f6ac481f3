/**
 * Issue 11, round 6 (H12): one TIME answer alone never sets the group's clock. The samples of one
 * measurement read the same clock milliseconds apart; one that disagrees with the others is garbage
 * (a proxy or a broken server answering something that parses as a time), and it was taken when it
 * was the fastest, even at the first measurement (nothing to compare it with), moving every time the
 * replica shared by up to a day until CONFIRMATIONS later measurements undid it.
 */
import { describe, expect, it } from 'vitest';
import { GroupClock, JUMP_MS, type ClockSample } from '../../../src/share/group-clock.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 5, 11, 0, 0);

/** A sample at real time T0 + t: Redis's clock at `redisSkew` (or `redis`), this host's at `wallSkew`. */
const at = (t: number, rtt: number, wallSkew: number, redisSkew: number, redis?: number): ClockSample => ({
  redisMs: redis ?? T0 + t + redisSkew,
  wallMs: T0 + t + wallSkew,
  monoMs: t,
  rttMs: rtt,
});

describe('GroupClock: the samples of one measurement must agree', () => {
  for (const wallSkew of [0, -90_000, 23 * HOUR]) {
    it(`a first measurement whose fastest answer is 20 h off is refused (host ${wallSkew / 1000} s off), then a sound one is taken`, () => {
      const c = new GroupClock();
      const v = c.take([at(0, 0.1, wallSkew, 0, T0 - 20 * HOUR), at(1, 0.4, wallSkew, 0), at(2, 0.4, wallSkew, 0)]);
      expect(v.kind).toBe('disagree');
      expect(c.known).toBe(false);
      expect(c.offset).toBe(0);
      // The next measurement, all three sound: the real offset (Redis is this host's clock − wallSkew).
      const w = c.take([at(3_400, 0.2, wallSkew, 0), at(3_401, 0.3, wallSkew, 0), at(3_402, 0.3, wallSkew, 0)]);
      expect(w.kind).toBe('set');
      expect(c.known).toBe(true);
      expect(Math.abs(c.offset + wallSkew)).toBeLessThanOrEqual(1);
    });
  }

  it('a later measurement with one garbage answer (the fastest) is refused, not counted towards a jump', () => {
    const c = new GroupClock();
    c.take([at(0, 0.2, 0, 90_000), at(1, 0.2, 0, 90_000), at(2, 0.2, 0, 90_000)]);
    expect(Math.abs(c.offset - 90_000)).toBeLessThanOrEqual(1);
    for (let i = 1; i <= 5; i++) {
      const t = i * 60_000;
      const v = c.take([at(t, 0.1, 0, 0, T0 + t - HOUR), at(t + 1, 0.5, 0, 90_000), at(t + 2, 0.5, 0, 90_000)]);
      expect(v.kind).toBe('disagree');
    }
    expect(Math.abs(c.offset - 90_000)).toBeLessThanOrEqual(1);
  });

  it('samples that agree within JUMP_MS plus their round trips are one measurement (slow, jittery links)', () => {
    const c = new GroupClock();
    // Round trips of 300 and 900 ms: the server read its clock anywhere in them.
    const v = c.take([at(0, 300, 0, 3_000, T0 + 3_000 + 140), at(1_000, 900, 0, 3_000, T0 + 1_000 + 3_000 - 440), at(2_000, 300, 0, 3_000)]);
    expect(v.kind).toBe('set');
    expect(Math.abs(c.offset - 3_000)).toBeLessThanOrEqual(150);
    // ... and one a little beyond that is refused.
    const d = new GroupClock();
    expect(d.take([at(0, 1, 0, 0), at(5, 1, 0, 0, T0 + 5 + JUMP_MS + 10)]).kind).toBe('disagree');
  });

  it('samples slower than MAX_RTT_MS or not finite neither count nor refuse the measurement', () => {
    const c = new GroupClock();
    const v = c.take([at(0, 0.2, 0, -3_000), at(1, 5_000, 0, 0, T0 - 20 * HOUR), { redisMs: Number.NaN, wallMs: 0, monoMs: 0, rttMs: 0 }]);
    expect(v.kind).toBe('set');
    expect(Math.abs(c.offset + 3_000)).toBeLessThanOrEqual(1);
  });
});
