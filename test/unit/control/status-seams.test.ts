/**
 * The seams between the live agent's ban book and what the control socket says about it: every ban
 * the enforcer holds shows in `status` (also one of a rule a reload switched off), `ban --for
 * permanent` with a rule is permanent, and a ban or unban taken while the saved bans are still being
 * restored is refused instead of being undone by the restore.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { parseRequest } from '../../../src/control/protocol.js';
import { formatStatus } from '../../../src/control/format-status.js';
import { main } from '../../../src/cli.js';
import { startControlServer, type ControlHandler } from '../../../src/control/server.js';
import type { FilePosition, LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] { return []; }
  lagBytes() { return 0; }
  stats() { return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
}
class MemoryStore {
  doc: DaemonState | null = null;
  async load() { return this.doc ? (JSON.parse(JSON.stringify(this.doc)) as DaemonState) : null; }
  async save(d: DaemonState) { this.doc = JSON.parse(JSON.stringify(d)); }
}
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);

function setup(env: Record<string, string> = {}, store = new MemoryStore()) {
  const clock = new ManualClock(NOW);
  const enforcer = new RecordingEnforcer();
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  let next = loadConfig({ env, hostname: 'unit' });
  const daemon = new Daemon({ config: next, clock, logger: silent, enforcer, store, createSource, hostAddresses: [], reloadConfig: () => next });
  return { clock, enforcer, daemon, store, reloadWith: (e: Record<string, string>) => ((next = loadConfig({ env: e, hostname: 'unit' })), daemon.reload()) };
}

describe('status lists every ban the enforcer holds', () => {
  it('a ban of a rule switched off by a reload is still listed (as a disabled rule), and status RULE answers for it', async () => {
    const { daemon, enforcer, reloadWith } = setup();
    await daemon.start();
    await daemon.ban('198.18.0.7', { rule: 'forbidden', forMs: null });
    reloadWith({ BANHAMMER_RULES: 'exploit-probes' });
    expect([...enforcer.held.keys()]).toEqual(['198.18.0.7']);
    const all = daemon.status();
    expect(all.rules.find((r) => r.name === 'forbidden')).toMatchObject({ enabled: false, currentlyBanned: 1, bannedIps: ['198.18.0.7'] });
    const one = daemon.status('forbidden');
    expect(one.rules).toHaveLength(1);
    expect(formatStatus(one, 'forbidden')).toContain('Banned IP list:\t198.18.0.7');
    expect(formatStatus(all)).toContain('Disabled rules:\tforbidden');
    expect(daemon.why('198.18.0.7').active.map((b) => b.rule)).toEqual(['forbidden']);
    // A rule that bans nothing and does not run is still unknown.
    expect(() => daemon.status('not-found')).toThrow(/no running rule/);
    await daemon.stop();
  });

  it('a restored ban of a rule this configuration does not have is listed', async () => {
    const store = new MemoryStore();
    store.doc = { bans: [{ ip: '2001:db8::7', family: 6, rule: 'old-rule', at: NOW, until: NOW + 3600_000, failures: 5, nth: 1, manual: false }], history: [], positions: [] };
    const { daemon, enforcer } = setup({}, store);
    await daemon.start();
    expect([...enforcer.held.keys()]).toEqual(['2001:db8::7']);
    expect(daemon.status().rules.find((r) => r.name === 'old-rule')).toMatchObject({ enabled: false, bannedIps: ['2001:db8::7'] });
    expect(daemon.status('old-rule').rules[0]!.bannedIps).toEqual(['2001:db8::7']);
    await daemon.stop();
  });
});

describe('ban --for permanent', () => {
  it('with a rule is permanent, not the rule\'s bantime (protocol, daemon)', async () => {
    const parsed = parseRequest(JSON.stringify({ v: 1, op: 'ban', ip: '198.18.0.9', rule: 'forbidden', forMs: null, permanent: true }));
    expect(parsed).toMatchObject({ ok: true, request: { permanent: true, forMs: null } });
    for (const bad of [{ forMs: 1000, permanent: true }, { forMs: null, permanent: 'yes' }, { forMs: null, permanent: 1 }]) {
      expect(parseRequest(JSON.stringify({ op: 'ban', ip: '198.18.0.9', ...bad })).ok).toBe(false);
    }
    const { daemon, enforcer } = setup();
    await daemon.start();
    const ban = await daemon.ban('198.18.0.9', { rule: 'forbidden', forMs: null, permanent: true });
    expect(ban.until).toBeNull();
    expect(enforcer.held.get('198.18.0.9')!.until).toBeNull();
    // Without it, a rule's ban lasts the rule's bantime.
    const timed = await daemon.ban('198.18.0.10', { rule: 'forbidden', forMs: null });
    expect(timed.until).toBe(NOW + 3600_000);
    await daemon.stop();
  });

  it('the CLI sends it: banhammer ban ADDR --rule forbidden --for permanent bans permanently', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-perm-'));
    const socketPath = join(dir, 'c.sock');
    const seen: unknown[] = [];
    const handler: ControlHandler = {
      status: () => { throw new Error('unused'); },
      ban: (ip, opts) => (seen.push(opts), { ip, family: 4, rule: opts.rule ?? 'manual', at: NOW, until: opts.permanent === true || (opts.forMs === null && opts.rule === undefined) ? null : NOW + 3600_000, nth: 1, container: null }),
      unban: () => 0,
      unbanAll: () => 0,
      reload: () => {},
      why: () => { throw new Error('unused'); },
    };
    const server = await startControlServer({ socketPath, handler });
    try {
      const out: string[] = [];
      const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void out.push(s), env: { BANHAMMER_SOCKET: socketPath }, hostname: 'unit' };
      expect(await main(['ban', '198.18.0.9', '--rule', 'forbidden', '--for', 'permanent'], io)).toBe(0);
      expect(await main(['ban', '198.18.0.9', '--for=-1'], io)).toBe(0);
      expect(await main(['ban', '198.18.0.9', '--rule', 'forbidden', '--for', '2h'], io)).toBe(0);
      expect(seen).toEqual([{ forMs: null, permanent: true, rule: 'forbidden' }, { forMs: null }, { forMs: 7200_000, rule: 'forbidden' }]);
      expect(out[0]).toContain('permanently');
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('control while the saved bans are being restored', () => {
  const saved = (): MemoryStore => {
    const store = new MemoryStore();
    store.doc = { bans: [{ ip: '198.18.0.7', family: 4, rule: 'manual', at: NOW, until: null, failures: 0, nth: 1, manual: true }], history: [], positions: [] };
    return store;
  };

  it('an unban, unban --all or ban is refused (not answered "not banned" and undone by the restore)', async () => {
    const { daemon, enforcer } = setup({}, saved());
    let release!: () => void;
    enforcer.init = () => new Promise<void>((r) => (release = r));
    const starting = daemon.start();
    await new Promise((r) => setImmediate(r));
    await expect(daemon.unban('198.18.0.7')).rejects.toThrow(/still starting/);
    await expect(daemon.unbanAll()).rejects.toThrow(/still starting/);
    await expect(daemon.ban('198.18.0.7', { forMs: 60_000 })).rejects.toThrow(/still starting/);
    release();
    await starting;
    // Once restored, the saved ban is what it was, and unban lifts it.
    expect(daemon.why('198.18.0.7').active.map((b) => b.until)).toEqual([null]);
    expect(await daemon.unban('198.18.0.7')).toBe(1);
    expect(enforcer.held.size).toBe(0);
    await daemon.stop();
  });

  it('a start that failed does not leave the agent refusing forever', async () => {
    const { daemon, enforcer } = setup({}, saved());
    enforcer.init = () => Promise.reject(new Error('no firewall'));
    await expect(daemon.start()).rejects.toThrow(/no firewall/);
    expect(await daemon.unban('198.18.0.99')).toBe(0);
  });
});
