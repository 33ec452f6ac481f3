/**
 * CIDR bans in the iptables enforcer: hash:net sets bh-<instance>-n4 / -n6 beside the address sets,
 * a second rule in our chain, created at init, repaired by check(expected), destroyed at shutdown.
 * Pure builders first, then the enforcer against a recording runner.
 */
import { describe, expect, it } from 'vitest';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { chainRestoreText, chainRuleSpecs, createSetArgs, firewallNames, reconcileSet, setBatch } from '../../../src/enforce/iptables-args.js';
import { wantedBySet } from '../../../src/enforce/firewall-commands.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const names = firewallNames('web');
const now = 1_000_000;

describe('iptables-args: CIDR bans', () => {
  it('names the network sets like the address sets, long instances included', () => {
    expect(names.nets).toEqual({ 4: 'bh-web-n4', 6: 'bh-web-n6' });
    const long = firewallNames('c'.repeat(40));
    expect(long.nets[4]).toBe(long.sets[4].replace(/-v4$/, '-n4'));
    expect(long.nets[6].length).toBe(31);
    expect(firewallNames('b'.repeat(24)).nets[6]).toBe(`bh-${'b'.repeat(24)}-n6`);
  });

  it('creates hash:net sets with timeouts and a second pair of chain rules (TCP, UDP) for them', () => {
    expect(createSetArgs('bh-web-n4', 4, 1024, 'hash:net').join(' ')).toBe('-exist create bh-web-n4 hash:net family inet timeout 0 maxelem 1024');
    expect(chainRestoreText('BANHAMMER-web', chainRuleSpecs(names, 4, 'drop', true))).toBe(
      [
        '*filter',
        ':BANHAMMER-web - [0:0]',
        '-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP',
        '-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j DROP',
        '-A BANHAMMER-web -p tcp -m set --match-set bh-web-n4 src -j DROP',
        '-A BANHAMMER-web -p udp -m set --match-set bh-web-n4 src -j DROP',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(chainRuleSpecs(names, 6, 'reject', true).map((s) => s.join(' '))).toEqual([
      '-p tcp -m set --match-set bh-web-v6 src -j REJECT --reject-with tcp-reset',
      '-p udp -m set --match-set bh-web-v6 src -j REJECT --reject-with icmp6-port-unreachable',
      '-p tcp -m set --match-set bh-web-n6 src -j REJECT --reject-with tcp-reset',
      '-p udp -m set --match-set bh-web-n6 src -j REJECT --reject-with icmp6-port-unreachable',
    ]);
  });

  it('routes networks to the network sets (normalised), /32 and /128 to the address sets, and refuses what may never be banned', () => {
    const b = setBatch(
      {
        ban: [
          { ip: '198.18.0.7/24', family: 4, until: now + 86_400_000 },
          { ip: '2001:db8:1::/48', family: 6, until: null },
          { ip: '198.18.0.9/32', family: 4, until: null },
          { ip: '0.0.0.0/0', family: 4, until: null },
          { ip: '127.0.0.0/16', family: 4, until: null },
          { ip: '10.0.0.0/7', family: 4, until: null },
          { ip: '198.18.0.0/33', family: 4, until: null },
        ],
        unban: [{ ip: '198.18.1.0/24', family: 4 }, { ip: '0.0.0.0/0', family: 4 }],
      },
      names,
      now,
      [4, 6],
      true,
    );
    expect(b.text).toEqual({
      4: 'del bh-web-n4 198.18.1.0/24\nadd bh-web-n4 198.18.0.0/24 timeout 86400\nadd bh-web-v4 198.18.0.9 timeout 0\n',
      6: 'add bh-web-n6 2001:db8:1::/48 timeout 0\n',
    });
    expect(b.rejected.map((r) => `${r.ip}: ${r.reason}`)).toEqual([
      '0.0.0.0/0: 0.0.0.0/0 is /0: it would ban every client',
      '127.0.0.0/16: 127.0.0.0/16 covers 127.0.0.0/8 (loopback)',
      '10.0.0.0/7: 10.0.0.0/7 is wider than /8, the widest network banhammer bans for IPv4',
      '198.18.0.0/33: not a valid network (address/prefix)',
    ]);
  });

  it('without CIDR bans a network ban is refused with a clear reason and a network unban is skipped', () => {
    const b = setBatch({ ban: [{ ip: '198.18.0.0/24', family: 4, until: null }], unban: [{ ip: '198.18.1.0/24', family: 4 }] }, names, now, [4]);
    expect(b.text).toEqual({});
    expect(b.rejected).toEqual([{ ip: '198.18.0.0/24', family: 4, reason: 'a network (CIDR) ban is not supported by this enforcer' }]);
  });

  it('wantedBySet hands networks to their own set only when asked; reconcileSet compares network entries', () => {
    const expected = [
      { ip: '198.18.0.0/24', family: 4 as const, until: now + 60_000 },
      { ip: '198.18.0.5', family: 4 as const, until: null },
    ];
    const plain = wantedBySet(expected, now, () => 'bh-web-v4');
    expect([...plain.get('bh-web-v4')!.keys()]).toEqual(['198.18.0.5']);
    const both = wantedBySet(expected, now, () => 'bh-web-v4', () => 'bh-web-n4');
    expect([...both.get('bh-web-n4')!.keys()]).toEqual(['198.18.0.0/24']);
    const r = reconcileSet('bh-web-n4', 4, both.get('bh-web-n4')!, [{ ip: '198.18.9.0/24', timeout: 0 }], now);
    expect(r.lines.map((l) => l.text)).toEqual(['del bh-web-n4 198.18.9.0/24', 'add bh-web-n4 198.18.0.0/24 timeout 60']);
    expect(reconcileSet('bh-web-n4', 4, both.get('bh-web-n4')!, [{ ip: '198.18.0.0/24', timeout: 58 }], now).lines).toEqual([]);
  });
});

/** `-S INPUT` of our jumps (TCP, UDP) and `-S BANHAMMER-web` of each set's rules (TCP, UDP). */
const JUMP = '-p tcp -m multiport --dports 80,443 -j BANHAMMER-web\n-A INPUT -p udp -m multiport --dports 80,443 -j BANHAMMER-web';
const RULE4 = '-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j DROP';
const NET4 = '-A BANHAMMER-web -p tcp -m set --match-set bh-web-n4 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-n4 src -j DROP';
const headers = (counts: Record<string, number>): { stdout: string } => ({
  stdout: Object.entries(counts).map(([n, c]) => `Name: ${n}\nType: hash:ip\nHeader: family inet timeout 0\nNumber of entries: ${c}\n`).join('\n'),
});

function setup() {
  const runner = new RecordingRunner();
  const clock = new ManualClock(now);
  const enf = new IptablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80], backend: backendBinaries('nft', 'test'), families: [4], cidr: true });
  return { runner, clock, enf };
}

