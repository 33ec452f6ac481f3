import { describe, expect, it } from 'vitest';
import { ClfTimeCache, parseClfTime } from '../../../src/parse/timestamp.js';

describe('parseClfTime', () => {
  it('reads day, month, year, time and zone', () => {
    expect(parseClfTime('10/Oct/2026:13:55:36 -0700')).toBe(Date.UTC(2026, 9, 10, 20, 55, 36));
    expect(parseClfTime('01/Jan/2026:00:00:00 +0000')).toBe(Date.UTC(2026, 0, 1));
    expect(parseClfTime('01/Jan/2026:00:30:00 +0530')).toBe(Date.UTC(2025, 11, 31, 19, 0));
    expect(parseClfTime('29/Feb/2024:12:00:00 +0000')).toBe(Date.UTC(2024, 1, 29, 12));
    expect(parseClfTime('31/Dec/1999:23:59:59 +1400')).toBe(Date.UTC(1999, 11, 31, 9, 59, 59));
  });

  it('reads a timestamp inside a longer string by offset', () => {
    const s = 'x [10/Oct/2026:13:55:36 +0000] y';
    expect(parseClfTime(s, 3, 29)).toBe(Date.UTC(2026, 9, 10, 13, 55, 36));
  });

  it.each([
    ['', 'empty'],
    ['10/Oct/2026:13:55:36', 'no zone'],
    ['10/Oct/2026:13:55:36 -07000', 'too long'],
    ['10/oct/2026:13:55:36 +0000', 'month case'],
    ['10/Okt/2026:13:55:36 +0000', 'month name'],
    ['00/Oct/2026:13:55:36 +0000', 'day 0'],
    ['32/Oct/2026:13:55:36 +0000', 'day 32'],
    ['31/Apr/2026:13:55:36 +0000', 'April 31'],
    ['29/Feb/2025:13:55:36 +0000', 'not a leap year'],
    ['29/Feb/1900:13:55:36 +0000', '1900 is not a leap year'],
    ['10/Oct/2026:24:00:00 +0000', 'hour 24'],
    ['10/Oct/2026:13:60:00 +0000', 'minute 60'],
    ['10/Oct/2026:13:55:60 +0000', 'second 60'],
    ['10/Oct/2026:13:55:36 +2500', 'zone hours'],
    ['10/Oct/2026:13:55:36 +1401', 'zone beyond +14:00'],
    ['10/Oct/2026:13:55:36 +0060', 'zone minutes'],
    ['10/Oct/2026:13:55:36 ~0000', 'zone sign'],
    ['10-Oct-2026:13:55:36 +0000', 'separators'],
    ['1a/Oct/2026:13:55:36 +0000', 'digits'],
    ['10/Oct/0099:13:55:36 +0000', 'year below 100'],
  ])('rejects %j (%s)', (s) => {
    expect(parseClfTime(s)).toBeNaN();
  });
});

describe('ClfTimeCache', () => {
  it('returns the same values as parseClfTime, repeated and interleaved', () => {
    const cache = new ClfTimeCache(2);
    const stamps = ['10/Oct/2026:13:55:36 +0000', '10/Oct/2026:13:55:37 +0000', '11/Oct/2026:13:55:36 +0000', 'bad/Oct/2026:13:55:36 +000'];
    for (let round = 0; round < 3; round++) {
      for (const t of [...stamps, ...stamps.slice().reverse(), stamps[0]!, stamps[0]!]) {
        const line = `1.2.3.4 - - [${t}] "x"`;
        const got = cache.parse(line, 13, 13 + t.length);
        const want = t.length === 26 ? parseClfTime(t) : NaN;
        if (Number.isNaN(want)) expect(got).toBeNaN();
        else expect(got).toBe(want);
      }
    }
  });

  it('an invalid timestamp never becomes the fast path for a valid one', () => {
    const cache = new ClfTimeCache();
    expect(cache.parse('32/Oct/2026:13:55:36 +0000', 0, 26)).toBeNaN();
    expect(cache.parse('10/Oct/2026:13:55:36 +0000', 0, 26)).toBe(Date.UTC(2026, 9, 10, 13, 55, 36));
    expect(cache.parse('32/Oct/2026:13:55:36 +0000', 0, 26)).toBeNaN();
  });
});
