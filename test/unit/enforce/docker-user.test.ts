import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { DockerUserEnforcer, type DockerUserEnforcerOptions } from '../../../src/enforce/docker-user.js';
import {
  chainRestoreText,
  chainSpecs,
  containerSetName,
  dockerUserBatch,
  dockerUserNames,
  jumpsTo,
  parseForwardJumps,
} from '../../../src/enforce/docker-user-args.js';
import type { ContainerInfo } from '../../../src/docker/containers.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const X = 'ab'.repeat(32);
const Y = 'cd'.repeat(32);
const names = dockerUserNames('host');
const SX4 = containerSetName(names, X, 4);
/** `-S BANHAMMER-host` line of the first rule: replies to the containers' own connections go back to DOCKER-USER. */
const RETURN4 = '-A BANHAMMER-host -m conntrack --ctdir REPLY -j RETURN\n';
/** The host-wide TCP and UDP rules (IPv4, drop), as the versions before the RETURN wrote them after nothing. */
const HOST4 = '-A BANHAMMER-host -p tcp -m set --match-set bh-host-v4 src -j DROP\n-A BANHAMMER-host -p udp -m set --match-set bh-host-v4 src -j DROP\n';
/** `-S BANHAMMER-host` lines of the chain without containers (IPv4, drop), and of container X at 198.19.151.2. */
const CHAIN4 = `${RETURN4}${HOST4}`;
const containerRules4 = `-A BANHAMMER-host -d 198.19.151.2/32 -p tcp -m set --match-set ${SX4} src -j DROP\n-A BANHAMMER-host -d 198.19.151.2/32 -p udp -m set --match-set ${SX4} src -j DROP\n`;