describe('IptablesEnforcer with CIDR bans', () => {
  it('init creates the hash:net set and fills the chain with both pairs of rules', async () => {
    const { runner, enf } = setup();
    runner.on(/-S INPUT/, { stdout: `-A INPUT ${JUMP}\n` });
    await enf.init();
    expect(runner.lines('ipset')).toEqual([
      'ipset -exist create bh-web-v4 hash:ip family inet timeout 0 maxelem 1048576',
      'ipset -exist create bh-web-n4 hash:net family inet timeout 0 maxelem 1048576',
    ]);
    expect(runner.calls.find((c) => c.line === 'iptables-nft-restore -w 2 --noflush')?.input).toBe(`*filter\n:BANHAMMER-web - [0:0]\n${RULE4}\n${NET4}\nCOMMIT\n`);
  });

  it('apply writes networks and addresses in one restore', async () => {
    const { runner, enf } = setup();
    const r = await enf.apply({ ban: [{ ip: '198.18.0.0/24', family: 4, until: now + 10_000 }, { ip: '198.18.1.1', family: 4, until: null }], unban: [] });
    expect(r.refused).toEqual([]);
    expect(runner.calls.map((c) => [c.line, c.input])).toEqual([['ipset -exist restore', 'add bh-web-n4 198.18.0.0/24 timeout 10\nadd bh-web-v4 198.18.1.1 timeout 0\n']]);
  });

  it('check re-creates a destroyed network set with its bans and refills a chain that lost the network rule', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', { stdout: `-N BANHAMMER-web\n${RULE4}\n` });
    runner.on(/-S INPUT/, { stdout: `-A INPUT ${JUMP}\n` });
    const repairs = await enf.check(() => [{ ip: '198.18.0.0/24', family: 4, until: now + 10_000 }]);
    expect(repairs).toEqual([
      'set re-created (IPv4): bh-web-n4 was missing and was re-created; its bans are re-added',
      'chain (IPv4): BANHAMMER-web had lost its rule and was refilled',
      'set (IPv4): bh-web-n4: 1 missing ban(s) re-added',
    ]);
    expect(runner.lines()).toContain('ipset -exist create bh-web-n4 hash:net family inet timeout 0 maxelem 1048576');
    expect(runner.calls.find((c) => c.line === 'ipset -exist restore')?.input).toBe('add bh-web-n4 198.18.0.0/24 timeout 10\n');
  });

  it('check finds nothing to repair when both sets and both pairs of rules are in place', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0, 'bh-web-n4': 1 }));
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', { stdout: `-N BANHAMMER-web\n${RULE4}\n${NET4}\n` });
    runner.on(/-S INPUT/, { stdout: `-A INPUT ${JUMP}\n` });
    expect(await enf.check(() => [{ ip: '198.18.0.0/24', family: 4, until: null }])).toEqual([]);
  });

  it('shutdown destroys the network set too', async () => {
    const { runner, enf } = setup();
    runner.on(/-S INPUT/, { stdout: `-A INPUT ${JUMP}\n` });
    await enf.shutdown();
    expect(runner.lines('ipset')).toEqual(['ipset destroy bh-web-v4', 'ipset destroy bh-web-n4']);
  });
});
