/**
 * The daemon tells the notifier of a ban only once the enforcer holds it — also when the ban was
 * made while an earlier batch was being applied, and when enforcement failed and was retried — and
 * of an unban once it was handed to the enforcer; stop() closes the notifier (bounded).
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { EnforcerBatch, ApplyResult } from '../../../src/enforce/enforcer.js';
import type { NotifySink } from '../../../src/notify/notifier.js';
import type { FilePosition, LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /x HTTP/1.1" 403 10 "-" "curl"`;

class GatedEnforcer extends RecordingEnforcer {
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.open?.();
    this.gate = null;
  }
  override async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    if (this.gate !== null) await this.gate;
    return super.apply(batch);
  }
}

class FakeSource implements LineSource {
  constructor(readonly emit: (l: string) => void) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] {
    return [];
  }
  lagBytes() {
    return 0;
  }
  stats() {
    return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 };
  }
}

const tick = () => new Promise((r) => setImmediate(r));

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new GatedEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource((l) => o.onLine(l, '/var/log/access.log')));
  const heard: { what: string; ip: string; held: boolean }[] = [];
  let closedWith: number | null = null;
  const notifier: NotifySink = {
    banned: (b: Ban) => heard.push({ what: 'ban', ip: b.ip, held: enforcer.held.has(b.ip) }),
    unbanned: (b: Ban, reason) => heard.push({ what: `unban:${reason}`, ip: b.ip, held: enforcer.held.has(b.ip) }),
    close: async (ms) => void (closedWith = ms),
  };
  let doc: DaemonState | null = null;
  const store = { load: async () => doc, save: async (d: DaemonState) => void (doc = d) };
  const config = loadConfig({ env: {}, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: { debug() {}, info() {}, warn() {}, error() {} }, enforcer, store, createSource, hostAddresses: [], notifier });
  return { clock, enforcer, daemon, heard, source: () => source, closed: () => closedWith };
}

describe('daemon → notifier', () => {
  it('a ban made while an earlier batch is applied is notified only after its own batch', async () => {
    const { clock, enforcer, daemon, heard, source } = setup();
    await daemon.start();
    enforcer.hold();
    for (let i = 0; i < 5; i++) source().emit(line('198.18.0.1', clock.now()));
    await tick(); // batch 1 (198.18.0.1) is now inside apply()
    for (let i = 0; i < 5; i++) source().emit(line('198.18.0.2', clock.now()));
    await tick();
    expect(heard).toEqual([]);
    enforcer.release();
    for (let i = 0; i < 5; i++) await tick();
    expect(heard).toEqual([
      { what: 'ban', ip: '198.18.0.1', held: true },
      { what: 'ban', ip: '198.18.0.2', held: true },
    ]);
    expect(enforcer.batches.map((b) => b.ban.map((x) => x.ip))).toEqual([['198.18.0.1'], ['198.18.0.2']]);
    await daemon.stop();
  });

  it('a batch the enforcer rejects is not notified until the retry applied it', async () => {
    const { clock, enforcer, daemon, heard, source } = setup();
    await daemon.start();
    enforcer.failNext = 1;
    for (let i = 0; i < 5; i++) source().emit(line('198.18.0.3', clock.now()));
    for (let i = 0; i < 3; i++) await tick();
    expect(heard).toEqual([]);
    clock.advance(1000); // the queue's retry
    for (let i = 0; i < 5; i++) await tick();
    expect(heard).toEqual([{ what: 'ban', ip: '198.18.0.3', held: true }]);
    await daemon.stop();
  });

  it('a ban the kernel refuses is not notified; the others of its batch are', async () => {
    const { clock, enforcer, daemon, heard, source } = setup();
    await daemon.start();
    enforcer.refuse.add('198.18.0.5');
    for (const ip of ['198.18.0.5', '198.18.0.6']) for (let i = 0; i < 5; i++) source().emit(line(ip, clock.now()));
    for (let i = 0; i < 5; i++) await tick();
    expect(heard).toEqual([{ what: 'ban', ip: '198.18.0.6', held: true }]);
    await daemon.stop();
  });

  it('an unban made while a batch is applied is notified after the batch that removes it', async () => {
    const { clock, enforcer, daemon, heard, source } = setup();
    await daemon.start();
    await daemon.ban('198.18.0.7', { forMs: 60_000 });
    enforcer.hold();
    for (let i = 0; i < 5; i++) source().emit(line('198.18.0.8', clock.now()));
    await tick(); // that ban's batch is inside apply()
    const unbanning = daemon.unban('198.18.0.7');
    await tick();
    expect(heard.map((h) => h.what)).toEqual(['ban']);
    enforcer.release();
    await unbanning;
    for (let i = 0; i < 5; i++) await tick();
    expect(heard).toEqual([
      { what: 'ban', ip: '198.18.0.7', held: true },
      { what: 'ban', ip: '198.18.0.8', held: true },
      { what: 'unban:manual', ip: '198.18.0.7', held: false },
    ]);
    await daemon.stop();
  });

  it('manual ban and unban: notified after the enforcer changed; stop() closes the notifier with a bounded budget', async () => {
    const { daemon, heard, closed } = setup();
    await daemon.start();
    await daemon.ban('198.18.0.4', { forMs: 60_000 });
    expect(heard).toEqual([{ what: 'ban', ip: '198.18.0.4', held: true }]);
    await daemon.unban('198.18.0.4');
    expect(heard[1]).toEqual({ what: 'unban:manual', ip: '198.18.0.4', held: false });
    await daemon.stop();
    expect(closed()).toBe(3000);
  });
});
