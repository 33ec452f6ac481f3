/**
 * A lab for hostile raw requests against Debian's real Apache and real nginx: what do the servers
 * write when an attacker sends bytes meant to break the log line, and does banhammer's reading of
 * that log still name the attacker, and nobody else?
 *
 * Two network namespaces joined by a veth pair (nothing in the root namespace but their names):
 *   server bh-t-<id>-hs  198.18.38.1/16  2001:db8:38::1/32
 *   client bh-t-<id>-hc  198.18.38.<n> and 2001:db8:38::<n> (direct clients, one address per request),
 *                        198.18.39.<n> and 2001:db8:39::<n> (reverse proxies: trusted, TRUSTED)
 * Apache (mod_reqtimeout, mod_remoteip) and nginx run in the server namespace:
 *   8080 Apache, the peer is the client. Logs every layout banhammer reads with `%h` / `%v`.
 *   8082 Apache with mod_remoteip (the proxies trusted): `%a`, the client the server believes.
 *   8081 nginx, the peer is the client: combined (escape=default and escape=json), main
 *        (+ "$http_x_forwarded_for"), the host layout (`$host $remote_addr`), a
 *        `$proxy_add_x_forwarded_for` list first.
 *   8083 nginx with realip (the proxies trusted, recursive): combined, `$remote_addr` the resolved client.
 * Each server also writes a `truth` log of server-made fields only (`%{c}a %a %>s` / `$realip_remote_addr
 * $remote_addr $status`): the peer, the client the server resolved, and the status, for every request.
 * `/forbidden` answers 403 everywhere, `/private` 401 (Basic auth nobody passes: the user name the
 * client sent is logged as `%u` / `$remote_user`). Header and body timeouts are short (1-2 s), so a
 * request cut mid-way is logged within seconds.
 *
 * send() runs one Node process in the client namespace that opens raw TCP connections (net.connect,
 * from a chosen source address), writes the exact bytes, optionally half-closes, and reads the
 * answer's status line (bounded in time). destroy() stops the servers (by pid), kills anything left
 * in the two namespaces (by pid, from `ip netns pids`), deletes them and the temp directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessRunner } from '../../../src/exec/runner.js';

export const APACHE = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';
export const NGINX = '/usr/sbin/nginx';

export const SERVER4 = '198.18.38.1';
export const SERVER6 = '2001:db8:38::1';
/** The reverse proxies' networks: trusted_proxies of every reading, and of the servers' remoteip / realip. */
export const TRUSTED = ['198.18.39.0/24', '2001:db8:39::/64'];

export const PORTS = { apache: 8080, apacheRemoteip: 8082, nginx: 8081, nginxRealip: 8083 } as const;
export type Port = (typeof PORTS)[keyof typeof PORTS];

/** The access logs, by the layout each is written in (file names in the lab's directory). */
export const LOGS = {
  apache: {
    truth: 'a-truth.log',
    combined: 'a-combined.log',
    common: 'a-common.log',
    vhost: 'a-vhost.log',
    host: 'a-host.log',
    hostHeader: 'a-host-header.log',
  },
  apacheRemoteip: { truth: 'ar-truth.log', combined: 'ar-combined.log' },
  nginx: { truth: 'n-truth.log', combined: 'n-combined.log', json: 'n-json.log', main: 'n-main.log', host: 'n-host.log', list: 'n-list.log' },
  nginxRealip: { truth: 'nr-truth.log', combined: 'nr-combined.log' },
} as const;

const sh = new ProcessRunner({ timeoutMs: 30_000 });

/** Why this lab cannot run here, or null. */
export function labUnavailable(): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux (network namespaces)';
  if (!existsSync(APACHE)) return `${APACHE} not installed (apt-get install apache2)`;
  if (!existsSync(NGINX)) return `${NGINX} not installed (apt-get install nginx)`;
  for (const m of ['mod_mpm_event.so', 'mod_authz_core.so', 'mod_reqtimeout.so', 'mod_remoteip.so', 'mod_auth_basic.so', 'mod_authn_core.so', 'mod_authn_file.so', 'mod_authz_user.so']) {
    if (!existsSync(join(APACHE_MODULES, m))) return `${m} missing in ${APACHE_MODULES}`;
  }
  return null;
}

/** One raw request: `data` written as is from `from` to `port` (the server's address of `from`'s family). */
export interface RawRequest {
  readonly from: string;
  readonly port: Port;
  readonly data: Buffer;
  /** Half-close after writing (FIN), as a client that has nothing more to say. Default true. */
  readonly end?: boolean;
  /** Close (RST-free) this many ms after writing without reading the answer; default: read the answer. */
  readonly closeAfterMs?: number;
}

