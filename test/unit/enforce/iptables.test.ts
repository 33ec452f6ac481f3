import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { IptablesEnforcer, setsRecreated, type IptablesEnforcerOptions } from '../../../src/enforce/iptables.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const JUMP = '-p tcp -m multiport --dports 80,443 -j BANHAMMER-web';
const UJUMP = '-p udp -m multiport --dports 80,443 -j BANHAMMER-web';
/** `-S INPUT` lines of our two jumps, in their order. */
const JUMPS = `-A INPUT ${JUMP}\n-A INPUT ${UJUMP}\n`;

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
  it('creates sets, fills the chain (TCP and UDP rules) in one transaction and adds the missing jumps, TCP at the top, UDP right below', async () => {
    const { runner, enf } = setup();
    runner.on(/-C INPUT/, { code: 1, stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).' });
    runner.on(/-S INPUT/, { stdout: `-P INPUT ACCEPT\n${JUMPS}` });
    await enf.init();
    expect(runner.lines()).toEqual([
      // Which filter tables iptables-nft is about to make (filter-table-leftover.ts), before any write.
      'nft -j list table ip filter',
      'nft -j list table ip6 filter',
      'ipset -exist create bh-web-v4 hash:ip family inet timeout 0 maxelem 1048576',
      'ipset -exist create bh-web-v6 hash:ip family inet6 timeout 0 maxelem 1048576',
      'iptables-nft-restore -w 2 --noflush',
      `iptables-nft -w 2 -C INPUT ${JUMP}`,
      `iptables-nft -w 2 -I INPUT 1 ${JUMP}`,
      `iptables-nft -w 2 -C INPUT ${UJUMP}`,
      'iptables-nft -w 2 -S INPUT',
      `iptables-nft -w 2 -I INPUT 2 ${UJUMP}`,
      'iptables-nft -w 2 -S INPUT',
      'ip6tables-nft-restore -w 2 --noflush',
      `ip6tables-nft -w 2 -C INPUT ${JUMP}`,
      `ip6tables-nft -w 2 -I INPUT 1 ${JUMP}`,
      `ip6tables-nft -w 2 -C INPUT ${UJUMP}`,
      'ip6tables-nft -w 2 -S INPUT',
      `ip6tables-nft -w 2 -I INPUT 2 ${UJUMP}`,
      'ip6tables-nft -w 2 -S INPUT',
    ]);
    expect(runner.calls[4]?.input).toBe(
      '*filter\n:BANHAMMER-web - [0:0]\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j DROP\nCOMMIT\n',
    );
    expect(runner.calls[11]?.input).toBe(
      '*filter\n:BANHAMMER-web - [0:0]\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v6 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v6 src -j DROP\nCOMMIT\n',
    );
  });

  it('started over the layout of a version that closed TCP only, ends with exactly the new one: the chain refilled in one transaction, the TCP jump kept, the UDP jump right below it', async () => {
    const { runner, enf } = setup({ blockAction: 'reject' });
    // INPUT as the kernel holds it, per family: the old TCP jump on top, someone's rules below.
    const input: Record<string, string[]> = {
      'iptables-nft': [JUMP, '-i lo -j ACCEPT', '-p tcp -m tcp --dport 22 -j ACCEPT'],
      'ip6tables-nft': [JUMP, '-i lo -j ACCEPT'],
    };
    runner.on(/-S INPUT$/, (c) => ({ stdout: `-P INPUT ACCEPT\n${input[c.cmd]!.map((r) => `-A INPUT ${r}\n`).join('')}` }));
    // argv: -w 2 -C|-D INPUT <spec>, or -w 2 -I INPUT <position> <spec>
    runner.on(/-C INPUT /, (c) => ({ code: input[c.cmd]!.includes(c.args.slice(4).join(' ')) ? 0 : 1 }));
    runner.on(/-I INPUT /, (c) => {
      input[c.cmd]!.splice(Number(c.args[4]) - 1, 0, c.args.slice(5).join(' '));
      return { code: 0 };
    });
    runner.on(/-D INPUT /, (c) => {
      input[c.cmd]!.splice(input[c.cmd]!.indexOf(c.args.slice(4).join(' ')), 1);
      return { code: 0 };
    });
    await enf.init();
    expect(input).toEqual({
      'iptables-nft': [JUMP, UJUMP, '-i lo -j ACCEPT', '-p tcp -m tcp --dport 22 -j ACCEPT'],
      'ip6tables-nft': [JUMP, UJUMP, '-i lo -j ACCEPT'],
    });
    // Nothing was deleted (the TCP jump never left INPUT); the chain was refilled whole.
    expect(runner.lines().filter((l) => l.includes(' -D '))).toEqual([]);
    expect(runner.calls.filter((c) => c.cmd.endsWith('-restore')).map((c) => c.input)).toEqual([
      '*filter\n:BANHAMMER-web - [0:0]\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j REJECT --reject-with tcp-reset\n' +
        '-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n',
      '*filter\n:BANHAMMER-web - [0:0]\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v6 src -j REJECT --reject-with tcp-reset\n' +
        '-A BANHAMMER-web -p udp -m set --match-set bh-web-v6 src -j REJECT --reject-with icmp6-port-unreachable\nCOMMIT\n',
    ]);
    // The next check finds the jumps in place and in order: nothing to move.
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0, 'bh-web-v6': 0 }));
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', {
      stdout: '-N BANHAMMER-web\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j REJECT --reject-with tcp-reset\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j REJECT --reject-with icmp-port-unreachable\n',
    });
    runner.on('ip6tables-nft -w 2 -S BANHAMMER-web', {
      stdout: '-N BANHAMMER-web\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v6 src -j REJECT --reject-with tcp-reset\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v6 src -j REJECT --reject-with icmp6-port-unreachable\n',
    });
    expect(await enf.check(none)).toEqual([]);
  });

  it('reuses existing jumps and removes stale and duplicate ones', async () => {
    const { runner, enf } = setup({ families: [4], blockAction: 'reject' });
    runner.on(/-S INPUT/, {
      stdout: [
        '-P INPUT ACCEPT',
        '-A INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-web',
        `-A INPUT ${JUMP}`,
        `-A INPUT ${UJUMP}`,
        `-A INPUT ${JUMP}`,
        '-A INPUT -p udp -m multiport --dports 8080 -j BANHAMMER-web',
        '-A INPUT -p tcp -m multiport --dports 80,443 -j BANHAMMER-other',
        '-A INPUT -i lo -j ACCEPT',
        '',
      ].join('\n'),
    });
    await enf.init();
    expect(runner.lines()).toEqual([
      'nft -j list table ip filter',
      'ipset -exist create bh-web-v4 hash:ip family inet timeout 0 maxelem 1048576',
      'iptables-nft-restore -w 2 --noflush',
      `iptables-nft -w 2 -C INPUT ${JUMP}`,
      `iptables-nft -w 2 -C INPUT ${UJUMP}`,
      'iptables-nft -w 2 -S INPUT',
      'iptables-nft -w 2 -D INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-web',
      `iptables-nft -w 2 -D INPUT ${JUMP}`,
      'iptables-nft -w 2 -D INPUT -p udp -m multiport --dports 8080 -j BANHAMMER-web',
    ]);
    expect(runner.calls[2]?.input).toContain('-p tcp -m set --match-set bh-web-v4 src -j REJECT --reject-with tcp-reset\n');
    expect(runner.calls[2]?.input).toContain('-p udp -m set --match-set bh-web-v4 src -j REJECT --reject-with icmp-port-unreachable\n');
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
    expect(runner.lines()).toContain('iptables-legacy-restore -w 2 --noflush');
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

  it('applies the good addresses and returns the bad ones, refused before anything runs', async () => {
    const { runner, enf } = setup();
    const r = await enf.apply({
      ban: [{ ip: '198.18.0.1', family: 4, until: null }, { ip: '1.2.3.4; reboot', family: 4, until: null }, { ip: '0.0.0.0', family: 4, until: null }],
      unban: [],
    });
    expect(runner.calls.map((c) => c.input)).toEqual(['add bh-web-v4 198.18.0.1 timeout 0\n']);
    expect(r?.refused).toEqual([
      { ip: '1.2.3.4; reboot', family: 4, reason: 'not a valid IP address' },
      { ip: '0.0.0.0', family: 4, reason: 'an unspecified address cannot be a client' },
    ]);
  });

  it('isolates an element the kernel refuses: the rest of the batch is applied, the refused one returned', async () => {
    const { runner, enf } = setup({ families: [4] });
    // ipset stops at the line it cannot apply and names it; anything else goes through.
    runner.on('ipset -exist restore', (call) => {
      const lines = (call.input ?? '').split('\n');
      const bad = lines.findIndex((l) => l.includes('198.18.0.66'));
      return bad < 0 ? { code: 0 } : { code: 1, stderr: `ipset v7.17: Error in line ${bad + 1}: Null-valued element, cannot be stored in a hash type of set\n` };
    });
    const r = await enf.apply({
      ban: [
        { ip: '198.18.0.1', family: 4, until: null },
        { ip: '198.18.0.66', family: 4, until: null },
        { ip: '198.18.0.2', family: 4, until: null },
      ],
      unban: [{ ip: '198.18.0.9', family: 4 }],
    });
    expect(r?.refused).toEqual([{ ip: '198.18.0.66', family: 4, reason: 'refused by ipset: Null-valued element, cannot be stored in a hash type of set' }]);
    expect(runner.calls.map((c) => c.input)).toEqual([
      'del bh-web-v4 198.18.0.9\nadd bh-web-v4 198.18.0.1 timeout 0\nadd bh-web-v4 198.18.0.66 timeout 0\nadd bh-web-v4 198.18.0.2 timeout 0\n',
      'del bh-web-v4 198.18.0.9\nadd bh-web-v4 198.18.0.1 timeout 0\nadd bh-web-v4 198.18.0.2 timeout 0\n',
    ]);
    // The next batch is not held back by the refused element.
    runner.clear();
    expect(await enf.apply({ ban: [{ ip: '198.18.0.3', family: 4, until: null }], unban: [] })).toEqual({ refused: [] });
    expect(runner.calls.map((c) => c.input)).toEqual(['add bh-web-v4 198.18.0.3 timeout 0\n']);
  });

  it('rejects when nothing can be applied: no permission, a missing set, an error without a line number', async () => {
    for (const stderr of [
      'ipset v7.17: Kernel error received: Operation not permitted',
      'ipset v7.17: Error in line 1: The set with the given name does not exist',
      'ipset v7.17: something else went wrong',
    ]) {
      const { runner, enf } = setup({ families: [4] });
      runner.on('ipset -exist restore', { code: 1, stderr });
      const e = await rejection(enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }, { ip: '198.18.0.2', family: 4, until: null }], unban: [] }));
      expect(['BH_ERR_FIREWALL', 'BH_ERR_NO_NET_ADMIN']).toContain(e.code);
      expect(runner.calls).toHaveLength(1);
    }
  });

  it('does nothing for an empty batch and reports a full set', async () => {
    const { runner, enf } = setup();
    await enf.apply({ ban: [], unban: [] });
    expect(runner.calls).toEqual([]);
    runner.on('ipset -exist restore', { code: 1, stderr: 'ipset v7.17: Error in line 1: Hash is full, cannot add more elements' });
    // A full set refuses the new element (for want of room: check() tries it again), it fails nothing.
    const r = await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] });
    expect(r.refused).toEqual([expect.objectContaining({ ip: '198.18.0.1', full: true, reason: expect.stringContaining('is full (maxelem)') })]);
  });
});

