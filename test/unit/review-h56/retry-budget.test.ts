/**
 * Helper H56: the firewall commands' retry budget (a held xtables lock, a busy kernel: transient
 * failures retried with back-off for DEFAULT_RETRY.totalMs) was measured on the wall clock. Set back
 * a day between two attempts, the elapsed time read negative, and a lock held for good was retried
 * for that day, the enforcement queue (bans, unbans, checks) waiting behind it; set forward, a
 * command was given up after its first failure.
 */
import { describe, expect, it } from 'vitest';
import { execError, type Runner, type RunResult } from '../../../src/exec/runner.js';
import { FirewallCommands } from '../../../src/enforce/firewall-commands.js';
import { SteppingClock } from '../review-h55/stepping-clock.js';

const T = Date.UTC(2026, 10, 23, 10, 0, 0);
const LOCKED = 'Another app is currently holding the xtables lock. Perhaps you want to use the -w option?';

/** A runner whose every call fails as with a held xtables lock, up to `max` calls (then succeeds). */
function lockedRunner(max: number): Runner & { calls: number } {
  const r = {
    calls: 0,
    async run(cmd: string, args: string[]): Promise<RunResult> {
      r.calls++;
      if (r.calls >= max) return { stdout: '', stderr: '', code: 0 };
      throw execError(cmd, args, { stdout: '', stderr: LOCKED, code: 4 });
    },
  };
  return r as Runner & { calls: number };
}

describe('review H56: the retry budget of a firewall command is real time', () => {
  for (const step of [-86_400_000, -3_600_000, 0, 3_600_000]) {
    it(`wall clock stepped ${step / 1000} s after the first failure: given up after the 2 s budget, as with no step`, async () => {
      const clock = new SteppingClock(T);
      const runner = lockedRunner(500);
      let slept = 0;
      const cmds = new FirewallCommands({
        runner,
        families: [4],
        clock,
        random: () => 0.5,
        retry: { totalMs: 2000, firstDelayMs: 250, maxDelayMs: 8000 },
        sleep: async (ms) => {
          if (slept === 0) clock.step(step);
          slept += ms;
          clock.advance(ms);
        },
      });
      await expect(cmds.exec('iptables', ['-w', '-S'], 'testing')).rejects.toThrow(/xtables lock/);
      // 250 + 500 + 1000 ms of waits fit the budget; the next does not: 4 attempts, whatever the step.
      expect(runner.calls).toBe(4);
      expect(slept).toBeLessThanOrEqual(2000);
    });
  }
});
