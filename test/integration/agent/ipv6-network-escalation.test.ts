/**
 * IPv6 network escalation (BANHAMMER_IPV6_NETWORK_BAN_AFTER, decide/network-escalation.ts) end to end
 * with the real kernel: a real agent in a network namespace (fixture.ts) reads 403 lines, appended to
 * its access log, from three addresses of 2001:db8:5:6::/64 and bans each; the third ban makes it ban
 * the network, which the kernel then holds (nftables: an interval element of the `net6` set; iptables:
 * an entry of the hash:net set), so that a fourth address of that /64, never seen in the log, is
 * dropped on the protected port by the kernel (a real connection from the attacker namespace), while
 * an address of the next /64 (2001:db8:5:7::1) is not. With the setting at its default (0) the same
 * lines ban the three addresses and no network.
 *
 * The attacker namespace holds the fourth address and the other /64's address on its loopback; the
 * server namespace routes 2001:db8:5::/48 back to it. Only 198.18.0.0/15 and 2001:db8::/32 are used.
 * Every lab (namespaces, Apache, agent, temp dir) is destroyed in afterAll, processes by pid.
 */
import { readFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nftNames } from '../../../src/enforce/nft-args.js';
import { parseSetSave } from '../../../src/enforce/iptables-args.js';
import { tcpProbe } from '../netns.js';
import { OPEN, PROTECTED, agentLabUnavailable, apacheTime, createAgentLab, until, type AgentLab, type AgentProcess } from './fixture.js';

const { skip, mode } = await agentLabUnavailable();
const nftMissing = spawnSync('nft', ['--version']).status !== 0;
const nftWhy = skip ?? (nftMissing ? 'nft is not installed (apt-get install nftables)' : null);

const NET = '2001:db8:5:6::/64';
/** The addresses whose 403 lines are written to the log (and which get banned one by one). */
const LOGGED = ['2001:db8:5:6::a', '2001:db8:5:6::b', '2001:db8:5:6::c'] as const;
/** An address of NET that never appears in the log before the network is banned. */
const FOURTH = '2001:db8:5:6::4';
/** An address of the next /64. */
const OTHER = '2001:db8:5:7::1';
/** A port nothing listens on in the server namespace: a TCP probe there is refused, and logged nowhere. */
const CLOSED = 8089;

/** 6 × 403 (the fixture's BANHAMMER_MAXRETRY) for `ip`, stamped now. */
const lines403 = (ip: string): string[] =>
  Array.from({ length: 6 }, (_, i) => `${ip} - - ${apacheTime(Date.now())} "GET /forbidden/${i} HTTP/1.1" 403 199 "-" "escalation-test/1.0"`);

/** Puts FOURTH and OTHER on the attacker's loopback and routes their networks back from the server. */
async function addWalkingClient(lab: AgentLab): Promise<void> {
  const a = lab.star.runIn(lab.attacker.ns);
  for (const ip of [FOURTH, OTHER]) await a.run('ip', ['-6', 'addr', 'add', `${ip}/128`, 'dev', 'lo', 'nodad']);
  await lab.inServer('ip', ['-6', 'route', 'add', '2001:db8:5::/48', 'via', lab.attacker.v6[0]]);
  // Round trip from each address before anything is banned, without a request Apache would log.
  for (const from of [FOURTH, OTHER]) {
    const r = await until('route from ' + from, () => tcpProbe(a, { to: lab.attacker.serverV6, port: CLOSED, from, timeoutMs: 1000 }), (v) => v === 'refused', 10_000, 100);
    expect(r).toBe('refused');
  }
}