describe('docker-user args', () => {
  it('names: host-wide sets as the iptables enforcer, per-container sets within ipset’s 31 characters', () => {
    expect(names.chain).toBe('BANHAMMER-host');
    expect(names.sets).toEqual({ 4: 'bh-host-v4', 6: 'bh-host-v6' });
    expect(SX4).toMatch(/^bhc-[0-9a-f]{8}-abababababababab-4$/);
    expect(SX4.length).toBeLessThanOrEqual(31);
    expect(containerSetName(dockerUserNames('other'), X, 4)).not.toBe(SX4);
    expect(() => containerSetName(names, 'web; rm -rf /', 4)).toThrow(BanhammerError);
  });

  it('chain: the RETURN for replies first, then the host-wide rules (TCP, UDP), then a pair per container address of the family', () => {
    const specs = chainSpecs(names, 4, 'drop', [
      { id: Y, v4: ['198.19.151.3'], v6: [] },
      { id: X, v4: ['198.19.151.2', '198.19.152.2'], v6: ['2001:db8:150::2'] },
    ]);
    const SY4 = containerSetName(names, Y, 4);
    expect(specs.map((s) => s.join(' '))).toEqual([
      '-m conntrack --ctdir REPLY -j RETURN',
      '-p tcp -m set --match-set bh-host-v4 src -j DROP',
      '-p udp -m set --match-set bh-host-v4 src -j DROP',
      `-d 198.19.151.2/32 -p tcp -m set --match-set ${SX4} src -j DROP`,
      `-d 198.19.151.2/32 -p udp -m set --match-set ${SX4} src -j DROP`,
      `-d 198.19.152.2/32 -p tcp -m set --match-set ${SX4} src -j DROP`,
      `-d 198.19.152.2/32 -p udp -m set --match-set ${SX4} src -j DROP`,
      `-d 198.19.151.3/32 -p tcp -m set --match-set ${SY4} src -j DROP`,
      `-d 198.19.151.3/32 -p udp -m set --match-set ${SY4} src -j DROP`,
    ]);
    const SX6 = containerSetName(names, X, 6);
    const v6 = chainSpecs(names, 6, 'reject', [{ id: X, v4: [], v6: ['2001:db8:150::2'] }]);
    expect(v6.map((s) => s.join(' '))).toEqual([
      '-m conntrack --ctdir REPLY -j RETURN',
      '-p tcp -m set --match-set bh-host-v6 src -j REJECT --reject-with tcp-reset',
      '-p udp -m set --match-set bh-host-v6 src -j REJECT --reject-with icmp6-port-unreachable',
      `-d 2001:db8:150::2/128 -p tcp -m set --match-set ${SX6} src -j REJECT --reject-with tcp-reset`,
      `-d 2001:db8:150::2/128 -p udp -m set --match-set ${SX6} src -j REJECT --reject-with icmp6-port-unreachable`,
    ]);
    expect(chainSpecs(names, 4, 'reject', [{ id: X, v4: ['198.19.151.2'], v6: [] }]).map((s) => s.join(' '))).toEqual([
      '-m conntrack --ctdir REPLY -j RETURN',
      '-p tcp -m set --match-set bh-host-v4 src -j REJECT --reject-with tcp-reset',
      '-p udp -m set --match-set bh-host-v4 src -j REJECT --reject-with icmp-port-unreachable',
      `-d 198.19.151.2/32 -p tcp -m set --match-set ${SX4} src -j REJECT --reject-with tcp-reset`,
      `-d 198.19.151.2/32 -p udp -m set --match-set ${SX4} src -j REJECT --reject-with icmp-port-unreachable`,
    ]);
    expect(chainSpecs(names, 6, 'drop', [])).toEqual([
      ['-m', 'conntrack', '--ctdir', 'REPLY', '-j', 'RETURN'],
      ['-p', 'tcp', '-m', 'set', '--match-set', 'bh-host-v6', 'src', '-j', 'DROP'],
      ['-p', 'udp', '-m', 'set', '--match-set', 'bh-host-v6', 'src', '-j', 'DROP'],
    ]);
    expect(chainRestoreText('BANHAMMER-host', v6.slice(0, 3))).toBe(
      '*filter\n:BANHAMMER-host - [0:0]\n-A BANHAMMER-host -m conntrack --ctdir REPLY -j RETURN\n-A BANHAMMER-host -p tcp -m set --match-set bh-host-v6 src -j REJECT --reject-with tcp-reset\n' +
        '-A BANHAMMER-host -p udp -m set --match-set bh-host-v6 src -j REJECT --reject-with icmp6-port-unreachable\nCOMMIT\n',
    );
  });

  it('batch: host-wide and scoped lines in one text; bad input rejected, the rest kept', () => {
    const b = dockerUserBatch(
      {
        ban: [
          { ip: '198.19.150.7', family: 4, until: 10_000 },
          { ip: '2001:DB8:150::7', family: 6, until: null, scope: X },
          { ip: 'not-an-ip', family: 4, until: null },
          { ip: '198.19.150.8', family: 4, until: null, scope: '../x' },
          { ip: '198.19.150.9', family: 4, until: 500, scope: X },
        ],
        unban: [{ ip: '198.19.150.6', family: 4, scope: X }, { ip: '198.19.150.5', family: 4, scope: Y }, { ip: '198.19.150.4', family: 4 }],
      },
      names,
      1000,
      [4, 6],
      (id) => id === X,
    );
    expect(b.text.split('\n')).toEqual([
      `del ${SX4} 198.19.150.6`,
      'del bh-host-v4 198.19.150.4',
      `del ${SX4} 198.19.150.9`,
      'add bh-host-v4 198.19.150.7 timeout 9',
      `add ${containerSetName(names, X, 6)} 2001:db8:150::7 timeout 0`,
      '',
    ]);
    expect([...b.containers]).toEqual([X]);
    expect(b.rejected.map((r) => r.ip)).toEqual(['not-an-ip', '198.19.150.8']);
    expect(b.lines.map((l) => l.entry.ip)).toEqual(['198.19.150.6', '198.19.150.4', '198.19.150.9', '198.19.150.7', '2001:DB8:150::7']);
  });

  it('reads FORWARD and DOCKER-USER listings: Docker’s jump, ours, and our jumps to remove', () => {
    const fw = ['-P FORWARD DROP', '-A FORWARD -j DOCKER-USER', '-A FORWARD -m comment --comment banhammer-host -j DOCKER-USER', '-A FORWARD -j DOCKER-FORWARD', ''].join('\n');
    expect(parseForwardJumps(fw, names)).toEqual({ others: 1, ours: [['-m', 'comment', '--comment', 'banhammer-host', '-j', 'DOCKER-USER']] });
    expect(parseForwardJumps('-A FORWARD -m comment --comment "banhammer-host" -j DOCKER-USER', names).ours).toHaveLength(1);
    expect(parseForwardJumps('-A FORWARD -m comment --comment banhammer-other -j DOCKER-USER', names)).toEqual({ others: 1, ours: [] });
    const du = '-N DOCKER-USER\n-A DOCKER-USER -j BANHAMMER-host\n-A DOCKER-USER -s 10.0.0.0/8 -j BANHAMMER-host\n-A DOCKER-USER -j RETURN\n';
    // every jump to our chain goes at shutdown (the chain cannot be deleted while referenced)
    expect(jumpsTo(du, 'DOCKER-USER', 'BANHAMMER-host')).toEqual([['-j', 'BANHAMMER-host'], ['-s', '10.0.0.0/8', '-j', 'BANHAMMER-host']]);
    expect(jumpsTo(du, 'DOCKER-USER', 'BANHAMMER-other')).toEqual([]);
  });
});

