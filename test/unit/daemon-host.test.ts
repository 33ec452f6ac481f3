/**
 * Host mode in the daemon: json-file lines from two containers' directories (config.v2.json fixtures
 * in a temp dir) give bans scoped to the right container; the in-container modes stay host-wide.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { formatStatus } from '../../src/control/format-status.js';
import { validateState } from '../../src/run.js';
import type { FilePosition, LineSource } from '../../src/source/line-source.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { containerConfig } from './docker/container-fixtures.js';

const X = 'c1'.repeat(32);
const Y = 'c2'.repeat(32);
const ATTACKER = '198.19.150.66';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const access = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;
const jsonLine = (ip: string, t: number) => JSON.stringify({ log: `${access(ip, t)}\n`, stream: 'stdout', time: new Date(t).toISOString() });

class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void, readonly startPositions: FilePosition[]) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] { return []; }
  lagBytes() { return 0; }
  stats() { return { files: 2, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
}

class MemoryStore {
  doc: DaemonState | null = null;
  async load() { return this.doc ? validateState(JSON.parse(JSON.stringify(this.doc))) : null; }
  async save(d: DaemonState) { this.doc = JSON.parse(JSON.stringify(d)); }
}

const tick = () => new Promise((r) => setImmediate(r));
const settle = async () => { for (let i = 0; i < 5; i++) await tick(); };

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function setup(env: Record<string, string> = {}, store = new MemoryStore()) {
  const root = mkdtempSync(join(tmpdir(), 'bh-host-'));
  roots.push(root);
  for (const [id, name, addr] of [[X, 'web-x', '198.19.151.2'], [Y, 'web-y', '198.19.151.3']] as const) {
    mkdirSync(join(root, id));
    writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
  }
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine, o.startPositions));
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (_o: object, m?: string) => warnings.push(m ?? ''), error() {} };
  const config = loadConfig({
    env: { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_INSTANCE: 'host', ...env },
    hostname: 'unit',
  });
  const daemon = new Daemon({ config, clock, logger, enforcer, store, createSource, hostAddresses: [] });
  const logOf = (id: string) => join(root, id, `${id}-json.log`);
  const emit = (id: string, line: string) => source.onLine(line, logOf(id));
  return { clock, enforcer, daemon, store, emit, warnings, root };
}

describe('Daemon in host mode (docker-user)', () => {
  it('counts failures per container and bans for the container the lines came from only', async () => {
    const { clock, enforcer, daemon, emit } = setup();
    await daemon.start();
    for (let i = 0; i < 4; i++) {
      emit(X, jsonLine(ATTACKER, clock.now()));
      emit(Y, jsonLine(ATTACKER, clock.now()));
    }
    emit(X, 'this is not JSON at all');
    emit(X, '{"log": truncated');
    await settle();
    expect(enforcer.held.size).toBe(0);
    expect(daemon.stats.skipped['bad-address'] + daemon.stats.skipped['bad-wrapper'] + daemon.stats.skipped['unknown-format']).toBe(2);
    emit(X, jsonLine(ATTACKER, clock.now()));
    await settle();
    expect([...enforcer.held.keys()]).toEqual([`${ATTACKER} ${X}`]);
    expect(enforcer.held.get(`${ATTACKER} ${X}`)).toMatchObject({ ip: ATTACKER, scope: X, until: clock.now() + 3600_000 });

    const st = daemon.status('forbidden');
    expect(st.rules[0]).toMatchObject({ currentlyBanned: 1, bannedIps: [ATTACKER] });
    expect(st.rules[0]!.bans).toEqual([{ ip: ATTACKER, container: 'web-x', containerId: X, until: new Date(clock.now() + 3600_000).toISOString(), from: null, firewall: 'held' }]);
    expect(formatStatus(st, 'forbidden')).toContain(`Banned IP list:\t${ATTACKER} (web-x)`);

    // The 5th failure at Y bans it there too, separately.
    emit(Y, jsonLine(ATTACKER, clock.now()));
    await settle();
    expect([...enforcer.held.keys()].sort()).toEqual([`${ATTACKER} ${X}`, `${ATTACKER} ${Y}`].sort());
    await daemon.stop();
  });

  it('manual ban/unban with --container; unban without it lifts every scope', async () => {
    const { enforcer, daemon } = setup();
    await daemon.start();
    const b = await daemon.ban('198.19.150.70', { forMs: null, container: 'web-y' });
    expect(b).toMatchObject({ ip: '198.19.150.70', rule: 'manual', container: 'web-y', until: null });
    await daemon.ban('198.19.150.70', { forMs: null, container: X.slice(0, 12) });
    await daemon.ban('198.19.150.70', { forMs: null });
    expect([...enforcer.held.keys()].sort()).toEqual(['198.19.150.70', `198.19.150.70 ${X}`, `198.19.150.70 ${Y}`].sort());
    await expect(daemon.ban('198.19.150.71', { forMs: null, container: 'nope' })).rejects.toMatchObject({ code: 'BH_ERR_USAGE' });
    expect(await daemon.unban('198.19.150.70', { container: 'web-x' })).toBe(1);
    expect([...enforcer.held.keys()].sort()).toEqual(['198.19.150.70', `198.19.150.70 ${Y}`].sort());
    expect(await daemon.unban('198.19.150.70')).toBe(2);
    expect(enforcer.held.size).toBe(0);
    await daemon.stop();
  });

  it('keeps scopes across a restart (state file)', async () => {
    const store = new MemoryStore();
    const first = setup({}, store);
    await first.daemon.start();
    for (let i = 0; i < 5; i++) first.emit(Y, jsonLine(ATTACKER, first.clock.now()));
    await settle();
    const second = setup({}, store);
    await second.daemon.start();
    expect([...second.enforcer.held.keys()]).toEqual([`${ATTACKER} ${Y}`]);
    expect(second.daemon.status('forbidden').rules[0]!.bans![0]).toMatchObject({ container: 'web-y' });
    await second.daemon.stop();
  });

  it('BANHAMMER_BAN_SCOPE=host: failures from every container add up to one host-wide ban', async () => {
    const { clock, enforcer, daemon, emit } = setup({ BANHAMMER_BAN_SCOPE: 'host' });
    await daemon.start();
    for (let i = 0; i < 3; i++) emit(X, jsonLine(ATTACKER, clock.now()));
    for (let i = 0; i < 2; i++) emit(Y, jsonLine(ATTACKER, clock.now()));
    await settle();
    expect([...enforcer.held.keys()]).toEqual([ATTACKER]);
    expect(enforcer.held.get(ATTACKER)!.scope).toBeUndefined();
    await daemon.stop();
  });

  it('in-container mode (iptables) ignores origins: syslog tags and json paths are one host-wide scope', async () => {
    const { clock, enforcer, daemon, emit } = setup({ BANHAMMER_ENFORCER: 'iptables' });
    await daemon.start();
    for (let i = 0; i < 3; i++) emit(X, jsonLine(ATTACKER, clock.now()));
    for (let i = 0; i < 2; i++) emit(Y, `<30>Nov 23 10:00:00 web-y[1]: ${access(ATTACKER, clock.now())}`);
    await settle();
    expect([...enforcer.held.keys()]).toEqual([ATTACKER]);
    expect(daemon.status('forbidden').rules[0]!.bans).toEqual([{ ip: ATTACKER, container: null, containerId: null, until: expect.any(String), from: null, firewall: 'held' }]);
    await expect(daemon.ban('198.19.150.72', { forMs: null, container: 'web-x' })).rejects.toThrow(/host mode/);
    await daemon.stop();
  });

  it('syslog-driver lines are scoped by their tag (container name)', async () => {
    const { clock, enforcer, daemon, emit } = setup();
    await daemon.start();
    for (let i = 0; i < 5; i++) emit(X, `<30>Nov 23 10:00:00 web-y[1]: ${access(ATTACKER, clock.now())}`);
    await settle();
    expect([...enforcer.held.keys()]).toEqual([`${ATTACKER} ${Y}`]);
    await daemon.stop();
  });

  it('warns clearly when Docker’s containers directory is missing, and keeps running', async () => {
    const { daemon, warnings } = setup({ BANHAMMER_LOG_PATH: '/nonexistent/bh-test/containers/*/*-json.log' });
    await daemon.start();
    expect(warnings.some((w) => /containers directory \/nonexistent\/bh-test\/containers does not exist .*waiting/.test(w))).toBe(true);
    await daemon.stop();
  });
});
