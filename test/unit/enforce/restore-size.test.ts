/**
 * A start with 100,000 saved bans (npm run bench, kernel rows: "100,000 bans at start", target 1 s
 * with nftables): the restored bans reach the kernel through the queue in few processes, each forked
 * from an agent whose heap then holds them all (a fork costs it more the larger its heap), and the
 * agent's event loop gets a turn between two transactions (the control socket is up meanwhile).
 * Driven through the real ban book and queue, with a recording runner standing in for nft / ipset.
 */
import { describe, expect, it } from 'vitest';
import type { RunOptions, RunResult, Runner } from '../../../src/exec/runner.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { EnforcementQueue } from '../../../src/enforce/queue.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import type { Enforcer } from '../../../src/enforce/enforcer.js';
import { systemClock } from '../../../src/clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const N = 100_000;
const v4At = (i: number): string => `198.${18 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;

/** A book holding N restored bans (what the agent restores from its state file), all waiting for the enforcer. */
function restoredBook(): BanBook {
  const now = Date.now();
  const book = new BanBook({ ...PRESETS }, new Allowlist([]), 100_000, { maxBans: 500_000 });
  const bans = Array.from({ length: N }, (_, i) => ({ ip: v4At(4096 + i), family: 4, rule: 'forbidden', at: now - 60_000, until: now + 3_600_000 + (i % 1000) * 1000, failures: 5, nth: 1, manual: false }));
  const r = book.restore({ bans: bans as never, history: [] }, now, { networks: true, scopes: false });
  expect(r.restored).toBe(N);
  return book;
}

/**
 * Wraps `inner`: counts the commands matching `which` run at once, and notes for each whether the
 * event loop had a turn (a setImmediate set at the previous one's start had fired) before it started.
 */
function watch(inner: Runner, which: (cmd: string, args: readonly string[]) => boolean) {
  const seen = { runs: 0, inFlight: 0, most: 0, withoutTurn: 0, elements: [] as number[] };
  let turned = false;
  const runner: Runner = {
    run: async (cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> => {
      if (!which(cmd, args)) return inner.run(cmd, args, opts);
      seen.runs++;
      if (!turned) seen.withoutTurn++;
      turned = false;
      setImmediate(() => (turned = true));
      seen.elements.push((opts?.input ?? '').split(',').length);
      seen.most = Math.max(seen.most, ++seen.inFlight);
      try {
        await new Promise((r) => setTimeout(r, 2));
        return await inner.run(cmd, args, opts);
      } finally {
        seen.inFlight--;
      }
    },
  };
  return { runner, seen };
}

async function flushInto(enforcer: Enforcer, book: BanBook): Promise<void> {
  const errors: unknown[] = [];
  const queue = new EnforcementQueue({ enforcer, source: book, clock: systemClock, afterApply: () => {}, log: { error: (o) => errors.push(o) } });
  await queue.flush();
  expect(errors).toEqual([]);
  expect(book.hasChanges).toBe(false);
}

describe('a restore of 100,000 bans reaches the kernel in few processes', () => {
  it('nftables: 10 transactions of 10,000 (were 20 of 5,000), two in flight, a turn of the event loop before each', async () => {
    const { runner, seen } = watch(new RecordingRunner(), (cmd, args) => cmd === 'nft' && args.join(' ') === '-f -');
    const enf = new NftablesEnforcer({ runner, instance: 'web', ports: [80, 443], cidr: true });
    // As init()'s probe finds on kernels from 6.10 (here 6.18): a timed ban is one element write.
    (enf as unknown as { timeoutUpdates: boolean }).timeoutUpdates = true;
    await flushInto(enf, restoredBook());
    expect(seen.runs).toBe(10);
    expect(seen.elements.reduce((a, b) => a + b, 0)).toBe(N);
    expect(seen.most).toBe(2);
    // The first transaction follows the restore; every later one had a turn of the event loop before its text was built.
    expect(seen.withoutTurn).toBe(1);
  }, 60_000);

  it('iptables: 5 ipset restores of 20,000 (were 13 of 8,192, the queue\'s default batch)', async () => {
    const { runner, seen } = watch(new RecordingRunner(), (cmd, args) => cmd === 'ipset' && args.includes('restore'));
    const enf = new IptablesEnforcer({ runner, instance: 'web', ports: [80, 443], backend: backendBinaries('nft', 'test'), cidr: true });
    await flushInto(enf, restoredBook());
    expect(seen.runs).toBe(5);
    expect(seen.most).toBe(1);
  }, 60_000);
});
