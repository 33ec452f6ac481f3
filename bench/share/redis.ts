/**
 * The bench's own redis-server (Debian's binary): a temp dir, an ACL file, a free port on 127.0.0.1,
 * no persistence. stop() kills it by pid (SIGTERM, then SIGKILL) and removes the dir; call it in a
 * finally so no redis-server outlives the bench.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why the section cannot run (no redis-server binary), or null when it can. */
export function redisServerMissing(): string | null {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return r.status === 0 ? null : 'redis-server is not installed (Debian package redis-server)';
}

/** CPU time (user + system) the process `pid` has used so far, ms (Linux /proc; NaN elsewhere). */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks();
  } catch {
    return NaN;
  }
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    ticks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticks;
}

export interface BenchRedis {
  readonly port: number;
  readonly pid: number;
  /** Its temp dir (ACL file, log), removed by stop(). */
  readonly dir: string;
  /** redis://[user:password@]127.0.0.1:port */
  url(user?: string, password?: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no free port'))));
    });
  });
}

async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.once('connect', () => sock.write('PING\r\n'));
  });
}

/** `aclLines`: the group users; the default user stays on (no password, bound to 127.0.0.1) for the bench's admin client. */
export async function startBenchRedis(aclLines: readonly string[]): Promise<BenchRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'bh-bench-redis-'));
  let child: ChildProcess | null = null;
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c !== null && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const acl = join(dir, 'users.acl');
    await writeFile(acl, ['user default on nopass ~* &* +@all', ...aclLines].join('\n') + '\n', { mode: 0o600 });
    const port = await freePort();
    const c = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--aclfile', acl, '--daemonize', 'no', '--logfile', join(dir, 'redis.log')],
      { stdio: 'ignore' },
    );
    child = c;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode}`);
      if (await ping(port)) break;
      if (Date.now() > deadline) throw new Error('redis-server did not answer within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const pid = c.pid;
    if (pid === undefined) throw new Error('redis-server has no pid');
    return {
      port,
      pid,
      dir,
      url: (user, password) => `redis://${user !== undefined ? `${encodeURIComponent(user)}:${encodeURIComponent(password ?? '')}@` : ''}127.0.0.1:${port}`,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
