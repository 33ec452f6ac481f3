/**
 * A throw-away two-namespace lab for integration tests with the real kernel.
 *
 * createLab() makes a "server" and a "client" network namespace (uniquely named bh-t-<random>-s/-c),
 * joined by a veth pair, with test addresses only (198.18.0.0/15, 2001:db8::/32, `nodad`):
 *   server 198.18.0.1  2001:db8::1          client 198.18.0.2 198.18.0.3  2001:db8::2 2001:db8::3
 * Nothing is created in the root namespace except the namespace names; destroy() kills the
 * processes the lab started (by pid), then deletes both namespaces, which takes every interface,
 * iptables rule and ipset inside them along. Call it from afterAll: it is safe after a partial
 * createLab() failure and when called twice.
 *
 * startServer() runs a tiny TCP server in the server namespace on the given ports (dual stack);
 * canConnect() tries one TCP connection from the client namespace from a chosen source address,
 * with a bounded timeout, and says whether it was accepted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ProcessRunner, withPrefix, type Runner } from '../../src/exec/runner.js';

const sh = new ProcessRunner({ timeoutMs: 20_000 });
const node = process.execPath;

export const ADDR = {
  serverV4: '198.18.0.1',
  clientV4: '198.18.0.2',
  clientV4b: '198.18.0.3',
  serverV6: '2001:db8::1',
  clientV6: '2001:db8::2',
  clientV6b: '2001:db8::3',
} as const;

export interface Lab {
  readonly server: string;
  readonly client: string;
  /** A runner whose commands run inside the namespace. */
  runIn(ns: string): Runner;
  /** Starts a TCP server on `ports` in the server namespace; resolves once it listens. */
  startServer(ports: readonly number[]): Promise<void>;
  /** One connection attempt from the client namespace; true when the server accepted it. */
  canConnect(opts: { to: string; port: number; from: string; timeoutMs?: number }): Promise<ConnectResult>;
  destroy(): Promise<void>;
}

export type ConnectResult = 'connected' | 'timeout' | 'refused' | `error:${string}`;

/** Why netns tests cannot run here, or null when they can. */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `bh-t-probe-${randomBytes(4).toString('hex')}`;
  try {
    await sh.run('ip', ['netns', 'add', probe]);
  } catch (e) {
    return `cannot create a network namespace: ${(e as Error).message}`;
  }
  try {
    await sh.run('ip', ['netns', 'del', probe]);
  } catch {
    // best effort; nothing else was created in it
  }
  return null;
}

