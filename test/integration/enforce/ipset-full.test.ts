/**
 * A full ban set (ipset's maxelem: 1,048,576 by default; one attacker with an IPv6 /64 or a botnet
 * can fill it) must refuse new bans only. Before, "Hash is full" failed the whole batch and every
 * repair check: the other family's bans, every unban and every extension of a ban were never applied.
 * Run in a throw-away network namespace, with maxelem 4 standing in for the million.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { createLab, firewallUnavailable, netnsUnavailable, type Lab } from '../netns.js';

const skip = (await netnsUnavailable()) ?? (await firewallUnavailable('iptables-nft'));

describe.skipIf(skip !== null)(`a full ipset${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab | undefined;
  let enf: IptablesEnforcer;

  beforeAll(async () => {
    lab = await createLab();
    enf = new IptablesEnforcer({ runner: lab.runIn(lab.server), instance: 'full', ports: [8080], backend: backendBinaries('nft', 'integration test'), maxelem: 4 });
    await enf.init();
  });

  afterAll(async () => {
    await enf?.shutdown().catch(() => undefined);
    await lab?.destroy();
  });

  const timeoutOf = async (f: 4 | 6, ip: string): Promise<number | undefined> => (await enf.listSet(f)).find((e) => e.ip === ip)?.timeout;

  it('refuses only the new bans of the full set; the other family, unbans and extensions still apply, and check() repairs the rest', async () => {
    const h = Date.now() + 3_600_000;
    const first: EnforcerBan[] = [...['198.18.1.1', '198.18.1.2', '198.18.1.3', '198.18.1.4'].map((ip) => ({ ip, family: 4 as const, until: h })), { ip: '2001:db8::77', family: 6, until: h }];
    expect((await enf.apply({ ban: first, unban: [] })).refused).toEqual([]);

    const r = await enf.apply({
      ban: [
        { ip: '198.18.1.5', family: 4, until: h },
        { ip: '198.18.1.1', family: 4, until: null },
        { ip: '2001:db8::66', family: 6, until: h },
      ],
      unban: [{ ip: '2001:db8::77', family: 6 }],
    });
    expect(r.refused.map((x) => [x.ip, x.full])).toEqual([['198.18.1.5', true]]);
    expect(r.refused[0]!.reason).toMatch(/is full/);
    expect(await timeoutOf(4, '198.18.1.1')).toBe(0); // made permanent
    expect(await timeoutOf(4, '198.18.1.5')).toBeUndefined();
    expect((await enf.listSet(6)).map((e) => e.ip)).toEqual(['2001:db8::66']);

    // check(): the v4 set is left alone while full (no throw), and the v6 set is still repaired.
    const expected = (): EnforcerBan[] => [
      ...['198.18.1.1', '198.18.1.2', '198.18.1.3', '198.18.1.4', '198.18.1.5'].map((ip) => ({ ip, family: 4 as const, until: ip === '198.18.1.1' ? null : h })),
      { ip: '2001:db8::66', family: 6, until: h },
      { ip: '2001:db8::88', family: 6, until: h },
    ];
    const repairs = await enf.check(expected);
    expect(repairs.join('\n')).toMatch(/2001:db8::88|re-added/);
    expect((await enf.listSet(6)).map((e) => e.ip).sort()).toEqual(['2001:db8::66', '2001:db8::88']);
  });

  it('two full sets in one batch (addresses and networks): each refuses only its new elements', async () => {
    const both = new IptablesEnforcer({ runner: lab!.runIn(lab!.server), instance: 'full2', ports: [8081], backend: backendBinaries('nft', 'integration test'), maxelem: 4, cidr: true, families: [4] });
    await both.init();
    try {
      const h = Date.now() + 3_600_000;
      const hosts = ['198.18.2.1', '198.18.2.2', '198.18.2.3', '198.18.2.4'];
      const nets = ['198.18.10.0/24', '198.18.11.0/24', '198.18.12.0/24', '198.18.13.0/24'];
      expect((await both.apply({ ban: [...hosts, ...nets].map((ip) => ({ ip, family: 4 as const, until: h })), unban: [] })).refused).toEqual([]);
      const r = await both.apply({
        ban: [
          { ip: '198.18.2.9', family: 4, until: h },
          { ip: '198.18.19.0/24', family: 4, until: h },
          { ip: '198.18.2.2', family: 4, until: null },
          { ip: '198.18.10.0/24', family: 4, until: null },
        ],
        unban: [],
      });
      expect(r.refused.map((x) => x.ip).sort()).toEqual(['198.18.19.0/24', '198.18.2.9']);
      expect((await both.listSet(4)).find((e) => e.ip === '198.18.2.2')?.timeout).toBe(0);
      expect((await both.listSet(4, true)).find((e) => e.ip === '198.18.10.0/24')?.timeout).toBe(0);
    } finally {
      await both.shutdown();
    }
  });

  it('a full set that is flushed is refilled by the next check, not left alone', async () => {
    const h = Date.now() + 3_600_000;
    const want: EnforcerBan[] = ['198.18.1.1', '198.18.1.2', '198.18.1.3', '198.18.1.4', '198.18.1.5'].map((ip) => ({ ip, family: 4 as const, until: h }));
    await enf.apply({ ban: want, unban: [] }); // the set is full: one is refused
    await lab!.runIn(lab!.server).run('ipset', ['flush', 'bh-full-v4']);
    expect(await enf.listSet(4)).toEqual([]);
    await enf.check(() => want);
    expect((await enf.listSet(4)).length).toBe(4);
  });
});
