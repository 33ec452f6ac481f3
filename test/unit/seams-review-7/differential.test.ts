/**
 * Helper H33: the seeded differential of the newest seams (see harness.ts): live agent (enforcer,
 * book, status, why) against replay's pipeline with the same operations, and against the real
 * `banhammer replay` for scenarios without operations.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { replayFile } from '../../../src/replay/replay.js';
import { cleanup, randomScenario, runScenario } from './harness.js';

afterAll(cleanup);
// 160 seeds in all by default (60 with operations, 50 floods, 50 without operations: about 8 s); H33_SEEDS=N runs N of each.
const N = process.env.H33_SEEDS === undefined ? undefined : Number(process.env.H33_SEEDS);
const SEEDS = N ?? 60;
const FLOODS = N ?? 50;
const PLAIN = N ?? 50;
const FROM = Number(process.env.H33_FROM ?? 1);

describe('seams review 7: live agent vs replay vs restore vs reload vs CLI', () => {
  it(`${SEEDS} seeded scenarios with operations agree at every checkpoint`, async () => {
    const all: string[] = [];
    const totals = { checkpoints: 0, cuts: 0, refused: 0, networks: 0, restarts: 0, reloads: 0, replayed: 0 };
    for (let seed = FROM; seed < FROM + SEEDS; seed++) {
      const o = await runScenario(randomScenario(seed));
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += o.stats[k];
      all.push(...o.problems.slice(0, 1));
    }
    if (process.env.H33_VERBOSE) console.log(totals, all.join('\n'));
    expect(all).toEqual([]);
  }, 60_000);

  it(`${FLOODS} seeded floods of one tenant's containers in host mode (the cut at the cap)`, async () => {
    const all: string[] = [];
    let cuts = 0;
    for (let seed = FROM + 2000; seed < FROM + 2000 + FLOODS; seed++) {
      const o = await runScenario(randomScenario(seed, { flood: true }));
      cuts += o.stats.cuts;
      all.push(...o.problems.slice(0, 1));
    }
    if (process.env.H33_VERBOSE) console.log({ cuts }, all.join('\n'));
    expect(all).toEqual([]);
    expect(cuts).toBeGreaterThan(FLOODS / 4);
  }, 60_000);

  it(`${PLAIN} seeded logs without operations: the real replay agrees too`, async () => {
    const all: string[] = [];
    let replayed = 0;
    for (let seed = FROM + 1000; seed < FROM + 1000 + PLAIN; seed++) {
      const o = await runScenario(randomScenario(seed, { ops: false }), { replayFile: (f, c) => replayFile(f, c, { threads: 1 }) });
      replayed += o.stats.replayed;
      all.push(...o.problems.slice(0, 1));
    }
    if (process.env.H33_VERBOSE) console.log({ replayed }, all.join('\n'));
    expect(all).toEqual([]);
    // Every log outside host mode, and host mode's with one container, went through the real replay too.
    expect(replayed).toBeGreaterThan(PLAIN / 2);
  }, 60_000);
});
