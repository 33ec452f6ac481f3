/**
 * Stall review (H34): the state file was rendered by one JSON.stringify of the whole document, at
 * every save (after each batch, each position move): 500,000 bans blocked the agent's event loop
 * for 0.35 s each time. It is now rendered in slices (jsonSteps), with the same bytes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonSteps, StateStore } from '../../../src/decide/state-store.js';
import { runSync } from '../../../src/yielding.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function doc(n: number) {
  const bans = [];
  for (let i = 0; i < n; i++) {
    bans.push({ ip: `198.18.${(i >> 8) & 255}.${i & 255}`, family: 4, rule: 'forbidden', at: T0, until: i % 5 === 0 ? null : T0 + i, failures: 5, nth: 1, manual: false, origin: i % 7 === 0 ? 'web "1"\u2028\u00e9' : undefined, scope: i % 3 === 0 ? `c${i}` : undefined, evidence: i % 11 === 0 ? [{ at: T0, file: '/var/log/a.log', line: `GET /x?${i} \u0000\u001b[31m` }] : undefined });
  }
  return { bans, history: [{ ip: '198.18.0.1', rule: 'forbidden', count: 2, last: T0 }], ended: [], positions: [{ path: '/var/log/a.log', ino: 1, size: 10, offset: 10 }] };
}

describe('the state file rendered in slices (stall review)', () => {
  it('jsonSteps gives JSON.stringify’s text', () => {
    const values: unknown[] = [
      doc(3000),
      { a: undefined, b: () => 1, c: Symbol('x'), d: [undefined, () => 1, Symbol('y'), null, 1.5, -0, NaN, Infinity], e: {}, f: [], g: new Date(T0), h: { toJSON: () => ({ k: [1, 2] }) } },
      [{ x: [[1, [2, [3]]]] }, 'a\u2028b', true],
      'text',
      42,
      null,
      { '\u00e9\n"': { 'q"': [{}] }, __proto__x: 1 },
    ];
    for (const v of values) {
      const parts = runSync(jsonSteps(v, []));
      expect(parts.join('')).toBe(JSON.stringify(v));
      for (const depth of [0, 1, 2, 5]) expect(runSync(jsonSteps(v, [], depth)).join('')).toBe(JSON.stringify(v));
    }
  });

  it('a save writes the same bytes and never hands the whole document, nor its list of bans, to one JSON.stringify', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-stall-'));
    dirs.push(dir);
    const store = new StateStore<ReturnType<typeof doc>>({ dir, name: 'state-x', version: 1, validate: (r) => r as ReturnType<typeof doc>, onWarning: () => {}, clock: { now: () => T0, setTimeout: () => ({ id: 0 }), clearTimeout: () => {} } });
    const d = doc(20_000);
    const stringify = JSON.stringify;
    let largest = 0;
    vi.spyOn(JSON, 'stringify').mockImplementation(((v: unknown, ...rest: unknown[]) => {
      const bans = Array.isArray(v) ? v : (v as { bans?: unknown; data?: { bans?: unknown } } | null)?.bans ?? (v as { data?: { bans?: unknown } } | null)?.data?.bans;
      if (Array.isArray(bans)) largest = Math.max(largest, bans.length);
      return (stringify as (...a: unknown[]) => string)(v, ...rest);
    }) as typeof JSON.stringify);
    await store.save(d);
    vi.restoreAllMocks();
    expect(largest).toBeLessThanOrEqual(1);
    expect(readFileSync(store.file, 'utf8')).toBe(JSON.stringify({ version: 1, savedAt: T0, data: d }) + '\n');
    const back = await store.load();
    expect(JSON.stringify(back)).toBe(JSON.stringify(d));
  });
});
