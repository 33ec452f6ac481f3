/**
 * Stall review (H34): a re-send of every ban (at start, every 6 h, after a repair) was one diff and
 * one batch of every ban: at 500,000 bans taking the diff, marking every ban and building the
 * enforcer's input blocked the agent's event loop for over a second. It now goes in batches of at
 * most BATCH_MAX_ENTRIES, with turns of the loop between them, and is reported once; the saved bans
 * are restored in slices at start, the control socket answering meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { BATCH_MAX_ENTRIES } from '../../../src/enforce/queue.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const N = 40_000;
const v6 = (i: number) => `2001:db8::${((i >>> 16) + 1).toString(16)}:${(i & 0xffff).toString(16)}`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function agent() {
  const clock = new ManualClock(T0);
  const enforcer = new RecordingEnforcer();
  const store = new MemoryStore();
  const bans = [];
  for (let i = 0; i < N; i++) bans.push({ ip: v6(i), family: 6, rule: 'forbidden', at: T0 - 1000, until: null, failures: 5, nth: 1, manual: false });
  store.doc = { bans, history: [], ended: [], positions: [] } as unknown as DaemonState;
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden', BANHAMMER_MAX_BANS: '100000' }, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: quiet, enforcer, store, createSource, hostAddresses: [], reloadConfig: () => config });
  return { clock, enforcer, store, daemon };
}

describe('big re-sends in batches (stall review)', () => {
  it('restores in slices (status answers meanwhile, with part of the bans) and applies them in batches of at most BATCH_MAX_ENTRIES', async () => {
    const a = agent();
    const seen: number[] = [];
    let stop = false;
    const probe = (): void => {
      seen.push(a.daemon.status('forbidden', { brief: true }).rules[0]!.currentlyBanned);
      if (!stop) setImmediate(probe);
    };
    setImmediate(probe);
    await a.daemon.start();
    stop = true;
    expect(a.enforcer.held.size).toBe(N);
    // Some answers came while the book held some of the saved bans, not yet all.
    expect(seen.some((n) => n > 0 && n < N)).toBe(true);
    const sizes = a.enforcer.batches.map((b) => b.ban.length);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(N);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(BATCH_MAX_ENTRIES);
    await a.daemon.stop({ removeFirewall: false });
  });

  it('the 6-hourly re-send goes in batches of at most BATCH_MAX_ENTRIES, each ban once', async () => {
    const a = agent();
    await a.daemon.start();
    a.enforcer.batches.length = 0;
    a.enforcer.held.clear(); // (as if the kernel lost them: the re-send puts every one back)
    a.clock.advance(6 * 3600_000);
    for (let i = 0; i < 200 && a.enforcer.held.size < N; i++) await new Promise((r) => setImmediate(r));
    expect(a.enforcer.held.size).toBe(N);
    const sizes = a.enforcer.batches.map((b) => b.ban.length);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(N);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(BATCH_MAX_ENTRIES);
    expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(N / BATCH_MAX_ENTRIES));
    await a.daemon.stop({ removeFirewall: false });
  });
});
