/**
 * Stall review (H34): a live agent holding many bans lifts them in slices, giving its event loop a
 * turn between two, when they all end in the same second (an attacker made them all at once) and on
 * `unban --all`: done at once, 500,000 bans blocked the agent (no line read, no status answered)
 * for seconds. Each slice is its own batch to the enforcer, so a batch's size bounds a slice; a
 * probe re-arming itself with setImmediate counts the turns the loop got meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, EXPIRE_SLICE, UNBAN_ALL_SLICE, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const N = 12_000;
const v6 = (i: number) => `2001:db8::${((i >>> 16) + 1).toString(16)}:${(i & 0xffff).toString(16)}`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function agent(until: (i: number) => number | null) {
  const clock = new ManualClock(T0);
  const enforcer = new RecordingEnforcer();
  const store = new MemoryStore();
  const bans = [];
  for (let i = 0; i < N; i++) bans.push({ ip: v6(i), family: 6, rule: 'forbidden', at: T0 - 1000, until: until(i), failures: 5, nth: 1, manual: false });
  store.doc = { bans, history: [], ended: [], positions: [] } as unknown as DaemonState;
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden', BANHAMMER_MAX_BANS: '100000' }, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: quiet, enforcer, store, createSource, hostAddresses: [], reloadConfig: () => config });
  await daemon.start();
  expect(enforcer.held.size).toBe(N);
  enforcer.batches.length = 0;
  return { clock, enforcer, daemon, source: () => source };
}

/** Runs `work` while a setImmediate probe counts the event loop's turns; waits until `done()`. */
async function withTurns(work: () => unknown, done: () => boolean): Promise<number> {
  let turns = 0;
  let stop = false;
  const probe = (): void => {
    turns++;
    if (!stop) setImmediate(probe);
  };
  setImmediate(probe);
  const p = Promise.resolve(work());
  for (let i = 0; i < 10_000 && !done(); i++) await new Promise((r) => setImmediate(r));
  await p;
  stop = true;
  return turns;
}

describe('bans lifted in slices (stall review)', () => {
  it('every ban ending in the same second: lifted in batches of at most EXPIRE_SLICE, the loop turning between them', async () => {
    const a = await agent(() => T0 + 60_000);
    const turns = await withTurns(() => a.clock.advance(61_000), () => a.enforcer.held.size === 0);
    expect(a.enforcer.held.size).toBe(0);
    const sizes = a.enforcer.batches.map((b) => b.unban.length).filter((n) => n > 0);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(N);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(EXPIRE_SLICE);
    expect(turns).toBeGreaterThanOrEqual(Math.ceil(N / EXPIRE_SLICE) - 1);
    // The book and status agree: nothing held, every ban ended as expired.
    expect(a.daemon.status('forbidden').rules[0]!.currentlyBanned).toBe(0);
    await a.daemon.stop();
  });

  it('a line read between two slices is handled at once (a new ban is made while the flood is lifted)', async () => {
    const a = await agent(() => T0 + 60_000);
    let banned = false;
    const turns = await withTurns(
      () => {
        a.clock.advance(61_000);
        // Queued behind the first slice: runs in a turn of its own, before the last slice.
        setImmediate(() => {
          for (let k = 0; k < 5; k++) a.source().onLine(`198.18.7.7 - - [${clf(a.clock.now())}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`, '/var/log/access.log');
          banned = a.enforcer.held.size > 0 && [...a.enforcer.batches].every((b) => b.ban.length === 0);
        });
      },
      () => a.enforcer.held.size === 1 && a.enforcer.held.has('198.18.7.7'),
    );
    expect(turns).toBeGreaterThan(1);
    // The flood was not all lifted yet when the line came: bans were still held.
    expect(banned).toBe(true);
    expect([...a.enforcer.held.keys()]).toEqual(['198.18.7.7']);
    await a.daemon.stop();
  });

  it('unban --all: every ban lifted, in batches of at most UNBAN_ALL_SLICE, answering the count', async () => {
    const a = await agent((i) => T0 + 3600_000 + i);
    let n = -1;
    const turns = await withTurns(
      async () => (n = await a.daemon.unbanAll()),
      () => n >= 0,
    );
    expect(n).toBe(N);
    expect(a.enforcer.held.size).toBe(0);
    const sizes = a.enforcer.batches.map((b) => b.unban.length).filter((x) => x > 0);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(N);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(UNBAN_ALL_SLICE);
    expect(turns).toBeGreaterThanOrEqual(Math.ceil(N / UNBAN_ALL_SLICE) - 1);
    const why = a.daemon.why(v6(N - 1)); // (the last lifted: the history keeps the last 1,000)
    expect(why.active).toEqual([]);
    expect(why.ended[0]?.ended).toMatchObject({ reason: 'unbanned', by: 'control-all' });
    await a.daemon.stop();
  });

  it('unban --all: the agent reads lines between two slices, and a ban made meanwhile stays (README: what was held when asked)', async () => {
    const a = await agent((i) => T0 + 3600_000 + i);
    let n = -1;
    let liftedBefore = -1;
    await withTurns(
      async () => {
        const p = a.daemon.unbanAll();
        // Runs after the first slice, in a turn of its own: the agent reads a flood of 403s and bans.
        setImmediate(() => {
          liftedBefore = N - a.enforcer.held.size;
          for (let k = 0; k < 5; k++) a.source().onLine(`198.18.7.8 - - [${clf(a.clock.now())}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`, '/var/log/access.log');
        });
        n = await p;
      },
      () => n >= 0,
    );
    // The line was read while --all was still lifting (not before it began, not after it ended).
    expect(liftedBefore).toBeGreaterThan(0);
    expect(liftedBefore).toBeLessThan(N);
    expect(n).toBe(N);
    expect([...a.enforcer.held.keys()]).toEqual(['198.18.7.8']);
    expect(a.daemon.why('198.18.7.8').active).toHaveLength(1);
    await a.daemon.stop();
  });
});
