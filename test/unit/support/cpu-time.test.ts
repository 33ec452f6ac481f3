import { describe, expect, it } from 'vitest';
import { oneStepCost, SPIKE_LIMIT } from '../../support/cpu-time.js';

describe('oneStepCost (the fuzz tests\' per-line stall bound)', () => {
  const cheap = (): number => 1 + 1;
  it('takes a step a little over its bound, cheap when measured again, for a spike', () => {
    expect(oneStepCost(60, 50, cheap)).toBeLessThan(50);
  });
  it('never excuses a step far over its bound, however cheap a fresh instance finds the input (a stall built by earlier state)', () => {
    let calls = 0;
    expect(oneStepCost(SPIKE_LIMIT * 50, 50, () => calls++)).toBe(SPIKE_LIMIT * 50);
    expect(oneStepCost(300, 50, () => calls++)).toBe(300);
    expect(calls).toBe(0);
  });
  it('leaves a step under its bound alone, without measuring again', () => {
    let calls = 0;
    expect(oneStepCost(10, 50, () => calls++)).toBe(10);
    expect(calls).toBe(0);
  });
  it('keeps a step that is over its bound every time it is measured', () => {
    const spin = (): void => {
      const end = process.cpuUsage().user + 80_000;
      while (process.cpuUsage().user < end);
    };
    expect(oneStepCost(90, 50, spin)).toBeGreaterThanOrEqual(50);
  });
});
