/**
 * An invalid list prints a bounded report (issue 9): 34,000 bad ignoreip entries printed 34,000 lines.
 * The message lists the first MAX_PROBLEMS_SHOWN problems and how many more there are; the error's
 * data keeps them all.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { BanhammerError } from '../../../src/errors.js';
import { MAX_PROBLEMS_SHOWN, formatProblems, type Problem } from '../../../src/config/problems.js';
import { main, type CliIo } from '../../../src/cli.js';

const BAD = Array.from({ length: 34_000 }, (_, i) => `host-${i}.example`).join(',');

describe('the problem report', () => {
  it('lists 20 problems of a 34,000-entry invalid ignoreip, then how many more', () => {
    let err: unknown;
    try {
      loadConfig({ env: { BANHAMMER_IGNOREIP: BAD }, hostname: 'h' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BanhammerError);
    const e = err as BanhammerError;
    expect((e.data.problems as Problem[]).length).toBe(34_000);
    const lines = e.message.split('\n');
    expect(MAX_PROBLEMS_SHOWN).toBe(20);
    expect(lines).toHaveLength(1 + 20 + 1);
    expect(lines[0]).toBe('invalid configuration (34000 problems):');
    expect(lines[1]).toMatch(/^- ignoreip\[0\] = "host-0.example" \(env BANHAMMER_IGNOREIP\)/);
    expect(lines[21]).toMatch(/^… and 33980 more/);
  });
  it('lists everything when there are few problems', () => {
    const ps: Problem[] = [{ key: 'a', source: 'default', message: 'x' }];
    expect(formatProblems(ps)).toEqual(['- a (default): x']);
    expect(formatProblems(Array(21).fill(ps[0]))).toHaveLength(21);
  });
  it('check-config and apache-conf print a bounded report', async () => {
    for (const cmd of ['check-config', 'apache-conf']) {
      let stderr = '';
      const io: CliIo = { stdout: () => {}, stderr: (s) => void (stderr += s), env: { BANHAMMER_IGNOREIP: BAD }, hostname: 'h' };
      expect(await main([cmd], io)).not.toBe(0);
      expect(stderr.length, cmd).toBeLessThan(5000);
      expect(stderr, cmd).toMatch(/and 33980 more/);
    }
  });
});
