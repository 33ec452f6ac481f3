/**
 * Round 4 (H5): the nftables enforcer against tampering not tried before — `flush ruleset` by another
 * tool, a rule inserted before ours in our chain, a base chain of another priority with a drop policy
 * added to our table, our address set re-created with other flags, a named map and a flowtable added
 * to our table — and its cost at 100,000 elements. Network namespaces only, test addresses only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runner, RunOptions } from '../../../src/exec/runner.js';
import type { Clock } from '../../../src/clock.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { ADDR, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from '../enforce-variants-3/h5-lab.js';

const P = 8080;
const OPEN = 8081;
const skip = await netnsUnavailable();

describe.skipIf(skip !== null)('nftables tampering, round 4', () => {
  let lab: H5Lab;
  let ns: Runner;
  const nft = (text: string) => ns.run('nft', ['-f', '-'], { input: text });
  const mk = (instance: string) => new NftablesEnforcer({ runner: ns, instance, ports: [P], elementCheckIntervalMs: 0, cidr: true });
  const book = (): EnforcerBan[] => [
    { ip: ADDR.clientV4, family: 4, until: Date.now() + 600_000 },
    { ip: ADDR.clientV6, family: 6, until: null },
    { ip: '198.18.7.0/24', family: 4, until: Date.now() + 600_000 },
  ];
  beforeAll(async () => {
    lab = await h5Lab([P, OPEN]);
    ns = lab.server;
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('`nft flush ruleset` by another tool: the next check() re-creates the table with every ban; nothing is refused', async () => {
    const e = mk('h5fl');
    const b = book();
    await e.init();
    try {
      await e.apply({ ban: b, unban: [] });
      await nft('flush ruleset\n');
      const r = await e.check(() => b);
      expect(r.join('\n')).toMatch(/was missing/);
      expect(r.join('\n')).not.toMatch(/refused/);
      expect(await lab.connect(ADDR.clientV4, P)).toBe('timeout');
      expect(await lab.connect(ADDR.clientV6, P)).toBe('timeout');
      expect(await lab.connect(ADDR.clientV4b, P)).toBe('connected');
      expect(await e.check(() => b)).toEqual([]);
    } finally {
      await e.shutdown();
    }
  });

  it('a rule inserted before ours (`accept` for the banned client) in our chain: repaired by the next check()', async () => {
    const e = mk('h5ins');
    const b = book();
    await e.init();
    try {
      await e.apply({ ban: b, unban: [] });
      await nft(`insert rule inet banhammer_h5ins input ip saddr ${ADDR.clientV4} accept\n`);
      expect(await lab.connect(ADDR.clientV4, P)).toBe('connected');
      expect((await e.check(() => b)).join('\n')).toMatch(/not exactly ours/);
      expect(await lab.connect(ADDR.clientV4, P)).toBe('timeout');
    } finally {
      await e.shutdown();
    }
  });

  it('a base chain of another priority with `policy drop` added to our table (it would cut the host off): removed by the next check(); a map and a counter added go with our table at shutdown', async () => {
    const e = mk('h5pri');
    const b = book();
    await e.init();
    try {
      await e.apply({ ban: b, unban: [] });
      await nft('add chain inet banhammer_h5pri early { type filter hook input priority -300; policy drop; }\n');
      expect(await lab.connect(ADDR.clientV4b, OPEN)).toBe('timeout');
      expect((await e.check(() => b)).join('\n')).toMatch(/chain early is not ours/);
      expect(await lab.connect(ADDR.clientV4b, OPEN)).toBe('connected');
      expect(await lab.connect(ADDR.clientV4, P)).toBe('timeout');
      await nft('add map inet banhammer_h5pri m { type ipv4_addr : verdict; }\nadd counter inet banhammer_h5pri c\n');
      await e.check(() => b);
      await e.shutdown();
      expect((await ns.run('nft', ['list', 'tables'])).stdout).not.toMatch(/banhammer_h5pri/);
    } finally {
      await e.shutdown();
    }
  });

  it('our address set re-created with flags interval (and our network set without interval): each re-created and refilled by check()', async () => {
    const e = mk('h5flg');
    const b = book();
    await e.init();
    try {
      await e.apply({ ban: b, unban: [] });
      await nft('flush chain inet banhammer_h5flg input\ndelete set inet banhammer_h5flg addr4\nadd set inet banhammer_h5flg addr4 { type ipv4_addr; flags interval,timeout; }\n');
      const r = await e.check(() => b);
      expect(r.join('\n')).toMatch(/addr4 had other settings/);
      expect(await lab.connect(ADDR.clientV4, P)).toBe('timeout');
      expect(await e.check(() => b)).toEqual([]);
    } finally {
      await e.shutdown();
    }
  });

  it('100,000 bans: applied in a few seconds; a check() with nothing to repair stays cheap (it reads the structure with no set element loaded, `list ruleset inet`, and samples one element at most once); the element comparison is bounded', { timeout: 180_000 }, async () => {
    // The cheap checks are judged by the work they ask of nft (commands run, bytes read back), not by
    // wall time: the set's elements listed once are megabytes, the terse table a few kilobytes.
    const work = { on: false, runs: [] as string[], bytes: 0, gets: 0, failed: [] as string[] };
    const runner: Runner = {
      run: async (cmd: string, args: string[], opts?: RunOptions) => {
        let r: Awaited<ReturnType<Runner['run']>>;
        try {
          r = await ns.run(cmd, args, opts);
        } catch (err) {
          if (work.on) work.failed.push(args.join(' '));
          throw err;
        }
        if (work.on && r.code !== 0) work.failed.push(args.join(' '));
        else if (work.on) {
          work.runs.push(args.join(' '));
          work.bytes += Buffer.byteLength(r.stdout ?? '');
          if (args[0] === 'get' && args[1] === 'element') work.gets++;
        }
        return r;
      },
    } as Runner;
    // The agent's clock moves 2 s per check (its check interval) and not with the wall: under a loaded
    // CI the wall can pass REPROBE_MS (60 s) during this test, and a re-measure of the dearer listing
    // then is intended behaviour, not what is judged here.
    const now = Date.now();
    const clock = steppedClock(now);
    const e = new NftablesEnforcer({ runner, instance: 'h5big', ports: [P], clock });
    const bans: EnforcerBan[] = [];
    for (let i = 0; i < 100_000; i++) bans.push({ ip: `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${(i & 255) || 1}${''}`, family: 4, until: now + 3_600_000 });
    const uniq = [...new Map(bans.map((x) => [x.ip, x])).values()].filter((x) => x.ip !== ADDR.clientV4b && x.ip !== ADDR.serverV4);
    uniq.push({ ip: ADDR.clientV4, family: 4, until: now + 3_600_000 });
    await e.init();
    try {
      let t = performance.now();
      expect((await e.apply({ ban: uniq, unban: [] })).refused).toEqual([]);
      const applyMs = performance.now() - t;
      t = performance.now();
      work.on = true;
      clock.step(2_000);
      await e.check(() => uniq); // first: the element comparison
      const fullBytes = work.bytes;
      const fullMs = performance.now() - t;
      work.runs = [];
      work.bytes = 0;
      t = performance.now();
      for (let i = 0; i < 5; i++) {
        clock.step(2_000);
        expect(await e.check(() => uniq)).toEqual([]);
      }
      const cheapMs = (performance.now() - t) / 5;
      work.on = false;
      console.log(`h5 nft 100k: apply ${applyMs.toFixed(0)} ms, check with comparison ${fullMs.toFixed(0)} ms (${fullBytes} bytes read), 5 checks without: ${cheapMs.toFixed(0)} ms each, ${work.runs.length} nft runs, ${work.bytes} bytes read, ${work.gets} element samples`);
      expect(applyMs).toBeLessThan(60_000);
      // The comparison did read the elements (so the bound below is a real difference)...
      expect(fullBytes).toBeGreaterThan(1_000_000);
      // ...and the five cheap checks together read less than 1 % of that: no listing of the set.
      expect(work.bytes).toBeLessThan(fullBytes / 100);
      expect(work.runs.filter((r) => /\blist\b/.test(r) && !/(^|\s)-t(\s|$)/.test(r))).toEqual([]);
      expect(work.gets).toBeLessThanOrEqual(1);
      // nft 1.0.6 (Debian 12) loads every element of our sets for `list table` even with -t (0.6 to
      // 0.9 s here; nft 1.1.3 does not): where it does, once that listing has proved dear the
      // structure is read with `list ruleset inet` (no elements), a few ms.
      const listingMs = async (args: string[]): Promise<number> => {
        let best = Number.POSITIVE_INFINITY;
        for (let i = 0; i < 2; i++) {
          const t0 = performance.now();
          await ns.run('nft', args);
          best = Math.min(best, performance.now() - t0);
        }
        return best;
      };
      const tableMs = await listingMs(['-j', '-t', 'list', 'table', 'inet', 'banhammer_h5big']);
      const rulesetMs = await listingMs(['-j', '-t', 'list', 'ruleset', 'inet']);
      const tableLoadsElements = tableMs > 5 * rulesetMs + 100;
      console.log(`h5 nft 100k: list table ${tableMs.toFixed(0)} ms, list ruleset inet ${rulesetMs.toFixed(0)} ms: this nft ${tableLoadsElements ? 'loads' : 'does not load'} the elements for a table listing`);
      const listings = work.runs.filter((r) => r.startsWith('-j -t list table') || r === '-j -t list ruleset inet');
      expect(listings).toHaveLength(5);
      // A ruleset listing killed at its budget (twice the table listing's cost: a loaded CI can stall
      // one nft run past it) sends the agent to the table listing at once, by design; only then.
      const rulesetFailed = work.failed.includes('-j -t list ruleset inet');
      if (rulesetFailed) console.log(`h5 nft 100k: a ruleset listing failed or outlasted its budget (${work.failed.join('; ')}): the table was read alone after it`);
      if (tableLoadsElements && !rulesetFailed) expect(listings.filter((r) => r.startsWith('-j -t list table'))).toEqual([]);
      expect(work.runs.length).toBeLessThanOrEqual(5 * 2 + 1);
      expect(await lab.connect(ADDR.clientV4, P)).toBe('timeout');
      expect(await lab.connect(ADDR.clientV4b, P)).toBe('connected');
    } finally {
      await e.shutdown();
    }
  });

  /** A clock that moves only when told (each check() is "2 s" after the last), real timers. */
  const steppedClock = (start: number): Clock & { step(ms: number): void } => {
    let t = start;
    return { now: () => t, step: (ms) => void (t += ms), setTimeout: (fn, ms) => ({ id: setTimeout(fn, ms) }), clearTimeout: (h) => clearTimeout(h.id as NodeJS.Timeout) };
  };
  /** A runner into the namespace that counts `nft get element` runs and the wall time they took. */
  const counting = (): Runner & { gets: number; getMs: number } => {
    const r = {
      gets: 0,
      getMs: 0,
      run: async (cmd: string, args: string[], opts?: RunOptions) => {
        const t = performance.now();
        try {
          return await ns.run(cmd, args, opts);
        } finally {
          if (args[0] === 'get' && args[1] === 'element') {
            r.gets++;
            r.getMs += performance.now() - t;
          }
        }
      },
    };
    return r as unknown as Runner & { gets: number; getMs: number };
  };

  it('100,000 bans: checks 2 s apart between element comparisons spend at most a few % of the time in nft (the one-element sample loaded the whole set every check); a small set is still sampled at every check', { timeout: 240_000 }, async () => {
    for (const [count, maxGets] of [[100_000, 5], [10, 20]] as const) {
      const clock = steppedClock(Date.now());
      const runner = counting();
      const e = new NftablesEnforcer({ runner, instance: 'h5smp', ports: [P], clock });
      const bans: EnforcerBan[] = [];
      for (let i = 0; bans.length < count; i++) {
        const ip = `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
        if ((i & 255) === 0 || ip === ADDR.clientV4b || ip === ADDR.serverV4) continue;
        bans.push({ ip, family: 4, until: clock.now() + 3_600_000 });
      }
      await e.init();
      try {
        expect((await e.apply({ ban: bans, unban: [] })).refused).toEqual([]);
        await e.check(() => bans); // the first check compares every element
        const t = performance.now();
        for (let i = 0; i < 20; i++) {
          clock.step(2000);
          expect(await e.check(() => bans)).toEqual([]);
        }
        const ms = performance.now() - t;
        console.log(`h5 nft ${count} bans: 20 checks took ${ms.toFixed(0)} ms, ${runner.gets} samples (${runner.getMs.toFixed(0)} ms)`);
        expect(runner.gets).toBeGreaterThan(0);
        expect(runner.gets).toBeLessThanOrEqual(maxGets);
        if (count === 10) expect(runner.gets).toBe(20);
      } finally {
        await e.shutdown();
      }
    }
  });
});
