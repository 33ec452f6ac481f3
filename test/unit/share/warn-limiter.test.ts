import { describe, expect, it } from 'vitest';
import { WarnLimiter } from '../../../src/share/warn-limiter.js';

describe('WarnLimiter', () => {
  it('lets a kind through once a minute, saying how many were held back', () => {
    let now = 1_000_000;
    const w = new WarnLimiter({ now: () => now });
    expect(w.admit('failure')).toEqual({ held: 0 });
    for (let i = 0; i < 5; i++) expect(w.admit('failure')).toBeNull();
    // Another kind is not held back by the first.
    expect(w.admit('subscribe')).toEqual({ held: 0 });
    now += 59_999;
    expect(w.admit('failure')).toBeNull();
    now += 1;
    expect(w.admit('failure')).toEqual({ held: 6 });
    // A condition that lasts is seen again every minute, for as long as it lasts (not once per process).
    now += 3_600_000;
    expect(w.admit('failure')).toEqual({ held: 0 });
  });

  it('a clock set back never holds a warning back for longer than the interval', () => {
    let now = 5_000_000;
    const w = new WarnLimiter({ now: () => now }, 60_000);
    expect(w.admit('k')).not.toBeNull();
    now -= 3_600_000;
    expect(w.admit('k')).not.toBeNull();
  });

  it('remembers at most maxKinds kinds, and a flood of kinds never silences a known one for good', () => {
    let now = 0;
    const w = new WarnLimiter({ now: () => now }, 60_000, 8);
    expect(w.admit('failure')).not.toBeNull();
    for (let i = 0; i < 1000; i++) w.admit(`junk-${i}`);
    // The limiter used to stop logging anything after 100 distinct messages; here the known kind is
    // let through again at its next minute whatever came in between.
    now += 60_000;
    expect(w.admit('failure')).not.toBeNull();
  });
});
