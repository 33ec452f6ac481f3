import { describe, expect, it } from 'vitest';
import type { RunOptions, RunResult, Runner } from '../../../src/exec/runner.js';
import { BanhammerError } from '../../../src/errors.js';
import { setupScript, type NftLayout } from '../../../src/enforce/nft-args.js';
import { NftablesEnforcer, nftablesUnavailable, type NftablesEnforcerOptions } from '../../../src/enforce/nftables.js';
import { missingBinaryError } from '../../../src/exec/runner.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';
import { nftTableJson as ruleset } from '../../fakes/nft-table-json.js';

/** What nft answers `list table` for a table that does not exist. */
const NO_TABLE = { code: 1, stderr: 'Error: No such file or directory\nlist table inet banhammer_web\n                ^^^^^^^^^^^^^\n' };

const setJson = (name: string, elem: unknown[]) =>
  JSON.stringify({ nftables: [{ metainfo: {} }, { set: { family: 'inet', table: 'banhammer_web', name, flags: ['timeout'], elem } }] });

const layout: NftLayout = { names: { instance: 'web', table: 'banhammer_web', chain: 'input', sets: { 4: 'addr4', 6: 'addr6' }, nets: { 4: 'net4', 6: 'net6' } }, ports: [80, 443], action: 'drop', families: [4, 6] };

function setup(extra: Partial<NftablesEnforcerOptions> = {}) {
  const runner = new RecordingRunner();
  const clock = new ManualClock();
  runner.on('nft -j -t list table inet banhammer_web', { stdout: ruleset() });
  const enf = new NftablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80], ...extra });
  return { runner, clock, enf };
}

async function rejection(p: Promise<unknown>): Promise<BanhammerError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(BanhammerError);
  return e as BanhammerError;
}

const EPERM = { code: 1, stderr: '/dev/stdin:1:1-27: Error: Could not process rule: Operation not permitted\n' };

describe('NftablesEnforcer.init', () => {
  it('adopts an existing table: one transaction that flushes our chain and rewrites it, then learns the rules', async () => {
    const { runner, enf } = setup();
    await enf.init();
    expect(runner.lines()).toEqual([
      'nft -j -t list table inet banhammer_web',
      'nft -f -',
      'nft -j -t list table inet banhammer_web',
      // the timeout-update probe: scratch set, add again, list, delete
      'nft -f -',
      'nft -f -',
      'nft -j list set inet banhammer_web probe',
      'nft -f -',
    ]);
    expect(runner.calls[1]?.input).toBe(setupScript(layout, { chainExists: true, chainWrong: false, badSets: [], foreignChains: [], foreignSets: [] }));
    expect(runner.calls[6]?.input).toBe('delete set inet banhammer_web probe\n');
  });

  it('writes timed bans with a single add where the probe shows the kernel rewrites timeouts', async () => {
    const { runner, clock, enf } = setup();
    runner.on('nft -j list set inet banhammer_web probe', { stdout: setJson('probe', [{ elem: { val: '198.18.255.254', timeout: 3600, expires: 3599 } }]) });
    await enf.init();
    runner.clear();
    await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: clock.now() + 60_000 }, { ip: '198.18.0.2', family: 4, until: null }], unban: [{ ip: '198.18.0.3', family: 4 }] });
    expect(runner.calls[0]?.input).toBe([
      'add element inet banhammer_web addr4 { 198.18.0.3, 198.18.0.2 }',
      'delete element inet banhammer_web addr4 { 198.18.0.3, 198.18.0.2 }',
      // `expires` as well: the kernel leaves an element whose timeout is unchanged alone otherwise (H36).
      'add element inet banhammer_web addr4 { 198.18.0.1 timeout 1m expires 1m, 198.18.0.2 }',
      '',
    ].join('\n'));
  });

  it('keeps add + delete + add when the probe fails or shows the old timeout', async () => {
    const { runner, clock, enf } = setup();
    runner.on('nft -j list set inet banhammer_web probe', { stdout: setJson('probe', [{ elem: { val: '198.18.255.254', timeout: 1, expires: 0 } }]) });
    await enf.init();
    runner.clear();
    await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: clock.now() + 60_000 }], unban: [] });
    expect(runner.calls[0]?.input?.split('\n')).toHaveLength(4);
  });

  it('creates a missing table from scratch', async () => {
    const { runner, enf } = setup();
    runner.on('nft -j -t list table inet banhammer_web', NO_TABLE, 1);
    await enf.init();
    expect(runner.calls[1]?.input).toBe(setupScript(layout));
  });

  it('reads our table alone, and takes only "No such file or directory" for a missing table', async () => {
    const { runner, enf } = setup();
    await enf.init();
    // Never the whole ruleset: beside another program's 30,000 rules that cost 0.85 s a check.
    expect(runner.lines().filter((l) => l.includes(' -t list '))).toEqual(['nft -j -t list table inet banhammer_web', 'nft -j -t list table inet banhammer_web']);
    expect(runner.lines().some((l) => l.includes('ruleset'))).toBe(false);
    runner.clear();
    // Any other failure to list is an error, never a table to create (a rewrite over a table nft
    // could not read would be blind).
    runner.on('nft -j -t list table inet banhammer_web', { code: 1, stderr: 'Error: Could not process rule: Operation not supported\n' }, 1);
    const e = await rejection(enf.check(() => []));
    expect(e.message).toMatch(/reading table inet banhammer_web/);
    expect(runner.lines()).toEqual(['nft -j -t list table inet banhammer_web']);
  });

  it('says when NET_ADMIN is missing, in one line', async () => {
    const { runner, enf } = setup();
    runner.on('nft -j -t list table inet banhammer_web', { code: 1, stderr: 'Operation not permitted (you must be root)\nnetlink: Error: cache initialization failed: Operation not permitted\n' });
    const e = await rejection(enf.init());
    expect(e.code).toBe('BH_ERR_NO_NET_ADMIN');
    expect(e.message).not.toContain('\n');
    expect(e.hint).toContain('NET_ADMIN');
  });

  it('refuses a bad configuration before running anything', () => {
    const runner = new RecordingRunner();
    expect(() => new NftablesEnforcer({ runner, instance: 'a b', ports: [80] })).toThrow(/invalid instance name/);
    expect(() => new NftablesEnforcer({ runner, instance: 'web', ports: [] })).toThrow(/at least one TCP port/);
    expect(() => new NftablesEnforcer({ runner, instance: 'web', ports: [80], families: [5 as 4] })).toThrow(/invalid address families/);
    expect(() => new NftablesEnforcer({ runner, instance: 'web', ports: [80], maxElements: 0 })).toThrow(/invalid set size/);
    expect(runner.calls).toEqual([]);
  });
});

