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
 * with a bounded timeout, and says whether it was accepted. startUdpServer() and sendUdp() do the
 * same for UDP (HTTP/3 runs over QUIC, which is UDP): an echo server, and one datagram whose echo
 * is awaited for a bounded time (UDP_ECHO_SERVER and UDP_PROBE serve other topologies too).
 * TCP_SERVER, TCP_ECHO_SERVER, tcpProbe() and session() serve other topologies as well: a server at
 * any namespace's address, one connection attempt from any namespace, and a two-message session (TCP
 * connection or UDP flow) with a firewall change between the messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRunner, withPrefix, type Runner } from '../../src/exec/runner.js';

const sh = new ProcessRunner({ timeoutMs: 20_000 });
const node = process.execPath;

/**
 * How long a probe that must be dropped waits for an answer. A probe that is let through is answered
 * within milliseconds inside these namespaces, so half a second tells a drop from a delivery as well
 * as the 1.5 s a probe expected to succeed is given (which only bounds a slow start under load).
 */
export const DROP_WAIT_MS = 500;

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
  /** Starts a UDP echo server on `ports` in the server namespace; resolves once it listens. */
  startUdpServer(ports: readonly number[]): Promise<void>;
  /** One datagram from the client namespace (udpProbe): was it answered, dropped or refused? */
  sendUdp(opts: { to: string; port: number; from: string; timeoutMs?: number }): Promise<UdpResult>;
  destroy(): Promise<void>;
}

export type ConnectResult = 'connected' | 'timeout' | 'refused' | `error:${string}`;

/**
 * What became of one UDP datagram: `answered` (the echo came back, so it was delivered), `timeout`
 * (no echo within the time: dropped on the way, since nothing filters the echo), `refused` (an ICMP
 * port unreachable came back: rejected, or nothing listens).
 */
export type UdpResult = 'answered' | 'timeout' | 'refused' | `error:${string}`;

/**
 * A UDP echo server on the ports given as arguments, one socket per address of the namespace (link-
 * local ones aside) and port, so that an echo leaves from the address the datagram was sent to (a
 * socket bound to `::` may answer from another address of the same prefix, which conntrack cannot
 * match to a DNAT); prints `ready` once all are bound.
 */
export const UDP_ECHO_SERVER = `
const dgram = require('node:dgram');
const os = require('node:os');
const ports = process.argv.slice(1).map(Number);
const addrs = Object.values(os.networkInterfaces()).flat().filter((a) => a && !a.address.startsWith('fe80:'));
let up = 0;
for (const port of ports) {
  for (const a of addrs) {
    const s = dgram.createSocket(a.address.includes(':') ? 'udp6' : 'udp4');
    s.on('error', (e) => console.error(String(e)));
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    s.bind({ port, address: a.address }, () => { if (++up === ports.length * addrs.length) console.log('ready'); });
  }
}
`;

/**
 * Sends one datagram from a chosen source address (argv: host port localAddress timeoutMs) on a
 * connected socket, so that an ICMP port unreachable comes back as ECONNREFUSED; prints a UdpResult.
 */
export const UDP_PROBE = `
const dgram = require('node:dgram');
const [host, port, localAddress, timeout] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
const done = (r) => { console.log(r); process.exit(0); };
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error:' + e.code));
s.on('message', () => done('answered'));
setTimeout(() => done('timeout'), Number(timeout)).unref();
s.bind({ address: localAddress, port: 0 }, () => s.connect(Number(port), host, () => s.send('banhammer udp probe', (e) => e && done(e.code === 'ECONNREFUSED' ? 'refused' : 'error:' + e.code))));
`;