const headers = (counts: Record<string, number>): { stdout: string } => ({
  stdout: Object.entries(counts).map(([n, c]) => `Name: ${n}\nType: hash:ip\nHeader: family inet timeout 0\nNumber of entries: ${c}\n`).join('\n'),
});
/** Our chain's rules as `-S` prints them (TCP, then UDP). */
const RULE4 = '-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j DROP';
const RULE6 = '-A BANHAMMER-web -p tcp -m set --match-set bh-web-v6 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v6 src -j DROP';
const chainOk = (runner: RecordingRunner): void => {
  runner.on('iptables-nft -w 2 -S BANHAMMER-web', { stdout: `-N BANHAMMER-web\n${RULE4}\n` });
  runner.on('ip6tables-nft -w 2 -S BANHAMMER-web', { stdout: `-N BANHAMMER-web\n${RULE6}\n` });
};
const none = (): never[] => [];

describe('IptablesEnforcer.check', () => {
  it('reports nothing when all is in place, without reading set members when the counts agree', async () => {
    const { runner, clock, enf } = setup();
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 1, 'bh-web-v6': 0, 'someone-else': 7 }));
    let asked = 0;
    const expected = () => {
      asked++;
      return [{ ip: '198.18.0.1', family: 4 as const, until: clock.now() + 60_000 }, { ip: '198.18.0.2', family: 4 as const, until: clock.now() - 1 }];
    };
    runner.on(/-S INPUT/, { stdout: `-P INPUT ACCEPT\n${JUMPS}-A INPUT -i lo -j ACCEPT\n` });
    expect(await enf.check(expected)).toEqual([]);
    expect(asked).toBe(1);
    expect(runner.lines()).toEqual([
      'ipset list -t',
      'iptables-nft -w 2 -S BANHAMMER-web',
      'iptables-nft -w 2 -S INPUT',
      'ip6tables-nft -w 2 -S BANHAMMER-web',
      'ip6tables-nft -w 2 -S INPUT',
    ]);
  });

  it('re-creates a missing set with its bans, refills a flushed chain and re-adds a deleted jump', async () => {
    const { runner, clock, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', { stdout: '-N BANHAMMER-web\n' });
    runner.on('ip6tables-nft -w 2 -S BANHAMMER-web', { stdout: `-N BANHAMMER-web\n${RULE6}\n` });
    runner.on('ip6tables-nft -w 2 -S INPUT', { stdout: `-P INPUT ACCEPT\n-A INPUT ${UJUMP}\n` });
    runner.on(`ip6tables-nft -w 2 -C INPUT ${JUMP}`, { code: 1 });
    const repairs = await enf.check(() => [{ ip: '2001:db8::7', family: 6, until: clock.now() + 10_000 }]);
    expect(repairs).toEqual([
      'set re-created (IPv6): bh-web-v6 was missing and was re-created; its bans are re-added',
      'chain (IPv4): BANHAMMER-web had lost its rule and was refilled',
      `jump (IPv6): INPUT ${JUMP} was missing and was re-added`,
      'set (IPv6): bh-web-v6: 1 missing ban(s) re-added',
    ]);
    expect(setsRecreated(repairs)).toEqual([6]);
    expect(runner.lines()).toEqual(expect.arrayContaining([
      'ipset -exist create bh-web-v6 hash:ip family inet6 timeout 0 maxelem 1048576',
      'iptables-nft-restore -w 2 --noflush',
      `ip6tables-nft -w 2 -I INPUT 1 ${JUMP}`,
    ]));
    expect(runner.lines().filter((l) => l.includes(UJUMP) && !l.includes(' -C '))).toEqual([]);
    expect(runner.calls.find((c) => c.line === 'ipset -exist restore')?.input).toBe('add bh-web-v6 2001:db8::7 timeout 10\n');
  });

  it('rebuilds our chain when someone inserted a rule into it', async () => {
    const { runner, enf } = setup({ families: [4] });
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', { stdout: `-N BANHAMMER-web\n-A BANHAMMER-web -j ACCEPT\n${RULE4}\n` });
    expect(await enf.check(none)).toEqual(['chain (IPv4): BANHAMMER-web held 1 rule(s) banhammer did not put there (first: "-A BANHAMMER-web -j ACCEPT") and was rebuilt']);
    const fill = runner.calls.find((c) => c.line === 'iptables-nft-restore -w 2 --noflush');
    expect(fill?.input).toBe(`*filter\n:BANHAMMER-web - [0:0]\n${RULE4}\nCOMMIT\n`);
  });

  it('accepts a listing that differs from ours only in formatting (checked once with -C, then remembered)', async () => {
    const { runner, enf } = setup({ families: [4] });
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', {
      stdout: '-N BANHAMMER-web\n-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src  -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src  -j DROP\n',
    });
    expect(await enf.check(none)).toEqual([]);
    expect(await enf.check(none)).toEqual([]);
    expect(runner.lines('iptables-nft -w 2 -C BANHAMMER-web')).toHaveLength(2);
    expect(runner.lines('iptables-nft-restore')).toEqual([]);
  });

  it('moves our jump back to the top of INPUT when a rule was inserted above it, in one transaction', async () => {
    const { runner, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S INPUT', { stdout: `-P INPUT ACCEPT\n-A INPUT -j ACCEPT\n${JUMPS}` });
    expect(await enf.check(none)).toEqual(['jump (IPv4): INPUT had 1 rule(s) above banhammer\'s jump (first: "-A INPUT -j ACCEPT"); the jump was moved back to the top']);
    const move = runner.calls.find((c) => c.line === 'iptables-nft-restore -w 2 --noflush');
    expect(move?.input).toBe(`*filter\n-D INPUT ${JUMP}\n-D INPUT ${UJUMP}\n-I INPUT 1 ${UJUMP}\n-I INPUT 1 ${JUMP}\nCOMMIT\n`);
  });

  it('leaves our jump where it is below rules that cannot let a packet through (drops, logs, another instance)', async () => {
    const { runner, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S INPUT', {
      stdout: `-A INPUT -p tcp -m multiport --dports 8081 -j BANHAMMER-other\n-A INPUT -s 198.18.9.9/32 -j DROP\n-A INPUT -j LOG\n${JUMPS}-A INPUT -j ACCEPT\n`,
    });
    expect(await enf.check(none)).toEqual([]);
    expect(runner.lines('iptables-nft-restore')).toEqual([]);
  });

  it('does not fight another program over the top of INPUT: after 3 moves in a row it says so once and leaves it', async () => {
    const { runner, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S INPUT', { stdout: `-A INPUT -p udp -j ACCEPT\n${JUMPS}` });
    const all: string[] = [];
    for (let i = 0; i < 6; i++) all.push(...(await enf.check(none)));
    expect(all).toHaveLength(4);
    expect(all[3]).toMatch(/rules keep being inserted above banhammer's jump in INPUT .*left in place after 3 moves/);
    expect(runner.lines('iptables-nft-restore')).toHaveLength(3);
    // Once it is on top again, the count starts over.
    runner.on('iptables-nft -w 2 -S INPUT', { stdout: JUMPS }, 1);
    expect(await enf.check(none)).toEqual([]);
    expect(await enf.check(none)).toHaveLength(1);
  });

  it('says when the whole chain was gone', async () => {
    const { runner, enf } = setup({ families: [4] });
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', { code: 1, stderr: 'iptables: No chain/target/match by that name.' });
    expect(await enf.check(none)).toEqual(['chain (IPv4): BANHAMMER-web was missing and was re-created']);
  });

  it('a flushed set: the count differs, the members are read and every unexpired ban is re-added', async () => {
    const { runner, clock, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    const now = clock.now();
    const repairs = await enf.check(() => [
      { ip: '198.18.0.1', family: 4, until: now + 3_600_000 },
      { ip: '198.18.0.2', family: 4, until: null },
      { ip: '198.18.0.3', family: 4, until: now - 1 },
      { ip: '0.0.0.0', family: 4, until: null },
      { ip: '2001:db8::1', family: 6, until: null },
    ]);
    expect(repairs).toEqual(['set (IPv4): bh-web-v4: 2 missing ban(s) re-added']);
    expect(runner.calls.find((c) => c.line === 'ipset -exist restore')?.input).toBe('add bh-web-v4 198.18.0.1 timeout 3600\nadd bh-web-v4 198.18.0.2 timeout 0\n');
  });

  it('a stray element: removed; a ban about to expire that the book has dropped: left alone', async () => {
    const { runner, clock, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 3 }));
    runner.on('ipset save bh-web-v4', { stdout: 'add bh-web-v4 198.18.0.1 timeout 0\nadd bh-web-v4 198.18.0.77 timeout 0\nadd bh-web-v4 198.18.0.8 timeout 1\n' });
    expect(await enf.check(() => [{ ip: '198.18.0.1', family: 4, until: null }])).toEqual(['set (IPv4): bh-web-v4: 1 entry nobody banned removed']);
    expect(runner.calls.find((c) => c.line === 'ipset -exist restore')?.input).toBe('del bh-web-v4 198.18.0.77\n');
    void clock;
  });

  it('a count that differs only because of the expiry boundary reads the members but repairs nothing', async () => {
    const { runner, clock, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 1 }));
    runner.on('ipset save bh-web-v4', { stdout: 'add bh-web-v4 198.18.0.8 timeout 1\n' });
    expect(await enf.check(() => [{ ip: '198.18.0.9', family: 4, until: clock.now() + 400 }])).toEqual([]);
    expect(runner.lines('ipset -exist restore')).toEqual([]);
  });

  it('compares the members every fullCompareEvery checks even when the counts agree', async () => {
    const { runner, enf } = setup({ families: [4], fullCompareEvery: 3 });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 1 }));
    runner.on('ipset save bh-web-v4', { stdout: 'add bh-web-v4 198.18.0.66 timeout 0\n' });
    const expected = () => [{ ip: '198.18.0.1', family: 4 as const, until: null }];
    expect(await enf.check(expected)).toEqual([]);
    expect(await enf.check(expected)).toEqual([]);
    expect(await enf.check(expected)).toEqual(['set (IPv4): bh-web-v4: 1 missing ban(s) re-added, 1 entry nobody banned removed']);
  });

  it('a caller that passes no expected() gets the structural repairs, and no ban is taken for a stray', async () => {
    const { runner, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 5 }));
    expect(await (enf.check as (e?: unknown) => Promise<string[]>)()).toEqual([]);
    expect(runner.lines('ipset save')).toEqual([]);
    expect(runner.lines('ipset -exist restore')).toEqual([]);
  });

  it('does not retry for ever an element the kernel refused: it is left out of later comparisons', async () => {
    const { runner, enf } = setup({ families: [4] });
    chainOk(runner);
    runner.on('ipset -exist restore', (call) =>
      call.input?.includes('198.18.0.66') ? { code: 1, stderr: 'ipset v7.17: Error in line 1: Some kernel refusal\n' } : { code: 0 },
    );
    const r = await enf.apply({ ban: [{ ip: '198.18.0.66', family: 4, until: null }], unban: [] });
    expect(r?.refused).toHaveLength(1);
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    runner.clear();
    expect(await enf.check(() => [{ ip: '198.18.0.66', family: 4, until: null }])).toEqual([]);
    expect(runner.lines('ipset -exist restore')).toEqual([]);
  });
});

