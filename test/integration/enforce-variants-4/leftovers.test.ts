/**
 * Round 4 (H5): the two leftovers round 3 left open.
 * - A chain of ours renamed with `iptables -E` keeps our ipset referenced: shutdown must still leave
 *   nothing of ours (no set, no rule matching our set, no copy of our chain, no jump to it), and never
 *   touch anyone else's rules.
 * - Two agents sharing one namespace that had no filter table: the table iptables-nft makes for the
 *   first one must be gone once the last one has stopped, whichever stops last; a table that was
 *   there before either started is never removed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendBinaries, type Backend } from '../../../src/enforce/backend-mode.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { DockerUserEnforcer } from '../../../src/enforce/docker-user.js';
import { ADDR, firewallUnavailable, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from '../enforce-variants-3/h5-lab.js';

const noNetns = await netnsUnavailable();
const P1 = 8080;
const P2 = 8081;

for (const mode of ['nft', 'legacy'] as const) {
  const skip = noNetns ?? (await firewallUnavailable(`iptables-${mode}`));
  describe.skipIf(skip !== null)(`leftovers, iptables-${mode}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let lab: H5Lab;
    let backend: Backend;
    const save = async (): Promise<string> => {
      const out: string[] = [];
      for (const bin of [backend.iptablesSave, backend.ip6tablesSave]) out.push((await lab.server.run(bin, [])).stdout);
      out.push((await lab.server.run('ipset', ['save'])).stdout);
      return out.join('\n');
    };
    beforeAll(async () => {
      lab = await h5Lab([P1, P2]);
      backend = backendBinaries(mode, 'integration test');
    });
    afterAll(async () => {
      await lab?.destroy();
    });

    it('iptables: our chain renamed with `iptables -E` while running: shutdown leaves no set, no rule naming our set, no renamed copy and no jump to it; someone else’s rule stays', async () => {
      const e = new IptablesEnforcer({ runner: lab.server, instance: 'h5ren', ports: [P1], backend, cidr: true });
      const book: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: Date.now() + 600_000 }, { ip: ADDR.clientV6, family: 6, until: null }];
      await e.init();
      await e.apply({ ban: book, unban: [] });
      await lab.server.run(backend.iptables, ['-I', 'INPUT', '-s', '198.18.9.9', '-j', 'ACCEPT']);
      try {
        for (const bin of [backend.iptables, backend.ip6tables]) await lab.server.run(bin, ['-E', 'BANHAMMER-h5ren', 'renamed-by-someone']);
        // The check puts our chain and jumps back; the renamed copy still drops (harmless while we run).
        expect((await e.check(() => book)).length).toBeGreaterThan(0);
        expect(await lab.connect(ADDR.clientV4, P1)).toBe('timeout');
        await e.shutdown();
        const after = await save();
        expect(after).not.toMatch(/bh-h5ren|BANHAMMER-h5ren|renamed-by-someone/);
        expect(after).toMatch(/-A INPUT -s 198\.18\.9\.9\/32 -j ACCEPT/);
        expect(await lab.connect(ADDR.clientV4, P1)).toBe('connected');
      } finally {
        await e.shutdown().catch(() => undefined);
        for (const bin of [backend.iptables, backend.ip6tables]) {
          await lab.server.run(bin, ['-F', 'renamed-by-someone'], { okExitCodes: [0, 1, 2] }).catch(() => undefined);
        }
        await lab.server.run(backend.iptables, ['-D', 'INPUT', '-s', '198.18.9.9', '-j', 'ACCEPT'], { okExitCodes: [0, 1] }).catch(() => undefined);
      }
    });

    it('iptables: someone else’s chain using our set among its own rules is never touched; the stop says once which chain keeps the set', async () => {
      const e = new IptablesEnforcer({ runner: lab.server, instance: 'h5oth', ports: [P1], backend, families: [4] });
      await e.init();
      await lab.server.run(backend.iptables, ['-N', 'theirs']);
      await lab.server.run(backend.iptables, ['-A', 'theirs', '-m', 'set', '--match-set', 'bh-h5oth-v4', 'src', '-j', 'LOG']);
      await lab.server.run(backend.iptables, ['-A', 'theirs', '-s', '198.18.9.9', '-j', 'ACCEPT']);
      try {
        const err = await e.shutdown().then(() => null, (x: unknown) => x as { message: string; hint?: string });
        expect(err?.message).toMatch(/a rule in chain theirs still uses it/);
        const s = (await lab.server.run(backend.iptablesSave, [])).stdout;
        expect(s).toMatch(/-A theirs -m set --match-set bh-h5oth-v4 src -j LOG/);
        expect(s).toMatch(/-A theirs -s 198\.18\.9\.9\/32 -j ACCEPT/);
        expect(s).not.toMatch(/BANHAMMER-h5oth/);
      } finally {
        await lab.server.run(backend.iptables, ['-F', 'theirs'], { okExitCodes: [0, 1] }).catch(() => undefined);
        await lab.server.run(backend.iptables, ['-X', 'theirs'], { okExitCodes: [0, 1] }).catch(() => undefined);
        await lab.server.run('ipset', ['destroy', 'bh-h5oth-v4'], { okExitCodes: [0, 1] }).catch(() => undefined);
      }
    });

    it('docker-user: our chain renamed with `iptables -E`: shutdown leaves no set, no rule naming our set and no renamed copy', async () => {
      const e = new DockerUserEnforcer({ runner: lab.server, instance: 'h5dren', backend, containers: { info: () => null } } as unknown as ConstructorParameters<typeof DockerUserEnforcer>[0]);
      const book: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: Date.now() + 600_000 }];
      await e.init();
      await e.apply({ ban: book, unban: [] });
      try {
        const chain = (await save()).match(/^:(BANHAMMER\S*h5dren\S*)/m)?.[1];
        expect(chain).toBeDefined();
        for (const bin of [backend.iptables, backend.ip6tables]) await lab.server.run(bin, ['-E', chain!, 'renamed-du'], { okExitCodes: [0, 1] });
        await e.check(() => book);
        await e.shutdown();
        expect(await save()).not.toMatch(/h5dren|renamed-du/);
      } finally {
        await e.shutdown().catch(() => undefined);
      }
    });
  });
}

const skipNft = noNetns ?? (await firewallUnavailable('iptables-nft'));
describe.skipIf(skipNft !== null)('filter table made by iptables-nft for two agents', () => {
  let lab: H5Lab;
  let backend: Backend;
  const tables = async (): Promise<string> => (await lab.server.run('nft', ['list', 'tables'])).stdout;
  beforeAll(async () => {
    lab = await h5Lab([P1, P2]);
    backend = backendBinaries('nft', 'integration test');
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  for (const order of ['first-made-stops-first', 'first-made-stops-last'] as const) {
    it(`no filter table before either agent; ${order}: after both stop, no ip/ip6 filter table is left`, async () => {
      expect(await tables()).not.toMatch(/table ip6? filter/);
      const a = new IptablesEnforcer({ runner: lab.server, instance: 'h5fa', ports: [P1], backend });
      const b = new IptablesEnforcer({ runner: lab.server, instance: 'h5fb', ports: [P2], backend });
      try {
        await a.init();
        await b.init();
        await a.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: null }], unban: [] });
        await b.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: null }], unban: [] });
        if (order === 'first-made-stops-first') {
          await a.shutdown();
          expect(await lab.connect(ADDR.clientV4b, P2)).toBe('timeout');
          await b.shutdown();
        } else {
          await b.shutdown();
          expect(await lab.connect(ADDR.clientV4, P1)).toBe('timeout');
          await a.shutdown();
        }
        expect(await tables()).not.toMatch(/table ip6? filter/);
      } finally {
        await a.shutdown().catch(() => undefined);
        await b.shutdown().catch(() => undefined);
        for (const f of ['ip', 'ip6']) await lab.server.run('nft', ['delete', 'table', f, 'filter'], { okExitCodes: [0, 1] }).catch(() => undefined);
      }
    });
  }

  it('a filter table the operator made before (empty INPUT, accept) is never removed by either agent', async () => {
    await lab.server.run(backend.iptables, ['-P', 'INPUT', 'ACCEPT']);
    await lab.server.run(backend.ip6tables, ['-P', 'INPUT', 'ACCEPT']);
    expect(await tables()).toMatch(/table ip filter/);
    const a = new IptablesEnforcer({ runner: lab.server, instance: 'h5fc', ports: [P1], backend });
    const b = new IptablesEnforcer({ runner: lab.server, instance: 'h5fd', ports: [P2], backend });
    try {
      await a.init();
      await b.init();
      await a.shutdown();
      await b.shutdown();
      expect(await tables()).toMatch(/table ip filter/);
      expect(await tables()).toMatch(/table ip6 filter/);
    } finally {
      for (const f of ['ip', 'ip6']) await lab.server.run('nft', ['delete', 'table', f, 'filter'], { okExitCodes: [0, 1] }).catch(() => undefined);
    }
  });
});
