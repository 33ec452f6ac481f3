/**
 * DockerUserEnforcer against the real kernel, in network namespaces this test creates (never the
 * host's firewall), once per iptables backend that works here.
 *
 *   attacker 198.19.150.2 ─┐                         ┌─ X 198.19.153.2 (:80, udp :443)   "container" X
 *   client   198.19.152.2 ─┤ router (FORWARD →       ├─ Y 198.19.154.2 (:80, udp :443)   "container" Y
 *                          │  DOCKER-USER, DNAT      │
 *                          │  :8081 → X:80, :8082 → Y:80, udp :8081 → X:443, udp :8082 → Y:443;
 *                          │  IPv6 the same in 2001:db8:150::/48)
 *
 * The router plays the Docker host: a DOCKER-USER chain jumped to from FORWARD (as Docker makes it)
 * and DNAT rules for the two published ports (TCP, and UDP as for HTTP/3). Bans scoped to X must drop
 * the attacker's forwarded traffic to X only; host-wide bans to both; the client always gets through.
 * The attacker's address also runs servers a container may use itself (an upstream: TCP :5432 as a
 * database, UDP echo :5353 as a resolver), and X a TCP echo server on :7; the router routes between
 * all of them, so X reaches the attacker's servers (as a container reaches the Internet) and the
 * attacker reaches X at X's own address: a ban must never drop the answers to X's own connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { backendBinaries, type Backend } from '../../../src/enforce/backend-mode.js';
import { DockerUserEnforcer } from '../../../src/enforce/docker-user.js';
import { containerSetName, dockerUserNames } from '../../../src/enforce/docker-user-args.js';
import type { EnforcerBan, EnforcerBatch } from '../../../src/enforce/enforcer.js';
import { setsRecreated } from '../../../src/enforce/iptables.js';
import type { ContainerInfo } from '../../../src/docker/containers.js';
import { DROP_WAIT_MS, TCP_ECHO_SERVER, TCP_SERVER, UDP_ECHO_SERVER, firewallUnavailable, killAndDelete, netnsUnavailable, session, tcpProbe, udpProbe, waitForCarrier } from '../netns.js';

const sh = new ProcessRunner({ timeoutMs: 20_000 });
const node = process.execPath;
const X = 'a1'.repeat(32);
const Y = 'b2'.repeat(32);
const A = { v4: '198.19.150.2', v6: '2001:db8:150:1::2', r4: '198.19.150.1', r6: '2001:db8:150:1::1' };
const C = { v4: '198.19.152.2', v6: '2001:db8:150:2::2', r4: '198.19.152.1', r6: '2001:db8:150:2::1' };
const CX = { v4: '198.19.153.2', v4b: '198.19.153.3', v6: '2001:db8:150:3::2', r4: '198.19.153.1', r6: '2001:db8:150:3::1' };
const CY = { v4: '198.19.154.2', v6: '2001:db8:150:4::2', r4: '198.19.154.1', r6: '2001:db8:150:4::1' };
const PORT_X = 8081;
const PORT_Y = 8082;
/** The upstream servers at the attacker's address, and X's TCP echo port. */
const UP_TCP = 5432;
const UP_UDP = 5353;
const ECHO = 7;

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

interface Topology {
  router: string;
  attacker: string;
  client: string;
  x: string;
  y: string;
  inNs(ns: string): Runner;
  /** Starts argv inside `ns` (never through a shell), tracked for destroy(). */
  spawnIn(ns: string, argv: readonly string[]): ChildProcess;
  destroy(): Promise<void>;
}