export interface Answer {
  /** The answer's first line ('' when the server closed without a word), or an error code. */
  readonly statusLine: string;
  readonly status: number | null;
}

/** argv: none; stdin: JSON [{from, to, port, data (base64), end, closeAfterMs}]. 24 in flight; prints JSON answers. */
const SENDER = `
const net = require('node:net');
let input = '';
process.stdin.on('data', (b) => (input += b));
process.stdin.on('end', () => {
  const jobs = JSON.parse(input);
  const out = new Array(jobs.length);
  let next = 0, done = 0;
  const guard = setTimeout(() => { console.log(JSON.stringify(out)); process.exit(0); }, 25000);
  function one() {
    if (next >= jobs.length) return;
    const i = next++;
    const j = jobs[i];
    let got = Buffer.alloc(0);
    let finished = false;
    const finish = (line) => {
      if (finished) return;
      finished = true;
      out[i] = line;
      s.destroy();
      if (++done === jobs.length) { clearTimeout(guard); console.log(JSON.stringify(out)); process.exit(0); } else one();
    };
    const s = net.connect({ host: j.to, port: j.port, localAddress: j.from });
    const timer = setTimeout(() => finish(got.length ? got.toString('latin1').split('\\r\\n')[0] : 'timeout'), j.closeAfterMs ?? 8000);
    s.on('connect', () => {
      s.write(Buffer.from(j.data, 'base64'));
      if (j.end) s.end();
    });
    s.on('data', (b) => {
      if (j.closeAfterMs !== undefined) return;
      got = Buffer.concat([got, b]);
      if (got.indexOf('\\r\\n') >= 0) { clearTimeout(timer); finish(got.toString('latin1').split('\\r\\n')[0]); }
    });
    s.on('error', (e) => { clearTimeout(timer); finish('error:' + e.code); });
    s.on('close', () => { clearTimeout(timer); finish(got.toString('latin1').split('\\r\\n')[0]); });
  }
  if (jobs.length === 0) { console.log('[]'); process.exit(0); }
  for (let k = 0; k < 24; k++) one();
});
`;

export interface HostileLab {
  readonly dir: string;
  /** Adds these addresses to the client side (once each). */
  addClients(addresses: readonly string[]): Promise<void>;
  send(requests: readonly RawRequest[]): Promise<Answer[]>;
  /** A log's lines (split on LF only, as the server wrote them; the empty tail left out). */
  lines(file: string): Promise<Buffer[]>;
  destroy(): Promise<void>;
}

export interface LabOptions {
  /** nginx's large_client_header_buffers (default nginx's own, `4 8k`): sites with big cookies raise it. */
  readonly nginxLargeHeaders?: string;
}

