/**
 * One pipeline, two modes (issue 10): replay and the live agent agree on every ban; replay never bans
 * what the agent would not (trusted proxies); log time that lies (issue 9) neither shields an address
 * nor stretches a ban; reload carries windows, counters and bans over.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { LogEnforcer, type LogRecord } from '../../../src/enforce/dry-run.js';
import { replayFile } from '../../../src/replay/replay.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number, status = 403, path = '/private') => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl"`;
const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const S = 1000;

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const settle = async () => { for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r)); };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A seeded mixed log: attackers (v4, v6 spellings), slow clients, allowlisted, trusted proxy, junk, a skewed line. */
function mixedLog(): { lines: string[]; times: number[] } {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const lines: string[] = [];
  const times: number[] = [];
  let t = T0;
  const clients = ['198.18.7.1', '198.18.7.2', '198.18.7.3', '2001:db8::bad', '2001:DB8:0:0::bad', '198.18.99.9', '198.18.1.1', '198.18.5.5', '::198.18.0.38'];
  for (let i = 0; i < 3000; i++) {
    t += Math.floor(rnd() * 4) * S;
    const ip = clients[Math.floor(rnd() * clients.length)]!;
    const status = rnd() < 0.5 ? 403 : 200;
    lines.push(rnd() < 0.01 ? 'garbage line' : line(ip, t, status, rnd() < 0.05 ? '/.env' : '/private'));
    times.push(t);
  }
  return { lines, times };
}

function liveAgent(env: Record<string, string>, start = T0) {
  const clock = new ManualClock(start);
  const records: LogRecord[] = [];
  const enforcer = new LogEnforcer((r) => records.push(r), clock);
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const store = new MemoryStore();
  const config = loadConfig({ env, hostname: 'unit' });
  const warnings: string[] = [];
  const infos: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger = { ...silent, warn: (_o: object, m?: string) => warnings.push(m ?? ''), info: (o: object, m?: string) => infos.push({ obj: o as Record<string, unknown>, msg: m ?? '' }) };
  let reloadEnv = env;
  const daemon = new Daemon({
    config, clock, logger, enforcer, store, createSource, hostAddresses: [],
    reloadConfig: () => loadConfig({ env: reloadEnv, hostname: 'unit' }),
  });
  return {
    clock, daemon, store, records, warnings, infos,
    emit: (l: string) => source.onLine(l, '/var/log/access.log'),
    setEnv: (e: Record<string, string>) => (reloadEnv = e),
  };
}

const ENV = { BANHAMMER_IGNOREIP: '198.18.99.0/24', BANHAMMER_TRUSTED_PROXIES: '198.18.1.1', BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED: 'true', BANHAMMER_RULE_FORBIDDEN_BANTIME: '2m' };

describe('one pipeline, two modes', () => {
  it('replaying a log and feeding the same lines to a live agent (log enforcer) give identical bans', async () => {
    const { lines, times } = mixedLog();
    const dir = mkdtempSync(join(tmpdir(), 'bh-pipe-'));
    dirs.push(dir);
    const file = join(dir, 'access.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const replayed = await replayFile(file, loadConfig({ env: ENV, hostname: 'unit' }), { threads: 1 });

    const agent = liveAgent(ENV);
    await agent.daemon.start();
    const live: { ip: string; rule: string; at: number; until: number | null }[] = [];
    for (let i = 0; i < lines.length; i++) {
      agent.clock.advance(times[i]! - agent.clock.now());
      agent.emit(lines[i]!);
    }
    await settle();
    for (const r of agent.infos) if (r.msg === 'ban') live.push({ ip: r.obj.ip as string, rule: r.obj.rule as string, at: 0, until: Date.parse(r.obj.until as string) });
    await agent.daemon.stop();

    const key = (b: { ip: string; rule: string; until: number | null }) => `${b.ip} ${b.rule} ${b.until}`;
    expect(replayed.bans.length).toBeGreaterThan(5);
    expect(live.map(key).sort()).toEqual(replayed.bans.map(key).sort());
    // The kernel view (what the log enforcer was told) holds exactly the replayed addresses.
    expect(new Set(agent.records.filter((r) => r.action === 'ban').map((r) => (r as { ip: string }).ip))).toEqual(new Set(replayed.bans.map((b) => b.ip)));
    for (const never of ['198.18.99.9', '198.18.1.1', '127.0.0.1']) expect(replayed.bans.map((b) => b.ip)).not.toContain(never);
    // ::198.18.0.38 is IPv4-compatible IPv6, not the IPv4 host 198.18.0.38.
    expect(replayed.bans.map((b) => b.ip)).not.toContain('198.18.0.38');
  });

  it('replay never bans a trusted proxy (six 403s from BANHAMMER_TRUSTED_PROXIES)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-pipe-'));
    dirs.push(dir);
    const file = join(dir, 'proxy.log');
    writeFileSync(file, `${Array.from({ length: 6 }, (_, i) => line('198.18.1.1', T0 + i * S)).join('\n')}\n`);
    const withProxy = await replayFile(file, loadConfig({ env: { BANHAMMER_TRUSTED_PROXIES: '198.18.1.1' }, hostname: 'unit' }), { threads: 1 });
    expect(withProxy.bans).toEqual([]);
    const without = await replayFile(file, loadConfig({ env: {}, hostname: 'unit' }), { threads: 1 });
    expect(without.bans.map((b) => b.ip)).toEqual(['198.18.1.1']);
  });
});

