/**
 * Round 3 (H5): two agents in one network namespace (two containers sharing the host network, or two
 * host-mode agents): a ban, an unban, a check, a crash and restart, or a stop of one never touches
 * the other's jumps, chain, sets or bans, and the other keeps dropping its banned client throughout.
 * Instance names chosen to look alike (`h5` and `h5-v4`, whose set `bh-h5-v4-v4` starts with the
 * first one's `bh-h5-v4`; `h5b`, a prefix of the other's chain name).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendBinaries, type Backend } from '../../../src/enforce/backend-mode.js';
import { DockerUserEnforcer } from '../../../src/enforce/docker-user.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { ADDR, firewallUnavailable, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from './h5-lab.js';

const noNetns = await netnsUnavailable();
const P1 = 8080;
const P2 = 8081;

for (const mode of ['legacy', 'nft'] as const) {
  const skip = noNetns ?? (await firewallUnavailable(`iptables-${mode}`));
  describe.skipIf(skip !== null)(`two agents in one namespace, iptables-${mode}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let lab: H5Lab;
    let backend: Backend;
    const save = async (): Promise<string> => {
      const out: string[] = [];
      for (const bin of [backend.iptablesSave, backend.ip6tablesSave]) out.push((await lab.server.run(bin, [])).stdout);
      out.push((await lab.server.run('ipset', ['save'])).stdout);
      return out.join('\n');
    };
    /** The lines of iptables-save / ipset save output that mention `word` (chain or set names), counters and timeouts left out. */
    const mentions = (text: string, word: RegExp): string[] =>
      text
        .split('\n')
        .filter((l) => word.test(l))
        .map((l) => l.replace(/\[\d+:\d+\]/, '').replace(/ timeout \d+/, ''))
        .sort();

    beforeAll(async () => {
      lab = await h5Lab([P1, P2]);
      backend = backendBinaries(mode, 'integration test');
    });
    afterAll(async () => {
      await lab?.destroy();
    });

    it('iptables: one agent’s ban, unban, check, crash + restart and stop leave the other’s rules, sets and bans exactly as they were; the other keeps dropping its client', async () => {
      const mk = (instance: string, port: number) => new IptablesEnforcer({ runner: lab.server, instance, ports: [port], backend, cidr: true });
      let a = mk('h5', P1);
      const b = mk('h5-v4', P2);
      const bBans: EnforcerBan[] = [
        { ip: ADDR.clientV4b, family: 4, until: Date.now() + 600_000 },
        { ip: ADDR.clientV6b, family: 6, until: null },
        { ip: '198.18.200.0/24', family: 4, until: Date.now() + 600_000 },
      ];
      try {
        await b.init();
        await b.apply({ ban: bBans, unban: [] });
        await a.init();
        const theirs = /BANHAMMER-h5-v4|bh-h5-v4-[vn][46]/;
        const before = mentions(await save(), theirs);
        expect(before.length).toBeGreaterThan(8);
        const aBans: EnforcerBan[] = [
          { ip: ADDR.clientV4, family: 4, until: Date.now() + 600_000 },
          { ip: ADDR.clientV6, family: 6, until: Date.now() + 600_000 },
          // The same address the other agent banned: still one ban per agent.
          { ip: ADDR.clientV4b, family: 4, until: Date.now() + 600_000 },
        ];
        await a.apply({ ban: aBans, unban: [] });
        expect(await a.check(() => aBans)).toEqual([]);
        await a.apply({ ban: [], unban: [{ ip: ADDR.clientV4b, family: 4 }] });
        expect(mentions(await save(), theirs)).toEqual(before);
        // A crash (no shutdown), then a restart with other ports: its init prunes only its own jumps.
        a = new IptablesEnforcer({ runner: lab.server, instance: 'h5', ports: [P1, 9999], backend, cidr: true });
        await a.init();
        expect(await a.check(() => aBans.slice(0, 2))).toEqual([]);
        expect(mentions(await save(), theirs)).toEqual(before);
        expect(await lab.connect(ADDR.clientV4b, P2)).toBe('timeout');
        expect(await lab.connect(ADDR.clientV4b, P1)).toBe('connected');
        expect(await lab.connect(ADDR.clientV4, P1)).toBe('timeout');
        await a.shutdown();
        expect(mentions(await save(), theirs)).toEqual(before);
        expect(mentions(await save(), /BANHAMMER-h5 |BANHAMMER-h5$|bh-h5-[vn][46]( |$)/)).toEqual([]);
        expect(await lab.connect(ADDR.clientV4b, P2)).toBe('timeout');
        expect(await lab.connect(ADDR.clientV6b, P2)).toBe('timeout');
        expect(await b.check(() => bBans)).toEqual([]);
      } finally {
        await a.shutdown().catch(() => undefined);
        await b.shutdown().catch(() => undefined);
      }
    });

    it.each([
      ['-j ACCEPT', [['-j', 'ACCEPT']]],
      ['a jump to a chain that accepts', [['-p', 'tcp', '-j', 'H5OK']]],
      ['a goto', [['-g', 'H5OK']]],
    ])('a chain named like another agent’s (BANHAMMER-zz) that lets packets through (%s), jumped to above our jump: check() moves our jump back on top; the banned client stays dropped', async (_, rules) => {
      const a = new IptablesEnforcer({ runner: lab.server, instance: 'h5d', ports: [P1], backend, families: [4] });
      const ipt = (args: string[]) => lab.server.run(backend.iptables, ['-w', ...args]);
      try {
        await a.init();
        const ban: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: Date.now() + 600_000 }];
        await a.apply({ ban, unban: [] });
        await ipt(['-N', 'H5OK']);
        await ipt(['-A', 'H5OK', '-j', 'ACCEPT']);
        await ipt(['-N', 'BANHAMMER-zz']);
        for (const r of rules) await ipt(['-A', 'BANHAMMER-zz', ...r]);
        await ipt(['-I', 'INPUT', '1', '-j', 'BANHAMMER-zz']);
        const repaired = await a.check(() => ban);
        expect(await lab.connect(ADDR.clientV4, P1), repaired.join('\n')).toBe('timeout');
        expect(await lab.connect(ADDR.clientV4b, P1)).toBe('connected');
      } finally {
        await a.shutdown().catch(() => undefined);
        await ipt(['-D', 'INPUT', '-j', 'BANHAMMER-zz']).catch(() => undefined);
        for (const c of ['BANHAMMER-zz', 'H5OK']) {
          await ipt(['-F', c]).catch(() => undefined);
          await ipt(['-X', c]).catch(() => undefined);
        }
      }
    });

    it('docker-user without Docker: an ACCEPT inserted above its own FORWARD jump to DOCKER-USER (the only way into its bans) is put below it again by check(); another agent’s jump to DOCKER-USER above it is left alone', async () => {
      const none = { info: () => null };
      const a = new DockerUserEnforcer({ runner: lab.server, instance: 'h5f', containers: none, backend });
      const b = new DockerUserEnforcer({ runner: lab.server, instance: 'h5ff', containers: none, backend });
      const ipt = (f: 4 | 6, args: string[]) => lab.server.run(f === 4 ? backend.iptables : backend.ip6tables, ['-w', ...args]);
      const forward = async (f: 4 | 6) => (await ipt(f, ['-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.startsWith('-A FORWARD'));
      try {
        await a.init();
        for (const f of [4, 6] as const) await ipt(f, ['-I', 'FORWARD', '1', '-j', 'ACCEPT']);
        const repaired = await a.check(() => []);
        for (const f of [4, 6] as const) {
          expect((await forward(f))[0], `IPv${f}: ${repaired.join('; ')}`).toBe('-A FORWARD -m comment --comment banhammer-h5f -j DOCKER-USER');
          await ipt(f, ['-D', 'FORWARD', '-j', 'ACCEPT']);
        }
        await b.init();
        expect(await a.check(() => [])).toEqual([]);
        expect(await b.check(() => [])).toEqual([]);
      } finally {
        await b.shutdown().catch(() => undefined);
        await a.shutdown().catch(() => undefined);
        for (const f of [4, 6] as const) await ipt(f, ['-D', 'FORWARD', '-j', 'ACCEPT']).catch(() => undefined);
      }
      expect(await save()).not.toMatch(/DOCKER-USER|BANHAMMER|bh-h5f/);
    });

    it('docker-user without Docker: when the agent that created DOCKER-USER stops, the other keeps a FORWARD jump to it at every moment (not only after its next check), and the last one out leaves nothing behind', async () => {
      const none = { info: () => null };
      const a = new DockerUserEnforcer({ runner: lab.server, instance: 'h5b', containers: none, backend });
      const b = new DockerUserEnforcer({ runner: lab.server, instance: 'h5bb', containers: none, backend });
      const forwardJumps = async (f: 4 | 6) => (await lab.server.run(f === 4 ? backend.iptables : backend.ip6tables, ['-w', '-S', 'FORWARD'])).stdout.split('\n').filter((l) => / -j DOCKER-USER$/.test(l));
      try {
        await a.init();
        await b.init();
        await b.apply({ ban: [{ ip: '198.18.9.9', family: 4, until: null }], unban: [] });
        await a.shutdown();
        // b's bans hold right now: FORWARD still goes to DOCKER-USER, which still jumps to b's chain.
        for (const f of [4, 6] as const) {
          expect(await forwardJumps(f), `IPv${f}`).toHaveLength(1);
          expect((await lab.server.run(f === 4 ? backend.iptables : backend.ip6tables, ['-w', '-S', 'DOCKER-USER'])).stdout).toContain('-j BANHAMMER-h5bb');
        }
        expect(await b.check(() => [{ ip: '198.18.9.9', family: 4, until: null }])).toEqual([]);
        await b.shutdown();
        const left = await save();
        expect(left).not.toMatch(/DOCKER-USER|BANHAMMER|bh-h5b/);
      } finally {
        await a.shutdown().catch(() => undefined);
        await b.shutdown().catch(() => undefined);
      }
    });
  });
}
