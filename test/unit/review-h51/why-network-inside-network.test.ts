/**
 * `why` and `unban` of a network inside a banned network (review H51). The firewall drops all of
 * 198.19.0.0/24 while 198.19.0.0/16 is banned, and `ban 198.19.0.0/24` is refused for overlapping
 * it; but `why 198.19.0.0/24` listed no ban in force (the book's about() looked up the networks
 * holding an address only), so `banhammer unban 198.19.0.0/24` answered "198.19.0.0/24 was not
 * banned", as it would of a network nobody blocks. Now the wider network bans holding a network
 * are its bans in force, as they are an address's, and its ended history too. A real Daemon behind
 * a real control socket, driven through the CLI.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupControlAgents, setupControlAgent } from '../../support/control-agent.js';
import { intRng } from '../../support/random.js';

afterEach(cleanupControlAgents);

describe('a network inside a banned network', () => {
  it('why lists the wider ban, and unban of the inner network says it is still blocked, and by what', async () => {
    const { cli, daemon, enforcer } = await setupControlAgent();
    expect((await cli('ban', '198.19.0.0/16', '--for', '1d')).code).toBe(0);
    expect(enforcer.held.has('198.19.0.0/16')).toBe(true);
    // Every inner network of the /16, however spelled (host bits set), from /17 to /31, seeded.
    const next = intRng(51);
    for (let i = 0; i < 12; i++) {
      const prefix = 17 + next(15);
      const spelled = `198.19.${next(256)}.${next(256)}/${prefix}`;
      const why = await cli('why', spelled, '--json');
      const report = JSON.parse(why.stdout) as { ip: string; active: { ip: string }[] };
      expect(report.active.map((b) => b.ip)).toEqual(['198.19.0.0/16']);
      const un = await cli('unban', spelled);
      expect(un.code).toBe(1);
      expect(un.stdout).toBe(`${report.ip} has no ban of its own to lift, but is still blocked by 198.19.0.0/16 (manual): to lift it, banhammer unban 198.19.0.0/16\n`);
      expect(enforcer.held.has('198.19.0.0/16')).toBe(true);
    }
    // A network beside it, or one holding it, is not inside it: nothing in force is listed for it.
    for (const other of ['198.18.0.0/24', '198.16.0.0/14']) expect((await cli('unban', other)).stdout).toBe(`${other} was not banned\n`);
    // Lifted, the /16 is in the inner network's history, as in an address's.
    expect((await cli('unban', '198.19.0.0/16')).code).toBe(0);
    const after = JSON.parse((await cli('why', '198.19.4.0/24', '--json')).stdout) as { active: unknown[]; ended: { ip: string; ended: { reason: string } }[] };
    expect(after.active).toEqual([]);
    expect(after.ended.map((e) => `${e.ip} ${e.ended.reason}`)).toEqual(['198.19.0.0/16 unbanned']);
    expect(daemon.why('198.19.0.7').ended.map((e) => e.ip)).toEqual(['198.19.0.0/16']);
  });

  it('the same for IPv6: a /64 inside a banned /48', async () => {
    const { cli } = await setupControlAgent();
    expect((await cli('ban', '2001:db8:5::/48', '--for', '1h')).code).toBe(0);
    const why = JSON.parse((await cli('why', '2001:DB8:5:77::1/64', '--json')).stdout) as { ip: string; active: { ip: string }[] };
    expect(why.ip).toBe('2001:db8:5:77::/64');
    expect(why.active.map((b) => b.ip)).toEqual(['2001:db8:5::/48']);
    expect((await cli('unban', '2001:db8:5:77::/64')).stdout).toContain('is still blocked by 2001:db8:5::/48 (manual)');
  });
});
