import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import type { FilePosition, LineSource } from '../../src/source/line-source.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';

// A state save that takes long (many bans with their log lines) must not keep a ban storm's agent busy
// rewriting its state file: the next saves are spaced by 10× its duration, a deferred save is done by a
// later periodic tick, and stop() always saves.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /x HTTP/1.1" 403 10 "-" "curl"`;

class FakeSource implements LineSource {
  emit: (line: string) => void;
  offset = 42;
  constructor(onLine: (l: string, f: string) => void) {
    this.emit = (l) => {
      this.offset += l.length + 1;
      onLine(l, '/var/log/access.log');
    };
  }
  async start() {}
  async stop() {}
  positions(): FilePosition[] { return [{ path: '/var/log/access.log', dev: '1', ino: '2', offset: this.offset }]; }
  lagBytes() { return 0; }
  stats() { return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
}

/** A store whose save takes `costMs` of the (manual) clock, as a large state's JSON does of real time. */
class SlowStore {
  doc: DaemonState | null = null;
  saves = 0;
  constructor(private readonly clock: ManualClock, public costMs: number) {}
  async load() { return null; }
  async save(d: DaemonState) {
    this.saves++;
    this.clock.advance(this.costMs);
    this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
  }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const tick = () => new Promise((r) => setImmediate(r));

describe('Daemon state saves under a ban storm', () => {
  it('spaces saves after a slow one, saves what was deferred later, and always saves on stop', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    const store = new SlowStore(clock, 0);
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 'unit' });
    const daemon = new Daemon({ config, clock, logger: silent, enforcer, store, createSource, hostAddresses: [] });
    await daemon.start();

    const flood = async (ip: string) => {
      for (let i = 0; i < 5; i++) source.emit(line(ip, clock.now()));
      for (let i = 0; i < 4; i++) await tick();
    };
    // Fast saves: every batch is saved at once.
    await flood('198.18.0.1');
    expect(store.doc?.bans.map((b) => b.ip)).toEqual(['198.18.0.1']);

    // A slow save (400 ms): the next ones wait 4 s.
    store.costMs = 400;
    await flood('198.18.0.2');
    expect(store.doc?.bans.map((b) => b.ip).sort()).toEqual(['198.18.0.1', '198.18.0.2']);
    const savesAfterSlow = store.saves;
    for (const ip of ['198.18.0.3', '198.18.0.4', '198.18.0.5']) await flood(ip);
    expect(enforcer.held.size).toBe(5); // enforcement never waits for the file
    expect(store.saves).toBe(savesAfterSlow);
    expect(store.doc?.bans).toHaveLength(2);

    // Once the gap has passed, the periodic tick saves everything deferred, once.
    store.costMs = 0;
    clock.advance(4_000);
    for (let i = 0; i < 6; i++) await tick();
    expect(store.doc?.bans.map((b) => b.ip).sort()).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.5']);

    // stop() saves whatever the spacing says.
    store.costMs = 400;
    clock.advance(1_000);
    for (let i = 0; i < 6; i++) await tick();
    await flood('198.18.0.6');
    const before = store.saves;
    await daemon.stop();
    expect(store.saves).toBeGreaterThan(before);
    expect(store.doc?.bans.map((b) => b.ip)).toContain('198.18.0.6');
  });
});
