/**
 * Which listing reads the nftables enforcer's table: `list table` loads every element of our sets
 * (0.6 to 0.9 s beside 100,000 bans, at every check), `list ruleset inet` every other program's inet
 * rule (1.7 s beside 30,000). The choice follows what each one cost here (nft-listing-choice.ts).
 */
import { describe, expect, it } from 'vitest';
import type { RunOptions, RunResult, Runner } from '../../../src/exec/runner.js';
import { CHEAP_MS, MIN_RULESET_BUDGET_MS, REPROBE_MS, TableListingChoice } from '../../../src/enforce/nft-listing-choice.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { BanhammerError } from '../../../src/errors.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { nftTableJson } from '../../fakes/nft-table-json.js';

describe('TableListingChoice', () => {
  it('keeps the first listing while it is cheap, and never tries the other one', () => {
    const c = new TableListingChoice();
    for (let now = 0; now < 10 * REPROBE_MS; now += 2000) {
      expect(c.choose(now)).toBe('table');
      c.note('table', CHEAP_MS, now);
    }
  });

  it('tries the other listing once the one in use is dear, and keeps the cheaper', () => {
    const c = new TableListingChoice();
    c.note('table', 800, 0);
    expect(c.choose(2000)).toBe('ruleset');
    c.note('ruleset', 6, 2000);
    for (let now = 4000; now < 10 * REPROBE_MS; now += 2000) {
      expect(c.choose(now)).toBe('ruleset');
      c.note('ruleset', 6, now);
    }
  });

  it('goes back to the dearer listing only to measure it again, at most every REPROBE_MS or 50 times its cost', () => {
    const c = new TableListingChoice();
    c.note('table', 800, 0);
    c.note('ruleset', 1700, 2000); // another program's 30,000 inet rules
    let tried = 0;
    let now = 4000;
    for (; now < 4000 + 10 * 85_000; now += 2000) {
      const k = c.choose(now);
      if (k === 'ruleset') tried++;
      c.note(k, k === 'table' ? 800 : 1700, now);
    }
    // 50 × 1.7 s = 85 s between re-tries: 10 in 850 s, never more.
    expect(tried).toBeGreaterThanOrEqual(9);
    expect(tried).toBeLessThanOrEqual(10);
    expect(c.best()).toBe('table');
  });

  it('follows a change: whichever listing grows dear, the other one (cheaper when last measured, or measured again once stale) is taken', () => {
    const c = new TableListingChoice();
    c.note('table', 900, 0);
    c.note('ruleset', 5, 2000);
    expect(c.choose(4000)).toBe('ruleset');
    // The other program's inet table grows: the ruleset listing is now dearer than `table` was.
    c.note('ruleset', 1500, 4000);
    expect(c.choose(6000)).toBe('table');
    c.note('table', 900, 6000);
    // Our sets grow too: `table` is now the dearer; the ruleset is measured again once stale.
    c.note('table', 2000, 8000);
    expect(c.choose(10_000)).toBe('ruleset');
    c.note('ruleset', 1500, 10_000);
    for (let now = 12_000; now < 10_000 + REPROBE_MS; now += 2000) {
      expect(c.choose(now)).toBe('ruleset');
      c.note('ruleset', 1500, now);
    }
  });

  it('gives a ruleset listing twice what the table listing cost, at least MIN_RULESET_BUDGET_MS, and no budget of its own before the table is measured', () => {
    const c = new TableListingChoice();
    expect(c.rulesetBudgetMs()).toBeUndefined();
    c.note('table', 800, 0);
    expect(c.rulesetBudgetMs()).toBe(1600);
    c.note('table', 3, 2000);
    expect(c.rulesetBudgetMs()).toBe(MIN_RULESET_BUDGET_MS);
  });

  it('ignores a cost that is no number', () => {
    const c = new TableListingChoice();
    c.note('table', Number.NaN, 0);
    c.note('table', -1, 0);
    expect(c.choose(1)).toBe('table');
    c.note('table', Number.POSITIVE_INFINITY, 0);
    expect(c.choose(1)).toBe('table');
  });
});

