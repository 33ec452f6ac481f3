/**
 * CIDR bans through the whole control path: the CLI (`banhammer ban 198.18.0.0/24 --for 1d`), the
 * control socket, the daemon, the ban book and the enforcer's batch; status lists the network like an
 * address, and `unban` of the same prefix lifts it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { formatStatus } from '../../../src/control/format-status.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { MemoryStore, cleanupControlAgents, setupControlAgent } from '../../support/control-agent.js';

afterEach(cleanupControlAgents);

describe('CIDR bans over the control socket', () => {
  it('ban NETWORK --for 1d: normalised, held by the enforcer as network/prefix, in status; unban of the same prefix lifts it', async () => {
    const { cli, daemon, enforcer, clock } = await setupControlAgent();
    const r = await cli('ban', '198.18.0.7/24', '--for', '1d');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^banned 198\.18\.0\.0\/24 \(manual\) until /);
    expect(enforcer.held.get('198.18.0.0/24')).toEqual({ ip: '198.18.0.0/24', family: 4, until: clock.now() + 86_400_000 });

    expect((await cli('ban', '2001:db8:1::/48')).stdout).toBe('banned 2001:db8:1::/48 (manual) permanently\n');
    const st = daemon.status('manual');
    expect(st.rules[0]!.bannedIps).toEqual(['198.18.0.0/24', '2001:db8:1::/48']);
    expect(formatStatus(st, 'manual')).toContain('Banned IP list:\t198.18.0.0/24 2001:db8:1::/48\n');
    const json = JSON.parse((await cli('status', 'manual', '--json')).stdout);
    expect(json.rules[0].bans.map((b: { ip: string }) => b.ip)).toEqual(['198.18.0.0/24', '2001:db8:1::/48']);

    // An address inside the banned network has no ban of its own, and is still blocked (review: helper).
    expect(await cli('unban', '198.18.0.5')).toMatchObject({ code: 1, stdout: '198.18.0.5 has no ban of its own to lift, but is still blocked by 198.18.0.0/24 (manual): to lift it, banhammer unban 198.18.0.0/24\n' });
    expect(await cli('unban', '198.18.1.5')).toMatchObject({ code: 1, stdout: '198.18.1.5 was not banned\n' });
    expect(await cli('unban', '198.18.0.99/24')).toMatchObject({ code: 0, stdout: 'lifted 1 ban of 198.18.0.0/24\n' });
    expect(enforcer.held.has('198.18.0.0/24')).toBe(false);
    expect(enforcer.batches.at(-1)!.unban).toEqual([{ ip: '198.18.0.0/24', family: 4 }]);
    expect(daemon.status('manual').rules[0]!.bannedIps).toEqual(['2001:db8:1::/48']);
  });

  it('refuses /0, too wide, loopback, this host and ignoreip with one clear error, banning nothing', async () => {
    const { cli, enforcer } = await setupControlAgent();
    const cases: [string, RegExp][] = [
      ['0.0.0.0/0', /0\.0\.0\.0\/0 is \/0: it would ban every client; it is not banned/],
      ['10.0.0.0/7', /is wider than \/8/],
      ['2001:db8::/31', /is wider than \/32/],
      ['127.0.0.0/16', /covers 127\.0\.0\.0\/8 \(loopback\)/],
      ['198.18.7.0/24', /covers 198\.18\.7\.1, which is allowlisted/], // this host
      ['2001:db8:7::/48', /covers 2001:db8:7::1, which is allowlisted/], // this host
      ['198.18.96.0/20', /covers 198\.18\.99\.0\/24, which is allowlisted/], // ignoreip
      ['198.18.0.0/33', /not an IP address or network: "198\.18\.0\.0\/33"/],
    ];
    for (const [net, msg] of cases) {
      const r = await cli('ban', net);
      expect(r.code, net).not.toBe(0);
      expect(r.stderr, net).toMatch(msg);
    }
    expect(enforcer.held.size).toBe(0);
  });

  it('survives a restart: the state file keeps the network ban and the enforcer gets it back', async () => {
    const store = new MemoryStore();
    const first = await setupControlAgent({ store });
    await first.cli('ban', '198.18.0.0/24', '--for', '1d');
    await cleanupControlAgents();
    expect(store.doc!.bans.map((b) => b.ip)).toEqual(['198.18.0.0/24']);
    const second = await setupControlAgent({ store });
    expect(second.enforcer.held.get('198.18.0.0/24')).toMatchObject({ family: 4 });
    expect(second.daemon.status('manual').rules[0]!.bannedIps).toEqual(['198.18.0.0/24']);
  });

  it('an enforcer that cannot hold a network refuses the ban before it is recorded', async () => {
    const enforcer = new RecordingEnforcer();
    Object.defineProperty(enforcer, 'name', { value: 'nginx-map' });
    enforcer.cidr = false;
    const { cli, daemon } = await setupControlAgent({ enforcer });
    const r = await cli('ban', '198.18.0.0/24');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the nginx-map enforcer cannot ban a network \(198\.18\.0\.0\/24\)/);
    expect(daemon.status().rules.find((x) => x.name === 'manual')).toBeUndefined();
    expect((await cli('ban', '198.18.0.7')).code).toBe(0);
  });
});
