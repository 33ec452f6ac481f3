/**
 * Audit of issue 12 (nftables enforcer, nftables host mode, auto): edge and hostile variants of the
 * issue's demands that PASS against the real kernel, kept as cheap regression tests. Network
 * namespaces only (createLab / createStar, destroyed in afterAll), test addresses only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runner } from '../../../src/exec/runner.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { NftablesEnforcer, nftablesUnavailable } from '../../../src/enforce/nftables.js';
import { decideEnforcer, probeEnforcerFacts } from '../../../src/enforce/auto.js';
import type { ContainerInfo } from '../../../src/docker/containers.js';
import { ADDR, TCP_SERVER, UDP_ECHO_SERVER, createLab, createStar, netnsUnavailable, tcpProbe, udpProbe, type Lab, type Star } from '../netns.js';

const P = 8080;
const OPEN = 8081;
const now = () => Date.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const skip = await netnsUnavailable();
type Opts = ConstructorParameters<typeof NftablesEnforcer>[0];

describe.skipIf(skip !== null)('nftables variants (in-container, one lab)', () => {
  let lab: Lab | undefined;
  let ns: Runner;
  const nft = async (...args: string[]) => (await ns.run('nft', args)).stdout;
  const nftScript = (text: string) => ns.run('nft', ['-f', '-'], { input: text });
  const to = (src: string) => (src.includes(':') ? ADDR.serverV6 : ADDR.serverV4);
  const from = (src: string, port = P) => lab!.canConnect({ to: to(src), port, from: src, timeoutMs: 1000 });
  const udp = (src: string, port = P) => lab!.sendUdp({ to: to(src), port, from: src, timeoutMs: 1000 });
  const mk = (instance: string, extra: Partial<Opts> = {}) => new NftablesEnforcer({ runner: ns, instance, ports: [P], elementCheckIntervalMs: 0, ...extra });
  const using = async (e: NftablesEnforcer, fn: () => Promise<void>) => {
    await e.init();
    try {
      await fn();
    } finally {
      await e.shutdown();
    }
  };

  beforeAll(async () => {
    lab = await createLab();
    await lab.startServer([P, OPEN]);
    await lab.startUdpServer([P, OPEN]);
    ns = lab.runIn(lab.server);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('IPv4-mapped spellings (::ffff:198.18.0.2, ::FFFF:c612:3) ban the IPv4 client on TCP and UDP; the plain spelling unbans', async () => {
    const e = mk('vmap');
    await using(e, async () => {
      const book: EnforcerBan[] = [{ ip: '::ffff:198.18.0.2', family: 6, until: now() + 60_000 }, { ip: '::FFFF:c612:3', family: 6, until: null }];
      expect((await e.apply({ ban: book, unban: [] })).refused).toEqual([]);
      expect((await e.listSet(4)).map((x) => x.ip).sort()).toEqual([ADDR.clientV4, ADDR.clientV4b]);
      expect(await e.listSet(6)).toEqual([]);
      expect(await from(ADDR.clientV4)).toBe('timeout');
      expect(await udp(ADDR.clientV4b)).toBe('timeout');
      expect(await e.check(() => book)).toEqual([]);
      await e.apply({ ban: [], unban: [{ ip: ADDR.clientV4, family: 4 }, { ip: '::ffff:198.18.0.3', family: 6 }] });
      expect(await e.listSet(4)).toEqual([]);
      expect(await from(ADDR.clientV4)).toBe('connected');
    });
  });

  it('IPv6 spellings: ban 2001:DB8:0::2, unban 2001:db8:0:0:0:0:0:2; ban + unban in one batch ends banned; a repeated ban is idempotent', async () => {
    const e = mk('vsp');
    await using(e, async () => {
      await e.apply({ ban: [{ ip: '2001:DB8:0::2', family: 6, until: null }], unban: [] });
      expect(await from(ADDR.clientV6)).toBe('timeout');
      await e.apply({ ban: [], unban: [{ ip: '2001:db8:0:0:0:0:0:2', family: 6 }] });
      expect(await e.listSet(6)).toEqual([]);
      await e.apply({ ban: [{ ip: ADDR.clientV6b, family: 6, until: null }], unban: [{ ip: ADDR.clientV6b, family: 6 }] });
      expect((await e.apply({ ban: [{ ip: ADDR.clientV6b, family: 6, until: null }], unban: [] })).refused).toEqual([]);
      expect(await e.listSet(6)).toEqual([{ ip: ADDR.clientV6b, expiresS: null }]);
    });
  });

  it('timeouts at the limits: 1 ms and sub-ms are accepted; Infinity, MAX_SAFE_INTEGER and 1e300 are capped at 20 days and check() leaves them; 1 h shortened to 30 s', async () => {
    const e = mk('vlim');
    await using(e, async () => {
      for (const until of [now() + 1, now() + 0.4]) expect((await e.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until }], unban: [] })).refused).toEqual([]);
      for (const until of [Infinity, Number.MAX_SAFE_INTEGER, 1e300]) {
        expect((await e.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until }], unban: [] })).refused).toEqual([]);
        const [x] = await e.listSet(4);
        expect(x!.expiresS!).toBeGreaterThan(20 * 86_400 - 10);
        expect(x!.expiresS!).toBeLessThanOrEqual(20 * 86_400);
        expect(await e.check(() => [{ ip: ADDR.clientV4b, family: 4, until }])).toEqual([]);
      }
      await e.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 3_600_000 }], unban: [] });
      await e.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 30_000 }], unban: [] });
      expect((await e.listSet(4))[0]!.expiresS!).toBeLessThanOrEqual(30);
    });
  });

  it('re-bans landing when the kernel expires the element (both refresh paths), IPv4 and IPv6: never refused, ends banned', async () => {
    const e = mk('vexp');
    const legacy = mk('vexp'); // never init()ed: the add + delete + add path
    await using(e, async () => {
      for (let i = 0; i < 8; i++) {
        const r = await (i % 2 ? legacy : e).apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 150 }, { ip: ADDR.clientV6b, family: 6, until: now() + 150 }], unban: [] });
        expect(r.refused).toEqual([]);
        await sleep(140 + (i % 4) * 5);
      }
      await e.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 60_000 }], unban: [] });
      expect(await from(ADDR.clientV4b)).toBe('timeout');
    });
  });

  it('CIDR: an expired /24 does not block a /25 ban; widening and narrowing in one batch (unban + ban); adjacent /25s and unbanning one; IPv6 the same', async () => {
    const e = mk('vnet', { cidr: true, ports: [OPEN] });
    await using(e, async () => {
      expect((await e.apply({ ban: [{ ip: '198.18.0.0/24', family: 4, until: now() + 500 }], unban: [] })).refused).toEqual([]);
      await sleep(1000);
      expect((await e.apply({ ban: [{ ip: '198.18.0.0/25', family: 4, until: now() + 60_000 }], unban: [] })).refused).toEqual([]);
      expect((await e.apply({ ban: [{ ip: '198.18.0.0/24', family: 4, until: now() + 60_000 }], unban: [{ ip: '198.18.0.0/25', family: 4 }] })).refused).toEqual([]);
      expect((await e.listSet(4, 'net')).map((x) => x.ip)).toEqual(['198.18.0.0/24']);
      expect((await e.apply({ ban: [{ ip: '198.18.0.0/25', family: 4, until: now() + 60_000 }], unban: [{ ip: '198.18.0.0/24', family: 4 }] })).refused).toEqual([]);
      expect((await e.apply({ ban: [{ ip: '198.18.0.128/25', family: 4, until: null }], unban: [] })).refused).toEqual([]);
      await e.apply({ ban: [], unban: [{ ip: '198.18.0.128/25', family: 4 }] });
      expect((await e.listSet(4, 'net')).map((x) => x.ip)).toEqual(['198.18.0.0/25']);
      expect(await from(ADDR.clientV4b, OPEN)).toBe('timeout');
      expect(await from(ADDR.clientV4b, P)).toBe('connected');
      expect((await e.apply({ ban: [{ ip: '2001:db8::/64', family: 6, until: now() + 500 }], unban: [] })).refused).toEqual([]);
      await sleep(1000);
      expect((await e.apply({ ban: [{ ip: '2001:db8::/64', family: 6, until: now() + 60_000 }], unban: [] })).refused).toEqual([]);
      expect(await udp(ADDR.clientV6, OPEN)).toBe('timeout');
      const book: EnforcerBan[] = [{ ip: '198.18.0.0/25', family: 4, until: now() + 60_000 }, { ip: '2001:db8::/64', family: 6, until: now() + 60_000 }];
      expect(await e.check(() => book)).toEqual([]);
      // A mapped network is no ban target (as the ban book reads it).
      expect((await e.apply({ ban: [{ ip: '::ffff:198.19.0.0/112', family: 6, until: null }], unban: [] })).refused).toHaveLength(1);
    });
  });

  it('drift: policy drop on our chain, a renamed chain, a duplicate rule, a stray and a longer timeout, a foreign set: each repaired by one check()', async () => {
    const e = mk('vdrift');
    const T = 'banhammer_vdrift';
    const book: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: now() + 60_000 }];
    await using(e, async () => {
      await e.apply({ ban: book, unban: [] });
      await nftScript(`add chain inet ${T} input { type filter hook input priority -10; policy drop; }\n`);
      expect(await e.check(() => book)).toEqual([`table inet ${T}: chain input had another hook (filter input priority -10 policy drop); repaired`]);
      expect(await from(ADDR.clientV4b)).toBe('connected');
      await nft('rename', 'chain', 'inet', T, 'input', 'foo');
      expect(await e.check(() => book)).toEqual([`table inet ${T}: chain foo is not ours; chain input was missing; repaired`]);
      await nftScript(`add rule inet ${T} input tcp dport ${P} ip saddr @addr4 drop\n`);
      expect(await e.check(() => book)).toHaveLength(1);
      await nftScript(`add element inet ${T} addr4 { ${ADDR.clientV4} timeout 2h }\nadd element inet ${T} addr4 { 198.18.0.77 timeout 1h }\nadd element inet ${T} addr6 { 2001:db8::99 }\nadd set inet ${T} addr4b { type ipv4_addr; }\n`);
      expect(await e.check(() => book)).toEqual([
        `table inet ${T}: set addr4b is not ours; repaired`,
        'set addr4 (IPv4): 0 missing ban(s) re-added, 1 stray element(s) removed, 1 timeout(s) corrected',
        'set addr6 (IPv6): 0 missing ban(s) re-added, 1 stray element(s) removed, 0 timeout(s) corrected',
      ]);
      expect((await e.listSet(4))[0]!.expiresS!).toBeLessThanOrEqual(60);
      expect(await from(ADDR.clientV4)).toBe('timeout');
      expect(await e.check(() => book)).toEqual([]);
    });
  });

  it('other tools’ tables with similar names (ip/ip6/netdev/bridge banhammer_vsim, inet banhammer_vsim2, inet banhammer_vsim_x, inet BANHAMMER_vsim) survive init, check and shutdown', async () => {
    const others = ['ip banhammer_vsim', 'ip6 banhammer_vsim', 'netdev banhammer_vsim', 'bridge banhammer_vsim', 'inet banhammer_vsim2', 'inet banhammer_vsim_x', 'inet BANHAMMER_vsim'];
    await nftScript(others.map((t) => `add table ${t}`).join('\n') + '\nadd set ip banhammer_vsim addr4 { type ipv4_addr; }\nadd chain ip banhammer_vsim input { type filter hook input priority 0; policy accept; }\n');
    try {
      const e = mk('vsim');
      await using(e, async () => {
        const book: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: now() + 60_000 }];
        await e.apply({ ban: book, unban: [] });
        expect(await e.check(() => book)).toEqual([]);
        expect(await from(ADDR.clientV4)).toBe('timeout');
      });
      const tables = (await nft('list', 'tables')).split('\n');
      for (const t of others) expect(tables).toContain(`table ${t}`);
      expect(tables).not.toContain('table inet banhammer_vsim');
    } finally {
      await nftScript(others.map((t) => `delete table ${t}`).join('\n') + '\n');
    }
  });

  it('restart over an existing table with other settings (IPv4 only, reject, CIDR off): exact new layout, the IPv4 ban kept and rejected on TCP and UDP', async () => {
    const a = mk('vrst', { cidr: true });
    await a.init();
    await a.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: null }, { ip: ADDR.clientV6, family: 6, until: null }, { ip: '198.19.0.0/16', family: 4, until: null }], unban: [] });
    const b = mk('vrst', { families: [4], blockAction: 'reject' });
    await using(b, async () => {
      const listing = await nft('-t', 'list', 'table', 'inet', 'banhammer_vrst');
      expect(listing).not.toMatch(/addr6|net4|net6/);
      expect(await b.listSet(4)).toEqual([{ ip: ADDR.clientV4, expiresS: null }]);
      expect(await from(ADDR.clientV4)).toBe('refused');
      expect(await udp(ADDR.clientV4)).toBe('refused');
      expect(await from(ADDR.clientV6)).toBe('connected');
      expect(await b.check(() => [{ ip: ADDR.clientV4, family: 4, until: null }])).toEqual([]);
    });
  });

  it('addresses and expiries that would change the script are refused before anything is written', async () => {
    const e = mk('vinj');
    await using(e, async () => {
      const r = await e.apply({
        ban: [
          { ip: '198.18.0.2 }\nflush ruleset\nadd element inet x y {', family: 4, until: null },
          { ip: '198.18.0.2; drop', family: 4, until: null },
          { ip: '198.18.0.2\n', family: 4, until: null },
          { ip: ' 198.18.0.3', family: 4, until: null },
          { ip: '2001:db8::2%eth0', family: 6, until: null },
          { ip: '198.18.0.3', family: 4, until: '1; flush ruleset' as unknown as number },
        ],
        unban: [],
      });
      expect(r.refused).toHaveLength(6);
      expect(await e.listSet(4)).toEqual([]);
    });
  });

  it('coexists with iptables-nft rules nft cannot translate (recent, string, hashlimit, comment, MARK) and an iptables-legacy ACCEPT: listing, check, repair, restart', async () => {
    const e = mk('vxt');
    const book: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: now() + 60_000 }];
    const rules = [
      ['-I', 'INPUT', '-p', 'tcp', '--dport', String(P), '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-p', 'tcp', '-m', 'recent', '--name', 'x', '--set'],
      ['-A', 'INPUT', '-p', 'tcp', '-m', 'comment', '--comment', 'hello', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'string', '--string', 'abc', '--algo', 'bm', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'hashlimit', '--hashlimit-name', 'h', '--hashlimit-above', '10/sec', '-j', 'DROP'],
      ['-t', 'mangle', '-A', 'PREROUTING', '-j', 'MARK', '--set-mark', '1'],
    ];
    await using(e, async () => {
      try {
        for (const r of rules) await ns.run('iptables-nft', ['-w', ...r]);
        await ns.run('ip6tables-nft', ['-w', '-I', 'INPUT', '-m', 'recent', '--name', 'y', '--set']);
        await ns.run('iptables-legacy', ['-w', '-I', 'INPUT', '-p', 'tcp', '--dport', String(P), '-j', 'ACCEPT']);
        await e.apply({ ban: book, unban: [] });
        expect(await nftablesUnavailable(ns)).toBeNull();
        expect(await e.check(() => book)).toEqual([]);
        expect(await from(ADDR.clientV4)).toBe('timeout');
        expect(await from(ADDR.clientV4b)).toBe('connected');
        await nft('delete', 'table', 'inet', 'banhammer_vxt');
        expect((await e.check(() => book))[0]).toMatch(/was missing; repaired$/);
        expect(await from(ADDR.clientV4)).toBe('timeout');
        await mk('vxt').init();
        expect(await e.check(() => book)).toEqual([]);
      } finally {
        await ns.run('iptables-nft', ['-w', '-F', 'INPUT']).catch(() => undefined);
        await ns.run('iptables-nft', ['-w', '-t', 'mangle', '-F', 'PREROUTING']).catch(() => undefined);
        await ns.run('ip6tables-nft', ['-w', '-F', 'INPUT']).catch(() => undefined);
        await ns.run('iptables-legacy', ['-w', '-F', 'INPUT']).catch(() => undefined);
      }
    });
  });

  it('a huge batch (20,000 IPv4 + 20,000 IPv6, timed and permanent) is applied and lifted in a few seconds, nothing refused', async () => {
    const e = mk('vhuge', { elementCheckIntervalMs: undefined });
    await using(e, async () => {
      const ban: EnforcerBan[] = [];
      for (let i = 0; i < 20_000; i++) ban.push({ ip: `198.19.${i >> 8}.${i & 255}`, family: 4, until: now() + 3_600_000 });
      for (let i = 0; i < 20_000; i++) ban.push({ ip: `2001:db8:1::${i.toString(16)}`, family: 6, until: i % 2 ? null : now() + 3_600_000 });
      const t0 = performance.now();
      expect((await e.apply({ ban, unban: [] })).refused).toEqual([]);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect((await e.listSet(4)).length).toBe(20_000);
      expect((await e.listSet(6)).length).toBe(20_000);
      expect(await e.check(() => ban)).toEqual([]);
      expect((await e.apply({ ban: [], unban: ban })).refused).toEqual([]);
      expect(await e.listSet(4)).toEqual([]);
      expect(await e.listSet(6)).toEqual([]);
    });
  }, 60_000);
});

describe.skipIf(skip !== null)('nftables variants (host mode and auto, one star)', () => {
  const node = process.execPath;
  const X = 'c3'.repeat(32);
  const Y = 'd4'.repeat(32);
  let star: Star<'attacker' | 'client' | 'x' | 'y'> | undefined;
  let host: Runner;
  const containers = new Map<string, ContainerInfo>();
  const tcp = (who: 'attacker' | 'client', t: 'x' | 'y', f: 4 | 6 = 4, dst: 0 | 1 = 0) => {
    const c = star!.clients[who];
    const d = star!.clients[t];
    return tcpProbe(star!.runIn(c.ns), { to: f === 4 ? d.v4[dst] : d.v6[dst], port: 80, from: f === 4 ? c.v4[0] : c.v6[0], timeoutMs: 1000 });
  };
  const udp = (who: 'attacker' | 'client', t: 'x' | 'y', f: 4 | 6 = 4) => {
    const c = star!.clients[who];
    const d = star!.clients[t];
    return udpProbe(star!.runIn(c.ns), { to: f === 4 ? d.v4[0] : d.v6[0], port: 443, from: f === 4 ? c.v4[0] : c.v6[0], timeoutMs: 1000 });
  };

  beforeAll(async () => {
    star = await createStar(['attacker', 'client', 'x', 'y'] as const);
    host = star.runIn(star.server);
    await host.run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await host.run('sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
    for (const c of Object.values(star.clients)) {
      await star.runIn(c.ns).run('ip', ['route', 'add', 'default', 'via', c.serverV4]);
      await star.runIn(c.ns).run('ip', ['-6', 'route', 'add', 'default', 'via', c.serverV6]);
    }
    for (const [name, argv] of [['x', [node, '-e', TCP_SERVER, '80']], ['y', [node, '-e', TCP_SERVER, '80']], ['x', [node, '-e', UDP_ECHO_SERVER, '443']], ['y', [node, '-e', UDP_ECHO_SERVER, '443']]] as const) {
      const child = star.spawnIn(star.clients[name].ns, argv);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('test server did not start')), 15_000);
        child.stdout?.on('data', (b: Buffer) => {
          if (b.toString().includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    }
    const { x, y } = star.clients;
    containers.set(X, { id: X, name: 'x', v4: [x.v4[0], x.v4[1]], v6: [x.v6[0]] });
    containers.set(Y, { id: Y, name: 'y', v4: [y.v4[0]], v6: [y.v6[0]] });
  });
  afterAll(async () => {
    await star?.destroy();
  });

  it('host mode: a mapped-spelled scoped ban covers both of X’s addresses and nothing else; host-wide CIDR bans (IPv4 /24, IPv6 /64) drop TCP and UDP to every container; a scoped CIDR ban is refused; all of it beats FORWARD ACCEPTs of iptables-nft, iptables-legacy and an earlier nft chain', async () => {
    const e = new NftablesEnforcer({ runner: host, instance: 'hvar', ports: [], cidr: true, host: { containers: { info: (id) => containers.get(id) ?? null } }, elementCheckIntervalMs: 0 });
    const a = star!.clients.attacker;
    const accepts = async (op: '-I' | '-D') => {
      for (const bin of ['iptables-nft', 'ip6tables-nft', 'iptables-legacy']) await host.run(bin, ['-w', op, 'FORWARD', '-j', 'ACCEPT']).catch(() => undefined);
    };
    await e.init();
    await accepts('-I');
    await host.run('nft', ['-f', '-'], { input: 'add table inet othervar\nadd chain inet othervar f1 { type filter hook forward priority -200; policy accept; }\nadd rule inet othervar f1 accept\n' });
    try {
      expect((await e.apply({ ban: [{ ip: `::ffff:${a.v4[0]}`, family: 6, until: now() + 60_000, scope: X }], unban: [] })).refused).toEqual([]);
      expect(await tcp('attacker', 'x')).toBe('timeout');
      expect(await tcp('attacker', 'x', 4, 1)).toBe('timeout');
      expect(await tcp('attacker', 'y')).toBe('connected');
      expect(await tcp('client', 'x')).toBe('connected');
      await e.apply({ ban: [], unban: [{ ip: a.v4[0], family: 4, scope: X }] });
      expect(await tcp('attacker', 'x')).toBe('connected');
      const wide: EnforcerBan[] = [{ ip: '198.18.1.0/24', family: 4, until: now() + 60_000 }, { ip: '2001:db8:1::/64', family: 6, until: null }];
      expect((await e.apply({ ban: wide, unban: [] })).refused).toEqual([]);
      expect(await tcp('attacker', 'x')).toBe('timeout');
      expect(await tcp('attacker', 'y', 6)).toBe('timeout');
      expect(await udp('attacker', 'y')).toBe('timeout');
      expect(await tcp('client', 'x')).toBe('connected');
      expect(await udp('client', 'y', 6)).toBe('answered');
      expect((await e.apply({ ban: [{ ip: '198.18.1.0/24', family: 4, until: null, scope: X }], unban: [] })).refused).toEqual([
        { ip: '198.18.1.0/24', family: 4, scope: X, reason: 'a CIDR ban cannot be scoped to a container' },
      ]);
      expect(await e.check(() => wide)).toEqual([]);
    } finally {
      await e.shutdown();
      await accepts('-D');
      await host.run('nft', ['delete', 'table', 'inet', 'othervar']).catch(() => undefined);
    }
  });

  it('auto: in-container picks iptables; host mode without DOCKER-USER (an imitation of Docker’s nftables backend) picks nftables; with DOCKER-USER picks docker-user', async () => {
    expect(decideEnforcer(await probeEnforcerFacts(host, false)).enforcer).toBe('iptables');
    await host.run('nft', ['-f', '-'], { input: 'add table ip docker-bridges\nadd chain ip docker-bridges filter-FORWARD { type filter hook forward priority filter; policy accept; }\n' });
    try {
      expect(decideEnforcer(await probeEnforcerFacts(host, true)).enforcer).toBe('nftables');
    } finally {
      await host.run('nft', ['delete', 'table', 'ip', 'docker-bridges']);
    }
    await host.run('iptables-nft', ['-w', '-N', 'DOCKER-USER']);
    try {
      expect(decideEnforcer(await probeEnforcerFacts(host, true)).enforcer).toBe('docker-user');
    } finally {
      await host.run('iptables-nft', ['-w', '-X', 'DOCKER-USER']);
    }
  });
});
