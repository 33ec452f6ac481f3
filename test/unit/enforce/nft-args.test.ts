import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { execError, missingBinaryError } from '../../../src/exec/runner.js';
import {
  FRESH_PLAN,
  MAX_NFT_TIMEOUT_MS,
  acceptClientAddress,
  acceptScopedTarget,
  acceptTarget,
  blockRules,
  containerSetName,
  banTimeoutMs,
  blockRule,
  chunkOps,
  classifyNftError,
  diffStructure,
  elementOps,
  elementScript,
  elementWrites,
  nftDuration,
  nftNames,
  nftReason,
  parseSetElements,
  parseTable,
  reconcileSet,
  setupScript,
  validateNftPorts,
  type NftLayout,
} from '../../../src/enforce/nft-args.js';

const NOW = Date.UTC(2026, 0, 1);
const names = nftNames('web');
const layout: NftLayout = { names, ports: [80, 443], action: 'drop', families: [4, 6] };

/** `nft -j -t list ruleset` of nft 1.0.6 (Debian 12) for our table plus someone else's. */
const RULESET = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'banhammer_web', handle: 1 } },
    { set: { family: 'inet', name: 'addr4', table: 'banhammer_web', type: 'ipv4_addr', handle: 1, flags: ['timeout'] } },
    { set: { family: 'inet', name: 'addr6', table: 'banhammer_web', type: 'ipv6_addr', handle: 2, flags: ['timeout'] } },
    { chain: { family: 'inet', table: 'banhammer_web', name: 'input', handle: 3, type: 'filter', hook: 'input', prio: -10, policy: 'accept' } },
    { rule: { family: 'inet', table: 'banhammer_web', chain: 'input', handle: 5, expr: [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { set: [80, 443] } } }, { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@addr4' } }, { drop: null }] } },
    { rule: { family: 'inet', table: 'banhammer_web', chain: 'input', handle: 7, expr: [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { set: [80, 443] } } }, { match: { op: '==', left: { payload: { protocol: 'ip6', field: 'saddr' } }, right: '@addr6' } }, { drop: null }] } },
    { table: { family: 'ip', name: 'banhammer_web', handle: 2 } },
    { chain: { family: 'ip', table: 'banhammer_web', name: 'c', handle: 1 } },
  ],
});

describe('nftNames', () => {
  it('prefixes the instance, and hashes long ones to exactly 64 characters', () => {
    expect(nftNames('web')).toEqual({ instance: 'web', table: 'banhammer_web', chain: 'input', sets: { 4: 'addr4', 6: 'addr6' }, nets: { 4: 'net4', 6: 'net6' } });
    expect(nftNames('a'.repeat(53)).table).toBe(`banhammer_${'a'.repeat(53)}`);
    const long = nftNames('a'.repeat(54)).table;
    expect(long).toMatch(/^banhammer_a{45}_[0-9a-f]{8}$/);
    expect(long).toHaveLength(64);
    expect(nftNames('b'.repeat(54)).table).not.toBe(long.replace(/a/g, 'b'));
  });

  it('refuses names that are not safe identifiers', () => {
    for (const bad of ['', '-web', 'we b', 'web;flush ruleset', 'web}', 'wéb']) {
      expect(() => nftNames(bad)).toThrow(BanhammerError);
    }
  });
});

describe('validateNftPorts', () => {
  it('sorts and de-duplicates, refuses none and out-of-range ports', () => {
    expect(validateNftPorts([443, 80, 443])).toEqual([80, 443]);
    expect(() => validateNftPorts([])).toThrow(/nftables enforcer needs at least one TCP port/);
    expect(() => validateNftPorts([0])).toThrow(/invalid port 0/);
    expect(() => validateNftPorts([1.5])).toThrow(/invalid port/);
  });
});

