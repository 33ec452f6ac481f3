/**
 * Fixture for integration tests of the live agent (`node bin/banhammer.js run`) with the real kernel.
 *
 * createAgentLab() builds, inside throw-away network namespaces (createStar in ../netns.ts):
 * - a "server" namespace running Debian's apache2 with its own minimal config in a temp dir:
 *   Listen 8080 (protected) and 8081 (not in BANHAMMER_PORTS), `/ok` → 200, `/forbidden/` → 403
 *   (`Require all denied`), a combined-format CustomLog to `<tmp>/access.log`;
 * - an "attacker" and a "legit" client namespace, each on its own veth link to the server
 *   (addresses in 198.18.0.0/15 and 2001:db8::/32 only);
 * - helpers to start/stop the agent in the server namespace with a clean BANHAMMER_* environment,
 *   run the CLI against its socket, send requests with curl from a client namespace (argv arrays,
 *   never a shell), read the kernel's sets and the agent's /metrics.
 * destroy() stops every process it started (by pid), deletes the namespaces (and with them every
 * rule and set inside) and removes the temp dir; it is safe after a partial setup and when called
 * twice. Nothing is done in the root namespace's firewall.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { ProcessRunner, type RunResult } from '../../../src/exec/runner.js';
import { backendBinaries, type Backend } from '../../../src/enforce/backend-mode.js';
import { firewallNames, parseSetSave, type FirewallNames, type SetEntry } from '../../../src/enforce/iptables-args.js';
import type { StatusReport } from '../../../src/control/protocol.js';
import { createStar, firewallUnavailable, netnsUnavailable, type Star, type StarClient } from '../netns.js';

export const PROTECTED = 8080;
export const OPEN = 8081;
export const METRICS_PORT = 9464;
const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const BIN = join(REPO, 'bin', 'banhammer.js');
const NODE = process.execPath;
const sh = new ProcessRunner({ timeoutMs: 30_000 });

/** Why the agent lab cannot run here, or null; also the iptables backend to use. */
export async function agentLabUnavailable(): Promise<{ skip: string | null; mode: 'nft' | 'legacy' }> {
  const noNetns = await netnsUnavailable();
  if (noNetns) return { skip: noNetns, mode: 'nft' };
  for (const [bin, pkg] of [['apache2', 'apache2'], ['curl', 'curl'], ['ipset', 'ipset']] as const) {
    const ok = await sh.run('sh', ['-c', 'command -v "$1"', 'sh', bin]).then(() => true, () => false);
    if (!ok) return { skip: `${bin} is not installed (apt-get install ${pkg})`, mode: 'nft' };
  }
  if (!existsSync(join(REPO, 'dist', 'banhammer.js'))) return { skip: 'dist/banhammer.js is not built (npm run build)', mode: 'nft' };
  const nft = await firewallUnavailable('iptables-nft');
  if (nft === null) return { skip: null, mode: 'nft' };
  const legacy = await firewallUnavailable('iptables-legacy');
  if (legacy === null) return { skip: null, mode: 'legacy' };
  return { skip: `no iptables backend with ipset works in a namespace (${nft}; ${legacy})`, mode: 'nft' };
}

export interface AgentProcess {
  readonly child: ChildProcess;
  /** Parsed pino lines from stdout, in order. */
  readonly logs: Record<string, unknown>[];
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface AgentLab {
  readonly star: Star<'attacker' | 'legit'>;
  readonly attacker: StarClient;
  readonly legit: StarClient;
  readonly dir: string;
  readonly accessLog: string;
  readonly instance: string;
  readonly names: FirewallNames;
  readonly backend: Backend;
  /** The agent's environment (clean: PATH plus BANHAMMER_* only) with `extra` on top. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Starts `banhammer run` in the server namespace; resolves once it logged 'banhammer started'. */
  startAgent(extra?: Record<string, string>): Promise<AgentProcess>;
  /** Starts argv in the server namespace with the agent env (not waiting for anything). */
  spawnAgentRaw(argv: readonly string[], extra?: Record<string, string>): AgentProcess;
  /** `banhammer ARGS` in the server namespace against the agent's socket (exit codes 0–2 resolve). */
  cli(args: readonly string[]): Promise<RunResult>;
  status(rule: string): Promise<StatusReport>;
  /** HTTP status code from a curl in `client`'s namespace ('000' when no answer within maxTime s). */
  curl(client: StarClient, opts: { family?: 4 | 6; from?: 0 | 1; port?: number; path: string; userAgent?: string; maxTime?: number }): Promise<string>;
  /** Entries of this instance's set for a family, as the kernel holds them. */
  setEntries(family: 4 | 6): Promise<SetEntry[]>;
  /** Runs a command in the server namespace. */
  inServer(cmd: string, args: readonly string[], okExitCodes?: number[]): Promise<RunResult>;
  /** A counter/gauge from the agent's /metrics (sum over the series matching `labels`), or null. */
  metric(name: string, labels?: string): Promise<number | null>;
  appendLog(lines: readonly string[]): Promise<void>;
  destroy(): Promise<void>;
}

/** Apache's %t: [23/Nov/2026:11:05:35 +0000]. */
export function apacheTime(ms: number): string {
  const d = new Date(ms);
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]!;
  const p = (n: number) => String(n).padStart(2, '0');
  return `[${p(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000]`;
}

