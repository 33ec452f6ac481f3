import { describe, expect, it } from 'vitest';
import { formatDuration, isPermanent, parseDuration, PERMANENT } from '../../../src/config/duration.js';
import { BanhammerError } from '../../../src/errors.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  it.each([
    ['600', 600 * S],
    ['0', 0],
    ['1.5', 1500],
    ['60s', 60 * S],
    ['10m', 10 * M],
    ['1h', H],
    ['30d', 30 * D],
    ['1w', 7 * D],
    ['250ms', 250],
    ['1h30m', H + 30 * M],
    ['30m1h', H + 30 * M],
    ['1d 12h', 36 * H],
    ['1 h', H],
    ['  2H ', 2 * H],
    ['1.5h', 90 * M],
    ['10min', 10 * M],
    ['2 hours', 2 * H],
    ['1week2days', 9 * D],
    ['1m1ms', M + 1],
  ])('%j → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '   ', '-1', '-5m', '1x', 'h', '1h1h', '10 m s', '1e3', '1,5h', 'permanent', '1h-30m', '99999999999999999999d'])('rejects %j', (text) => {
    let err: unknown;
    try {
      parseDuration(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BanhammerError);
    expect((err as BanhammerError).code).toBe('BH_ERR_CONFIG');
    expect((err as BanhammerError).message).toContain(JSON.stringify(text));
    expect((err as BanhammerError).hint).toMatch(/seconds/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [60 * S, '1m'],
    [H + 30 * M, '1h30m'],
    [D + 1, '1d1ms'],
    [7 * D, '1w'],
    [14 * D, '2w'],
    [30 * D, '30d'],
    [36 * H, '1d12h'],
    [PERMANENT, 'permanent'],
  ])('%d → %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration for whole milliseconds', () => {
    // Deterministic pseudo-random sample across scales (no Math.random: failures must reproduce).
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const ms = Math.floor((x / 2 ** 31) * 10 ** (i % 11));
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});

describe('PERMANENT', () => {
  it('is Infinity and recognised by isPermanent', () => {
    expect(PERMANENT).toBe(Number.POSITIVE_INFINITY);
    expect(isPermanent(PERMANENT)).toBe(true);
    expect(isPermanent(H)).toBe(false);
  });
});
