/**
 * Round 4 (H5): docker-user on a host whose Docker runs its nftables backend (no `ip filter` table,
 * no DOCKER-USER): iptables-nft makes `table ip filter` (FORWARD, DOCKER-USER) for our rules. After
 * a clean stop nothing of that may be left: the namespace ends as it began. A filter table that was
 * there before is left as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { DockerUserEnforcer } from '../../../src/enforce/docker-user.js';
import { ADDR, firewallUnavailable, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from '../enforce-variants-3/h5-lab.js';

const skip = (await netnsUnavailable()) ?? (await firewallUnavailable('iptables-nft'));

describe.skipIf(skip !== null)('docker-user leaves no filter table it made', () => {
  let lab: H5Lab;
  const tables = async (): Promise<string> => (await lab.server.run('nft', ['list', 'tables'])).stdout;
  beforeAll(async () => {
    lab = await h5Lab([8080]);
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  const mk = (instance: string) =>
    new DockerUserEnforcer({ runner: lab.server, instance, backend: backendBinaries('nft', 'test'), containers: { info: () => null } } as unknown as ConstructorParameters<typeof DockerUserEnforcer>[0]);

  it('an imitation of Docker’s nftables backend (its own table, no ip filter): init, a ban, stop: no ip or ip6 filter table is left; Docker’s table stays', async () => {
    await lab.server.run('nft', ['-f', '-'], { input: 'add table ip docker-bridges\nadd chain ip docker-bridges filter-FORWARD { type filter hook forward priority filter; policy accept; }\n' });
    try {
      expect(await tables()).not.toMatch(/table ip6? filter/);
      const e = mk('h5dul');
      await e.init();
      await e.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: null }], unban: [] });
      await e.check(() => [{ ip: ADDR.clientV4, family: 4, until: null }]);
      await e.shutdown();
      const after = await tables();
      expect(after).toMatch(/table ip docker-bridges/);
      expect(after).not.toMatch(/table ip6? filter/);
    } finally {
      for (const t of ['ip filter', 'ip6 filter', 'ip docker-bridges']) await lab.server.run('nft', ['delete', 'table', ...t.split(' ')], { okExitCodes: [0, 1] }).catch(() => undefined);
    }
  });

  it('a filter table that was there before (Docker’s iptables backend: FORWARD policy drop) is left, with its policy', async () => {
    await lab.server.run('iptables', ['-P', 'FORWARD', 'DROP']);
    try {
      const e = mk('h5dum');
      await e.init();
      await e.shutdown();
      expect(await tables()).toMatch(/table ip filter/);
      expect((await lab.server.run('iptables', ['-S', 'FORWARD'])).stdout).toMatch(/-P FORWARD DROP/);
    } finally {
      for (const t of ['ip filter', 'ip6 filter']) await lab.server.run('nft', ['delete', 'table', ...t.split(' ')], { okExitCodes: [0, 1] }).catch(() => undefined);
    }
  });
});
