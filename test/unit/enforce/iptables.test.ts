import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { IptablesEnforcer, setsRecreated, type IptablesEnforcerOptions } from '../../../src/enforce/iptables.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const JUMP = '-p tcp -m multiport --dports 80,443 -j BANHAMMER-web';

function setup(extra: Partial<IptablesEnforcerOptions> = {}) {
  const runner = new RecordingRunner();
  const clock = new ManualClock();
  const enf = new IptablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80], backend: backendBinaries('nft', 'test'), ...extra });
  return { runner, clock, enf };
}

async function rejection(p: Promise<unknown>): Promise<BanhammerError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(BanhammerError);
  return e as BanhammerError;
}

describe('IptablesEnforcer.init', () => {
  it('creates sets, fills the chain in one transaction and adds a missing jump', async () => {
    const { runner, enf } = setup();
    runner.on(/-C INPUT/, { code: 1, stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).' });
    runner.on(/-S INPUT/, { stdout: `-P INPUT ACCEPT\n-A INPUT ${JUMP}\n` });
    await enf.init();
    expect(runner.lines()).toEqual([
      'ipset -exist create bh-web-v4 hash:ip family inet timeout 0 maxelem 1048576',
      'ipset -exist create bh-web-v6 hash:ip family inet6 timeout 0 maxelem 1048576',
      'iptables-nft-restore -w --noflush',
      `iptables-nft -w -C INPUT ${JUMP}`,
      `iptables-nft -w -I INPUT 1 ${JUMP}`,
      'iptables-nft -w -S INPUT',
      'ip6tables-nft-restore -w --noflush',
      `ip6tables-nft -w -C INPUT ${JUMP}`,
      `ip6tables-nft -w -I INPUT 1 ${JUMP}`,
      'ip6tables-nft -w -S INPUT',
    ]);
    expect(runner.calls[2]?.input).toBe('*filter\n:BANHAMMER-web - [0:0]\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP\nCOMMIT\n');
    expect(runner.calls[6]?.input).toContain('--match-set bh-web-v6 src -j DROP');
  });

  it('reuses an existing jump and removes stale and duplicate ones', async () => {
    const { runner, enf } = setup({ families: [4], blockAction: 'reject' });
    runner.on(/-S INPUT/, {
      stdout: [
        '-P INPUT ACCEPT',
        '-A INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-web',
        `-A INPUT ${JUMP}`,
        `-A INPUT ${JUMP}`,
        '-A INPUT -p tcp -m multiport --dports 80,443 -j BANHAMMER-other',
        '-A INPUT -i lo -j ACCEPT',
        '',
      ].join('\n'),
    });
    await enf.init();
    expect(runner.lines()).toEqual([
      'ipset -exist create bh-web-v4 hash:ip family inet timeout 0 maxelem 1048576',
      'iptables-nft-restore -w --noflush',
      `iptables-nft -w -C INPUT ${JUMP}`,
      'iptables-nft -w -S INPUT',
      'iptables-nft -w -D INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-web',
      `iptables-nft -w -D INPUT ${JUMP}`,
    ]);
    expect(runner.calls[1]?.input).toContain('-j REJECT --reject-with tcp-reset');
  });

  it('never prunes when the listing does not show the wanted jump as built', async () => {
    const { runner, enf } = setup({ families: [4] });
    runner.on(/-S INPUT/, { stdout: '-A INPUT -p tcp -m multiport --dports 80,443 -m comment --comment x -j BANHAMMER-web\n' });
    await enf.init();
    expect(runner.lines().filter((l) => l.includes(' -D '))).toEqual([]);
  });

  it('probes the backend when none is given', async () => {
    const { runner, enf } = setup({ backend: undefined, mode: 'auto', families: [4] });
    runner.on('iptables-legacy-save', { stdout: '*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\nCOMMIT\n' });
    await enf.init();
    expect(enf.backend?.mode).toBe('legacy');
    expect(runner.lines()).toContain('iptables-legacy-restore -w --noflush');
  });

  it('fails with an actionable error without NET_ADMIN', async () => {
    const { runner, enf } = setup();
    runner.on('ipset', { code: 1, stderr: 'ipset v7.17: Kernel error received: Operation not permitted' });
    const e = await rejection(enf.init());
    expect(e.code).toBe('BH_ERR_NO_NET_ADMIN');
    expect(e.message).toContain('creating ipset bh-web-v4');
    expect(e.hint).toContain('--cap-add NET_ADMIN');
  });

  it('suggests legacy mode when iptables-nft cannot talk to the kernel', async () => {
    const { runner, enf } = setup();
    runner.on('iptables-nft-restore', { code: 1, stderr: 'iptables-nft-restore v1.8.9 (nf_tables): Could not fetch rule set generation id: Invalid argument' });
    const e = await rejection(enf.init());
    expect(e.code).toBe('BH_ERR_FIREWALL');
    expect(e.hint).toContain('BANHAMMER_IPTABLES_MODE=legacy');
  });

  it('validates its configuration up front', () => {
    expect(() => setup({ instance: 'bad name' })).toThrow(BanhammerError);
    expect(() => setup({ ports: [] })).toThrow(/at least one TCP port/);
    expect(() => setup({ families: [] })).toThrow(/families/);
  });
});

describe('IptablesEnforcer.apply', () => {
  it('feeds one ipset restore per family per batch', async () => {
    const { runner, clock, enf } = setup();
    const now = clock.now();
    await enf.apply({
      ban: [
        { ip: '198.18.0.1', family: 4, until: now + 3_600_000 },
        { ip: '198.18.0.2', family: 4, until: null },
        { ip: '2001:db8::7', family: 6, until: now + 10_000 },
      ],
      unban: [{ ip: '198.18.0.3', family: 4 }],
    });
    expect(runner.calls.map((c) => [c.line, c.input])).toEqual([
      ['ipset -exist restore', 'del bh-web-v4 198.18.0.3\nadd bh-web-v4 198.18.0.1 timeout 3600\nadd bh-web-v4 198.18.0.2 timeout 0\n'],
      ['ipset -exist restore', 'add bh-web-v6 2001:db8::7 timeout 10\n'],
    ]);
  });

  it('applies the good addresses and then reports the bad ones by name', async () => {
    const { runner, enf } = setup();
    const e = await rejection(enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }, { ip: '1.2.3.4; reboot', family: 4, until: null }], unban: [] }));
    expect(runner.calls.map((c) => c.input)).toEqual(['add bh-web-v4 198.18.0.1 timeout 0\n']);
    expect(e.code).toBe('BH_ERR_ADDRESS');
    expect(e.message).toContain('"1.2.3.4; reboot"');
  });

  it('does nothing for an empty batch and reports a full set', async () => {
    const { runner, enf } = setup();
    await enf.apply({ ban: [], unban: [] });
    expect(runner.calls).toEqual([]);
    runner.on('ipset -exist restore', { code: 1, stderr: 'ipset v7.17: Error in line 1: Hash is full, cannot add more elements' });
    const e = await rejection(enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] }));
    expect(e.hint).toContain('maxelem');
  });
});

