/**
 * Helper H55: the live agent when the host's wall clock is stepped (NTP after a boot without a clock
 * battery, a VM's clock corrected, `date -s`). A ban ends at a wall time, while timers and the
 * kernel's own ban timeouts follow a monotonic clock: set back a day, every ban lasted a day longer
 * (book and firewall: the check re-timed the kernel's entries to match); set forward a day, every
 * ban ended at the next tick, an hour's ban after two seconds. And an agent started with its clock
 * in 1970 cut the bans it restored to ten years after 1970, so that all of them ended once the
 * clock was set right.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonState } from '../../../src/daemon.js';
import { A, agent, cleanup, NOW, settle, Store } from '../seams-variants/harness.js';
import { SteppingClock } from './stepping-clock.js';

afterEach(cleanup);

const MIN = 60_000;
const H = 60 * MIN;
const D = 24 * H;
const env = { BANHAMMER_MAXRETRY: '1', BANHAMMER_BANTIME: '1h' };

/** Moves the clocks by `ms` a second at a time (the agent's tick runs each second), then settles. */
async function run(clock: SteppingClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= Math.min(left, 30_000)) {
    clock.advance(Math.min(left, 30_000));
    await settle();
  }
}

describe('review H55: a ban lasts its bantime of real time whichever way the wall clock is stepped', () => {
  for (const step of [-D, -H, -10_000, 10_000, H, D, 30 * D]) {
    it(`stepped ${step / 1000} s, 10 minutes into an hour's ban: held until 60 minutes of real time, not after`, async () => {
      const clock = new SteppingClock(NOW);
      const a = agent({ env, clock });
      await a.daemon.start();
      await a.feed('198.18.0.9', 1);
      const until = a.enforcer.held.get('198.18.0.9')!.until!;
      expect(until).toBe(NOW + H);
      await run(clock, 10 * MIN);
      clock.step(step);
      await run(clock, 2000);
      expect(a.held()).toEqual(['198.18.0.9']);
      // The book, the firewall and the state file agree on the end moved with the clock.
      expect(a.enforcer.held.get('198.18.0.9')!.until).toBe(until + step);
      expect((a.store.doc as DaemonState).bans.map((b) => b.until)).toEqual([until + step]);
      await run(clock, 48 * MIN);
      expect(a.held()).toEqual(['198.18.0.9']);
      await run(clock, 2 * MIN);
      expect(a.held()).toEqual([]);
      await a.daemon.stop();
    });
  }

  it('a ban made right after a step back runs from the clock as it is now (never moved a second time)', async () => {
    const clock = new SteppingClock(NOW);
    const a = agent({ env, clock });
    await a.daemon.start();
    await a.feed('198.18.0.9', 1);
    clock.step(-D);
    await a.feed('198.18.0.10', 1);
    expect(a.enforcer.held.get('198.18.0.9')!.until).toBe(NOW + H - D);
    expect(a.enforcer.held.get('198.18.0.10')!.until).toBe(NOW - D + H);
    await run(clock, H + 2000);
    expect(a.held()).toEqual([]);
    await a.daemon.stop();
  });

  it('a step smaller than 5 s moves nothing', async () => {
    const clock = new SteppingClock(NOW);
    const a = agent({ env, clock });
    await a.daemon.start();
    await a.feed('198.18.0.9', 1);
    clock.step(-3000);
    await run(clock, 2000);
    expect(a.enforcer.held.get('198.18.0.9')!.until).toBe(NOW + H);
    expect(a.warnings.filter((w) => w.includes('wall clock was stepped'))).toEqual([]);
    await a.daemon.stop();
  });

  it('the step is said in the log, once', async () => {
    const clock = new SteppingClock(NOW);
    const a = agent({ env, clock });
    await a.daemon.start();
    await a.feed('198.18.0.9', 1);
    clock.step(-D);
    await run(clock, 5000);
    expect(a.warnings.filter((w) => w.includes('wall clock was stepped back'))).toHaveLength(1);
    await a.daemon.stop();
  });
});

describe('review H55: host mode, a ban for one container', () => {
  for (const step of [-D, D]) {
    it(`stepped ${step / 1000} s: the container's ban keeps its hour`, async () => {
      const clock = new SteppingClock(NOW);
      const a = agent({ env, clock, host: true });
      await a.daemon.start();
      await a.feed('198.18.0.9', 1, A);
      expect(a.held()).toEqual(['198.18.0.9 a1']);
      await run(clock, 10 * MIN);
      clock.step(step);
      await run(clock, 49 * MIN);
      expect(a.held()).toEqual(['198.18.0.9 a1']);
      expect([...a.enforcer.held.values()].map((b) => b.until)).toEqual([NOW + H + step]);
      await run(clock, 2 * MIN);
      expect(a.held()).toEqual([]);
      await a.daemon.stop();
    });
  }
});

describe('review H55: an agent started with its clock far behind (1970), set right later', () => {
  it("the bans restored from the state file keep their ends; a ban made in 1970 keeps its hour", async () => {
    const first = agent({ env: { ...env, BANHAMMER_BANTIME: '1d' } });
    await first.daemon.start();
    await first.feed('198.18.0.9', 1);
    await first.daemon.stop();
    const store = new Store();
    store.doc = first.store.doc;
    const clock = new SteppingClock(60_000); // 1970-01-01T00:01
    const b = agent({ env, clock, store });
    await b.daemon.start();
    expect(b.held()).toEqual(['198.18.0.9']);
    await b.feed('198.18.0.10', 1);
    await run(clock, 10 * MIN);
    // NTP sets the clock right: ten minutes after the restart, which was at NOW + 1 h.
    clock.step(NOW + H - 60_000);
    await run(clock, 2000);
    expect(b.held()).toEqual(['198.18.0.10', '198.18.0.9']);
    expect(b.enforcer.held.get('198.18.0.9')!.until).toBe(NOW + D);
    await run(clock, 50 * MIN + 1000);
    expect(b.held()).toEqual(['198.18.0.9']);
    await b.daemon.stop();
  });

  it('a restart with the clock behind by more than ten years keeps a saved ban to its saved end', async () => {
    const first = agent({ env: { ...env, BANHAMMER_BANTIME: '30d' } });
    await first.daemon.start();
    await first.feed('198.18.0.9', 1);
    await first.daemon.stop();
    const store = new Store();
    store.doc = first.store.doc;
    const b = agent({ env, clock: new SteppingClock(Date.UTC(2001, 0, 1)), store });
    await b.daemon.start();
    expect(b.enforcer.held.get('198.18.0.9')!.until).toBe(NOW + 30 * D);
    await b.daemon.stop();
  });
});
