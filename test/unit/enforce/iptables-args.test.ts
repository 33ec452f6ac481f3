import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import {
  CHAIN_NAME_MAX,
  MAX_IPSET_TIMEOUT_S,
  SET_NAME_MAX,
  banTimeoutSeconds,
  blockSpec,
  blockSpecs,
  chainRestoreText,
  chainRuleSpecs,
  checkRuleArgs,
  createSetArgs,
  firewallNames,
  insertRuleArgs,
  jumpSpecs,
  parseSetSave,
  setBatch,
  setRestoreArgs,
  validatePorts,
  describeSetRepair,
  parseSetHeaders,
  reconcileSet,
  wantedCount,
  type WantedEntry,
} from '../../../src/enforce/iptables-args.js';

const now = Date.UTC(2026, 0, 1);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BanhammerError);
    return (e as BanhammerError).code;
  }
  return 'no error';
}

describe('firewallNames', () => {
  it('uses the instance verbatim when it fits', () => {
    expect(firewallNames('web')).toEqual({ instance: 'web', chain: 'BANHAMMER-web', sets: { 4: 'bh-web-v4', 6: 'bh-web-v6' }, nets: { 4: 'bh-web-n4', 6: 'bh-web-n6' } });
    const n = firewallNames('a'.repeat(17));
    expect(n.chain).toBe(`BANHAMMER-${'a'.repeat(17)}`);
    expect(n.chain.length).toBe(27);
    expect(firewallNames('b'.repeat(24)).sets[4]).toBe(`bh-${'b'.repeat(24)}-v4`);
  });

  it('derives short stable names for long instances, within the kernel limits', () => {
    const long = 'my-very-long-application-container.example_01';
    const a = firewallNames(long);
    expect(a).toEqual(firewallNames(long));
    expect(a.chain).toMatch(/^BANHAMMER-my-very-l-[0-9a-f]{8}$/);
    expect(a.chain.length).toBe(CHAIN_NAME_MAX);
    expect(a.sets[4]).toMatch(/^bh-my-very-long-app-[0-9a-f]{8}-v4$/);
    expect(a.sets[6].length).toBe(SET_NAME_MAX);
    // Same 9/16-char prefix, different instance: different names.
    const b = firewallNames(`${long}x`);
    expect(b.chain).not.toBe(a.chain);
    expect(b.sets[4]).not.toBe(a.sets[4]);
    // 18 characters: chain hashed, sets still plain.
    const c = firewallNames('c'.repeat(18));
    expect(c.chain.length).toBe(CHAIN_NAME_MAX);
    expect(c.sets[4]).toBe(`bh-${'c'.repeat(18)}-v4`);
  });

  it('rejects instance names that are not safe identifiers', () => {
    for (const bad of ['', '-x', 'a b', 'a;b', 'ä', '.hidden', 'a\nb']) expect(codeOf(() => firewallNames(bad))).toBe('BH_ERR_CONFIG');
  });
});

