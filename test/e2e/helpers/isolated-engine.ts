/**
 * A Docker engine of its own, inside a network namespace this helper creates, with iptables on: Docker
 * builds its real FORWARD / DOCKER / DOCKER-USER chains and the DNAT of published ports there, where
 * nothing else on the machine sees them, and deleting the namespace removes them all. For tests of
 * what Docker does to the firewall (host mode); the session's engine runs with --iptables=false.
 *
 * - start(): `ip netns add`, then dockerd entered into that namespace only (nsenter --net: it keeps the
 *   root mount namespace, so its cgroups and bind mounts work as usual) with its own --data-root,
 *   --exec-root, --pidfile and socket (unix:///run/<tag>.sock), --bip and --default-address-pool from
 *   the caller's range. Its managed containerd lives under the exec-root.
 * - restart(): stops dockerd (SIGTERM to its pid, waits; without --live-restore its containers stop
 *   too) and starts it again on the same directories: Docker sets up its chains again and restarts
 *   the containers whose restart policy says so (with --live-restore they keep running throughout).
 * - loadImage(tag): `docker save` from the session engine into this one (no registry, no network).
 * - link(name, n): a client namespace joined to the engine's by a veth pair, /30 number n of the
 *   caller's link range: the engine end answers for published ports, the client has its own address.
 * - destroy(): stops dockerd by pid and waits, waits for the processes it left in the namespace
 *   (containerd, shims; killed by pid if they overstay), unmounts whatever is still mounted under its
 *   directories, removes them, the socket and pidfile, the client namespaces and the engine's.
 *   Safe to call twice, and after a failed start.
 *
 * Every command runs with an argument array; the only shell is the `docker save | docker load` pipe,
 * whose arguments are passed as positional parameters.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, runOk, which, type RunOptions, type RunResult } from './run.js';

export interface IsolatedEngineOptions {
  /** Short name, [a-z0-9-], prefix of the namespace, socket and directories. */
  readonly tag: string;
  /** docker0's address and prefix, e.g. 198.19.200.1/24. */
  readonly bip: string;
  /** --default-address-pool, e.g. base=198.19.202.0/23,size=24. */
  readonly addressPool: string;
  /** First three octets of a /24 for client links, e.g. 198.19.204: link n is .4n/30. */
  readonly linkPrefix: string;
  /** More dockerd flags. */
  readonly extraArgs?: readonly string[];
}

/** What a test needs before it can start an isolated engine; null when everything is there. */
export function isolatedEngineMissing(): string | null {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'not root: starting dockerd in a network namespace needs root';
  for (const tool of ['dockerd', 'docker', 'nsenter', 'ip', 'curl', 'iptables-save']) {
    if (which(tool) === null) return `${tool} not found (scripts/install-deps.sh installs it)`;
  }
  return null;
}

/** A client namespace linked to the engine's namespace. */
export class LinkedNetns {
  constructor(
    readonly name: string,
    /** The engine end: where published ports answer for this client. */
    readonly engineAddr: string,
    /** The client's own address (what the apps log and the agent bans). */
    readonly clientAddr: string,
  ) {}

  /** HTTP GET from inside the namespace: status (null: no answer) and the X-App header, if any. */
  async get(port: number, path: string, timeoutS = 2): Promise<{ status: number | null; app: string | null }> {
    const r = await run(
      'ip',
      ['netns', 'exec', this.name, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %header{x-app}', '--max-time', String(timeoutS), `http://${this.engineAddr}:${port}${path}`],
      { timeoutMs: (timeoutS + 5) * 1000 },
    );
    const [code = '', app = ''] = r.stdout.trim().split(' ');
    const status = Number.parseInt(code, 10);
    return { status: Number.isFinite(status) && status > 0 ? status : null, app: app === '' ? null : app };
  }
}

export class IsolatedEngine {
  readonly netns: string;
  readonly socket: string;
  readonly host: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly pidFile: string;
  readonly logFile: string;
  private child: ChildProcess | null = null;
  private childExited: Promise<void> = Promise.resolve();
  private readonly links: LinkedNetns[] = [];
  private destroyed = false;
  private extraArgs: readonly string[];