describe('log time that lies (issue 9)', () => {
  const config = () => loadConfig({ env: {}, hostname: 'unit' });
  for (const future of [Date.UTC(2031, 0, 1), T0 + 3 * 3600_000, T0 + 11 * 60_000]) {
    it(`a line stamped ${new Date(future).toISOString()} does not shield the address in replay`, () => {
      const bans: Ban[] = [];
      const p = new Pipeline({ config: config(), mode: 'replay', onBan: (b) => bans.push(b) });
      const feed = (l: string) => { const ev = p.parse(l); if (ev) p.observe(ev, ev.time); };
      feed(line('198.18.0.9', future));
      for (let i = 0; i < 10; i++) feed(line('198.18.0.9', T0 + i * S));
      expect(bans.map((b) => b.ip)).toEqual(['198.18.0.9']);
      expect(bans[0]!.at).toBe(T0 + 4 * S);
    });

    it(`a line stamped ${new Date(future).toISOString()} neither shields nor stretches a ban live`, () => {
      const bans: Ban[] = [];
      const skews: number[] = [];
      const p = new Pipeline({ config: config(), mode: 'live', onBan: (b) => bans.push(b), onSkew: (t) => skews.push(t) });
      const now = T0 + 10 * S;
      const feed = (l: string) => { const ev = p.parse(l); if (ev) p.observe(ev, now); };
      feed(line('198.18.0.9', future));
      for (let i = 0; i < 4; i++) feed(line('198.18.0.9', T0 + i * S));
      expect(bans).toHaveLength(1);
      expect(bans[0]).toMatchObject({ at: now, until: now + 3600_000 });
      expect(skews).toEqual([future]);
      expect(p.stats.skewed).toBe(1);
      // Five lines all stamped in the future ban now, for one bantime from now.
      for (let i = 0; i < 5; i++) feed(line('198.18.0.10', future + i));
      expect(bans[1]).toMatchObject({ ip: '198.18.0.10', at: now, until: now + 3600_000 });
    });
  }

  it('the agent never stretches a ban past now + bantime, whatever the line says', async () => {
    const agent = liveAgent({});
    await agent.daemon.start();
    for (let i = 0; i < 5; i++) agent.emit(line('198.18.0.11', Date.UTC(2031, 0, 1) + i));
    await settle();
    const st = agent.daemon.status('forbidden');
    expect(st.rules[0]!.bans).toEqual([{ ip: '198.18.0.11', container: null, containerId: null, until: new Date(T0 + 3600_000).toISOString(), from: null, firewall: 'held' }]);
    expect(st.health).toMatchObject({ skewedLines: 5 });
    await agent.daemon.stop();
  });
});