describe('NftablesEnforcer.apply', () => {
  const bans = (n: number, until: number | null): EnforcerBan[] => Array.from({ length: n }, (_, i) => ({ ip: `198.18.0.${i + 1}`, family: 4, until }));

  it('writes transactions of at most batchElements element writes, one nft process each', async () => {
    // Before init's probe a ban is three writes (add, delete, add): 6 writes are two addresses.
    const { runner, clock, enf } = setup({ batchElements: 6 });
    const r = await enf.apply({ ban: bans(5, clock.now() + 60_000), unban: [] });
    expect(r).toEqual({ refused: [] });
    expect(runner.lines()).toEqual(['nft -f -', 'nft -f -', 'nft -f -']);
    expect(runner.calls[0]?.input).toBe([
      'add element inet banhammer_web addr4 { 198.18.0.1 timeout 1m, 198.18.0.2 timeout 1m }',
      'delete element inet banhammer_web addr4 { 198.18.0.1, 198.18.0.2 }',
      'add element inet banhammer_web addr4 { 198.18.0.1 timeout 1m, 198.18.0.2 timeout 1m }',
      '',
    ].join('\n'));
  });

  it('reports invalid addresses as refused and never writes them', async () => {
    const { runner, enf } = setup();
    const r = await enf.apply({ ban: [{ ip: '198.18.0.1 }\nflush ruleset', family: 4, until: null }], unban: [{ ip: 'nope', family: 6 }] });
    expect(r.refused).toEqual([
      { ip: 'nope', family: 6, reason: 'not a valid IP address' },
      { ip: '198.18.0.1 }\nflush ruleset', family: 4, reason: 'not a valid IP address' },
    ]);
    expect(runner.calls).toEqual([]);
  });

  it('isolates the element nft refuses by halving, and applies the rest', async () => {
    const { runner, enf } = setup();
    await enf.init();
    runner.clear();
    const bad = '198.18.0.6';
    runner.on((c) => c.line === 'nft -f -' && (c.input ?? '').includes(bad), { code: 1, stderr: `/dev/stdin:1:40-50: Error: Could not process rule: No space left on device\n` });
    const r = await enf.apply({ ban: bans(8, null), unban: [] });
    expect(r.refused).toEqual([{ ip: bad, family: 4, reason: 'Could not process rule: No space left on device' }]);
    const applied = new Set<string>();
    for (const c of runner.calls) {
      if (c.line !== 'nft -f -' || (c.input ?? '').includes(bad)) continue;
      for (const m of (c.input ?? '').matchAll(/198\.18\.0\.\d+/g)) applied.add(m[0]);
    }
    expect([...applied].sort()).toEqual(bans(8, null).map((b) => b.ip).filter((ip) => ip !== bad).sort());
    // the first try, a structure check (all well: no rewrite), then 2 + 2 + 2 halves
    expect(runner.lines()).toEqual(['nft -f -', 'nft -j -t list table inet banhammer_web', ...Array<string>(6).fill('nft -f -')]);
  });

  it('bounds the isolation when every element is refused (a full set): the rest is reported as not tried', async () => {
    const { runner, enf } = setup({ batchElements: 3000 });
    await enf.init();
    runner.clear();
    runner.on((c) => c.line === 'nft -f -' && (c.input ?? '').startsWith('add element'), { code: 1, stderr: 'Error: Could not process rule: No space left on device\n' });
    const r = await enf.apply({ ban: bans(200, null).concat(Array.from({ length: 800 }, (_, i) => ({ ip: `198.19.${i >> 8}.${i & 255}`, family: 4 as const, until: null }))), unban: [] });
    expect(r.refused).toHaveLength(1000);
    expect(r.refused.filter((x) => x.reason.startsWith('not tried after too many refusals')).length).toBeGreaterThan(900);
    expect(runner.lines('nft -f -').length).toBeLessThanOrEqual(1 + 2 * 10 + 64 + 1);
  });

  it('re-creates a vanished table before blaming elements, and retries the batch', async () => {
    const { runner, enf } = setup();
    await enf.init();
    runner.clear();
    runner.on((c) => c.line === 'nft -f -' && (c.input ?? '').startsWith('add element'), { code: 1, stderr: 'Error: Could not process rule: No such file or directory\n' }, 1);
    runner.on('nft -j -t list table inet banhammer_web', NO_TABLE, 1);
    const r = await enf.apply({ ban: bans(2, null), unban: [] });
    expect(r.refused).toEqual([]);
    expect(runner.lines()).toEqual(['nft -f -', 'nft -j -t list table inet banhammer_web', 'nft -f -', 'nft -j -t list table inet banhammer_web', 'nft -f -']);
    expect(runner.calls[2]?.input).toBe(setupScript(layout));
  });

  it('keeps two address-set transactions in flight (the default), network sets one at a time after them; a refused one is isolated afterwards', async () => {
    const runner = new RecordingRunner();
    runner.on('nft -j -t list table inet banhammer_web', { stdout: ruleset({ nets: true }) });
    const bad = '198.18.0.7';
    runner.on((c) => c.line === 'nft -f -' && (c.input ?? '').includes(`${bad} `), { code: 1, stderr: 'Error: Could not process rule: No space left on device\n' });
    let inFlight = 0;
    let most = 0;
    const order: string[] = [];
    const slow: Runner = {
      run: async (cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> => {
        inFlight++;
        most = Math.max(most, inFlight);
        const kind = (opts?.input ?? '').includes(' net4 ') ? 'net' : 'addr';
        order.push(`start ${kind}`);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        order.push(`end ${kind}`);
        return runner.run(cmd, args, opts);
      },
    };
    const enf = new NftablesEnforcer({ runner: slow, instance: 'web', ports: [443, 80], cidr: true, batchElements: 6 });
    const until = Date.now() + 60_000;
    const ban: EnforcerBan[] = [
      ...Array.from({ length: 10 }, (_, i) => ({ ip: `198.18.0.${i + 1}`, family: 4 as const, until })),
      { ip: '198.19.1.0/24', family: 4, until },
      { ip: '198.19.2.0/24', family: 4, until },
      { ip: '198.19.3.0/24', family: 4, until },
    ];
    const r = await enf.apply({ ban, unban: [] });
    expect(r.refused).toEqual([{ ip: bad, family: 4, reason: 'Could not process rule: No space left on device' }]);
    expect(most).toBe(2);
    // 5 address transactions of 2 (two at a time), then 2 network ones alone, then the isolation of the refused one.
    const firstNet = order.indexOf('start net');
    expect(order.slice(0, firstNet).filter((x) => x === 'start addr')).toHaveLength(5);
    expect(order.slice(firstNet, firstNet + 4)).toEqual(['start net', 'end net', 'start net', 'end net']);
    const applied = new Set<string>();
    for (const c of runner.calls) {
      if (c.line !== 'nft -f -' || (c.input ?? '').includes(`${bad} `)) continue;
      for (const m of (c.input ?? '').matchAll(/198\.1[89]\.\d+\.\d+(\/24)?/g)) applied.add(m[0]);
    }
    expect([...applied].sort()).toEqual(ban.map((b) => b.ip).filter((ip) => ip !== bad).sort());
  });

  it('an error that is no element\'s fault rejects once the transactions in flight have settled, starting no new one', async () => {
    const runner = new RecordingRunner();
    runner.on('nft -f -', EPERM, 1);
    let inFlight = 0;
    let settledAfterReject = false;
    let rejected = false;
    let started = 0;
    const slow: Runner = {
      run: async (cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> => {
        inFlight++;
        try {
          // The first transaction is refused quickly; the second and third are still running then.
          await new Promise((r) => setTimeout(r, started++ === 0 ? 1 : 30));
          return await runner.run(cmd, args, opts);
        } finally {
          inFlight--;
          if (rejected) settledAfterReject = true;
        }
      },
    };
    const enf = new NftablesEnforcer({ runner: slow, instance: 'web', ports: [443, 80], batchElements: 3 });
    const e = await rejection(enf.apply({ ban: bans(6, null), unban: [] }).finally(() => (rejected = true)));
    expect(e.code).toBe('BH_ERR_NO_NET_ADMIN');
    expect(inFlight).toBe(0);
    expect(settledAfterReject).toBe(false);
    // The first (refused) and the one in flight; none of the four others.
    expect(runner.lines('nft -f -')).toHaveLength(2);
  });

  it('rejects when not allowed to change the firewall (nothing was applied)', async () => {
    const { runner, enf } = setup();
    runner.on('nft -f -', EPERM);
    const e = await rejection(enf.apply({ ban: bans(3, null), unban: [] }));
    expect(e.code).toBe('BH_ERR_NO_NET_ADMIN');
    expect(runner.lines('nft -f -')).toHaveLength(1);
  });
});

describe('NftablesEnforcer.check', () => {
  it('is one cheap listing when all is well, and does not compute the expected bans', async () => {
    const { runner, clock, enf } = setup({ elementCheckIntervalMs: 60_000 });
    runner.on('nft -j list set', (c) => ({ stdout: setJson(c.args.at(-1)!, []) }));
    await enf.init();
    let asked = 0;
    const expected = () => {
      asked++;
      return [];
    };
    expect(await enf.check(expected)).toEqual([]);
    runner.clear();
    clock.advance(30_000);
    expect(await enf.check(expected)).toEqual([]);
    expect(runner.lines()).toEqual(['nft -j -t list table inet banhammer_web']);
    expect(asked).toBe(1);
    clock.advance(30_000);
    runner.clear();
    expect(await enf.check(expected)).toEqual([]);
    expect(runner.lines()).toEqual(['nft -j -t list table inet banhammer_web', 'nft -j list set inet banhammer_web addr4', 'nft -j list set inet banhammer_web addr6']);
  });

  it('repairs the set contents against the expected bans', async () => {
    const { runner, clock, enf } = setup({ elementCheckIntervalMs: 0 });
    await enf.init();
    runner.on('nft -j list set inet banhammer_web addr4', { stdout: setJson('addr4', [{ elem: { val: '198.18.0.9', timeout: 600, expires: 500 } }]) });
    runner.on('nft -j list set inet banhammer_web addr6', { stdout: setJson('addr6', ['2001:db8::1']) });
    runner.clear();
    const repairs = await enf.check(() => [
      { ip: '198.18.0.1', family: 4, until: clock.now() + 60_000 },
      { ip: '2001:db8::1', family: 6, until: null },
    ]);
    expect(repairs).toEqual(['set addr4 (IPv4): 1 missing ban(s) re-added, 1 stray element(s) removed, 0 timeout(s) corrected']);
    expect(runner.lines()).toEqual(['nft -j -t list table inet banhammer_web', 'nft -j list set inet banhammer_web addr4', 'nft -f -', 'nft -j list set inet banhammer_web addr6']);
    expect(runner.calls[2]?.input).toBe([
      'add element inet banhammer_web addr4 { 198.18.0.9, 198.18.0.1 timeout 1m }',
      'delete element inet banhammer_web addr4 { 198.18.0.9, 198.18.0.1 }',
      'add element inet banhammer_web addr4 { 198.18.0.1 timeout 1m }',
      '',
    ].join('\n'));
  });

  it('rebuilds a vanished set and refills it; removes a rule someone added to our chain', async () => {
    const { runner, clock, enf } = setup({ elementCheckIntervalMs: 3_600_000 });
    await enf.init();
    runner.on('nft -j list set', (c) => ({ stdout: setJson(c.args.at(-1)!, []) }));
    await enf.check(() => []);
    runner.on('nft -j -t list table inet banhammer_web', { stdout: ruleset({ set6: false, extraRule: true }) }, 1);
    runner.clear();
    const repairs = await enf.check(() => [{ ip: '2001:db8::7', family: 6, until: clock.now() + 5_000 }]);
    expect(repairs).toEqual([
      'table inet banhammer_web: set addr6 was missing; chain input held 5 rule(s) that are not exactly ours; repaired',
      'set addr6 (IPv6) re-created and refilled with 1 ban(s)',
    ]);
    expect(runner.lines()).toEqual(['nft -j -t list table inet banhammer_web', 'nft -f -', 'nft -j -t list table inet banhammer_web', 'nft -f -']);
    expect(runner.calls[1]?.input).toContain('flush chain inet banhammer_web input\n');
    expect(runner.calls[3]?.input).toContain('add element inet banhammer_web addr6 { 2001:db8::7 timeout 5s }');
  });
});

describe('NftablesEnforcer.check without the ban book', () => {
  it('repairs structure but never removes elements when called the old way, without expected', async () => {
    const { runner, enf } = setup({ elementCheckIntervalMs: 0 });
    await enf.init();
    runner.on('nft -j list set', { stdout: setJson('addr4', ['198.18.0.1']) });
    runner.clear();
    expect(await (enf.check as unknown as () => Promise<string[]>)()).toEqual([]);
    expect(runner.lines()).toEqual(['nft -j -t list table inet banhammer_web']);
  });
});

describe('NftablesEnforcer.shutdown', () => {
  it('deletes only its table, and a table already gone is fine', async () => {
    const { runner, enf } = setup();
    await enf.shutdown();
    runner.on('nft delete table', { code: 1, stderr: 'Error: Could not process rule: No such file or directory\ndelete table inet banhammer_web\n' });
    await enf.shutdown();
    expect(runner.lines()).toEqual(['nft delete table inet banhammer_web', 'nft delete table inet banhammer_web']);
  });

  it('reports a failure it cannot ignore', async () => {
    const { runner, enf } = setup();
    runner.on('nft delete table', EPERM);
    expect((await rejection(enf.shutdown())).code).toBe('BH_ERR_NO_NET_ADMIN');
  });
});

describe('NftablesEnforcer serialises its calls', () => {
  it('a check started during an apply runs after it', async () => {
    const events: string[] = [];
    let running = 0;
    const slow: Runner = {
      async run(cmd: string, args: readonly string[], _opts?: RunOptions): Promise<RunResult> {
        running++;
        events.push(`start ${args.join(' ')}${running > 1 ? ' (overlap)' : ''}`);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return { stdout: args[2] === 'list' && args[3] === 'table' ? ruleset() : args.includes('set') ? setJson('x', []) : '', stderr: '', code: 0 };
      },
    };
    const enf = new NftablesEnforcer({ runner: slow, instance: 'web', ports: [80, 443], elementCheckIntervalMs: 0 });
    await enf.init();
    events.length = 0;
    await Promise.all([
      enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] }),
      enf.check(() => [{ ip: '198.18.0.1', family: 4, until: null }]),
      enf.apply({ ban: [{ ip: '198.18.0.2', family: 4, until: null }], unban: [] }),
    ]);
    expect(events.filter((e) => e.includes('overlap'))).toEqual([]);
    expect(events[0]).toBe('start -f -');
    expect(events[1]).toBe('start -j -t list table inet banhammer_web');
  });
});

