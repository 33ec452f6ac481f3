/**
 * `banhammer run --dry-run` with BANHAMMER_ENFORCER=auto outside host mode (round-6 review of issue
 * 10). The dry run does not decide `auto` there (no probes), and DryRunEnforcer took the name `auto`
 * as an enforcer that cannot hold networks: `ban 198.18.0.0/24` was refused by the dry run, while the
 * agent itself (auto → iptables or nftables) bans it. The real agent
 * over its real control socket; nothing touches a firewall.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { controlRequest } from '../../../src/control/client.js';
import { DryRunEnforcer, holdsNetworks, runAgent } from '../../../src/run.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('run --dry-run with BANHAMMER_ENFORCER=auto outside host mode', () => {
  it('holds a network ban, as iptables or nftables (what auto becomes here) would', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bh-h13-dry-'));
    dirs.push(root);
    writeFileSync(join(root, 'access.log'), '');
    const config = loadConfig({
      env: {
        BANHAMMER_ENFORCER: 'auto',
        BANHAMMER_INSTANCE: 'dryauto',
        BANHAMMER_SOCKET: join(root, 'agent.sock'),
        BANHAMMER_STATE_DIR: join(root, 'state'),
        BANHAMMER_METRICS_ADDR: 'off',
        BANHAMMER_LOG_LEVEL: 'error',
        BANHAMMER_LOG_PATH: join(root, 'access.log'),
      },
      hostname: 'unit',
    });
    expect(config.enforcer).toBe('auto');
    const socket = config.socketPath;
    const abort = new AbortController();
    const exit = runAgent({ config, reloadConfig: () => config, dryRun: true, version: 'test', signal: abort.signal });
    try {
      await until(() => controlRequest(socket, { op: 'ban', ip: '198.18.1.7', forMs: 3600_000 }, { timeoutMs: 10_000 }));
      const network = await controlRequest(socket, { op: 'ban', ip: '198.18.0.0/24', forMs: 3600_000 }, { timeoutMs: 10_000 }).then(
        (r) => ({ ok: r.ip }),
        (e: Error) => ({ refused: e.message }),
      );
      expect(network).toEqual({ ok: '198.18.0.0/24' });
      const listed = (await controlRequest(socket, { op: 'status' }, { timeoutMs: 10_000 })).rules.flatMap((r) => r.bannedIps);
      expect(listed.sort()).toEqual(['198.18.0.0/24', '198.18.1.7']);
    } finally {
      abort.abort();
      expect(await exit).toBe(0);
    }
  }, 60_000);

  it('holdsNetworks: auto holds networks outside host mode, not in it (it may become docker-user)', () => {
    expect(holdsNetworks('auto')).toBe(true);
    expect(holdsNetworks('auto', true)).toBe(false);
    expect(new DryRunEnforcer(() => {}, 'auto').cidr).toBe(true);
    expect(new DryRunEnforcer(() => {}, 'auto', true).cidr).toBe(false);
    for (const e of ['docker-user', 'apache-map', 'nginx-map'] as const) expect(holdsNetworks(e)).toBe(false);
  });
});