export async function createHostileLab(opts: LabOptions = {}): Promise<HostileLab> {
  const id = randomBytes(3).toString('hex');
  const server = `bh-t-${id}-hs`;
  const client = `bh-t-${id}-hc`;
  const dir = await mkdtemp(join(tmpdir(), 'bh-hostile-'));
  await chmod(dir, 0o755);
  const children: ChildProcess[] = [];
  const made: string[] = [];
  const clients = new Set<string>();
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const p of children) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      // `ip netns exec` execs the server, so this pid is Apache's parent / nginx's master.
      p.kill(p.spawnargs.includes(NGINX) ? 'SIGQUIT' : 'SIGTERM');
      await Promise.race([gone, sleep(5_000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    for (const ns of made) {
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
    }
    await rm(dir, { recursive: true, force: true });
  };

  const batch = async (ns: string, commands: readonly string[]): Promise<void> => {
    const file = join(dir, `batch-${randomBytes(3).toString('hex')}`);
    await writeFile(file, `${commands.join('\n')}\n`);
    await sh.run('ip', ['-n', ns, '-batch', file]);
    await rm(file);
  };

  const startServer = async (argv: string[], name: string, port: number): Promise<void> => {
    let err = '';
    const p = spawn('ip', ['netns', 'exec', server, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(p);
    p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    let exited: string | null = null;
    p.once('exit', (code, sig) => (exited = `${name} exited (${code ?? sig}): ${err}`));
    for (let i = 0; ; i++) {
      if (exited) throw new Error(exited);
      const r = await sh.run('ip', ['netns', 'exec', server, 'ss', '-Hltn', `sport = :${port}`]);
      if (r.stdout.trim() !== '') return;
      if (i > 100) throw new Error(`${name} does not listen on ${port}: ${err}`);
      await sleep(50);
    }
  };

  const lab: HostileLab = {
    dir,
    async addClients(addresses) {
      const fresh = addresses.filter((a) => !clients.has(a));
      for (const a of fresh) clients.add(a);
      await batch(
        client,
        fresh.map((a) => (a.includes(':') ? `addr add ${a}/32 dev vc nodad` : `addr add ${a}/16 dev vc`)),
      );
    },
    async send(requests) {
      const jobs = requests.map((r) => ({
        from: r.from,
        to: r.from.includes(':') ? SERVER6 : SERVER4,
        port: r.port,
        data: r.data.toString('base64'),
        end: r.end ?? true,
        closeAfterMs: r.closeAfterMs,
      }));
      const out = await new Promise<string>((resolve, reject) => {
        const p = spawn('ip', ['netns', 'exec', client, process.execPath, '-e', SENDER], { stdio: ['pipe', 'pipe', 'pipe'] });
        let o = '';
        let e = '';
        p.stdout.on('data', (b: Buffer) => (o += b.toString()));
        p.stderr.on('data', (b: Buffer) => (e += b.toString()));
        p.once('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`sender exited ${code}: ${e}`))));
        p.stdin.end(JSON.stringify(jobs));
      });
      return (JSON.parse(out) as (string | null)[]).map((line) => {
        const l = line ?? 'timeout';
        const m = /^HTTP\/\d\.\d (\d{3})/.exec(l);
        return { statusLine: l, status: m ? Number(m[1]) : null };
      });
    },
    async lines(file) {
      const buf = await readFile(join(dir, file)).catch(() => Buffer.alloc(0));
      const out: Buffer[] = [];
      let s = 0;
      for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, s)) {
        out.push(buf.subarray(s, nl));
        s = nl + 1;
      }
      if (s < buf.length) out.push(buf.subarray(s));
      return out;
    },
    destroy,
  };

  try {
    for (const ns of [server, client]) {
      await sh.run('ip', ['netns', 'add', ns]);
      made.push(ns);
    }
    await sh.run('ip', ['link', 'add', 'vs', 'netns', server, 'type', 'veth', 'peer', 'name', 'vc', 'netns', client]);
    await batch(server, ['link set lo up', `addr add ${SERVER4}/16 dev vs`, `addr add ${SERVER6}/32 dev vs nodad`, 'link set vs up']);
    await batch(client, ['link set lo up', 'link set vc up']);
    await writeConfigs(dir, opts);
    await startServer([APACHE, '-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], 'apache2', PORTS.apacheRemoteip);
    await startServer([NGINX, '-p', `${dir}/`, '-c', join(dir, 'nginx.conf')], 'nginx', PORTS.nginxRealip);
    for (let i = 0; ; i++) {
      const r = await sh.run('ip', ['netns', 'exec', client, 'ip', 'link', 'show', 'vc']);
      if (/LOWER_UP/.test(r.stdout)) break;
      if (i > 100) throw new Error('veth did not come up');
      await sleep(50);
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return lab;
}

async function writeConfigs(dir: string, opts: LabOptions): Promise<void> {
  await mkdir(join(dir, 'www'), { mode: 0o755, recursive: true });
  await writeFile(join(dir, 'www', 'index.html'), 'hello\n', { mode: 0o644 });
  const combined = '\\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"';
  const L = (f: string) => join(dir, f);
  const apache = [
    `ServerRoot ${dir}`,
    `DefaultRuntimeDir ${dir}`,
    `PidFile ${dir}/httpd.pid`,
    `ErrorLog ${dir}/apache-error.log`,
    'LogLevel warn',
    `LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so`,
    `LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so`,
    `LoadModule reqtimeout_module ${APACHE_MODULES}/mod_reqtimeout.so`,
    `LoadModule remoteip_module ${APACHE_MODULES}/mod_remoteip.so`,
    `LoadModule auth_basic_module ${APACHE_MODULES}/mod_auth_basic.so`,
    `LoadModule authn_core_module ${APACHE_MODULES}/mod_authn_core.so`,
    `LoadModule authn_file_module ${APACHE_MODULES}/mod_authn_file.so`,
    `LoadModule authz_user_module ${APACHE_MODULES}/mod_authz_user.so`,
    'User www-data',
    'Group www-data',
    `Listen ${PORTS.apache}`,
    `Listen ${PORTS.apacheRemoteip}`,
    'ServerName www.example.org',
    'KeepAlive On',
    'KeepAliveTimeout 2',
    'RequestReadTimeout header=1 body=1',
    `DocumentRoot ${dir}/www`,
    `<Directory ${dir}/www>`,
    '    Require all granted',
    '</Directory>',
    '<Location "/forbidden">',
    '    Require all denied',
    '</Location>',
    // Basic auth that nobody passes: 401, and %u is the user name the client sent.
    '<Location "/private">',
    '    AuthType Basic',
    '    AuthName private',
    `    AuthUserFile ${dir}/htpasswd`,
    '    Require valid-user',
    '</Location>',
    `<VirtualHost *:${PORTS.apache}>`,
    '    UseCanonicalName Off',
    `    CustomLog ${L(LOGS.apache.truth)} "%{c}a %a %>s"`,
    `    CustomLog ${L(LOGS.apache.combined)} "%h %l %u %t ${combined}"`,
    `    CustomLog ${L(LOGS.apache.common)} "%h %l %u %t \\"%r\\" %>s %b"`,
    `    CustomLog ${L(LOGS.apache.vhost)} "%v:%p %h %l %u %t ${combined}"`,
    `    CustomLog ${L(LOGS.apache.host)} "%v %h %l %u %t ${combined}"`,
    // %V: the Host header under UseCanonicalName Off, whatever the client sent.
    `    CustomLog ${L(LOGS.apache.hostHeader)} "%V %h %l %u %t ${combined}"`,
    '</VirtualHost>',
    `<VirtualHost *:${PORTS.apacheRemoteip}>`,
    '    RemoteIPHeader X-Forwarded-For',
    `    RemoteIPTrustedProxy ${TRUSTED.join(' ')}`,
    `    CustomLog ${L(LOGS.apacheRemoteip.truth)} "%{c}a %a %>s"`,
    `    CustomLog ${L(LOGS.apacheRemoteip.combined)} "%a %l %u %t ${combined}"`,
    '</VirtualHost>',
    '',
  ].join('\n');
  await writeFile(join(dir, 'httpd.conf'), apache);
  await writeFile(join(dir, 'htpasswd'), 'nobody:!\n', { mode: 0o644 });
  const tail = '[$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
  const nginx = [
    'daemon off;',
    'worker_processes 1;',
    'user www-data;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/nginx-error.log warn;`,
    'events { worker_connections 256; }',
    'http {',
    `    client_body_temp_path ${dir}/body;`,
    `    proxy_temp_path ${dir}/proxy;`,
    `    fastcgi_temp_path ${dir}/fastcgi;`,
    `    uwsgi_temp_path ${dir}/uwsgi;`,
    `    scgi_temp_path ${dir}/scgi;`,
    '    client_header_timeout 2s;',
    '    client_body_timeout 2s;',
    '    keepalive_timeout 2s;',
    ...(opts.nginxLargeHeaders !== undefined ? [`    large_client_header_buffers ${opts.nginxLargeHeaders};`] : []),
    "    log_format truth '$realip_remote_addr $remote_addr $status';",
    `    log_format json escape=json '$remote_addr - $remote_user ${tail}';`,
    `    log_format main '$remote_addr - $remote_user ${tail} "$http_x_forwarded_for"';`,
    `    log_format host '$host $remote_addr - $remote_user ${tail}';`,
    `    log_format list '$proxy_add_x_forwarded_for - $remote_user ${tail}';`,
    '    server {',
    `        listen ${PORTS.nginx};`,
    `        listen [::]:${PORTS.nginx};`,
    `        access_log ${L(LOGS.nginx.truth)} truth;`,
    `        access_log ${L(LOGS.nginx.combined)} combined;`,
    `        access_log ${L(LOGS.nginx.json)} json;`,
    `        access_log ${L(LOGS.nginx.main)} main;`,
    `        access_log ${L(LOGS.nginx.host)} host;`,
    `        access_log ${L(LOGS.nginx.list)} list;`,
    '        location / { return 404; }',
    '        location /forbidden { return 403; }',
    `        location /private { auth_basic private; auth_basic_user_file ${dir}/htpasswd; }`,
    '    }',
    '    server {',
    `        listen ${PORTS.nginxRealip};`,
    `        listen [::]:${PORTS.nginxRealip};`,
    ...TRUSTED.map((t) => `        set_real_ip_from ${t};`),
    '        real_ip_header X-Forwarded-For;',
    '        real_ip_recursive on;',
    `        access_log ${L(LOGS.nginxRealip.truth)} truth;`,
    `        access_log ${L(LOGS.nginxRealip.combined)} combined;`,
    '        location / { return 404; }',
    '        location /forbidden { return 403; }',
    `        location /private { auth_basic private; auth_basic_user_file ${dir}/htpasswd; }`,
    '    }',
    '}',
    '',
  ].join('\n');
  await writeFile(join(dir, 'nginx.conf'), nginx);
}