async function createTopology(): Promise<Topology> {
  const id = randomBytes(3).toString('hex');
  const name = (s: string) => `bh-h1-${id}-${s}`;
  const [router, attacker, client, x, y] = ['r', 'a', 'c', 'x', 'y'].map(name) as [string, string, string, string, string];
  const created: string[] = [];
  const children: ChildProcess[] = [];
  let destroyed = false;
  const inNs = (ns: string): Runner => withPrefix(sh, ['ip', 'netns', 'exec', ns]);
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    await killAndDelete(children, created);
  };
  try {
    for (const ns of [router, attacker, client, x, y]) {
      await sh.run('ip', ['netns', 'add', ns]);
      created.push(ns);
      await inNs(ns).run('ip', ['link', 'set', 'lo', 'up']);
    }
    const links: [string, string, { v4: string; v6: string; r4: string; r6: string }][] = [
      ['a', attacker, A],
      ['c', client, C],
      ['x', x, CX],
      ['y', y, CY],
    ];
    const r = inNs(router);
    for (const [tag, ns, ad] of links) {
      const rv = `bh1${id}r${tag}`;
      const pv = `bh1${id}p${tag}`;
      await sh.run('ip', ['link', 'add', rv, 'netns', router, 'type', 'veth', 'peer', 'name', pv, 'netns', ns]);
      await r.run('ip', ['addr', 'add', `${ad.r4}/24`, 'dev', rv]);
      await r.run('ip', ['-6', 'addr', 'add', `${ad.r6}/64`, 'dev', rv, 'nodad']);
      await r.run('ip', ['link', 'set', rv, 'up']);
      const p = inNs(ns);
      await p.run('ip', ['addr', 'add', `${ad.v4}/24`, 'dev', pv]);
      await p.run('ip', ['-6', 'addr', 'add', `${ad.v6}/64`, 'dev', pv, 'nodad']);
      await p.run('ip', ['link', 'set', pv, 'up']);
      await p.run('ip', ['route', 'add', 'default', 'via', ad.r4]);
      await p.run('ip', ['-6', 'route', 'add', 'default', 'via', ad.r6]);
    }
    for (const [tag, ns] of links) {
      await waitForCarrier(r, `bh1${id}r${tag}`);
      await waitForCarrier(inNs(ns), `bh1${id}p${tag}`);
    }
    await inNs(x).run('ip', ['addr', 'add', `${CX.v4b}/24`, 'dev', `bh1${id}px`]);
    await r.run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await r.run('sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
    for (const [ns, script, args] of [
      [x, SERVER, []],
      [y, SERVER, []],
      [x, UDP_ECHO_SERVER, ['443']],
      [y, UDP_ECHO_SERVER, ['443']],
      [x, TCP_ECHO_SERVER, [String(ECHO)]],
      [attacker, TCP_SERVER, [String(UP_TCP)]],
      [attacker, UDP_ECHO_SERVER, [String(UP_UDP)]],
    ] as const) {
      const child = spawn('ip', ['netns', 'exec', ns, node, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
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
  } catch (e) {
    await destroy();
    throw e;
  }
  const spawnIn = (ns: string, argv: readonly string[]): ChildProcess => {
    if (destroyed) throw new Error('spawnIn after destroy');
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  };
  return { router, attacker, client, x, y, inNs, spawnIn, destroy };
}

const noNetns = await netnsUnavailable();

for (const mode of ['legacy', 'nft'] as const) {
  const skip = noNetns ?? (await firewallUnavailable(`iptables-${mode}`));
  describe.skipIf(skip !== null)(`DockerUserEnforcer in network namespaces, iptables-${mode}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let t: Topology | undefined;
    let r: Runner;
    let backend: Backend;
    let enf: DockerUserEnforcer;
    let before: Record<4 | 6, string>;
    const containers = new Map<string, ContainerInfo>([
      [X, { id: X, name: 'web-x', v4: [CX.v4], v6: [CX.v6] }],
      [Y, { id: Y, name: 'web-y', v4: [CY.v4], v6: [CY.v6] }],
    ]);
    const notes: string[] = [];
    const ipt = (args: string[], f: 4 | 6 = 4) => r.run(f === 4 ? backend.iptables : backend.ip6tables, ['-w', ...args]);
    const save = async (f: 4 | 6): Promise<string> =>
      (await r.run(f === 4 ? backend.iptablesSave : backend.ip6tablesSave, [])).stdout
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
        .join('\n');
    /** One connection from `who` (attacker or client) to a published port, IPv4 or IPv6. */
    const conn = async (who: 'attacker' | 'client', port: number, f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
      const me = who === 'attacker' ? A : C;
      const to = f === 4 ? me.r4 : me.r6;
      const from = f === 4 ? me.v4 : me.v6;
      const out = await t!.inNs(t![who]).run(node, ['-e', CLIENT, to, String(port), from, String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
      return out.stdout.trim();
    };
    /** One UDP datagram from `who` to a published port: answered (delivered), timeout (dropped) or refused. */
    const dgram = (who: 'attacker' | 'client', port: number, f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
      const me = who === 'attacker' ? A : C;
      return udpProbe(t!.inNs(t![who]), { to: f === 4 ? me.r4 : me.r6, port, from: f === 4 ? me.v4 : me.v6, timeoutMs });
    };
    const soon = () => Date.now() + 600_000;
    /** A connection X opens itself to the server at the attacker's address: TCP, or one UDP datagram. */
    const outbound = (proto: 'tcp' | 'udp', f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
      const opts = { to: f === 4 ? A.v4 : A.v6, from: f === 4 ? CX.v4 : CX.v6, timeoutMs };
      return proto === 'tcp' ? tcpProbe(t!.inNs(t!.x), { ...opts, port: UP_TCP }) : udpProbe(t!.inNs(t!.x), { ...opts, port: UP_UDP });
    };
    /** The attacker straight to X's own address (routed, no DNAT): TCP :80, or one UDP datagram to :443. */
    const direct = (proto: 'tcp' | 'udp', f: 4 | 6 = 4, timeoutMs = 1500): Promise<string> => {
      const opts = { to: f === 4 ? CX.v4 : CX.v6, from: f === 4 ? A.v4 : A.v6, timeoutMs };
      return proto === 'tcp' ? tcpProbe(t!.inNs(t!.attacker), { ...opts, port: 80 }) : udpProbe(t!.inNs(t!.attacker), { ...opts, port: 443 });
    };
    /** The attacker's bans, scoped to X or host-wide (IPv4 and IPv6). */
    const attackerBans = (scope: string | undefined): EnforcerBan[] => [
      { ip: A.v4, family: 4, until: soon(), ...(scope !== undefined ? { scope } : {}) },
      { ip: A.v6, family: 6, until: null, ...(scope !== undefined ? { scope } : {}) },
    ];
    /** Every command the enforcer ran (to see that a check needed no `-C`). */
    const ran: string[] = [];
    // The ban book's view for check(expected): every ban applied through apply() below.
    const book = new Map<string, EnforcerBan>();
    const expected = () => [...book.values()];
    const key = (e: { ip: string; scope?: string | undefined }) => `${e.ip} ${e.scope ?? ''}`;
    const apply = (batch: EnforcerBatch) => {
      for (const u of batch.unban) book.delete(key(u));
      for (const x of batch.ban) book.set(key(x), x);
      return enf.apply(batch);
    };

    beforeAll(async () => {
      t = await createTopology();
      r = t.inNs(t.router);
      backend = backendBinaries(mode, 'integration test');
      for (const f of [4, 6] as const) {
        // As Docker leaves it: DOCKER-USER jumped to from FORWARD, a RETURN in it, DNAT for published ports.
        await ipt(['-N', 'DOCKER-USER'], f);
        await ipt(['-A', 'DOCKER-USER', '-j', 'RETURN'], f);
        await ipt(['-A', 'FORWARD', '-j', 'DOCKER-USER'], f);
        await ipt(['-A', 'FORWARD', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT'], f);
        // Someone else's rule in the raw table (the notrack test adds its own next to it).
        await ipt(['-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', '9', '-j', 'CT', '--notrack'], f);
        const [dx, dy] = f === 4 ? [`${CX.v4}:80`, `${CY.v4}:80`] : [`[${CX.v6}]:80`, `[${CY.v6}]:80`];
        await ipt(['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', String(PORT_X), '-j', 'DNAT', '--to-destination', dx], f);
        await ipt(['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', String(PORT_Y), '-j', 'DNAT', '--to-destination', dy], f);
        // Published UDP ports (HTTP/3): 8081/udp → X:443, 8082/udp → Y:443.
        const [ux, uy] = f === 4 ? [`${CX.v4}:443`, `${CY.v4}:443`] : [`[${CX.v6}]:443`, `[${CY.v6}]:443`];
        await ipt(['-t', 'nat', '-A', 'PREROUTING', '-p', 'udp', '--dport', String(PORT_X), '-j', 'DNAT', '--to-destination', ux], f);
        await ipt(['-t', 'nat', '-A', 'PREROUTING', '-p', 'udp', '--dport', String(PORT_Y), '-j', 'DNAT', '--to-destination', uy], f);
      }
      before = { 4: await save(4), 6: await save(6) };
      const recorded: Runner = {
        run: (cmd, args, opts) => {
          ran.push([cmd, ...args].join(' '));
          return r.run(cmd, args, opts);
        },
      };
      enf = new DockerUserEnforcer({
        runner: recorded,
        instance: 'h1t',
        backend,
        containers: { info: (id) => containers.get(id) ?? null },
        onNote: (m) => notes.push(m),
      });
      await enf.init();
    });

    afterAll(async () => {
      await t?.destroy();
    });

    it('init hooks into DOCKER-USER at the top and leaves FORWARD to Docker’s jump', async () => {
      for (const f of [4, 6] as const) {
        expect((await ipt(['-S', 'DOCKER-USER'], f)).stdout.trim().split('\n')).toEqual(['-N DOCKER-USER', '-A DOCKER-USER -j BANHAMMER-h1t', '-A DOCKER-USER -j RETURN']);
        expect((await ipt(['-S', 'FORWARD'], f)).stdout).not.toContain('banhammer-h1t');
      }
      for (const port of [PORT_X, PORT_Y]) {
        expect(await conn('attacker', port)).toBe('connected');
        expect(await conn('client', port)).toBe('connected');
      }
      // Our chain: the RETURN for replies first, as iptables prints it, then the host-wide drops.
      for (const f of [4, 6] as const) {
        expect((await ipt(['-S', 'BANHAMMER-h1t'], f)).stdout.trim().split('\n')).toEqual([
          '-N BANHAMMER-h1t',
          '-A BANHAMMER-h1t -m conntrack --ctdir REPLY -j RETURN',
          `-A BANHAMMER-h1t -p tcp -m set --match-set bh-h1t-v${f} src -j DROP`,
          `-A BANHAMMER-h1t -p udp -m set --match-set bh-h1t-v${f} src -j DROP`,
        ]);
      }
      // A check right after init repairs nothing, and the listing matched as built (no `-C` needed).
      ran.length = 0;
      expect(await enf.check(expected)).toEqual([]);
      expect(ran.filter((l) => l.includes(' -C BANHAMMER-h1t'))).toEqual([]);
      expect(ran.filter((l) => l.includes('-restore'))).toEqual([]);
    });

    it('a ban blocks what the banned address starts, never the replies to connections a container opened towards it (scoped and host-wide, TCP and UDP, IPv4 and IPv6)', async () => {
      for (const f of [4, 6] as const) {
        expect(await outbound('tcp', f)).toBe('connected');
        expect(await outbound('udp', f)).toBe('answered');
      }
      const scoped = attackerBans(X);
      expect((await apply({ ban: scoped, unban: [] })).refused).toEqual([]);
      for (const f of [4, 6] as const) {
        expect(await conn('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await dgram('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await direct('tcp', f, DROP_WAIT_MS)).toBe('timeout');
        // X's own connections to the banned address: its answers are delivered.
        expect(await outbound('tcp', f)).toBe('connected');
        expect(await outbound('udp', f)).toBe('answered');
      }
      const wide = attackerBans(undefined);
      expect((await apply({ ban: wide, unban: [] })).refused).toEqual([]);
      for (const f of [4, 6] as const) {
        expect(await conn('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await dgram('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await outbound('tcp', f)).toBe('connected');
        expect(await outbound('udp', f)).toBe('answered');
        expect(await conn('client', PORT_Y, f)).toBe('connected');
      }
      expect(await enf.check(expected)).toEqual([]);
      await apply({ ban: [], unban: [...scoped, ...wide] });
      expect(await enf.check(expected)).toEqual([]);
      expect(await conn('attacker', PORT_X)).toBe('connected');
    }, 60_000);

    it('a TCP connection or UDP flow the banned address started before its ban is cut by the ban (scoped and host-wide, IPv4 and IPv6)', async () => {
      for (const scope of [X, undefined]) {
        for (const f of [4, 6] as const) {
          for (const proto of ['tcp', 'udp'] as const) {
            const bans = attackerBans(scope).filter((b) => b.family === f);
            const res = await session((argv) => t!.spawnIn(t!.attacker, argv), {
              proto,
              to: f === 4 ? CX.v4 : CX.v6,
              port: proto === 'tcp' ? ECHO : 443,
              from: f === 4 ? A.v4 : A.v6,
              timeoutMs: 1000,
            }, () => apply({ ban: bans, unban: [] }));
            expect(res, `${proto} IPv${f} ${scope === undefined ? 'host-wide' : 'scoped'}`).toEqual({ first: 'answered', second: 'timeout' });
            await apply({ ban: [], unban: bans });
          }
        }
      }
      expect(await enf.check(expected)).toEqual([]);
    }, 60_000);

    it('a packet conntrack does not track (a raw-table notrack rule for the banned client) is still dropped', async () => {
      const notrack = (f: 4 | 6) => ['PREROUTING', '-s', f === 4 ? A.v4 : A.v6, '-j', 'CT', '--notrack'];
      for (const f of [4, 6] as const) await ipt(['-t', 'raw', '-I', ...notrack(f)], f);
      try {
        // Untracked packets get no DNAT: the attacker reaches X at X's own address, routed by the router.
        for (const f of [4, 6] as const) {
          expect(await direct('tcp', f)).toBe('connected');
          expect(await direct('udp', f)).toBe('answered');
        }
        for (const scope of [X, undefined]) {
          const bans = attackerBans(scope);
          await apply({ ban: bans, unban: [] });
          for (const f of [4, 6] as const) {
            expect(await direct('tcp', f, DROP_WAIT_MS)).toBe('timeout');
            expect(await direct('udp', f, DROP_WAIT_MS)).toBe('timeout');
          }
          // Its answers to X's own connections are untracked too, so they are dropped as before: the safe side.
          expect(await outbound('tcp', 4, DROP_WAIT_MS)).toBe('timeout');
          await apply({ ban: [], unban: bans });
        }
      } finally {
        for (const f of [4, 6] as const) await ipt(['-t', 'raw', '-D', ...notrack(f)], f);
      }
      expect(await enf.check(expected)).toEqual([]);
      expect(await conn('attacker', PORT_X)).toBe('connected');
    }, 60_000);

    it('check() puts the RETURN for replies back when it goes', async () => {
      const wide = attackerBans(undefined);
      await apply({ ban: wide, unban: [] });
      await ipt(['-D', 'BANHAMMER-h1t', '-m', 'conntrack', '--ctdir', 'REPLY', '-j', 'RETURN'], 6);
      // The bug this rule fixes: X cannot reach its upstream at the banned address.
      expect(await outbound('udp', 6, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual(['chain (IPv6): BANHAMMER-h1t had lost rules and was refilled']);
      expect(await outbound('udp', 6)).toBe('answered');
      expect(await outbound('tcp', 4)).toBe('connected');
      expect(await conn('attacker', PORT_X, 6, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual([]);
      await apply({ ban: [], unban: wide });
      expect(await enf.check(expected)).toEqual([]);
    }, 60_000);

    it('a ban scoped to X drops the attacker’s forwarded traffic to X only', async () => {
      await apply({ ban: [{ ip: A.v4, family: 4, until: soon(), scope: X }], unban: [] });
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_Y)).toBe('connected');
      expect(await conn('client', PORT_X)).toBe('connected');
      expect((await enf.listSet(4, X)).map((e) => e.ip)).toEqual([A.v4]);
      expect(await enf.listSet(4)).toEqual([]);
      expect(await enf.check(expected)).toEqual([]);
    });

    it('a host-wide ban drops both; unbans lift exactly what they name', async () => {
      await apply({ ban: [{ ip: A.v4, family: 4, until: null }], unban: [] });
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_Y, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('client', PORT_Y)).toBe('connected');
      await apply({ ban: [], unban: [{ ip: A.v4, family: 4 }] });
      expect(await conn('attacker', PORT_Y)).toBe('connected');
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      await apply({ ban: [], unban: [{ ip: A.v4, family: 4, scope: X }] });
      expect(await conn('attacker', PORT_X)).toBe('connected');
    });

    it('scoped bans over IPv6 leave IPv4 and the other container alone', async () => {
      expect(await conn('attacker', PORT_Y, 6)).toBe('connected');
      await apply({ ban: [{ ip: A.v6, family: 6, until: soon(), scope: Y }], unban: [] });
      expect(await conn('attacker', PORT_Y, 6, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_X, 6)).toBe('connected');
      expect(await conn('attacker', PORT_Y, 4)).toBe('connected');
      expect(await conn('client', PORT_Y, 6)).toBe('connected');
      await apply({ ban: [], unban: [{ ip: A.v6, family: 6, scope: Y }] });
      expect(await conn('attacker', PORT_Y, 6)).toBe('connected');
    });

    it('bans close the containers’ UDP as well (HTTP/3): scoped to X, X only; host-wide, every container (IPv4 and IPv6)', async () => {
      for (const f of [4, 6] as const) for (const port of [PORT_X, PORT_Y]) expect(await dgram('attacker', port, f)).toBe('answered');
      const scoped: EnforcerBan[] = [{ ip: A.v4, family: 4, until: soon(), scope: X }, { ip: A.v6, family: 6, until: null, scope: X }];
      await apply({ ban: scoped, unban: [] });
      for (const f of [4, 6] as const) {
        expect(await dgram('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await conn('attacker', PORT_X, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await dgram('attacker', PORT_Y, f)).toBe('answered');
        expect(await dgram('client', PORT_X, f)).toBe('answered');
      }
      const wide: EnforcerBan[] = [{ ip: A.v4, family: 4, until: soon() }, { ip: A.v6, family: 6, until: null }];
      await apply({ ban: wide, unban: [] });
      for (const f of [4, 6] as const) {
        expect(await dgram('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await dgram('client', PORT_Y, f)).toBe('answered');
      }
      expect(await enf.check(expected)).toEqual([]);
      await apply({ ban: [], unban: [...scoped, ...wide] });
      for (const f of [4, 6] as const) for (const port of [PORT_X, PORT_Y]) expect(await dgram('attacker', port, f)).toBe('answered');
    });

    it('check() lets a container go once none of its bans is in force (its sets and rules); its next ban brings them back', async () => {
      const csets = async () => (await r.run('ipset', ['list', '-n'])).stdout.split('\n').filter((n) => n.startsWith(enf.names.containerSetPrefix)).sort();
      // Y's last ban was lifted in the test before: the next check lets it go.
      await apply({ ban: [{ ip: A.v4, family: 4, until: soon(), scope: X }], unban: [] });
      expect(await enf.check(expected)).toEqual([]);
      expect((await csets()).map((n) => n.endsWith('-4') || n.endsWith('-6'))).toEqual([true, true]);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      // X's ban ends in the book (expired): its sets and the rules that use them go.
      book.set(key({ ip: A.v4, scope: X }), { ip: A.v4, family: 4, until: Date.now() - 1, scope: X });
      expect(await enf.check(expected)).toEqual([]);
      expect(await csets()).toEqual([]);
      for (const f of [4, 6] as const) expect((await ipt(['-S', enf.names.chain], f)).stdout).not.toContain(enf.names.containerSetPrefix);
      expect(await conn('attacker', PORT_X)).toBe('connected');
      expect(await conn('attacker', PORT_Y)).toBe('connected');
      // The next ban brings them back.
      book.delete(key({ ip: A.v4, scope: X }));
      await apply({ ban: [{ ip: A.v4, family: 4, until: soon(), scope: X }], unban: [] });
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual([]);
      expect((await csets()).length).toBe(2);
      await apply({ ban: [], unban: [{ ip: A.v4, family: 4, scope: X }] });
      expect(await conn('attacker', PORT_X)).toBe('connected');
    });

    it('check() follows a restarted container to its new address', async () => {
      await apply({ ban: [{ ip: A.v4, family: 4, until: soon(), scope: X }], unban: [] });
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      // "docker restart": X now has another address and Docker's DNAT points there.
      await ipt(['-t', 'nat', '-R', 'PREROUTING', '1', '-p', 'tcp', '--dport', String(PORT_X), '-j', 'DNAT', '--to-destination', `${CX.v4b}:80`]);
      await r.run('conntrack', ['-F']).catch(() => undefined);
      containers.set(X, { id: X, name: 'web-x', v4: [CX.v4b], v6: [CX.v6] });
      expect(await conn('attacker', PORT_X)).toBe('connected');
      expect(await enf.check(expected)).toEqual([]);
      expect(notes.at(-1)).toMatch(/web-x .*198\.19\.153\.2 .* to 198\.19\.153\.3/);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_Y)).toBe('connected');
      // and back again
      await ipt(['-t', 'nat', '-R', 'PREROUTING', '1', '-p', 'tcp', '--dport', String(PORT_X), '-j', 'DNAT', '--to-destination', `${CX.v4}:80`]);
      containers.set(X, { id: X, name: 'web-x', v4: [CX.v4], v6: [CX.v6] });
      expect(await enf.check(expected)).toEqual([]);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
    });

    it('check() repairs a flushed DOCKER-USER, a lost FORWARD jump, a deleted DOCKER-USER and a destroyed set', async () => {
      await ipt(['-F', 'DOCKER-USER']);
      expect(await conn('attacker', PORT_X)).toBe('connected');
      expect(await enf.check(expected)).toEqual(['jump (IPv4): DOCKER-USER -j BANHAMMER-h1t was missing and was re-added']);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      await ipt(['-A', 'DOCKER-USER', '-j', 'RETURN']);

      // Docker's FORWARD jump gone (e.g. firewalld reload): ours stands in until Docker is back.
      await ipt(['-D', 'FORWARD', '-j', 'DOCKER-USER']);
      expect(await conn('attacker', PORT_X)).toBe('connected');
      expect(await enf.check(expected)).toEqual(['jump (IPv4): FORWARD had no jump to DOCKER-USER; banhammer added its own']);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      await ipt(['-I', 'FORWARD', '1', '-j', 'DOCKER-USER']); // Docker restarts and inserts its own
      expect(await enf.check(expected)).toEqual([]);
      expect((await ipt(['-S', 'FORWARD'])).stdout).not.toContain('banhammer-h1t');
      // Put FORWARD back in the original order for the final comparison.
      await ipt(['-D', 'FORWARD', '-j', 'DOCKER-USER']);
      await ipt(['-I', 'FORWARD', '1', '-j', 'DOCKER-USER']);

      // Docker's chains rebuilt from scratch while the agent runs: DOCKER-USER deleted.
      await ipt(['-D', 'FORWARD', '-j', 'DOCKER-USER']);
      await ipt(['-F', 'DOCKER-USER']);
      await ipt(['-X', 'DOCKER-USER']);
      const repairs = await enf.check(expected);
      expect(repairs).toEqual([
        'chain (IPv4): DOCKER-USER was missing (Docker not running, or not yet) and was created',
        'jump (IPv4): FORWARD had no jump to DOCKER-USER; banhammer added its own',
        'jump (IPv4): DOCKER-USER -j BANHAMMER-h1t was missing and was re-added',
      ]);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      // Docker comes back: its own jump and RETURN, ours steps aside.
      await ipt(['-A', 'DOCKER-USER', '-j', 'RETURN']);
      await ipt(['-I', 'FORWARD', '1', '-j', 'DOCKER-USER']);
      expect(await enf.check(expected)).toEqual([]);

      // A destroyed container set is re-created with its bans.
      await ipt(['-F', 'BANHAMMER-h1t']);
      const cset = (await r.run('ipset', ['list', '-n'])).stdout.split('\n').find((n) => n.startsWith(enf.names.containerSetPrefix) && n.endsWith('-4'))!;
      await r.run('ipset', ['destroy', cset]);
      expect(await conn('attacker', PORT_X)).toBe('connected');
      const rep = await enf.check(expected);
      expect(setsRecreated(rep)).toEqual([4]);
      expect(rep).toContain('chain (IPv4): BANHAMMER-h1t had lost rules and was refilled');
      expect(rep).toContain(`set (IPv4): ${cset}: 1 missing ban(s) re-added`);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_Y)).toBe('connected');
      expect(await enf.check(expected)).toEqual([]);
    });

    it('check() after `ipset flush`, an ACCEPT inserted into our chain and a stray element: all repaired in one check', async () => {
      await apply({ ban: [{ ip: A.v6, family: 6, until: null }, { ip: '198.19.160.1', family: 4, until: soon() }], unban: [] });
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      const cset = (await r.run('ipset', ['list', '-n'])).stdout.split('\n').find((n) => n.startsWith(enf.names.containerSetPrefix) && n.endsWith('-4'))!;
      await r.run('ipset', ['flush', cset]);
      await r.run('ipset', ['flush', 'bh-h1t-v6']);
      await r.run('ipset', ['add', 'bh-h1t-v4', C.v4, 'timeout', '0']);
      await ipt(['-I', 'BANHAMMER-h1t', '1', '-j', 'ACCEPT']);
      await ipt(['-I', 'DOCKER-USER', '1', '-s', A.v4, '-j', 'ACCEPT']);
      expect(await conn('attacker', PORT_X)).toBe('connected');
      const rep = await enf.check(expected);
      expect(rep).toEqual([
        'chain (IPv4): BANHAMMER-h1t held 1 rule(s) banhammer did not put there (first: "-A BANHAMMER-h1t -j ACCEPT") and was rebuilt',
        `jump (IPv4): DOCKER-USER had 1 rule(s) above banhammer's jump (first: "-A DOCKER-USER -s ${A.v4}/32 -j ACCEPT"); the jump was moved back to the top`,
        'set (IPv4): bh-h1t-v4: 1 entry nobody banned removed',
        `set (IPv4): ${cset}: 1 missing ban(s) re-added`,
        'set (IPv6): bh-h1t-v6: 1 missing ban(s) re-added',
      ]);
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('attacker', PORT_Y, 6, DROP_WAIT_MS)).toBe('timeout');
      expect(await conn('client', PORT_X)).toBe('connected');
      expect((await enf.listSet(4)).map((e) => e.ip)).toEqual(['198.19.160.1']);
      expect(await enf.check(expected)).toEqual([]);
      await ipt(['-D', 'DOCKER-USER', '-s', A.v4, '-j', 'ACCEPT']);
      await apply({ ban: [], unban: [{ ip: A.v6, family: 6 }, { ip: '198.19.160.1', family: 4 }] });
      expect(await conn('attacker', PORT_Y, 6)).toBe('connected');
    });

    it('an element the kernel refuses never holds back the rest of its batch', async () => {
      // 0.0.0.0 is refused before ipset sees it; a runner rewriting 198.19.161.9 into 0.0.0.0 on
      // ipset's stdin shows the kernel refusing one element of a batch.
      const poisoned: Runner = {
        run: (cmd, args, opts) => r.run(cmd, args, opts?.input === undefined ? opts : { ...opts, input: opts.input.replaceAll('198.19.161.9', '0.0.0.0') }),
      };
      const enf2 = new DockerUserEnforcer({ runner: poisoned, instance: 'h1t', backend, containers: { info: (id) => containers.get(id) ?? null } });
      const res = await enf2.apply({
        ban: [
          { ip: '0.0.0.0', family: 4, until: null, scope: Y },
          { ip: '198.19.161.9', family: 4, until: null, scope: Y },
          { ip: A.v4, family: 4, until: soon(), scope: Y },
          { ip: '198.19.161.1', family: 4, until: null },
        ],
        unban: [],
      });
      expect(res?.refused).toEqual([
        { ip: '0.0.0.0', family: 4, scope: Y, reason: 'an unspecified address cannot be a client' },
        { ip: '198.19.161.9', family: 4, scope: Y, reason: 'refused by ipset: Null-valued element, cannot be stored in a hash type of set' },
      ]);
      expect((await enf.listSet(4, Y)).map((e) => e.ip)).toEqual([A.v4]);
      expect((await enf.listSet(4)).map((e) => e.ip)).toEqual(['198.19.161.1']);
      await enf2.apply({ ban: [], unban: [{ ip: A.v4, family: 4, scope: Y }, { ip: '198.19.161.1', family: 4 }] });
      expect(await enf.listSet(4, Y)).toEqual([]);
      expect(await enf.listSet(4)).toEqual([]);
    });

    it('an agent started over the TCP-only chain of an older version ends with exactly the new layout, never letting the banned client through on TCP; shutdown removes it all', async () => {
      const rule = (proto: string, f: 4 | 6) => ['-p', proto, '-m', 'set', '--match-set', `bh-h1u-v${f}`, 'src', '-j', 'DROP'];
      const listing = async (chain: string, f: 4 | 6) => (await ipt(['-S', chain], f)).stdout.trim().split('\n');
      const du = { 4: await listing('DOCKER-USER', 4), 6: await listing('DOCKER-USER', 6) };
      // What the previous version laid out (TCP only): host-wide sets with a ban each, the chain with
      // its TCP rule, the jump at the top of DOCKER-USER.
      for (const f of [4, 6] as const) {
        await r.run('ipset', ['create', `bh-h1u-v${f}`, 'hash:ip', 'family', f === 4 ? 'inet' : 'inet6', 'timeout', '0', 'maxelem', '1048576']);
        await r.run('ipset', ['add', `bh-h1u-v${f}`, f === 4 ? A.v4 : A.v6, 'timeout', '0']);
        await ipt(['-N', 'BANHAMMER-h1u'], f);
        await ipt(['-A', 'BANHAMMER-h1u', ...rule('tcp', f)], f);
        await ipt(['-I', 'DOCKER-USER', '1', '-j', 'BANHAMMER-h1u'], f);
      }
      // The escape being fixed: TCP closed, UDP open (Y: no ban of the h1t instance there).
      expect(await conn('attacker', PORT_Y, 4, DROP_WAIT_MS)).toBe('timeout');
      expect(await dgram('attacker', PORT_Y, 4)).toBe('answered');

      const upg = new DockerUserEnforcer({ runner: r, instance: 'h1u', backend, containers: { info: (id) => containers.get(id) ?? null } });
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
      expect(tries.filter((x) => x !== 'timeout')).toEqual([]);
      for (const f of [4, 6] as const) {
        expect(await listing('BANHAMMER-h1u', f)).toEqual([
          '-N BANHAMMER-h1u',
          '-A BANHAMMER-h1u -m conntrack --ctdir REPLY -j RETURN',
          ['-A', 'BANHAMMER-h1u', ...rule('tcp', f)].join(' '),
          ['-A', 'BANHAMMER-h1u', ...rule('udp', f)].join(' '),
        ]);
        expect(await listing('DOCKER-USER', f)).toEqual([du[f][0], '-A DOCKER-USER -j BANHAMMER-h1u', ...du[f].slice(1)]);
      }
      // The host-wide bans of the old run are kept, and now hold over UDP too, at every container.
      for (const f of [4, 6] as const) {
        for (const port of [PORT_X, PORT_Y]) expect(await dgram('attacker', port, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await conn('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await dgram('client', PORT_Y, f)).toBe('answered');
      }
      expect(await upg.check(() => [{ ip: A.v4, family: 4, until: null }, { ip: A.v6, family: 6, until: null }])).toEqual([]);
      await upg.shutdown();
      for (const f of [4, 6] as const) {
        expect(await listing('DOCKER-USER', f)).toEqual(du[f]);
        expect(await save(f)).not.toContain('h1u');
      }
      expect((await r.run('ipset', ['list', '-n'])).stdout).not.toContain('bh-h1u');
      expect(await dgram('attacker', PORT_Y, 4)).toBe('answered');
    });

    it('an agent started over the chain of the previous version (TCP and UDP, no RETURN for replies) ends with exactly the new layout, never letting the banned client through', async () => {
      const old = dockerUserNames('h1p');
      const rule = (proto: string, set: string, dst?: string) => [...(dst !== undefined ? ['-d', dst] : []), '-p', proto, '-m', 'set', '--match-set', set, 'src', '-j', 'DROP'];
      const listing = async (chain: string, f: 4 | 6) => (await ipt(['-S', chain], f)).stdout.trim().split('\n');
      const du = { 4: await listing('DOCKER-USER', 4), 6: await listing('DOCKER-USER', 6) };
      // What the previous version laid out: host-wide sets and X's sets with the attacker's bans, the
      // chain with the TCP and UDP rules (host-wide, then X's address), the jump at the top of DOCKER-USER.
      for (const f of [4, 6] as const) {
        const fam = f === 4 ? 'inet' : 'inet6';
        const cset = containerSetName(old, X, f);
        for (const set of [old.sets[f], cset]) {
          await r.run('ipset', ['create', set, 'hash:ip', 'family', fam, 'timeout', '0', 'maxelem', '1048576']);
          await r.run('ipset', ['add', set, f === 4 ? A.v4 : A.v6, 'timeout', '0']);
        }
        await ipt(['-N', old.chain], f);
        for (const p of ['tcp', 'udp']) await ipt(['-A', old.chain, ...rule(p, old.sets[f])], f);
        for (const p of ['tcp', 'udp']) await ipt(['-A', old.chain, ...rule(p, cset, f === 4 ? `${CX.v4}/32` : `${CX.v6}/128`)], f);
        await ipt(['-I', 'DOCKER-USER', '1', '-j', old.chain], f);
      }
      // The bug being fixed: X cannot reach its upstream at the banned address.
      for (const f of [4, 6] as const) {
        expect(await outbound('tcp', f, DROP_WAIT_MS)).toBe('timeout');
        expect(await outbound('udp', f, DROP_WAIT_MS)).toBe('timeout');
      }
      const upg = new DockerUserEnforcer({ runner: r, instance: 'h1p', backend, containers: { info: (id) => containers.get(id) ?? null } });
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
      expect(tries.filter((x) => x !== 'timeout')).toEqual([]);
      for (const f of [4, 6] as const) {
        // Exactly the new layout: X's rules and sets of the old run go (the daemon's re-apply brings them back).
        expect(await listing(old.chain, f)).toEqual([
          `-N ${old.chain}`,
          `-A ${old.chain} -m conntrack --ctdir REPLY -j RETURN`,
          ['-A', old.chain, ...rule('tcp', old.sets[f])].join(' '),
          ['-A', old.chain, ...rule('udp', old.sets[f])].join(' '),
        ]);
        expect(await listing('DOCKER-USER', f)).toEqual([du[f][0], `-A DOCKER-USER -j ${old.chain}`, ...du[f].slice(1)]);
      }
      expect((await r.run('ipset', ['list', '-n'])).stdout).not.toContain(old.containerSetPrefix);
      const upgBook: EnforcerBan[] = [{ ip: A.v4, family: 4, until: null }, { ip: A.v6, family: 6, until: null }];
      // A check right after init repairs nothing.
      expect(await upg.check(() => upgBook)).toEqual([]);
      const scoped = attackerBans(X);
      expect((await upg.apply({ ban: scoped, unban: [] })).refused).toEqual([]);
      expect(await upg.check(() => [...upgBook, ...scoped])).toEqual([]);
      for (const f of [4, 6] as const) {
        expect(await outbound('tcp', f)).toBe('connected');
        expect(await outbound('udp', f)).toBe('answered');
        for (const port of [PORT_X, PORT_Y]) expect(await dgram('attacker', port, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await conn('attacker', PORT_Y, f, DROP_WAIT_MS)).toBe('timeout');
        expect(await direct('tcp', f, DROP_WAIT_MS)).toBe('timeout');
        expect(await dgram('client', PORT_Y, f)).toBe('answered');
      }
      await upg.shutdown();
      for (const f of [4, 6] as const) {
        expect(await listing('DOCKER-USER', f)).toEqual(du[f]);
        expect(await save(f)).not.toContain('h1p');
      }
      const left = (await r.run('ipset', ['list', '-n'])).stdout;
      expect(left).not.toContain('bh-h1p');
      expect(left).not.toContain(old.containerSetPrefix);
    }, 60_000);

    it('init() again (agent restart) reuses the hooks without duplicates; bans come back with the re-apply', async () => {
      await enf.init();
      expect(await conn('attacker', PORT_X)).toBe('connected'); // container sets are rebuilt from the state file
      await apply({ ban: [{ ip: A.v4, family: 4, until: soon(), scope: X }], unban: [] });
      expect(await conn('attacker', PORT_X, 4, DROP_WAIT_MS)).toBe('timeout');
      for (const f of [4, 6] as const) {
        expect((await ipt(['-S', 'DOCKER-USER'], f)).stdout.trim().split('\n')).toEqual(['-N DOCKER-USER', '-A DOCKER-USER -j BANHAMMER-h1t', '-A DOCKER-USER -j RETURN']);
      }
      expect(await enf.check(expected)).toEqual([]);
    });

    it('shutdown() leaves DOCKER-USER, FORWARD and every other rule as they were', async () => {
      await enf.shutdown();
      expect(await save(4)).toBe(before[4]);
      expect(await save(6)).toBe(before[6]);
      expect((await r.run('ipset', ['list', '-n'])).stdout.trim()).toBe('');
      expect(await conn('attacker', PORT_X)).toBe('connected');
    });
  });

  describe.skipIf(skip !== null)(`DockerUserEnforcer without Docker, iptables-${mode}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let ns = '';
    let r: Runner;
    const backend = backendBinaries(mode, 'integration test');
    beforeAll(async () => {
      ns = `bh-h1-${randomBytes(3).toString('hex')}-n`;
      await sh.run('ip', ['netns', 'add', ns]);
      r = withPrefix(sh, ['ip', 'netns', 'exec', ns]);
    });
    afterAll(async () => {
      if (ns !== '') await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
    });

    it('creates DOCKER-USER and a FORWARD jump, and removes exactly those at shutdown', async () => {
      const rules = async () => (await r.run(backend.iptables, ['-w', '-S'])).stdout;
      const before = await rules();
      expect(before.trim().split('\n')).toEqual(['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT']);
      const enf = new DockerUserEnforcer({ runner: r, instance: 'h1n', backend, families: [4], containers: { info: () => null } });
      await enf.init();
      const fw = (await r.run(backend.iptables, ['-w', '-S', 'FORWARD'])).stdout;
      expect(fw).toContain('-A FORWARD -m comment --comment banhammer-h1n -j DOCKER-USER');
      expect(await enf.check(() => [])).toEqual([]);
      await enf.shutdown();
      expect(await rules()).toBe(before);
      expect((await r.run('ipset', ['list', '-n'])).stdout.trim()).toBe('');
    });

    it('keeps DOCKER-USER at shutdown once Docker has adopted it', async () => {
      const enf = new DockerUserEnforcer({ runner: r, instance: 'h1n', backend, families: [4], containers: { info: () => null } });
      await enf.init();
      await r.run(backend.iptables, ['-w', '-I', 'FORWARD', '1', '-j', 'DOCKER-USER']);
      expect(await enf.check(() => [])).toEqual([]);
      await enf.shutdown();
      const fw = (await r.run(backend.iptables, ['-w', '-S', 'FORWARD'])).stdout;
      expect(fw.trim().split('\n')).toEqual(['-P FORWARD ACCEPT', '-A FORWARD -j DOCKER-USER']);
      expect((await r.run(backend.iptables, ['-w', '-S', 'DOCKER-USER'])).stdout.trim()).toBe('-N DOCKER-USER');
    });

    it('init fails with a clear error when iptables cannot load the conntrack match, and hooks nothing in', async (ctx) => {
      // An iptables without its conntrack extension, as on a host without xt_conntrack: XTABLES_LIBDIR
      // pointing at a copy of the extensions directory (symlinks) without libxt_conntrack.so.
      const dirs = ['/usr/lib/x86_64-linux-gnu/xtables', '/usr/lib/aarch64-linux-gnu/xtables', '/usr/lib/xtables', '/usr/lib64/xtables', '/usr/libexec/xtables'];
      const dir = dirs.find((d) => existsSync(join(d, 'libxt_conntrack.so')));
      if (dir === undefined) ctx.skip();
      const lib = await mkdtemp(join(tmpdir(), 'bh-t-xtables-'));
      try {
        for (const f of await readdir(dir!)) if (f !== 'libxt_conntrack.so') await symlink(join(dir!, f), join(lib, f));
        const rules = async () => (await r.run(backend.iptables, ['-w', '-S'])).stdout;
        const before = await rules();
        const runner = withPrefix(sh, ['ip', 'netns', 'exec', ns, 'env', `XTABLES_LIBDIR=${lib}`]);
        const enf = new DockerUserEnforcer({ runner, instance: 'h1c', backend, families: [4], containers: { info: () => null } });
        const e = await enf.init().then(() => undefined, (x: unknown) => x);
        expect(e).toMatchObject({ code: 'BH_ERR_FIREWALL', hint: expect.stringContaining('modprobe xt_conntrack') });
        expect((e as Error).message).toMatch(/^filling chain BANHAMMER-h1c \(IPv4\) failed: the conntrack match is not available \(.*Couldn't load match `conntrack'/);
        // Nothing half done: no chain, no jump.
        expect(await rules()).toBe(before);
      } finally {
        await rm(lib, { recursive: true, force: true });
        await r.run('ipset', ['destroy', 'bh-h1c-v4']).catch(() => undefined);
      }
    });
  });
}
