import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import type { FilePosition, LineSource } from '../../src/source/line-source.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number, status = 403, ua = 'curl') => `${ip} - - [${clf(t)}] "GET /x HTTP/1.1" ${status} 10 "-" "${ua}"`;

class FakeSource implements LineSource {
  emit: (line: string) => void = () => {};
  started = false;
  constructor(private readonly onLine: (l: string, f: string) => void, readonly startPositions: FilePosition[]) {
    this.emit = (l) => onLine(l, '/var/log/access.log');
  }
  async start() { this.started = true; }
  async stop() { this.started = false; }
  positions(): FilePosition[] { return [{ path: '/var/log/access.log', dev: '1', ino: '2', offset: 42 }]; }
  lagBytes() { return 0; }
  stats() { return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
}

class MemoryStore {
  doc: DaemonState | null = null;
  saves = 0;
  async load() { return this.doc ? (JSON.parse(JSON.stringify(this.doc)) as DaemonState) : null; }
  async save(d: DaemonState) { this.saves++; this.doc = JSON.parse(JSON.stringify(d)); }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const tick = () => new Promise((r) => setImmediate(r));

function setup(env: Record<string, string> = {}, store = new MemoryStore()) {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine, o.startPositions));
  const config = loadConfig({ env: { BANHAMMER_IGNOREIP: '198.18.99.0/24', ...env }, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: silent, enforcer, store, createSource, hostAddresses: [] });
  return { clock, enforcer, daemon, store, source: () => source };
}