/** HTTP status of GET /ok from `from` (an address of the attacker namespace); '000' when nothing answered within 2 s. */
async function curlFrom(lab: AgentLab, from: string, port = PROTECTED): Promise<string> {
  const args = ['-g', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', '--interface', from, `http://[${lab.attacker.serverV6}]:${port}/ok`];
  const r = await lab.star.runIn(lab.attacker.ns).run('curl', args, { okExitCodes: [0, 7, 28], timeoutMs: 20_000 });
  return r.stdout.trim();
}

const banned = async (lab: AgentLab): Promise<string[]> => (await lab.status('forbidden')).rules[0]!.bannedIps;

/** Whether any line of the access log comes from `ip`. */
const inAccessLog = async (lab: AgentLab, ip: string): Promise<boolean> =>
  (await readFile(lab.accessLog, 'utf8')).split('\n').some((l) => l.startsWith(`${ip} `));

/** The kernel side of one enforcer: its network set's entries, and whether an address falls in one. */
interface KernelView {
  /** Entries of the IPv6 network set: network and seconds left (null: not shown). */
  nets(): Promise<{ net: string; left: number | null }[]>;
  /** Whether the kernel's IPv6 network set holds an element covering `ip`. */
  covers(ip: string): Promise<boolean>;
  /** Entries of the IPv6 address set. */
  addrs(): Promise<string[]>;
}

/** `1h`, `59m59s`, `59m58s123ms`, as nft prints them → seconds. */
function nftSeconds(s: string): number {
  let total = 0;
  for (const [, n, u] of s.matchAll(/(\d+)(ms|d|h|m|s)/g)) total += Number(n) * ({ d: 86_400, h: 3600, m: 60, s: 1, ms: 0.001 } as Record<string, number>)[u!]!;
  return total;
}

function nftView(lab: AgentLab): KernelView {
  const { table, nets, sets } = nftNames(lab.instance);
  const list = async (set: string) => (await lab.inServer('nft', ['list', 'set', 'inet', table, set], [0, 1])).stdout;
  const elements = (text: string): string[] => {
    const m = /elements = \{([^}]*)\}/s.exec(text);
    return m === null ? [] : m[1]!.split(',').map((e) => e.trim()).filter((e) => e !== '');
  };
  return {
    async nets() {
      return elements(await list(nets[6])).map((e) => {
        const f = e.split(/\s+/);
        const ex = f.indexOf('expires');
        return { net: f[0]!, left: ex > 0 ? nftSeconds(f[ex + 1]!) : null };
      });
    },
    async covers(ip) {
      const r = await lab.inServer('nft', ['get', 'element', 'inet', table, nets[6], `{ ${ip} }`], [0, 1]);
      return r.code === 0;
    },
    async addrs() {
      return elements(await list(sets[6])).map((e) => e.split(/\s+/)[0]!);
    },
  };
}

function ipsetView(lab: AgentLab): KernelView {
  const { nets, sets } = lab.names;
  const save = async (set: string) => {
    const r = await lab.inServer('ipset', ['save', set], [0, 1]);
    return r.code === 0 ? parseSetSave(r.stdout, set) : [];
  };
  return {
    async nets() {
      return (await save(nets[6])).map((e) => ({ net: e.ip, left: e.timeout }));
    },
    async covers(ip) {
      return (await lab.inServer('ipset', ['test', nets[6], ip], [0, 1])).code === 0;
    },
    async addrs() {
      return (await save(sets[6])).map((e) => e.ip);
    },
  };
}

