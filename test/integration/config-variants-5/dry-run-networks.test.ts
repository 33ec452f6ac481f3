/**
 * `banhammer run --dry-run` says what the configured enforcer would do with a network (CIDR) ban
 * (issue 10, leftover 4). The dry run's log enforcer held networks whatever the configuration named,
 * so a dry run of docker-user, apache-map or nginx-map answered `ban 198.18.0.0/24` with "banned"
 * and logged "would ban 198.18.0.0/24", where the real enforcer refuses it. Now the dry run refuses
 * it the same way (the daemon's up-front refusal), and still takes it for iptables and nftables.
 * The real agent over its real control socket; nothing touches a firewall.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { controlRequest } from '../../../src/control/client.js';
import { DryRunEnforcer, runAgent } from '../../../src/run.js';
import type { LogRecord } from '../../../src/enforce/dry-run.js';
import { containerConfig } from '../../unit/docker/container-fixtures.js';

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

const SHOP = 'a1'.repeat(32);

/** Runs a dry-run agent with `enforcer`, bans a network and an address through the socket. */
async function dryRunBans(enforcer: string): Promise<{ network: unknown; address: unknown; listed: string[] }> {
  const root = mkdtempSync(join(tmpdir(), 'bh-h10-dry-'));
  dirs.push(root);
  const env: Record<string, string> = {
    BANHAMMER_ENFORCER: enforcer,
    BANHAMMER_INSTANCE: 'dryrun',
    BANHAMMER_SOCKET: join(root, 'agent.sock'),
    BANHAMMER_STATE_DIR: join(root, 'state'),
    BANHAMMER_METRICS_ADDR: 'off',
    BANHAMMER_LOG_LEVEL: 'error',
  };
  if (enforcer === 'docker-user' || enforcer === 'auto') {
    const containers = join(root, 'containers');
    mkdirSync(join(containers, SHOP), { recursive: true });
    writeFileSync(join(containers, SHOP, 'config.v2.json'), containerConfig(SHOP, 'shop', { bridge: { v4: '198.19.151.2' } }));
    writeFileSync(join(containers, SHOP, `${SHOP}-json.log`), '');
    env.BANHAMMER_LOG_PATH = `${containers}/*/*-json.log`;
    env.BANHAMMER_DOCKER_CONTAINERS_DIR = containers;
  } else {
    writeFileSync(join(root, 'access.log'), '');
    env.BANHAMMER_LOG_PATH = join(root, 'access.log');
    if (enforcer.endsWith('-map')) env.BANHAMMER_MAP_FILE = join(root, 'banned.map');
    if (enforcer === 'nginx-map') env.BANHAMMER_NGINX_RELOAD = 'true';
  }
  const config = loadConfig({ env, hostname: 'unit' });
  const socket = config.socketPath;
  const abort = new AbortController();
  const exit = runAgent({ config, reloadConfig: () => config, dryRun: true, version: 'test', signal: abort.signal });
  try {
    await until(() => controlRequest(socket, { op: 'status' }, { timeoutMs: 10_000 }));
    // Answering status comes before the saved state is restored; a ban waits for that.
    await until(() => controlRequest(socket, { op: 'ban', ip: '198.18.1.7', forMs: 3600_000 }, { timeoutMs: 10_000 }));
    const network = await controlRequest(socket, { op: 'ban', ip: '198.18.0.0/24', forMs: 3600_000 }, { timeoutMs: 10_000 }).then(
      (r) => ({ ok: r.ip }),
      (e: Error) => ({ refused: e.message }),
    );
    const address = await controlRequest(socket, { op: 'ban', ip: '198.18.1.7', forMs: 3600_000 }, { timeoutMs: 10_000 }).then((r) => r.ip);
    const listed = (await controlRequest(socket, { op: 'status' }, { timeoutMs: 10_000 })).rules.flatMap((r) => r.bannedIps);
    return { network, address, listed };
  } finally {
    abort.abort();
    expect(await exit).toBe(0);
  }
}

describe('run --dry-run refuses a network ban where the real enforcer does', () => {
  it.each(['docker-user', 'apache-map', 'nginx-map'])('%s: refused, the address still banned', async (enforcer) => {
    const r = await dryRunBans(enforcer);
    expect(r.network).toEqual({ refused: expect.stringMatching(/cannot ban a network \(198\.18\.0\.0\/24\)/) });
    expect(r.address).toBe('198.18.1.7');
    expect(r.listed).toEqual(['198.18.1.7']);
  }, 60_000);

  it.each(['iptables', 'nftables'])('%s: banned, as the real one holds networks', async (enforcer) => {
    const r = await dryRunBans(enforcer);
    expect(r.network).toEqual({ ok: '198.18.0.0/24' });
    expect(r.listed.sort()).toEqual(['198.18.0.0/24', '198.18.1.7']);
  }, 60_000);
});

describe('run --dry-run with BANHAMMER_ENFORCER=auto in host mode decides the enforcer as the agent would', () => {
  it('no DOCKER-USER, ipset or nft here (every probe fails): docker-user, so a network is refused', async () => {
    // The probes are read-only (enforce/auto.ts); with no tool on PATH each one fails.
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const r = await dryRunBans('auto');
      expect(r.network).toEqual({ refused: expect.stringMatching(/cannot ban a network/) });
      expect(r.listed).toEqual(['198.18.1.7']);
    } finally {
      process.env.PATH = path;
    }
  }, 60_000);
});

describe('DryRunEnforcer', () => {
  it('a network reaching it anyway (restored, shared) is refused and its unban skipped, like docker-user', async () => {
    const out: LogRecord[] = [];
    const e = new DryRunEnforcer((r) => out.push(r), 'docker-user');
    expect(e.cidr).toBe(false);
    await e.init();
    const r = await e.apply({ ban: [{ ip: '198.18.0.0/24', family: 4, until: null }, { ip: '198.18.1.7', family: 4, until: null }], unban: [{ ip: '198.18.2.0/24', family: 4 }] });
    expect(r.refused.map((x) => [x.ip, x.reason])).toEqual([['198.18.0.0/24', 'a network (CIDR) ban is not supported by this enforcer']]);
    expect(e.active().map((x) => x.ip)).toEqual(['198.18.1.7']);
    expect(out.filter((x) => x.action === 'ban').map((x) => (x as { ip: string }).ip)).toEqual(['198.18.1.7']);
    expect(out.some((x) => x.action === 'unban')).toBe(false);
    expect(await e.check(() => [{ ip: '198.18.0.0/24', family: 4, until: null }, { ip: '198.18.1.7', family: 4, until: null }])).toEqual([]);
    const ipt = new DryRunEnforcer(() => {}, 'iptables');
    expect(ipt.cidr).toBe(true);
    expect((await ipt.apply({ ban: [{ ip: '198.18.0.0/24', family: 4, until: null }], unban: [] })).refused).toEqual([]);
  });
});