describe('xtables lock', () => {
  const LOCKED = { code: 4, stderr: "Can't lock /run/xtables.lock: Resource temporarily unavailable\nAnother app is currently holding the xtables lock. Stopped waiting after 2s.\n" };

  it('a held lock is retried with back-off until it is released', async () => {
    const clock = new ManualClock();
    const slept: number[] = [];
    const retries: string[] = [];
    const { runner, enf } = setup({
      families: [4],
      clock,
      random: () => 0.5,
      sleep: async (ms) => {
        slept.push(ms);
        clock.advance(ms);
      },
      onRetry: (m) => retries.push(m),
    });
    runner.on('iptables-nft-restore', LOCKED, 3);
    await enf.init();
    expect(runner.lines('iptables-nft-restore')).toHaveLength(4);
    expect(slept).toEqual([250, 500, 1000]);
    expect(retries[0]).toMatch(/filling chain BANHAMMER-web \(IPv4\) failed: another program holds the xtables lock .*; retrying in 250 ms \(attempt 2\)$/);
  });

  it('a lock held past the retry budget is a lasting error naming the lock', async () => {
    const clock = new ManualClock();
    const { runner, enf } = setup({ families: [4], clock, retry: { totalMs: 5_000 }, random: () => 0.99, sleep: async (ms) => clock.advance(ms) });
    runner.on('iptables-nft-restore', LOCKED);
    const e = await rejection(enf.init());
    expect(e.code).toBe('BH_ERR_FIREWALL');
    expect(e.message).toMatch(/another program holds the xtables lock.*gave up after \d+ attempts/);
    expect(e.hint).toContain('xtables.lock');
    expect(clock.now() - Date.UTC(2026, 0, 1)).toBeLessThanOrEqual(5_000);
  });

  it('a lasting error is not retried', async () => {
    const clock = new ManualClock();
    const slept: number[] = [];
    const { runner, enf } = setup({ families: [4], clock, sleep: async (ms) => void slept.push(ms) });
    runner.on('iptables-nft-restore', { code: 4, stderr: 'iptables-restore v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)' });
    await rejection(enf.init());
    expect(slept).toEqual([]);
    expect(runner.lines('iptables-nft-restore')).toHaveLength(1);
  });
});