describe('setupScript', () => {
  it('creates everything missing and writes the rules after a flush, in one transaction', () => {
    expect(setupScript(layout)).toBe([
      'add table inet banhammer_web',
      'add set inet banhammer_web addr4 { type ipv4_addr; flags timeout; }',
      'add set inet banhammer_web addr6 { type ipv6_addr; flags timeout; }',
      'add chain inet banhammer_web input { type filter hook input priority -10; policy accept; }',
      'flush chain inet banhammer_web input',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip saddr @addr4 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip saddr @addr4 drop',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip6 saddr @addr6 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip6 saddr @addr6 drop',
      '',
    ].join('\n'));
  });

  it('deletes what is wrong or foreign, rules first, and writes a set size when configured', () => {
    const text = setupScript({ ...layout, families: [6], action: 'reject', size: 1000 }, {
      chainExists: false,
      chainWrong: true,
      badSets: ['addr6'],
      foreignChains: ['sneaky'],
      foreignSets: ['extra'],
    });
    expect(text).toBe([
      'add table inet banhammer_web',
      'flush chain inet banhammer_web sneaky',
      'flush chain inet banhammer_web input',
      'delete chain inet banhammer_web sneaky',
      'delete chain inet banhammer_web input',
      'delete set inet banhammer_web extra',
      'delete set inet banhammer_web addr6',
      'add set inet banhammer_web addr6 { type ipv6_addr; flags timeout; size 1000; }',
      'add chain inet banhammer_web input { type filter hook input priority -10; policy accept; }',
      'flush chain inet banhammer_web input',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip6 saddr @addr6 reject with tcp reset',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip6 saddr @addr6 reject',
      '',
    ].join('\n'));
  });

  it('blockRule drops or rejects: TCP by default (the rule of TCP-only versions), a reset for TCP, nft\'s plain reject (ICMP port unreachable) for UDP', () => {
    const addr4 = { name: 'addr4', family: 4 as const, kind: 'addr' as const };
    const addr6 = { name: 'addr6', family: 6 as const, kind: 'addr' as const };
    expect(blockRule({ ...layout, ports: [8080] }, addr4)).toBe('tcp dport { 8080 } ip saddr @addr4 drop');
    expect(blockRule({ ...layout, action: 'reject' }, addr6)).toBe('tcp dport { 80, 443 } ip6 saddr @addr6 reject with tcp reset');
    expect(blockRule({ ...layout, ports: [8080] }, addr4, 'udp')).toBe('udp dport { 8080 } ip saddr @addr4 drop');
    expect(blockRule({ ...layout, action: 'reject' }, addr6, 'udp')).toBe('udp dport { 80, 443 } ip6 saddr @addr6 reject');
    expect(blockRule({ ...layout, action: 'reject' }, addr4, 'tcp')).toBe('tcp dport { 80, 443 } ip saddr @addr4 reject with tcp reset');
    expect(blockRules({ ...layout, action: 'reject' })).toEqual([
      'tcp dport { 80, 443 } ip saddr @addr4 reject with tcp reset',
      'udp dport { 80, 443 } ip saddr @addr4 reject',
      'tcp dport { 80, 443 } ip6 saddr @addr6 reject with tcp reset',
      'udp dport { 80, 443 } ip6 saddr @addr6 reject',
    ]);
  });

  it('with CIDR bans: interval sets for networks, each with its rules (TCP, UDP)', () => {
    const text = setupScript({ ...layout, cidr: true });
    expect(text).toContain('add set inet banhammer_web net4 { type ipv4_addr; flags interval,timeout; }\n');
    expect(text).toContain('add set inet banhammer_web net6 { type ipv6_addr; flags interval,timeout; }\n');
    expect(text.split('\n').filter((l) => l.startsWith('add rule'))).toEqual([
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip saddr @addr4 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip saddr @addr4 drop',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip6 saddr @addr6 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip6 saddr @addr6 drop',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip saddr @net4 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip saddr @net4 drop',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip6 saddr @net6 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip6 saddr @net6 drop',
    ]);
  });
});

describe('timeouts', () => {
  it('nftDuration writes compound units (nft refuses one large ms figure)', () => {
    expect(nftDuration(1)).toBe('1ms');
    expect(nftDuration(0.2)).toBe('1ms');
    expect(nftDuration(600_000)).toBe('10m');
    expect(nftDuration(90_061_001)).toBe('1d1h1m1s1ms');
    expect(nftDuration(MAX_NFT_TIMEOUT_MS)).toBe('20d');
  });

  it('banTimeoutMs: permanent, capped, expired', () => {
    expect(banTimeoutMs(null, NOW)).toBe('permanent');
    expect(banTimeoutMs(NOW + 5000, NOW)).toBe(5000);
    expect(banTimeoutMs(NOW + 400 * 86_400_000, NOW)).toBe(MAX_NFT_TIMEOUT_MS);
    expect(banTimeoutMs(NOW, NOW)).toBeNull();
    expect(banTimeoutMs(NOW - 1, NOW)).toBeNull();
  });
});

