/**
 * Helper H36: is the kernel's set exactly the ban book, always? A seeded differential test of the
 * nftables enforcer (CIDR bans on) in a real kernel: 20 seeds × 30 random steps (ban, unban, re-ban,
 * batch, expiry by the kernel and by the agent, restart, drift made with `nft` and its repair), the
 * kernel compared with the model after every step (harness.ts, model.ts). Each seed runs in a
 * throw-away network namespace of its own, all removed in afterAll whatever happened.
 *
 * A failure prints the seed and the steps; `H36_SEEDS=7,12 npx vitest run test/integration/nft-differential`
 * runs chosen seeds.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { netnsUnavailable } from '../netns.js';
import { runSeed } from './harness.js';

const skip = await netnsUnavailable();
const SEEDS = process.env['H36_SEEDS'] ? process.env['H36_SEEDS'].split(',').map(Number) : Array.from({ length: 20 }, (_, i) => i + 1);

describe.skipIf(skip !== null)('nftables enforcer vs the ban book (differential, real kernel)', () => {
  const base = `bh-t-h36-${randomBytes(3).toString('hex')}`;
  const sh = new ProcessRunner({ timeoutMs: 20_000 });
  // One namespace per seed: nft reads every table of its namespace into its cache, and twenty
  // tables in one namespace doubled the run's time.
  const made: string[] = [];
  const runners = new Map<number, Runner>();

  let started = 0;
  beforeAll(async () => {
    for (const seed of SEEDS) {
      const name = `${base}-${seed}`;
      await sh.run('ip', ['netns', 'add', name]);
      made.push(name);
      runners.set(seed, withPrefix(new ProcessRunner({ timeoutMs: 10_000 }), ['ip', 'netns', 'exec', name]));
    }
    started = Date.now();
  });
  afterAll(async () => {
    for (const name of made) await sh.run('ip', ['netns', 'del', name]).catch(() => undefined);
  });

  // Four groups of five seeds, all twenty at once: their sleeps overlap.
  const groups = [0, 1, 2, 3].map((g) => SEEDS.filter((_, i) => i % 4 === g)).filter((g) => g.length > 0);
  it.concurrent.each(groups.map((seeds) => ({ seeds, label: seeds.join(', ') })))('seeds $label: the kernel holds exactly the book after every step', async ({ seeds }) => {
    // No step starts after 18 s (a loaded machine runs fewer steps; each seed must still run some).
    const deadline = started + 18_000;
    const results = await Promise.all(seeds.map((seed) => runSeed(seed, runners.get(seed)!, { ops: 30, deadline })));
    for (const r of results) if (r.steps < 30) console.log(`[h36] seed ${r.seed}: ${r.steps} of 30 steps within the time budget`);
    expect(results.map((r) => r.steps).every((n) => n >= 5), 'every seed takes at least 5 steps').toBe(true);
    const detail = results
      .filter((r) => r.failures.length > 0)
      .map((r) => `\nseed ${r.seed} failed:\n  ${r.failures.slice(0, 10).join('\n  ')}\nsteps:\n  ${r.log.slice(-25).join('\n  ')}`)
      .join('\n');
    expect(results.filter((r) => r.failures.length > 0).map((r) => r.seed), detail).toEqual([]);
  }, 28_000);
});
