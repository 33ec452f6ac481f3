/**
 * A throw-away pair of network namespaces (bh-h5-<id>-s server, bh-h5-<id>-c client) joined by veth,
 * with a TCP server in the server namespace: enough to see a ban drop a client. Every process and
 * namespace it makes is removed by destroy() (by pid and by name, never more).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { ADDR, TCP_SERVER, killAndDelete, tcpProbe, waitForCarrier, type ConnectResult } from '../netns.js';

const sh = new ProcessRunner({ timeoutMs: 20_000 });

export interface H5Lab {
  readonly server: Runner;
  readonly names: readonly string[];
  /** One TCP connection from `from` (a client address) to the server's port. */
  connect(from: string, port: number): Promise<ConnectResult>;
  destroy(): Promise<void>;
}

export async function h5Lab(ports: readonly number[]): Promise<H5Lab> {
  const id = randomBytes(3).toString('hex');
  const s = `bh-h5-${id}-s`;
  const c = `bh-h5-${id}-c`;
  const names: string[] = [];
  const children: ChildProcess[] = [];
  const inNs = (ns: string): Runner => withPrefix(sh, ['ip', 'netns', 'exec', ns]);
  const destroy = () => killAndDelete(children, names);
  try {
    for (const ns of [s, c]) {
      await sh.run('ip', ['netns', 'add', ns]);
      names.push(ns);
    }
    await sh.run('ip', ['link', 'add', `h5${id}s`, 'netns', s, 'type', 'veth', 'peer', 'name', `h5${id}c`, 'netns', c]);
    const plan: [string, string, string[], string[]][] = [
      [s, `h5${id}s`, [ADDR.serverV4], [ADDR.serverV6]],
      [c, `h5${id}c`, [ADDR.clientV4, ADDR.clientV4b], [ADDR.clientV6, ADDR.clientV6b]],
    ];
    for (const [ns, dev, v4, v6] of plan) {
      const r = inNs(ns);
      await r.run('ip', ['link', 'set', 'lo', 'up']);
      for (const a of v4) await r.run('ip', ['addr', 'add', `${a}/24`, 'dev', dev]);
      for (const a of v6) await r.run('ip', ['-6', 'addr', 'add', `${a}/64`, 'dev', dev, 'nodad']);
      await r.run('ip', ['link', 'set', dev, 'up']);
    }
    for (const [ns, dev] of plan) await waitForCarrier(inNs(ns), dev);
    const child = spawn('ip', ['netns', 'exec', s, process.execPath, '-e', TCP_SERVER, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('test server did not start within 15 s')), 15_000);
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
  } catch (e) {
    await destroy();
    throw e;
  }
  return {
    server: inNs(s),
    names,
    connect: (from, port) => tcpProbe(inNs(c), { to: from.includes(':') ? ADDR.serverV6 : ADDR.serverV4, port, from, timeoutMs: 1200 }),
    destroy,
  };
}
