/**
 * Evictions at max_tracked count only windows that still held failures in play: one whose newest
 * failure is two findtimes or more before the failure that makes room (what the detector's sweep
 * drops, and what no line the agent may still count can count with) goes uncounted. Replay never
 * sweeps, so before this a long log of many addresses, each failing once, reported thousands of
 * evictions and told the user to raise max_tracked for nothing; a burst of many addresses at once
 * must still be counted, and still says so.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { DistinctWindows } from '../../../src/detect/distinct-window.js';
import { SlidingWindows } from '../../../src/detect/sliding-window.js';
import { clf } from '../../support/clf.js';

const SEC = 1000;
const T0 = Date.UTC(2026, 2, 1, 0, 0, 0);
const root = mkdtempSync(join(tmpdir(), 'bh-stale-evictions-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const addr = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255}`;

describe('windows let go at the cap', () => {
  it('SlidingWindows: a window two findtimes old goes uncounted, a younger one is counted', () => {
    const findtime = 60 * SEC;
    const w = new SlidingWindows(findtime, 1);
    w.record(addr(1), T0);
    // Exactly two findtimes later: the first window is stale (the sweep drops it at that age).
    w.record(addr(2), T0 + 2 * findtime);
    expect(w.evictions).toBe(0);
    // One second short of two findtimes: still in play (a line read a findtime late counts with it).
    w.record(addr(3), T0 + 4 * findtime - SEC);
    expect(w.evictions).toBe(1);
    expect(w.size).toBe(1);
  });

  it('DistinctWindows: the same', () => {
    const findtime = 10 * SEC;
    const w = new DistinctWindows(findtime, 1, 40);
    w.record(addr(1), T0, 7);
    w.record(addr(2), T0 + 2 * findtime, 7);
    expect(w.evictions).toBe(0);
    w.record(addr(3), T0 + 4 * findtime - SEC, 7);
    expect(w.evictions).toBe(1);
  });

  it('live, the clock decides: a window stale by the clock goes uncounted even for a line logged late', () => {
    const findtime = 60 * SEC;
    const w = new SlidingWindows(findtime, 1);
    w.record(addr(1), T0, T0);
    // A line stamped a minute before the clock (a slow request), the clock two findtimes on.
    w.record(addr(2), T0 + findtime, T0 + 2 * findtime);
    expect(w.evictions).toBe(0);
  });

  it('its newest failure decides: a window with a recent one is in play whatever its oldest', () => {
    const findtime = 60 * SEC;
    const w = new SlidingWindows(findtime, 1);
    w.record(addr(1), T0);
    w.record(addr(1), T0 + 4 * 60 * SEC);
    w.record(addr(2), T0 + 5 * 60 * SEC);
    expect(w.evictions).toBe(1);
  });
});

describe('replay', () => {
  const replay = async (name: string, lines: string[], rule: string): Promise<Record<string, number>> => {
    const file = join(root, name);
    writeFileSync(file, lines.join('\n') + '\n');
    const config = loadConfig({ env: { BANHAMMER_MAX_TRACKED: '100' }, hostname: 't' });
    return (await replayFile(file, config, { rules: [rule], threads: 1 })).evictions;
  };

  it('a day of addresses failing once each a minute apart reports no eviction; the same addresses in one burst do', async () => {
    const spread = Array.from({ length: 1000 }, (_, i) => `${addr(i)} - - [${clf(T0 + i * 60 * SEC)}] "GET /x HTTP/1.1" 403 10 "-" "curl/8"`);
    expect((await replay('spread.log', spread, 'forbidden')).forbidden).toBe(0);
    const burst = Array.from({ length: 1000 }, (_, i) => `${addr(i)} - - [${clf(T0 + Math.floor(i / 100) * SEC)}] "GET /x HTTP/1.1" 403 10 "-" "curl/8"`);
    expect((await replay('burst.log', burst, 'forbidden')).forbidden).toBe(900);
  });

  it('distinct-paths rules alike (crawl-non-static: 10 s)', async () => {
    const spread = Array.from({ length: 500 }, (_, i) => `${addr(i)} - - [${clf(T0 + i * 30 * SEC)}] "GET /page-${i} HTTP/1.1" 200 10 "-" "Mozilla/5.0"`);
    expect((await replay('spread-paths.log', spread, 'crawl-non-static'))['crawl-non-static']).toBe(0);
    const burst = Array.from({ length: 500 }, (_, i) => `${addr(i)} - - [${clf(T0 + Math.floor(i / 100) * SEC)}] "GET /page-${i} HTTP/1.1" 200 10 "-" "Mozilla/5.0"`);
    expect((await replay('burst-paths.log', burst, 'crawl-non-static'))['crawl-non-static']).toBe(400);
  });
});