describe('NftablesEnforcer host mode', () => {
  const X = 'a1'.repeat(32);
  const Y = 'b2'.repeat(32);

  it('writes a container’s sets and rules before its first ban, and drops unbans for containers without sets', async () => {
    const runner = new RecordingRunner();
    const notes: string[] = [];
    runner.on('nft -j -t list table inet banhammer_host', { stdout: JSON.stringify({ nftables: [] }) });
    let learned = 5;
    // After a setup, nft shows as many rules as were written (host-wide 5: the return for replies, then TCP and UDP per family; plus a pair per container address).
    runner.on((c) => c.line === 'nft -j -t list table inet banhammer_host' && learned > 5, () => ({
      stdout: JSON.stringify({ nftables: [
        { table: { family: 'inet', name: 'banhammer_host' } },
        { chain: { family: 'inet', table: 'banhammer_host', name: 'forward', type: 'filter', hook: 'forward', prio: -10, policy: 'accept' } },
        ...Array.from({ length: learned }, (_, i) => ({ rule: { family: 'inet', table: 'banhammer_host', chain: 'forward', expr: [{ n: i }] } })),
      ] }),
    }));
    runner.on((c) => c.line === 'nft -j -t list table inet banhammer_host' && learned === 5, {
      stdout: JSON.stringify({ nftables: [
        { table: { family: 'inet', name: 'banhammer_host' } },
        ...[1, 2, 3, 4, 5].map((n) => ({ rule: { family: 'inet', table: 'banhammer_host', chain: 'forward', expr: [n] } })),
      ] }),
    });
    const info = new Map([[X, { id: X, name: 'x', v4: ['172.17.0.2'], v6: [] }]]);
    const enf = new NftablesEnforcer({ runner, instance: 'host', ports: [], host: { containers: { info: (id) => info.get(id) ?? null }, onNote: (m) => notes.push(m) } });
    await enf.init();
    expect(runner.calls.find((c) => c.line === 'nft -f -')?.input).toContain(
      'flush chain inet banhammer_host forward\nadd rule inet banhammer_host forward ct direction reply return\nadd rule inet banhammer_host forward meta l4proto tcp ip saddr @addr4 drop\n',
    );
    runner.clear();
    learned = 7;
    const r = await enf.apply({
      ban: [{ ip: '198.18.0.1', family: 4, until: null, scope: X }],
      unban: [{ ip: '198.18.0.1', family: 4, scope: Y }],
    });
    expect(r.refused).toEqual([]);
    expect(enf.containers()).toEqual([X]);
    expect(runner.lines()).toEqual(['nft -j -t list table inet banhammer_host', 'nft -f -', 'nft -j -t list table inet banhammer_host', 'nft -f -']);
    expect(runner.calls[1]?.input).toContain(
      'add rule inet banhammer_host forward ct direction reply return\n' +
        'add rule inet banhammer_host forward meta l4proto tcp ip saddr @addr4 drop\n',
    );
    expect(runner.calls[1]?.input).toContain(
      'add rule inet banhammer_host forward ip daddr 172.17.0.2 meta l4proto tcp ip saddr @c_a1a1a1a1a1a1a1a1_4 drop\n' +
        'add rule inet banhammer_host forward ip daddr 172.17.0.2 meta l4proto udp ip saddr @c_a1a1a1a1a1a1a1a1_4 drop\n',
    );
    expect(runner.calls[3]?.input).not.toContain('b2b2');
    expect(notes).toEqual([]);
  });

  it('refuses a scoped ban outside host mode', async () => {
    const { enf } = setup();
    expect((await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null, scope: X }], unban: [] })).refused).toEqual([
      { ip: '198.18.0.1', family: 4, scope: X, reason: 'container-scoped bans need host mode' },
    ]);
  });
});

describe('nftablesUnavailable', () => {
  it('null when nft reads the ruleset, else one line saying why', async () => {
    const ok = new RecordingRunner().on('nft -j -t list ruleset', { stdout: ruleset() });
    expect(await nftablesUnavailable(ok)).toBeNull();
    const eperm = new RecordingRunner().on('nft', { code: 1, stderr: 'Operation not permitted (you must be root)\nnetlink: Error: cache initialization failed: Operation not permitted\n' });
    expect(await nftablesUnavailable(eperm)).toMatch(/^reading the nftables ruleset failed: not allowed to change the firewall/);
    const none = new RecordingRunner().on('nft', missingBinaryError('nft'));
    expect(await nftablesUnavailable(none)).toBe('reading the nftables ruleset failed: program not found: nft');
    const garbage = new RecordingRunner().on('nft', { stdout: 'not json' });
    expect(await nftablesUnavailable(garbage)).toMatch(/cannot read the output of nft -j/);
  });
});
