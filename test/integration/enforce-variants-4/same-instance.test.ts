/**
 * Round 4 (H5): two agents with one instance name in one network namespace (two host-network
 * containers left at the default instance, the host's hostname). Without a claim, the second one's
 * start rewrote the shared chain for its own ports (the first one's banned client got through) and
 * each check removed the other's bans. A kernel enforcer started with claimInstance (as the agent
 * runs it) now refuses to start when its instance name is taken in its network namespace, and the
 * refused one never tears down the other's objects (the claim itself: test/unit/enforce-variants-4/instance-claim.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { ADDR, firewallUnavailable, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from '../enforce-variants-3/h5-lab.js';

const skip = await netnsUnavailable();
const P1 = 8080;
const P2 = 8081;
const unique = (p: string) => `${p}${randomBytes(3).toString('hex')}`;

describe.skipIf(skip !== null)('one instance name, two agents in one namespace', () => {
  let lab: H5Lab;
  beforeAll(async () => {
    lab = await h5Lab([P1, P2]);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('nftables: the second agent with the same instance is refused at start with a clear error; its stop leaves the first one’s table; the first keeps dropping its client', async () => {
    const instance = unique('h5same');
    const a = new NftablesEnforcer({ runner: lab.server, instance, ports: [P1], claimInstance: true });
    const b = new NftablesEnforcer({ runner: lab.server, instance, ports: [P2], claimInstance: true });
    const ab: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: null }];
    await a.init();
    try {
      await a.apply({ ban: ab, unban: [] });
      await expect(b.init()).rejects.toThrow(/another banhammer agent with instance name .* already runs in this network namespace/);
      await b.shutdown();
      expect(await lab.connect(ADDR.clientV4, P1)).toBe('timeout');
      expect(await a.check(() => ab)).toEqual([]);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
    // Once the first has stopped, the name is free.
    await b.init();
    await b.shutdown();
  });

  it.skipIf(skip !== null)('iptables: the same', async () => {
    const fw = await firewallUnavailable('iptables-nft');
    if (fw !== null) return;
    const backend = backendBinaries('nft', 'integration test');
    const instance = unique('h5sam');
    const a = new IptablesEnforcer({ runner: lab.server, instance, ports: [P1], backend, claimInstance: true });
    const b = new IptablesEnforcer({ runner: lab.server, instance, ports: [P2], backend, claimInstance: true });
    await a.init();
    try {
      await a.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: null }], unban: [] });
      await expect(b.init()).rejects.toMatchObject({ code: 'BH_ERR_CONFIG', hint: expect.stringMatching(/BANHAMMER_INSTANCE/) });
      await b.shutdown();
      expect(await lab.connect(ADDR.clientV4, P1)).toBe('timeout');
    } finally {
      await a.shutdown();
    }
    // Once the first has stopped, the name is free.
    await b.init();
    await b.shutdown();
  });
});
