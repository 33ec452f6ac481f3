import { describe, expect, it } from 'vitest';
import { benchAddress, fmtCount, fmtMs, median, percentile, summarize, timesFaster } from '../../../bench/share/stats.js';

describe('bench/share/stats', () => {
  it('percentile is nearest-rank on sorted values', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 50)).toBe(2);
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([1, 2], Number.NaN)).toBeNaN();
  });

  it('summarize sorts a copy; median takes the lower middle', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(summarize(xs)).toEqual({ n: 5, p50: 3, p99: 5, max: 5 });
    expect(xs).toEqual([5, 1, 4, 2, 3]);
    expect(summarize([])).toEqual({ n: 0, p50: NaN, p99: NaN, max: NaN });
    expect(median([900, 700, 800, 1000])).toBe(800);
  });

  it('formats figures as printed', () => {
    expect(fmtMs(0.8349)).toBe('0.83 ms');
    expect(fmtMs(45.26)).toBe('45.3 ms');
    expect(fmtMs(1234.4)).toBe('1,234 ms');
    expect(fmtMs(Number.NaN)).toBe('n/a');
    expect(fmtCount(123456.7)).toBe('123,457');
    expect(fmtCount(Infinity)).toBe('n/a');
    expect(timesFaster(2, 10_000)).toBe('5,000×');
    expect(timesFaster(400, 10_000)).toBe('25.0×');
    expect(timesFaster(0, 10_000)).toBe('n/a');
    expect(timesFaster(Number.NaN, 10_000)).toBe('n/a');
  });

  it('benchAddress gives distinct addresses in 10.0.0.0/8', () => {
    expect(benchAddress(0)).toBe('10.0.0.0');
    expect(benchAddress(300_000)).toBe('10.4.147.224');
    expect(new Set(Array.from({ length: 70_000 }, (_, i) => benchAddress(i))).size).toBe(70_000);
    expect(() => benchAddress(1 << 24)).toThrow(RangeError);
    expect(() => benchAddress(-1)).toThrow(RangeError);
  });
});

describe('bench/run: the shared-bans flags', () => {
  it('runs the section by default, skips it with --no-share, --no-live (replay only) or --live-only, runs only it with --share-only', async () => {
    const { parseShareFlags, parseBenchArgs } = await import('../../../bench/run.js');
    expect(parseShareFlags([])).toEqual({ share: true, only: false });
    expect(parseShareFlags(['--no-share'])).toEqual({ share: false, only: false });
    expect(parseShareFlags(['--live-only'])).toEqual({ share: false, only: false });
    expect(parseShareFlags(['--no-live', '--quick'])).toEqual({ share: false, only: false });
    expect(parseShareFlags(['--share-only', '--quick'])).toEqual({ share: true, only: true });
    expect(() => parseBenchArgs(['--share-only', '--no-share', '--quick'])).not.toThrow();
  });
});
