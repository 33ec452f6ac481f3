/**
 * Helper H43: the seeded differential of the seams with shared bans (see harness.ts): 3 live agents
 * per seed on a real redis-server; enforcer, book, status, status RULE, why, the active-bans gauge,
 * the state file across restarts, and the group (late joiner) compared after quiet. 7 seeds by default
 * (about 30 s); H43_SEEDS=N H43_FROM=S runs N from S (seeds 1-90 ran clean with patches h43-1..3).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { hasRedisServer } from '../share/redis-server.js';
import { useRedisGroup } from '../share/redis-group.js';
import { cleanup, randomScenario, runScenario } from './harness.js';

afterAll(cleanup);
const SEEDS = Number(process.env.H43_SEEDS ?? 7);
const FROM = Number(process.env.H43_FROM ?? 1);

describe.skipIf(!hasRedisServer)(`shared bans: live agents vs restart vs reload vs CLI vs kernel${hasRedisServer ? '' : ' (skipped: redis-server is not installed)'}`, () => {
  const g = useRedisGroup();
  it(`${SEEDS} seeded scenarios agree at every checkpoint`, async () => {
    const proxy = await g.proxy();
    const all: string[] = [];
    const totals: Record<string, number> = {};
    for (let seed = FROM; seed < FROM + SEEDS; seed++) {
      const t0 = Date.now();
      const o = await runScenario(g, randomScenario(seed), proxy);
      for (const [k, v] of Object.entries(o.stats)) totals[k] = (totals[k] ?? 0) + v;
      if (process.env.H43_VERBOSE) console.log(`seed ${seed} ${Date.now() - t0} ms`, o.stats, o.problems.length ? `\n${o.trace.join('\n')}\n${o.problems.join('\n')}` : '');
      all.push(...o.problems.slice(0, 2));
    }
    if (process.env.H43_VERBOSE) console.log(totals);
    expect(all).toEqual([]);
  }, Math.max(60_000, SEEDS * 8_000));
});