describe('elementOps and elementScript', () => {
  it('validates every address, keeps one change per address (a ban after an unban wins)', () => {
    const { ops, refused } = elementOps({
      unban: [{ ip: '198.18.0.5', family: 4 }, { ip: '2001:DB8:0::9', family: 6 }],
      ban: [
        { ip: '198.18.0.5', family: 4, until: NOW + 60_000 },
        { ip: '::ffff:198.18.0.6', family: 6, until: null },
        { ip: '198.18.0.7', family: 4, until: NOW - 1 },
        { ip: '198.18.0.8 } ; flush ruleset', family: 4, until: null },
        { ip: '0.0.0.0', family: 4, until: null },
        { ip: 'ff02::1', family: 6, until: null },
        { ip: '255.255.255.255', family: 4, until: null },
      ],
    }, [4, 6], NOW);
    expect(ops).toEqual([
      { ip: '2001:db8::9', family: 6, kind: 'addr', op: 'delete' },
      { ip: '198.18.0.5', family: 4, kind: 'addr', op: 60_000 },
      { ip: '198.18.0.6', family: 4, kind: 'addr', op: 'permanent' },
      { ip: '198.18.0.7', family: 4, kind: 'addr', op: 'delete' },
    ]);
    expect(refused).toEqual([
      { ip: '198.18.0.8 } ; flush ruleset', family: 4, reason: 'not a valid IP address' },
      { ip: '0.0.0.0', family: 4, reason: 'an unspecified address cannot be a client' },
      { ip: 'ff02::1', family: 6, reason: 'a multicast address cannot be a client' },
      { ip: '255.255.255.255', family: 4, reason: 'the broadcast address cannot be a client' },
    ]);
  });

  it('an unban of a valid address that can never be a client is skipped quietly, an invalid one refused', () => {
    const { ops, refused } = elementOps({ ban: [{ ip: '0.1.2.3', family: 4, until: null }], unban: [{ ip: '0.0.0.0', family: 4 }, { ip: 'x', family: 4 }] }, [4], NOW);
    expect(ops).toEqual([]);
    expect(refused).toEqual([
      { ip: 'x', family: 4, reason: 'not a valid IP address' },
      { ip: '0.1.2.3', family: 4, reason: 'an unspecified address cannot be a client' },
    ]);
  });

  it('refuses a family that is not enabled', () => {
    expect(acceptClientAddress('2001:db8::1', [4])).toEqual({ reason: 'IPv6 is not enabled for this enforcer' });
    expect(acceptClientAddress('2001:0db8::0001', [6])).toEqual({ ip: '2001:db8::1', family: 6 });
  });

  it('writes add + delete + add per set, so a refresh rewrites the timeout and an unban never fails', () => {
    expect(elementScript(names, [
      { ip: '198.18.0.5', family: 4, kind: 'addr', op: 60_000 },
      { ip: '198.18.0.6', family: 4, kind: 'addr', op: 'permanent' },
      { ip: '198.18.0.7', family: 4, kind: 'addr', op: 'delete' },
      { ip: '2001:db8::9', family: 6, kind: 'addr', op: 'delete' },
    ])).toBe([
      'add element inet banhammer_web addr4 { 198.18.0.5 timeout 1m, 198.18.0.6, 198.18.0.7 }',
      'delete element inet banhammer_web addr4 { 198.18.0.5, 198.18.0.6, 198.18.0.7 }',
      'add element inet banhammer_web addr4 { 198.18.0.5 timeout 1m, 198.18.0.6 }',
      'add element inet banhammer_web addr6 { 2001:db8::9 }',
      'delete element inet banhammer_web addr6 { 2001:db8::9 }',
      '',
    ].join('\n'));
    expect(elementScript(names, [])).toBe('');
    expect(elementScript(names, [
      { ip: '198.18.0.5', family: 4, kind: 'addr', op: 60_000 },
      { ip: '198.18.0.0/24', family: 4, kind: 'net', op: 60_000 },
    ], { timeoutUpdates: true })).toBe([
      'add element inet banhammer_web addr4 { 198.18.0.5 timeout 1m }',
      'add element inet banhammer_web net4 { 198.18.0.0/24 timeout 1m }',
      'delete element inet banhammer_web net4 { 198.18.0.0/24 }',
      'add element inet banhammer_web net4 { 198.18.0.0/24 timeout 1m }',
      '',
    ].join('\n'));
    expect(elementScript(names, [{ ip: '198.18.0.0/24', family: 4, kind: 'net', op: 1000 }])).toBe([
      'add element inet banhammer_web net4 { 198.18.0.0/24 timeout 1s }',
      'delete element inet banhammer_web net4 { 198.18.0.0/24 }',
      'add element inet banhammer_web net4 { 198.18.0.0/24 timeout 1s }',
      '',
    ].join('\n'));
  });

  it('counts element writes as elementScript makes them, and cuts transactions by that count', () => {
    const ban = (i: number, op: number | 'permanent' | 'delete', kind: 'addr' | 'net' = 'addr') => ({ ip: `198.18.0.${i}`, family: 4 as const, kind, op });
    expect(elementWrites(ban(1, 60_000))).toBe(3);
    expect(elementWrites(ban(1, 60_000), { timeoutUpdates: true })).toBe(1);
    expect(elementWrites(ban(1, 'permanent'), { timeoutUpdates: true })).toBe(3);
    expect(elementWrites(ban(1, 60_000, 'net'), { timeoutUpdates: true })).toBe(3);
    expect(elementWrites(ban(1, 'delete'), { timeoutUpdates: true })).toBe(2);
    // The count matches the script: one add per timed ban where add rewrites timeouts.
    const ops = [ban(1, 60_000), ban(2, 'permanent'), ban(3, 'delete')];
    const written = (script: string) => [...script.matchAll(/198\.18\.0\.\d+/g)].length;
    for (const timeoutUpdates of [false, true]) {
      expect(written(elementScript(names, ops, { timeoutUpdates }))).toBe(ops.reduce((n, o) => n + elementWrites(o, { timeoutUpdates }), 0));
    }
    const many = Array.from({ length: 12_001 }, (_, i) => ban(i % 250, 60_000));
    expect(chunkOps(many, 5000, { timeoutUpdates: true }).map((c) => c.length)).toEqual([5000, 5000, 2001]);
    expect(chunkOps(many, 5000).map((c) => c.length)).toEqual([...Array<number>(7).fill(1666), 339]);
    expect(chunkOps(many, 5000).flat()).toEqual(many);
    // A change larger than the limit still goes out, alone.
    expect(chunkOps([ban(1, 'permanent'), ban(2, 'permanent')], 2).map((c) => c.length)).toEqual([1, 1]);
    expect(chunkOps([], 5000)).toEqual([]);
  });

  it('CIDR targets: canonical networks when enabled, full-length prefixes as addresses, dangerous ones refused', () => {
    expect(acceptTarget('198.18.0.0/24', [4, 6], true)).toEqual({ ip: '198.18.0.0/24', family: 4, kind: 'net' });
    expect(acceptTarget('2001:DB8:0:0::/48', [4, 6], true)).toEqual({ ip: '2001:db8::/48', family: 6, kind: 'net' });
    expect(acceptTarget('198.18.0.7/32', [4, 6], true)).toEqual({ ip: '198.18.0.7', family: 4, kind: 'addr' });
    expect(acceptTarget('198.18.0.7/32', [4, 6], false)).toEqual({ ip: '198.18.0.7', family: 4, kind: 'addr' });
    expect(acceptTarget('198.18.0.0/24', [4, 6], false)).toEqual({ reason: 'CIDR bans are not enabled for this enforcer' });
    expect(acceptTarget('198.18.0.9/24', [4, 6], true)).toEqual({ ip: '198.18.0.0/24', family: 4, kind: 'net' });
    expect(acceptTarget('198.18.0.0/x', [4, 6], true)).toEqual({ reason: 'not a valid network (address/prefix)' });
    expect(acceptTarget('198.18.0.0/33', [4, 6], true)).toEqual({ reason: 'not a valid network (address/prefix)' });
    expect(acceptTarget('198.18.0.0/24 ', [4, 6], true)).toEqual({ reason: 'not a valid network (address/prefix)' });
    expect(acceptTarget('0.0.0.0/0', [4, 6], true)).toEqual({ reason: 'a /0 network would ban everyone' });
    expect(acceptTarget('::/0', [4, 6], true)).toEqual({ reason: 'a /0 network would ban everyone' });
    expect(acceptTarget('127.0.0.0/16', [4, 6], true)).toEqual({ reason: '127.0.0.0/16 covers 127.0.0.0/8 (loopback or unspecified)' });
    expect(acceptTarget('0.0.0.0/1', [4, 6], true)).toMatchObject({ reason: expect.stringContaining('covers 127.0.0.0/8') });
    expect(acceptTarget('::/64', [4, 6], true)).toMatchObject({ reason: expect.stringContaining('covers ::1/128') });
    expect(acceptTarget('2001:db8::/32', [4], true)).toEqual({ reason: 'IPv6 is not enabled for this enforcer' });
    const { ops, refused } = elementOps({ ban: [{ ip: '198.18.0.0/24', family: 4, until: null }], unban: [] }, [4], NOW, { cidr: true });
    expect(ops).toEqual([{ ip: '198.18.0.0/24', family: 4, kind: 'net', op: 'permanent' }]);
    expect(refused).toEqual([]);
  });
});