/** Polls `fn` until `ok` holds or `limitMs` passes (then throws with the last value). */
export async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, limitMs: number, stepMs = 100): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${limitMs} ms (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

function apacheConf(dir: string): string {
  const mod = (name: string, file: string) => `LoadModule ${name} /usr/lib/apache2/modules/${file}`;
  return [
    `ServerRoot "${dir}"`,
    'ServerName localhost',
    mod('mpm_event_module', 'mod_mpm_event.so'),
    mod('authz_core_module', 'mod_authz_core.so'),
    mod('dir_module', 'mod_dir.so'),
    'User www-data',
    'Group www-data',
    `PidFile "${dir}/httpd.pid"`,
    `DefaultRuntimeDir "${dir}"`,
    `Mutex file:${dir}`,
    `ErrorLog "${dir}/error.log"`,
    'LogLevel warn',
    `Listen ${PROTECTED}`,
    `Listen ${OPEN}`,
    'StartServers 1',
    'ServerLimit 2',
    'ThreadsPerChild 10',
    'MaxRequestWorkers 20',
    'KeepAlive Off',
    'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined',
    `CustomLog "${dir}/access.log" combined`,
    `DocumentRoot "${dir}/www"`,
    '<Directory />',
    '  Require all denied',
    '</Directory>',
    `<Directory "${dir}/www">`,
    '  Require all granted',
    '  DirectoryIndex index.html',
    '</Directory>',
    `<Directory "${dir}/www/forbidden">`,
    '  Require all denied',
    '</Directory>',
    '',
  ].join('\n');
}

export async function createAgentLab(mode: 'nft' | 'legacy'): Promise<AgentLab> {
  const id = randomBytes(3).toString('hex');
  const instance = `agt${id}`;
  const names = firewallNames(instance);
  const backend = backendBinaries(mode, 'agent integration test');
  let star: Star<'attacker' | 'legit'> | undefined;
  let dir: string | undefined;
  const destroy = async (): Promise<void> => {
    await star?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  };
  try {
    dir = await mkdtemp(join(tmpdir(), 'bh-agent-'));
    await chmod(dir, 0o755); // Apache's workers run as www-data and read the DocumentRoot
    await mkdir(join(dir, 'www', 'forbidden'), { recursive: true });
    await mkdir(join(dir, 'state'));
    await writeFile(join(dir, 'www', 'ok'), 'ok\n', { mode: 0o644 });
    await writeFile(join(dir, 'www', 'forbidden', 'index.html'), 'never served\n', { mode: 0o644 });
    await chmod(join(dir, 'www'), 0o755);
    await chmod(join(dir, 'www', 'forbidden'), 0o755);
    await writeFile(join(dir, 'httpd.conf'), apacheConf(dir));
    star = await createStar(['attacker', 'legit'] as const);
  } catch (e) {
    await destroy();
    throw e;
  }
  const s = star;
  const d = dir;
  const accessLog = join(d, 'access.log');
  const inServer = (cmd: string, args: readonly string[], okExitCodes = [0]) => s.runIn(s.server).run(cmd, args, { okExitCodes, timeoutMs: 30_000 });

  const baseEnv: Record<string, string> = {
    BANHAMMER_INSTANCE: instance,
    BANHAMMER_LOG_PATH: accessLog,
    BANHAMMER_STATE_DIR: join(d, 'state'),
    BANHAMMER_SOCKET: join(d, 'banhammer.sock'),
    BANHAMMER_PORTS: String(PROTECTED),
    BANHAMMER_IPTABLES_MODE: mode,
    BANHAMMER_MAXRETRY: '6',
    BANHAMMER_FINDTIME: '1m',
    BANHAMMER_BANTIME: '1h',
    BANHAMMER_METRICS_ADDR: `127.0.0.1:${METRICS_PORT}`,
    BANHAMMER_LOG_LEVEL: 'info',
  };
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...baseEnv, ...extra });

  const spawnAgentRaw = (argv: readonly string[], extra: Record<string, string> = {}): AgentProcess => {
    const child = s.spawnIn(s.server, argv, { env: env(extra), stopSignal: 'SIGTERM' });
    const logs: Record<string, unknown>[] = [];
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ msg: '(not json)', line });
        }
      }
    });
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.once('exit', (code, signal) => res({ code, signal })),
    );
    return { child, logs, stderr: () => err, exited };
  };

  const lab: AgentLab = {
    star: s,
    attacker: s.clients.attacker,
    legit: s.clients.legit,
    dir: d,
    accessLog,
    instance,
    names,
    backend,
    env,
    spawnAgentRaw,
    async startAgent(extra = {}) {
      const a = spawnAgentRaw([NODE, BIN, 'run'], extra);
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      void a.exited.then((e) => (exit = e));
      await until(
        'agent start',
        async () => (exit ? 'exited' : a.logs.some((l) => l.msg === 'banhammer started') ? 'started' : 'starting'),
        (v) => v !== 'starting',
        30_000,
        50,
      );
      if (exit) throw new Error(`agent exited during start (${JSON.stringify(exit)}): ${a.stderr()}\n${JSON.stringify(a.logs)}`);
      return a;
    },
    cli: (args) => inServer('env', ['-i', ...Object.entries(env()).map(([k, v]) => `${k}=${v}`), NODE, BIN, ...args], [0, 1, 2]),
    async status(rule) {
      const r = await lab.cli(['status', rule, '--json']);
      if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as StatusReport;
    },
    async curl(client, { family = 4, from = 0, port = PROTECTED, path, userAgent, maxTime = 2 }) {
      const src = family === 4 ? client.v4[from] : client.v6[from];
      const host = family === 4 ? client.serverV4 : `[${client.serverV6}]`;
      const args = ['-g', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(maxTime), '--interface', src];
      if (userAgent !== undefined) args.push('-A', userAgent);
      args.push(`http://${host}:${port}${path}`);
      // curl exits 28 on a timeout and 7 on a refused connection; the printed code is what we want.
      const r = await s.runIn(client.ns).run('curl', args, { okExitCodes: [0, 7, 28], timeoutMs: (maxTime + 15) * 1000 });
      return r.stdout.trim();
    },
    async setEntries(family) {
      const set = names.sets[family];
      const r = await inServer('ipset', ['save', set], [0, 1]);
      return r.code === 0 ? parseSetSave(r.stdout, set) : [];
    },
    inServer,
    async metric(name, labels) {
      const r = await inServer('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${METRICS_PORT}/metrics`], [0, 7, 28]);
      if (r.code !== 0) return null;
      let sum: number | null = null;
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
        if (labels !== undefined && !line.includes(labels)) continue;
        sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return sum;
    },
    appendLog: (lines) => appendFile(accessLog, lines.map((l) => `${l}\n`).join('')),
    destroy,
  };

  try {
    s.spawnIn(s.server, ['apache2', '-f', join(d, 'httpd.conf'), '-DFOREGROUND'], { stopSignal: 'SIGTERM' });
    await until(
      'Apache answering on both ports',
      async () => {
        const codes: string[] = [];
        for (const port of [PROTECTED, OPEN]) {
          const r = await inServer('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', `http://127.0.0.1:${port}/ok`], [0, 7, 28]);
          codes.push(r.stdout.trim());
        }
        return codes.join(',');
      },
      (v) => v === '200,200',
      20_000,
      200,
    );
  } catch (e) {
    await destroy();
    throw e;
  }
  return lab;
}