/** A fake nft whose `list table` takes `tableMs` of real time (as if loading our elements); both listings show our table. */
class SlowTableNft implements Runner {
  readonly lines: string[] = [];
  /** What `list ruleset inet` answers instead of our table, when set. */
  rulesetAnswer: RunResult | undefined;
  /** `list ruleset inet` runs until killed (as beside a huge inet ruleset), at most 5 s here. */
  rulesetHangs = false;
  /** The timeout each `list ruleset inet` was given. */
  readonly rulesetTimeouts: (number | undefined)[] = [];
  constructor(private readonly tableMs: number) {}
  async run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult> {
    const line = [cmd, ...args].join(' ');
    this.lines.push(line);
    if (line === 'nft -j -t list ruleset inet') this.rulesetTimeouts.push(opts?.timeoutMs);
    if (line === 'nft -j -t list ruleset inet' && this.rulesetHangs) {
      const ms = Math.min(opts?.timeoutMs ?? 5000, 5000);
      await new Promise((r) => setTimeout(r, ms));
      throw new BanhammerError('BH_ERR_EXEC_TIMEOUT', `${line} did not finish within ${ms} ms and was killed`);
    }
    if (line === 'nft -j -t list table inet banhammer_web') {
      await new Promise((r) => setTimeout(r, this.tableMs));
      return { code: 0, stdout: nftTableJson(), stderr: '' };
    }
    if (line === 'nft -j -t list ruleset inet') return this.rulesetAnswer ?? { code: 0, stdout: nftTableJson(), stderr: '' };
    return { code: 0, stdout: args[0] === '-j' ? JSON.stringify({ nftables: [{ metainfo: {} }] }) : '', stderr: '' };
  }
}

describe('NftablesEnforcer reads its table with the cheaper listing', () => {
  it('a dear `list table` (elements loaded) is replaced by `list ruleset inet` at the next reading, and stays replaced', async () => {
    const runner = new SlowTableNft(150);
    const clock = new ManualClock();
    const e = new NftablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80] });
    await e.init();
    runner.lines.length = 0;
    for (let i = 0; i < 6; i++) {
      clock.advance(2000);
      await e.check(() => []);
    }
    const listings = runner.lines.filter((l) => l.includes(' list table ') || l.includes(' list ruleset'));
    expect(listings.length).toBeGreaterThanOrEqual(6);
    expect(listings.filter((l) => l.includes(' list table '))).toEqual([]);
  });

  it('a cheap `list table` is kept: the ruleset is never listed', async () => {
    const runner = new SlowTableNft(0);
    const clock = new ManualClock();
    const e = new NftablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80] });
    await e.init();
    for (let i = 0; i < 6; i++) {
      clock.advance(2000);
      await e.check(() => []);
    }
    expect(runner.lines.filter((l) => l.includes('ruleset'))).toEqual([]);
  });

  for (const [name, answer] of [
    ['nft crashes (another program\'s set written by a newer nft)', { code: 139, stdout: '', stderr: 'Segmentation fault\n' }],
    ['nft prints what is not JSON', { code: 0, stdout: '{"nftables": [', stderr: '' }],
    ['nft fails with an error of its own', { code: 1, stderr: 'Error: No such file or directory\n', stdout: '' }],
  ] as const) {
    it(`a ruleset listing that fails (${name}) costs no check: our table is read alone at once, and the ruleset is left alone for 50 minutes`, async () => {
      const runner = new SlowTableNft(60);
      const clock = new ManualClock();
      const e = new NftablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80] });
      await e.init(); // `list table` measured dear: the next reading tries the ruleset
      runner.rulesetAnswer = answer;
      runner.lines.length = 0;
      clock.advance(2000);
      expect(await e.check(() => [])).toEqual([]);
      expect(runner.lines.filter((l) => / list (table|ruleset)/.test(l))).toEqual(['nft -j -t list ruleset inet', 'nft -j -t list table inet banhammer_web']);
      runner.lines.length = 0;
      for (let i = 0; i < 12; i++) {
        clock.advance(240_000);
        expect(await e.check(() => [])).toEqual([]);
      }
      expect(runner.lines.filter((l) => l.includes('ruleset'))).toEqual([]);
      clock.advance(10 * 60_000);
      runner.rulesetAnswer = undefined;
      await e.check(() => []);
      expect(runner.lines.filter((l) => l.includes('ruleset'))).toEqual(['nft -j -t list ruleset inet']);
    });
  }

  it('a ruleset listing that outlasts twice what the table listing cost is killed then: one check is held that long at most, and our table is read alone', async () => {
    const runner = new SlowTableNft(60);
    const clock = new ManualClock();
    const e = new NftablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80] });
    await e.init(); // `list table` measured dear (60 ms and more): the next reading tries the ruleset
    runner.rulesetHangs = true;
    runner.lines.length = 0;
    clock.advance(2000);
    expect(await e.check(() => [])).toEqual([]);
    expect(runner.lines.filter((l) => / list (table|ruleset)/.test(l))).toEqual(['nft -j -t list ruleset inet', 'nft -j -t list table inet banhammer_web']);
    // Given the command's own timeout (30 s by default), the hanging listing held the check that long.
    const budget = runner.rulesetTimeouts[0];
    expect(budget).toBeGreaterThanOrEqual(MIN_RULESET_BUDGET_MS);
    expect(budget).toBeLessThan(1000);
    runner.lines.length = 0;
    clock.advance(30 * 60_000);
    await e.check(() => []);
    expect(runner.lines.filter((l) => l.includes('ruleset'))).toEqual([]);
  });
});
