/**
 * Issue 10 audit: variants of the six seam defects that the current code handles (cheap regression
 * tests; each runs in milliseconds). The failing variants live in the fail-*.test.ts files here.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { startControlServer } from '../../../src/control/server.js';
import { controlRequest } from '../../../src/control/client.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { clf } from '../../support/clf.js';
import { agent, cleanup, A, B, Store, settle, line, NOW } from './harness.js';

const dirs: string[] = [];
afterEach(() => {
  cleanup();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function viaSocket(d: ReturnType<typeof agent>) {
  const socketPath = join(d.root!, 'ctl.sock');
  const srv = await startControlServer({ socketPath, handler: d.daemon, onError: () => {} });
  const req = <R extends Parameters<typeof controlRequest>[1]>(r: R) => controlRequest(socketPath, r, { timeoutMs: 3000 });
  return { srv, req };
}

describe('class 1: unban --container (host mode)', () => {
  it('1a IPv6 non-canonical spelling, via the socket: only that container', async () => {
    const d = agent({ host: true });
    await d.daemon.start();
    await d.feed('2001:DB8:0:0::5', 5, A);
    await d.feed('2001:db8::5', 5, B);
    expect(d.held()).toEqual(['2001:db8::5 a1', '2001:db8::5 b2']);
    const { srv, req } = await viaSocket(d);
    expect(await req({ op: 'unban', ip: '2001:0db8:0000::5', container: 'shop' })).toBe(1);
    await settle();
    expect(d.held()).toEqual(['2001:db8::5 b2']);
    expect(d.banned()).toEqual(['forbidden 2001:db8::5 b2']);
    await srv.close();
    await d.daemon.stop();
  });

  it('1b container by 12-hex id prefix, then restart: lifted one stays lifted, the other restored', async () => {
    const store = new Store();
    const d = agent({ host: true, store });
    await d.daemon.start();
    await d.feed('198.18.0.7', 5, A);
    await d.feed('198.18.0.7', 5, B);
    const { srv, req } = await viaSocket(d);
    expect(await req({ op: 'unban', ip: '198.18.0.7', container: B.slice(0, 12) })).toBe(1);
    await settle();
    expect(d.held()).toEqual(['198.18.0.7 a1']);
    await srv.close();
    await d.daemon.stop({ removeFirewall: false });
    const d2 = agent({ host: true, root: d.root, store });
    await d2.daemon.start();
    await settle();
    expect(d2.banned()).toEqual(['forbidden 198.18.0.7 a1']);
    expect(d2.held()).toEqual(['198.18.0.7 a1']);
    await d2.daemon.stop();
  });

  it('1c manual ban --container shop, unban --container blog lifts nothing; unban without --container lifts all scopes', async () => {
    const d = agent({ host: true });
    await d.daemon.start();
    const { srv, req } = await viaSocket(d);
    await req({ op: 'ban', ip: '198.18.0.8', forMs: 3_600_000, container: 'shop' });
    await d.feed('198.18.0.8', 5, B);
    expect(d.held()).toEqual(['198.18.0.8 a1', '198.18.0.8 b2']);
    await req({ op: 'ban', ip: '198.18.0.8', forMs: 3_600_000 });
    await settle();
    expect(d.held()).toEqual(['198.18.0.8', '198.18.0.8 a1', '198.18.0.8 b2']);
    expect(await req({ op: 'unban', ip: '198.18.0.8', container: 'blog' })).toBe(1);
    await settle();
    expect(d.held()).toEqual(['198.18.0.8', '198.18.0.8 a1']);
    expect(await req({ op: 'unban', ip: '198.18.0.8' })).toBe(2);
    await settle();
    expect(d.held()).toEqual([]);
    expect(d.banned()).toEqual([]);
    await srv.close();
    await d.daemon.stop();
  });

  it('1d unban --container forgets failures in that container only', async () => {
    const d = agent({ host: true });
    await d.daemon.start();
    await d.feed('198.18.0.9', 5, A);
    await d.feed('198.18.0.9', 4, B);
    expect(await d.daemon.unban('198.18.0.9', { container: 'shop' })).toBe(1);
    await d.feed('198.18.0.9', 1, B);
    expect(d.banned()).toEqual(['forbidden 198.18.0.9 b2']);
    await d.feed('198.18.0.9', 4, A);
    expect(d.banned()).toEqual(['forbidden 198.18.0.9 b2']);
    await d.daemon.stop();
  });

  it('1e host mode, BAN_SCOPE=host: unban --container of a host-wide ban lifts nothing and the kernel keeps it (documented)', async () => {
    const d = agent({ host: true, env: { BANHAMMER_BAN_SCOPE: 'host' } });
    await d.daemon.start();
    await d.feed('198.18.0.10', 5, A);
    expect(d.held()).toEqual(['198.18.0.10']);
    const n = await d.daemon.unban('198.18.0.10', { container: 'shop' });
    await settle();
    expect({ n, held: d.held(), banned: d.banned() }).toEqual({ n: 0, held: ['198.18.0.10'], banned: ['forbidden 198.18.0.10'] });
    await d.daemon.stop();
  });
});

const S = 1000;
function file(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'bh-a10r-'));
  dirs.push(dir);
  const f = join(dir, 'access.log');
  writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}
const six = (ip: string, path = '/private') => Array.from({ length: 6 }, (_, i) => line(ip, NOW + i * S, path));
const replayIps = async (lines: string[], env: Record<string, string>, rules?: string[]) =>
  (await replayFile(file(lines), loadConfig({ env, hostname: 'unit' }), { threads: 1, ...(rules ? { rules } : {}) })).bans.map((b) => b.ip);

describe('class 2: replay allowlist = live allowlist', () => {
  it('2a trusted proxy network (CIDR)', async () => {
    expect(await replayIps(six('198.18.1.7'), { BANHAMMER_TRUSTED_PROXIES: '198.18.1.0/24' })).toEqual([]);
  });
  it('2b IPv6 trusted proxy network, non-canonical spelling in the log', async () => {
    expect(await replayIps(six('2001:DB8:1:0:0::5'), { BANHAMMER_TRUSTED_PROXIES: '2001:db8:1::/48' })).toEqual([]);
  });
  it('2c IPv4-mapped spelling of a trusted proxy', async () => {
    expect(await replayIps(six('::ffff:198.18.1.1'), { BANHAMMER_TRUSTED_PROXIES: '198.18.1.1' })).toEqual([]);
  });
  it('2d --rule of a disabled rule still honours trusted proxies and ignoreip', async () => {
    const lines = [...six('198.18.1.1', '/.env'), ...six('198.18.2.2', '/.env'), ...six('198.18.3.3', '/.env')];
    expect(await replayIps(lines, { BANHAMMER_TRUSTED_PROXIES: '198.18.1.1', BANHAMMER_IGNOREIP: '198.18.2.0/24' }, ['sensitive-paths'])).toEqual(['198.18.3.3']);
  });
  it('2e YAML trusted_proxies and ignoreip', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-a10y-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'c.yaml'), 'trusted_proxies: ["198.18.1.1"]\nignoreip: ["2001:db8:9::/48"]\n');
    const lines = [...six('198.18.1.1'), ...six('2001:db8:9::1'), ...six('198.18.4.4')];
    expect(await replayIps(lines, { BANHAMMER_CONFIG: join(dir, 'c.yaml') })).toEqual(['198.18.4.4']);
  });
  it('2f XFF list through a trusted proxy: replay and live ban the same client, never the proxy', async () => {
    const xff = (t: number) => `198.18.6.6, 198.18.1.1 - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;
    const lines = Array.from({ length: 6 }, (_, i) => xff(NOW + i * S));
    const env = { BANHAMMER_TRUSTED_PROXIES: '198.18.1.1' };
    const r = await replayIps(lines, env);
    const d = agent({ env });
    await d.daemon.start();
    for (let i = 0; i < 6; i++) {
      d.clock.advance(NOW + i * S - d.clock.now());
      d.emit(lines[i]!);
    }
    await settle();
    expect(r).toEqual(['198.18.6.6']);
    expect(d.held()).toEqual(r);
    await d.daemon.stop();
  });
  it('2g loopback spellings never banned in replay', async () => {
    expect(await replayIps([...six('127.0.0.5'), ...six('::1'), ...six('::ffff:127.0.0.1')], {})).toEqual([]);
  });
  it('2h incremental bantime: replay and live agree on nth and until over repeat offenses', async () => {
    const env = { BANHAMMER_RULE_FORBIDDEN_BANTIME: '1m' };
    const lines: string[] = [];
    const times: number[] = [];
    // three bursts, each after the previous ban expired
    for (const start of [0, 5 * 60, 12 * 60]) for (let i = 0; i < 5; i++) { lines.push(line('198.18.8.8', NOW + (start + i) * S)); times.push(NOW + (start + i) * S); }
    const rep = await replayFile(file(lines), loadConfig({ env, hostname: 'unit' }), { threads: 1 });
    const d = agent({ env });
    await d.daemon.start();
    const bans: string[] = [];
    for (let i = 0; i < lines.length; i++) { d.clock.advance(times[i]! - d.clock.now()); d.emit(lines[i]!); await settle(); }
    for (const r of d.infos) if (r.msg === 'ban') bans.push(`${r.obj.ip} ${r.obj.until}`);
    expect(bans).toEqual(rep.bans.map((b) => `${b.ip} ${new Date(b.until!).toISOString()}`));
    expect(rep.bans).toHaveLength(3);
    await d.daemon.stop();
  });
});

describe('class 3: reload that allowlists a banned address', () => {
  it('3a ignoreip network covers a banned IPv4 (permanent manual ban too)', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.3.5', 5);
    await d.daemon.ban('198.18.3.6', { forMs: null });
    await settle();
    expect(d.held()).toEqual(['198.18.3.5', '198.18.3.6']);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.3.0/24' });
    expect(d.held()).toEqual([]);
    expect(d.banned()).toEqual([]);
    await d.daemon.stop();
  });
  it('3b IPv6 ignoreip network covers a ban logged in another spelling', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('2001:DB8:3:0::9', 5);
    expect(d.held()).toEqual(['2001:db8:3::9']);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '2001:0db8:0003::/64' });
    expect(d.held()).toEqual([]);
    await d.daemon.stop();
  });
  it('3c a manual network ban that comes to cover an allowlisted address is lifted', async () => {
    const d = agent();
    await d.daemon.start();
    await d.daemon.ban('198.18.4.0/24', { forMs: null });
    await settle();
    expect(d.held()).toEqual(['198.18.4.0/24']);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.4.9' });
    expect(d.held()).toEqual([]);
    expect(d.banned()).toEqual([]);
    await d.daemon.stop();
  });
  it('3d host mode: an address banned in two containers and host-wide is lifted everywhere', async () => {
    const d = agent({ host: true });
    await d.daemon.start();
    await d.feed('198.18.0.7', 5, A);
    await d.feed('198.18.0.7', 5, B);
    await d.daemon.ban('198.18.0.7', { forMs: null });
    await settle();
    expect(d.held()).toEqual(['198.18.0.7', '198.18.0.7 a1', '198.18.0.7 b2']);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.0.0/16' });
    expect(d.held()).toEqual([]);
    await d.daemon.stop();
  });
  it('3e banned under two rules: both lifted, one kernel unban, status empty', async () => {
    const d = agent({ env: { BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED: 'true' } });
    await d.daemon.start();
    await d.feed('198.18.3.7', 5, undefined, '/.env');
    expect(d.banned().length).toBeGreaterThanOrEqual(1);
    await d.daemon.ban('198.18.3.7', { forMs: null, rule: 'forbidden' });
    await settle();
    await d.reloadWith({ BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED: 'true', BANHAMMER_IGNOREIP: '198.18.3.7' });
    expect(d.held()).toEqual([]);
    expect(d.banned()).toEqual([]);
    expect(d.enforcer.batches.flatMap((b) => b.unban.map((u) => u.ip))).toEqual(['198.18.3.7']);
    await d.daemon.stop();
  });
  it('3f enforcer rejects the unban batch: retried until the kernel drops it', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.3.8', 5);
    d.enforcer.failNext = 2;
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.3.8' });
    expect(d.held()).toEqual(['198.18.3.8']);
    for (let i = 0; i < 3; i++) { d.clock.advance(1000); await settle(); }
    expect(d.held()).toEqual([]);
    await d.daemon.stop();
  });
  it('3g restart in between: a saved ban of an address allowlisted since is not restored, nor expected in the kernel', async () => {
    const store = new Store();
    const enforcer = new RecordingEnforcer();
    const d = agent({ store, enforcer });
    await d.daemon.start();
    await d.daemon.ban('198.18.3.9', { forMs: null });
    await settle();
    await d.daemon.stop({ removeFirewall: false });
    expect(enforcer.held.has('198.18.3.9')).toBe(true);
    const d2 = agent({ store, enforcer, env: { BANHAMMER_IGNOREIP: '198.18.3.9' } });
    await d2.daemon.start();
    await settle();
    d2.clock.advance(2000);
    await settle();
    expect(d2.banned()).toEqual([]);
    const seen = enforcer.expectedSeen.at(-1) ?? [];
    expect(seen.map((b) => b.ip)).toEqual([]);
    await d2.daemon.stop();
  });
  it('3h counters kept when the reload also enables a rule and changes ignoreip', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.3.10', 5);
    await d.feed('198.18.3.11', 3);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.3.10', BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED: 'true' });
    const f = d.daemon.status('forbidden').rules[0]!;
    expect({ tb: f.totalBanned, tf: f.totalFailed, cb: f.currentlyBanned }).toEqual({ tb: 1, tf: 8, cb: 0 });
    await d.feed('198.18.3.11', 2);
    expect(d.banned()).toEqual(['forbidden 198.18.3.11']);
    await d.daemon.stop();
  });
  it('3k reload back and forth: allowlist, then remove from allowlist; address is counted afresh', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.3.15', 5);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.3.15' });
    await d.feed('198.18.3.15', 4);
    await d.reloadWith({});
    expect(d.held()).toEqual([]);
    await d.feed('198.18.3.15', 4);
    expect(d.banned()).toEqual([]);
    await d.feed('198.18.3.15', 1);
    expect(d.banned()).toEqual(['forbidden 198.18.3.15']);
    expect(d.daemon.status('forbidden').rules[0]!.totalBanned).toBe(2);
    await d.daemon.stop();
  });
});

describe('class 4: reload and settings', () => {
  it('4a log level change reaches onReloaded, no restart warning', async () => {
    const d = agent();
    const levels: string[] = [];
    (d.daemon as unknown as { deps: { onReloaded?: (c: { logLevel: string }) => void } }).deps.onReloaded = (c) => levels.push(c.logLevel);
    await d.daemon.start();
    await d.reloadWith({ BANHAMMER_LOG_LEVEL: 'debug' });
    expect(levels).toEqual(['debug']);
    expect(d.warnings.filter((w) => w.includes('restart'))).toEqual([]);
    await d.daemon.stop();
  });
  it('4b restart-only settings changed in a YAML file (remoteip_header, log.format) are named in one warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-a10c-'));
    dirs.push(dir);
    const y = join(dir, 'c.yaml');
    writeFileSync(y, 'ignoreip: []\n');
    const d = agent({ env: { BANHAMMER_CONFIG: y } });
    await d.daemon.start();
    await d.feed('198.18.5.1', 5);
    writeFileSync(y, 'ignoreip: ["198.18.5.1"]\nremoteip_header: X-Real-IP\nlog:\n  format: nginx-combined\n');
    await d.reloadWith({ BANHAMMER_CONFIG: y });
    const w = d.warnings.filter((x) => x.includes('after a restart'));
    expect(w).toHaveLength(1);
    expect(w[0]).toContain('BANHAMMER_REMOTEIP_HEADER');
    expect(w[0]).toContain('BANHAMMER_LOG_FORMAT');
    expect(d.held()).toEqual([]);
    await d.daemon.stop();
  });
  it('4c a rule file added to rules_dir applies live; bans of a rule removed by reload stay listed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-a10d-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'secret.yaml'), 'name: secret\ndescription: x\nmatch:\n  paths: ["/secret"]\nmaxretry: 2\nfindtime: 1m\nbantime: 1h\n');
    const d = agent({ env: { BANHAMMER_RULES_DIR: dir } });
    await d.daemon.start();
    await d.feed('198.18.5.2', 2, undefined, '/secret');
    expect(d.banned()).toContain('secret 198.18.5.2');
    rmSync(join(dir, 'secret.yaml'));
    await d.reloadWith({ BANHAMMER_RULES_DIR: dir });
    expect(d.banned()).toContain('secret 198.18.5.2');
    expect(d.held()).toEqual(['198.18.5.2']);
    await d.daemon.stop();
  });
});

describe('class 2 / 3 extra', () => {
  it('2j trusted proxy written with host bits (198.18.1.7/24) covers the network in replay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-a10e-'));
    dirs.push(dir);
    const f = join(dir, 'a.log');
    writeFileSync(f, Array.from({ length: 6 }, (_, i) => line('198.18.1.9', NOW + i * 1000)).join('\n') + '\n');
    const r = await replayFile(f, loadConfig({ env: { BANHAMMER_TRUSTED_PROXIES: '198.18.1.7/24' }, hostname: 'unit' }), { threads: 1 });
    expect(r.bans).toEqual([]);
  });
  it('3l host mode restart with ignoreip widened: scoped bans of the address are not restored nor expected', async () => {
    const store = new Store();
    const d = agent({ host: true, store });
    await d.daemon.start();
    await d.feed('2001:db8:77::7', 5, A);
    await d.feed('198.18.0.12', 5, B);
    await d.daemon.stop({ removeFirewall: false });
    const d2 = agent({ host: true, root: d.root, store, env: { BANHAMMER_IGNOREIP: '2001:db8:77::/48' } });
    await d2.daemon.start();
    await settle();
    expect(d2.banned()).toEqual(['forbidden 198.18.0.12 b2']);
    expect(d2.held()).toEqual(['198.18.0.12 b2']);
    await d2.daemon.stop();
  });
});
