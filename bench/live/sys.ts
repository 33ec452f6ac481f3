/**
 * System edges of the live benchmark: network namespaces (created here, deleted in cleanup with
 * everything in them: interfaces, iptables rules, ipsets), child processes tracked by pid, a
 * persistent `ipset -` (interactive mode) inside a namespace for cheap kernel-set polling, and
 * /proc readers.
 *
 * Every resource is registered in a Cleanup as soon as it exists; Cleanup.run() ends tracked
 * processes (SIGTERM, then SIGKILL after a bound), deletes namespaces and temp dirs, in reverse
 * order, and never throws.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRunner } from '../../src/exec/runner.js';
import { parseIpsetEntries, parseProcIo, parseProcStat, parseProcStatus } from './util.js';

export const sh = new ProcessRunner({ timeoutMs: 30_000 });
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<void> }[] = [];
  add(what: string, fn: () => Promise<void>): void {
    this.steps.push({ what, fn });
  }
  async run(): Promise<string[]> {
    const errors: string[] = [];
    while (this.steps.length > 0) {
      const s = this.steps.pop()!;
      try {
        await s.fn();
      } catch (e) {
        errors.push(`cleanup ${s.what}: ${(e as Error).message}`);
      }
    }
    return errors;
  }
}

export function tempDir(cleanup: Cleanup, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.add(`rm ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Ends one child we started, by pid: SIGTERM, then SIGKILL after `graceMs`. Resolves once it exited. */
export async function endChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((res) => child.once('exit', () => res()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await gone;
  clearTimeout(t);
}

/** Starts a child and registers its end in the cleanup. */
export function startChild(cleanup: Cleanup, cmd: string, args: readonly string[], opts: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.on('error', () => undefined);
  cleanup.add(`process ${cmd} ${child.pid ?? '?'}`, () => endChild(child));
  return child;
}

export interface Lab {
  /** The protected namespace (agent or fail2ban, the web server). */
  readonly server: string;
  /** The client namespace (load generator), joined to `server` by a veth pair. */
  readonly client: string;
  readonly serverAddr: string;
  readonly clientAddr: string;
}

/** Two namespaces bhb-<id>-<tag>s / -<tag>c joined by a veth pair; 198.18.0.1 ↔ 198.18.0.2. */
export async function createLab(cleanup: Cleanup, tag: string): Promise<Lab> {
  const id = randomBytes(3).toString('hex');
  const server = `bhb-${id}-${tag}s`;
  const client = `bhb-${id}-${tag}c`;
  for (const ns of [server, client]) {
    await sh.run('ip', ['netns', 'add', ns]);
    cleanup.add(`netns ${ns}`, async () => {
      await sh.run('ip', ['netns', 'del', ns]);
    });
  }
  const vs = `bhb${id}${tag}s`.slice(0, 15);
  const vc = `bhb${id}${tag}c`.slice(0, 15);
  await sh.run('ip', ['link', 'add', vs, 'netns', server, 'type', 'veth', 'peer', 'name', vc, 'netns', client]);
  const lab: Lab = { server, client, serverAddr: '198.18.0.1', clientAddr: '198.18.0.2' };
  for (const [ns, dev, addr] of [
    [server, vs, lab.serverAddr],
    [client, vc, lab.clientAddr],
  ] as const) {
    await sh.run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    await sh.run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${addr}/24`, 'dev', dev]);
    await sh.run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', dev, 'up']);
  }
  return lab;
}

/** Why the live benchmark cannot run here, or null. */
export async function liveUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables, ipset)';
  for (const [bin, args] of [
    ['ip', ['-V']],
    ['ipset', ['version']],
    ['iptables', ['--version']],
  ] as const) {
    try {
      await sh.run(bin, [...args]);
    } catch (e) {
      return `${bin} is not usable: ${(e as Error).message}`;
    }
  }
  const probe = `bhb-probe-${randomBytes(3).toString('hex')}`;
  try {
    await sh.run('ip', ['netns', 'add', probe]);
  } catch (e) {
    return `cannot create a network namespace: ${(e as Error).message}`;
  }
  await sh.run('ip', ['netns', 'del', probe]).catch(() => undefined);
  return null;
}

/**
 * A long-lived `ipset -` in a namespace: one netlink round trip per query instead of a process per
 * poll. Queries are serialised. Only ask about sets that exist (an error can wedge the session; it
 * is then restarted).
 */
export class IpsetProbe {
  private child: ChildProcess | null = null;
  private out = '';
  private err = '';
  private pending: { kind: 'test' | 'count'; resolve: (v: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cleanup: Cleanup,
    private readonly ns: string,
  ) {}

  private ensure(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const c = startChild(this.cleanup, 'ip', ['netns', 'exec', this.ns, 'stdbuf', '-oL', 'ipset', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.out = '';
    this.err = '';
    c.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.out += s;
      this.check();
    });
    c.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.err += s;
      this.check();
    });
    c.stdin!.on('error', () => undefined);
    c.once('exit', () => this.fail(new Error('ipset - exited')));
    this.child = c;
    return c;
  }

  private check(): void {
    const p = this.pending;
    if (!p) return;
    const nl = this.err.indexOf('\n');
    if (nl >= 0) {
      const line = this.err.slice(0, nl);
      this.err = this.err.slice(nl + 1);
      if (line.startsWith('ipset v')) return this.fail(new Error(line));
      if (p.kind === 'test') return this.done(line);
    }
    if (p.kind === 'count') {
      const m = /Number of entries: \d+\n/.exec(this.out);
      if (m) {
        const text = this.out.slice(0, m.index + m[0].length);
        this.out = this.out.slice(m.index + m[0].length);
        this.done(text);
      }
    } else {
      this.out = '';
    }
  }

  private done(v: string): void {
    const p = this.pending!;
    this.pending = null;
    clearTimeout(p.timer);
    p.resolve(v);
  }

  private fail(e: Error): void {
    const p = this.pending;
    this.pending = null;
    if (this.child && this.child.exitCode === null) void endChild(this.child, 1000);
    this.child = null;
    if (p) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }

  private ask(kind: 'test' | 'count', cmd: string): Promise<string> {
    const run = (): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        const c = this.ensure();
        const timer = setTimeout(() => this.fail(new Error(`ipset probe: no answer to ${cmd} in 5 s`)), 5000);
        this.pending = { kind, resolve, reject, timer };
        c.stdin!.write(`${cmd}\n`);
      });
    const r = this.chain.then(run, run);
    this.chain = r.catch(() => undefined);
    return r;
  }

  async has(set: string, ip: string): Promise<boolean> {
    const line = await this.ask('test', `test ${set} ${ip}`);
    return line.includes(' is in set');
  }

  async count(set: string): Promise<number> {
    return parseIpsetEntries(await this.ask('count', `list -t ${set}`));
  }

  async close(): Promise<void> {
    if (this.child) {
      this.child.stdin?.end();
      await endChild(this.child, 2000);
    }
    this.child = null;
  }
}

/** Whether a set exists in the namespace (one process; for waiting before a probe may ask). */
export async function setExists(ns: string, set: string): Promise<boolean> {
  const r = await sh.run('ip', ['netns', 'exec', ns, 'ipset', 'list', '-n'], { timeoutMs: 10_000 });
  return r.stdout.split('\n').includes(set);
}

export async function waitFor(what: string, boundMs: number, fn: () => Promise<boolean> | boolean, everyMs = 50): Promise<void> {
  const end = nowMs() + boundMs;
  for (;;) {
    if (await fn()) return;
    if (nowMs() > end) throw new Error(`timed out after ${boundMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const TICKS = 100; // USER_HZ on Linux

export function procCpu(pid: number): { self: number; children: number } {
  const s = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  return { self: s.self / TICKS, children: s.children / TICKS };
}

export function procMem(pid: number): { rssBytes: number; hwmBytes: number } {
  return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'latin1'));
}

export function procRchar(pid: number): number {
  return parseProcIo(readFileSync(`/proc/${pid}/io`, 'latin1'));
}