/** Why `bin` (e.g. iptables-nft) plus ipset cannot be used inside a namespace here, or null. */
export async function firewallUnavailable(bin: string): Promise<string | null> {
  const ns = `bh-t-probe-${randomBytes(4).toString('hex')}`;
  try {
    await sh.run('ip', ['netns', 'add', ns]);
  } catch (e) {
    return `cannot create a network namespace: ${(e as Error).message}`;
  }
  try {
    const r = withPrefix(sh, ['ip', 'netns', 'exec', ns]);
    await r.run(bin, ['-w', '-S']);
    await r.run('ipset', ['create', 'bh-t-probe', 'hash:ip', 'timeout', '0']);
    await r.run(bin, ['-w', '-A', 'INPUT', '-m', 'set', '--match-set', 'bh-t-probe', 'src', '-j', 'DROP']);
    return null;
  } catch (e) {
    return `${bin} with ipset does not work in a namespace: ${(e as Error).message}`;
  } finally {
    await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

const SERVER = `
const net = require('node:net');
const ports = process.argv.slice(1).map(Number);
let up = 0;
for (const port of ports) {
  net.createServer((s) => { s.on('error', () => {}); s.end('hi\\n'); })
    .listen({ port, host: '::', ipv6Only: false }, () => { if (++up === ports.length) console.log('ready'); });
}
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

/** Kills (SIGKILL) the children this test started that still run, then deletes its namespaces. */
export async function killAndDelete(children: readonly ChildProcess[], namespaces: readonly string[]): Promise<void> {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      const gone = new Promise((res) => c.once('exit', res));
      process.kill(c.pid, 'SIGKILL');
      await gone;
    }
  }
  for (const ns of namespaces) await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

export async function createLab(): Promise<Lab> {
  const id = randomBytes(3).toString('hex');
  const server = `bh-t-${id}-s`;
  const client = `bh-t-${id}-c`;
  const children: ChildProcess[] = [];
  const created: string[] = [];
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    await killAndDelete(children, created);
  };

  const inNs = (ns: string): Runner => withPrefix(sh, ['ip', 'netns', 'exec', ns]);
  try {
    for (const ns of [server, client]) {
      await sh.run('ip', ['netns', 'add', ns]);
      created.push(ns);
    }
    const vs = `bht${id}s`;
    const vc = `bht${id}c`;
    await sh.run('ip', ['link', 'add', vs, 'netns', server, 'type', 'veth', 'peer', 'name', vc, 'netns', client]);
    const setup: [string, string, string[]][] = [
      [server, vs, [`${ADDR.serverV4}/24`]],
      [client, vc, [`${ADDR.clientV4}/24`, `${ADDR.clientV4b}/24`]],
    ];
    const v6: Record<string, string[]> = { [server]: [ADDR.serverV6], [client]: [ADDR.clientV6, ADDR.clientV6b] };
    for (const [ns, dev, v4] of setup) {
      const r = inNs(ns);
      await r.run('ip', ['link', 'set', 'lo', 'up']);
      for (const a of v4) await r.run('ip', ['addr', 'add', a, 'dev', dev]);
      for (const a of v6[ns] ?? []) await r.run('ip', ['-6', 'addr', 'add', `${a}/64`, 'dev', dev, 'nodad']);
      await r.run('ip', ['link', 'set', dev, 'up']);
    }
  } catch (e) {
    await destroy();
    throw e;
  }

  return {
    server,
    client,
    runIn: inNs,
    async startServer(ports) {
      const child = spawn('ip', ['netns', 'exec', server, node, '-e', SERVER, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`test server did not start: ${err}`)), 15_000);
        child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
        child.stdout?.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`test server exited with ${code}: ${err}`));
        });
      });
    },
    async canConnect({ to, port, from, timeoutMs = 1500 }) {
      const r = await inNs(client).run(node, ['-e', CLIENT, to, String(port), from, String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
      return r.stdout.trim() as ConnectResult;
    },
    destroy,
  };
}

/**
 * A star of namespaces for tests that need several clients: one "server" namespace and one
 * namespace per client name, each client joined to the server by its own veth pair on its own
 * subnet (client i, counting from 1):
 *   server side 198.18.i.1/24  2001:db8:i::1/64      client side 198.18.i.2 198.18.i.3  2001:db8:i::2 2001:db8:i::3
 * Processes started with spawnIn() are tracked; destroy() sends them `stopSignal` (default SIGTERM),
 * waits a little, SIGKILLs what is left, then SIGKILLs any process still inside one of the star's
 * namespaces (by pid, from `ip netns pids`: only processes started there by the test) and deletes
 * the namespaces. Safe after a partial createStar() failure and when called twice.
 */
export interface StarClient {
  readonly ns: string;
  /** This client's addresses: [primary, secondary]. */
  readonly v4: readonly [string, string];
  readonly v6: readonly [string, string];
  /** The server's address on this client's link. */
  readonly serverV4: string;
  readonly serverV6: string;
}

export interface Star<C extends string> {
  readonly server: string;
  readonly clients: Readonly<Record<C, StarClient>>;
  runIn(ns: string): Runner;
  /** Starts argv inside `ns` (never through a shell) and tracks the child for destroy(). */
  spawnIn(ns: string, argv: readonly string[], opts?: { env?: NodeJS.ProcessEnv; stopSignal?: NodeJS.Signals }): ChildProcess;
  destroy(): Promise<void>;
}

export async function createStar<C extends string>(clientNames: readonly C[]): Promise<Star<C>> {
  if (clientNames.length < 1 || clientNames.length > 200) throw new Error('createStar: 1 to 200 clients');
  const id = randomBytes(3).toString('hex');
  const server = `bh-t-${id}-s`;
  const created: string[] = [];
  const children: { child: ChildProcess; stopSignal: NodeJS.Signals }[] = [];
  let destroyed = false;

  const exited = (c: ChildProcess, ms: number): Promise<boolean> =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve(true)
      : new Promise((res) => {
          const t = setTimeout(() => res(false), ms);
          c.once('exit', () => {
            clearTimeout(t);
            res(true);
          });
        });

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const { child, stopSignal } of children) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
      try {
        process.kill(child.pid, stopSignal);
      } catch {
        continue;
      }
      if (!(await exited(child, 5000))) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        await exited(child, 5000);
      }
    }
    for (const ns of created) {
      // Anything still running inside our namespaces was started there by the test (e.g. workers of a
      // server whose parent died): end it by pid before the namespace goes.
      const pids = await sh.run('ip', ['netns', 'pids', ns]).then((r) => r.stdout.split('\n').map((l) => Number(l.trim())).filter((p) => p > 1), () => []);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of created) await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
  };

  const inNs = (ns: string): Runner => withPrefix(sh, ['ip', 'netns', 'exec', ns]);
  const clients = {} as Record<C, StarClient>;
  try {
    await sh.run('ip', ['netns', 'add', server]);
    created.push(server);
    const s = inNs(server);
    await s.run('ip', ['link', 'set', 'lo', 'up']);
    for (const [k, name] of clientNames.entries()) {
      const i = k + 1;
      const ns = `bh-t-${id}-c${i}`;
      await sh.run('ip', ['netns', 'add', ns]);
      created.push(ns);
      const vs = `bht${id}s${i}`;
      const vc = `bht${id}c${i}`;
      await sh.run('ip', ['link', 'add', vs, 'netns', server, 'type', 'veth', 'peer', 'name', vc, 'netns', ns]);
      const c: StarClient = {
        ns,
        v4: [`198.18.${i}.2`, `198.18.${i}.3`],
        v6: [`2001:db8:${i}::2`, `2001:db8:${i}::3`],
        serverV4: `198.18.${i}.1`,
        serverV6: `2001:db8:${i}::1`,
      };
      await s.run('ip', ['addr', 'add', `${c.serverV4}/24`, 'dev', vs]);
      await s.run('ip', ['-6', 'addr', 'add', `${c.serverV6}/64`, 'dev', vs, 'nodad']);
      await s.run('ip', ['link', 'set', vs, 'up']);
      const r = inNs(ns);
      await r.run('ip', ['link', 'set', 'lo', 'up']);
      for (const a of c.v4) await r.run('ip', ['addr', 'add', `${a}/24`, 'dev', vc]);
      for (const a of c.v6) await r.run('ip', ['-6', 'addr', 'add', `${a}/64`, 'dev', vc, 'nodad']);
      await r.run('ip', ['link', 'set', vc, 'up']);
      clients[name] = c;
    }
  } catch (e) {
    await destroy();
    throw e;
  }

  return {
    server,
    clients,
    runIn: inNs,
    spawnIn(ns, argv, opts = {}) {
      if (destroyed) throw new Error('createStar: spawnIn after destroy');
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
      children.push({ child, stopSignal: opts.stopSignal ?? 'SIGTERM' });
      return child;
    },
    destroy,
  };
}
