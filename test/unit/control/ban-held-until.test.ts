/**
 * `banhammer ban IP --for D` when another ban of the address lasts longer: the answer names the ban
 * made and also until when the firewall holds the address (a shorter manual ban does not shorten it),
 * so the CLI never says "until +1m" of an address the kernel drops for an hour (audit: helper H4).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupControlAgents, setupControlAgent } from '../../support/control-agent.js';

afterEach(cleanupControlAgents);

describe('ban answer: until when the firewall holds the address', () => {
  it('a shorter manual ban beside a longer one says the firewall holds the longer; the same or a longer one says nothing more', async () => {
    const { cli, enforcer, clock } = await setupControlAgent();
    const t0 = clock.now();
    const first = await cli('ban', '198.18.5.7', '--for', '1h', '--rule', 'forbidden');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout.split('\n').filter(Boolean)).toHaveLength(1);

    const shorter = await cli('ban', '198.18.5.7', '--for', '1m');
    expect(shorter.code).toBe(0);
    const lines = shorter.stdout.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^banned 198\.18\.5\.7 \(manual\) until /);
    expect(lines[1]).toMatch(/the firewall holds 198\.18\.5\.7 until .*another ban of it lasts longer/);
    expect(enforcer.held.get('198.18.5.7')).toMatchObject({ until: t0 + 3_600_000 });

    // A permanent ban beside it: nothing lasts longer, one line.
    const perm = await cli('ban', '198.18.5.8');
    expect(perm.stdout).toBe('banned 198.18.5.8 (manual) permanently\n');
    const after = await cli('ban', '198.18.5.8', '--for', '10m', '--rule', 'forbidden');
    expect(after.stdout).toMatch(/the firewall holds 198\.18\.5\.8 permanently: another ban of it lasts longer/);
  });
});
