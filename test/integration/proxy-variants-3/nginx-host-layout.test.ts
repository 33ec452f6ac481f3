/**
 * Issue 5, round 3, against Debian's real nginx on 127.0.0.1 (skipped without /usr/sbin/nginx): the
 * lines nginx itself writes for `$host $remote_addr - $remote_user … "$http_x_forwarded_for"` (the
 * host layout with nginx main's trailing field, which the README says `auto` reads behind a trusted
 * proxy), for a client that sends `Host: 198.18.0.9,` or a Basic-auth user name with a comma:
 * - behind the trusted peer (127.0.0.1 here), the client is the one the forwarded header names,
 *   never the address in the Host header;
 * - without trusted proxies, the client's own user name never has its line skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSkip, type LogFormat } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const NGINX = '/usr/sbin/nginx';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

describe.skipIf(!existsSync(NGINX))('real nginx, $host layout with the trailing X-Forwarded-For field', () => {
  let dir: string;
  let port: number;
  let nginx: ChildProcess | undefined;
  let seq = 0;

  const get = (headers: Record<string, string>): Promise<string> => {
    const path = `/p${++seq}`;
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(path));
      });
      req.on('error', reject);
      req.end();
    });
  };

  const logged = async (path: string): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const l = (await readFile(join(dir, 'access.log'), 'utf8').catch(() => '')).split('\n').find((x) => x.includes(`GET ${path} `));
      if (l !== undefined) return l;
      await sleep(30);
    }
    throw new Error(`no access-log line for ${path}`);
  };

  const who = (l: string, f: LogFormat, trusted: string[]): string => {
    const r = createLineParser(f, { trustedProxies: trusted })(l);
    return isSkip(r) ? r : r.ip;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-pv3-nginx-'));
    await chmod(dir, 0o755);
    port = await freePort();
    const conf = join(dir, 'nginx.conf');
    await writeFile(
      conf,
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log warn;`,
        'events { worker_connections 64; }',
        'http {',
        `    log_format hostmain '$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"';`,
        `    access_log ${dir}/access.log hostmain;`,
        `    client_body_temp_path ${dir}/body;`,
        `    proxy_temp_path ${dir}/proxy;`,
        `    fastcgi_temp_path ${dir}/fastcgi;`,
        `    uwsgi_temp_path ${dir}/uwsgi;`,
        `    scgi_temp_path ${dir}/scgi;`,
        '    server {',
        `        listen 127.0.0.1:${port};`,
        '        location / { return 403; }',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
    let stderr = '';
    nginx = spawn(NGINX, ['-p', `${dir}/`, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    let exited: string | null = null;
    nginx.once('exit', (code, sig) => (exited = `nginx exited (${code ?? sig}): ${stderr}`));
    for (let i = 0; ; i++) {
      if (exited) throw new Error(exited);
      if (await get({}).then(() => true, () => false)) break;
      if (i > 100) throw new Error(`nginx does not answer: ${stderr}`);
      await sleep(100);
    }
  }, 30_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      const gone = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGQUIT');
      await Promise.race([gone, sleep(10_000)]);
      if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGKILL');
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const host of ['198.18.0.9,', '198.18.0.9,198.18.0.8,', 'a,', 'x,198.18.0.9,']) {
    it(`Host ${JSON.stringify(host)} from the trusted peer: the line names the forwarded client`, async () => {
      const line = await logged(await get({ host, 'x-forwarded-for': '198.18.0.5' }));
      expect(line.startsWith(`${host} 127.0.0.1 - - [`), line).toBe(true);
      expect(who(line, 'auto', ['127.0.0.1/32']), line).toBe('198.18.0.5');
    });
  }

  for (const user of ['Doe, John', 'John 198.18.0.9', 'x, 198.18.0.5 y', `${'a '.repeat(20)}x`]) {
    it(`Basic-auth user ${JSON.stringify(user)}: the client's own line counts for it`, async () => {
      const line = await logged(await get({ host: 'www.example.org', authorization: `Basic ${Buffer.from(`${user}:pw`).toString('base64')}` }));
      expect(line, line).toContain(` - ${user} [`);
      for (const f of ['auto', 'nginx-host-combined'] as const) expect(who(line, f, []), `${f} ${line}`).toBe('127.0.0.1');
    });
  }
});
