/**
 * A state disk that stalls (a save that neither resolves nor rejects: NFS hard mount, frozen FUSE)
 * never holds back enforcement or the control socket: detected bans, manual ban/unban/unban --all,
 * reload and expiry all go on; one save at most is in flight; the stall is reported once and shown
 * by status; once the disk answers, the latest state is written; stop() does not hang on it, and on
 * a disk that answers it still writes the final state.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, STOP_SAVE_BUDGET_MS, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { FakeSource } from '../fakes/agent-io.js';
import { clf } from '../support/clf.js';

const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`;
const settle = async () => {
  for (let i = 0; i < 12; i++) await new Promise((r) => setImmediate(r));
};

/** save() hangs while `stall` (until release()); counts calls. */
class StallingStore {
  stall = false;
  calls = 0;
  doc: DaemonState | null = null;
  private waiting: (() => void)[] = [];
  async load(): Promise<DaemonState | null> {
    return null;
  }
  save(d: DaemonState): Promise<void> {
    this.calls++;
    if (!this.stall) {
      this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
      return Promise.resolve();
    }
    return new Promise<void>((r) =>
      this.waiting.push(() => {
        this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
        r();
      }),
    );
  }
  release(): void {
    this.stall = false;
    for (const w of this.waiting.splice(0)) w();
  }
}

function agent() {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new RecordingEnforcer();
  const store = new StallingStore();
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (_o: object, m?: string) => void warnings.push(m ?? '') };
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const mk = (e: Record<string, string>): Config => loadConfig({ env: { BANHAMMER_RULES: 'forbidden', ...e }, hostname: 'unit' });
  let next = mk({});
  const daemon = new Daemon({ config: next, clock, logger, enforcer, store, createSource, hostAddresses: [], reloadConfig: () => next });
  const offend = async (ip: string) => {
    for (let i = 0; i < 5; i++) source.onLine(line(ip, clock.now()), '/var/log/access.log');
    await settle();
  };
  const reload = (e: Record<string, string>) => {
    next = mk(e);
    daemon.reload();
  };
  const answers = <T>(p: Promise<T>) => Promise.race([p.then(() => 'answered'), new Promise((r) => setTimeout(() => r('no answer'), 1000))]);
  return { clock, enforcer, store, daemon, warnings, offend, reload, answers };
}

const bannedIps = (d: DaemonState | null) => (d?.bans ?? []).map((b) => b.ip).sort();

describe('a stalled state disk', () => {
  it('holds back nothing, keeps one save in flight, is reported once, and gets the latest state once it answers', async () => {
    const a = agent();
    await a.daemon.start();
    a.store.stall = true;
    await a.offend('198.18.9.1');
    expect(a.enforcer.held.has('198.18.9.1')).toBe(true);
    const callsAtStall = a.store.calls;
    for (let s = 0; s < 15; s++) {
      a.clock.advance(1000); // periodic position saves, expiry, checks
      await settle();
    }
    for (const ip of ['198.18.9.2', '198.18.9.3']) await a.offend(ip);
    expect(a.enforcer.held.has('198.18.9.3')).toBe(true);
    expect(await a.answers(a.daemon.ban('198.18.9.4', { forMs: 2_000 }))).toBe('answered');
    expect(await a.answers(a.daemon.unban('198.18.9.2'))).toBe('answered');
    a.reload({ BANHAMMER_IGNOREIP: '198.18.9.3' });
    a.clock.advance(3_000); // the 2 s manual ban expires
    await settle();
    expect([...a.enforcer.held.keys()].sort()).toEqual(['198.18.9.1']);
    expect(await a.answers(a.daemon.unbanAll())).toBe('answered');
    expect(a.enforcer.held.size).toBe(0);
    await a.offend('198.18.9.5');
    expect(a.enforcer.held.has('198.18.9.5')).toBe(true);
    // One save is in flight, no pile of them.
    expect(a.store.calls).toBe(callsAtStall);
    // Reported once, and shown by status.
    expect(a.warnings.filter((w) => /has not answered a save/.test(w))).toHaveLength(1);
    expect(a.daemon.status().health?.stateError).toMatch(/has not answered a save/);
    // The disk answers: the latest state is written, one save after the stalled one (spaced after
    // a save that took that long: at most 30 s from its start).
    a.store.release();
    await settle();
    a.clock.advance(30_000);
    await settle();
    expect(a.store.calls).toBe(callsAtStall + 1);
    expect(bannedIps(a.store.doc)).toEqual(['198.18.9.5']);
    expect(a.daemon.status().health?.stateError).toBeNull();
    await a.daemon.stop();
  });

  it('stop() does not hang on it (bounded, then said)', async () => {
    const a = agent();
    await a.daemon.start();
    a.store.stall = true;
    await a.offend('198.18.9.1');
    const t0 = Date.now();
    await a.daemon.stop();
    expect(Date.now() - t0).toBeLessThan(STOP_SAVE_BUDGET_MS + 2_000);
    expect(a.warnings.some((w) => /did not answer within/.test(w))).toBe(true);
  }, STOP_SAVE_BUDGET_MS + 10_000);

  it('stop() waits for a slow save in flight, then writes the final state', async () => {
    const a = agent();
    await a.daemon.start();
    a.store.stall = true;
    await a.offend('198.18.9.1');
    await a.offend('198.18.9.2'); // made while the first save is in flight
    setTimeout(() => a.store.release(), 100);
    await a.daemon.stop({ removeFirewall: false });
    expect(bannedIps(a.store.doc)).toEqual(['198.18.9.1', '198.18.9.2']);
    expect(a.warnings.some((w) => /did not answer within/.test(w))).toBe(false);
  });
});
