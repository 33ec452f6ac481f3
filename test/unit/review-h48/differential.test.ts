/**
 * Helper H48: the seeded differential (harness.ts): live agent, replay's pipeline, an agent restarted
 * on the reloaded configuration, status / status RULE / why / the active-bans gauge / the firewall,
 * and the real `banhammer replay` with every rule.
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { replayFile } from '../../../src/replay/replay.js';
import { cleanup, randomScenario, runScenario } from './harness.js';

afterAll(cleanup);
// A few seeds by default (about 25 s); H48_SEEDS=N runs N of each, H48_FROM the first. The parallel
// replay of the built code (worker threads, slow to start: one seed by default) runs when dist/ is built,
// as `npm test` builds it first.
const N = process.env.H48_SEEDS === undefined ? undefined : Number(process.env.H48_SEEDS);
const FROM = Number(process.env.H48_FROM ?? 1);

describe('review H48: live agent vs replay vs reload vs CLI, every preset on', () => {
  it(`${N ?? 8} seeded scenarios with bans, unbans and reloads agree at every checkpoint`, async () => {
    const all: string[] = [];
    for (let seed = FROM; seed < FROM + (N ?? 8); seed++) all.push(...(await runScenario(randomScenario(seed))).problems.slice(0, 1));
    if (process.env.H48_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);

  it(`${N ?? 6} seeded logs without operations: the real replay --all-rules agrees too`, async () => {
    const all: string[] = [];
    for (let seed = FROM + 1000; seed < FROM + 1000 + (N ?? 6); seed++) {
      all.push(...(await runScenario(randomScenario(seed, { ops: false }), { replayFile: (f, c, rules) => replayFile(f, c, { threads: 1, rules }) })).problems.slice(0, 1));
    }
    if (process.env.H48_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);
});

describe('review H48: lines out of order in time', () => {
  it(`${N ?? 6} seeded scenarios whose lines go back up to 4 s now and then`, async () => {
    const all: string[] = [];
    for (let seed = FROM + 2000; seed < FROM + 2000 + (N ?? 6); seed++) all.push(...(await runScenario(randomScenario(seed, { back: true }), { looseTimes: true })).problems.slice(0, 1));
    if (process.env.H48_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);

  it(`${N ?? 6} seeded scenarios whose lines are read up to 19 s late (inside every findtime), across the agent's sweeps`, async () => {
    const all: string[] = [];
    for (let seed = FROM + 4000; seed < FROM + 4000 + (N ?? 6); seed++) all.push(...(await runScenario(randomScenario(seed, { back: true, backMs: 19_000 }), { looseTimes: true, lateMs: 19_000 })).problems.slice(0, 1));
    if (process.env.H48_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);
});

describe('review H48: the parallel replay (built code) with every rule', () => {
  it.skipIf(!existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url)))(`${N ?? 1} seeded log(s) on 2 and 3 threads agree with the live agent`, async () => {
    const dist = (await import(new URL('../../../dist/replay/replay.js', import.meta.url).href)) as typeof import('../../../src/replay/replay.js');
    const all: string[] = [];
    for (const threads of [2, 3]) {
      for (let seed = FROM + 3000; seed < FROM + 3000 + (N ?? 1); seed++) {
        all.push(...(await runScenario(randomScenario(seed, { ops: false, lines: 400 }), { replayFile: (f, c, rules) => dist.replayFile(f, c, { threads, rules }) })).problems.slice(0, 1));
      }
    }
    if (process.env.H48_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);
});