describe('ports and rules', () => {
  it('validates, sorts and dedupes ports', () => {
    expect(validatePorts([443, 80, 443])).toEqual([80, 443]);
    for (const bad of [[], [0], [65536], [80.5], [Number.NaN]]) expect(codeOf(() => validatePorts(bad))).toBe('BH_ERR_CONFIG');
  });

  it('builds one multiport jump per 15 ports and protocol: every TCP jump first (as before), then the UDP ones', () => {
    expect(jumpSpecs('BANHAMMER-web', [443, 80]).map((s) => s.join(' '))).toEqual([
      '-p tcp -m multiport --dports 80,443 -j BANHAMMER-web',
      '-p udp -m multiport --dports 80,443 -j BANHAMMER-web',
    ]);
    const many = Array.from({ length: 31 }, (_, i) => 8000 + i);
    const specs = jumpSpecs('C', many);
    const groups = [many.slice(0, 15).join(','), many.slice(15, 30).join(','), '8030'];
    expect(specs.map((s) => `${s[1]} ${s[5]}`)).toEqual([...groups.map((g) => `tcp ${g}`), ...groups.map((g) => `udp ${g}`)]);
  });

  it('builds the block rule for drop and reject: TCP by default (the rule of TCP-only versions), UDP with an ICMP port unreachable', () => {
    expect(blockSpec('bh-web-v4', 'drop').join(' ')).toBe('-p tcp -m set --match-set bh-web-v4 src -j DROP');
    expect(blockSpec('bh-web-v6', 'reject').join(' ')).toBe('-p tcp -m set --match-set bh-web-v6 src -j REJECT --reject-with tcp-reset');
    expect(blockSpec('bh-web-v4', 'drop', 'udp', 4).join(' ')).toBe('-p udp -m set --match-set bh-web-v4 src -j DROP');
    expect(blockSpec('bh-web-v6', 'drop', 'udp', 6).join(' ')).toBe('-p udp -m set --match-set bh-web-v6 src -j DROP');
    expect(blockSpec('bh-web-v4', 'reject', 'udp', 4).join(' ')).toBe('-p udp -m set --match-set bh-web-v4 src -j REJECT --reject-with icmp-port-unreachable');
    expect(blockSpec('bh-web-v6', 'reject', 'udp', 6).join(' ')).toBe('-p udp -m set --match-set bh-web-v6 src -j REJECT --reject-with icmp6-port-unreachable');
    expect(blockSpec('bh-web-v6', 'reject', 'tcp', 6).join(' ')).toBe('-p tcp -m set --match-set bh-web-v6 src -j REJECT --reject-with tcp-reset');
    expect(blockSpecs('bh-web-v6', 'reject', 6).map((s) => s.join(' '))).toEqual([
      '-p tcp -m set --match-set bh-web-v6 src -j REJECT --reject-with tcp-reset',
      '-p udp -m set --match-set bh-web-v6 src -j REJECT --reject-with icmp6-port-unreachable',
    ]);
  });

  it('always waits for the xtables lock and inserts jumps at the top (or at a given position)', () => {
    expect(checkRuleArgs('INPUT', ['-j', 'X'])).toEqual(['-w', '2', '-C', 'INPUT', '-j', 'X']);
    expect(insertRuleArgs('INPUT', ['-j', 'X'])).toEqual(['-w', '2', '-I', 'INPUT', '1', '-j', 'X']);
    expect(insertRuleArgs('INPUT', ['-j', 'X'], 3)).toEqual(['-w', '2', '-I', 'INPUT', '3', '-j', 'X']);
  });

  it('builds iptables-restore text that (re)creates and fills only our chain: TCP, then UDP', () => {
    const names = firewallNames('web');
    expect(chainRestoreText('BANHAMMER-web', chainRuleSpecs(names, 4, 'drop'))).toBe(
      '*filter\n:BANHAMMER-web - [0:0]\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j DROP\nCOMMIT\n',
    );
    expect(chainRestoreText('BANHAMMER-web', chainRuleSpecs(names, 6, 'reject'))).toBe(
      [
        '*filter',
        ':BANHAMMER-web - [0:0]',
        '-A BANHAMMER-web -p tcp -m set --match-set bh-web-v6 src -j REJECT --reject-with tcp-reset',
        '-A BANHAMMER-web -p udp -m set --match-set bh-web-v6 src -j REJECT --reject-with icmp6-port-unreachable',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('creates sets whose entries carry their own timeout', () => {
    expect(createSetArgs('bh-web-v6', 6).join(' ')).toBe('-exist create bh-web-v6 hash:ip family inet6 timeout 0 maxelem 1048576');
    expect(createSetArgs('bh-web-v4', 4, 1000).join(' ')).toBe('-exist create bh-web-v4 hash:ip family inet timeout 0 maxelem 1000');
    expect(setRestoreArgs()).toEqual(['-exist', 'restore']);
  });
});

describe('ban timeouts', () => {
  it('rounds up, keeps permanent as 0, clamps, and drops expired bans', () => {
    expect(banTimeoutSeconds(null, now)).toBe(0);
    expect(banTimeoutSeconds(now + 1, now)).toBe(1);
    expect(banTimeoutSeconds(now + 3_600_000, now)).toBe(3600);
    expect(banTimeoutSeconds(now + 90 * 86_400_000, now)).toBe(MAX_IPSET_TIMEOUT_S);
    expect(banTimeoutSeconds(now, now)).toBeNull();
    expect(banTimeoutSeconds(now - 5000, now)).toBeNull();
  });
});

describe('setBatch', () => {
  const names = firewallNames('web');

  it('writes one restore text per family, deletions first, canonical addresses', () => {
    const b = setBatch(
      {
        ban: [
          { ip: '198.18.0.1', family: 4, until: now + 60_000 },
          { ip: '2001:DB8:0:0::1', family: 6, until: null },
          { ip: '::ffff:198.18.0.2', family: 6, until: now + 1500 },
        ],
        unban: [{ ip: '198.18.0.9', family: 4 }],
      },
      names,
      now,
    );
    expect(b.text[4]).toBe('del bh-web-v4 198.18.0.9\nadd bh-web-v4 198.18.0.1 timeout 60\nadd bh-web-v4 198.18.0.2 timeout 2\n');
    expect(b.text[6]).toBe('add bh-web-v6 2001:db8::1 timeout 0\n');
    expect(b).toMatchObject({ added: 3, deleted: 1, rejected: [] });
  });

  it('rejects bad addresses by name and keeps the rest', () => {
    const b = setBatch(
      {
        ban: [
          { ip: '198.18.0.1\nflush', family: 4, until: null },
          { ip: 'evil.example', family: 4, until: null },
          { ip: '198.18.0.3', family: 4, until: null },
          { ip: '2001:db8::5', family: 6, until: null },
        ],
        unban: [{ ip: '198.18.0.0/24', family: 4 }],
      },
      names,
      now,
      [4],
    );
    expect(b.text).toEqual({ 4: 'add bh-web-v4 198.18.0.3 timeout 0\n' });
    // Without CIDR bans, the unban of a network has nothing to remove: skipped quietly.
    expect(b.rejected).toEqual([
      { ip: '198.18.0.1\nflush', family: 4, reason: 'not a valid IP address' },
      { ip: 'evil.example', family: 4, reason: 'not a valid IP address' },
      { ip: '2001:db8::5', family: 6, reason: 'IPv6 is not enabled for this enforcer' },
    ]);
  });

  it('refuses addresses that can never be a client before they reach ipset; an unban of one removes nothing, quietly', () => {
    const b = setBatch(
      {
        ban: [
          { ip: '0.0.0.0', family: 4, until: null },
          { ip: '::', family: 6, until: null },
          { ip: '::ffff:0.0.0.0', family: 6, until: null },
          { ip: '224.0.0.1', family: 4, until: null },
          { ip: 'ff02::1', family: 6, until: null },
          { ip: '255.255.255.255', family: 4, until: null },
          { ip: '198.18.0.3', family: 4, until: null },
        ],
        unban: [{ ip: '0.0.0.0', family: 4 }],
      },
      names,
      now,
    );
    expect(b.text).toEqual({ 4: 'add bh-web-v4 198.18.0.3 timeout 0\n' });
    expect(b.rejected.map((r) => `${r.ip}: ${r.reason}`)).toEqual([
      '0.0.0.0: an unspecified address cannot be a client',
      '::: an unspecified address cannot be a client',
      '::ffff:0.0.0.0: an unspecified address cannot be a client',
      '224.0.0.1: a multicast address cannot be a client',
      'ff02::1: a multicast address cannot be a client',
      '255.255.255.255: the broadcast address cannot be a client',
    ]);
    expect(b.lines[4]?.map((l) => l.entry.ip)).toEqual(['198.18.0.3']);
  });

  it('refuses a ban whose expiry is not a number instead of writing "timeout NaN"', () => {
    const b = setBatch({ ban: [{ ip: '198.18.0.1', family: 4, until: Number.NaN }, { ip: '198.18.0.2', family: 4, until: null }], unban: [] }, names, now);
    expect(b.text).toEqual({ 4: 'add bh-web-v4 198.18.0.2 timeout 0\n' });
    expect(b.rejected).toEqual([{ ip: '198.18.0.1', family: 4, reason: 'invalid expiry NaN' }]);
  });

  it('turns an already expired ban into a deletion and leaves empty families out', () => {
    const b = setBatch({ ban: [{ ip: '198.18.0.1', family: 4, until: now - 1 }], unban: [] }, names, now);
    expect(b.text).toEqual({ 4: 'del bh-web-v4 198.18.0.1\n' });
    expect(setBatch({ ban: [], unban: [] }, names, now).text).toEqual({});
  });
});

describe('reconcileSet', () => {
  const want = (entries: [string, number | null][]): Map<string, WantedEntry> =>
    new Map(entries.map(([ip, until]) => [ip, { ip, until, entry: { ip, family: 4 as const } }]));

  it('re-adds missing bans with their remaining timeout and removes strays, deletions first', () => {
    const r = reconcileSet('s', 4, want([['198.18.0.1', now + 60_000], ['198.18.0.2', null], ['198.18.0.3', now + 90 * 86_400_000]]), [{ ip: '198.18.0.9', timeout: 0 }], now);
    expect(r.lines.map((l) => l.text)).toEqual([
      'del s 198.18.0.9',
      'add s 198.18.0.1 timeout 60',
      'add s 198.18.0.2 timeout 0',
      `add s 198.18.0.3 timeout ${MAX_IPSET_TIMEOUT_S}`,
    ]);
    expect(r).toMatchObject({ missing: 3, stray: 1, retimed: 0 });
    expect(describeSetRepair('IPv4', 's', r)).toBe('set (IPv4): s: 3 missing ban(s) re-added, 1 entry nobody banned removed');
  });

  it('leaves boundaries alone: a stray about to expire, a ban about to end, timeouts within the slack', () => {
    const r = reconcileSet(
      's',
      4,
      want([['198.18.0.1', now + 500], ['198.18.0.2', now + 100_000], ['198.18.0.3', null]]),
      [{ ip: '198.18.0.9', timeout: 2 }, { ip: '198.18.0.2', timeout: 97 }, { ip: '198.18.0.3', timeout: 0 }],
      now,
    );
    expect(r.lines).toEqual([]);
    expect(describeSetRepair('IPv4', 's', r)).toBeNull();
  });

  it('corrects a permanent ban that got a timeout, and a timeout far from the expected one', () => {
    const r = reconcileSet('s', 4, want([['198.18.0.1', null], ['198.18.0.2', now + 100_000]]), [{ ip: '198.18.0.1', timeout: 50 }, { ip: '198.18.0.2', timeout: 10 }], now);
    expect(r.lines.map((l) => l.text)).toEqual(['add s 198.18.0.1 timeout 0', 'add s 198.18.0.2 timeout 100']);
    expect(r.retimed).toBe(2);
  });

  it('a ban longer than the kernel cap: its clamped entry is left to count down, and re-added once it is gone', () => {
    const long = want([['198.18.0.1', now + 90 * 86_400_000]]);
    // Applied an hour ago with the capped timeout, which has been counting down since.
    expect(reconcileSet('s', 4, long, [{ ip: '198.18.0.1', timeout: MAX_IPSET_TIMEOUT_S - 3600 }], now).lines).toEqual([]);
    expect(reconcileSet('s', 4, long, [], now).lines.map((l) => l.text)).toEqual([`add s 198.18.0.1 timeout ${MAX_IPSET_TIMEOUT_S}`]);
  });

  it('counts only bans that have not ended, and reads set headers', () => {
    expect(wantedCount(want([['198.18.0.1', now], ['198.18.0.2', now + 1], ['198.18.0.3', null]]), now)).toBe(2);
    const headers = 'Name: a\nType: hash:ip\nNumber of entries: 3\nName: bh-web-v4\nType: hash:ip\nHeader: family inet\nNumber of entries: 0\n';
    expect([...parseSetHeaders(headers)]).toEqual([['a', 3], ['bh-web-v4', 0]]);
  });
});

describe('parseSetSave', () => {
  it('reads entries and timeouts of one set', () => {
    const text = [
      'create bh-web-v4 hash:ip family inet hashsize 1024 maxelem 1048576 timeout 0 bucketsize 12 initval 0x1',
      'add bh-web-v4 198.18.0.5 timeout 99',
      'add bh-web-v4 198.18.0.6 timeout 0',
      'add other 198.18.0.7',
      '',
    ].join('\n');
    expect(parseSetSave(text, 'bh-web-v4')).toEqual([
      { ip: '198.18.0.5', timeout: 99 },
      { ip: '198.18.0.6', timeout: 0 },
    ]);
  });
});
