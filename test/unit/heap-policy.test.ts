/**
 * The agent's heap policy (src/heap-policy.ts): the flag it sets, a user's own choice kept, and, in
 * real child processes, that setting it after start does change how far the heap grows under the
 * churn the agent sees in a flood (objects that live long enough to reach the old generation, then die).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AGENT_HEAP_GROWING_PERCENT, applyAgentHeapPolicy, holdOptimizerWhileStarting, holdWhileStarting, holdYoungGenerationWhileStarting } from '../../src/heap-policy.js';

describe('applyAgentHeapPolicy', () => {
  it('sets the growing factor when the user chose none', () => {
    const set: string[] = [];
    expect(applyAgentHeapPolicy(['--enable-source-maps', ''], (f) => set.push(f))).toBe(true);
    expect(set).toEqual([`--heap-growing-percent=${AGENT_HEAP_GROWING_PERCENT}`]);
  });

  it("keeps the user's own choice from node's arguments, with dashes or underscores", () => {
    for (const args of [['--heap-growing-percent=20'], ['--max-old-space-size=300', '--heap_growing_percent=80']]) {
      const set: string[] = [];
      expect(applyAgentHeapPolicy(args, (f) => set.push(f))).toBe(false);
      expect(set).toEqual([]);
    }
  });

  it('lowers the peak heap of a churning process when applied after start', () => {
    const policy = fileURLToPath(new URL('../../src/heap-policy.ts', import.meta.url));
    // A rolling set of ~200k live objects (about 30 MB), 2.4 M made in all: each lives long enough to
    // be promoted, then dies in the old generation. Prints the largest heap V8 committed.
    const churn = (apply: boolean): number => {
      const script = `
        ${apply ? `const { applyAgentHeapPolicy } = await import(${JSON.stringify(policy)}); if (!applyAgentHeapPolicy([])) throw new Error('not applied');` : ''}
        const v8 = await import('node:v8');
        const ring = new Array(200000);
        let peak = 0;
        for (let i = 0; i < 2400000; i++) {
          ring[i % ring.length] = { key: 'k' + i, at: i * 1.5, lines: [String(i), 'x'.repeat(40) + i] };
          if (i % 20000 === 0) peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
        }
        process.stdout.write(String(peak));`;
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      return Number(out);
    };
    const without = churn(false);
    const withPolicy = churn(true);
    expect(withPolicy).toBeGreaterThan(0);
    expect(withPolicy).toBeLessThan(without * 0.8);
  }, 120_000);
});

describe('holdYoungGenerationWhileStarting', () => {
  it('holds the young generation, then lets it grow as V8 would, once', () => {
    const set: string[] = [];
    const release = holdYoungGenerationWhileStarting([], undefined, (f) => set.push(f));
    expect(set).toEqual(['--semi-space-growth-factor=1']);
    release();
    release();
    expect(set).toEqual(['--semi-space-growth-factor=1', '--semi-space-growth-factor=2']);
  });

  it("keeps the user's own young-generation settings, from node's arguments or NODE_OPTIONS", () => {
    for (const [args, options] of [
      [['--max-semi-space-size=64'], undefined],
      [['--min_semi_space_size=8'], ''],
      [[], '--enable-source-maps --max-semi-space-size=32'],
      [['--semi-space-growth-factor=4'], undefined],
    ] as const) {
      const set: string[] = [];
      holdYoungGenerationWhileStarting(args, options, (f) => set.push(f))();
      expect(set).toEqual([]);
    }
  });

  it('keeps the young generation small while a start-up keeps megabytes, and lets a later flood grow it', () => {
    const policy = fileURLToPath(new URL('../../src/heap-policy.ts', import.meta.url));
    // "Start-up": about 6 MB of objects that stay (as the agent's code and rules do); then the young
    // generation's size; then, released, a churn of short-lived objects with some kept, and its size again.
    const run = (hold: boolean): { started: number; loaded: number } => {
      const script = `
        const v8 = await import('node:v8');
        const { holdYoungGenerationWhileStarting } = await import(${JSON.stringify(policy)});
        const release = ${hold ? 'holdYoungGenerationWhileStarting([], undefined)' : '() => {}'};
        const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
        const kept = [];
        for (let i = 0; i < 60000; i++) kept.push({ name: 'rule' + i, at: i, list: [i, i + 1, i + 2] });
        const started = young();
        release();
        const ring = new Array(50000);
        for (let i = 0; i < 1500000; i++) ring[i % ring.length] = { k: 'x' + i, n: i };
        process.stdout.write(JSON.stringify({ started, loaded: young(), kept: kept.length }));`;
      return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })) as { started: number; loaded: number };
    };
    const held = run(true);
    const free = run(false);
    expect(held.started).toBeLessThan(free.started);
    // Released, the flood grows it past the held size.
    expect(held.loaded).toBeGreaterThan(held.started);
  }, 120_000);
});

describe('holdOptimizerWhileStarting', () => {
  it('turns the optimizing compiler off, then on again, once', () => {
    const set: string[] = [];
    const release = holdOptimizerWhileStarting([], undefined, (f) => set.push(f));
    expect(set).toEqual(['--no-turbofan']);
    release();
    release();
    expect(set).toEqual(['--no-turbofan', '--turbofan']);
  });

  it("keeps the user's own optimizer settings, from node's arguments or NODE_OPTIONS", () => {
    for (const [args, options] of [
      [['--no-opt'], undefined],
      [['--jitless'], ''],
      [[], '--enable-source-maps --max-opt=2'],
      [['--no_turbofan'], undefined],
      [['--always-turbofan'], undefined],
      [[], '--opt'],
    ] as const) {
      const set: string[] = [];
      holdOptimizerWhileStarting(args, options, (f) => set.push(f))();
      expect(set).toEqual([]);
    }
    // Flags that only start with an optimizer flag's name are not a choice of the optimizer.
    const set: string[] = [];
    holdOptimizerWhileStarting(['--optimize-for-size', '--max-old-space-size=300'], undefined, (f) => set.push(f))();
    expect(set).toEqual(['--no-turbofan', '--turbofan']);
  });

  it('holdWhileStarting holds and releases both, each unless the user chose it', () => {
    const set: string[] = [];
    const hold = holdWhileStarting(['--no-opt'], undefined, (f) => set.push(f));
    hold.release();
    hold.release();
    expect(set).toEqual(['--semi-space-growth-factor=1', '--semi-space-growth-factor=2']);
  });

  it('holdWhileStarting releases the young generation when loaded and the compiler when busy, each once', () => {
    const set: string[] = [];
    const hold = holdWhileStarting([], undefined, (f) => set.push(f));
    expect(set).toEqual(['--semi-space-growth-factor=1', '--no-turbofan']);
    hold.loaded();
    hold.loaded();
    expect(set.slice(2)).toEqual(['--semi-space-growth-factor=2']);
    hold.busy();
    hold.release();
    expect(set.slice(2)).toEqual(['--semi-space-growth-factor=2', '--turbofan']);
  });

  it('in a real process, a hot function is not optimized while held and is once released', () => {
    const policy = fileURLToPath(new URL('../../src/heap-policy.ts', import.meta.url));
    // A start-up-like loop run often enough for V8 to optimize it, then released and run again.
    const script = `
      const { holdOptimizerWhileStarting } = await import(${JSON.stringify(policy)});
      const release = holdOptimizerWhileStarting([], undefined);
      function hotLoop(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + Math.imul(i, 31)) | 0; return s; }
      let sink = 0;
      for (let r = 0; r < 300; r++) sink += hotLoop(20000);
      console.log('RELEASED');
      release();
      for (let r = 0; r < 300; r++) sink += hotLoop(20000);
      console.log('DONE', sink !== 0.5);`;
    const out = execFileSync(process.execPath, ['--trace-opt', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    const [held, free] = out.split('RELEASED');
    const optimized = (text: string): boolean => /<JSFunction hotLoop[^>]*>[^\n]*TURBOFAN/.test(text) && /completed (?:optimizing|compiling) [^\n]*<JSFunction hotLoop/.test(text);
    expect(free).toContain('DONE');
    expect(optimized(held!)).toBe(false);
    expect(optimized(free!)).toBe(true);
  }, 60_000);
});
