/**
 * Issue 5, round 5: a lab for the layer-7 enforcers behind a reverse proxy, with Debian's real
 * Apache (mod_remoteip + the image's banhammer-map.conf) and real nginx (realip + the geo include).
 *
 * One network namespace (bh-t-<id>-p5) with only its loopback up, holding the test addresses:
 *   PROXY  198.18.5.1  2001:db8:5::1   trusted proxy (first hop, the one that connects)
 *   HOP2   198.18.5.4  2001:db8:5::4   trusted proxy (an earlier hop of a two-hop chain)
 *   OTHER  198.18.5.2  2001:db8:5::2   an untrusted peer (a client reaching the server directly)
 * Apache listens dual-stack on [::]:8080 (Debian's APR: IPv4-mapped addresses enabled, so IPv4
 * peers arrive on the IPv6 socket) and nginx on 8081 (IPv4 and IPv6). Requests are curl from inside
 * the namespace with a chosen source address (argv, no shell). Each server's access log names the
 * client it believes (`%a` / `$remote_addr`) next to a unique request path, so a test reads back
 * exactly the address the server looked up in the map.
 *
 * destroy() stops the servers it started (by pid), deletes the namespace and the temp directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ProcessRunner } from '../../../src/exec/runner.js';

export const APACHE = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';
export const NGINX = '/usr/sbin/nginx';
export const CURL = '/usr/bin/curl';
const MAP_SNIPPET = fileURLToPath(new URL('../../../docker/apache/banhammer-map.conf', import.meta.url));

export const A = {
  proxy4: '198.18.5.1',
  proxy6: '2001:db8:5::1',
  hop4: '198.18.5.4',
  hop6: '2001:db8:5::4',
  other4: '198.18.5.2',
  other6: '2001:db8:5::2',
} as const;
export const TRUSTED = ['198.18.5.1/32', '198.18.5.4/32', '2001:db8:5::1/128', '2001:db8:5::4/128'];
export const APACHE_PORT = 8080;
export const NGINX_PORT = 8081;

const sh = new ProcessRunner({ timeoutMs: 20_000 });

/** Why this lab cannot run here, or null. */
export function labUnavailable(need: { apache?: boolean; nginx?: boolean }): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux (network namespace)';
  if (!existsSync(CURL)) return `${CURL} not installed`;
  if (need.apache) {
    if (!existsSync(APACHE)) return `${APACHE} not installed (apt-get install apache2)`;
    for (const m of ['mod_rewrite.so', 'mod_remoteip.so', 'mod_mpm_event.so', 'mod_authz_core.so', 'mod_dir.so']) {
      if (!existsSync(join(APACHE_MODULES, m))) return `${m} missing in ${APACHE_MODULES}`;
    }
  }
  if (need.nginx && !existsSync(NGINX)) return `${NGINX} not installed (apt-get install nginx)`;
  return null;
}

export interface Reply {
  readonly status: number | null;
  /** The unique path of the request, to find its access-log line. */
  readonly path: string;
}

