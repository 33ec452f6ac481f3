/**
 * The shipped agent (bin/banhammer.js → the esbuild bundle, as in the images) shares bans through a
 * real Redis: two `banhammer run --dry-run` processes of one group; a ban made with the CLI at one is
 * listed by the other's `status --json` as coming from the group. Catches what source-level tests
 * cannot: how the bundle loads node-redis.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shareAclLine } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';

const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const BIN = join(REPO, 'bin', 'banhammer.js');
const built = existsSync(join(REPO, 'dist', 'banhammer.js'));
const skip = !hasRedisServer ? 'redis-server is not installed' : !built ? 'dist/banhammer.js is not built (npm run build)' : null;

describe.skipIf(skip !== null)(`the bundled agent shares bans through Redis${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let redis: RedisServer;
  let dir: string;
  const agents: ChildProcess[] = [];
  const env = (name: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    BANHAMMER_INSTANCE: name,
    BANHAMMER_LOG_PATH: join(dir, `${name}.log`),
    BANHAMMER_STATE_DIR: join(dir, name),
    BANHAMMER_SOCKET: join(dir, `${name}.sock`),
    BANHAMMER_METRICS_ADDR: 'off',
    BANHAMMER_REDIS_URL: redis.url('shop', 'shop-secret'),
    BANHAMMER_SHARE_GROUP: 'shop',
  });
  const cli = (name: string, args: string[]) => spawnSync(process.execPath, [BIN, ...args], { env: env(name), encoding: 'utf8', timeout: 15_000 });

  beforeAll(async () => {
    redis = await startRedisServer({ aclLines: [shareAclLine('shop', 'shop-secret')] });
    dir = mkdtempSync(join(tmpdir(), 'bh-bundle-share-'));
    for (const name of ['one', 'two']) {
      const child = spawn(process.execPath, [BIN, 'run', '--dry-run'], { env: env(name), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      agents.push(child);
      const end = Date.now() + 15_000;
      while (!out.includes('banhammer started')) {
        if (child.exitCode !== null || Date.now() > end) throw new Error(`agent ${name} did not start: ${out.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  afterAll(async () => {
    for (const a of agents) {
      if (a.exitCode === null) {
        a.kill('SIGTERM');
        await new Promise((r) => a.once('exit', r));
      }
    }
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a ban made at one agent is listed by the other as coming from the group', async () => {
    const r = cli('one', ['ban', '198.18.40.1', '--for', '1h']);
    expect(r.status, r.stderr).toBe(0);
    // Polled: ends as soon as it is listed. Each look spawns a CLI process (some 300 ms idle, seconds
    // on a loaded machine), so a 5 s deadline was a handful of looks there.
    const end = Date.now() + 20_000;
    let bans: { ip: string; from?: string | null }[] = [];
    while (Date.now() < end) {
      const st = cli('two', ['status', '--json']);
      if (st.status === 0) {
        const report = JSON.parse(st.stdout) as { rules: { bans?: { ip: string; from?: string | null }[] }[]; health?: { shareConnected?: boolean } };
        expect(report.health?.shareConnected).toBe(true);
        bans = report.rules.flatMap((x) => x.bans ?? []);
        if (bans.some((b) => b.ip === '198.18.40.1')) break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(bans.find((b) => b.ip === '198.18.40.1')?.from).toMatch(/./);
  }, 30_000);
});