describe('listings', () => {
  it('parseTable reads our table only (same name in another family is not ours)', () => {
    const view = parseTable(RULESET, 'banhammer_web')!;
    expect([...view.sets.keys()]).toEqual(['addr4', 'addr6']);
    expect(view.sets.get('addr6')).toEqual({ type: 'ipv6_addr', flags: ['timeout'], size: undefined });
    expect([...view.chains.entries()]).toEqual([['input', { type: 'filter', hook: 'input', prio: -10, policy: 'accept' }]]);
    expect(view.rules.get('input')).toHaveLength(2);
    expect(view.rules.get('input')![0]).not.toContain('handle');
    expect(parseTable(RULESET, 'banhammer_other')).toBeUndefined();
    expect(() => parseTable('not json', 'x')).toThrow(/cannot read the output of nft -j/);
  });

  it('a table laid out by a version that closed TCP only (RULESET: one TCP rule per set) is found wrong and rewritten, TCP and UDP, in the transaction that flushes it', () => {
    const view = parseTable(RULESET, 'banhammer_web')!;
    // A new process has no reference yet: the rule count (2, not 4) tells.
    const d = diffStructure(view, layout, undefined);
    expect(d).toMatchObject({ ok: false, rulesDiffer: true, emptySets: [], findings: ['chain input held 2 rule(s) that are not exactly ours'] });
    expect(d.plan).toEqual({ chainExists: true, chainWrong: false, badSets: [], foreignChains: [], foreignSets: [] });
    // The sets (and their bans) are kept; the chain is flushed and refilled in the same transaction.
    expect(setupScript(layout, d.plan)).toBe([
      'add table inet banhammer_web',
      'flush chain inet banhammer_web input',
      'add set inet banhammer_web addr4 { type ipv4_addr; flags timeout; }',
      'add set inet banhammer_web addr6 { type ipv6_addr; flags timeout; }',
      'add chain inet banhammer_web input { type filter hook input priority -10; policy accept; }',
      'flush chain inet banhammer_web input',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip saddr @addr4 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip saddr @addr4 drop',
      'add rule inet banhammer_web input tcp dport { 80, 443 } ip6 saddr @addr6 drop',
      'add rule inet banhammer_web input udp dport { 80, 443 } ip6 saddr @addr6 drop',
      '',
    ].join('\n'));
  });

  it('diffStructure: all well, then each kind of damage', () => {
    const view = parseTable(RULESET, 'banhammer_web')!;
    const ref = [...view.rules.get('input')!];
    expect(diffStructure(view, layout, ref)).toMatchObject({ ok: true, findings: [], emptySets: [] });
    expect(diffStructure(undefined, layout, ref)).toMatchObject({ ok: false, plan: FRESH_PLAN, emptySets: ['addr4', 'addr6'], findings: ['table inet banhammer_web was missing'] });
    expect(diffStructure(view, layout, [ref[0]!])).toMatchObject({ ok: false, rulesDiffer: true, findings: ['chain input held 2 rule(s) that are not exactly ours'] });
    expect(diffStructure(view, { ...layout, cidr: true }, undefined)).toMatchObject({ emptySets: ['net4', 'net6'], findings: ['set net4 was missing', 'set net6 was missing', 'chain input held 2 rule(s) that are not exactly ours'] });
    expect(diffStructure(view, { ...layout, size: 10 }, ref)).toMatchObject({
      plan: { badSets: ['addr4', 'addr6'] },
      emptySets: ['addr4', 'addr6'],
      findings: ['set addr4 had other settings (type ipv4_addr, flags timeout)', 'set addr6 had other settings (type ipv6_addr, flags timeout)'],
    });
    const sets = new Map(view.sets);
    sets.delete('addr6');
    sets.set('extra', { type: 'ipv4_addr', flags: [], size: undefined });
    const chains = new Map(view.chains);
    chains.set('input', { type: 'filter', hook: 'input', prio: 0, policy: 'accept' });
    chains.set('sneaky', { type: 'filter', hook: 'input', prio: -20, policy: 'accept' });
    const d = diffStructure({ sets, chains, rules: view.rules }, layout, ref);
    expect(d.plan).toEqual({ chainExists: false, chainWrong: true, badSets: [], foreignChains: ['sneaky'], foreignSets: ['extra'] });
    expect(d.emptySets).toEqual(['addr6']);
    expect(d.findings).toEqual([
      'set addr6 was missing',
      'set extra is not ours',
      'chain sneaky is not ours',
      'chain input had another hook (filter input priority 0 policy accept)',
    ]);
  });

  it('parseSetElements: timeouts in seconds, permanent ones as null, addresses canonical', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { set: { family: 'inet', name: 'addr6', table: 'banhammer_web', type: 'ipv6_addr', flags: ['timeout'], elem: [{ elem: { val: '2001:db8:0:0::2', timeout: 600, expires: 599 } }, '2001:db8::3', { elem: { val: 'bogus' } }] } },
      ],
    });
    expect(parseSetElements(json)).toEqual([{ ip: '2001:db8::2', expiresS: 599 }, { ip: '2001:db8::3', expiresS: null }]);
    expect(parseSetElements('{"nftables":[{"set":{"name":"addr4"}}]}')).toEqual([]);
    const nets = JSON.stringify({ nftables: [{ set: { name: 'net4', flags: ['interval', 'timeout'], elem: [
      { elem: { val: { prefix: { addr: '198.18.0.0', len: 24 } }, timeout: 3600, expires: 3599 } },
      { prefix: { addr: '198.19.0.0', len: 16 } },
      { range: ['198.20.0.1', '198.20.0.9'] },
    ] } }] });
    // A range (never ours) is read as `first-last`, so reconcileSet removes it as a stray; a range of
    // mixed families or of non-addresses is not an element we can name.
    expect(parseSetElements(nets)).toEqual([{ ip: '198.18.0.0/24', expiresS: 3599 }, { ip: '198.19.0.0/16', expiresS: null }, { ip: '198.20.0.1-198.20.0.9', expiresS: null }]);
    const odd = JSON.stringify({ nftables: [{ set: { name: 'net4', elem: [{ range: ['198.20.0.1', '2001:db8::1'] }, { range: ['x', 'y'] }, { range: ['198.20.0.1'] }] } }] });
    expect(parseSetElements(odd)).toEqual([]);
  });

  it('reconcileSet: adds missing, deletes strays, corrects timeouts beyond the slack', () => {
    const expected = new Map<string, number | null>([
      ['198.18.0.1', null],
      ['198.18.0.2', NOW + 600_000],
      ['198.18.0.3', NOW + 600_000],
      ['198.18.0.4', null],
      ['198.18.0.5', NOW + 400 * 86_400_000],
      ['198.18.0.6', NOW - 5],
    ]);
    const r = reconcileSet([
      { ip: '198.18.0.1', expiresS: null },
      { ip: '198.18.0.2', expiresS: 590 },
      { ip: '198.18.0.3', expiresS: 30 },
      { ip: '198.18.0.4', expiresS: 30 },
      { ip: '198.18.0.5', expiresS: MAX_NFT_TIMEOUT_MS / 1000 - 5 },
      { ip: '198.18.0.9', expiresS: 100 },
    ], expected, { family: 4, kind: 'addr' }, NOW);
    expect(r.ops).toEqual([
      { ip: '198.18.0.3', family: 4, kind: 'addr', op: 600_000 },
      { ip: '198.18.0.4', family: 4, kind: 'addr', op: 'permanent' },
      { ip: '198.18.0.9', family: 4, kind: 'addr', op: 'delete' },
    ]);
    expect([r.added, r.removed, r.corrected]).toEqual([0, 1, 2]);
    expect(reconcileSet([], expected, { family: 4, kind: 'addr' }, NOW).added).toBe(5);
    // A ban longer than the cap: refreshed 5 h ago (fine) or 13 h ago (rewritten); never more than the cap.
    const long = new Map<string, number | null>([['198.18.1.1', NOW + 300 * 86_400_000], ['198.18.1.2', NOW + 300 * 86_400_000], ['198.18.1.3', NOW + 300 * 86_400_000]]);
    const capS = MAX_NFT_TIMEOUT_MS / 1000;
    const c = reconcileSet([
      { ip: '198.18.1.1', expiresS: capS - 5 * 3600 },
      { ip: '198.18.1.2', expiresS: capS - 13 * 3600 },
      { ip: '198.18.1.3', expiresS: capS + 3600 },
    ], long, { family: 4, kind: 'addr' }, NOW);
    expect(c.ops.map((o) => o.ip)).toEqual(['198.18.1.2', '198.18.1.3']);
    expect(c.ops[0]!.op).toBe(MAX_NFT_TIMEOUT_MS);
  });
});

