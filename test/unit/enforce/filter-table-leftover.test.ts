/**
 * FilterTableLeftover with a recording runner: which tables it deletes, and every case where it must
 * leave a table alone (it existed before, it holds anything anyone could have put there, nft is
 * missing or answers nonsense). The real kernel: test/integration/enforce/filter-table-leftover.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FilterTableLeftover, leftoverChains } from '../../../src/enforce/filter-table-leftover.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const ABSENT = { code: 1, stderr: 'Error: No such file or directory; did you mean table ‘filter’ in family ip6?\nlist table ip filter\n' };
const meta = { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } };
const table = (family: string) => ({ table: { family, name: 'filter', handle: 1 } });
const base = (family: string, name: string, policy = 'accept') => ({
  chain: { family, table: 'filter', name, handle: 2, type: 'filter', hook: name.toLowerCase(), prio: 0, policy },
});
const listing = (...items: unknown[]) => ({ stdout: JSON.stringify({ nftables: [meta, ...items] }) });

describe('leftoverChains', () => {
  it('names the empty accept-policy base chains of a table iptables-nft made', () => {
    expect(leftoverChains([meta, table('ip'), base('ip', 'INPUT')])).toEqual(['INPUT']);
    expect(leftoverChains([meta, table('ip'), base('ip', 'INPUT'), base('ip', 'FORWARD'), base('ip', 'OUTPUT')])).toEqual(['INPUT', 'FORWARD', 'OUTPUT']);
    expect(leftoverChains([meta, table('ip')])).toEqual([]);
  });

  it('is null for anything anyone could have put there', () => {
    const cases: unknown[][] = [
      [table('ip'), base('ip', 'INPUT'), { rule: { family: 'ip', table: 'filter', chain: 'INPUT', handle: 3, expr: [{ accept: null }] } }],
      [table('ip'), base('ip', 'INPUT', 'drop')],
      [table('ip'), base('ip', 'INPUT'), { chain: { family: 'ip', table: 'filter', name: 'DOCKER', handle: 4 } }],
      [table('ip'), { chain: { family: 'ip', table: 'filter', name: 'INPUT', handle: 4 } }],
      [table('ip'), base('ip', 'INPUT'), { set: { family: 'ip', name: 's', table: 'filter', type: 'ipv4_addr', handle: 5 } }],
      [table('ip'), base('ip', 'INPUT'), { map: {} }],
      [table('ip'), base('ip', 'INPUT'), { counter: {} }],
      [table('ip'), base('ip', 'INPUT'), { flowtable: {} }],
      [table('ip'), base('ip', 'INPUT; flush ruleset')],
      [table('ip'), { chain: { ...base('ip', 'INPUT').chain, table: 'other' } }],
      [table('ip'), { chain: null }],
      [table('ip'), null],
      [table('ip'), 'chain'],
      [table('ip'), { chain: base('ip', 'INPUT').chain, rule: {} }],
    ];
    for (const c of cases) expect(leftoverChains(c), JSON.stringify(c)).toBeNull();
  });
});

describe('FilterTableLeftover', () => {
  it('deletes, in one transaction, a table it found absent that now holds only empty base chains', async () => {
    const runner = new RecordingRunner();
    runner.on('nft -j list table ip filter', ABSENT, 1);
    runner.on('nft -j list table ip6 filter', ABSENT, 1);
    const t = new FilterTableLeftover(runner);
    await t.note([4, 6]);
    runner.on('nft -j list table ip filter', listing(table('ip'), base('ip', 'INPUT')));
    runner.on('nft -j list table ip6 filter', listing(table('ip6'), base('ip6', 'INPUT'), base('ip6', 'OUTPUT')));
    expect(await t.removeIfLeftover()).toEqual(['ip filter', 'ip6 filter']);
    const deletes = runner.calls.filter((c) => c.line === 'nft -f -');
    expect(deletes.map((c) => c.input)).toEqual([
      'delete chain ip filter INPUT\ndelete table ip filter\n',
      'delete chain ip6 filter INPUT\ndelete chain ip6 filter OUTPUT\ndelete table ip6 filter\n',
    ]);
  });

  it('never touches a table that existed before, whatever it holds now', async () => {
    const runner = new RecordingRunner();
    runner.on('nft -j list table', listing(table('ip'), base('ip', 'INPUT')));
    const t = new FilterTableLeftover(runner);
    await t.note([4, 6]);
    expect(await t.removeIfLeftover()).toEqual([]);
    expect(runner.lines('nft -f')).toEqual([]);
  });

  it('leaves a table that gained a rule, a chain or a drop policy, and one the kernel refused to delete', async () => {
    for (const now of [
      listing(table('ip'), base('ip', 'INPUT'), { rule: { family: 'ip', table: 'filter', chain: 'INPUT', handle: 9 } }),
      listing(table('ip'), base('ip', 'INPUT', 'drop')),
      listing(table('ip'), base('ip', 'INPUT'), { chain: { family: 'ip', table: 'filter', name: 'f2b-sshd', handle: 7 } }),
    ]) {
      const runner = new RecordingRunner();
      runner.on('nft -j list table ip filter', ABSENT, 1);
      const t = new FilterTableLeftover(runner);
      await t.note([4]);
      runner.on('nft -j list table ip filter', now);
      expect(await t.removeIfLeftover()).toEqual([]);
      expect(runner.lines('nft -f')).toEqual([]);
    }
    // Between the listing and the transaction someone added a rule: the kernel refuses (EBUSY).
    const runner = new RecordingRunner();
    runner.on('nft -j list table ip filter', ABSENT, 1);
    const t = new FilterTableLeftover(runner);
    await t.note([4]);
    runner.on('nft -j list table ip filter', listing(table('ip'), base('ip', 'INPUT')));
    runner.on('nft -f -', { code: 1, stderr: 'Error: Could not process rule: Device or resource busy' });
    expect(await t.removeIfLeftover()).toEqual([]);
  });

  it('does nothing, and never throws, without nft or with output it does not understand', async () => {
    for (const answer of [{ code: 127, stderr: 'nft: not found' }, { stdout: 'not json' }, { stdout: '{"nftables": 5}' }, { code: 1, stderr: 'Error: Operation not permitted' }]) {
      const runner = new RecordingRunner();
      runner.on('nft', answer);
      const t = new FilterTableLeftover(runner);
      await t.note([4, 6]);
      expect(await t.removeIfLeftover()).toEqual([]);
      expect(runner.lines('nft -f')).toEqual([]);
    }
  });
});