function setup(extra: Partial<DockerUserEnforcerOptions> = {}, info: Map<string, ContainerInfo> = new Map()) {
  const runner = new RecordingRunner();
  const clock = new ManualClock(1_000_000);
  const notes: string[] = [];
  const warnings: string[] = [];
  const enf = new DockerUserEnforcer({
    runner,
    clock,
    instance: 'host',
    families: [4],
    backend: backendBinaries('legacy', 'test'),
    containers: { info: (id) => info.get(id) ?? null },
    onNote: (m) => notes.push(m),
    onWarning: (m) => warnings.push(m),
    ...extra,
  });
  return { runner, clock, enf, notes, warnings, info };
}

const headers = (counts: Record<string, number>): { stdout: string } => ({
  stdout: Object.entries(counts).map(([n, c]) => `Name: ${n}\nType: hash:ip\nNumber of entries: ${c}\n`).join('\n'),
});

describe('DockerUserEnforcer with a recording runner', () => {
  it('init with Docker running: sets, chain, our jump on top of DOCKER-USER, FORWARD left to Docker', async () => {
    const { runner, enf, warnings } = setup();
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n' });
    runner.on('iptables-legacy -w 2 -C DOCKER-USER', { code: 1 });
    runner.on('ipset list -n', { stdout: `bh-host-v4\n${SX4}\nbh-unrelated\n` });
    await enf.init();
    expect(runner.lines()).toEqual([
      'ipset -exist create bh-host-v4 hash:ip family inet timeout 0 maxelem 1048576',
      'iptables-legacy-restore -w 2 --noflush',
      'ipset list -n',
      `ipset destroy ${SX4}`,
      'iptables-legacy -w 2 -S DOCKER-USER',
      'iptables-legacy -w 2 -S FORWARD',
      'iptables-legacy -w 2 -C DOCKER-USER -j BANHAMMER-host',
      'iptables-legacy -w 2 -I DOCKER-USER 1 -j BANHAMMER-host',
    ]);
    expect(warnings).toEqual([]);
  });

  it('init without Docker: creates DOCKER-USER and a marked FORWARD jump, and says so', async () => {
    const { runner, enf, warnings } = setup();
    runner.on('iptables-legacy -w 2 -S DOCKER-USER', { code: 1, stderr: 'iptables: No chain/target/match by that name.' });
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-P FORWARD ACCEPT\n' });
    await enf.init();
    expect(runner.lines('iptables-legacy -w 2 -N')).toEqual(['iptables-legacy -w 2 -N DOCKER-USER']);
    expect(runner.lines('iptables-legacy -w 2 -I')).toEqual(['iptables-legacy -w 2 -I FORWARD 1 -m comment --comment banhammer-host -j DOCKER-USER']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/DOCKER-USER did not exist .*Docker is not running/);
  });

  it('a scoped ban creates the container’s sets and rules first, then one ipset restore for the batch', async () => {
    const { runner, enf, notes } = setup({}, new Map([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]));
    await enf.apply({ ban: [{ ip: '198.19.150.7', family: 4, until: 1_060_000, scope: X }, { ip: '198.19.150.8', family: 4, until: null }], unban: [] });
    expect(runner.lines()).toEqual([
      `ipset -exist create ${SX4} hash:ip family inet timeout 0 maxelem 1048576`,
      'iptables-legacy-restore -w 2 --noflush',
      'ipset -exist restore',
    ]);
    expect(runner.calls[1]!.input).toContain(
      `-A BANHAMMER-host -d 198.19.151.2/32 -p tcp -m set --match-set ${SX4} src -j DROP\n-A BANHAMMER-host -d 198.19.151.2/32 -p udp -m set --match-set ${SX4} src -j DROP\n`,
    );
    expect(runner.calls[2]!.input).toBe(`add ${SX4} 198.19.150.7 timeout 60\nadd bh-host-v4 198.19.150.8 timeout 0\n`);
    runner.clear();
    await enf.apply({ ban: [{ ip: '198.19.150.9', family: 4, until: null, scope: X }], unban: [] });
    expect(runner.lines()).toEqual(['ipset -exist restore']);
    expect(notes).toEqual([]);
  });

  it('check() rewrites the chain when a banned container’s address changed, and reports it as a note', async () => {
    const { runner, enf, notes, info } = setup({}, new Map([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]));
    runner.on('ipset list -t', headers({ 'bh-host-v4': 0, [SX4]: 1 }));
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-A FORWARD -j DOCKER-USER\n' });
    runner.on('iptables-legacy -w 2 -S BANHAMMER-host', { stdout: `-N BANHAMMER-host\n${CHAIN4}${containerRules4}` });
    await enf.apply({ ban: [{ ip: '198.19.150.7', family: 4, until: null, scope: X }], unban: [] });
    const expected = () => [{ ip: '198.19.150.7', family: 4 as const, until: null, scope: X }];
    expect(await enf.check(expected)).toEqual([]);
    info.set(X, { id: X, name: 'web-x', v4: ['198.19.151.5'], v6: [] });
    runner.clear();
    expect(await enf.check(expected)).toEqual([]);
    const restore = runner.calls.find((c) => c.cmd === 'iptables-legacy-restore');
    expect(restore?.input).toContain('-d 198.19.151.5/32');
    expect(restore?.input).not.toContain('198.19.151.2');
    expect(notes.at(-1)).toBe(`container web-x (${X.slice(0, 12)}) addresses changed from 198.19.151.2 to 198.19.151.5; its bans now apply to the new addresses`);
  });

  it('a scoped ban of a family the container has no address of is held, and said once per container and family', async () => {
    const { enf, notes, info } = setup({ families: [4, 6] }, new Map([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]));
    await enf.apply({ ban: [{ ip: '2001:db8:150::7', family: 6, until: null, scope: X }, { ip: '198.19.150.7', family: 4, until: null, scope: X }], unban: [] });
    await enf.apply({ ban: [{ ip: '2001:db8:150::8', family: 6, until: null, scope: X }], unban: [] });
    expect(notes).toEqual([`container web-x (${X.slice(0, 12)}) has no IPv6 address: its IPv6 bans (first 2001:db8:150::7) are held and take effect once Docker gives it one`]);
    // Once its addresses change the question is open again: an IPv6 address ends the gap ...
    info.set(X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: ['2001:db8:151::2'] });
    await enf.check(() => []);
    notes.length = 0;
    await enf.apply({ ban: [{ ip: '2001:db8:150::9', family: 6, until: null, scope: X }], unban: [] });
    expect(notes).toEqual([]);
    // ... and losing it again is reported again.
    info.set(X, { id: X, name: 'web-x', v4: ['198.19.151.3'], v6: [] });
    await enf.check(() => []);
    notes.length = 0;
    await enf.apply({ ban: [{ ip: '2001:db8:150::a', family: 6, until: null, scope: X }], unban: [] });
    expect(notes).toEqual([`container web-x (${X.slice(0, 12)}) has no IPv6 address: its IPv6 bans (first 2001:db8:150::a) are held and take effect once Docker gives it one`]);
  });

  it('check() reports a missing set, a lost chain rule and a missing jump; a missing NET_ADMIN is a clear error', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-unrelated': 3 }));
    runner.on('iptables-legacy -w 2 -S BANHAMMER-host', { stdout: '-N BANHAMMER-host\n' });
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-A FORWARD -j DOCKER-USER\n' });
    runner.on(/-C DOCKER-USER/, { code: 1 });
    expect(await enf.check(() => [{ ip: '198.19.150.7', family: 4, until: null }])).toEqual([
      'set re-created (IPv4): bh-host-v4 was missing and was re-created; its bans are re-added',
      'chain (IPv4): BANHAMMER-host had lost rules and was refilled',
      'jump (IPv4): DOCKER-USER -j BANHAMMER-host was missing and was re-added',
      'set (IPv4): bh-host-v4: 1 missing ban(s) re-added',
    ]);
    expect(runner.calls.find((c) => c.line === 'ipset -exist restore')?.input).toBe('add bh-host-v4 198.19.150.7 timeout 0\n');
    const denied = setup();
    denied.runner.on('ipset', { code: 1, stderr: 'ipset v7.17: Kernel error received: Operation not permitted' });
    await expect(denied.enf.init()).rejects.toMatchObject({ code: 'BH_ERR_NO_NET_ADMIN' });
  });

  it('check() removes a rule someone inserted into our chain, and reconciles host-wide and container sets with the ban book', async () => {
    const { runner, enf } = setup({}, new Map([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]));
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-A FORWARD -j DOCKER-USER\n' });
    runner.on('ipset list -t', headers({ 'bh-host-v4': 2, [SX4]: 0 }));
    runner.on('ipset save bh-host-v4', { stdout: 'add bh-host-v4 198.19.150.8 timeout 0\nadd bh-host-v4 198.19.150.99 timeout 0\n' });
    runner.on('iptables-legacy -w 2 -S BANHAMMER-host', {
      stdout: `-N BANHAMMER-host\n-A BANHAMMER-host -j ACCEPT\n${CHAIN4}${containerRules4}`,
    });
    // The container was banned before (e.g. by an earlier run): check() brings its sets and rules back.
    const repairs = await enf.check(() => [
      { ip: '198.19.150.8', family: 4, until: null },
      { ip: '198.19.150.7', family: 4, until: null, scope: X },
    ]);
    expect(repairs).toEqual([
      `container ${X.slice(0, 12)}: its sets and chain rules were missing and were added`,
      'chain (IPv4): BANHAMMER-host held 1 rule(s) banhammer did not put there (first: "-A BANHAMMER-host -j ACCEPT") and was rebuilt',
      'set (IPv4): bh-host-v4: 1 entry nobody banned removed',
      `set (IPv4): ${SX4}: 1 missing ban(s) re-added`,
    ]);
    expect(runner.calls.filter((c) => c.line === 'ipset -exist restore').map((c) => c.input)).toEqual(['del bh-host-v4 198.19.150.99\n', `add ${SX4} 198.19.150.7 timeout 0\n`]);
    const fills = runner.calls.filter((c) => c.cmd === 'iptables-legacy-restore').map((c) => c.input ?? '');
    expect(fills.at(-1)).not.toContain('ACCEPT');
  });

  it('check() moves our jump back to the top of DOCKER-USER when a rule was inserted above it', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-host-v4': 0 }));
    runner.on('iptables-legacy -w 2 -S BANHAMMER-host', { stdout: `-N BANHAMMER-host\n${CHAIN4}` });
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-A FORWARD -j DOCKER-USER\n' });
    runner.on('iptables-legacy -w 2 -S DOCKER-USER', { stdout: '-N DOCKER-USER\n-A DOCKER-USER -s 198.19.0.0/16 -j ACCEPT\n-A DOCKER-USER -j BANHAMMER-host\n-A DOCKER-USER -j RETURN\n' });
    expect(await enf.check(() => [])).toEqual([
      'jump (IPv4): DOCKER-USER had 1 rule(s) above banhammer\'s jump (first: "-A DOCKER-USER -s 198.19.0.0/16 -j ACCEPT"); the jump was moved back to the top',
    ]);
    expect(runner.calls.find((c) => c.cmd === 'iptables-legacy-restore')?.input).toBe('*filter\n-D DOCKER-USER -j BANHAMMER-host\n-I DOCKER-USER 1 -j BANHAMMER-host\nCOMMIT\n');
  });

  it('init and check() replace the chain of an older version (TCP only; TCP and UDP without the RETURN for replies) whole, in one transaction', async () => {
    const { runner, enf } = setup();
    const tcpOnly = '-N BANHAMMER-host\n-A BANHAMMER-host -p tcp -m set --match-set bh-host-v4 src -j DROP\n';
    let listing = tcpOnly;
    runner.on('iptables-legacy -w 2 -S BANHAMMER-host', () => ({ stdout: listing }));
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-A FORWARD -j DOCKER-USER\n' });
    runner.on('iptables-legacy -w 2 -S DOCKER-USER', { stdout: '-N DOCKER-USER\n-A DOCKER-USER -j BANHAMMER-host\n-A DOCKER-USER -j RETURN\n' });
    runner.on('ipset list -t', headers({ 'bh-host-v4': 0 }));
    await enf.init();
    const fill = `*filter\n:BANHAMMER-host - [0:0]\n${CHAIN4}COMMIT\n`;
    expect(runner.calls.filter((c) => c.cmd === 'iptables-legacy-restore').map((c) => c.input)).toEqual([fill]);
    // The jump from DOCKER-USER has no protocol: it stays as it is.
    expect(runner.lines().filter((l) => / -[ID] DOCKER-USER /.test(l))).toEqual([]);
    // Had another process put an old chain back meanwhile, the next check() rebuilds it too: TCP only,
    // or the TCP and UDP rules of the version before the RETURN (which dropped replies to the containers' own connections).
    for (const old of [tcpOnly, `-N BANHAMMER-host\n${HOST4}`]) {
      listing = old;
      runner.clear();
      expect(await enf.check(() => [])).toEqual(['chain (IPv4): BANHAMMER-host had lost rules and was refilled']);
      expect(runner.calls.filter((c) => c.cmd === 'iptables-legacy-restore').map((c) => c.input)).toEqual([fill]);
    }
    // The chain as iptables prints it after that fill is exactly what check() expects: nothing to repair, no -C needed.
    listing = `-N BANHAMMER-host\n${CHAIN4}`;
    runner.clear();
    expect(await enf.check(() => [])).toEqual([]);
    expect(runner.lines().filter((l) => l.includes('-C BANHAMMER-host') || l.includes('restore -w'))).toEqual([]);
  });

  it('init fails with a clear error when the conntrack match is missing, never running without the RETURN for replies', async () => {
    const { runner, enf } = setup();
    runner.on('iptables-legacy-restore', {
      code: 2,
      stderr: "iptables-restore v1.8.9 (legacy): Couldn't load match `conntrack':No such file or directory\n\nError occurred at line: 3\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n",
    });
    const e = await enf.init().then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'BH_ERR_FIREWALL', hint: expect.stringContaining('modprobe xt_conntrack') });
    expect((e as Error).message).toMatch(/^filling chain BANHAMMER-host \(IPv4\) failed: the conntrack match is not available/);
    // Nothing was hooked into DOCKER-USER or FORWARD.
    expect(runner.lines().filter((l) => / -[IA] (DOCKER-USER|FORWARD) /.test(l))).toEqual([]);
  });

  it('apply isolates an element the kernel refuses, host-wide or scoped, and applies the rest', async () => {
    const { runner, enf } = setup({}, new Map([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]));
    runner.on('ipset -exist restore', (call) => {
      const bad = (call.input ?? '').split('\n').findIndex((l) => l.includes('198.19.150.66'));
      return bad < 0 ? { code: 0 } : { code: 1, stderr: `ipset v7.17: Error in line ${bad + 1}: Null-valued element, cannot be stored in a hash type of set` };
    });
    const r = await enf.apply({
      ban: [
        { ip: '198.19.150.66', family: 4, until: null, scope: X },
        { ip: '198.19.150.7', family: 4, until: null, scope: X },
        { ip: '198.19.150.8', family: 4, until: null },
        { ip: '0.0.0.0', family: 4, until: null, scope: X },
      ],
      unban: [],
    });
    expect(r?.refused).toEqual([
      { ip: '0.0.0.0', family: 4, scope: X, reason: 'an unspecified address cannot be a client' },
      { ip: '198.19.150.66', family: 4, scope: X, reason: 'refused by ipset: Null-valued element, cannot be stored in a hash type of set' },
    ]);
    expect(runner.calls.filter((c) => c.line === 'ipset -exist restore').at(-1)?.input).toBe(`add ${SX4} 198.19.150.7 timeout 0\nadd bh-host-v4 198.19.150.8 timeout 0\n`);
  });

  it('shutdown removes our jumps, chain and sets, and keeps a DOCKER-USER it did not create', async () => {
    const { runner, enf } = setup();
    runner.on('iptables-legacy -w 2 -S DOCKER-USER', { stdout: '-N DOCKER-USER\n-A DOCKER-USER -j BANHAMMER-host\n-A DOCKER-USER -j RETURN\n' });
    runner.on('iptables-legacy -w 2 -S FORWARD', { stdout: '-A FORWARD -j DOCKER-USER\n-A FORWARD -m comment --comment banhammer-host -j DOCKER-USER\n' });
    runner.on('ipset list -n', { stdout: `bh-host-v4\n${SX4}\nbh-unrelated\n` });
    await enf.shutdown();
    expect(runner.lines()).toEqual([
      'iptables-legacy -w 2 -S DOCKER-USER',
      'iptables-legacy -w 2 -D DOCKER-USER -j BANHAMMER-host',
      'iptables-legacy -w 2 -S FORWARD',
      'iptables-legacy -w 2 -D FORWARD -m comment --comment banhammer-host -j DOCKER-USER',
      'iptables-legacy -w 2 -F BANHAMMER-host',
      'iptables-legacy -w 2 -X BANHAMMER-host',
      'ipset list -n',
      'ipset destroy bh-host-v4',
      `ipset destroy ${SX4}`,
    ]);
  });
});