describe('IptablesEnforcer.shutdown', () => {
  it('removes only our jumps, chain and sets', async () => {
    const { runner, enf } = setup();
    // Our jumps of both protocols, and the TCP-only jump an older version left for other ports.
    runner.on(/-S INPUT/, {
      stdout: `-P INPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n${JUMPS}-A INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-web\n-A INPUT -p tcp -m multiport --dports 80 -j BANHAMMER-web2\n`,
    });
    runner.on('ipset destroy bh-web-v6', { code: 1, stderr: 'ipset v7.17: The set with the given name does not exist' });
    await enf.shutdown();
    expect(runner.lines()).toEqual([
      'iptables-nft -w 2 -S INPUT',
      `iptables-nft -w 2 -D INPUT ${JUMP}`,
      `iptables-nft -w 2 -D INPUT ${UJUMP}`,
      'iptables-nft -w 2 -D INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-web',
      'iptables-nft -w 2 -F BANHAMMER-web',
      'iptables-nft -w 2 -X BANHAMMER-web',
      'ip6tables-nft -w 2 -S INPUT',
      `ip6tables-nft -w 2 -D INPUT ${JUMP}`,
      `ip6tables-nft -w 2 -D INPUT ${UJUMP}`,
      'ip6tables-nft -w 2 -D INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-web',
      'ip6tables-nft -w 2 -F BANHAMMER-web',
      'ip6tables-nft -w 2 -X BANHAMMER-web',
      'ipset destroy bh-web-v4',
      'ipset destroy bh-web-v6',
    ]);
  });

  it('tries everything and then reports the first failure', async () => {
    const { runner, enf } = setup({ families: [4] });
    runner.on('ipset destroy', { code: 1, stderr: 'ipset v7.17: Set cannot be destroyed: it is in use by a kernel component' });
    runner.on('iptables-nft -w 2 -S INPUT', { code: 4, stderr: 'iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)' });
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
