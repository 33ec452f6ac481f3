/**
 * Issue 9 (round 4 audit, helper H3): detection windows under hostile time orders, against the
 * README ("Time in the log is trusted only so far"): a line a little late (up to the rule's lead:
 * half its findtime, at most 5 minutes) counts with the newer ones around it, live and in replay;
 * identical times all count; a failure exactly findtime before the newest is outside the window
 * (the window is (newest − findtime, newest]); lines ahead of the clock within the 60 s tolerance,
 * going back and forth, never keep maxretry failures from banning. Seeded permutations.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline, type PipelineMode } from '../../../src/pipeline/pipeline.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { clf } from '../../support/clf.js';
import { rng } from '../../support/random.js';

const T0 = Date.UTC(2026, 11, 5, 7, 0, 0);
const S = 1000;
const IP = '198.18.0.77';
const line = (t: number): string => `${IP} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;

function bans(mode: PipelineMode, findtime: string, stamps: readonly number[], clock: (i: number) => number): Ban[] {
  const out: Ban[] = [];
  const p = new Pipeline({ config: loadConfig({ env: { BANHAMMER_RULE_FORBIDDEN_FINDTIME: findtime }, hostname: 'u' }), mode, onBan: (b) => out.push(b) });
  stamps.forEach((t, i) => {
    const ev = p.parse(line(t));
    if (ev !== null && typeof ev === 'object') p.observe(ev, clock(i));
  });
  return out;
}

function shuffle<T>(r: () => number, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('windows under hostile time orders (README: "Time in the log is trusted only so far")', () => {
  for (const [findtime, leadS] of [['1m', 30], ['10m', 300], ['1h', 300]] as const) {
    for (const mode of ['live', 'replay'] as const) {
      it(`${mode}, findtime ${findtime}: five 403s within the lead (${leadS} s), any order, ban`, () => {
        const bad: string[] = [];
        for (let seed = 1; seed <= 150; seed++) {
          const r = rng(seed);
          const stamps = shuffle(r, Array.from({ length: 5 }, () => T0 + Math.floor(r() * (leadS + 1)) * S));
          // Live: the clock is at or after every stamp (the agent reads lines once written).
          const got = bans(mode, findtime, stamps, (i) => Math.max(...stamps.slice(0, i + 1)) + Math.floor(r() * 3) * S);
          if (got.length !== 1) bad.push(`seed ${seed}: ${got.length} bans for ${stamps.map((t) => (t - T0) / S).join(',')}`);
        }
        expect(bad.slice(0, 5)).toEqual([]);
      });
    }
  }

  it('five identical times ban, live and replay', () => {
    const stamps = [T0, T0, T0, T0, T0];
    expect(bans('live', '1m', stamps, () => T0).length).toBe(1);
    expect(bans('replay', '1m', stamps, () => T0).length).toBe(1);
  });

  it('a failure exactly findtime before the newest is outside the window; one second less is inside', () => {
    for (const mode of ['live', 'replay'] as const) {
      const edge = [T0, T0 + 20 * S, T0 + 30 * S, T0 + 40 * S, T0 + 60 * S];
      expect(bans(mode, '1m', edge, (i) => edge[i]!).length, mode).toBe(0);
      const inside = [T0 + 1 * S, T0 + 20 * S, T0 + 30 * S, T0 + 40 * S, T0 + 60 * S];
      expect(bans(mode, '1m', inside, (i) => inside[i]!).length, mode).toBe(1);
    }
  });

  it('live: lines up to 60 s ahead of the clock, back and forth, never keep five current 403s from a ban', () => {
    const bad: string[] = [];
    for (let seed = 1; seed <= 150; seed++) {
      const r = rng(1000 + seed);
      const stamps = Array.from({ length: 5 }, () => T0 + Math.floor(r() * 30) * S);
      // Between them, lines of the same client stamped up to 60 s ahead of the clock (within the tolerance).
      const all: number[] = [];
      for (const t of stamps) {
        all.push(t);
        if (r() < 0.6) all.push(T0 + 30 * S + Math.floor(r() * 60) * S);
      }
      const got = bans('live', '1m', all, () => T0 + 30 * S);
      if (got.length < 1) bad.push(`seed ${1000 + seed}: no ban for ${all.map((t) => (t - T0) / S).join(',')}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });
});

describe('stepped lines ahead of the clock (within the 60 s tolerance) never erase current failures', () => {
  // Four current failures, then two lines of the same address 33 s and 58 s ahead of the clock (the
  // second no jump from the first), then the fifth current failure: the window still holds the four.
  const C = T0 + 10 * S;
  it('SlidingWindows (count: failures), live', async () => {
    const { SlidingWindows } = await import('../../../src/detect/sliding-window.js');
    const w = new SlidingWindows(60 * S, 100);
    for (let i = 0; i < 4; i++) w.record(IP, C - 4 * S + i * S, C);
    w.record(IP, C + 33 * S, C);
    w.record(IP, C + 58 * S, C);
    expect(w.record(IP, C, C)).toBe(5);
  });
  it('DistinctWindows (count: distinct-paths), live', async () => {
    const { DistinctWindows } = await import('../../../src/detect/distinct-window.js');
    const w = new DistinctWindows(60 * S, 100, 100);
    for (let i = 0; i < 4; i++) w.record(IP, C - 4 * S + i * S, 100 + i, C);
    w.record(IP, C + 33 * S, 200, C);
    w.record(IP, C + 58 * S, 201, C);
    expect(w.record(IP, C, 300, C)).toBe(5);
  });
});