describe('Daemon', () => {
  it('bans on the 5th 403 within findtime, in one batch, and reports it only once applied and saved', async () => {
    const { clock, enforcer, daemon, store, source } = setup();
    await daemon.start();
    for (let i = 0; i < 5; i++) source().emit(line('198.18.0.9', clock.now()));
    await tick();
    await tick();
    expect(enforcer.held.get('198.18.0.9')).toMatchObject({ family: 4, until: clock.now() + 3600_000 });
    expect(store.doc!.bans.map((b) => b.ip)).toEqual(['198.18.0.9']);
    const st = daemon.status('forbidden');
    expect(st.rules[0]).toMatchObject({ currentlyBanned: 1, totalBanned: 1, totalFailed: 5, bannedIps: ['198.18.0.9'] });
    await daemon.stop();
  });

  it('never bans allowlisted or loopback addresses, nor on forged lines in the User-Agent', async () => {
    const { clock, enforcer, daemon, source } = setup();
    await daemon.start();
    for (let i = 0; i < 10; i++) {
      source().emit(line('127.0.0.1', clock.now()));
      source().emit(line('198.18.99.7', clock.now()));
      source().emit(line('198.18.5.5', clock.now(), 200, `198.18.0.1 - - [${clf(clock.now())}] \\"GET / HTTP/1.1\\" 403 1`));
    }
    source().emit('garbage that is not a log line');
    await tick();
    expect(enforcer.held.size).toBe(0);
    expect(daemon.stats.skipped['bad-address']).toBe(1);
    await daemon.stop();
  });

  it('ignores lines older than findtime (read late after a restart)', async () => {
    const { clock, enforcer, daemon, source } = setup();
    await daemon.start();
    for (let i = 0; i < 10; i++) source().emit(line('198.18.0.3', clock.now() - 3600_000 + i * 1000));
    await tick();
    expect(enforcer.held.size).toBe(0);
    await daemon.stop();
  });

  it('expires bans on the clock and unbans in the enforcer', async () => {
    const { clock, enforcer, daemon, source } = setup({ BANHAMMER_BANTIME: '10s' });
    await daemon.start();
    for (let i = 0; i < 5; i++) source().emit(line('198.18.0.4', clock.now()));
    await tick();
    await tick();
    expect(enforcer.held.has('198.18.0.4')).toBe(true);
    clock.advance(11_000);
    for (let i = 0; i < 5; i++) await tick();
    expect(enforcer.held.has('198.18.0.4')).toBe(false);
    expect(enforcer.batches.at(-1)!.unban).toEqual([{ ip: '198.18.0.4', family: 4 }]);
    await daemon.stop();
  });

  it('restores unexpired bans into the enforcer before reading, and resumes from saved positions', async () => {
    const store = new MemoryStore();
    const first = setup({}, store);
    await first.daemon.start();
    for (let i = 0; i < 5; i++) first.source().emit(line('2001:db8::66', first.clock.now()));
    await tick();
    await tick();
    // a crash: no stop(), the enforcer's state is gone with the process
    const second = setup({}, store);
    await second.daemon.start();
    expect(second.enforcer.held.get('2001:db8::66')).toMatchObject({ family: 6 });
    expect(second.source().startPositions).toEqual([{ path: '/var/log/access.log', dev: '1', ino: '2', offset: 42 }]);
    await second.daemon.stop();
  });

  it('a saved network ban is not restored under an enforcer that holds no networks: it ends as refused, never shown as held', async () => {
    const store = new MemoryStore();
    const first = setup({}, store);
    await first.daemon.start();
    await first.daemon.ban('198.18.0.0/24', { forMs: null, permanent: true });
    await first.daemon.ban('198.18.5.5', { forMs: 3_600_000 });
    await tick();
    await first.daemon.stop();
    expect(store.doc!.bans.map((b) => b.ip).sort()).toEqual(['198.18.0.0/24', '198.18.5.5']);
    // The state volume is kept while the enforcer changes to one without networks (apache-map, nginx-map, docker-user).
    const second = setup({}, store);
    second.enforcer.cidr = false;
    await second.daemon.start();
    await tick();
    expect([...second.enforcer.held.keys()]).toEqual(['198.18.5.5']);
    expect(second.daemon.status('manual').rules[0]?.bannedIps).toEqual(['198.18.5.5']);
    await second.daemon.stop();
  });

  it('reads the state file while the enforcer starts; the restored bans reach the kernel without waiting for a save, the first position save writes them', async () => {
    const store = new MemoryStore();
    const ban = (i: number) => ({ ip: `198.18.4.${i}`, family: 4 as const, rule: 'forbidden', at: 0, until: null, failures: 5, nth: 1, manual: false });
    store.doc = { bans: [ban(1), ban(2)], history: [], positions: [{ path: '/var/log/access.log', dev: '1', ino: '2', offset: 7 }] };
    const { clock, enforcer, daemon, source } = setup({}, store);
    let release!: () => void;
    const slowInit = new Promise<void>((r) => (release = r));
    enforcer.init = async () => slowInit;
    let loads = 0;
    const load = store.load.bind(store);
    store.load = async () => (loads++, load());
    const starting = daemon.start();
    await tick();
    expect(loads).toBe(1); // already reading while the enforcer is still starting
    release();
    await starting;
    expect([...enforcer.held.keys()].sort()).toEqual(['198.18.4.1', '198.18.4.2']);
    expect(store.saves).toBe(0);
    clock.advance(1000);
    await tick();
    await tick();
    expect(store.saves).toBe(1);
    expect(store.doc!.bans.map((b) => b.ip).sort()).toEqual(['198.18.4.1', '198.18.4.2']);
    expect(store.doc!.positions).toEqual([{ path: '/var/log/access.log', dev: '1', ino: '2', offset: 42 }]);
    // A new ban after start is saved before it is reported, as always.
    for (let i = 0; i < 5; i++) source().emit(line('198.18.4.3', clock.now()));
    await tick();
    await tick();
    expect(store.doc!.bans.map((b) => b.ip)).toContain('198.18.4.3');
    await daemon.stop();
  });

  it('retries a failed batch and re-applies everything after a repair', async () => {
    const { clock, enforcer, daemon, source } = setup();
    await daemon.start();
    enforcer.failNext = 1;
    for (let i = 0; i < 5; i++) source().emit(line('198.18.0.5', clock.now()));
    await tick();
    await tick();
    expect(enforcer.held.size).toBe(0);
    clock.advance(1000);
    for (let i = 0; i < 5; i++) await tick();
    expect(enforcer.held.has('198.18.0.5')).toBe(true);
    enforcer.held.clear();
    enforcer.repairs = ['set re-created: bh-unit-v4'];
    clock.advance(2000);
    for (let i = 0; i < 5; i++) await tick();
    expect(enforcer.held.has('198.18.0.5')).toBe(true);
    expect(daemon.status().health!.repairs).toBe(1);
    await daemon.stop();
  });

  it('manual ban and unban go through the enforcer; stop removes the firewall', async () => {
    const { enforcer, daemon } = setup();
    await daemon.start();
    const ban = await daemon.ban('198.18.7.7', { forMs: null });
    expect(ban).toMatchObject({ rule: 'manual', until: null });
    expect(enforcer.held.get('198.18.7.7')!.until).toBeNull();
    await expect(daemon.ban('127.0.0.1', { forMs: null })).rejects.toThrow(/allowlisted/);
    expect(await daemon.unban('198.18.7.7')).toBe(1);
    expect(enforcer.held.size).toBe(0);
    await daemon.stop();
    expect(enforcer.shutdownCalls).toBe(1);
  });

  it('a ban storm is applied in few batches, not one per address', async () => {
    const { clock, enforcer, daemon, source } = setup();
    await daemon.start();
    for (let n = 0; n < 2000; n++) {
      const ip = `198.18.${n >> 8}.${n & 255}`;
      for (let i = 0; i < 5; i++) source().emit(line(ip, clock.now()));
    }
    for (let i = 0; i < 5; i++) await tick();
    expect(enforcer.held.size).toBe(2000);
    expect(enforcer.batches.length).toBeLessThanOrEqual(2);
    await daemon.stop();
  });

  it('a stop or a manual ban while the enforcer is still starting never overwrites the saved bans', async () => {
    const store = new MemoryStore();
    store.doc = { bans: [{ ip: '198.18.3.3', family: 4, rule: 'manual', at: 0, until: null, failures: 0, nth: 1, manual: true }], history: [], positions: [{ path: '/var/log/access.log', dev: '1', ino: '2', offset: 7 }] };
    const { enforcer, daemon } = setup({}, store);
    let release!: () => void;
    const slowInit = new Promise<void>((r) => (release = r));
    enforcer.init = async () => slowInit; // e.g. waiting for the xtables lock
    const starting = daemon.start();
    await tick();
    await daemon.ban('198.18.3.4', { forMs: null }).catch(() => {});
    const stopping = daemon.stop();
    release();
    await stopping;
    await starting;
    expect(store.doc!.bans.map((b) => b.ip)).toContain('198.18.3.3');
    expect(store.doc!.positions).toEqual([{ path: '/var/log/access.log', dev: '1', ino: '2', offset: 7 }]);
    expect(enforcer.shutdownCalls).toBe(1);
    expect(enforcer.held.size).toBe(0); // nothing applied after the teardown
  });
});
