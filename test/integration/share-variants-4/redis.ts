/**
 * Audit round 4 of issue 11: a private redis-server for one test file, on 127.0.0.1 at a port in
 * 48400–48599, its files under /tmp/h4 (no persistence), killed by pid in stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { sleep } from '../share/replica.js';

export interface R4Redis {
  readonly port: number;
  readonly dir: string;
  readonly pid: number;
  url(user?: string, password?: string): string;
  stop(): Promise<void>;
}

/** `aclLines`: extra ACL users (the default user keeps every right, for the test's admin client). */
export async function startR4Redis(opts: { aclLines?: string[] } = {}): Promise<R4Redis> {
  mkdirSync('/tmp/h4', { recursive: true });
  const dir = mkdtempSync('/tmp/h4/redis-');
  const acl = join(dir, 'users.acl');
  writeFileSync(acl, ['user default on nopass ~* &* +@all', ...(opts.aclLines ?? [])].join('\n') + '\n', { mode: 0o600 });
  for (let attempt = 0; attempt < 8; attempt++) {
    const port = 48400 + Math.floor(Math.random() * 200);
    const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--aclfile', acl, '--logfile', join(dir, `redis-${port}.log`)], { stdio: 'ignore' });
    const c = createClient({ url: `redis://127.0.0.1:${port}`, disableClientInfo: true, socket: { reconnectStrategy: false } });
    c.on('error', () => undefined);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        await c.connect();
        await c.ping();
        await c.close();
        return {
          port,
          dir,
          pid: child.pid!,
          url: (user, password) => `redis://${user !== undefined ? `${encodeURIComponent(user)}:${encodeURIComponent(password ?? '')}@` : ''}127.0.0.1:${port}`,
          stop: async () => {
            if (child.exitCode === null) {
              const exited = new Promise((r) => child.once('exit', r));
              child.kill('SIGKILL');
              await exited;
            }
            rmSync(dir, { recursive: true, force: true });
          },
        };
      } catch {
        await sleep(50);
      }
    }
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error('no redis-server could start on a port in 48400–48599');
}
