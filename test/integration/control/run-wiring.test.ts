/**
 * The wiring of `banhammer run` (src/run.ts): requests on the real control socket reach the daemon
 * with every argument. Host mode with the log enforcer (a dry run: nothing touches a firewall),
 * Docker's containers directory as fixtures in a temp dir, the real tailer and state store.
 * Regression (issue 10): `unban ADDRESS --container shop` lifted the ban in every container.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { controlRequest } from '../../../src/control/client.js';
import { runAgent } from '../../../src/run.js';
import { containerConfig } from '../../unit/docker/container-fixtures.js';

const SHOP = 'a1'.repeat(32);
const BLOG = 'b2'.repeat(32);
const ATTACKER = '198.18.0.7';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out; last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('banhammer run: control socket → daemon', () => {
  it('unban --container lifts the ban for that container only; ban --rule refuses prototype names', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bh-wiring-'));
    dirs.push(root);
    const containers = join(root, 'containers');
    for (const [id, name, addr] of [[SHOP, 'shop', '198.19.151.2'], [BLOG, 'blog', '198.19.151.3']] as const) {
      mkdirSync(join(containers, id), { recursive: true });
      writeFileSync(join(containers, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
      writeFileSync(join(containers, id, `${id}-json.log`), '');
    }
    const socket = join(root, 'agent.sock');
    const config = loadConfig({
      env: {
        BANHAMMER_ENFORCER: 'docker-user',
        BANHAMMER_LOG_PATH: `${containers}/*/*-json.log`,
        BANHAMMER_DOCKER_CONTAINERS_DIR: containers,
        BANHAMMER_INSTANCE: 'wiring',
        BANHAMMER_SOCKET: socket,
        BANHAMMER_STATE_DIR: join(root, 'state'),
        BANHAMMER_METRICS_ADDR: 'off',
        BANHAMMER_LOG_LEVEL: 'error',
      },
      hostname: 'unit',
    });
    const abort = new AbortController();
    const exit = runAgent({ config, reloadConfig: () => config, dryRun: true, version: 'test', signal: abort.signal });
    try {
      const status = () => controlRequest(socket, { op: 'status', rule: 'manual' }, { timeoutMs: 2000 });
      await until(() => controlRequest(socket, { op: 'status' }, { timeoutMs: 2000 }), () => true);
      for (const container of ['shop', 'blog']) {
        const reply = await controlRequest(socket, { op: 'ban', ip: ATTACKER, forMs: 3600_000, container }, { timeoutMs: 2000 });
        expect(reply).toMatchObject({ ip: ATTACKER, rule: 'manual', container });
      }
      expect((await status()).rules[0]!.bans!.map((b) => b.container).sort()).toEqual(['blog', 'shop']);

      expect(await controlRequest(socket, { op: 'unban', ip: ATTACKER, container: 'shop' }, { timeoutMs: 2000 })).toBe(1);
      const after = await status();
      expect(after.rules[0]!.bans!.map((b) => [b.ip, b.container])).toEqual([[ATTACKER, 'blog']]);

      for (const rule of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
        await expect(controlRequest(socket, { op: 'ban', ip: '198.18.0.8', forMs: null, rule }, { timeoutMs: 2000 })).rejects.toThrow(/rule/);
      }
      await expect(controlRequest(socket, { op: 'ban', ip: '0.0.0.0', forMs: null }, { timeoutMs: 2000 })).rejects.toThrow(/client/);
      await expect(controlRequest(socket, { op: 'ban', ip: '::', forMs: null }, { timeoutMs: 2000 })).rejects.toThrow(/client/);
      expect((await controlRequest(socket, { op: 'status' }, { timeoutMs: 2000 })).rules.flatMap((r) => r.bannedIps)).toEqual([ATTACKER]);
    } finally {
      abort.abort();
      expect(await exit).toBe(0);
    }
  });
});