function escalationSuite(label: string, why: string | null, enforcer: 'nftables' | 'iptables', view: (lab: AgentLab) => KernelView): void {
  describe.skipIf(why !== null)(`IPv6 network escalation, ${label}${why ? ` (skipped: ${why})` : ''}`, () => {
    let lab: AgentLab;
    let agent: AgentProcess;
    let k: KernelView;

    beforeAll(async () => {
      lab = await createAgentLab(mode);
      await addWalkingClient(lab);
      agent = await lab.startAgent({ BANHAMMER_ENFORCER: enforcer, BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' });
      k = view(lab);
    });

    afterAll(async () => {
      await lab?.destroy();
    });

    it(`three banned addresses of ${NET} ban the network; the kernel drops a fourth, not the next /64`, async () => {
      expect(agent.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('IPV6_NETWORK_BAN'))).toEqual([]);

      // Two addresses banned: no network ban yet.
      await lab.appendLog([...lines403(LOGGED[0]), ...lines403(LOGGED[1])]);
      await until('two single bans listed by status', () => banned(lab), (b) => LOGGED.slice(0, 2).every((ip) => b.includes(ip)), 10_000, 50);
      await until('two single bans in the kernel', () => k.addrs(), (s) => LOGGED.slice(0, 2).every((ip) => s.includes(ip)), 10_000, 20);
      expect(await banned(lab)).not.toContain(NET);
      expect(await k.nets()).toEqual([]);
      expect(await k.covers(FOURTH)).toBe(false);

      // The third: the network is banned under the rule of that ban, for its bantime (1h).
      const t0 = Date.now();
      await lab.appendLog(lines403(LOGGED[2]));
      const st = await until('network ban listed by status', () => lab.status('forbidden'), (r) => r.rules[0]!.bannedIps.includes(NET), 10_000, 50);
      const rule = st.rules[0]!;
      expect(rule.bannedIps).toEqual(expect.arrayContaining([...LOGGED, NET]));
      expect(rule.bannedIps).not.toContain(FOURTH);
      const netBan = rule.bans?.find((b) => b.ip === NET);
      expect(netBan?.container ?? null).toBeNull();
      expect(netBan?.until).not.toBeNull();
      const untilMs = Date.parse(netBan!.until!);
      expect(untilMs).toBeGreaterThan(t0 + 3_500_000);
      expect(untilMs).toBeLessThan(Date.now() + 3_700_000);
      const netLogs = agent.logs.filter((l) => l.msg === 'ban' && l.ip === NET);
      expect(netLogs.map((l) => l.rule)).toEqual(['forbidden']);

      // The kernel: one network element, counting down from about an hour, covering FOURTH and not OTHER.
      const nets = await until('network in the kernel set', () => k.nets(), (n) => n.some((e) => e.net === NET), 10_000, 20);
      expect(nets.map((e) => e.net)).toEqual([NET]);
      expect(nets[0]!.left).toBeGreaterThan(3500);
      expect(nets[0]!.left).toBeLessThanOrEqual(3600);
      expect(await k.covers(FOURTH)).toBe(true);
      expect(await k.covers(OTHER)).toBe(false);
      expect(await k.covers(lab.attacker.v6[0])).toBe(false);
      expect(await k.addrs()).not.toContain(FOURTH);

      // Real traffic: FOURTH (never in the log) is dropped on the protected port, OTHER is served.
      expect(await inAccessLog(lab, FOURTH)).toBe(false);
      expect(await curlFrom(lab, FOURTH)).toBe('000');
      expect(await curlFrom(lab, OTHER)).toBe('200');
      expect(await lab.curl(lab.legit, { family: 6, path: '/ok' })).toBe('200');
      expect(await lab.curl(lab.attacker, { family: 6, path: '/ok' })).toBe('200');
      // The drop is the firewall's, on the protected port only: the same address reaches the open port.
      expect(await curlFrom(lab, FOURTH, OPEN)).toBe('200');
      console.log(`[escalation ${label}] third address's lines → network ban enforced and checked in ${Date.now() - t0} ms`);
    });
  });
}

escalationSuite('nftables enforcer (interval set)', nftWhy, 'nftables', nftView);
escalationSuite(`iptables-${mode} enforcer (ipset hash:net)`, skip, 'iptables', ipsetView);

describe.skipIf(nftWhy !== null)(`IPv6 network escalation off by default${nftWhy ? ` (skipped: ${nftWhy})` : ''}`, () => {
  let lab: AgentLab;
  let agent: AgentProcess;
  let k: KernelView;

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    await addWalkingClient(lab);
    // BANHAMMER_IPV6_NETWORK_BAN_AFTER left unset: its default, 0.
    agent = await lab.startAgent({ BANHAMMER_ENFORCER: 'nftables' });
    k = nftView(lab);
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('the same lines ban the three addresses and no network', async () => {
    expect(lab.env().BANHAMMER_IPV6_NETWORK_BAN_AFTER).toBeUndefined();
    await lab.appendLog(LOGGED.flatMap((ip) => lines403(ip)));
    await until('three single bans listed by status', () => banned(lab), (b) => LOGGED.every((ip) => b.includes(ip)), 10_000, 50);
    await until('three single bans in the kernel', () => k.addrs(), (s) => LOGGED.every((ip) => s.includes(ip)), 10_000, 20);
    // Escalation would have happened with the third ban, synchronously; give the enforcer a moment anyway.
    await new Promise((r) => setTimeout(r, 500));
    expect([...(await banned(lab))].sort()).toEqual([...LOGGED].sort());
    expect(agent.logs.filter((l) => l.msg === 'ban').map((l) => l.ip).sort()).toEqual([...LOGGED].sort());
    expect(await k.nets()).toEqual([]);
    expect(await k.covers(FOURTH)).toBe(false);
    expect(await curlFrom(lab, FOURTH)).toBe('200');
    expect(await curlFrom(lab, OTHER)).toBe('200');
  });
});