  private constructor(private readonly opts: IsolatedEngineOptions) {
    if (!/^[a-z0-9-]{1,24}$/.test(opts.tag)) throw new Error(`isolated engine tag ${JSON.stringify(opts.tag)}: use 1-24 of [a-z0-9-]`);
    this.netns = `${opts.tag}-eng`;
    this.socket = `/run/${opts.tag}.sock`;
    this.host = `unix://${this.socket}`;
    this.dataRoot = join(tmpdir(), `${opts.tag}-docker`);
    this.execRoot = `/run/${opts.tag}-x`;
    this.pidFile = `/run/${opts.tag}.pid`;
    this.logFile = join(tmpdir(), `${opts.tag}-dockerd.log`);
    this.extraArgs = opts.extraArgs ?? [];
  }

  /** Creates the namespace and starts dockerd in it; on failure everything made so far is removed. */
  static async start(opts: IsolatedEngineOptions): Promise<IsolatedEngine> {
    const e = new IsolatedEngine(opts);
    try {
      await runOk('ip', ['netns', 'add', e.netns]);
      await runOk('ip', ['-n', e.netns, 'link', 'set', 'lo', 'up']);
      mkdirSync(e.dataRoot, { recursive: true });
      mkdirSync(e.execRoot, { recursive: true });
      await e.startDaemon();
    } catch (err) {
      await e.destroy().catch(() => {});
      throw err;
    }
    return e;
  }

  /** Environment for docker / docker-compose talking to this engine. */
  env(): Record<string, string> {
    return { DOCKER_HOST: this.host };
  }

  docker(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('docker', ['-H', this.host, ...args], { timeoutMs: 60_000, ...opts });
  }

  dockerOk(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return runOk('docker', ['-H', this.host, ...args], { timeoutMs: 60_000, ...opts });
  }

