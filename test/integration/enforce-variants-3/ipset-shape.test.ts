/**
 * Round 3 (H5): our ipset re-created by someone else with another shape. The iptables enforcer (and
 * docker-user, which shares FirewallCommands) only asked whether a set of our name existed, so a set
 * destroyed and re-created without timeout support, with another family, as list:set or with a tiny
 * maxelem was taken as ours: every ban was then refused element by element (and remembered as
 * refused, never retried), or the chain could not be refilled at all, and the client was never
 * dropped again. A restart over such a set failed (`ipset -exist create` refuses a set of our name
 * with other parameters). README: "a deleted chain, jump or set is re-created with every unexpired
 * ban"; issue 3: "a periodic check re-creates a chain, jump or set that someone flushed".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendBinaries, type Backend } from '../../../src/enforce/backend-mode.js';
import type { ContainerAddresses } from '../../../src/enforce/docker-user.js';
import { DockerUserEnforcer } from '../../../src/enforce/docker-user.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { ADDR, firewallUnavailable, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from './h5-lab.js';

const PORT = 8080;
const noNetns = await netnsUnavailable();

/** Hostile shapes for a set of family `f` (what someone re-creates under our name). */
const shapes = (f: 4 | 6): [string, string[]][] => {
  const fam = f === 4 ? 'inet' : 'inet6';
  const other = f === 4 ? 'inet6' : 'inet';
  return [
    ['no timeout support', ['hash:ip', 'family', fam, 'maxelem', '1048576']],
    [`the other family (${other})`, ['hash:ip', 'family', other, 'timeout', '0', 'maxelem', '1048576']],
    ['list:set', ['list:set']],
    ['maxelem 1', ['hash:ip', 'family', fam, 'timeout', '0', 'maxelem', '1']],
  ];
};

