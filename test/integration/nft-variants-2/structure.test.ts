/**
 * Audit round 2 of issue 12 (nftables enforcer): our table edited behind the agent's back in ways
 * round 1 did not try. Real kernel, one throw-away namespace `bh-h5-<random>` (deleted in afterAll),
 * test addresses only. These tests read the kernel's state (no traffic needed).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { DEFAULT_BATCH_ELEMENTS } from '../../../src/enforce/nft-args.js';
import { netnsUnavailable } from '../netns.js';

const skip = await netnsUnavailable();
const root = new ProcessRunner({ timeoutMs: 20_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Opts = ConstructorParameters<typeof NftablesEnforcer>[0];

describe.skipIf(skip !== null)('nftables: our table edited behind our back (round 2)', () => {
  const name = `bh-h5-${randomBytes(4).toString('hex')}`;
  let ns: Runner;
  let made = false;
  const nft = async (...args: string[]) => (await ns.run('nft', args)).stdout;
  const nftScript = (text: string) => ns.run('nft', ['-f', '-'], { input: text });
  const mk = (instance: string, extra: Partial<Opts> = {}) => new NftablesEnforcer({ runner: ns, instance, ports: [8080], elementCheckIntervalMs: 0, ...extra });
  const permanent = (ip: string): EnforcerBan => ({ ip, family: ip.includes(':') ? 6 : 4, until: null });
  const timed = (ip: string, ms: number): EnforcerBan => ({ ip, family: ip.includes(':') ? 6 : 4, until: Date.now() + ms });

  beforeAll(async () => {
    await root.run('ip', ['netns', 'add', name]);
    made = true;
    ns = withPrefix(root, ['ip', 'netns', 'exec', name]);
  });
  afterAll(async () => {
    if (made) await root.run('ip', ['netns', 'del', name]).catch(() => undefined);
  });

  /** Our table re-created by someone else from its own listing, with `edit` applied to the text. */
  const recreate = async (table: string, edit: (text: string) => string) => {
    const text = await nft('list', 'table', 'inet', table);
    const changed = edit(text);
    expect(changed).not.toBe(text);
    await nft('delete', 'table', 'inet', table);
    await nftScript(changed);
  };
  const addSetTimeout = (set: string, t: string) => (text: string) =>
    text.replace(new RegExp(`(set ${set} \\{[^}]*?flags timeout)`), `$1\n\t\ttimeout ${t}`);

  it('a set re-created with a default element timeout (`timeout 2s`) is repaired by check(): permanent bans stay permanent', async () => {
    const e = mk('h5dt');
    await e.init();
    try {
      const bans = [permanent('198.18.0.2'), permanent('2001:db8::2')];
      await e.apply({ ban: bans, unban: [] });
      await recreate('banhammer_h5dt', (t) => addSetTimeout('addr6', '2s')(addSetTimeout('addr4', '2s')(t)));
      expect(await nft('list', 'set', 'inet', 'banhammer_h5dt', 'addr4')).toMatch(/timeout 2s/);
      const repaired = await e.check(() => bans);
      expect(repaired.join('\n')).toMatch(/addr4/);
      // Whatever the repair did, the bans must still be there, without expiry, after the 2 s default.
      await sleep(3000);
      await e.check(() => bans);
      expect(await e.listSet(4)).toEqual([{ ip: '198.18.0.2', expiresS: null }]);
      expect(await e.listSet(6)).toEqual([{ ip: '2001:db8::2', expiresS: null }]);
      expect(await nft('list', 'set', 'inet', 'banhammer_h5dt', 'addr4')).not.toMatch(/timeout 2s/);
    } finally {
      await e.shutdown();
    }
  });

  it('an agent started over its table whose set has a default timeout (a crash, then an edit) writes permanent bans that do not expire', async () => {
    const e = mk('h5di');
    await e.init();
    await e.apply({ ban: [permanent('198.18.0.3')], unban: [] });
    await recreate('banhammer_h5di', addSetTimeout('addr4', '2s'));
    const again = mk('h5di');
    await again.init();
    try {
      await again.apply({ ban: [permanent('198.18.0.3'), permanent('198.18.0.4')], unban: [] });
      await sleep(3000);
      expect((await again.listSet(4)).sort((a, b) => a.ip.localeCompare(b.ip))).toEqual([
        { ip: '198.18.0.3', expiresS: null },
        { ip: '198.18.0.4', expiresS: null },
      ]);
    } finally {
      await again.shutdown();
    }
  });
  it('re-created by someone else with the chain at priority 10, a jump to their own chain first, addr4 as ipv4_addr . inet_service, addr6 with a 1 s element timeout: one check() restores our layout and every ban', async () => {
    const e = mk('h5rc');
    await e.init();
    try {
      const bans = [timed('198.18.0.5', 3_600_000), permanent('198.18.0.6'), timed('2001:db8::5', 3_600_000)];
      await e.apply({ ban: bans, unban: [] });
      await nft('delete', 'table', 'inet', 'banhammer_h5rc');
      await nftScript([
        'table inet banhammer_h5rc {',
        '  set addr4 { type ipv4_addr . inet_service; flags timeout; }',
        '  set addr6 { type ipv6_addr; flags timeout; elements = { 2001:db8::5 timeout 1s } }',
        '  chain theirs { accept; }',
        '  chain input { type filter hook input priority 10; policy accept;',
        '    jump theirs',
        '    tcp dport { 8080 } ip saddr . tcp dport @addr4 drop',
        '    tcp dport { 8080 } ip6 saddr @addr6 drop',
        '  }',
        '}',
      ].join('\n') + '\n');
      const repaired = await e.check(() => bans);
      expect(repaired.length).toBeGreaterThan(0);
      expect(await e.check(() => bans)).toEqual([]);
      const j = JSON.parse(await nft('-j', 'list', 'table', 'inet', 'banhammer_h5rc')) as { nftables: Record<string, Record<string, unknown>>[] };
      const chains = j.nftables.filter((o) => o['chain']).map((o) => o['chain']!);
      expect(chains.map((c) => [c['name'], c['prio']])).toEqual([['input', -10]]);
      await sleep(1500);
      expect((await e.listSet(4)).map((x) => x.ip).sort()).toEqual(['198.18.0.5', '198.18.0.6']);
      const v6 = await e.listSet(6);
      expect(v6.map((x) => x.ip)).toEqual(['2001:db8::5']);
      expect(v6[0]!.expiresS).toBeGreaterThan(3000);
    } finally {
      await e.shutdown();
    }
  });

  it('two instances in one namespace (h5 and h5_b, a prefix of each other): check() and shutdown() of one never touch the other', async () => {
    const a = mk('h5');
    const b = mk('h5_b', { ports: [8081] });
    await a.init();
    await b.init();
    try {
      await a.apply({ ban: [timed('198.18.0.7', 3_600_000)], unban: [] });
      await b.apply({ ban: [timed('198.18.0.8', 3_600_000)], unban: [] });
      const before = await nft('-s', 'list', 'table', 'inet', 'banhammer_h5_b');
      // a's check with an empty book removes a's ban only; then a goes.
      expect((await a.check(() => [])).join('\n')).toMatch(/stray/);
      await a.shutdown();
      expect(await nft('-s', 'list', 'table', 'inet', 'banhammer_h5_b')).toBe(before);
      expect((await nft('list', 'tables')).split('\n').filter((l) => l.includes('banhammer'))).toEqual(['table inet banhammer_h5_b']);
      expect(await b.check(() => [timed('198.18.0.8', 3_600_000)])).toEqual([]);
    } finally {
      await b.shutdown();
    }
    expect(await nft('list', 'tables')).not.toMatch(/banhammer/);
  });

  it('element timeouts shortened behind our back (deleted and re-added with 2 s) are put back by the element comparison', async () => {
    const e = mk('h5et');
    await e.init();
    try {
      const bans = [timed('198.18.0.9', 3_600_000), permanent('2001:db8::9')];
      await e.apply({ ban: bans, unban: [] });
      await nftScript('delete element inet banhammer_h5et addr4 { 198.18.0.9 }\nadd element inet banhammer_h5et addr4 { 198.18.0.9 timeout 2s }\n'
        + 'delete element inet banhammer_h5et addr6 { 2001:db8::9 }\nadd element inet banhammer_h5et addr6 { 2001:db8::9 timeout 2s }\n');
      expect((await e.check(() => bans)).join('\n')).toMatch(/corrected/);
      await sleep(2500);
      expect((await e.listSet(4))[0]!.expiresS).toBeGreaterThan(3000);
      expect(await e.listSet(6)).toEqual([{ ip: '2001:db8::9', expiresS: null }]);
    } finally {
      await e.shutdown();
    }
  });
  it.each([false, true])('100,000 bans (half of them extensions of bans in force) go in transactions of at most DEFAULT_BATCH_ELEMENTS (10,000) element writes, and all land (add + delete + add path: %s)', async (legacy) => {
    const inputs: string[] = [];
    const counting: Runner = {
      run: (cmd, args, opts) => {
        if (args[0] === '-f' && typeof opts?.input === 'string') inputs.push(opts.input);
        return ns.run(cmd, args, opts);
      },
    };
    const e = new NftablesEnforcer({ runner: counting, instance: legacy ? 'h5bigl' : 'h5big', ports: [8080], elementCheckIntervalMs: 60_000 });
    // Never init()ed: no timeout-update probe, so every ban is add + delete + add (kernels before 6.10).
    if (!legacy) await e.init();
    try {
      const ip = (i: number) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
      const bans = Array.from({ length: 100_000 }, (_, i) => timed(ip(i), 3_600_000));
      inputs.length = 0;
      await e.apply({ ban: bans.slice(0, 50_000), unban: [] });
      await e.apply({ ban: bans, unban: [] }); // 50,000 new, 50,000 extended
      const writes = inputs.map((t) => (t.match(/198\.1[89]\.\d+\.\d+/g) ?? []).length);
      expect(Math.max(...writes)).toBeLessThanOrEqual(DEFAULT_BATCH_ELEMENTS);
      expect(writes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(100_000);
      const held = await e.listSet(4);
      expect(held.length).toBe(100_000);
      // (Without init(), the first apply created the table, and the first check refills its sets.)
      if (legacy) await e.check(() => bans);
      expect(await e.check(() => bans)).toEqual([]);
    } finally {
      await e.shutdown();
    }
  }, 120_000);
  it('a network set re-created with `auto-merge` (which `nft -j` does not show) is repaired: adjacent network bans stay apart, one can be lifted alone, checks settle', async () => {
    const e = mk('h5am', { cidr: true });
    await e.init();
    try {
      await recreate('banhammer_h5am', (t) => t.replace(/(set net4 \{[^}]*?flags interval,timeout)/, '$1\n\t\tauto-merge'));
      expect(await nft('list', 'set', 'inet', 'banhammer_h5am', 'net4')).toMatch(/auto-merge/);
      const nets = ['198.18.2.0/24', '198.18.3.0/24'];
      const bans = nets.map((ip) => ({ ip, family: 4 as const, until: Date.now() + 3_600_000 }));
      await e.check(() => []);
      await e.apply({ ban: bans, unban: [] });
      expect((await e.check(() => bans)).join('\n')).toMatch(/net4/);
      expect(await e.check(() => bans)).toEqual([]);
      expect((await e.listSet(4, 'net')).map((x) => x.ip).sort()).toEqual(nets);
      expect(await nft('list', 'set', 'inet', 'banhammer_h5am', 'net4')).not.toMatch(/auto-merge/);
      const r = await e.apply({ ban: [], unban: [{ ip: '198.18.2.0/24', family: 4 }] });
      expect(r.refused).toEqual([]);
      expect((await e.listSet(4, 'net')).map((x) => x.ip)).toEqual(['198.18.3.0/24']);
    } finally {
      await e.shutdown();
    }
  });
  it('the table deleted between two applies: a batch of 12,000 bans in parallel transactions re-creates it and lands whole, nothing refused; the next check() refills the earlier bans', async () => {
    const e = mk('h5gone', { batchElements: 1000 });
    await e.init();
    try {
      const early = [permanent('2001:db8::60:1'), timed('198.18.60.1', 3_600_000)];
      await e.apply({ ban: early, unban: [] });
      await nft('delete', 'table', 'inet', 'banhammer_h5gone');
      const ip = (i: number) => `198.19.${(i >> 8) & 255}.${i & 255}`;
      const bans = Array.from({ length: 12_000 }, (_, i) => timed(ip(i), 3_600_000));
      const r = await e.apply({ ban: bans, unban: [] });
      expect(r.refused).toEqual([]);
      expect((await e.listSet(4)).length).toBe(12_000);
      await e.check(() => [...early, ...bans]);
      expect((await e.listSet(4)).length).toBe(12_001);
      expect(await e.listSet(6)).toEqual([{ ip: '2001:db8::60:1', expiresS: null }]);
      expect(await e.check(() => [...early, ...bans])).toEqual([]);
    } finally {
      await e.shutdown();
    }
  }, 60_000);
  it('host mode: a container’s set re-created with a default timeout is repaired too: its permanent scoped ban does not expire', async () => {
    const id = 'ab'.repeat(32);
    const containers = { info: (x: string) => (x === id ? { id, name: 'web', v4: ['198.18.70.2'], v6: ['2001:db8:70::2'] } : null) };
    const e = new NftablesEnforcer({ runner: ns, instance: 'h5host', ports: [], host: { containers }, elementCheckIntervalMs: 0 });
    await e.init();
    try {
      const bans: EnforcerBan[] = [{ ip: '198.18.71.1', family: 4, until: null, scope: id }, { ip: '198.18.71.2', family: 4, until: null }];
      expect((await e.apply({ ban: bans, unban: [] })).refused).toEqual([]);
      await recreate('banhammer_h5host', (t) => addSetTimeout(`c_${id.slice(0, 16)}_4`, '2s')(addSetTimeout('addr4', '2s')(t)));
      await e.check(() => bans);
      await sleep(3000);
      await e.check(() => bans);
      expect(await e.listSet(4, { container: id })).toEqual([{ ip: '198.18.71.1', expiresS: null }]);
      expect(await e.listSet(4)).toEqual([{ ip: '198.18.71.2', expiresS: null }]);
    } finally {
      await e.shutdown();
    }
  });
});
