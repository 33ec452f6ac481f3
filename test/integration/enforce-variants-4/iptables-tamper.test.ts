/**
 * Round 4 (H5): the iptables-nft enforcers after `nft flush ruleset` by another tool (every table,
 * chain and jump gone; the ipsets stay): the next check() brings the chain and jumps back, the
 * banned client is dropped again, and a clean stop still leaves nothing of ours.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { ADDR, firewallUnavailable, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from '../enforce-variants-3/h5-lab.js';

const skip = (await netnsUnavailable()) ?? (await firewallUnavailable('iptables-nft'));
const P = 8080;

describe.skipIf(skip !== null)('iptables-nft after `nft flush ruleset`', () => {
  let lab: H5Lab;
  beforeAll(async () => {
    lab = await h5Lab([P]);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('the next check() restores chain and jumps; the client is dropped again; stop leaves no table, chain or set', async () => {
    const e = new IptablesEnforcer({ runner: lab.server, instance: 'h5flr', ports: [P], backend: backendBinaries('nft', 'test'), cidr: true });
    const book: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: Date.now() + 600_000 }, { ip: ADDR.clientV6, family: 6, until: null }];
    await e.init();
    try {
      await e.apply({ ban: book, unban: [] });
      await lab.server.run('nft', ['flush', 'ruleset']);
      expect(await lab.connect(ADDR.clientV4, P)).toBe('connected');
      expect((await e.check(() => book)).length).toBeGreaterThan(0);
      expect(await lab.connect(ADDR.clientV4, P)).toBe('timeout');
      expect(await lab.connect(ADDR.clientV6, P)).toBe('timeout');
      expect(await lab.connect(ADDR.clientV4b, P)).toBe('connected');
      expect(await e.check(() => book)).toEqual([]);
    } finally {
      await e.shutdown();
    }
    expect((await lab.server.run('nft', ['list', 'ruleset'])).stdout.trim()).toBe('');
    expect((await lab.server.run('ipset', ['list', '-n'])).stdout).not.toMatch(/h5flr/);
  });
});