describe('reload is a diff (issue 10)', () => {
  it('lifts bans of newly allowlisted addresses in the enforcer, keeps windows, counters and other bans', async () => {
    const agent = liveAgent({});
    await agent.daemon.start();
    for (let i = 0; i < 5; i++) agent.emit(line('198.18.0.20', T0));
    for (let i = 0; i < 5; i++) agent.emit(line('198.18.0.21', T0));
    for (let i = 0; i < 3; i++) agent.emit(line('198.18.0.22', T0));
    await settle();
    expect(agent.daemon.status('forbidden').rules[0]).toMatchObject({ currentlyBanned: 2, totalBanned: 2, totalFailed: 13 });

    agent.setEnv({ BANHAMMER_IGNOREIP: '198.18.0.20', BANHAMMER_SOCKET: '/run/elsewhere.sock' });
    agent.daemon.reload();
    await settle();
    const unbans = agent.records.filter((r) => r.action === 'unban').map((r) => (r as { ip: string }).ip);
    expect(unbans).toEqual(['198.18.0.20']);
    expect(agent.infos.some((r) => r.msg === 'unban' && r.obj.ip === '198.18.0.20' && r.obj.reason === 'allowlisted')).toBe(true);
    expect(agent.warnings.some((w) => w.includes('after a restart') && w.includes('SOCKET'))).toBe(true);
    const st = agent.daemon.status('forbidden').rules[0]!;
    expect(st).toMatchObject({ currentlyBanned: 1, totalBanned: 2, totalFailed: 13, bannedIps: ['198.18.0.21'] });
    // The window of 198.18.0.22 carried over: two more failures ban it.
    agent.emit(line('198.18.0.22', T0));
    agent.emit(line('198.18.0.22', T0));
    await settle();
    expect(agent.daemon.status('forbidden').rules[0]!.bannedIps.sort()).toEqual(['198.18.0.21', '198.18.0.22']);
    await agent.daemon.stop();
  });

  it('a restart-only setting keeps its running value until a restart (what runs is what the warning says)', async () => {
    const agent = liveAgent({});
    await agent.daemon.start();
    for (let i = 0; i < 5; i++) agent.emit(line('198.18.0.25', T0));
    await settle();
    agent.setEnv({ BANHAMMER_TRUSTED_PROXIES: '198.18.0.25', BANHAMMER_LOG_LEVEL: 'debug' });
    agent.daemon.reload();
    await settle();
    expect(agent.warnings.filter((w) => w.includes('after a restart'))).toEqual([expect.stringContaining('BANHAMMER_TRUSTED_PROXIES')]);
    expect(agent.warnings.join('\n')).not.toContain('LOG_LEVEL');
    expect(agent.daemon.status('forbidden').rules[0]!.bannedIps).toEqual(['198.18.0.25']);
    await agent.daemon.stop();
  });

  it('a changed rule starts fresh; a reload that changes nothing warns about nothing', async () => {
    const agent = liveAgent({});
    await agent.daemon.start();
    for (let i = 0; i < 3; i++) agent.emit(line('198.18.0.30', T0));
    agent.daemon.reload();
    expect(agent.warnings).toEqual([]);
    agent.setEnv({ BANHAMMER_RULE_FORBIDDEN_MAXRETRY: '4' });
    agent.daemon.reload();
    for (let i = 0; i < 3; i++) agent.emit(line('198.18.0.30', T0));
    await settle();
    expect(agent.daemon.status('forbidden').rules[0]!.bannedIps).toEqual([]);
    agent.emit(line('198.18.0.30', T0));
    await settle();
    expect(agent.daemon.status('forbidden').rules[0]!.bannedIps).toEqual(['198.18.0.30']);
    await agent.daemon.stop();
  });
});

describe('state saves are best effort (issue 9)', () => {
  it('a full disk never stops enforcement; status shows it; the next save clears it', async () => {
    const agent = liveAgent({});
    await agent.daemon.start();
    agent.store.failing = true;
    for (let i = 0; i < 5; i++) agent.emit(line('198.18.0.40', T0));
    await settle();
    expect(agent.records.filter((r) => r.action === 'ban').map((r) => (r as { ip: string }).ip)).toEqual(['198.18.0.40']);
    expect(agent.daemon.status().health!.stateError).toMatch(/ENOSPC/);
    expect(agent.warnings.filter((w) => w.startsWith('cannot save state'))).toHaveLength(1);
    await agent.daemon.ban('198.18.0.41', { forMs: null });
    expect(agent.warnings.filter((w) => w.startsWith('cannot save state'))).toHaveLength(1);
    agent.store.failing = false;
    await agent.daemon.ban('198.18.0.42', { forMs: null });
    expect(agent.daemon.status().health!.stateError).toBeNull();
    expect(agent.store.doc!.bans.map((b) => b.ip).sort()).toEqual(['198.18.0.40', '198.18.0.41', '198.18.0.42']);
    await agent.daemon.stop();
  });
});
