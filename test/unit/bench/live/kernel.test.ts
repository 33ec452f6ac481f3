import { describe, expect, it } from 'vitest';
import { stateFileText } from '../../../../bench/live/kernel.js';
import { validateState } from '../../../../src/run.js';
import { BanBook } from '../../../../src/decide/ban-book.js';
import { Allowlist } from '../../../../src/decide/allowlist.js';
import { loadConfig } from '../../../../src/config/load.js';

describe('bench/live/kernel: the 100,000-ban state file', () => {
  it('is a state file the agent restores in full: the envelope, every ban valid, unexpired and distinct', () => {
    const now = Date.UTC(2026, 11, 2, 12);
    const doc = JSON.parse(stateFileText(100_000, now)) as { version: number; savedAt: number; data: unknown };
    expect(doc.version).toBe(1);
    const state = validateState(doc.data);
    expect(state.bans).toHaveLength(100_000);
    expect(new Set(state.bans.map((b) => b.ip)).size).toBe(100_000);
    for (const b of state.bans) expect(b.ip).toMatch(/^198\.(18|19)\./);
    const config = loadConfig({ env: {}, hostname: 'unit' });
    const book = new BanBook(config.rules, new Allowlist([]));
    expect(book.restore({ bans: state.bans, history: state.history }, now)).toEqual({ restored: 100_000, dropped: 0 });
    expect(book.changes(now).ban).toHaveLength(100_000);
  });
});

describe('bench/run: the kernel section flags', () => {
  it('runs with the live part, skipped by --no-kernel, --no-live or --share-only, alone with --kernel-only', async () => {
    const { parseKernelFlags, parseBenchArgs } = await import('../../../../bench/run.js');
    expect(parseKernelFlags([])).toEqual({ kernel: true, only: false });
    expect(parseKernelFlags(['--live-only'])).toEqual({ kernel: true, only: false });
    expect(parseKernelFlags(['--no-kernel'])).toEqual({ kernel: false, only: false });
    expect(parseKernelFlags(['--no-live'])).toEqual({ kernel: false, only: false });
    expect(parseKernelFlags(['--share-only'])).toEqual({ kernel: false, only: false });
    expect(parseKernelFlags(['--kernel-only', '--quick'])).toEqual({ kernel: true, only: true });
    expect(() => parseBenchArgs(['--kernel-only', '--no-kernel', '--quick'])).not.toThrow();
  });
});