export interface Lab {
  readonly ns: string;
  readonly dir: string;
  /** One GET to `port` from `from`; `xff` is one X-Forwarded-For header per element. */
  get(port: number, opts?: { from?: string; xff?: readonly string[]; header?: string; path?: string; host?: string }): Promise<Reply>;
  /** The client address the server logged for the request with this path (bounded wait). */
  loggedClient(log: string, path: string): Promise<string>;
  startApache(mapPath: string, opts?: { header?: string; logLevel?: string; singleChild?: boolean; after?: readonly string[] }): Promise<void>;
  /** Resident memory (kB) of Apache's child processes (not the parent), by pid. */
  apacheChildrenRss(): Promise<Map<number, number>>;
  /** `count` GETs through the trusted proxy, each naming a new client `${prefix}<hex>:<hex>` (node, in the namespace). */
  flood(port: number, count: number, prefix: string): Promise<{ done: number; errors: number }>;
  /** nginx (a new master each time) including the geo file and `<dir>/nginx.d/*.conf`; returns the reload argv. */
  startNginx(geoPath: string, opts?: { realIpRecursive?: boolean }): Promise<string[]>;
  /** Stops the running nginx (SIGQUIT to the master this lab started) and waits for it. */
  stopNginx(): Promise<void>;
  /** The local addresses (ss's `Local Address` without the port) listening on TCP `port` in the namespace. */
  listening(port: number): Promise<string[]>;
  /** Is an nginx master this lab started running? */
  nginxRunning(): boolean;
  readonly apacheLog: string;
  readonly nginxLog: string;
  readonly nginxConf: string;
  readonly apacheStderr: () => string;
  /** Starts the real agent (dist) in the namespace with this environment (PATH plus BANHAMMER_* only). */
  startAgent(env: Record<string, string>): Promise<Agent>;
  /** The CLI (dist) against the agent's socket; exit codes 0-2 are answers. */
  cli(env: Record<string, string>, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  destroy(): Promise<void>;
}

/** argv: host port count prefix. GETs with 8 in flight, each with a new X-Forwarded-For; prints {done, errors}. */
const FLOOD = `
const http = require('node:http');
const [host, port, count, prefix] = process.argv.slice(1);
const n = Number(count);
let sent = 0, done = 0, errors = 0;
const t = setTimeout(() => { console.log(JSON.stringify({ done, errors: errors + n - done })); process.exit(0); }, 240000);
function one() {
  if (sent >= n) return;
  const i = sent++;
  const xff = prefix + (i >> 16).toString(16) + ':' + (i & 0xffff).toString(16);
  const req = http.request({ host, port: Number(port), path: '/?flood', localAddress: host, agent: false, headers: { 'x-forwarded-for': xff, connection: 'close' } }, (res) => { res.resume(); res.on('end', next); });
  req.on('error', () => { errors++; next(); });
  req.end();
}
function next() { if (++done === n) { clearTimeout(t); console.log(JSON.stringify({ done, errors })); } else one(); }
for (let k = 0; k < 8; k++) one();
`;

export interface Agent {
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(REPO, 'bin', 'banhammer.js');
export const distMissing = (): string | null => (existsSync(join(REPO, 'dist', 'banhammer.js')) ? null : 'dist/banhammer.js is not built (npm run build)');

export async function createLab(): Promise<Lab> {
  const id = randomBytes(3).toString('hex');
  const ns = `bh-t-${id}-p5`;
  const dir = await mkdtemp(join(tmpdir(), 'bh-p5-'));
  await chmod(dir, 0o755); // Apache's and nginx's worker users read the map files here
  const children: ChildProcess[] = [];
  let nsMade = false;
  let seq = 0;
  let apacheErr = '';
  const apacheLog = join(dir, 'apache-access.log');
  const nginxLog = join(dir, 'nginx-access.log');
  const nginxConf = join(dir, 'nginx.conf');

  const inNs = (args: string[]) => sh.run('ip', ['netns', 'exec', ns, ...args]);

  const lab: Lab = {
    ns,
    dir,
    apacheLog,
    nginxLog,
    nginxConf,
    apacheStderr: () => apacheErr,

    async get(port, opts = {}) {
      const path = `${opts.path ?? '/'}?p5-${++seq}`;
      const from = opts.from ?? A.proxy4;
      const to = from.includes(':') ? `[${A.proxy6}]` : A.proxy4;
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '--interface', from, '-H', 'Connection: close'];
      for (const x of opts.xff ?? []) args.push('-H', `${opts.header ?? 'X-Forwarded-For'}: ${x}`);
      if (opts.host !== undefined) args.push('-H', `Host: ${opts.host}`);
      args.push(`http://${to}:${port}${path}`);
      const r = await inNs([CURL, ...args]).catch(() => null);
      const code = Number.parseInt(r?.stdout.trim() ?? '', 10);
      return { status: Number.isFinite(code) && code > 0 ? code : null, path };
    },

    async loggedClient(log, path) {
      for (let i = 0; i < 200; i++) {
        const text = await readFile(log, 'utf8').catch(() => '');
        const line = text.split('\n').find((l) => l.includes(` ${path} `));
        if (line !== undefined) return line.split(' ')[0]!;
        await sleep(25);
      }
      throw new Error(`no line for ${path} in ${log}`);
    },

    async startApache(mapPath, opts = {}) {
      await mkdir(join(dir, 'www'), { mode: 0o755, recursive: true });
      await writeFile(join(dir, 'www', 'index.html'), 'hello\n', { mode: 0o644 });
      const conf = [
        `ServerRoot ${dir}`,
        `DefaultRuntimeDir ${dir}`,
        `PidFile ${dir}/httpd.pid`,
        `ErrorLog ${dir}/apache-error.log`,
        `LogLevel ${opts.logLevel ?? 'warn'}`,
        `LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so`,
        `LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so`,
        `LoadModule dir_module ${APACHE_MODULES}/mod_dir.so`,
        'User www-data',
        'Group www-data',
        `Listen ${APACHE_PORT}`,
        // One child process: its mod_rewrite cache is the only one, so what it holds is observable.
        ...(opts.singleChild ? ['StartServers 1', 'ServerLimit 1', 'ThreadsPerChild 16', 'MaxRequestWorkers 16', 'MinSpareThreads 1', 'MaxSpareThreads 16'] : []),
        'ServerName localhost',
        'KeepAlive Off',
        `DocumentRoot ${dir}/www`,
        `<Directory ${dir}/www>`,
        '    Require all granted',
        '</Directory>',
        // %a: the client Apache believes (what the agent reads and bans); %D: microseconds spent.
        'LogFormat "%a \\"%r\\" %>s %D %{c}a" p5',
        `CustomLog ${apacheLog} p5`,
        // What the agent follows (the image's format), banned requests left out as the image does.
        'LogFormat "%a %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined',
        `CustomLog ${dir}/apache-combined.log combined env=!banhammer_banned`,
        '<Location "/forbidden">',
        '    Require all denied',
        '</Location>',
        `Define BANHAMMER_MAP_FILE ${mapPath}`,
        `Define BANHAMMER_REMOTEIP_HEADER ${opts.header ?? 'X-Forwarded-For'}`,
        `Define BANHAMMER_TRUSTED_PROXIES "${TRUSTED.join(' ')}"`,
        `Include ${MAP_SNIPPET}`,
        // What a site adds after the image's configuration (/etc/banhammer/apache/conf.d/*.conf).
        ...(opts.after ?? []),
        '',
      ].join('\n');
      await writeFile(join(dir, 'httpd.conf'), conf);
      const p = spawn('ip', ['netns', 'exec', ns, APACHE, '-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(p);
      p.stderr!.on('data', (b: Buffer) => (apacheErr += b.toString()));
      let exited: string | null = null;
      p.once('exit', (code, sig) => (exited = `apache2 exited (${code ?? sig}): ${apacheErr}`));
      for (let i = 0; ; i++) {
        if (exited) throw new Error(exited);
        if ((await lab.get(APACHE_PORT, { from: A.other4 })).status !== null) return;
        if (i > 100) throw new Error(`apache does not answer: ${apacheErr}`);
        await sleep(100);
      }
    },

    async startNginx(geoPath, opts = {}) {
      await writeFile(
        nginxConf,
        [
          'daemon off;',
          'worker_processes 1;',
          'user www-data;',
          `pid ${dir}/nginx.pid;`,
          `error_log ${dir}/nginx-error.log warn;`,
          'events { worker_connections 64; }',
          'http {',
          `    client_body_temp_path ${dir}/body;`,
          `    proxy_temp_path ${dir}/proxy;`,
          `    fastcgi_temp_path ${dir}/fastcgi;`,
          `    uwsgi_temp_path ${dir}/uwsgi;`,
          `    scgi_temp_path ${dir}/scgi;`,
          '    log_format p5 \'$remote_addr "$request" $status $request_time $realip_remote_addr\';',
          `    access_log ${nginxLog} p5;`,
          ...TRUSTED.map((t) => `    set_real_ip_from ${t};`),
          '    real_ip_header X-Forwarded-For;',
          `    real_ip_recursive ${opts.realIpRecursive === false ? 'off' : 'on'};`,
          `    include ${geoPath};`,
          `    include ${dir}/nginx.d/*.conf;`,
          '    server {',
          `        listen ${NGINX_PORT};`,
          `        listen [::]:${NGINX_PORT};`,
          '        if ($banhammer_banned) { return 403; }',
          '        location / { return 200 "hello\\n"; }',
          '    }',
          '}',
          '',
        ].join('\n'),
      );
      await mkdir(join(dir, 'nginx.d'), { recursive: true });
      let err = '';
      const p = spawn('ip', ['netns', 'exec', ns, NGINX, '-p', `${dir}/`, '-c', nginxConf], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(p);
      p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      let exited: string | null = null;
      p.once('exit', (code, sig) => (exited = `nginx exited (${code ?? sig}): ${err}`));
      for (let i = 0; ; i++) {
        if (exited) throw new Error(exited);
        if ((await lab.get(NGINX_PORT, { from: A.other4 })).status !== null) break;
        if (i > 100) throw new Error(`nginx does not answer: ${err}`);
        await sleep(100);
      }
      /** The reload command for this nginx (argv; run in the namespace: nginx -s only signals a pid). */
      return [NGINX, '-p', `${dir}/`, '-c', nginxConf, '-s', 'reload'];
    },

    async apacheChildrenRss() {
      const out = new Map<number, number>();
      const r = await sh.run('ip', ['netns', 'pids', ns]);
      const apacheParent = children.find((p) => p.spawnargs.includes(APACHE))?.pid;
      for (const pid of r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => n > 1)) {
        const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
        if (!/^Name:\s+apache2$/m.test(status) || !new RegExp(`^PPid:\\s+${apacheParent}$`, 'm').test(status)) continue;
        const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
        if (rss) out.set(pid, Number(rss[1]));
      }
      return out;
    },

    async flood(port, count, prefix) {
      const r = await sh.run('ip', ['netns', 'exec', ns, process.execPath, '-e', FLOOD, A.proxy4, String(port), String(count), prefix], { timeoutMs: 300_000 });
      const res = JSON.parse(r.stdout.trim()) as { done: number; errors: number };
      return res;
    },

    async listening(port) {
      const r = await inNs(['ss', '-Hltn', `sport = :${port}`]);
      return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/)[3]!.replace(/:\d+$/, '')).sort();
    },

    nginxRunning: () => children.some((p) => p.spawnargs.includes(NGINX) && p.exitCode === null && p.signalCode === null),

    async stopNginx() {
      for (const p of children) {
        if (!p.spawnargs.includes(NGINX) || p.exitCode !== null || p.signalCode !== null) continue;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGQUIT');
        await Promise.race([gone, sleep(10_000)]);
        if (p.exitCode === null && p.signalCode === null) throw new Error('nginx did not stop');
      }
    },

    async startAgent(env) {
      const p = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, 'run'], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(p);
      const logs: Record<string, unknown>[] = [];
      let out = '';
      let err = '';
      p.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          try {
            logs.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            logs.push({ msg: '(not json)', line });
          }
        }
      });
      p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      let exited: string | null = null;
      p.once('exit', (code, sig) => (exited = `agent exited (${code ?? sig}): ${err}`));
      for (let i = 0; !logs.some((l) => l.msg === 'banhammer started'); i++) {
        if (exited) throw new Error(exited);
        if (i > 300) throw new Error(`agent did not start: ${err} ${JSON.stringify(logs)}`);
        await sleep(100);
      }
      return {
        logs,
        async stop() {
          if (p.exitCode !== null || p.signalCode !== null) return;
          const gone = new Promise((r) => p.once('exit', r));
          p.kill('SIGTERM');
          await Promise.race([gone, sleep(15_000)]);
          if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
        },
      };
    },

    async cli(env, args) {
      const r = await sh.run('ip', ['netns', 'exec', ns, 'env', '-i', ...Object.entries({ PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env }).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, ...args], { okExitCodes: [0, 1, 2], timeoutMs: 30_000 });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },

    async destroy() {
      for (const p of children) {
        if (p.exitCode !== null || p.signalCode !== null) continue;
        const gone = new Promise((r) => p.once('exit', r));
        // `ip netns exec` execs the server, so this pid is Apache's parent / nginx's master.
        p.kill(p.spawnargs.includes(NGINX) ? 'SIGQUIT' : 'SIGTERM'); // an agent: SIGTERM
        await Promise.race([gone, sleep(10_000)]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
      if (nsMade) {
        // Leftover workers of a parent that died: started by this lab inside its own namespace.
        const pids = await sh.run('ip', ['netns', 'pids', ns]).then((r) => r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => n > 1), () => []);
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
        nsMade = false;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await sh.run('ip', ['netns', 'add', ns]);
    nsMade = true;
    await inNs(['ip', 'link', 'set', 'lo', 'up']);
    for (const a of [A.proxy4, A.hop4, A.other4]) await inNs(['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
    for (const a of [A.proxy6, A.hop6, A.other6]) await inNs(['ip', '-6', 'addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad']);
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}
