/**
 * Round 4 (H5): element shapes in both kernel enforcers — an IPv6 network of every prefix length a
 * network ban may have (/33 to /127; a /32 is the whole test range) at once, IPv4 networks written with host bits set, the same network
 * in another spelling for the unban: each written as the canonical network, held stable by check()
 * (no repair loop), and lifted by any spelling of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { ADDR, firewallUnavailable, netnsUnavailable } from '../netns.js';
import { h5Lab, type H5Lab } from '../enforce-variants-3/h5-lab.js';

const skip = await netnsUnavailable();
const P = 8080;

/**
 * One IPv6 network per prefix length 33..125, pairwise disjoint: the /len network is
 * [2^(128-len), 2^(129-len)) above 2001:db8::, leaving 2001:db8::/125 for the /126 and /127 below.
 */
function v6Networks(): string[] {
  const base = 0x20010db8n << 96n;
  const out: string[] = [];
  for (let len = 33; len <= 125; len++) {
    const v = base + (1n << BigInt(128 - len));
    const groups = Array.from({ length: 8 }, (_, i) => ((v >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
    out.push(`${groups.join(':')}/${len}`);
  }
  return out;
}

describe.skipIf(skip !== null)('element shapes, round 4', () => {
  let lab: H5Lab;
  beforeAll(async () => {
    lab = await h5Lab([P]);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const shapes = (): EnforcerBan[] => [
    ...v6Networks().map((ip) => ({ ip, family: 6 as const, until: Date.now() + 600_000 })),
    { ip: '198.18.7.9/24', family: 4, until: Date.now() + 600_000 },
    { ip: '198.19.255.255/16', family: 4, until: null },
    { ip: '2001:DB8:0:0:0:0:0:2/126', family: 6, until: null },
    { ip: '2001:db8::5/127', family: 6, until: Date.now() + 600_000 },
  ];

  it('nftables: every shape is written canonical, check() finds nothing to repair twice running, and other spellings unban', async () => {
    const e = new NftablesEnforcer({ runner: lab.server, instance: 'h5shp', ports: [P], cidr: true, elementCheckIntervalMs: 0 });
    const book = shapes();
    await e.init();
    try {
      expect((await e.apply({ ban: book, unban: [] })).refused).toEqual([]);
      const n4 = (await e.listSet(4, 'net')).map((x) => x.ip).sort();
      expect(n4).toEqual(['198.18.7.0/24', '198.19.0.0/16']);
      const n6 = (await e.listSet(6, 'net')).map((x) => x.ip);
      expect(n6).toContain('2001:db8::/126');
      expect(n6).toHaveLength(book.length - 2);
      expect(n6).toContain('2001:db8::4/127');
      expect(await e.check(() => book)).toEqual([]);
      expect(await e.check(() => book)).toEqual([]);
      expect(await lab.connect(ADDR.clientV6, P)).toBe('timeout');
      await e.apply({ ban: [], unban: [{ ip: '198.18.7.200/24', family: 4 }, { ip: '2001:db8::3/126', family: 6 }] });
      expect((await e.listSet(4, 'net')).map((x) => x.ip)).toEqual(['198.19.0.0/16']);
      expect((await e.listSet(6, 'net')).map((x) => x.ip)).not.toContain('2001:db8::/126');
      expect(await lab.connect(ADDR.clientV6, P)).toBe('connected');
    } finally {
      await e.shutdown();
    }
  });

  it.skipIf(skip !== null)('iptables (hash:net): the same shapes, the same canonical forms, stable under check()', async () => {
    if ((await firewallUnavailable('iptables-nft')) !== null) return;
    const e = new IptablesEnforcer({ runner: lab.server, instance: 'h5shp', ports: [P], backend: backendBinaries('nft', 'test'), cidr: true, fullCompareEvery: 1 });
    const book = shapes();
    await e.init();
    try {
      expect((await e.apply({ ban: book, unban: [] })).refused).toEqual([]);
      expect((await e.listSet(4, true)).map((x) => x.ip).sort()).toEqual(['198.18.7.0/24', '198.19.0.0/16']);
      expect((await e.listSet(6, true)).map((x) => x.ip)).toContain('2001:db8::/126');
      expect(await e.check(() => book)).toEqual([]);
      expect(await e.check(() => book)).toEqual([]);
      expect(await lab.connect(ADDR.clientV6, P)).toBe('timeout');
      await e.apply({ ban: [], unban: [{ ip: '198.18.7.200/24', family: 4 }, { ip: '2001:db8::3/126', family: 6 }] });
      expect((await e.listSet(4, true)).map((x) => x.ip)).toEqual(['198.19.0.0/16']);
      expect(await lab.connect(ADDR.clientV6, P)).toBe('connected');
    } finally {
      await e.shutdown();
    }
  });
});