for (const mode of ['legacy', 'nft'] as const) {
  const skip = noNetns ?? (await firewallUnavailable(`iptables-${mode}`));
  describe.skipIf(skip !== null)(`ipset re-created with another shape, iptables-${mode}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let lab: H5Lab;
    let backend: Backend;
    let n = 0;
    const ipset = (args: string[]) => lab.server.run('ipset', args, { okExitCodes: [0, 1] });
    const header = async (set: string) => (await ipset(['list', '-t', set])).stdout;

    beforeAll(async () => {
      lab = await h5Lab([PORT]);
      backend = backendBinaries(mode, 'integration test');
    });
    afterAll(async () => {
      await lab?.destroy();
    });

    for (const f of [4, 6] as const) {
      const banned = f === 4 ? ADDR.clientV4 : ADDR.clientV6;
      const fresh = f === 4 ? ADDR.clientV4b : ADDR.clientV6b;
      it.each(shapes(f))(`IPv${f} set re-created with %s: check() replaces it, the banned client is dropped again, and a new ban is not refused`, async (_, params) => {
        const instance = `h5s${mode[0]}${f}${n++}`;
        const enf = new IptablesEnforcer({ runner: lab.server, instance, ports: [PORT], backend, retry: { totalMs: 0 } });
        const book: EnforcerBan[] = [{ ip: banned, family: f, until: Date.now() + 600_000 }, { ip: f === 4 ? '198.18.7.7' : '2001:db8:7::7', family: f, until: null }];
        try {
          await enf.init();
          await enf.apply({ ban: book, unban: [] });
          expect(await lab.connect(banned, PORT)).toBe('timeout');
          const set = enf.names.sets[f];
          const bin = f === 4 ? backend.iptables : backend.ip6tables;
          // The hostile edit: our chain emptied (the set is in use otherwise), the set destroyed and re-created.
          await lab.server.run(bin, ['-w', '-F', enf.names.chain]);
          await lab.server.run('ipset', ['destroy', set]);
          await lab.server.run('ipset', ['create', set, ...params]);
          const reports: string[] = [];
          for (let i = 0; i < 3; i++) {
            try {
              reports.push(...(await enf.check(() => book)));
            } catch (e) {
              reports.push(`threw: ${String(e)}`);
            }
          }
          const h = await header(set);
          expect(h, reports.join('\n')).toMatch(/Type: hash:ip/);
          expect(h).toMatch(new RegExp(`family ${f === 4 ? 'inet' : 'inet6'} .*timeout`));
          expect(h).toMatch(/maxelem 1048576/);
          expect((await enf.listSet(f)).map((e) => e.ip).sort()).toEqual(book.map((b) => b.ip).sort());
          expect(await lab.connect(banned, PORT), reports.join('\n')).toBe('timeout');
          // A ban made now lands (not refused as one element's fault).
          const later: EnforcerBan = { ip: fresh, family: f, until: Date.now() + 600_000 };
          book.push(later);
          expect((await enf.apply({ ban: [later], unban: [] })).refused).toEqual([]);
          expect(await lab.connect(fresh, PORT)).toBe('timeout');
        } finally {
          await enf.shutdown().catch(() => undefined);
        }
        expect((await ipset(['list', '-n'])).stdout).not.toContain(`bh-${instance}`);
      });
    }

    it('a restart over a set of our name without timeout support (left by a crash, then edited) starts, and its bans are enforced', async () => {
      const instance = `h5r${mode[0]}`;
      const first = new IptablesEnforcer({ runner: lab.server, instance, ports: [PORT], backend, retry: { totalMs: 0 } });
      const second = new IptablesEnforcer({ runner: lab.server, instance, ports: [PORT], backend, retry: { totalMs: 0 } });
      try {
        await first.init();
        // The agent crashed (no shutdown); someone emptied the chain and re-created the set without timeouts.
        await lab.server.run(backend.iptables, ['-w', '-F', first.names.chain]);
        await lab.server.run('ipset', ['destroy', first.names.sets[4]]);
        await lab.server.run('ipset', ['create', first.names.sets[4], 'hash:ip', 'family', 'inet']);
        await second.init();
        expect((await second.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: Date.now() + 600_000 }], unban: [] })).refused).toEqual([]);
        expect(await lab.connect(ADDR.clientV4, PORT)).toBe('timeout');
        expect(await header(first.names.sets[4])).toMatch(/family inet .*timeout/);
      } finally {
        await second.shutdown().catch(() => undefined);
        await first.shutdown().catch(() => undefined);
      }
    });

    it('docker-user: the host-wide IPv4 set re-created without timeout support is replaced by check(), its bans back', async () => {
      const none: ContainerAddresses = { info: () => null };
      const enf = new DockerUserEnforcer({ runner: lab.server, instance: `h5d${mode[0]}`, containers: none, backend, retry: { totalMs: 0 } });
      const book: EnforcerBan[] = [{ ip: '198.18.9.9', family: 4, until: Date.now() + 600_000 }];
      try {
        await enf.init();
        await enf.apply({ ban: book, unban: [] });
        const set = enf.names.sets[4];
        await lab.server.run(backend.iptables, ['-w', '-F', enf.names.chain]);
        await lab.server.run('ipset', ['destroy', set]);
        await lab.server.run('ipset', ['create', set, 'hash:ip', 'family', 'inet']);
        const reports: string[] = [];
        for (let i = 0; i < 3; i++) reports.push(...(await enf.check(() => book).catch((e: unknown) => [`threw: ${String(e)}`])));
        expect(await header(set), reports.join('\n')).toMatch(/family inet .*timeout/);
        expect((await enf.listSet(4)).map((e) => e.ip)).toEqual(['198.18.9.9']);
        const later: EnforcerBan = { ip: '198.18.9.10', family: 4, until: Date.now() + 600_000 };
        book.push(later);
        expect((await enf.apply({ ban: [later], unban: [] })).refused).toEqual([]);
      } finally {
        await enf.shutdown().catch(() => undefined);
      }
    });
  });
}