/** One UDP_PROBE run through `runner` (inside a namespace); bounded by timeoutMs (plus process start-up). */
export async function udpProbe(runner: Runner, opts: { to: string; port: number; from: string; timeoutMs?: number }): Promise<UdpResult> {
  const timeoutMs = opts.timeoutMs ?? 1500;
  const r = await runner.run(node, ['-e', UDP_PROBE, opts.to, String(opts.port), opts.from, String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
  return r.stdout.trim() as UdpResult;
}

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

/** A TCP server on the ports given as arguments (dual stack): says `hi` and closes; prints `ready` once it listens. */
export const TCP_SERVER = `
const net = require('node:net');
const ports = process.argv.slice(1).map(Number);
let up = 0;
for (const port of ports) {
  net.createServer((s) => { s.on('error', () => {}); s.end('hi\\n'); })
    .listen({ port, host: '::', ipv6Only: false }, () => { if (++up === ports.length) console.log('ready'); });
}
`;
const SERVER = TCP_SERVER;

/** A TCP echo server on the ports given as arguments (dual stack), connections kept open; prints `ready` once it listens. */
export const TCP_ECHO_SERVER = `
const net = require('node:net');
const ports = process.argv.slice(1).map(Number);
let up = 0;
for (const port of ports) {
  net.createServer((s) => { s.on('error', () => {}); s.on('data', (b) => s.write(b)); })
    .listen({ port, host: '::', ipv6Only: false }, () => { if (++up === ports.length) console.log('ready'); });
}
`;

/**
 * A session of two messages from a chosen source (argv: proto host port localAddress goFile
 * timeoutMs): one TCP connection, or one UDP flow (a connected socket, one source port). It sends
 * `one` and prints `first:answered` once an answer comes (`first:timeout` after timeoutMs), then
 * waits for the file goFile to exist (checked every 20 ms, at most 30 s), sends `two` on the same
 * connection or flow and prints `second:answered` or `second:timeout` (or `…:error:<code>`), and exits.
 */
export const SESSION_PROBE = `
const net = require('node:net');
const dgram = require('node:dgram');
const fs = require('node:fs');
const [proto, host, port, localAddress, goFile, timeout] = process.argv.slice(1);
let stage = 'first';
let timer;
const say = (r) => { clearTimeout(timer); console.log(stage + ':' + r); };
const wait = () => { clearTimeout(timer); timer = setTimeout(() => { say('timeout'); next(); }, Number(timeout)); };
let send;
const next = () => {
  if (stage === 'second') process.exit(0);
  stage = 'second';
  const end = Date.now() + 30000;
  const poll = () => { if (fs.existsSync(goFile)) { wait(); send('two'); } else if (Date.now() > end) { say('error:no-go'); process.exit(0); } else setTimeout(poll, 20); };
  poll();
};
const answered = () => { say('answered'); next(); };
const failed = (e) => { say('error:' + (e.code || e.message)); process.exit(0); };
if (proto === 'tcp') {
  const s = net.connect({ host, port: Number(port), localAddress });
  send = (m) => s.write(m);
  s.on('connect', () => { wait(); send('one'); });
  s.on('data', answered);
  s.on('error', failed);
  wait();
} else {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  send = (m) => s.send(m);
  s.on('message', answered);
  s.on('error', failed);
  s.bind({ address: localAddress, port: 0 }, () => s.connect(Number(port), host, () => { wait(); send('one'); }));
}
`;

/** One TCP connection attempt from a chosen source through `runner` (inside a namespace); bounded by timeoutMs (plus process start-up). */
export async function tcpProbe(runner: Runner, opts: { to: string; port: number; from: string; timeoutMs?: number }): Promise<ConnectResult> {
  const timeoutMs = opts.timeoutMs ?? 1500;
  const r = await runner.run(node, ['-e', CLIENT, opts.to, String(opts.port), opts.from, String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
  return r.stdout.trim() as ConnectResult;
}

/**
 * Runs SESSION_PROBE through `spawnIn` (which starts argv inside the source's namespace and tracks the
 * child for the topology's clean-up): once the first message was answered or not, runs `between`
 * (e.g. a ban), then lets the second message go. Resolves with both results; bounded (the child is
 * killed, by pid, if it has not finished within 2 × timeoutMs + 45 s).
 */
export async function session(
  spawnIn: (argv: readonly string[]) => ChildProcess,
  opts: { proto: 'tcp' | 'udp'; to: string; port: number; from: string; timeoutMs?: number },
  between: () => Promise<unknown>,
): Promise<{ first: string; second: string }> {
  const timeoutMs = opts.timeoutMs ?? 1500;
  const go = join(tmpdir(), `bh-t-session-${randomBytes(6).toString('hex')}`);
  const child = spawnIn([node, '-e', SESSION_PROBE, opts.proto, opts.to, String(opts.port), opts.from, go, String(timeoutMs)]);
  const lines: string[] = [];
  let out = '';
  let betweenDone: Promise<unknown> | undefined;
  let betweenError: unknown;
  const exited = new Promise<void>((resolve) => {
    const limit = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, 2 * timeoutMs + 45_000);
    child.once('exit', () => {
      clearTimeout(limit);
      resolve();
    });
  });
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    let i: number;
    while ((i = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, i).trim();
      out = out.slice(i + 1);
      lines.push(line);
      if (line.startsWith('first:') && betweenDone === undefined) {
        betweenDone = between().then(
          () => writeFile(go, ''),
          (e: unknown) => {
            betweenError = e;
            return writeFile(go, '');
          },
        );
      }
    }
  });
  try {
    await exited;
    await betweenDone;
  } finally {
    await rm(go, { force: true });
  }
  if (betweenError !== undefined) throw betweenError;
  const get = (stage: string) => lines.find((l) => l.startsWith(`${stage}:`))?.slice(stage.length + 1) ?? 'none';
  return { first: get('first'), second: get('second') };
}

const CLIENT = `
const net = require('node:net');
const [host, port, localAddress, timeout] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), localAddress });
const done = (r) => { console.log(r); s.destroy(); process.exit(0); };
s.setTimeout(Number(timeout), () => done('timeout'));
s.on('connect', () => done('connected'));
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error:' + e.code));
`;

/**
 * Waits until interface `dev` of the namespace `runner` runs in is operationally up (carrier seen;
 * polled every 50 ms, at most 10 s). A veth pair reports its carrier some time after both ends are set
 * up (over a second here, for the first pair of a star), and until then the interface is not RUNNING,
 * so os.networkInterfaces() leaves it out: a UDP_ECHO_SERVER started earlier would bind loopback only.
 */
export async function waitForCarrier(runner: Runner, dev: string): Promise<void> {
  const end = Date.now() + 10_000;
  for (let i = 0; i < 200; i++) {
    const out = (await runner.run('ip', ['-j', 'link', 'show', 'dev', dev])).stdout;
    const state = (JSON.parse(out) as { operstate?: string }[])[0]?.operstate;
    if (state === 'UP') return;
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`interface ${dev} did not come up within 10 s`);
}

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
    for (const [ns, dev] of [[server, vs], [client, vc]] as const) await waitForCarrier(inNs(ns), dev);
  } catch (e) {
    await destroy();
    throw e;
  }

  return {
    server,
    client,
    runIn: inNs,
    async startServer(ports) {
      await startIn(children, server, SERVER, ports);
    },
    async startUdpServer(ports) {
      await startIn(children, server, UDP_ECHO_SERVER, ports);
    },
    async canConnect({ to, port, from, timeoutMs = 1500 }) {
      const r = await inNs(client).run(node, ['-e', CLIENT, to, String(port), from, String(timeoutMs)], { timeoutMs: timeoutMs + 15_000 });
      return r.stdout.trim() as ConnectResult;
    },
    sendUdp: (opts) => udpProbe(inNs(client), opts),
    destroy,
  };
}

/** Starts `script` (ports as arguments) in namespace `ns`, tracked in `children`; resolves once it prints `ready`. */
async function startIn(children: ChildProcess[], ns: string, script: string, ports: readonly number[]): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, node, '-e', script, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    for (const [k, name] of clientNames.entries()) {
      await waitForCarrier(s, `bht${id}s${k + 1}`);
      await waitForCarrier(inNs(clients[name].ns), `bht${id}c${k + 1}`);
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