describe('IptablesEnforcer.check', () => {
  it('reports nothing when all is in place', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -n', { stdout: 'bh-web-v4\nbh-web-v6\nsomeone-else\n' });
    expect(await enf.check()).toEqual([]);
    expect(runner.lines()).toEqual([
      'ipset list -n',
      'iptables-nft -w -C BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP',
      `iptables-nft -w -C INPUT ${JUMP}`,
      'ip6tables-nft -w -C BANHAMMER-web -p tcp -m set --match-set bh-web-v6 src -j DROP',
      `ip6tables-nft -w -C INPUT ${JUMP}`,
    ]);
  });

  it('re-creates a missing set, refills a flushed chain and re-adds a deleted jump', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -n', { stdout: 'bh-web-v4\n' });
    runner.on('iptables-nft -w -C BANHAMMER-web', { code: 1 });
    runner.on('ip6tables-nft -w -C INPUT', { code: 1 });
    const repairs = await enf.check();
    expect(repairs).toHaveLength(3);
    expect(repairs[0]).toMatch(/^set re-created \(IPv6\): bh-web-v6/);
    expect(repairs[1]).toContain('BANHAMMER-web had lost its rule and was refilled');
    expect(repairs[2]).toContain('was missing and was re-added');
    expect(setsRecreated(repairs)).toEqual([6]);
    expect(runner.lines()).toEqual(expect.arrayContaining([
      'ipset -exist create bh-web-v6 hash:ip family inet6 timeout 0 maxelem 1048576',
      'iptables-nft-restore -w --noflush',
      `ip6tables-nft -w -I INPUT 1 ${JUMP}`,
    ]));
  });

  it('says when the whole chain was gone', async () => {
    const { runner, enf } = setup({ families: [4] });
    runner.on('ipset list -n', { stdout: 'bh-web-v4\n' });
    runner.on('iptables-nft -w -C BANHAMMER-web', { code: 1, stderr: 'iptables: No chain/target/match by that name.' });
    runner.on('iptables-nft -w -S BANHAMMER-web', { code: 1 });
    expect(await enf.check()).toEqual(['chain (IPv4): BANHAMMER-web was missing and was re-created']);
  });
});

describe('IptablesEnforcer.shutdown', () => {
  it('removes only our jumps, chain and sets', async () => {
    const { runner, enf } = setup();
    runner.on(/-S INPUT/, { stdout: `-P INPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n-A INPUT ${JUMP}\n-A INPUT -p tcp -m multiport --dports 80 -j BANHAMMER-web2\n` });
    runner.on('ipset destroy bh-web-v6', { code: 1, stderr: 'ipset v7.17: The set with the given name does not exist' });
    await enf.shutdown();
    expect(runner.lines()).toEqual([
      'iptables-nft -w -S INPUT',
      `iptables-nft -w -D INPUT ${JUMP}`,
      'iptables-nft -w -F BANHAMMER-web',
      'iptables-nft -w -X BANHAMMER-web',
      'ip6tables-nft -w -S INPUT',
      `ip6tables-nft -w -D INPUT ${JUMP}`,
      'ip6tables-nft -w -F BANHAMMER-web',
      'ip6tables-nft -w -X BANHAMMER-web',
      'ipset destroy bh-web-v4',
      'ipset destroy bh-web-v6',
    ]);
  });

  it('tries everything and then reports the first failure', async () => {
    const { runner, enf } = setup({ families: [4] });
    runner.on('ipset destroy', { code: 1, stderr: 'ipset v7.17: Set cannot be destroyed: it is in use by a kernel component' });
    runner.on('iptables-nft -w -S INPUT', { code: 4, stderr: 'iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)' });
    const e = await rejection(enf.shutdown());
    expect(e.code).toBe('BH_ERR_NO_NET_ADMIN');
    expect(runner.lines()).toContain('ipset destroy bh-web-v4');
  });
});

describe('IptablesEnforcer.listSet', () => {
  it('reads the kernel set', async () => {
    const { runner, enf } = setup();
    runner.on('ipset save bh-web-v4', { stdout: 'create bh-web-v4 hash:ip family inet timeout 0\nadd bh-web-v4 198.18.0.9 timeout 41\n' });
    expect(await enf.listSet(4)).toEqual([{ ip: '198.18.0.9', timeout: 41 }]);
  });
});