describe('errors', () => {
  const fail = (stderr: string) => execError('nft', ['-f', '-'], { stdout: '', stderr, code: 1 });

  it('nftReason drops the location prefix', () => {
    expect(nftReason('/dev/stdin:3:38-48: Error: Could not process rule: No such file or directory\ndelete element …\n     ^^^\n')).toBe('Could not process rule: No such file or directory');
    expect(nftReason('', 'fallback')).toBe('fallback');
  });

  it('classifies missing NET_ADMIN, missing nf_tables, a full set and the rest', () => {
    const eperm = classifyNftError(fail('/dev/stdin:1:1-27: Error: Could not process rule: Operation not permitted\n'), 'setting up table inet banhammer_web');
    expect(eperm).toMatchObject({ code: 'BH_ERR_NO_NET_ADMIN', message: 'setting up table inet banhammer_web failed: not allowed to change the firewall (Could not process rule: Operation not permitted)' });
    expect((eperm as BanhammerError).hint).toContain('NET_ADMIN');
    expect(classifyNftError(fail('Operation not permitted (you must be root)\nnetlink: Error: cache initialization failed: Operation not permitted\n'), 'x')).toMatchObject({ code: 'BH_ERR_NO_NET_ADMIN' });
    const nonf = classifyNftError(fail('netlink: Error: cache initialization failed: Protocol not supported\n'), 'x') as BanhammerError;
    expect(nonf).toMatchObject({ code: 'BH_ERR_FIREWALL', message: 'x failed: the kernel has no usable nf_tables (cache initialization failed: Protocol not supported)' });
    expect(nonf.hint).toContain('BANHAMMER_ENFORCER=iptables');
    expect(classifyNftError(fail('mnl.c:43: Unable to initialize Netlink socket: Protocol not supported\n'), 'x')).toMatchObject({ message: expect.stringContaining('no usable nf_tables') });
    const listFail = execError('nft', ['-j', '-t', 'list', 'ruleset'], { stdout: '', stderr: 'Error: Could not process rule: Operation not supported\n', code: 1 });
    expect(classifyNftError(listFail, 'x')).toMatchObject({ message: 'x failed: the kernel has no usable nf_tables (Could not process rule: Operation not supported)' });
    const writeFail = classifyNftError(fail('/dev/stdin:7:1-60: Error: Could not process rule: Operation not supported\n'), 'x') as BanhammerError;
    expect(writeFail.message).toBe('x failed: the kernel lacks an nf_tables feature this needs (Could not process rule: Operation not supported)');
    expect(writeFail.hint).toContain('nft_reject_inet');
    expect(classifyNftError(fail('/dev/stdin:1:1-2: Error: Could not process rule: No space left on device\n'), 'x')).toMatchObject({ code: 'BH_ERR_FIREWALL', message: expect.stringContaining('the ban set is full') });
    expect(classifyNftError(fail('Error: JSON support not compiled-in\n'), 'x')).toMatchObject({ code: 'BH_ERR_FIREWALL', message: expect.stringContaining('cannot print JSON') });
    expect(classifyNftError(fail('/dev/stdin:1:1-2: Error: syntax error\n'), 'x')).toMatchObject({ code: 'BH_ERR_FIREWALL', message: 'x failed: syntax error' });
    const other = new Error('boom');
    expect(classifyNftError(other, 'x')).toBe(other);
  });

  it('names the nftables package when nft is missing', () => {
    const e = classifyNftError(missingBinaryError('nft'), 'setting up') as BanhammerError;
    expect(e.code).toBe('BH_ERR_MISSING_BINARY');
    expect(e.hint).toContain('apt-get install nftables');
  });
});

