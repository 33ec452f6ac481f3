/**
 * NftablesEnforcer against the real kernel, inside throw-away network namespaces (never the host's
 * firewall). The server namespace runs a TCP server and a UDP echo server (HTTP/3 runs over UDP) on a
 * protected port (8080) and an unprotected one (8081); connections and datagrams come from the client
 * namespace (test addresses only).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { NftablesEnforcer, nftablesUnavailable } from '../../../src/enforce/nftables.js';
import type { ContainerInfo } from '../../../src/docker/containers.js';
import { DROP_WAIT_MS, ADDR, TCP_ECHO_SERVER, TCP_SERVER, UDP_ECHO_SERVER, createLab, createStar, netnsUnavailable, session, tcpProbe, udpProbe, type Lab, type Star } from '../netns.js';

const PROTECTED = 8080;
const OPEN = 8081;
const TABLE = 'banhammer_itest';
const noNetns = await netnsUnavailable();

/** Why nft cannot be used inside a namespace here, or null. */
async function nftUnavailable(): Promise<string | null> {
  const sh = new ProcessRunner({ timeoutMs: 20_000 });
  const ns = `bh-t-probe-${randomBytes(4).toString('hex')}`;
  try {
    await sh.run('ip', ['netns', 'add', ns]);
  } catch (e) {
    return `cannot create a network namespace: ${(e as Error).message}`;
  }
  try {
    await withPrefix(sh, ['ip', 'netns', 'exec', ns]).run('nft', ['-f', '-'], { input: 'add table inet bh_probe\nadd set inet bh_probe s { type ipv4_addr; flags timeout; }\n' });
    return null;
  } catch (e) {
    return `nft does not work in a namespace: ${(e as Error).message}`;
  } finally {
    await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

/** A runner that counts the processes started through it. */
function counting(inner: Runner): Runner & { count: (prefix: string) => number } {
  const seen: string[] = [];
  return {
    run(cmd, args, opts) {
      seen.push([cmd, ...args].join(' '));
      return inner.run(cmd, args, opts);
    },
    count: (prefix) => seen.filter((l) => l.startsWith(prefix)).length,
  };
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, limitMs: number): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${limitMs} ms (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const skip = noNetns ?? (await nftUnavailable());

describe.skipIf(skip !== null)(`NftablesEnforcer in a network namespace${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab | undefined;
  let ns: Runner;
  let enf: NftablesEnforcer;
  let other: NftablesEnforcer;
  /** What the ban book would say (check() reads it). */
  let book: EnforcerBan[] = [];
  const expected = () => book;
  const from = (src: string, port = PROTECTED, timeoutMs = 1500) =>
    lab!.canConnect({ to: src.includes(':') ? ADDR.serverV6 : ADDR.serverV4, port, from: src, timeoutMs });
  /** One UDP datagram from `src`: answered (delivered), timeout (dropped) or refused (rejected). */
  const udp = (src: string, port = PROTECTED, timeoutMs = 1500) =>
    lab!.sendUdp({ to: src.includes(':') ? ADDR.serverV6 : ADDR.serverV4, port, from: src, timeoutMs });
  const nft = async (...args: string[]) => (await ns.run('nft', args)).stdout;
  const nftScript = (text: string) => ns.run('nft', ['-f', '-'], { input: text });
  const chainRules = async (table = TABLE) => (await nft('list', 'chain', 'inet', table, 'input')).split('\n').map((l) => l.trim()).filter((l) => /^(tcp|udp|ip|meta|accept|drop)/.test(l));
  /** Our chain as nft 1.0.6 prints it: a TCP and a UDP rule per address family. */
  const ourRules = (ports: string) => [
    `tcp dport ${ports} ip saddr @addr4 drop`,
    `udp dport ${ports} ip saddr @addr4 drop`,
    `tcp dport ${ports} ip6 saddr @addr6 drop`,
    `udp dport ${ports} ip6 saddr @addr6 drop`,
  ];
  const now = () => Date.now();

  beforeAll(async () => {
    lab = await createLab();
    await lab.startServer([PROTECTED, OPEN]);
    await lab.startUdpServer([PROTECTED, OPEN]);
    ns = lab.runIn(lab.server);
    enf = new NftablesEnforcer({ runner: ns, instance: 'itest', ports: [PROTECTED], elementCheckIntervalMs: 0 });
    other = new NftablesEnforcer({ runner: ns, instance: 'other', ports: [OPEN], blockAction: 'reject', families: [4] });
    await enf.init();
    await other.init();
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('bans IPv4 and IPv6 clients on the protected port only, and nobody else', async () => {
    expect(await from(ADDR.clientV4)).toBe('connected');
    expect(await from(ADDR.clientV6)).toBe('connected');
    const r = await enf.apply({
      ban: [
        { ip: ADDR.clientV4, family: 4, until: now() + 600_000 },
        { ip: ADDR.clientV6, family: 6, until: null },
      ],
      unban: [],
    });
    expect(r.refused).toEqual([]);
    const v4 = await enf.listSet(4);
    expect(v4.map((e) => e.ip)).toEqual([ADDR.clientV4]);
    expect(v4[0]!.expiresS).toBeGreaterThan(590);
    expect(v4[0]!.expiresS).toBeLessThanOrEqual(600);
    expect(await enf.listSet(6)).toEqual([{ ip: ADDR.clientV6, expiresS: null }]);
    expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await from(ADDR.clientV6, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await from(ADDR.clientV4, OPEN)).toBe('connected');
    expect(await from(ADDR.clientV6, OPEN)).toBe('connected');
    expect(await from(ADDR.clientV4b)).toBe('connected');
    expect(await from(ADDR.clientV6b)).toBe('connected');
    await enf.apply({ ban: [], unban: [{ ip: ADDR.clientV4, family: 4 }, { ip: ADDR.clientV6, family: 6 }, { ip: '198.18.0.99', family: 4 }] });
    expect(await enf.listSet(4)).toEqual([]);
    expect(await enf.listSet(6)).toEqual([]);
    expect(await from(ADDR.clientV4)).toBe('connected');
    expect(await from(ADDR.clientV6)).toBe('connected');
  });

  for (const bin of ['iptables-nft', 'iptables-legacy'] as const) {
    it(`a ban in our chain holds against an ${bin} ACCEPT for the same port (IPv4 and IPv6)`, async () => {
      const six = bin.replace('iptables', 'ip6tables');
      const usable = await ns.run(bin, ['-w', '-S']).then(() => true, () => false);
      if (!usable) {
        console.log(`[nftables] ${bin} does not work here: coexistence with it not tested`);
        return;
      }
      const accept = ['-p', 'tcp', '--dport', String(PROTECTED), '-j', 'ACCEPT'];
      await ns.run(bin, ['-w', '-I', 'INPUT', ...accept]);
      await ns.run(six, ['-w', '-I', 'INPUT', ...accept]);
      try {
        await enf.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: now() + 60_000 }, { ip: ADDR.clientV6, family: 6, until: now() + 60_000 }], unban: [] });
        expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
        expect(await from(ADDR.clientV6, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
        await enf.apply({ ban: [], unban: [{ ip: ADDR.clientV4, family: 4 }, { ip: ADDR.clientV6, family: 6 }] });
        expect(await from(ADDR.clientV4)).toBe('connected');
      } finally {
        await ns.run(bin, ['-w', '-D', 'INPUT', ...accept]);
        await ns.run(six, ['-w', '-D', 'INPUT', ...accept]);
      }
    });
  }

  it('reject answers with a reset, and one instance does not affect the other', async () => {
    await other.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: null }], unban: [] });
    expect(await from(ADDR.clientV4b, OPEN)).toBe('refused');
    expect(await from(ADDR.clientV4b, PROTECTED)).toBe('connected');
    await other.apply({ ban: [], unban: [{ ip: ADDR.clientV4b, family: 4 }] });
    expect(await from(ADDR.clientV4b, OPEN)).toBe('connected');
  });

  it('closes the protected port to banned clients over UDP as well (HTTP/3), IPv4 and IPv6; other ports and clients unaffected', async () => {
    for (const src of [ADDR.clientV4, ADDR.clientV6]) expect(await udp(src)).toBe('answered');
    const bans: EnforcerBan[] = [{ ip: ADDR.clientV4, family: 4, until: now() + 600_000 }, { ip: ADDR.clientV6, family: 6, until: null }];
    expect((await enf.apply({ ban: bans, unban: [] })).refused).toEqual([]);
    for (const src of [ADDR.clientV4, ADDR.clientV6]) {
      expect(await udp(src, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await from(src, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await udp(src, OPEN)).toBe('answered');
    }
    for (const src of [ADDR.clientV4b, ADDR.clientV6b]) expect(await udp(src)).toBe('answered');
    expect(await enf.check(() => bans)).toEqual([]);
    await enf.apply({ ban: [], unban: [{ ip: ADDR.clientV4, family: 4 }, { ip: ADDR.clientV6, family: 6 }] });
    for (const src of [ADDR.clientV4, ADDR.clientV6]) expect(await udp(src)).toBe('answered');
  });

  it('reject answers UDP with an ICMP port unreachable (ICMPv6 over IPv6) and TCP with a reset', async () => {
    const other6 = new NftablesEnforcer({ runner: ns, instance: 'other6', ports: [OPEN], blockAction: 'reject', families: [6] });
    const bans: EnforcerBan[] = [{ ip: ADDR.clientV4b, family: 4, until: null }, { ip: ADDR.clientV6b, family: 6, until: null }];
    try {
      await other6.init();
      await other.apply({ ban: bans, unban: [] });
      await other6.apply({ ban: bans, unban: [] });
      for (const src of [ADDR.clientV4b, ADDR.clientV6b]) {
        expect(await udp(src, OPEN)).toBe('refused');
        expect(await from(src, OPEN)).toBe('refused');
        expect(await udp(src, PROTECTED)).toBe('answered');
      }
      expect(await udp(ADDR.clientV4, OPEN)).toBe('answered');
      expect(await udp(ADDR.clientV6, OPEN)).toBe('answered');
      expect(await other6.check(() => bans)).toEqual([]);
      await other.apply({ ban: [], unban: bans });
      expect(await udp(ADDR.clientV4b, OPEN)).toBe('answered');
    } finally {
      await other6.shutdown();
    }
    expect(await udp(ADDR.clientV6b, OPEN)).toBe('answered');
  });

  it('extending or shortening a ban rewrites the element timeout (on this kernel, and on one where add keeps it)', async () => {
    // The same steps through a fresh enforcer that never probed (init skipped): add + delete + add.
    const legacyPath = new NftablesEnforcer({ runner: ns, instance: 'itest', ports: [PROTECTED] });
    await legacyPath.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 5_000 }], unban: [] });
    await legacyPath.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 3_600_000 }], unban: [] });
    expect((await enf.listSet(4))[0]!.expiresS).toBeGreaterThan(3590);
    await legacyPath.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 30_000 }], unban: [] });
    expect((await enf.listSet(4))[0]!.expiresS).toBeLessThanOrEqual(30);
    await legacyPath.apply({ ban: [], unban: [{ ip: ADDR.clientV4b, family: 4 }] });

    await enf.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 5_000 }], unban: [] });
    expect((await enf.listSet(4))[0]!.expiresS).toBeLessThanOrEqual(5);
    await enf.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 3_600_000 }], unban: [] });
    expect((await enf.listSet(4))[0]!.expiresS).toBeGreaterThan(3590);
    await enf.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: null }], unban: [] });
    expect(await enf.listSet(4)).toEqual([{ ip: ADDR.clientV4b, expiresS: null }]);
    await enf.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 30_000 }], unban: [] });
    const e = (await enf.listSet(4))[0]!;
    expect(e.expiresS).not.toBeNull();
    expect(e.expiresS!).toBeLessThanOrEqual(30);
    // A ban longer than the cap is written with the cap (the daemon re-applies every 6 h).
    expect((await enf.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 400 * 86_400_000 }], unban: [] })).refused).toEqual([]);
    const capped = (await enf.listSet(4))[0]!;
    expect(capped.expiresS!).toBeGreaterThan(20 * 86_400 - 10);
    expect(capped.expiresS!).toBeLessThanOrEqual(20 * 86_400);
    await enf.apply({ ban: [], unban: [{ ip: ADDR.clientV4b, family: 4 }] });
  });

  it('lets the kernel expire a ban by itself', async () => {
    await enf.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 2000 }], unban: [] });
    expect(await from(ADDR.clientV4b, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    await until('kernel-side expiry', () => enf.listSet(4), (s) => s.length === 0, 10_000);
    expect(await from(ADDR.clientV4b)).toBe('connected');
  });

  it('init() again, by this or a new process, adopts the table: no duplicate rules, bans kept', async () => {
    book = [{ ip: ADDR.clientV4, family: 4, until: null }];
    await enf.apply({ ban: book, unban: [] });
    await enf.init();
    const restarted = new NftablesEnforcer({ runner: ns, instance: 'itest', ports: [PROTECTED], elementCheckIntervalMs: 0 });
    await restarted.init();
    await restarted.init();
    expect(await chainRules()).toEqual(ourRules(String(PROTECTED)));
    expect((await nft('list', 'tables')).split('\n').filter((l) => l.includes(TABLE))).toEqual([`table inet ${TABLE}`]);
    expect(await restarted.listSet(4)).toEqual([{ ip: ADDR.clientV4, expiresS: null }]);
    expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await restarted.check(expected)).toEqual([]);
    expect(await enf.check(expected)).toEqual([]);
  });

  it('init() with other ports rewrites the rules', async () => {
    const moved = new NftablesEnforcer({ runner: ns, instance: 'itest', ports: [PROTECTED, 9000] });
    await moved.init();
    expect(await chainRules()).toEqual(ourRules(`{ ${PROTECTED}, 9000 }`));
    await enf.init();
    expect(await chainRules()).toEqual(ourRules(String(PROTECTED)));
  });

  it('check() re-creates a deleted table with every unexpired ban', async () => {
    book = [
      { ip: ADDR.clientV4, family: 4, until: now() + 600_000 },
      { ip: ADDR.clientV6, family: 6, until: null },
      { ip: '198.18.7.7', family: 4, until: now() - 1000 },
    ];
    await enf.apply({ ban: book, unban: [] });
    await nft('delete', 'table', 'inet', TABLE);
    expect(await from(ADDR.clientV4)).toBe('connected');
    const t0 = performance.now();
    const repairs = await enf.check(expected);
    const ms = performance.now() - t0;
    console.log(`[nftables] re-created a deleted table with its bans in ${ms.toFixed(0)} ms`);
    expect(repairs[0]).toBe(`table inet ${TABLE}: table inet ${TABLE} was missing; repaired`);
    expect(repairs.slice(1)).toEqual(['set addr4 (IPv4) re-created and refilled with 1 ban(s)', 'set addr6 (IPv6) re-created and refilled with 1 ban(s)']);
    expect((await enf.listSet(4)).map((e) => e.ip)).toEqual([ADDR.clientV4]);
    expect((await enf.listSet(4))[0]!.expiresS).toBeGreaterThan(590);
    expect(await enf.listSet(6)).toEqual([{ ip: ADDR.clientV6, expiresS: null }]);
    expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await from(ADDR.clientV6, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await enf.check(expected)).toEqual([]);
  });

  it('check() refills a flushed set and removes strays', async () => {
    await nft('flush', 'set', 'inet', TABLE, 'addr4');
    await nftScript(`add element inet ${TABLE} addr6 { 2001:db8::77 }\n`);
    expect(await from(ADDR.clientV4)).toBe('connected');
    expect(await enf.check(expected)).toEqual([
      'set addr4 (IPv4): 1 missing ban(s) re-added, 0 stray element(s) removed, 0 timeout(s) corrected',
      'set addr6 (IPv6): 0 missing ban(s) re-added, 1 stray element(s) removed, 0 timeout(s) corrected',
    ]);
    expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await enf.listSet(6)).toEqual([{ ip: ADDR.clientV6, expiresS: null }]);
  });

  it('check() removes an accept rule inserted into our chain', async () => {
    await nftScript(`insert rule inet ${TABLE} input tcp dport ${PROTECTED} accept\n`);
    expect(await from(ADDR.clientV4)).toBe('connected');
    expect(await enf.check(expected)).toEqual([`table inet ${TABLE}: chain input held 5 rule(s) that are not exactly ours; repaired`]);
    expect(await chainRules()).toEqual(ourRules(String(PROTECTED)));
    expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
  });

  it('check() replaces a chain hooked elsewhere, a set with other settings and foreign objects in our table', async () => {
    await nftScript([
      `flush chain inet ${TABLE} input`,
      `delete chain inet ${TABLE} input`,
      `add chain inet ${TABLE} input { type filter hook input priority 10; policy accept; }`,
      `delete set inet ${TABLE} addr6`,
      `add set inet ${TABLE} addr6 { type ipv6_addr; flags interval; }`,
      `add set inet ${TABLE} extra { type ipv4_addr; }`,
      `add chain inet ${TABLE} sneaky { type filter hook input priority -20; policy accept; }`,
      `add rule inet ${TABLE} sneaky ip saddr @extra accept`,
      '',
    ].join('\n'));
    const repairs = await enf.check(expected);
    expect(repairs[0]).toMatch(/^table inet banhammer_itest: set addr6 had other settings \(type ipv6_addr, flags interval\); set extra is not ours; chain sneaky is not ours; chain input had another hook \(filter input priority 10 policy accept\); repaired$/);
    expect(repairs.slice(1)).toEqual(['set addr6 (IPv6) re-created and refilled with 1 ban(s)']);
    const listing = await nft('-t', 'list', 'table', 'inet', TABLE);
    expect(listing).not.toContain('sneaky');
    expect(listing).not.toContain('extra');
    expect(listing).toContain('priority filter - 10');
    expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await from(ADDR.clientV6, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    expect(await enf.check(expected)).toEqual([]);
  });

  it('isolates the elements the kernel refuses and applies the rest', async () => {
    const small = new NftablesEnforcer({ runner: ns, instance: 'small', ports: [9001], families: [4], maxElements: 3 });
    await small.init();
    const ban = Array.from({ length: 5 }, (_, i) => ({ ip: `198.19.0.${i + 1}`, family: 4 as const, until: now() + 60_000 }));
    const r = await small.apply({ ban: [...ban, { ip: '224.0.0.1', family: 4, until: null }, { ip: '2001:db8::5', family: 6, until: null }], unban: [] });
    expect(r.refused).toHaveLength(4);
    expect(r.refused.slice(0, 2)).toEqual([
      { ip: '224.0.0.1', family: 4, reason: 'a multicast address cannot be a client' },
      { ip: '2001:db8::5', family: 6, reason: 'IPv6 is not enabled for this enforcer' },
    ]);
    for (const x of r.refused.slice(2)) expect(x.reason).toMatch(/Could not process rule/);
    const held = (await small.listSet(4)).map((e) => e.ip).sort();
    expect(held).toHaveLength(3);
    expect([...held, ...r.refused.slice(2).map((x) => x.ip)].sort()).toEqual(ban.map((b) => b.ip).sort());
    await small.shutdown();
  });

  it('applies 10,000 bans in few nft processes; check() stays cheap', async () => {
    const runner = counting(ns);
    const bulk = new NftablesEnforcer({ runner, instance: 'bulk', ports: [PROTECTED] });
    await bulk.init();
    const ban = Array.from({ length: 10_000 }, (_, i) => ({ ip: `198.19.${i >> 8}.${i & 255}`, family: 4 as const, until: now() + 3_600_000 }));
    const t0 = performance.now();
    const r = await bulk.apply({ ban, unban: [] });
    const ms = performance.now() - t0;
    expect(r.refused).toEqual([]);
    // init: the setup and the three steps of the timeout-update probe; then transactions of at most
    // 10,000 element writes: 1 where add rewrites timeouts (one write per ban), else 4 (three per ban: 3,333 each).
    const updates = (bulk as unknown as { timeoutUpdates: boolean }).timeoutUpdates;
    const transactions = updates ? 1 : 4;
    expect(runner.count('nft -f -')).toBe(1 + 3 + transactions);
    expect((await bulk.listSet(4)).length).toBe(10_000);
    const bigBook = () => ban;
    await bulk.check(bigBook);
    const t1 = performance.now();
    expect(await bulk.check(bigBook)).toEqual([]);
    const checkMs = performance.now() - t1;
    console.log(`[nftables] applied 10,000 bans in ${ms.toFixed(0)} ms (${transactions} transactions, two in flight); a structural check took ${checkMs.toFixed(0)} ms`);
    await bulk.shutdown();
  });

  it('CIDR bans: a network is dropped as a whole, refreshed, repaired, and an overlapping one is refused', async () => {
    const nets = new NftablesEnforcer({ runner: ns, instance: 'cidr', ports: [OPEN], cidr: true, elementCheckIntervalMs: 0 });
    await nets.init();
    try {
      expect(await from(ADDR.clientV4, OPEN)).toBe('connected');
      // 198.18.0.2/31 holds both client addresses; 2001:db8::2/127 holds both IPv6 ones.
      const netBook: EnforcerBan[] = [
        { ip: '198.18.0.2/31', family: 4, until: now() + 600_000 },
        { ip: '2001:db8::2/127', family: 6, until: null },
      ];
      expect((await nets.apply({ ban: netBook, unban: [] })).refused).toEqual([]);
      expect(await nets.listSet(4, 'net')).toEqual([{ ip: '198.18.0.2/31', expiresS: expect.any(Number) }]);
      expect(await nets.listSet(6, 'net')).toEqual([{ ip: '2001:db8::2/127', expiresS: null }]);
      for (const src of [ADDR.clientV4, ADDR.clientV4b, ADDR.clientV6, ADDR.clientV6b]) expect(await from(src, OPEN, DROP_WAIT_MS)).toBe('timeout');
      expect(await nets.apply({ ban: [{ ip: '198.18.0.0/30', family: 4, until: null }, { ip: '0.0.0.0/0', family: 4, until: null }], unban: [] })).toEqual({
        refused: [
          { ip: '0.0.0.0/0', family: 4, reason: 'a /0 network would ban everyone' },
          { ip: '198.18.0.0/30', family: 4, reason: expect.stringMatching(/overlaps/) },
        ],
      });
      await nets.apply({ ban: [{ ip: '198.18.0.2/31', family: 4, until: now() + 3_600_000 }], unban: [] });
      expect((await nets.listSet(4, 'net'))[0]!.expiresS).toBeGreaterThan(3590);
      await nft('flush', 'set', 'inet', 'banhammer_cidr', 'net4');
      expect(await from(ADDR.clientV4b, OPEN)).toBe('connected');
      expect(await nets.check(() => netBook)).toEqual(['set net4 (IPv4): 1 missing ban(s) re-added, 0 stray element(s) removed, 0 timeout(s) corrected']);
      expect(await from(ADDR.clientV4b, OPEN, DROP_WAIT_MS)).toBe('timeout');
      await nets.apply({ ban: [], unban: [{ ip: '198.18.0.2/31', family: 4 }, { ip: '2001:db8::2/127', family: 6 }, { ip: '198.18.9.0/24', family: 4 }] });
      expect(await nets.listSet(4, 'net')).toEqual([]);
      for (const src of [ADDR.clientV4, ADDR.clientV6b]) expect(await from(src, OPEN)).toBe('connected');
    } finally {
      await nets.shutdown();
    }
  });

  it('CIDR bans close UDP as well: the clients of a banned network get no answer on the guarded port, IPv4 and IPv6', async () => {
    const nets = new NftablesEnforcer({ runner: ns, instance: 'cidru', ports: [OPEN], cidr: true });
    try {
      await nets.init();
      expect((await nets.apply({ ban: [{ ip: '198.18.0.2/31', family: 4, until: now() + 600_000 }, { ip: '2001:db8::2/127', family: 6, until: null }], unban: [] })).refused).toEqual([]);
      for (const src of [ADDR.clientV4, ADDR.clientV4b, ADDR.clientV6, ADDR.clientV6b]) {
        expect(await udp(src, OPEN, DROP_WAIT_MS)).toBe('timeout');
        // The other port, unless the itest instance bans this client there (an earlier test left one).
        if (!book.some((b) => b.ip === src)) expect(await udp(src, PROTECTED)).toBe('answered');
      }
      await nets.apply({ ban: [], unban: [{ ip: '198.18.0.2/31', family: 4 }, { ip: '2001:db8::2/127', family: 6 }] });
      for (const src of [ADDR.clientV4b, ADDR.clientV6b]) expect(await udp(src, OPEN)).toBe('answered');
    } finally {
      await nets.shutdown();
    }
  });

  it('an agent started over the TCP-only table of an older version ends with exactly the new layout, its bans kept, never letting the banned client through on TCP', async () => {
    const t = 'banhammer_upg';
    // What the previous version wrote (TCP only): its sets with a ban each, its chain with one TCP rule per set.
    await nftScript([
      `add table inet ${t}`,
      `add set inet ${t} addr4 { type ipv4_addr; flags timeout; }`,
      `add set inet ${t} addr6 { type ipv6_addr; flags timeout; }`,
      `add chain inet ${t} input { type filter hook input priority -10; policy accept; }`,
      `add rule inet ${t} input tcp dport { ${OPEN} } ip saddr @addr4 drop`,
      `add rule inet ${t} input tcp dport { ${OPEN} } ip6 saddr @addr6 drop`,
      `add element inet ${t} addr4 { ${ADDR.clientV4b} }`,
      `add element inet ${t} addr6 { ${ADDR.clientV6b} timeout 1h }`,
      '',
    ].join('\n'));
    // The escape being fixed: TCP closed, UDP open.
    expect(await from(ADDR.clientV4b, OPEN, DROP_WAIT_MS)).toBe('timeout');
    expect(await udp(ADDR.clientV4b, OPEN)).toBe('answered');

    const upg = new NftablesEnforcer({ runner: ns, instance: 'upg', ports: [OPEN], elementCheckIntervalMs: 0 });
    // While it starts, the banned client keeps trying TCP (at most 40 tries, at most 20 s).
    let starting = true;
    const tries: string[] = [];
    const probing = (async () => {
      const end = Date.now() + 20_000;
      while (starting && tries.length < 40 && Date.now() < end) tries.push(await from(ADDR.clientV4b, OPEN, 300));
    })();
    try {
      await upg.init();
    } finally {
      starting = false;
      await probing;
    }
    expect(tries.length).toBeGreaterThan(0);
    expect(tries.filter((x) => x !== 'timeout')).toEqual([]);
    // Exactly the new layout: the same sets and chain, a TCP and a UDP rule per set, nothing else.
    const listing = (await nft('-t', 'list', 'table', 'inet', t)).split('\n').map((l) => l.trim()).filter((l) => l !== '');
    expect(listing).toEqual([
      `table inet ${t} {`,
      'set addr4 {',
      'type ipv4_addr',
      'flags timeout',
      '}',
      'set addr6 {',
      'type ipv6_addr',
      'flags timeout',
      '}',
      'chain input {',
      'type filter hook input priority filter - 10; policy accept;',
      `tcp dport ${OPEN} ip saddr @addr4 drop`,
      `udp dport ${OPEN} ip saddr @addr4 drop`,
      `tcp dport ${OPEN} ip6 saddr @addr6 drop`,
      `udp dport ${OPEN} ip6 saddr @addr6 drop`,
      '}',
      '}',
    ]);
    // The bans of the old run are kept, and now hold over UDP too.
    expect(await upg.listSet(4)).toEqual([{ ip: ADDR.clientV4b, expiresS: null }]);
    expect((await upg.listSet(6)).map((e) => e.ip)).toEqual([ADDR.clientV6b]);
    for (const src of [ADDR.clientV4b, ADDR.clientV6b]) {
      expect(await udp(src, OPEN, DROP_WAIT_MS)).toBe('timeout');
      expect(await from(src, OPEN, DROP_WAIT_MS)).toBe('timeout');
    }
    expect(await udp(ADDR.clientV6, OPEN)).toBe('answered');
    const upgBook: EnforcerBan[] = [{ ip: ADDR.clientV4b, family: 4, until: null }, { ip: ADDR.clientV6b, family: 6, until: now() + 3_600_000 }];
    expect(await upg.check(() => upgBook)).toEqual([]);
    await upg.shutdown();
    expect(await nft('list', 'tables')).not.toContain(t);
    expect(await udp(ADDR.clientV4b, OPEN)).toBe('answered');
  });

  it('shutdown() removes exactly its own table', async () => {
    await nftScript('add table inet unrelated\nadd chain inet unrelated c { type filter hook input priority 0; policy accept; }\n');
    await enf.shutdown();
    const tables = (await nft('list', 'tables')).trim().split('\n');
    expect(tables).not.toContain(`table inet ${TABLE}`);
    expect(tables).toContain('table inet banhammer_other');
    expect(tables).toContain('table inet unrelated');
    expect(await from(ADDR.clientV4)).toBe('connected');
    await enf.shutdown();
    await other.shutdown();
    expect((await nft('list', 'tables'))).not.toContain('banhammer_');
    expect(await nft('list', 'tables')).toContain('table inet unrelated');
  });
});

describe.skipIf(skip !== null)('NftablesEnforcer errors in a namespace', () => {
  let lab: Lab | undefined;
  afterAll(async () => {
    await lab?.destroy();
  });
  beforeAll(async () => {
    lab = await createLab();
  });

  it('reports missing NET_ADMIN as such', async () => {
    const dropped = withPrefix(new ProcessRunner(), ['ip', 'netns', 'exec', lab!.server, 'capsh', '--drop=cap_net_admin', '--']);
    // capsh runs "--" arguments through /bin/bash: give it a script that execs argv verbatim.
    const runner: Runner = { run: (cmd, args, opts) => dropped.run('-c', ['exec "$0" "$@"', cmd, ...args], opts) };
    expect(await nftablesUnavailable(lab!.runIn(lab!.server))).toBeNull();
    expect(await nftablesUnavailable(runner)).toMatch(/not allowed to change the firewall/);
    const enf = new NftablesEnforcer({ runner, instance: 'nocap', ports: [80] });
    const e = await enf.init().then(() => undefined, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'BH_ERR_NO_NET_ADMIN', hint: expect.stringContaining('NET_ADMIN') });
    expect((e as Error).message.split('\n')).toHaveLength(1);
  });

  it('reports a missing nft binary with the package to install', async () => {
    const enf = new NftablesEnforcer({ runner: lab!.runIn(lab!.server), instance: 'nobin', ports: [80], nftBinary: 'nft-not-installed' });
    await expect(enf.init()).rejects.toMatchObject({ code: 'BH_ERR_MISSING_BINARY', hint: expect.stringContaining('nftables') });
  });
});

/**
 * Host mode against the real kernel. A star of namespaces: the "server" one plays the Docker host
 * (routes, DNATs published ports in an nftables nat table as Docker's nftables backend does: no
 * DOCKER-USER chain anywhere), clients 1 and 2 are the attacker and a legitimate client, 3 and 4 the
 * containers X and Y (a TCP server on :80 and a UDP echo server on :443 each, as for HTTP/3).
 *
 *   attacker 198.18.1.2 ─┐  host: :8081 → X 198.18.3.2:80,  :8082 → Y 198.18.4.2:80
 *   client   198.18.2.2 ─┘        udp :8081 → X :443, udp :8082 → Y :443 (IPv6 the same in 2001:db8:i::/64)
 *
 * The attacker's address also runs servers a container may use itself (an upstream: TCP :5432 as a
 * database, UDP echo :5353 as a resolver), and X and Y a TCP echo server on :7; the host routes
 * between all of them, so the attacker also reaches X at X's own address (no DNAT) and X reaches
 * the attacker's servers, as a container reaches the Internet.
 */
const node = process.execPath;
const X = 'a1'.repeat(32);
const Y = 'b2'.repeat(32);
const PORT_X = 8081;
const PORT_Y = 8082;
const H_TABLE = 'banhammer_h1n';

const SERVER = `
const net = require('node:net');
net.createServer((s) => { s.on('error', () => {}); s.end('hi\\n'); })
  .listen({ port: 80, host: '::', ipv6Only: false }, () => console.log('ready'));
`;
const CLIENT = `
const net = require('node:net');
const [host, port, localAddress, timeout] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), localAddress });
const done = (r) => { console.log(r); s.destroy(); process.exit(0); };
s.setTimeout(Number(timeout), () => done('timeout'));
s.on('connect', () => done('connected'));
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error:' + e.code));
`;

describe.skipIf(skip !== null)(`NftablesEnforcer host mode in network namespaces${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let star: Star<'attacker' | 'client' | 'x' | 'y'> | undefined;
  let host: Runner;
  let enf: NftablesEnforcer;
  const containers = new Map<string, ContainerInfo>();
  const notes: string[] = [];
  let book: EnforcerBan[] = [];
  const nft = async (...args: string[]) => (await host.run('nft', args)).stdout;
  const nftScript = (text: string) => host.run('nft', ['-f', '-'], { input: text });
  const natScript = (xv4: string, xv6: string): string => {
    const s = star!.clients;
    return [
      'table ip bh_nat { chain prerouting { type nat hook prerouting priority dstnat; policy accept; }; }',
      'flush chain ip bh_nat prerouting',
      `add rule ip bh_nat prerouting tcp dport ${PORT_X} dnat to ${xv4}:80`,
      `add rule ip bh_nat prerouting tcp dport ${PORT_Y} dnat to ${s.y.v4[0]}:80`,
      `add rule ip bh_nat prerouting udp dport ${PORT_X} dnat to ${xv4}:443`,
      `add rule ip bh_nat prerouting udp dport ${PORT_Y} dnat to ${s.y.v4[0]}:443`,
      'table ip6 bh_nat { chain prerouting { type nat hook prerouting priority dstnat; policy accept; }; }',
      'flush chain ip6 bh_nat prerouting',
      `add rule ip6 bh_nat prerouting tcp dport ${PORT_X} dnat to [${xv6}]:80`,
      `add rule ip6 bh_nat prerouting tcp dport ${PORT_Y} dnat to [${s.y.v6[0]}]:80`,
      `add rule ip6 bh_nat prerouting udp dport ${PORT_X} dnat to [${xv6}]:443`,
      `add rule ip6 bh_nat prerouting udp dport ${PORT_Y} dnat to [${s.y.v6[0]}]:443`,
      '',
    ].join('\n');
  };
  /** One connection from the attacker or the client to a published port of the host. */
  const conn = async (who: 'attacker' | 'client', port: number, f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
    const c = star!.clients[who];
    const out = await star!.runIn(c.ns).run(node, ['-e', CLIENT, f === 4 ? c.serverV4 : c.serverV6, String(port), f === 4 ? c.v4[0] : c.v6[0], String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
    return out.stdout.trim();
  };
  /** One UDP datagram from the attacker or the client to a published port of the host. */
  const dgram = (who: 'attacker' | 'client', port: number, f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
    const c = star!.clients[who];
    return udpProbe(star!.runIn(c.ns), { to: f === 4 ? c.serverV4 : c.serverV6, port, from: f === 4 ? c.v4[0] : c.v6[0], timeoutMs });
  };
  const soon = () => Date.now() + 600_000;
  /** The upstream servers at the attacker's address, and the containers' TCP echo port. */
  const UP_TCP = 5432;
  const UP_UDP = 5353;
  const ECHO = 7;
  /** A connection container X (or Y) opens itself to the server at the attacker's address: TCP, or one UDP datagram. */
  const outbound = (from: 'x' | 'y', proto: 'tcp' | 'udp', f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
    const c = star!.clients[from];
    const a = star!.clients.attacker;
    const opts = { to: f === 4 ? a.v4[0] : a.v6[0], from: f === 4 ? c.v4[0] : c.v6[0], timeoutMs };
    return proto === 'tcp' ? tcpProbe(star!.runIn(c.ns), { ...opts, port: UP_TCP }) : udpProbe(star!.runIn(c.ns), { ...opts, port: UP_UDP });
  };
  /** The attacker straight to X's own address (routed by the host, no DNAT): TCP :80, or one UDP datagram to :443. */
  const direct = (proto: 'tcp' | 'udp', f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
    const a = star!.clients.attacker;
    const x = star!.clients.x;
    const opts = { to: f === 4 ? x.v4[0] : x.v6[0], from: f === 4 ? a.v4[0] : a.v6[0], timeoutMs };
    return proto === 'tcp' ? tcpProbe(star!.runIn(a.ns), { ...opts, port: 80 }) : udpProbe(star!.runIn(a.ns), { ...opts, port: 443 });
  };
  /** The attacker's bans, scoped to X and host-wide (IPv4 and IPv6). */
  const attackerBans = (scope: string | undefined): EnforcerBan[] => {
    const a = star!.clients.attacker;
    return [{ ip: a.v4[0], family: 4, until: soon(), scope }, { ip: a.v6[0], family: 6, until: null, scope }];
  };

  beforeAll(async () => {
    star = await createStar(['attacker', 'client', 'x', 'y'] as const);
    host = star.runIn(star.server);
    await host.run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await host.run('sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
    for (const c of Object.values(star.clients)) {
      const r = star.runIn(c.ns);
      await r.run('ip', ['route', 'add', 'default', 'via', c.serverV4]);
      await r.run('ip', ['-6', 'route', 'add', 'default', 'via', c.serverV6]);
    }
    for (const [name, argv] of [
      ['x', [node, '-e', SERVER]],
      ['y', [node, '-e', SERVER]],
      ['x', [node, '-e', UDP_ECHO_SERVER, '443']],
      ['y', [node, '-e', UDP_ECHO_SERVER, '443']],
      ['x', [node, '-e', TCP_ECHO_SERVER, String(ECHO)]],
      ['y', [node, '-e', TCP_ECHO_SERVER, String(ECHO)]],
      ['attacker', [node, '-e', TCP_SERVER, String(UP_TCP)]],
      ['attacker', [node, '-e', UDP_ECHO_SERVER, String(UP_UDP)]],
    ] as const) {
      const child = star.spawnIn(star.clients[name].ns, argv);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('test server did not start')), 15_000);
        child.stdout?.on('data', (b: Buffer) => {
          if (b.toString().includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`test server exited with ${code}`));
        });
      });
    }
    const { x, y } = star.clients;
    await nftScript(natScript(x.v4[0], x.v6[0]));
    containers.set(X, { id: X, name: 'web-x', v4: [x.v4[0]], v6: [x.v6[0]] });
    containers.set(Y, { id: Y, name: 'web-y', v4: [y.v4[0]], v6: [y.v6[0]] });
    enf = new NftablesEnforcer({
      runner: host,
      instance: 'h1n',
      ports: [],
      host: { containers: { info: (id) => containers.get(id) ?? null }, onNote: (m) => notes.push(m) },
      elementCheckIntervalMs: 0,
    });
    await enf.init();
  });

  afterAll(async () => {
    await star?.destroy();
  });

  it('init adds one forward chain of our own and lets everyone through', async () => {
    const chain = await nft('list', 'chain', 'inet', H_TABLE, 'forward');
    expect(chain).toContain('type filter hook forward priority filter - 10; policy accept;');
    // The return for replies first, as nft prints it; then the host-wide drops.
    expect(chain.split('\n').map((l) => l.trim()).filter((l) => /^(ct|meta|ip)/.test(l))).toEqual([
      'ct direction reply return',
      'meta l4proto tcp ip saddr @addr4 drop',
      'meta l4proto udp ip saddr @addr4 drop',
      'meta l4proto tcp ip6 saddr @addr6 drop',
      'meta l4proto udp ip6 saddr @addr6 drop',
    ]);
    expect(await nft('list', 'tables')).not.toMatch(/DOCKER-USER/);
    for (const port of [PORT_X, PORT_Y]) {
      expect(await conn('attacker', port)).toBe('connected');
      expect(await conn('client', port)).toBe('connected');
    }
    // A check right after init finds nothing to repair.
    expect(await enf.check(() => book)).toEqual([]);
  });

  it('a ban blocks what the banned address starts, never the replies to connections a container opened towards it (scoped and host-wide, TCP and UDP, IPv4 and IPv6)', async () => {
    for (const f of [4, 6] as const) {
      expect(await outbound('x', 'tcp', f)).toBe('connected');
      expect(await outbound('x', 'udp', f)).toBe('answered');
    }
    const scoped = attackerBans(X);
    expect((await enf.apply({ ban: scoped, unban: [] })).refused).toEqual([]);
    for (const f of [4, 6] as const) {
      expect(await conn('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await dgram('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await direct('tcp', f, DROP_WAIT_MS)).toBe('timeout');
      // X's own connections to the banned address: its answers are delivered.
      expect(await outbound('x', 'tcp', f)).toBe('connected');
      expect(await outbound('x', 'udp', f)).toBe('answered');
    }
    const wide = attackerBans(undefined);
    expect((await enf.apply({ ban: wide, unban: [] })).refused).toEqual([]);
    for (const f of [4, 6] as const) {
      expect(await conn('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await dgram('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
      for (const c of ['x', 'y'] as const) {
        expect(await outbound(c, 'tcp', f)).toBe('connected');
        expect(await outbound(c, 'udp', f)).toBe('answered');
      }
      expect(await conn('client', PORT_Y, f)).toBe('connected');
    }
    expect(await enf.check(() => [...scoped, ...wide])).toEqual([]);
    await enf.apply({ ban: [], unban: [...scoped, ...wide] });
    expect(await enf.check(() => [])).toEqual([]);
    expect(await conn('attacker', PORT_X)).toBe('connected');
  }, 60_000);

  it('a TCP connection or UDP flow the banned address started before its ban is cut by the ban (scoped and host-wide, IPv4 and IPv6)', async () => {
    const a = star!.clients.attacker;
    const x = star!.clients.x;
    for (const scope of [X, undefined]) {
      for (const f of [4, 6] as const) {
        for (const proto of ['tcp', 'udp'] as const) {
          const bans = attackerBans(scope).filter((b) => b.family === f);
          const r = await session((argv) => star!.spawnIn(a.ns, argv), {
            proto,
            to: f === 4 ? x.v4[0] : x.v6[0],
            port: proto === 'tcp' ? ECHO : 443,
            from: f === 4 ? a.v4[0] : a.v6[0],
            timeoutMs: 1000,
          }, () => enf.apply({ ban: bans, unban: [] }));
          expect(r, `${proto} IPv${f} ${scope === undefined ? 'host-wide' : 'scoped'}`).toEqual({ first: 'answered', second: 'timeout' });
          await enf.apply({ ban: [], unban: bans });
        }
      }
    }
    expect(await enf.check(() => [])).toEqual([]);
  }, 60_000);

  it('a packet conntrack does not track (a raw-table notrack rule for the banned client) is still dropped', async () => {
    const a = star!.clients.attacker;
    // Untracked packets get no DNAT: the attacker reaches X at X's own address, routed by the host.
    await nftScript([
      'add table inet bh_raw',
      'add chain inet bh_raw pre { type filter hook prerouting priority raw; policy accept; }',
      `add rule inet bh_raw pre ip saddr ${a.v4[0]} notrack`,
      `add rule inet bh_raw pre ip6 saddr ${a.v6[0]} notrack`,
      '',
    ].join('\n'));
    try {
      for (const f of [4, 6] as const) {
        expect(await direct('tcp', f)).toBe('connected');
        expect(await direct('udp', f)).toBe('answered');
      }
      for (const scope of [X, undefined]) {
        const bans = attackerBans(scope);
        await enf.apply({ ban: bans, unban: [] });
        for (const f of [4, 6] as const) {
          expect(await direct('tcp', f, DROP_WAIT_MS)).toBe('timeout');
          expect(await direct('udp', f, DROP_WAIT_MS)).toBe('timeout');
        }
        // Its answers to X's own connections are untracked too, so they are dropped as before: the safe side.
        expect(await outbound('x', 'tcp', 4, DROP_WAIT_MS)).toBe('timeout');
        await enf.apply({ ban: [], unban: bans });
      }
    } finally {
      await nft('delete', 'table', 'inet', 'bh_raw');
    }
    expect(await enf.check(() => [])).toEqual([]);
    expect(await conn('attacker', PORT_X)).toBe('connected');
  }, 60_000);

  it('check() puts the return for replies back when it goes, and finds nothing more to repair after', async () => {
    const wide = attackerBans(undefined);
    await enf.apply({ ban: wide, unban: [] });
    const listed = (await nft('-a', 'list', 'chain', 'inet', H_TABLE, 'forward')).split('\n').map((l) => l.trim());
    const handle = /^ct direction reply return # handle (\d+)$/.exec(listed.find((l) => l.startsWith('ct direction')) ?? '')?.[1];
    expect(handle).toMatch(/^\d+$/);
    await nft('delete', 'rule', 'inet', H_TABLE, 'forward', 'handle', handle!);
    // The bug this rule fixes: X cannot reach its upstream at the banned address.
    expect(await outbound('x', 'tcp', 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await enf.check(() => wide)).toEqual([`table inet ${H_TABLE}: chain forward held 4 rule(s) that are not exactly ours; repaired`]);
    expect(await outbound('x', 'tcp')).toBe('connected');
    expect(await outbound('x', 'udp', 6)).toBe('answered');
    expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await enf.check(() => wide)).toEqual([]);
    await enf.apply({ ban: [], unban: wide });
    expect(await enf.check(() => [])).toEqual([]);
  });

  it('a ban scoped to X drops the attacker’s forwarded traffic to X only (IPv4 and IPv6)', async () => {
    const a = star!.clients.attacker;
    book = [
      { ip: a.v4[0], family: 4, until: soon(), scope: X },
      { ip: a.v6[0], family: 6, until: null, scope: X },
    ];
    expect((await enf.apply({ ban: book, unban: [] })).refused).toEqual([]);
    expect(enf.containers()).toEqual([X]);
    for (const f of [4, 6] as const) {
      expect(await conn('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_Y, f)).toBe('connected');
      expect(await conn('client', PORT_X, f)).toBe('connected');
    }
    expect((await enf.listSet(4, { container: X })).map((e) => e.ip)).toEqual([a.v4[0]]);
    expect(await enf.listSet(4)).toEqual([]);
    expect(await enf.check(() => book)).toEqual([]);
  });

  it('bans close the container’s UDP as well (HTTP/3): scoped to X, X only; host-wide, every container (IPv4 and IPv6)', async () => {
    // X's scoped bans of the attacker (IPv4 and IPv6) from the test before are in force.
    const a = star!.clients.attacker;
    for (const f of [4, 6] as const) {
      expect(await dgram('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await dgram('attacker', PORT_Y, f)).toBe('answered');
      expect(await dgram('client', PORT_X, f)).toBe('answered');
    }
    const wide: EnforcerBan[] = [{ ip: a.v4[0], family: 4, until: soon() }, { ip: a.v6[0], family: 6, until: null }];
    expect((await enf.apply({ ban: wide, unban: [] })).refused).toEqual([]);
    for (const f of [4, 6] as const) {
      expect(await dgram('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await dgram('client', PORT_Y, f)).toBe('answered');
    }
    expect(await enf.check(() => [...book, ...wide])).toEqual([]);
    await enf.apply({ ban: [], unban: wide });
    for (const f of [4, 6] as const) expect(await dgram('attacker', PORT_Y, f)).toBe('answered');
    expect(await enf.check(() => book)).toEqual([]);
  });

  it('a host-wide ban drops both; unbans lift exactly what they name', async () => {
    const a = star!.clients.attacker;
    await enf.apply({ ban: [{ ip: a.v4[0], family: 4, until: null }], unban: [] });
    expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await conn('attacker', PORT_Y, 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await conn('client', PORT_Y)).toBe('connected');
    await enf.apply({ ban: [], unban: [{ ip: a.v4[0], family: 4 }] });
    expect(await conn('attacker', PORT_Y)).toBe('connected');
    expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    await enf.apply({ ban: [], unban: [{ ip: a.v4[0], family: 4, scope: X }, { ip: a.v4[0], family: 4, scope: Y }] });
    expect(await conn('attacker', PORT_X)).toBe('connected');
    book = book.filter((b) => b.family === 6);
    expect(await enf.check(() => book)).toEqual([]);
  });

  it('check() follows a restarted container to its new address', async () => {
    const a = star!.clients.attacker;
    const x = star!.clients.x;
    book = [...book, { ip: a.v4[0], family: 4, until: soon(), scope: X }];
    await enf.apply({ ban: book, unban: [] });
    // "docker restart": X now has another address and the DNAT points there.
    // (createStar gave X's namespace a second address, x.v4[1], from the start.)
    await nftScript(natScript(x.v4[1], x.v6[0]));
    containers.set(X, { id: X, name: 'web-x', v4: [x.v4[1]], v6: [x.v6[0]] });
    expect(await conn('attacker', PORT_X, 4, 1000)).toBe('connected');
    notes.length = 0;
    expect(await enf.check(() => book)).toEqual([]);
    expect(notes).toEqual([`container web-x (${X.slice(0, 12)}) addresses changed from ${x.v4[0]} ${x.v6[0]} to ${x.v4[1]} ${x.v6[0]}; its bans now apply to the new addresses`]);
    expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await conn('client', PORT_X)).toBe('connected');
  });

  it('check() re-creates a deleted table with the containers’ sets, rules and bans', async () => {
    await nft('delete', 'table', 'inet', H_TABLE);
    expect(await conn('attacker', PORT_X)).toBe('connected');
    const repairs = await enf.check(() => book);
    expect(repairs[0]).toBe(`table inet ${H_TABLE}: table inet ${H_TABLE} was missing; repaired`);
    expect(repairs).toContain(`set c_${X.slice(0, 16)}_4 (IPv4) re-created and refilled with 1 ban(s)`);
    expect(repairs).toContain(`set c_${X.slice(0, 16)}_6 (IPv6) re-created and refilled with 1 ban(s)`);
    expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await conn('attacker', PORT_X, 6, DROP_WAIT_MS)).toBe('timeout');
    expect(await conn('attacker', PORT_Y)).toBe('connected');
    expect(await enf.check(() => book)).toEqual([]);
  });

  it('a new process adopts the table: container sets of the old run go, the re-apply brings them back', async () => {
    const again = new NftablesEnforcer({ runner: host, instance: 'h1n', ports: [], host: { containers: { info: (id) => containers.get(id) ?? null } } });
    await again.init();
    expect(await nft('list', 'table', 'inet', H_TABLE)).not.toContain('c_');
    await again.apply({ ban: book, unban: [] });
    expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await again.check(() => book)).toEqual([]);
    await enf.init();
    await enf.apply({ ban: book, unban: [] });
  });

  it('check() lets a container go once none of its bans is in force (its sets and rules); its next ban brings them back', async () => {
    const a = star!.clients.attacker;
    const yBan = { ip: a.v4[0], family: 4 as const, until: soon(), scope: Y };
    book = [...book, yBan];
    await enf.apply({ ban: [yBan], unban: [] });
    expect(enf.containers()).toEqual([X, Y].sort());
    expect(await conn('attacker', PORT_Y, 4, DROP_WAIT_MS)).toBe('timeout');
    // Y's ban ends in the book (expired): its sets and rules go; X, whose bans hold, stays.
    book = book.map((b) => (b === yBan ? { ...b, until: Date.now() - 1 } : b));
    expect(await enf.check(() => book)).toEqual([]);
    expect(enf.containers()).toEqual([X]);
    const table = await nft('list', 'table', 'inet', H_TABLE);
    expect(table).not.toContain(`c_${Y.slice(0, 16)}`);
    expect(table).toContain(`c_${X.slice(0, 16)}`);
    expect(await conn('attacker', PORT_Y)).toBe('connected');
    expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    expect(await enf.check(() => book)).toEqual([]);
    // The next ban brings them back.
    book = book.filter((b) => b.scope !== Y);
    await enf.apply({ ban: [yBan], unban: [] });
    expect(enf.containers()).toEqual([X, Y].sort());
    expect(await conn('attacker', PORT_Y, 4, DROP_WAIT_MS)).toBe('timeout');
    await enf.apply({ ban: [], unban: [{ ip: a.v4[0], family: 4, scope: Y }] });
    expect(await enf.check(() => book)).toEqual([]);
    expect(enf.containers()).toEqual([X]);
  });

  it('an agent started over the forward chain of the previous version (no return for replies) ends with exactly the new layout, never letting the banned client through', async () => {
    const t = 'banhammer_h1u';
    const a = star!.clients.attacker;
    const x = star!.clients.x;
    const cx = (f: 4 | 6) => `c_${X.slice(0, 16)}_${f}`;
    // What the previous version wrote: host-wide sets with the attacker's bans, X's sets with its ban
    // of the attacker, and a chain that dropped every forwarded packet from a banned source.
    await nftScript([
      `add table inet ${t}`,
      `add set inet ${t} addr4 { type ipv4_addr; flags timeout; }`,
      `add set inet ${t} addr6 { type ipv6_addr; flags timeout; }`,
      `add set inet ${t} ${cx(4)} { type ipv4_addr; flags timeout; }`,
      `add set inet ${t} ${cx(6)} { type ipv6_addr; flags timeout; }`,
      `add chain inet ${t} forward { type filter hook forward priority -10; policy accept; }`,
      `add rule inet ${t} forward meta l4proto tcp ip saddr @addr4 drop`,
      `add rule inet ${t} forward meta l4proto udp ip saddr @addr4 drop`,
      `add rule inet ${t} forward meta l4proto tcp ip6 saddr @addr6 drop`,
      `add rule inet ${t} forward meta l4proto udp ip6 saddr @addr6 drop`,
      `add rule inet ${t} forward ip daddr ${x.v4[0]} meta l4proto tcp ip saddr @${cx(4)} drop`,
      `add rule inet ${t} forward ip daddr ${x.v4[0]} meta l4proto udp ip saddr @${cx(4)} drop`,
      `add element inet ${t} addr4 { ${a.v4[0]} }`,
      `add element inet ${t} addr6 { ${a.v6[0]} timeout 1h }`,
      `add element inet ${t} ${cx(4)} { ${a.v4[0]} }`,
      '',
    ].join('\n'));
    // The bug being fixed: the containers cannot reach their upstream at the banned address.
    for (const f of [4, 6] as const) {
      expect(await outbound('x', 'tcp', f, DROP_WAIT_MS)).toBe('timeout');
      expect(await outbound('y', 'udp', f, DROP_WAIT_MS)).toBe('timeout');
    }
    const upg = new NftablesEnforcer({ runner: host, instance: 'h1u', ports: [], host: { containers: { info: (id) => containers.get(id) ?? null } }, elementCheckIntervalMs: 0 });
    // While it starts, the banned client keeps trying TCP (at most 40 tries, at most 20 s).
    let starting = true;
    const tries: string[] = [];
    const probing = (async () => {
      const end = Date.now() + 20_000;
      while (starting && tries.length < 40 && Date.now() < end) tries.push(await conn('attacker', PORT_Y, 4, 300));
    })();
    try {
      await upg.init();
    } finally {
      starting = false;
      await probing;
    }
    expect(tries.length).toBeGreaterThan(0);
    expect(tries.filter((r) => r !== 'timeout')).toEqual([]);
    // Exactly the new layout: the host-wide sets (the container sets of the old run go: the daemon's
    // re-apply brings them back), the return for replies, then the host-wide drops.
    const listing = (await nft('-t', 'list', 'table', 'inet', t)).split('\n').map((l) => l.trim()).filter((l) => l !== '');
    expect(listing).toEqual([
      `table inet ${t} {`,
      'set addr4 {',
      'type ipv4_addr',
      'flags timeout',
      '}',
      'set addr6 {',
      'type ipv6_addr',
      'flags timeout',
      '}',
      'chain forward {',
      'type filter hook forward priority filter - 10; policy accept;',
      'ct direction reply return',
      'meta l4proto tcp ip saddr @addr4 drop',
      'meta l4proto udp ip saddr @addr4 drop',
      'meta l4proto tcp ip6 saddr @addr6 drop',
      'meta l4proto udp ip6 saddr @addr6 drop',
      '}',
      '}',
    ]);
    expect(await upg.listSet(4)).toEqual([{ ip: a.v4[0], expiresS: null }]);
    expect((await upg.listSet(6)).map((e) => e.ip)).toEqual([a.v6[0]]);
    const upgBook: EnforcerBan[] = [
      { ip: a.v4[0], family: 4, until: null },
      { ip: a.v6[0], family: 6, until: Date.now() + 3_600_000 },
      { ip: a.v4[0], family: 4, until: null, scope: X },
    ];
    // A check right after init repairs nothing but X's sets, which the re-apply has not brought back yet.
    expect(await upg.check(() => upgBook.filter((b) => b.scope === undefined))).toEqual([]);
    expect((await upg.apply({ ban: upgBook.filter((b) => b.scope !== undefined), unban: [] })).refused).toEqual([]);
    expect(await upg.check(() => upgBook)).toEqual([]);
    for (const f of [4, 6] as const) {
      for (const c of ['x', 'y'] as const) {
        expect(await outbound(c, 'tcp', f)).toBe('connected');
        expect(await outbound(c, 'udp', f)).toBe('answered');
      }
      for (const port of [PORT_X, PORT_Y]) expect(await dgram('attacker', port, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('client', PORT_Y, f)).toBe('connected');
    }
    await upg.shutdown();
    expect(await nft('list', 'tables')).not.toContain(t);
  }, 60_000);

  it('shutdown() removes our table only; Docker’s (here: the nat tables) stays', async () => {
    await enf.shutdown();
    const tables = await nft('list', 'tables');
    expect(tables).not.toContain(H_TABLE);
    expect(tables).toContain('table ip bh_nat');
    expect(tables).toContain('table ip6 bh_nat');
    expect(await conn('attacker', PORT_X)).toBe('connected');
  });
});
