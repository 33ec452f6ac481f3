/**
 * Helper H55: the apache-map enforcer writes each ban's end as Apache's %{TIME} shows it, in local
 * time (TZ of the container), and mod_rewrite bans while `%{TIME} < end`. Across a DST fall-back the
 * same local hour repeats: a ban ending in its second pass (a standard-time 02:30) was not enforced
 * during its first pass (summer-time 02:30, an hour before its end, reads the same), with the agent
 * alive: an hour of a ban lost each autumn. The end is now written in the offset in force an hour
 * before it when that is ahead (summer time): the ban holds until its end (the agent lifts it then;
 * a dead agent's ban lasts at most the hour longer, never shorter).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeStamp } from '../../../src/enforce/apache-map.js';

const pad = (n: number): string => String(n).padStart(2, '0');
/** Apache's %{TIME} at `t`: local YYYYMMDDHHMMSS (the process's TZ). */
const apacheTime = (t: number): string => {
  const d = new Date(t);
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
};

const zones: [string, number][] = [
  // [TZ, a fall-back instant (UTC ms)]
  ['Europe/Paris', Date.UTC(2026, 9, 25, 1, 0, 0)],
  ['America/New_York', Date.UTC(2026, 10, 1, 6, 0, 0)],
  ['Australia/Lord_Howe', Date.UTC(2026, 3, 4, 15, 0, 0)], // a 30-minute shift
  ['Australia/Sydney', Date.UTC(2026, 3, 4, 16, 0, 0)],
];

let saved: string | undefined;
beforeAll(() => {
  saved = process.env.TZ;
});
afterAll(() => {
  if (saved === undefined) delete process.env.TZ;
  else process.env.TZ = saved;
});

describe('review H55: apache-map ends across a DST fall-back', () => {
  for (const [tz, fallBack] of zones) {
    it(`${tz}: every ban is enforced by %{TIME} < end up to its end, whatever minute it ends around the fall-back`, () => {
      process.env.TZ = tz;
      // (The zone must be in force: a summer and a winter reading of the same instant differ.)
      expect(new Date(fallBack - 1).getTimezoneOffset()).not.toBe(new Date(fallBack).getTimezoneOffset());
      const gaps: string[] = [];
      for (let end = fallBack - 2 * 3600_000; end <= fallBack + 2 * 3600_000; end += 5 * 60_000) {
        const stamp = timeStamp(end);
        // Enforced every 10 s of the two hours before its end…
        for (let t = end - 2 * 3600_000; t < end; t += 10_000) {
          if (!(apacheTime(t) < stamp)) {
            gaps.push(`ends ${new Date(end).toISOString()}: not enforced at ${new Date(t).toISOString()}`);
            break;
          }
        }
        // …and never more than the shift longer (an hour) after it, when the agent is dead.
        expect(apacheTime(end + 3600_000 + 1000) < stamp).toBe(false);
      }
      expect(gaps).toEqual([]);
    });
  }

  it('outside a transition the stamp is the local time of the end, rounded up to a second', () => {
    process.env.TZ = 'Europe/Paris';
    expect(timeStamp(Date.UTC(2026, 6, 1, 10, 0, 0, 1))).toBe('20260701120001');
    expect(timeStamp(Date.UTC(2026, 11, 1, 10, 0, 0))).toBe('20261201110000');
    expect(timeStamp(null)).toBe('99991231235959');
  });
});