  /** A command inside the engine's network namespace (iptables-save, ipset …). */
  inNetns(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.netns, cmd, ...args], { timeoutMs: 30_000, ...opts });
  }

  /** dockerd's pid while it runs. */
  get pid(): number | null {
    return this.child?.exitCode === null && this.child.signalCode === null ? (this.child.pid ?? null) : null;
  }

  async answers(): Promise<boolean> {
    return (await this.docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 15_000 })).code === 0;
  }

  private async startDaemon(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    const args = [
      `--net=/run/netns/${this.netns}`,
      'dockerd',
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '--pidfile', this.pidFile,
      '-H', this.host,
      '--bip', this.opts.bip,
      '--default-address-pool', this.opts.addressPool,
      '--iptables=true',
      '--ip-forward=true',
      ...this.extraArgs,
    ];
    const child = spawn('nsenter', args, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.childExited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.unref();
    for (let i = 0; i < 120; i++) {
      if (this.pid === null) break;
      if (await this.answers()) return;
      await sleep(250);
    }
    throw new Error(`isolated dockerd (${this.opts.tag}) did not come up within 30 s; log ${this.logFile}:\n${this.logTail()}`);
  }

  /** SIGTERM to dockerd, waits up to `seconds` (then SIGKILL and waits again). */
  private async stopDaemon(seconds = 40): Promise<void> {
    const child = this.child;
    if (child === null) return;
    if (this.pid !== null) {
      child.kill('SIGTERM');
      const done = await Promise.race([this.childExited.then(() => true), sleep(seconds * 1000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await Promise.race([this.childExited, sleep(10_000)]);
      }
    }
    this.child = null;
  }

  /**
   * Stops dockerd and starts it again on the same directories and namespace; `extraArgs` replaces
   * the extra flags from then on (e.g. --live-restore: later restarts leave the containers running).
   */
  async restart(extraArgs?: readonly string[]): Promise<void> {
    await this.stopDaemon();
    if (extraArgs !== undefined) this.extraArgs = extraArgs;
    await this.startDaemon();
  }

  /** Copies an image of the session engine into this one. */
  async loadImage(tag: string): Promise<void> {
    await runOk('sh', ['-c', 'docker save "$1" | docker -H "$2" load', 'sh', tag, this.host], { timeoutMs: 10 * 60_000 });
  }

  /** A namespace `<tag>-<name>` joined to the engine's by a veth pair: /30 number `n` of linkPrefix. */
  async link(name: string, n: number): Promise<LinkedNetns> {
    if (!/^[a-z0-9]{1,6}$/.test(name) || !Number.isInteger(n) || n < 0 || n > 63) throw new Error(`link ${name} ${n}: bad name or number`);
    const ns = `${this.opts.tag}-${name}`;
    const engineIf = `v-${name}`;
    const l = new LinkedNetns(ns, `${this.opts.linkPrefix}.${4 * n + 1}`, `${this.opts.linkPrefix}.${4 * n + 2}`);
    this.links.push(l);
    await runOk('ip', ['netns', 'add', ns]);
    await runOk('ip', ['-n', this.netns, 'link', 'add', engineIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await runOk('ip', ['-n', this.netns, 'addr', 'add', `${l.engineAddr}/30`, 'dev', engineIf]);
    await runOk('ip', ['-n', this.netns, 'link', 'set', engineIf, 'up']);
    await runOk('ip', ['-n', ns, 'addr', 'add', `${l.clientAddr}/30`, 'dev', 'eth0']);
    await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return l;
  }

  /** Pids of processes in the engine's namespace (dockerd's containerd and shims; host-network containers). */
  private async pidsInNetns(): Promise<number[]> {
    const r = await run('ip', ['netns', 'pids', this.netns]);
    return r.stdout.split('\n').map((s) => Number.parseInt(s.trim(), 10)).filter((p) => Number.isInteger(p) && p > 1);
  }

  async destroy(): Promise<string[]> {
    if (this.destroyed) return [];
    this.destroyed = true;
    const problems: string[] = [];
    await this.stopDaemon();
    if (existsSync(`/run/netns/${this.netns}`)) {
      // containerd and the shims leave after dockerd; anything still in our namespace after that is ours.
      let left = await this.pidsInNetns();
      for (let i = 0; i < 60 && left.length > 0; i++) {
        await sleep(250);
        left = await this.pidsInNetns();
      }
      if (left.length > 0) {
        problems.push(`processes left in ${this.netns} after dockerd stopped (killed): ${left.join(' ')}`);
        for (const p of left) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        for (let i = 0; i < 20 && (await this.pidsInNetns()).length > 0; i++) await sleep(250);
      }
    }
    // Mounts dockerd made (overlay, shm, netns files) are in the root mount namespace: deepest first.
    for (const m of this.mountsUnder([this.dataRoot, this.execRoot])) {
      const r = await run('umount', ['-l', m]);
      if (r.code !== 0) problems.push(`umount ${m}: ${r.stderr.trim()}`);
    }
    for (const p of [this.dataRoot, this.execRoot, this.socket, this.pidFile]) {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch (e) {
        problems.push(`rm ${p}: ${String(e)}`);
      }
    }
    for (const l of this.links) await run('ip', ['netns', 'del', l.name]);
    await run('ip', ['netns', 'del', this.netns]);
    if (problems.length === 0) rmSync(this.logFile, { force: true });
    return problems;
  }

  private mountsUnder(roots: readonly string[]): string[] {
    let text = '';
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return [];
    }
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    const points = text
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((p): p is string => p !== undefined)
      .map(unescape)
      .filter((p) => roots.some((r) => p === r || p.startsWith(`${r}/`)));
    return [...new Set(points)].sort((a, b) => b.length - a.length);
  }

  logTail(lines = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}
