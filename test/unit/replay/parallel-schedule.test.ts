/**
 * The scheduling of a parallel replay's spans (scanInParallel), with fake workers: results are
 * counted in file order, memory stays bounded when one span is much slower than the others (spans
 * sent but not counted never exceed 3 per worker), and a failing or vanishing worker rejects the
 * replay and every worker is terminated.
 */
import { describe, expect, it } from 'vitest';
import { scanInParallel, type SpanWorker } from '../../../src/replay/replay.js';
import type { SpanJob, SpanResult } from '../../../src/replay/scan-span.js';

type Reply = { index: number; ok: true; result: SpanResult } | { index: number; ok: false; error: string };

class FakeWorker implements SpanWorker {
  onMessage: ((m: Reply) => void) | undefined;
  onError: ((e: Error) => void) | undefined;
  onExit: ((code: number) => void) | undefined;
  terminated = false;
  constructor(private readonly farm: Farm) {}
  postMessage(m: { index: number; job: SpanJob }): void {
    this.farm.posted++;
    this.farm.maxOutstanding = Math.max(this.farm.maxOutstanding, this.farm.posted - this.farm.counted);
    this.farm.onJob(this, m.index);
  }
  on(_event: 'message', listener: (m: Reply) => void): unknown {
    this.onMessage = listener;
    return this;
  }
  once(event: 'error' | 'exit', listener: ((err: Error) => void) | ((code: number) => void)): unknown {
    if (event === 'error') this.onError = listener as (e: Error) => void;
    else this.onExit = listener as (code: number) => void;
    return this;
  }
  async terminate(): Promise<number> {
    if (!this.terminated) {
      this.terminated = true;
      // A real Worker emits 'exit' when terminated.
      queueMicrotask(() => this.onExit?.(1));
    }
    return 1;
  }
  reply(index: number): void {
    setImmediate(() => this.onMessage?.({ index, ok: true, result: { index } as unknown as SpanResult }));
  }
}

class Farm {
  posted = 0;
  counted = 0;
  maxOutstanding = 0;
  readonly workers: FakeWorker[] = [];
  constructor(readonly onJob: (w: FakeWorker, index: number) => void) {}
  spawn = (): SpanWorker => {
    const w = new FakeWorker(this);
    this.workers.push(w);
    return w;
  };
}

const jobs = (n: number): SpanJob[] => Array.from({ length: n }, (_, i) => ({ path: '/x', from: i, to: i + 1, format: 'auto', rules: [] }) as unknown as SpanJob);

describe('scanInParallel', () => {
  it('with this thread parsing too: every span counted once, in order; this thread never parses while the next span to count is waiting; the bound holds', async () => {
    const order: number[] = [];
    let seed = 11;
    const farm = new Farm((w, index) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      setTimeout(() => w.reply(index), seed % 7);
    });
    const all = jobs(60);
    let localSpans = 0;
    let maxOutstanding = 0;
    await scanInParallel(
      all,
      1,
      (r, job) => {
        farm.counted++;
        order.push((r as unknown as { index: number }).index);
        expect(job).toBe(all[order.length - 1]);
      },
      farm.spawn,
      async (job) => {
        localSpans++;
        const index = all.indexOf(job);
        maxOutstanding = Math.max(maxOutstanding, farm.posted + localSpans - farm.counted);
        await new Promise((r) => setTimeout(r, 2));
        return { index } as unknown as SpanResult;
      },
    );
    expect(order).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(localSpans).toBeGreaterThan(0);
    expect(farm.posted + localSpans).toBe(60);
    expect(maxOutstanding).toBeLessThanOrEqual(6);
    expect(farm.workers.every((w) => w.terminated)).toBe(true);
  });

  it('a span this thread fails to parse rejects the replay, and the workers are ended', async () => {
    const farm = new Farm((w, index) => setTimeout(() => w.reply(index), 1));
    const run = scanInParallel(jobs(10), 1, () => {}, farm.spawn, async () => {
      throw new Error('cannot read /x: boom');
    });
    await expect(run).rejects.toThrow('boom');
    expect(farm.workers.every((w) => w.terminated)).toBe(true);
  });

  it('counts every span once, in file order, with the replies in any order', async () => {
    const order: number[] = [];
    // Replies in reverse order of arrival per worker, delayed at random.
    let seed = 7;
    const farm = new Farm((w, index) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      setTimeout(() => w.reply(index), seed % 5);
    });
    const all = jobs(50);
    await scanInParallel(all, 4, (r, job) => {
      farm.counted++;
      order.push((r as unknown as { index: number }).index);
      expect(job).toBe(all[order.length - 1]);
    }, farm.spawn);
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(farm.workers).toHaveLength(4);
    expect(farm.workers.every((w) => w.terminated)).toBe(true);
  });

  it('one slow span: the others wait instead of piling up results (at most 3 per worker outstanding)', async () => {
    let release: (() => void) | undefined;
    const farm = new Farm((w, index) => {
      if (index === 0) release = () => w.reply(0);
      else w.reply(index);
    });
    const run = scanInParallel(jobs(200), 3, () => {
      farm.counted++;
    }, farm.spawn);
    // Let the fast workers run as far as they are allowed to.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(farm.counted).toBe(0);
    expect(farm.posted).toBeLessThanOrEqual(9);
    release!();
    await run;
    expect(farm.counted).toBe(200);
    expect(farm.maxOutstanding).toBeLessThanOrEqual(9);
  });

  it('a worker that reports an error, throws or exits rejects the replay and every worker is terminated', async () => {
    for (const how of ['reply', 'error', 'exit', 'onSpan'] as const) {
      const farm = new Farm((w, index) => {
        if (index !== 5) return w.reply(index);
        if (how === 'reply') setImmediate(() => w.onMessage?.({ index, ok: false, error: 'boom: EIO' }));
        else if (how === 'error') setImmediate(() => w.onError?.(new Error('boom: worker crashed')));
        else if (how === 'exit') setImmediate(() => w.onExit?.(7));
        else w.reply(index);
      });
      const run = scanInParallel(jobs(20), 3, (r) => {
        if (how === 'onSpan' && (r as unknown as { index: number }).index === 5) throw new Error('boom: count');
      }, farm.spawn);
      await expect(run, how).rejects.toThrow(how === 'exit' ? /exited \(code 7\)/ : /boom/);
      expect(farm.workers.every((w) => w.terminated), how).toBe(true);
    }
  });

  it('no spans to scan beyond the workers: as many workers as spans', async () => {
    const farm = new Farm((w, index) => w.reply(index));
    let n = 0;
    await scanInParallel(jobs(2), 8, () => void n++, farm.spawn);
    expect(n).toBe(2);
    expect(farm.workers).toHaveLength(2);
  });
});