describe('host mode', () => {
  const X = 'a1'.repeat(32);
  const Y = 'b2'.repeat(32);
  const hostNames = nftNames('host', 'forward');
  const host: NftLayout = {
    names: hostNames,
    ports: [],
    action: 'drop',
    families: [4, 6],
    containers: [
      { id: Y, v4: ['172.17.0.3'], v6: [] },
      { id: X, v4: ['172.17.0.2', '172.17.0.9'], v6: ['fd00:0::2'] },
    ],
  };

  it('names container sets after the id, and refuses anything else', () => {
    expect(containerSetName(X, 4)).toBe('c_a1a1a1a1a1a1a1a1_4');
    expect(() => containerSetName('a1; flush ruleset', 4)).toThrow(/not a container id/);
  });

  it('one forward chain: the return for replies first, host-wide rules for every TCP and UDP port, then a pair per container address, by id', () => {
    expect(blockRules(host)).toEqual([
      'ct direction reply return',
      'meta l4proto tcp ip saddr @addr4 drop',
      'meta l4proto udp ip saddr @addr4 drop',
      'meta l4proto tcp ip6 saddr @addr6 drop',
      'meta l4proto udp ip6 saddr @addr6 drop',
      'ip daddr 172.17.0.2 meta l4proto tcp ip saddr @c_a1a1a1a1a1a1a1a1_4 drop',
      'ip daddr 172.17.0.2 meta l4proto udp ip saddr @c_a1a1a1a1a1a1a1a1_4 drop',
      'ip daddr 172.17.0.9 meta l4proto tcp ip saddr @c_a1a1a1a1a1a1a1a1_4 drop',
      'ip daddr 172.17.0.9 meta l4proto udp ip saddr @c_a1a1a1a1a1a1a1a1_4 drop',
      'ip6 daddr fd00::2 meta l4proto tcp ip6 saddr @c_a1a1a1a1a1a1a1a1_6 drop',
      'ip6 daddr fd00::2 meta l4proto udp ip6 saddr @c_a1a1a1a1a1a1a1a1_6 drop',
      'ip daddr 172.17.0.3 meta l4proto tcp ip saddr @c_b2b2b2b2b2b2b2b2_4 drop',
      'ip daddr 172.17.0.3 meta l4proto udp ip saddr @c_b2b2b2b2b2b2b2b2_4 drop',
    ]);
    expect(blockRules({ ...host, action: 'reject', containers: [{ id: X, v4: [], v6: ['fd00::2'] }] })).toEqual([
      'ct direction reply return',
      'meta l4proto tcp ip saddr @addr4 reject with tcp reset',
      'meta l4proto udp ip saddr @addr4 reject',
      'meta l4proto tcp ip6 saddr @addr6 reject with tcp reset',
      'meta l4proto udp ip6 saddr @addr6 reject',
      'ip6 daddr fd00::2 meta l4proto tcp ip6 saddr @c_a1a1a1a1a1a1a1a1_6 reject with tcp reset',
      'ip6 daddr fd00::2 meta l4proto udp ip6 saddr @c_a1a1a1a1a1a1a1a1_6 reject',
    ]);
    // Host mode with CIDR bans: the network sets' pairs follow the address sets', the return stays first.
    expect(blockRules({ ...host, cidr: true, families: [6], containers: [] })).toEqual([
      'ct direction reply return',
      'meta l4proto tcp ip6 saddr @addr6 drop',
      'meta l4proto udp ip6 saddr @addr6 drop',
      'meta l4proto tcp ip6 saddr @net6 drop',
      'meta l4proto udp ip6 saddr @net6 drop',
    ]);
    const text = setupScript(host);
    expect(text).toContain('add chain inet banhammer_host forward { type filter hook forward priority -10; policy accept; }\n');
    // The chain is flushed and written whole in one transaction, the return before any drop.
    expect(text).toContain('flush chain inet banhammer_host forward\nadd rule inet banhammer_host forward ct direction reply return\nadd rule inet banhammer_host forward meta l4proto tcp ip saddr @addr4 drop\n');
    // In-container mode (input) has no such rule: it matches the guarded ports only.
    expect(blockRules(layout)).not.toContain('ct direction reply return');
    expect(text).toContain('add set inet banhammer_host c_b2b2b2b2b2b2b2b2_6 { type ipv6_addr; flags timeout; }\n');
  });

  it('a forward chain without the return for replies (an older version’s) is not ours: rewritten, with or without a learned reference', () => {
    const t = 'banhammer_host';
    const l4 = (p: string, fam: 'ip' | 'ip6', set: string) => ({ rule: { family: 'inet', table: t, chain: 'forward', expr: [
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: p } },
      { match: { op: '==', left: { payload: { protocol: fam, field: 'saddr' } }, right: `@${set}` } },
      { drop: null },
    ] } });
    // `nft -j` of nft 1.0.6 for `ct direction reply return`.
    const ret = { rule: { family: 'inet', table: t, chain: 'forward', expr: [{ match: { op: '==', left: { ct: { key: 'direction' } }, right: 'reply' } }, { return: null }] } };
    const drops = [l4('tcp', 'ip', 'addr4'), l4('udp', 'ip', 'addr4'), l4('tcp', 'ip6', 'addr6'), l4('udp', 'ip6', 'addr6')];
    const table = (rules: unknown[]) => parseTable(JSON.stringify({ nftables: [
      { table: { family: 'inet', name: t } },
      { set: { family: 'inet', name: 'addr4', table: t, type: 'ipv4_addr', flags: ['timeout'] } },
      { set: { family: 'inet', name: 'addr6', table: t, type: 'ipv6_addr', flags: ['timeout'] } },
      { chain: { family: 'inet', table: t, name: 'forward', type: 'filter', hook: 'forward', prio: -10, policy: 'accept' } },
      ...rules,
    ] }), t)!;
    const plain: NftLayout = { ...host, containers: [] };
    const now = table([ret, ...drops]);
    const ref = now.rules.get('forward')!;
    expect(diffStructure(now, plain, ref)).toMatchObject({ ok: true, findings: [] });
    expect(diffStructure(now, plain, undefined)).toMatchObject({ ok: true, findings: [] });
    for (const old of [drops, [...drops, ret]]) {
      for (const reference of [ref, undefined]) {
        if (reference === undefined && old.length === 5) continue; // without a reference only the count is compared
        expect(diffStructure(table(old), plain, reference)).toMatchObject({ ok: false, rulesDiffer: true, plan: { chainExists: true, chainWrong: false } });
      }
    }
  });

  it('the in-container chain in a host-mode table is foreign, and the reverse', () => {
    const view = parseTable(RULESET, 'banhammer_web')!;
    const d = diffStructure(view, { ...layout, names: nftNames('web', 'forward') }, undefined);
    expect(d.plan.foreignChains).toEqual(['input']);
    expect(d.findings).toContain('chain forward was missing');
  });

  it('scoped bans only in host mode, only for container ids and plain addresses', () => {
    expect(acceptScopedTarget('198.18.0.1', X, [4], { scoped: false })).toEqual({ reason: 'container-scoped bans need host mode' });
    expect(acceptScopedTarget('198.18.0.1', 'web', [4], { scoped: true })).toEqual({ reason: 'scope "web" is not a container id' });
    expect(acceptScopedTarget('198.18.0.0/24', X, [4], { scoped: true, cidr: true })).toEqual({ reason: 'a CIDR ban cannot be scoped to a container' });
    const { ops, refused } = elementOps({
      ban: [{ ip: '198.18.0.1', family: 4, until: null, scope: X }, { ip: '198.18.0.1', family: 4, until: null }],
      unban: [{ ip: '198.18.0.2', family: 4, scope: 'nope' }],
    }, [4], NOW, { scoped: true });
    expect(ops).toEqual([
      { ip: '198.18.0.1', family: 4, kind: 'addr', scope: X, op: 'permanent' },
      { ip: '198.18.0.1', family: 4, kind: 'addr', op: 'permanent' },
    ]);
    expect(refused).toEqual([{ ip: '198.18.0.2', family: 4, scope: 'nope', reason: 'scope "nope" is not a container id' }]);
    expect(elementScript(hostNames, ops)).toBe([
      'add element inet banhammer_host c_a1a1a1a1a1a1a1a1_4 { 198.18.0.1 }',
      'delete element inet banhammer_host c_a1a1a1a1a1a1a1a1_4 { 198.18.0.1 }',
      'add element inet banhammer_host c_a1a1a1a1a1a1a1a1_4 { 198.18.0.1 }',
      'add element inet banhammer_host addr4 { 198.18.0.1 }',
      'delete element inet banhammer_host addr4 { 198.18.0.1 }',
      'add element inet banhammer_host addr4 { 198.18.0.1 }',
      '',
    ].join('\n'));
  });
});
