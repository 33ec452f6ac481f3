/**
 * StateKeeper: saves are best effort and never waited for by enforcement. At most one save in
 * flight and one waiting (the latest state), whatever the number of requests; a stall is reported
 * once; spacing after a slow save; flush() (stop) bounded in real time.
 */
import { describe, expect, it } from 'vitest';
import { StateKeeper, STALL_MS } from '../../../src/decide/state-keeper.js';
import { ManualClock } from '../../fakes/manual-clock.js';

/** A sink whose saves wait until released (or fail); records every document handed to it. */
class GatedSink {
  docs: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private gates: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** Saves resolve at once unless `gated`. */
  gated = true;
  save(doc: number): Promise<void> {
    this.docs.push(doc);
    if (!this.gated) return Promise.resolve();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => this.gates.push({ resolve, reject })).finally(() => this.inFlight--);
  }
  release(): void {
    this.gates.shift()?.resolve();
  }
  fail(msg: string): void {
    this.gates.shift()?.reject(new Error(msg));
  }
}

const tick = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function keeper(sink: GatedSink, clock = new ManualClock(Date.UTC(2026, 11, 1))) {
  const warns: string[] = [];
  const infos: string[] = [];
  let failures = 0;
  let state = 0;
  let produced = 0;
  const k = new StateKeeper<number>({
    sink,
    clock,
    log: { warn: (_o, m) => void warns.push(m ?? ''), info: (_o, m) => void infos.push(m ?? '') },
    onFailure: () => void failures++,
  });
  const produce = () => (produced++, state);
  return { k, clock, warns, infos, failures: () => failures, set: (n: number) => void (state = n), produce, produced: () => produced };
}

describe('StateKeeper', () => {
  it('keeps one save in flight and one waiting, whatever the number of requests, and writes the latest state after it', async () => {
    const sink = new GatedSink();
    const t = keeper(sink);
    t.set(1);
    const first = t.k.request(t.produce);
    const later = [];
    for (let i = 2; i <= 1000; i++) {
      t.set(i);
      later.push(t.k.request(t.produce));
    }
    expect(sink.docs).toEqual([1]);
    expect(t.produced()).toBe(1); // the waiting save's document is built when it starts, not per request
    expect(new Set(later).size).toBe(1); // every folded request shares one promise (no growth while stalled)
    t.set(1001);
    sink.release();
    expect(await first).toBe(true);
    await tick();
    expect(sink.docs).toEqual([1, 1001]);
    expect(sink.maxInFlight).toBe(1);
    sink.release();
    expect(await later[0]).toBe(true);
    expect(t.k.busy).toBe(false);
  });

  it('reports a stalled save once (warning, counter, error for status), and its recovery', async () => {
    const sink = new GatedSink();
    const t = keeper(sink);
    void t.k.request(t.produce);
    t.clock.advance(STALL_MS - 1);
    expect(t.k.error).toBeNull();
    t.clock.advance(1);
    expect(t.k.error).toMatch(/has not answered a save/);
    expect(t.warns).toHaveLength(1);
    expect(t.failures()).toBe(1);
    for (let i = 0; i < 100; i++) {
      void t.k.request(t.produce);
      t.clock.advance(1000);
    }
    expect(t.warns).toHaveLength(1);
    expect(t.failures()).toBe(1);
    expect(sink.docs).toHaveLength(1);
    sink.release();
    await tick();
    expect(t.k.error).toBeNull();
    expect(t.infos).toEqual(['state saved again']);
    expect(sink.docs).toHaveLength(2); // the latest state, once the disk answers
    sink.release();
    await tick();
    // A second stall soon after: counted and shown, but not warned again (rate-limited).
    void t.k.request(t.produce);
    t.clock.advance(STALL_MS);
    expect(t.k.error).not.toBeNull();
    expect(t.failures()).toBe(2);
    expect(t.warns).toHaveLength(1);
    // A stalled save that fails at last is not counted twice.
    sink.fail('EIO');
    await tick();
    expect(t.failures()).toBe(2);
    expect(t.k.error).toBe('EIO');
  });

  it('logs a failing save once per outage and counts each failure', async () => {
    const sink = new GatedSink();
    const t = keeper(sink);
    for (let i = 0; i < 3; i++) {
      const p = t.k.request(t.produce);
      sink.fail('ENOSPC: no space left on device');
      expect(await p).toBe(false);
    }
    expect(t.failures()).toBe(3);
    expect(t.warns).toEqual(['cannot save state (bans are still enforced; retrying)']);
    expect(t.k.error).toBe('ENOSPC: no space left on device');
  });

  it('never throws when building or handing over the document fails', async () => {
    const sink = new GatedSink();
    const t = keeper(sink);
    expect(await t.k.request(() => { throw new Error('snapshot failed'); })).toBe(false);
    expect(t.k.error).toBe('snapshot failed');
    const throwing = new StateKeeper<number>({ sink: { save: () => { throw new Error('sync throw'); } }, log: { warn() {}, info() {} }, clock: t.clock });
    expect(await throwing.request(() => 1)).toBe(false);
    expect(throwing.busy).toBe(false);
  });

  it('spaces the saves after a slow one (a timer saves the latest state once the gap has passed); flush is not spaced', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1));
    const docs: number[] = [];
    let cost = 400;
    const k = new StateKeeper<number>({ sink: { save: async (d) => void (docs.push(d), clock.advance(cost)) }, log: { warn() {}, info() {} }, clock });
    let state = 1;
    await k.request(() => state);
    expect(docs).toEqual([1]);
    cost = 0;
    for (state = 2; state <= 5; state++) void k.request(() => state);
    await tick();
    expect(docs).toEqual([1]);
    clock.advance(3599); // 400 ms × 10 from the slow save's start
    await tick();
    expect(docs).toEqual([1]);
    clock.advance(1);
    await tick();
    expect(docs).toEqual([1, 6]);
    cost = 400;
    state = 7;
    await k.request(() => state);
    state = 8;
    expect(await k.flush(() => state, 1000)).toBe(true);
    expect(docs).toEqual([1, 6, 7, 8]);
  });

  it('flush waits for the save in flight and then writes the final state, and answers "stalled" in bounded time', async () => {
    const sink = new GatedSink();
    const t = keeper(sink);
    t.set(1);
    void t.k.request(t.produce);
    t.set(2);
    const f = t.k.flush(t.produce, 2000);
    sink.release();
    await tick();
    expect(sink.docs).toEqual([1, 2]);
    sink.release();
    expect(await f).toBe(true);
    // A disk that never answers: flush gives up after its budget (real time).
    const stalled = new GatedSink();
    const s = keeper(stalled);
    void s.k.request(s.produce);
    const t0 = Date.now();
    expect(await s.k.flush(s.produce, 100)).toBe('stalled');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(stalled.docs).toHaveLength(1);
  });
});
